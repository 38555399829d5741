"""Every write URL against every role: allowed writes succeed, forbidden ones change nothing.

Roles: anonymous, a signed-in user in no group (reader), a sales rep acting on their own
lead, a sales rep acting on someone else's lead, and a sales manager.
"""

import re

import pytest
from django.urls import reverse

from crm.models import ApiToken, Client, Contact
from leads.forms import MERGE_FIELDS
from leads.models import Absence, Lead, LeadEvent, Membership, SavedView
from tests.factories import (
    AbsenceFactory,
    ClientFactory,
    ContactFactory,
    LeadFactory,
    ManagerFactory,
    MembershipFactory,
    RepFactory,
    SavedViewFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "reader", "rep_own", "rep_other", "manager"]
OK, FORBIDDEN, LOGIN = "ok", "forbidden", "login"


@pytest.fixture
def world(db):
    """An owner rep with a lead, another rep, a manager, a reader; a client and a contact;
    a team with the owner in it, absent some day."""
    owner = RepFactory(username="owner")
    client = ClientFactory(name="Acme")
    membership = MembershipFactory(user=owner)
    return {
        "owner": owner,
        "other": RepFactory(username="other"),
        "manager": ManagerFactory(username="boss"),
        "reader": UserFactory(username="reader"),
        "lead": LeadFactory(created_by=owner, assignee=owner, title="Original"),
        "client": client,
        "contact": ContactFactory(client=client, name="Ann"),
        "membership": membership,
        "absence": AbsenceFactory(membership=membership),
        # Everyone sees it; only its owner changes it.
        "view": SavedViewFactory(owner=owner, name="Owner's", shared=True, query="priority=low"),
    }


def actor(world, role):
    return {
        "anonymous": None,
        "reader": world["reader"],
        "rep_own": world["owner"],
        "rep_other": world["other"],
        "manager": world["manager"],
    }[role]


def lead_form(world, **overrides):
    lead = world["lead"]
    data = {
        "title": "Changed",
        "stage": lead.stage_id,
        "priority": "normal",
        "value": "",
        "probability": "",
        "version": lead.version,
    }
    data.update(overrides)
    return data


def merge_form(world):
    """Merge a second lead of the owner's into theirs, keeping every value of the first."""
    twin = world["twin"] = LeadFactory(created_by=world["owner"], title="Original too")
    lead = world["lead"]
    return {
        "with": twin.pk,
        "keep_version": lead.version,
        "other_version": twin.version,
    } | {f"pick_{name}": "keep" for name in MERGE_FIELDS}


