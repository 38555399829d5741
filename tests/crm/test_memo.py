"""A request's memory of reference reads (crm/web/memo.py): once a request, never longer."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.web.memo import RequestMemoMiddleware, per_request
from pipelines.models import PipelineStage, all_stages
from tests.factories import LeadFactory

calls = []


@per_request
def counted():
    calls.append(1)
    return len(calls)


def test_outside_a_request_every_call_reads():
    calls.clear()
    assert (counted(), counted()) == (1, 2)


def test_within_a_request_once_and_the_next_request_reads_again():
    calls.clear()
    seen = []
    middleware = RequestMemoMiddleware(lambda request: seen.append((counted(), counted())))
    middleware(object())
    middleware(object())
    assert seen == [(1, 1), (2, 2)]
    assert counted() == 3  # and nothing is kept after the request


def _stage_reads(queries) -> int:
    return sum('FROM "pipelines_pipelinestage"' in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/leads/", "/leads/?status=won", "/board/"])
def test_a_list_page_reads_the_stages_once(manager_client, url):
    LeadFactory.create_batch(3)
    manager_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert manager_client.get(url).status_code == 200
    assert _stage_reads(queries) == 1


@pytest.mark.django_db
def test_a_stage_renamed_is_seen_by_the_next_request(manager_client):
    lead = LeadFactory(title="Renamed stage lead")
    manager_client.get(reverse("leads:list"))
    PipelineStage.objects.filter(pk=lead.stage_id).update(name="Heel nieuw")
    assert "Heel nieuw" in manager_client.get(reverse("leads:list")).content.decode()
    assert "Heel nieuw" in [stage.name for stage in all_stages()]
