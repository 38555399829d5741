"""Assignment rules: conditions, order, fair turns, skips with reasons, every way in."""

import datetime
import html
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from leads import events
from leads.assignment import Absence, AssignmentRule, Membership, Team
from leads.models import EventKind, Lead, LeadEvent, LeadSource
from leads.services import lead_create, lead_move_stage, leads_assign_by_rules
from pipelines.models import Pipeline, PipelineStage
from tests.factories import LeadFactory, ManagerFactory, RepFactory, default_stage, lost
from tests.leads.test_import import csv_bytes, imported, start  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

MONDAY = datetime.datetime(2026, 11, 30, 10, tzinfo=datetime.UTC)


def person(username: str, first: str, last: str):
    return RepFactory(username=username, first_name=first, last_name=last)


@pytest.fixture
def alice(db):
    return person("avries", "Alice", "de Vries")


@pytest.fixture
def bob(db):
    return person("bjanssen", "Bob", "Janssen")


@pytest.fixture
def carol(db):
    return person("csmit", "Carol", "Smit")


def team(name: str, *members, **options) -> Team:
    made = Team.objects.create(name=name)
    for user in members:
        Membership.objects.create(team=made, user=user, **options)
    return made


def rule(name: str = "Everything", *, order: int = 0, sources=(), **fields) -> AssignmentRule:
    made = AssignmentRule.objects.create(name=name, order=order, **fields)
    made.sources.set(sources)
    return made


def new_lead(by, **fields) -> Lead:
    """A lead created through the services, as the form creates it."""
    values = {"title": "New lead", "stage": default_stage(), "priority": "normal"} | fields
    return lead_create(lead=Lead(**values), by=by)


def member(team_: Team, user) -> Membership:
    return Membership.objects.get(team=team_, user=user)


def sentences(lead) -> list[str]:
    return [
        events.describe(event)
        for event in LeadEvent.objects.filter(lead=lead, kind=EventKind.ASSIGNED).order_by("pk")
    ]


def owners(leads) -> list[str]:
    """Their assignees' first names, in order."""
    return [Lead.objects.get(pk=lead.pk).assignee.first_name for lead in leads]


# --- who gets the lead -------------------------------------------------------------------------


def test_without_rules_a_new_lead_stays_unassigned(rep):
    lead = new_lead(rep)

    assert lead.assignee is None
    assert sentences(lead) == []


def test_a_rule_for_a_user_assigns_and_says_so(rep, alice):
    rule("Website leads", user=alice)

    lead = new_lead(rep)

    assert lead.assignee == alice
    assert sentences(lead) == ["Assigned to Alice de Vries by rule ‘Website leads’"]
    event = LeadEvent.objects.get(lead=lead, kind=EventKind.ASSIGNED)
    assert event.actor == rep  # who created the lead; the rule is in the sentence


def test_a_lead_created_with_an_assignee_keeps_it_and_takes_no_turn(rep, alice, bob):
    enterprise = team("Enterprise", alice)
    rule(team=enterprise)

    lead = new_lead(rep, assignee=bob)

    assert lead.assignee == bob
    assert sentences(lead) == []
    enterprise.refresh_from_db()
    assert enterprise.turns == 0
    assert member(enterprise, alice).last_turn == 0


def test_the_first_matching_rule_wins_and_inactive_rules_are_skipped(rep, alice, bob, carol):
    rule("Inactive", order=1, user=carol, active=False)
    rule("Urgent", order=2, user=alice, priorities=["urgent"])
    rule("Catch-all", order=3, user=bob)  # the fallback: no conditions

    urgent = new_lead(rep, priority="urgent")
    normal = new_lead(rep, priority="normal")

    assert (urgent.assignee, normal.assignee) == (alice, bob)
    assert sentences(normal) == ["Assigned to Bob Janssen by rule ‘Catch-all’"]


