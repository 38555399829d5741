"""manage.py seed_bulk: many realistic rows, fast, for benchmarks."""

from collections import defaultdict
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q
from django.utils import timezone

from crm.models import Client, Contact
from leads import scoring, tally
from leads.management.closing import LOSS_WEIGHTS
from leads.models import Lead, LeadEvent, Priority
from pipelines.models import Pipeline, PipelineStage

pytestmark = pytest.mark.django_db

TINY = ["--leads", "300", "--clients", "20", "--contacts", "40", "--users", "3"]


@pytest.fixture(autouse=True)
def debug_on(settings):
    """seed_bulk is for development; pytest-django turns DEBUG off."""
    settings.DEBUG = True


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_bulk", *args, stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple]:
    """Everything seeded that does not depend on ids or the clock, in creation order."""
    return list(
        Lead.objects.order_by("pk").values_list(
            "title",
            "description",
            "value",
            "probability",
            "priority",
            "category",
            "stage__name",
            "client__name",
            "contact__name",
            "assignee__username",
            "source__slug",
        )
    )


def test_creates_the_rows_asked_for_and_says_how_fast():
    output = seed(*TINY)

    assert Client.objects.count() == 20
    assert Contact.objects.count() == 40
    assert Lead.objects.count() == 300
    tables = ["users", "clients", "contacts", "leads", "events", "scores"]
    if tally.available():  # the running totals, folded after the load
        tables.append("totals")
    for table in tables:
        assert f"{table} " in output
    assert output.count("rows/s") == len(tables)


def test_creates_sales_reps_without_a_usable_password():
    seed(*TINY)

    users = get_user_model().objects.filter(username__startswith="bulk_user_").order_by("username")
    assert [u.username for u in users] == ["bulk_user_01", "bulk_user_02", "bulk_user_03"]
    for user in users:
        assert not user.has_usable_password()
        assert [g.name for g in user.groups.all()] == ["Sales rep"]


def test_every_lead_has_a_history_that_describes_and_chains_to_its_stage():
    seed(*TINY)

    history = defaultdict(list)
    for event in LeadEvent.objects.order_by("at", "id"):
        history[event.lead_id].append(event)
        assert event.describe()
    leads = Lead.objects.select_related("stage")
    assert len(history) == leads.count() == 300
    for lead in leads:
        created, *moves = history[lead.pk]
        assert (created.kind, created.at, created.data) == (
            LeadEvent.Kind.CREATED,
            lead.created_at,
            {"title": lead.title},
        )
        assert {move.kind for move in moves} <= {LeadEvent.Kind.STAGE_CHANGED}
        assert len(moves) < lead.version  # the version counts every write, and more
        stages = [moves[0].data["old"], *(move.data["new"] for move in moves)] if moves else []
        assert [m.data["old"] for m in moves] == stages[:-1]  # one unbroken chain
        if moves:
            assert stages[0] == "New"
            assert (stages[-1], moves[-1].at) == (lead.stage.name, lead.stage_entered_at)
            assert moves[-1].data["new_id"] == lead.stage_id
        else:
            assert lead.stage.name == "New"
    assert LeadEvent.objects.filter(kind=LeadEvent.Kind.STAGE_CHANGED, data__new="Won").exists()


def test_contacts_of_a_lead_belong_to_its_client():
    seed(*TINY)

    with_contact = Lead.objects.filter(contact__isnull=False)
    assert with_contact.exists()
    assert not with_contact.exclude(contact__client=F("client")).exists()
    assert not Lead.objects.filter(client__isnull=True, contact__isnull=False).exists()


def test_every_lead_is_in_a_stage_of_the_default_pipeline():
    seed(*TINY)

    default = Pipeline.objects.default()
    assert not Lead.objects.exclude(stage__pipeline=default).exists()


