"""The load test's users (bench/loadtest/scenario.py) send what the app answers.

The locustfile only carries ``scenario.Visit``'s requests over Locust's client; here the
same requests go through Django's test client, with CSRF checks on. A path, a form field
or a page the scenario reads that drifts from the app fails here, without Locust.
"""

import random

import pytest
from django.template.loader import render_to_string
from django.test import Client

from bench import load_test
from bench.loadtest import scenario
from leads.models import EventKind, Lead, LeadEvent
from pipelines.models import Pipeline
from tests.factories import ClientFactory, ContactFactory, LeadFactory, ManagerFactory, RepFactory

pytestmark = pytest.mark.django_db


class DjangoBrowser:
    """``scenario.Browser`` over Django's test client; records (method, name) of each
    request as the figures would count it."""

    def __init__(self):
        self.client = Client(enforce_csrf_checks=True)
        self.sent: list[tuple[str, str]] = []

    def get(self, path, *, name, expect=(200,), contains="", htmx_target=""):
        return self.send("get", path, None, name, expect, contains, htmx_target)

    def post(self, path, data, *, name, expect=(200,), contains="", htmx_target=""):
        return self.send("post", path, data, name, expect, contains, htmx_target)

    def send(self, method, path, data, name, expect, contains, htmx_target):
        headers = {"HX-Request": "true", "HX-Target": htmx_target} if htmx_target else {}
        response = getattr(self.client, method)(path, data, headers=headers, follow=True)
        self.sent.append((method, name))
        text = response.content.decode()
        assert response.status_code in expect, (method, path, response.status_code, text[:500])
        assert contains in text, (method, path, contains)
        return scenario.Page(response.status_code, text)


@pytest.fixture
def people(db):
    rep = RepFactory(username="bulk_user_01")
    colleague = RepFactory(username="bulk_user_02")
    manager = ManagerFactory(username="loadtest_manager_01")
    client = ClientFactory()
    contact = ContactFactory(client=client)
    for n in range(3):
        LeadFactory(
            title=f"Cloud license renewal {n}",
            assignee=rep,
            created_by=rep,
            client=client,
            contact=contact,
        )
    LeadFactory(title="Support upgrade", assignee=colleague, created_by=colleague)
    return {"rep": rep, "colleague": colleague, "manager": manager}


def visit(username: str, *, manager: bool) -> scenario.Visit:

    return scenario.Visit(
        DjangoBrowser(),
        username=username,
        password="pw",
        manager=manager,
        colleagues=["bulk_user_01", "bulk_user_02"],
        rng=random.Random(7),
    )


@pytest.mark.parametrize(
    ("username", "manager"), [("bulk_user_01", False), ("loadtest_manager_01", True)]
)
def test_every_action_of_a_rep_and_a_manager_is_answered_as_the_scenario_expects(
    people, username, manager
):
    person = visit(username, manager=manager)
    person.sign_in()
    for action in scenario.MIX:
        person.act(action)


def test_a_reps_writes_land_on_their_own_leads(people):
    rep = visit("bulk_user_01", manager=False)
    rep.sign_in()
    assert set(rep.own) == set(
        Lead.objects.filter(assignee=people["rep"]).values_list("pk", flat=True)
    )
    notes = LeadEvent.objects.filter(kind=EventKind.NOTE).count()
    rep.note()
    assert LeadEvent.objects.filter(kind=EventKind.NOTE).count() == notes + 1
    moved = LeadEvent.objects.filter(kind=EventKind.STAGE_CHANGED).count()
    rep.move()
    assert LeadEvent.objects.filter(kind=EventKind.STAGE_CHANGED).count() == moved + 1


def test_a_lead_given_away_meanwhile_is_read_not_written(people):
    """The rep's My Work listed it; by the time they open it, it is a colleague's: the page
    shows no button to write with, so nothing is posted (no 403 in the figures)."""
    rep = visit("bulk_user_01", manager=False)
    rep.sign_in()
    Lead.objects.filter(pk__in=rep.own).update(assignee=people["colleague"], created_by=None)
    for action in scenario.WRITES:
        rep.own = list(
            Lead.objects.filter(assignee=people["colleague"]).values_list("pk", flat=True)
        )
        rep.browser.sent.clear()
        rep.act(action)
        assert [method for method, _ in rep.browser.sent] == ["get"] * len(rep.browser.sent)


def test_two_sessions_of_one_rep_work_on_different_leads(people):
    first, second = visit("bulk_user_01", manager=False), visit("bulk_user_01", manager=False)
    first.share, second.share = (0, 2), (1, 2)
    first.sign_in()
    second.sign_in()
    mine = set(Lead.objects.filter(assignee=people["rep"]).values_list("pk", flat=True))
    assert set(first.own) | set(second.own) == mine
    assert not set(first.own) & set(second.own)


def test_a_manager_gives_out_an_unassigned_lead(people):
    manager = visit("loadtest_manager_01", manager=True)
    manager.sign_in()
    lead = LeadFactory(assignee=None)
    manager.assign()
    lead.refresh_from_db()
    assert lead.assignee.username in {"bulk_user_01", "bulk_user_02"}


def test_an_edit_posts_the_form_as_it_came_with_only_priority_and_close_date_changed(people):
    manager = visit("loadtest_manager_01", manager=True)
    manager.sign_in()
    lead = Lead.objects.filter(assignee=people["rep"]).first()
    manager.seen = [lead.pk]
    before = Lead.objects.get(pk=lead.pk)
    manager.edit()
    after = Lead.objects.get(pk=lead.pk)
    assert after.version == before.version + 1
    assert after.expected_close_date != before.expected_close_date
    for name in [
        "title",
        "value",
        "client_id",
        "contact_id",
        "stage_id",
        "assignee_id",
        "source_id",
    ]:
        assert getattr(after, name) == getattr(before, name), name


@pytest.mark.parametrize(
    ("username", "manager"), [("bulk_user_01", False), ("loadtest_manager_01", True)]
)
def test_eighty_percent_of_requests_read_and_twenty_write(people, username, manager):
    """Counted from the requests each action really sends, weighted by ``MIX``."""
    person = visit(username, manager=manager)
    person.sign_in()
    reads = writes = 0
    for action, weight in scenario.MIX.items():
        person.browser.sent.clear()
        person.act(action)
        reads += weight * sum(method == "get" for method, _ in person.browser.sent)
        writes += weight * sum(method == "post" for method, _ in person.browser.sent)
    assert 0.19 <= writes / (reads + writes) <= 0.21


def test_the_cross_server_check_reads_the_lists_totals_and_the_current_stage(people, rep_client):
    rep_client.force_login(people["rep"])
    listed = rep_client.get("/leads/?assignee=me").content.decode()
    assert load_test.summary(scenario.Page(200, listed)) == (3, "€3,000")
    assert load_test.summary(scenario.Page(200, "<p>No leads match.</p>")) == (0, "")
    lead = Lead.objects.filter(assignee=people["rep"]).first()
    detail = rep_client.get(f"/leads/{lead.pk}/").content.decode()
    assert load_test.current_stage(detail) == Pipeline.objects.default().first_open_stage().name


def test_the_cross_server_check_reads_a_count_in_thousands():
    """The list writes 97,418 with its thousands grouped, and a rounded total (€1.2M) with
    its exact amount in a title; the check read them as 0 and nothing."""
    line = render_to_string(
        "leads/lead_list.html#totals-line",
        {
            "start": 1,
            "end": 25,
            "totals": {"count": 97418, "total_value": 1234567, "weighted_value": 345678},
        },
    )
    assert load_test.summary(scenario.Page(200, line)) == (97418, "€1,234,567")
