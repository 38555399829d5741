"""The API against its own OpenAPI schema: Schemathesis generates requests from the schema
(values that fit it and values that do not), sends them in-process (WSGI) with a
manager's token (and a rep's, for the writes), and checks every answer: never a 5xx, a
status the schema names, and a body and content type the schema describes.

A fixed set of examples in CI (``derandomize``: the same each run, about a minute on two
cores); ``FUZZ_SCALE=10`` runs ten times as many, at random.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.api.app import api
from crm.wsgi import application
from tests.api.conftest import token_for
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    ManagerFactory,
    RepFactory,
    default_stage,
)

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
EXAMPLES = 12

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = application
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES * SCALE,
    deterministic=SCALE == 1,
    # The tokens are ours: generated credentials would only ever get 401.
    with_security_parameters=False,
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def one_connection():
    """Requests through the WSGI handler keep the test's database connection, as Django's
    test client keeps it: the handler would close it after each request (PostgreSQL's
    connection inside the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, settings, one_connection):
    """A manager and a rep with tokens, and rows for generated ids to find: leads of both
    and of nobody, open, won and lost, with clients and contacts."""
    settings.API_RATE_LIMIT = 1_000_000
    manager, rep = ManagerFactory(username="boss"), RepFactory(username="rep")
    for n in range(3):
        contact = ContactFactory(client=ClientFactory())
        LeadFactory(created_by=rep, assignee=rep, client=contact.client, contact=contact)
        LeadFactory(created_by=manager, stage=default_stage(["Qualified", "Won", "Lost"][n]))
        LeadFactory(assignee=None, client=None, value=None, probability=None)
    return {"manager": token_for(manager), "rep": token_for(rep)}


HYPOTHESIS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@schema.parametrize()
@HYPOTHESIS
def test_every_answer_to_a_manager_keeps_to_the_schema(case, tokens):
    case.call_and_validate(headers={"Authorization": f"Bearer {tokens['manager']}"}, checks=CHECKS)


@schema.include(method=["POST", "PATCH", "DELETE"]).parametrize()
@HYPOTHESIS
def test_every_answer_to_a_reps_write_keeps_to_the_schema(case, tokens):
    """A rep reads what a manager reads; their writes meet refusals a manager's do not."""
    case.call_and_validate(headers={"Authorization": f"Bearer {tokens['rep']}"}, checks=CHECKS)