def test_data_is_spread_like_real_data():
    seed(*TINY)

    leads = Lead.objects.all()
    kinds = dict(leads.values_list("stage__kind").annotate(n=Count("pk")))
    assert kinds[PipelineStage.Kind.OPEN] > kinds[PipelineStage.Kind.WON] > 0
    assert kinds[PipelineStage.Kind.LOST] > 0
    assert 0 < leads.filter(value__isnull=True).count() < 100
    assert 0 < leads.filter(expected_close_date__isnull=True).count() < 120
    assert leads.filter(priority=Priority.NORMAL).count() > 150
    assert leads.filter(Q(title__icontains="software") | Q(title__icontains="license")).exists()
    assert leads.filter(assignee__isnull=True).exists()
    assert leads.filter(client__isnull=True).exists()
    # Closed leads carry when they closed, open ones do not.
    assert not leads.filter(stage__kind="open", closed_at__isnull=False).exists()
    assert not leads.exclude(stage__kind="open").filter(closed_at__isnull=True).exists()


def test_closed_leads_say_how_they_closed_as_the_closing_dialog_would():
    seed("--leads", "2000", "--clients", "20", "--contacts", "40", "--users", "3")

    leads = Lead.objects.select_related("stage", "lost_reason")
    for lead in leads:
        if lead.is_open:
            assert lead.closing_facts() == {}
            continue
        assert lead.actual_close_date == timezone.localdate(lead.closed_at)
        if lead.stage.kind == PipelineStage.Kind.WON:
            assert lead.won_value == lead.value
            assert (lead.lost_reason, lead.competitor, lead.lost_note) == (None, "", "")
        else:
            assert lead.won_value is None
            if lead.lost_reason is not None:
                lead.clean_closing()  # a note where the reason needs one
    lost = leads.filter(stage__kind=PipelineStage.Kind.LOST)
    reasons = dict(lost.values_list("lost_reason__slug").annotate(n=Count("pk")))
    assert set(reasons) == {*LOSS_WEIGHTS, None}  # None: lost before reasons were recorded
    assert reasons[None] < reasons["price-too-high"]
    assert lost.exclude(competitor="").exists()
    # The last move's event says it too.
    last_move = LeadEvent.objects.filter(lead=lost.exclude(lost_reason=None).first()).latest("at")
    assert last_move.data["closing"]["lost_reason"]


def test_a_few_clients_have_many_leads():
    seed(*TINY)

    sizes = sorted(
        Client.objects.annotate(n=Count("leads")).values_list("n", flat=True), reverse=True
    )
    assert sizes[0] >= 4 * sizes[len(sizes) // 2]


def test_appends_instead_of_replacing():
    seed(*TINY)
    seed(*TINY)

    assert Lead.objects.count() == 600
    assert Client.objects.count() == 40
    assert get_user_model().objects.filter(username__startswith="bulk_user_").count() == 3


def test_the_same_seed_gives_the_same_data():
    seed(*TINY, "--seed", "7")
    first = snapshot()
    Lead.objects.all().delete()
    Contact.objects.all().delete()
    Client.objects.all().delete()

    seed(*TINY, "--seed", "7")

    assert snapshot() == first


def test_another_seed_gives_other_data():
    seed(*TINY, "--seed", "7")
    first = snapshot()
    Lead.objects.all().delete()

    seed(*TINY, "--seed", "8")

    assert snapshot() != first


def test_refuses_to_run_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        seed(*TINY)

    assert not Lead.objects.exists()


def test_force_runs_even_when_debug_is_off(settings):
    settings.DEBUG = False

    seed(*TINY, "--force")

    assert Lead.objects.count() == 300


def test_contacts_need_clients():
    with pytest.raises(CommandError, match="--clients"):
        seed("--leads", "1", "--clients", "0", "--contacts", "5")


def test_leads_without_clients_are_fine():
    seed("--leads", "50", "--clients", "0", "--contacts", "0", "--users", "0")

    assert Lead.objects.filter(client__isnull=True, assignee__isnull=True).count() == 50


def test_leaves_the_leads_scored_as_the_services_would():
    seed(*TINY)

    criteria = scoring.active_criteria()
    leads = Lead.objects.with_score()
    assert not leads.filter(score__isnull=True).exists()  # a row each, every one scored
    assert {lead.pk: lead.score for lead in leads} == {
        lead.pk: scoring.score(lead, criteria) for lead in leads
    }