def test_no_matching_rule_leaves_the_lead_unassigned_without_an_event(rep, alice):
    rule("Urgent only", user=alice, priorities=["urgent"])

    lead = new_lead(rep, priority="low")

    assert lead.assignee is None
    assert sentences(lead) == []


def other_pipeline_stage() -> PipelineStage:
    pipeline = Pipeline.objects.create(name="Partners")
    return PipelineStage.objects.create(pipeline=pipeline, name="Intro", order=1, kind="open")


CONDITIONS = [
    # (rule fields, lead fields that meet them, lead fields that do not)
    ({"category": "Hardware"}, {"category": "hardware"}, {"category": "Software"}),
    ({"priorities": ["high", "urgent"]}, {"priority": "high"}, {"priority": "normal"}),
    ({"value_min": Decimal(1000)}, {"value": Decimal(1000)}, {"value": Decimal(999)}),
    ({"value_max": Decimal(5000)}, {"value": Decimal(5000)}, {"value": Decimal(5001)}),
    ({"value_min": Decimal(1)}, {"value": Decimal(2)}, {"value": None}),
]


@pytest.mark.parametrize(("conditions", "meets", "misses"), CONDITIONS)
def test_each_condition(rep, alice, conditions, meets, misses):
    rule(user=alice, **conditions)

    assert new_lead(rep, **meets).assignee == alice
    assert new_lead(rep, **misses).assignee is None


def test_the_pipeline_condition(rep, alice):
    rule(user=alice, pipeline=default_stage().pipeline)

    assert new_lead(rep).assignee == alice
    assert new_lead(rep, stage=other_pipeline_stage()).assignee is None


def test_the_sources_condition_is_one_of(rep, alice):
    referral, partner = (
        LeadSource.objects.get(slug="referral"),
        LeadSource.objects.get(slug="partner"),
    )
    rule(user=alice, sources=[referral, partner])

    assert new_lead(rep, source=partner).assignee == alice
    assert new_lead(rep, source=LeadSource.objects.get(slug="website")).assignee is None
    assert new_lead(rep, source=None).assignee is None


def test_every_condition_must_hold(rep, alice):
    rule(user=alice, category="Hardware", priorities=["urgent"])

    assert new_lead(rep, category="Hardware", priority="normal").assignee is None
    assert new_lead(rep, category="Hardware", priority="urgent").assignee == alice


# --- fair turns --------------------------------------------------------------------------------


def test_round_robin_takes_turns_in_order(rep, alice, bob, carol):
    enterprise = team("Enterprise", alice, bob, carol)
    rule("Enterprise", team=enterprise)

    leads = [new_lead(rep) for _ in range(6)]

    assert owners(leads) == ["Alice", "Bob", "Carol"] * 2
    assert sentences(leads[0]) == ["Assigned to Alice de Vries by rule ‘Enterprise’ (round-robin)"]


def test_a_member_who_joins_is_next_and_nobody_starts_over(rep, alice, bob, carol):
    enterprise = team("Enterprise", alice, bob)
    rule(team=enterprise)
    first = [new_lead(rep) for _ in range(3)]  # alice, bob, alice

    Membership.objects.create(team=enterprise, user=carol)
    later = [new_lead(rep) for _ in range(4)]

    assert owners(first) == ["Alice", "Bob", "Alice"]
    # Carol has had no turn: hers is next; then bob (his last is older than alice's).
    assert owners(later) == ["Carol", "Bob", "Alice", "Carol"]


def test_a_member_who_leaves_does_not_reset_the_turns(rep, alice, bob, carol):
    enterprise = team("Enterprise", alice, bob, carol)
    rule(team=enterprise)
    first = [new_lead(rep) for _ in range(2)]  # alice, bob

    member(enterprise, alice).delete()
    later = [new_lead(rep) for _ in range(3)]

    assert owners(first) == ["Alice", "Bob"]
    assert owners(later) == ["Carol", "Bob", "Carol"]