# (name, url, data, changed?) — `changed(world)` tells whether the write took effect.
WRITES = {
    "lead_create": (
        lambda w: reverse("leads:create"),
        lambda w: lead_form(w, title="Brand new"),
        lambda w: Lead.objects.filter(title="Brand new").exists(),
    ),
    "lead_update": (
        lambda w: reverse("leads:update", args=[w["lead"].pk]),
        lambda w: lead_form(w),
        lambda w: Lead.objects.filter(title="Changed").exists(),
    ),
    "lead_delete": (
        lambda w: reverse("leads:delete", args=[w["lead"].pk]),
        lambda w: {},
        lambda w: not Lead.objects.filter(pk=w["lead"].pk).exists(),
    ),
    "lead_move_stage": (
        lambda w: reverse("leads:move_stage", args=[w["lead"].pk]),
        lambda w: {"stage": default_stage("Proposal").pk},
        lambda w: Lead.objects.get(pk=w["lead"].pk).stage.name == "Proposal",
    ),
    "lead_assign": (
        lambda w: reverse("leads:assign", args=[w["lead"].pk]),
        lambda w: {"assignee": "other"},
        lambda w: Lead.objects.get(pk=w["lead"].pk).assignee == w["other"],
    ),
    "lead_note": (
        lambda w: reverse("leads:add_note", args=[w["lead"].pk]),
        lambda w: {"text": "hi"},
        lambda w: LeadEvent.objects.filter(lead=w["lead"], kind=LeadEvent.Kind.NOTE).exists(),
    ),
    "lead_priority": (
        lambda w: reverse("leads:set_priority", args=[w["lead"].pk]),
        lambda w: {"priority": "urgent", "origin": "board"},
        lambda w: Lead.objects.get(pk=w["lead"].pk).priority == "urgent",
    ),
    "lead_merge": (
        lambda w: reverse("leads:merge", args=[w["lead"].pk]),
        lambda w: merge_form(w),
        lambda w: not Lead.objects.filter(pk=w["twin"].pk).exists(),
    ),
    "client_create": (
        lambda w: reverse("crm:client_create"),
        lambda w: {"name": "Newco", "kind": "organization"},
        lambda w: Client.objects.filter(name="Newco").exists(),
    ),
    "client_update": (
        lambda w: reverse("crm:client_update", args=[w["client"].pk]),
        lambda w: {"name": "Acme Renamed", "kind": "organization"},
        lambda w: Client.objects.filter(name="Acme Renamed").exists(),
    ),
    "client_delete": (
        lambda w: reverse("crm:client_delete", args=[w["client"].pk]),
        lambda w: {},
        lambda w: Client.objects.get(pk=w["client"].pk).deleted_at is not None,
    ),
    "contact_create": (
        lambda w: reverse("crm:contact_create"),
        lambda w: {"name": "Bert", "client": w["client"].pk},
        lambda w: Contact.objects.filter(name="Bert").exists(),
    ),
    "contact_update": (
        lambda w: reverse("crm:contact_update", args=[w["contact"].pk]),
        lambda w: {"name": "Ann Renamed", "client": w["client"].pk},
        lambda w: Contact.objects.filter(name="Ann Renamed").exists(),
    ),
    "contact_delete": (
        lambda w: reverse("crm:contact_delete", args=[w["contact"].pk]),
        lambda w: {},
        lambda w: Contact.objects.get(pk=w["contact"].pk).deleted_at is not None,
    ),
    "team_pause": (
        lambda w: reverse("leads:team_pause", args=[w["membership"].pk]),
        lambda w: {"paused": "1"},
        lambda w: Membership.objects.get(pk=w["membership"].pk).paused,
    ),
    "team_absence_add": (
        lambda w: reverse("leads:team_absence_add", args=[w["membership"].team_id]),
        lambda w: {
            "membership": w["membership"].pk,
            "starts_on": "2030-01-07",
            "ends_on": "2030-01-11",
        },
        lambda w: Absence.objects.filter(starts_on="2030-01-07").exists(),
    ),
    "team_absence_remove": (
        lambda w: reverse("leads:team_absence_remove", args=[w["absence"].pk]),
        lambda w: {},
        lambda w: not Absence.objects.filter(pk=w["absence"].pk).exists(),
    ),
    "saved_view_create": (
        lambda w: reverse("leads:saved_view_create"),
        lambda w: {"name": "Mine", "query": "priority=high"},
        lambda w: SavedView.objects.filter(name="Mine").exists(),
    ),
    "saved_view_update": (
        lambda w: reverse("leads:saved_view_update", args=[w["view"].pk]),
        lambda w: {"query": "priority=high"},
        lambda w: SavedView.objects.get(pk=w["view"].pk).query == "priority=high",
    ),
    "saved_view_delete": (
        lambda w: reverse("leads:saved_view_delete", args=[w["view"].pk]),
        lambda w: {},
        lambda w: not SavedView.objects.filter(pk=w["view"].pk).exists(),
    ),
    "api_token_create": (
        lambda w: reverse("crm:api_token_create"),
        lambda w: {"name": "Sync"},
        lambda w: ApiToken.objects.filter(name="Sync").exists(),
    ),
}

