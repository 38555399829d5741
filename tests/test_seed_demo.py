"""manage.py seed_demo: demo users and a realistic, deterministic data set."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F
from django.test import RequestFactory
from django.utils import timezone

from crm.models import Client, ClientEvent, Contact, ContactEvent
from leads import events
from leads.models import Lead, LeadEvent
from pipelines.models import PipelineStage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    """seed_demo is for development; pytest-django turns DEBUG off."""
    settings.DEBUG = True


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def can_sign_in(username: str, password: str) -> bool:
    """authenticate() as the sign-in form calls it: with the request, which axes needs."""
    request = RequestFactory().post("/accounts/login/")
    return authenticate(request, username=username, password=password) is not None


def counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "clients": Client.objects.count(),
        "contacts": Contact.objects.count(),
        "leads": Lead.objects.count(),
        "events": LeadEvent.objects.count(),
    }


def test_demo_users_can_sign_in_with_password_demo():
    seed()
    for username in ("admin", "manager", "alice", "bob"):
        assert can_sign_in(username, "demo"), username


def test_demo_users_have_their_roles():
    seed()
    users = {u.username: u for u in get_user_model().objects.prefetch_related("groups")}
    assert users["admin"].is_superuser
    assert users["admin"].is_staff
    assert [g.name for g in users["manager"].groups.all()] == ["Sales manager"]
    assert [g.name for g in users["alice"].groups.all()] == ["Sales rep"]
    assert [g.name for g in users["bob"].groups.all()] == ["Sales rep"]
    assert not any(users[name].is_staff for name in ("manager", "alice", "bob"))
    assert users["manager"].has_perm("leads.change_any_lead")
    assert not users["alice"].has_perm("leads.change_any_lead")


def test_seed_creates_30_clients_60_contacts_and_250_leads():
    seed()
    assert Client.objects.count() == 30
    assert Contact.objects.count() == 60
    assert Lead.objects.count() == 250
    kinds = set(Client.objects.values_list("kind", flat=True))
    assert kinds == {Client.Kind.ORGANIZATION, Client.Kind.PERSON}


def test_seeded_leads_are_spread_realistically():
    seed()
    today = timezone.localdate()
    per_stage = dict(
        Lead.objects.values_list("stage__name")
        .annotate(n=Count("id"))
        .values_list("stage__name", "n")
    )
    assert per_stage["New"] > per_stage["Negotiation"]
    assert per_stage["Won"] > 0
    assert per_stage["Lost"] > 0
    assert Lead.objects.open().filter(expected_close_date__lt=today).exists()
    assert Lead.objects.filter(expected_close_date__isnull=True).exists()
    assert Lead.objects.filter(value__isnull=True).exists()
    assert Lead.objects.filter(assignee__isnull=True).exists()
    assert Lead.objects.filter(priority="normal").count() > Lead.objects.count() / 2
    assert set(Lead.objects.values_list("assignee__username", flat=True)) == {
        "alice",
        "bob",
        "manager",
        None,
    }


def test_seeded_contacts_belong_to_the_lead_client():
    seed()
    assert Lead.objects.filter(contact__isnull=False).exists()
    assert not Lead.objects.filter(contact__isnull=False).exclude(contact__client=F("client"))


def test_seeded_leads_pass_model_validation():
    seed()
    for lead in Lead.objects.select_related("client", "contact"):
        lead.full_clean()


def test_closed_leads_have_consistent_timestamps():
    seed()
    for lead in Lead.objects.select_related("stage"):
        if lead.stage.kind == PipelineStage.Kind.OPEN:
            assert lead.closed_at is None
        else:
            assert lead.closed_at == lead.stage_entered_at
        assert lead.created_at <= lead.stage_entered_at <= timezone.now()
        assert lead.last_activity_at >= lead.stage_entered_at
        assert lead.probability == lead.stage.probability


def test_every_lead_has_a_created_event_and_one_event_per_stage_change():
    seed()
    created = dict(
        LeadEvent.objects.filter(kind=LeadEvent.Kind.CREATED)
        .values_list("lead")
        .annotate(n=Count("id"))
        .values_list("lead", "n")
    )
    moves = dict(
        LeadEvent.objects.filter(kind=LeadEvent.Kind.STAGE_CHANGED)
        .values_list("lead")
        .annotate(n=Count("id"))
        .values_list("lead", "n")
    )
    for lead in Lead.objects.select_related("stage"):
        assert created[lead.pk] == 1
        # Moves go forward one stage at a time, so a later stage means more events.
        assert moves.get(lead.pk, 0) == lead.version - 1
        last_move = lead.events.exclude(kind=LeadEvent.Kind.NOTE).order_by("-at").first()
        assert last_move.at == lead.stage_entered_at
        if lead.version > 1:
            assert last_move.data["new"] == lead.stage.name
        # Activity is the latest event: a note, or else the last move.
        assert lead.events.order_by("-at").first().at == lead.last_activity_at
    assert moves


def test_every_client_and_contact_has_a_created_event_at_its_creation_time():
    seed()
    for model in (Client, Contact):
        for record in model.objects.prefetch_related("events__actor"):
            (event,) = record.events.all()
            assert (event.kind, event.at) == ("created", record.created_at)
            assert event.actor.username in ("alice", "bob", "manager")


def test_some_open_leads_are_stale_and_some_kept_warm_by_notes():
    seed()
    open_leads = Lead.objects.open()
    stale = open_leads.stale().count()
    assert 0 < stale < open_leads.count() / 2
    assert LeadEvent.objects.filter(kind=LeadEvent.Kind.NOTE).count() > 50


def test_running_twice_changes_nothing():
    seed()
    before = counts()
    passwords = dict(get_user_model().objects.values_list("username", "password"))
    output = seed()
    assert counts() == before
    assert dict(get_user_model().objects.values_list("username", "password")) == passwords
    assert "no data added" in output


def test_running_again_puts_a_changed_password_back_to_demo():
    seed()
    alice = get_user_model().objects.get(username="alice")
    alice.set_password("secret")
    alice.save()
    seed()
    assert can_sign_in("alice", "demo")


def test_existing_data_is_left_alone():
    Client.objects.create(name="Real customer")
    seed()
    assert list(Client.objects.values_list("name", flat=True)) == ["Real customer"]
    assert not Lead.objects.exists()
    assert can_sign_in("bob", "demo")


def test_seed_is_deterministic():
    seed()
    first = list(Lead.objects.order_by("pk").values_list("title", "value", "stage__name"))
    ClientEvent.objects.all().delete()
    ContactEvent.objects.all().delete()
    LeadEvent.objects.all().delete()
    Lead.objects.all().delete()
    Contact.objects.all().delete()
    Client.objects.all().delete()
    seed()
    assert list(Lead.objects.order_by("pk").values_list("title", "value", "stage__name")) == first


def test_prints_the_users_and_their_password():
    output = seed()
    for username in ("admin", "manager", "alice", "bob"):
        assert any(
            line.split()[:2] == [username, "demo"] for line in output.splitlines() if line
        ), output


def test_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        seed()
    assert not get_user_model().objects.exists()
    assert not Lead.objects.exists()


def test_runs_with_debug_off_when_forced(settings):
    settings.DEBUG = False
    seed("--force")
    assert Lead.objects.count() == 250


def test_seeded_events_are_of_their_kinds_shape_and_chain_stage_to_stage():
    seed()
    last_stage = {}
    for event in LeadEvent.objects.order_by("lead", "at", "id"):
        assert set(event.data) <= events.KINDS[event.kind].keys, event.kind
        assert event.describe()
        if event.kind == LeadEvent.Kind.CREATED:
            last_stage[event.lead_id] = "New"
        elif event.kind == LeadEvent.Kind.STAGE_CHANGED:
            assert event.data["old"] == last_stage[event.lead_id]  # one unbroken chain
            last_stage[event.lead_id] = event.data["new"]
    for lead in Lead.objects.select_related("stage"):
        assert last_stage[lead.pk] == lead.stage.name


def test_seeded_leads_are_scored_as_the_services_score_them():
    from leads import scoring

    seed()
    criteria = scoring.active_criteria()
    leads = list(Lead.objects.with_score())
    assert all(lead.score == scoring.score(lead, criteria) for lead in leads)
    assert len({lead.score for lead in leads}) > 5  # a spread worth looking at


def test_seeds_a_team_and_two_rules_that_assign_new_leads():
    from leads.models import AssignmentRule, Lead, LeadSource, Team
    from leads.services import lead_create
    from tests.factories import default_stage

    seed()
    seed()  # a second run adds no second team or rules

    team = Team.objects.get()
    assert team.name == "Field sales"
    assert sorted(m.user.username for m in team.memberships.all()) == ["alice", "bob"]
    assert team.memberships.get(user__username="bob").absences.count() == 1
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == [
        "Deals from €25,000 → Marieke",
        "Referrals and partners → Field sales",
    ]
    manager = get_user_model().objects.get(username="manager")

    def create(**fields):
        values = {"title": "New", "stage": default_stage(), "priority": "normal"} | fields
        return lead_create(lead=Lead(**values), by=manager).assignee

    assert create(value=30_000).username == "manager"
    assert create(source=LeadSource.objects.get(slug="referral")).username in {"alice", "bob"}
    assert create(source=LeadSource.objects.get(slug="website")) is None