def test_a_paused_member_is_skipped_with_the_reason(rep, alice, bob):
    enterprise = team("Enterprise", alice, bob)
    rule("Referrals → Enterprise team", team=enterprise)
    Membership.objects.filter(user=alice).update(paused=True)

    lead = new_lead(rep)

    assert lead.assignee == bob
    assert sentences(lead) == [
        "Assigned to Bob Janssen by rule ‘Referrals → Enterprise team’ "
        "(round-robin; skipped Alice de Vries: paused)"
    ]


def test_an_absent_member_is_skipped_until_the_absence_ends(rep, alice, bob):
    enterprise = team("Enterprise", bob, alice)
    rule("Referrals → Enterprise team", team=enterprise)
    Absence.objects.create(
        membership=member(enterprise, bob),
        starts_on=datetime.date(2026, 12, 1),
        ends_on=datetime.date(2026, 12, 4),
    )

    with time_machine.travel(datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)):
        before = new_lead(rep)  # the day before: bob's turn
    with time_machine.travel(datetime.datetime(2026, 12, 4, 12, tzinfo=datetime.UTC)):
        during = new_lead(rep)  # alice's turn anyway
        skipped = new_lead(rep)  # bob's turn, but he is away
    with time_machine.travel(datetime.datetime(2026, 12, 5, 12, tzinfo=datetime.UTC)):
        back = new_lead(rep)

    assert owners([before, during, skipped, back]) == ["Bob", "Alice", "Alice", "Bob"]
    assert sentences(skipped) == [
        "Assigned to Alice de Vries by rule ‘Referrals → Enterprise team’ "
        "(round-robin; skipped Bob Janssen: absent until 4 Dec)"
    ]


def test_a_member_at_capacity_is_skipped_until_a_lead_closes(rep, manager, alice, bob):
    enterprise = team("Enterprise", alice, bob)
    Membership.objects.filter(user=alice).update(capacity=1)
    rule(team=enterprise)
    held = LeadFactory(assignee=alice)  # alice holds one open lead: she is full

    first = new_lead(rep)
    lead_move_stage(lead_id=held.pk, stage=default_stage("Lost"), by=manager, closing=lost())
    second, third = new_lead(rep), new_lead(rep)

    assert owners([first, second, third]) == ["Bob", "Alice", "Bob"]
    assert sentences(first) == [
        "Assigned to Bob Janssen by rule ‘Everything’ "
        "(round-robin; skipped Alice de Vries: at capacity (1 open leads))"
    ]


def test_when_everyone_is_skipped_the_lead_stays_unassigned_and_says_why(rep, alice, bob):
    enterprise = team("Enterprise", alice, bob)
    rule("Enterprise", team=enterprise)
    Membership.objects.filter(user=alice).update(paused=True)
    Absence.objects.create(
        membership=member(enterprise, bob),
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate() + datetime.timedelta(days=3),
    )
    until = timezone.localdate() + datetime.timedelta(days=3)

    lead = new_lead(rep)

    assert lead.assignee is None
    assert sentences(lead) == [
        "Left unassigned by rule ‘Enterprise’: no member of Enterprise was free "
        f"(Alice de Vries: paused, Bob Janssen: absent until {until.day} {until:%b})"
    ]
    enterprise.refresh_from_db()
    assert enterprise.turns == 0


def test_a_team_without_members_leaves_the_lead_unassigned(rep):
    rule("Nobody", team=team("Empty"))

    lead = new_lead(rep)

    assert lead.assignee is None
    assert sentences(lead) == ["Left unassigned by rule ‘Nobody’: Empty has no active members"]


def test_an_inactive_user_gets_no_leads(rep, alice, bob):
    rule("To Alice", user=alice)
    enterprise = team("Enterprise", bob, alice)
    rule("Team", order=1, team=enterprise)
    alice.is_active = False
    alice.save()

    lead = new_lead(rep)

    assert lead.assignee is None
    assert sentences(lead) == ["Left unassigned by rule ‘To Alice’: Alice de Vries: deactivated"]