# What each role may do. Client and contact writes do not depend on who created them.
EXPECTED = {
    "lead_create": [LOGIN, FORBIDDEN, OK, OK, OK],
    "lead_update": [LOGIN, FORBIDDEN, OK, FORBIDDEN, OK],
    "lead_delete": [LOGIN, FORBIDDEN, OK, FORBIDDEN, OK],
    "lead_move_stage": [LOGIN, FORBIDDEN, OK, FORBIDDEN, OK],
    "lead_assign": [LOGIN, FORBIDDEN, OK, FORBIDDEN, OK],
    "lead_note": [LOGIN, FORBIDDEN, OK, FORBIDDEN, OK],
    "lead_merge": [LOGIN, FORBIDDEN, OK, FORBIDDEN, OK],
    "lead_priority": [LOGIN, FORBIDDEN, OK, FORBIDDEN, OK],
    "client_create": [LOGIN, FORBIDDEN, OK, OK, OK],
    "client_update": [LOGIN, FORBIDDEN, OK, OK, OK],
    "client_delete": [LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK],
    "contact_create": [LOGIN, FORBIDDEN, OK, OK, OK],
    "contact_update": [LOGIN, FORBIDDEN, OK, OK, OK],
    "contact_delete": [LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK],
    # Teams are the managers' to steer, a rep's own membership too.
    "team_pause": [LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK],
    "team_absence_add": [LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK],
    "team_absence_remove": [LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK],
    # A saved view is the user's own way of reading the list, which readers do too
    # (sharing one is the managers': tests/leads/test_saved_views.py).
    "saved_view_create": [LOGIN, OK, OK, OK, OK],
    "saved_view_update": [LOGIN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN],
    "saved_view_delete": [LOGIN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN],
    # A token has its user's rights, no more: anyone signed in may have one.
    "api_token_create": [LOGIN, OK, OK, OK, OK],
}

CASES = [
    (write, role, outcome)
    for write, outcomes in EXPECTED.items()
    for role, outcome in zip(ROLES, outcomes, strict=True)
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("write", "role", "outcome"), CASES)
def test_write_permission_matrix(client, world, write, role, outcome, htmx):
    url, data, changed = WRITES[write]
    user = actor(world, role)
    if user is not None:
        client.force_login(user)
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post(url(world), data(world), headers=headers)
    if outcome == OK:
        assert response.status_code in (200, 201, 302), response.content[:500]
        assert changed(world), f"{role} should be able to {write}"
    else:
        expected_status = {FORBIDDEN: 403, LOGIN: 401 if htmx else 302}[outcome]
        assert response.status_code == expected_status
        assert not changed(world), f"{role} must not be able to {write}"
        if outcome == FORBIDDEN and htmx:
            assert "showToast" in response.headers["HX-Trigger"]
            assert response.headers["HX-Reswap"] == "none"


def test_matrix_covers_every_write_url():
    """A new write URL must be added to the matrix: list every POST-only or form route."""
    from django.urls import get_resolver

    names = set()
    for namespace in ("leads", "crm"):
        for name in get_resolver().namespace_dict[namespace][1].reverse_dict:
            if isinstance(name, str):
                names.add(f"{namespace}:{name}")
    suffixes = (
        "create", "update", "delete", "stage", "assign", "note", "pause", "_add", "_remove",
        "merge", "priority",
    )  # fmt: skip
    writes = {n for n in names if n.split(":")[1].endswith(suffixes)}
    covered = {
        "leads:create", "leads:update", "leads:delete", "leads:move_stage", "leads:assign",
        "leads:add_note", "leads:merge", "leads:set_priority",
        "crm:client_create", "crm:client_update", "crm:client_delete",
        "crm:contact_create", "crm:contact_update", "crm:contact_delete",
        "leads:team_pause", "leads:team_absence_add", "leads:team_absence_remove",
        "leads:saved_view_create", "leads:saved_view_update", "leads:saved_view_delete",
        "crm:api_token_create",
    }  # fmt: skip
    assert writes == covered


# --- the REST API: the same rules through /api/v1/ with each role's token ---------------------