# --- every way in ------------------------------------------------------------------------------


def test_the_form_runs_the_rules(rep_client, alice):
    rule("Everything", user=alice)
    data = {"title": "From the form", "stage": default_stage().pk, "priority": "normal"}

    response = rep_client.post(reverse("leads:create"), data)

    assert response.status_code == 302
    assert Lead.objects.get(title="From the form").assignee == alice


def test_the_import_runs_the_rules_row_by_row_in_order(
    rep_client,
    imported,  # noqa: F811
    alice,
    bob,
    carol,
):
    enterprise = team("Enterprise", alice, bob)
    rule(team=enterprise)
    raw = csv_bytes(
        [
            ["title", "assignee"],
            ["First", ""],
            ["Carol's", "csmit"],
            ["Second", ""],
            ["Third", ""],
        ]
    )

    lead_import = imported(rep_client, raw)

    assert lead_import.created_count == 4, lead_import.error_report
    by_title = {lead.title: lead.assignee.first_name for lead in Lead.objects.all()}
    assert by_title == {"First": "Alice", "Carol's": "Carol", "Second": "Bob", "Third": "Alice"}
    first = Lead.objects.get(title="First")
    assert sentences(first) == ["Assigned to Alice de Vries by rule ‘Everything’ (round-robin)"]
    assert sentences(Lead.objects.get(title="Carol's")) == []


def test_run_rules_assigns_the_unassigned_leads_in_order(manager, alice, bob):
    enterprise = team("Enterprise", alice, bob)
    rule(team=enterprise)
    leads = [LeadFactory(assignee=None) for _ in range(3)]
    taken = LeadFactory(assignee=bob)

    result = leads_assign_by_rules(lead_ids=[lead.pk for lead in [*leads, taken]], by=manager)

    assert owners(leads) == ["Alice", "Bob", "Alice"]
    assert Lead.objects.get(pk=taken.pk).assignee == bob  # assigned already: left alone
    assert sorted(lead.pk for lead in result.assigned) == [lead.pk for lead in leads]
    assert Lead.objects.get(pk=leads[0].pk).version == leads[0].version + 1
    assert sentences(leads[1]) == ["Assigned to Bob Janssen by rule ‘Everything’ (round-robin)"]


def test_run_rules_needs_the_right_to_assign(rep, alice):
    rule(user=alice)
    lead = LeadFactory(assignee=None)

    with pytest.raises(PermissionDenied):
        leads_assign_by_rules(lead_ids=[lead.pk], by=rep)

    assert Lead.objects.get(pk=lead.pk).assignee is None


# --- the turn under a row lock (PostgreSQL) --------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
def test_fifty_leads_created_at_once_are_shared_fairly():
    """50 leads created by 4 threads at the same moment: the per-member counts differ by
    at most one, because each turn is taken under the team's row lock."""
    users = [person(f"member{n}", "Member", str(n)) for n in range(3)]
    creator = ManagerFactory()
    rule(team=team("Enterprise", *users))
    together = threading.Barrier(4)

    def create(count: int) -> None:
        try:
            together.wait()
            for _ in range(count):
                new_lead(creator)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, [13, 13, 12, 12]))

    counts = Counter(Lead.objects.values_list("assignee__username", flat=True))
    assert sum(counts.values()) == 50
    assert set(counts) == {"member0", "member1", "member2"}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert Team.objects.get().turns == 50


# --- "Run rules" from the list ----------------------------------------------------------------


def run_rules_url(query: str = "assignee=none") -> str:
    return f"{reverse('leads:assign_by_rules')}?{query}"


def test_a_manager_sees_run_rules_on_the_unassigned_leads(manager_client):
    LeadFactory(assignee=None)
    url = f"{reverse('leads:list')}?assignee=none"

    assert "Run assignment rules on this lead" in manager_client.get(url).content.decode()
    everything = manager_client.get(reverse("leads:list")).content.decode()
    assert "Run assignment rules" not in everything  # only on the unassigned ones


def test_a_rep_does_not_see_run_rules(rep_client):
    LeadFactory(assignee=None)
    url = f"{reverse('leads:list')}?assignee=none"

    assert "Run assignment rules" not in rep_client.get(url).content.decode()


def test_run_rules_from_the_list_assigns_the_filtered_unassigned_leads(manager_client, alice):
    rule(user=alice)
    urgent = LeadFactory(assignee=None, priority="urgent")
    normal = LeadFactory(assignee=None, priority="normal")

    response = manager_client.post(run_rules_url("assignee=none&priority=urgent"), follow=True)

    assert response.redirect_chain[-1][0] == (
        f"{reverse('leads:list')}?assignee=none&priority=urgent"
    )
    assert "The assignment rules assigned 1 lead." in response.content.decode()
    assert Lead.objects.get(pk=urgent.pk).assignee == alice
    assert Lead.objects.get(pk=normal.pk).assignee is None  # not in the filtered list


def test_run_rules_from_the_list_says_what_stayed_unassigned(manager_client, alice):
    rule(user=alice, priorities=["urgent"])
    rule("Low ones", order=1, team=team("Empty team"), priorities=["low"])
    LeadFactory(assignee=None, priority="urgent")
    LeadFactory(assignee=None, priority="low")
    LeadFactory(assignee=None, priority="normal")

    response = manager_client.post(run_rules_url(), follow=True)

    assert (
        "The assignment rules assigned 1 lead. 1 matched no rule. 1 matched a rule whose "
        "team had nobody free: its history says who was skipped and why."
    ) in html.unescape(response.content.decode())


def test_a_rep_may_not_run_rules(rep_client, alice):
    rule(user=alice)
    lead = LeadFactory(assignee=None)

    response = rep_client.post(run_rules_url())

    assert response.status_code == 403
    assert Lead.objects.get(pk=lead.pk).assignee is None


def test_run_rules_needs_a_post(manager_client):
    assert manager_client.get(run_rules_url()).status_code == 405


# --- "Assign by the rules" on a lead's page ----------------------------------------------------


def assign_by_rules(client, lead, **headers):
    url = reverse("leads:assign", args=[lead.pk])
    return client.post(url, {"by_rules": "1"}, headers=headers, follow=not headers)


def test_a_manager_assigns_one_lead_by_the_rules(manager_client, alice):
    rule("To Alice", user=alice)
    lead = LeadFactory(assignee=None)
    page = manager_client.get(lead.get_absolute_url()).content.decode()
    assert "Assign by the rules" in page

    response = assign_by_rules(manager_client, lead, HX_Request="true")

    assert response.status_code == 200
    assert "Assigned to Alice de Vries by the rules." in response.headers["HX-Trigger"]
    assert Lead.objects.get(pk=lead.pk).assignee == alice
    assert sentences(lead) == ["Assigned to Alice de Vries by rule ‘To Alice’"]


def test_assign_by_the_rules_says_when_no_rule_applies(manager_client, alice):
    rule(user=alice, priorities=["urgent"])
    lead = LeadFactory(assignee=None, priority="low")

    response = assign_by_rules(manager_client, lead)

    assert "No assignment rule applies to this lead." in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).assignee is None


def test_a_rep_may_not_assign_by_the_rules(rep_client, rep, alice):
    rule(user=alice)
    lead = LeadFactory(assignee=None, created_by=rep)  # a lead the rep may assign by hand
    assert "Assign by the rules" not in rep_client.get(lead.get_absolute_url()).content.decode()

    response = rep_client.post(reverse("leads:assign", args=[lead.pk]), {"by_rules": "1"})

    assert response.status_code == 403
    assert Lead.objects.get(pk=lead.pk).assignee is None