def api_lead(w, **values):
    lead = w["lead"]
    return {**values, "version": lead.version}


# (method, path, JSON body, changed?) — the API's counterpart of each page's write.
API_WRITES = {
    "lead_create": (
        "post",
        lambda w: "/api/v1/leads/",
        lambda w: {"title": "Brand new"},
        WRITES["lead_create"][2],
    ),
    "lead_update": (
        "patch",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/",
        lambda w: api_lead(w, title="Changed"),
        WRITES["lead_update"][2],
    ),
    "lead_delete": (
        "delete",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/",
        lambda w: None,
        WRITES["lead_delete"][2],
    ),
    "lead_move_stage": (
        "post",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/move/",
        lambda w: {"stage": default_stage("Proposal").pk},
        WRITES["lead_move_stage"][2],
    ),
    "lead_assign": (
        "post",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/assign/",
        lambda w: {"assignee": w["other"].pk},
        WRITES["lead_assign"][2],
    ),
    "lead_note": (
        "post",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/notes/",
        lambda w: {"text": "hi"},
        WRITES["lead_note"][2],
    ),
    "client_create": (
        "post",
        lambda w: "/api/v1/clients/",
        lambda w: {"name": "Newco"},
        WRITES["client_create"][2],
    ),
    "client_update": (
        "patch",
        lambda w: f"/api/v1/clients/{w['client'].pk}/",
        lambda w: {"name": "Acme Renamed"},
        WRITES["client_update"][2],
    ),
    "client_delete": (
        "delete",
        lambda w: f"/api/v1/clients/{w['client'].pk}/",
        lambda w: None,
        WRITES["client_delete"][2],
    ),
    "contact_create": (
        "post",
        lambda w: "/api/v1/contacts/",
        lambda w: {"name": "Bert", "client": w["client"].pk},
        WRITES["contact_create"][2],
    ),
    "contact_update": (
        "patch",
        lambda w: f"/api/v1/contacts/{w['contact'].pk}/",
        lambda w: {"name": "Ann Renamed"},
        WRITES["contact_update"][2],
    ),
    "contact_delete": (
        "delete",
        lambda w: f"/api/v1/contacts/{w['contact'].pk}/",
        lambda w: None,
        WRITES["contact_delete"][2],
    ),
}

API_CASES = [
    (write, role, outcome)
    for write in API_WRITES
    for role, outcome in zip(ROLES, EXPECTED[write], strict=True)
]


@pytest.mark.parametrize(("write", "role", "outcome"), API_CASES)
def test_api_write_permission_matrix(world, write, role, outcome):
    """The API decides as the pages do: the same outcome for each role (signing in is a
    token there: 401 without one)."""
    from tests.api.conftest import ApiClient, token_for

    method, path, body, changed = API_WRITES[write]
    user = actor(world, role)
    api = ApiClient(token_for(user) if user is not None else None)
    call = getattr(api, method)
    response = call(path(world)) if method == "delete" else call(path(world), body(world))
    if outcome == OK:
        assert response.status_code in (200, 201, 204), response.content[:500]
        assert changed(world), f"{role} should be able to {write} through the API"
    else:
        assert response.status_code == {FORBIDDEN: 403, LOGIN: 401}[outcome]
        assert not changed(world), f"{role} must not be able to {write} through the API"


def test_api_matrix_covers_every_api_write():
    """A new write operation of the API must be added to the matrix."""
    from crm.api.app import api

    writes = {
        (method, path)
        for path, operations in api.get_openapi_schema()["paths"].items()
        for method in operations
        if method in ("post", "patch", "put", "delete")
    }
    world = {"lead": LeadFactory.build(pk=1), "client": Client(pk=1), "contact": Contact(pk=1)}
    covered = {
        (method, path(world).replace("/1/", "/{id}/")) for method, path, *_ in API_WRITES.values()
    }
    named = {(method, re.sub(r"\{\w+_id\}", "{id}", path)) for method, path in writes}
    assert named == covered
