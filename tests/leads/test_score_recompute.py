"""A change of the scoring criteria recomputes every lead's stored score in the background,
with progress in the admin; the date-dependent criterion is refreshed daily."""

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from leads import rescoring, scoring
from leads.models import Lead, LeadScore, ScoreRecompute, ScoringCriterion, ScoringSettings
from leads.services import lead_update
from leads.tasks import queue_score_recompute
from tests.factories import LeadFactory, ManagerFactory, RepFactory, UserFactory, stored_score

pytestmark = pytest.mark.django_db

Kind = ScoringCriterion.Kind


def criterion(kind) -> ScoringCriterion:
    return ScoringCriterion.objects.get(kind=kind)


def change_url(obj) -> str:
    return reverse(f"admin:leads_{obj._meta.model_name}_change", args=[obj.pk])


def stored_scores() -> dict[int, int | None]:
    return dict(Lead.objects.values_list("pk", "stored_score__score"))


def expected_scores(today=None) -> dict[int, int | None]:
    criteria = scoring.active_criteria()
    return {lead.pk: scoring.score(lead, criteria, today) for lead in Lead.objects.all()}


@pytest.fixture
def leads(db):
    """Leads that meet some criteria and not others."""
    return [
        LeadFactory(value=Decimal(500), description="", priority="normal"),
        LeadFactory(value=Decimal(50000), description="A big one", priority="urgent"),
        LeadFactory(value=None, description="", priority="low"),
    ]


def post_criterion(admin_client, obj, **changes):
    data = {"points": obj.points, "order": obj.order, **changes}
    data = {k: v for k, v in data.items() if v is not False}
    if obj.active and "active" not in changes:
        data["active"] = "on"
    return admin_client.post(change_url(obj), data)


# --- Saving in the admin recomputes ---------------------------------------------------------


def test_changing_a_criterions_points_in_the_admin_recomputes_every_lead(
    admin_client, admin_user, leads, django_capture_on_commit_callbacks
):
    valued = criterion(Kind.VALUE_PRESENT)
    before = stored_scores()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_criterion(admin_client, valued, points=50)

    assert response.status_code == 302
    after = stored_scores()
    assert after == expected_scores()
    assert after[leads[0].pk] == before[leads[0].pk] + 40  # has a value
    assert after[leads[2].pk] == before[leads[2].pk]  # has none
    recompute = ScoreRecompute.objects.get()
    assert recompute.status == ScoreRecompute.Status.DONE
    assert (recompute.total, recompute.done, recompute.created_by) == (3, 3, admin_user)


def test_a_recompute_changes_neither_version_nor_history(
    admin_client, leads, django_capture_on_commit_callbacks
):
    versions = dict(Lead.objects.values_list("pk", "version"))
    events = leads[0].events.count()

    with django_capture_on_commit_callbacks(execute=True):
        post_criterion(admin_client, criterion(Kind.VALUE_PRESENT), points=50)

    assert dict(Lead.objects.values_list("pk", "version")) == versions
    assert leads[0].events.count() == events


def test_a_changed_parameter_is_reflected(admin_client, leads, django_capture_on_commit_callbacks):
    above = criterion(Kind.VALUE_ABOVE)

    with django_capture_on_commit_callbacks(execute=True):
        post_criterion(admin_client, above, amount="100")

    assert ScoringCriterion.objects.get(pk=above.pk).amount == Decimal(100)
    assert stored_scores() == expected_scores()
    small = Lead.objects.get(pk=leads[0].pk)  # 500, above 100 now
    assert criterion(Kind.VALUE_ABOVE).met_by(small, timezone.localdate())


def test_deactivating_criteria_in_the_list_recomputes(
    admin_client, leads, django_capture_on_commit_callbacks
):
    criteria = list(ScoringCriterion.objects.order_by("order", "id"))
    data = {
        "form-TOTAL_FORMS": len(criteria),
        "form-INITIAL_FORMS": len(criteria),
        "form-MIN_NUM_FORMS": 0,
        "form-MAX_NUM_FORMS": 1000,
        "_save": "Save",
    }
    for number, each in enumerate(criteria):
        data |= {
            f"form-{number}-id": each.pk,
            f"form-{number}-points": each.points,
            f"form-{number}-order": each.order,
        }
        if each.kind != Kind.VALUE_PRESENT:  # the one switched off
            data[f"form-{number}-active"] = "on"

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:leads_scoringcriterion_changelist"), data)

    assert response.status_code == 302
    assert not criterion(Kind.VALUE_PRESENT).active
    assert stored_scores() == expected_scores()
    assert stored_score(leads[2]) == 0  # nothing left that it meets
    # One change, one recompute that finished (the unchanged rows asked for none).
    assert list(ScoreRecompute.objects.values_list("status", flat=True)) == ["done"]


def test_reordering_criteria_recomputes_nothing(admin_client, leads):
    post_criterion(admin_client, criterion(Kind.VALUE_PRESENT), order=99)

    assert criterion(Kind.VALUE_PRESENT).order == 99
    assert not ScoreRecompute.objects.exists()


def test_deleting_a_criterion_recomputes(admin_client, leads, django_capture_on_commit_callbacks):
    described = criterion(Kind.DESCRIPTION_PRESENT)
    url = reverse("admin:leads_scoringcriterion_delete", args=[described.pk])

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"post": "yes"})

    assert not ScoringCriterion.objects.filter(pk=described.pk).exists()
    assert stored_scores() == expected_scores()
    assert ScoreRecompute.objects.get().status == ScoreRecompute.Status.DONE


def test_no_active_criteria_leave_every_lead_unscored(leads):
    ScoringCriterion.objects.update(active=False)

    result = rescoring.leads_rescore()

    assert set(stored_scores().values()) == {None}
    assert (result.rows, result.changed) == (3, 3)


def test_only_leads_whose_score_differs_are_written(leads):
    LeadScore.objects.filter(lead=leads[0]).update(score=None)

    result = rescoring.leads_rescore()

    assert (result.rows, result.changed) == (3, 1)
    assert stored_scores() == expected_scores()


# --- The admin's form --------------------------------------------------------------------


def test_sources_and_priorities_are_checkboxes_stored_as_lists(admin_client):
    sources = criterion(Kind.SOURCE_IN)
    page = admin_client.get(change_url(sources)).text
    assert 'type="checkbox" name="sources" value="website"' in page
    assert 'name="amount"' not in page  # only the parameter its kind reads

    post_criterion(admin_client, sources, sources=["website", "referral"])
    post_criterion(admin_client, criterion(Kind.PRIORITY_IN), priorities=["low"])

    assert criterion(Kind.SOURCE_IN).sources == ["website", "referral"]
    assert criterion(Kind.PRIORITY_IN).priorities == ["low"]


def test_a_criterion_without_the_parameter_its_kind_needs_is_refused(admin_client):
    sources = criterion(Kind.SOURCE_IN)

    response = post_criterion(admin_client, sources, sources=[])

    assert response.status_code == 200
    assert "This kind of criterion needs it." in response.text
    assert criterion(Kind.SOURCE_IN).sources == sources.sources
    assert not ScoreRecompute.objects.exists()


def test_a_new_criterion_shows_every_parameter_with_its_help(
    admin_client, django_capture_on_commit_callbacks
):
    criterion(Kind.CLOSE_WITHIN).delete()
    page = admin_client.get(reverse("admin:leads_scoringcriterion_add")).text
    for name in ("amount", "days", "sources", "priorities"):
        assert f'name="{name}"' in page
    assert "For “expected close within some days”." in page

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:leads_scoringcriterion_add"),
            {"kind": Kind.CLOSE_WITHIN, "points": 10, "order": 50, "active": "on", "days": 14},
        )

    assert criterion(Kind.CLOSE_WITHIN).days == 14
    assert ScoreRecompute.objects.get().status == ScoreRecompute.Status.DONE


# --- The settings --------------------------------------------------------------------------


def test_settings_are_one_row_never_added_or_deleted(admin_client):
    settings = ScoringSettings.current()

    assert admin_client.get(reverse("admin:leads_scoringsettings_add")).status_code == 403
    delete = reverse("admin:leads_scoringsettings_delete", args=[settings.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(reverse("admin:leads_scoringsettings_changelist"))
    assert changelist["Location"] == change_url(settings)


def test_a_threshold_change_shows_at_once_and_recomputes_nothing(admin_client):
    lead = LeadFactory(score=None)
    LeadScore.objects.filter(lead=lead).update(score=60)
    settings = ScoringSettings.current()
    assert settings.rating(60) == "warm"

    admin_client.post(change_url(settings), {"hot_above": 50, "cold_below": 20})

    assert ScoringSettings.current().rating(stored_score(lead)) == "hot"
    assert not ScoreRecompute.objects.exists()


# --- Superseding and progress --------------------------------------------------------------


def test_a_newer_recompute_supersedes_a_queued_one(leads):
    older = ScoreRecompute.objects.create()
    ScoreRecompute.objects.create()
    LeadScore.objects.update(score=None)

    rescoring.score_recompute_run(recompute=older)

    older.refresh_from_db()
    assert older.status == ScoreRecompute.Status.SUPERSEDED
    assert older.finished_at is not None
    assert set(stored_scores().values()) == {None}  # the newer run does the work


def test_a_newer_recompute_stops_a_running_one_at_its_next_chunk(leads, monkeypatch):
    LeadFactory.create_batch(3)
    LeadScore.objects.update(score=None)
    running = ScoreRecompute.objects.create()
    real = rescoring.leads_rescore

    def rescore_while_criteria_change(*, after_chunk, **kwargs):
        def report(rows, chunks):
            if chunks == 2:  # an admin saves a criterion during the second chunk
                queue_score_recompute(by=None)
            after_chunk(rows, chunks)

        return real(after_chunk=report, chunk=2, **kwargs)

    monkeypatch.setattr(rescoring, "leads_rescore", rescore_while_criteria_change)

    rescoring.score_recompute_run(recompute=running)

    running.refresh_from_db()
    assert running.status == ScoreRecompute.Status.SUPERSEDED
    assert (running.total, running.done, running.chunks) == (6, 2, 1)
    # The first chunk was written; the second rolled back with its progress.
    assert sum(score is not None for score in stored_scores().values()) == 2


def test_progress_is_recorded_after_each_chunk(leads, monkeypatch):
    LeadFactory.create_batch(2)
    LeadScore.objects.update(score=None)
    recompute = ScoreRecompute.objects.create()
    seen = []
    real = rescoring.leads_rescore

    def rescore_and_watch(*, after_chunk, **kwargs):
        def report(rows, chunks):
            after_chunk(rows, chunks)
            seen.append(ScoreRecompute.objects.values_list("status", "total", "done").get())

        return real(after_chunk=report, chunk=2, **kwargs)

    monkeypatch.setattr(rescoring, "leads_rescore", rescore_and_watch)

    rescoring.score_recompute_run(recompute=recompute)

    assert seen == [("running", 5, 2), ("running", 5, 4), ("running", 5, 5)]
    recompute.refresh_from_db()
    assert (recompute.status, recompute.done, recompute.chunks) == ("done", 5, 3)
    assert stored_scores() == expected_scores()


def test_a_failed_recompute_says_so(leads, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rescoring, "leads_rescore", broken)
    recompute = rescoring.score_recompute_run(recompute=ScoreRecompute.objects.create())

    assert recompute.status == ScoreRecompute.Status.FAILED
    assert recompute.failure == "disk full"


# --- The progress bar ------------------------------------------------------------------------

STATUS_URL = "/admin/leads/scoringcriterion/recompute/"


def test_the_list_shows_a_running_recompute_that_polls_its_status(admin_client):
    ScoreRecompute.objects.create(
        status=ScoreRecompute.Status.RUNNING,
        total=1_000_000,
        done=430_000,
        lease_until=timezone.now() + datetime.timedelta(minutes=2),
    )

    for url in (reverse("admin:leads_scoringcriterion_changelist"), STATUS_URL):
        page = admin_client.get(url).text
        assert "Recomputing scores: 43 % (430,000 of 1,000,000)" in page
        assert '<progress id="score-recompute-bar" max="100" value="43">' in page
        assert f'hx-get="{STATUS_URL}" hx-trigger="every 2s"' in page
    assert "htmx" in admin_client.get(reverse("admin:leads_scoringcriterion_changelist")).text
    settings_page = admin_client.get(change_url(ScoringSettings.current())).text
    assert "Recomputing scores: 43 %" in settings_page


def test_a_finished_recompute_stops_polling(admin_client):
    ScoreRecompute.objects.create(
        status=ScoreRecompute.Status.DONE, total=12, done=12, finished_at=timezone.now()
    )

    page = admin_client.get(STATUS_URL).text

    assert "Scores recomputed: 12 leads" in page
    assert "hx-trigger" not in page


def test_a_recompute_past_its_lease_shows_as_stopped(admin_client):
    ScoreRecompute.objects.create(
        status=ScoreRecompute.Status.RUNNING,
        total=10,
        done=4,
        lease_until=timezone.now() - datetime.timedelta(seconds=1),
    )

    page = admin_client.get(STATUS_URL).text

    assert "stopped reporting after 4 of 10 leads" in page
    assert "hx-trigger" not in page


def test_the_status_is_for_staff_only(client):
    assert client.get(STATUS_URL).status_code == 302  # to the admin's sign-in
    client.force_login(RepFactory())
    assert client.get(STATUS_URL).status_code == 302
    staff = UserFactory(is_staff=True)  # staff, without the permission to view criteria
    client.force_login(staff)
    assert client.get(STATUS_URL).status_code == 403


# --- The daily refresh -----------------------------------------------------------------------

DAY = datetime.datetime(2026, 6, 10, 0, 30, tzinfo=datetime.UTC)


def refresh(*args) -> str:
    out = StringIO()
    call_command("refresh_scores", *args, stdout=out)
    return out.getvalue()


def test_refresh_scores_flips_a_lead_whose_close_date_entered_the_window_today():
    ScoringCriterion.objects.filter(kind=Kind.CLOSE_WITHIN).update(days=30)
    with time_machine.travel(DAY, tick=False):
        today = timezone.localdate()
        entering = LeadFactory(expected_close_date=today + datetime.timedelta(days=31))
        leaving = LeadFactory(expected_close_date=today)
        before = {lead.pk: lead.score for lead in (entering, leaving)}

    with time_machine.travel(DAY + datetime.timedelta(days=1), tick=False):
        output = refresh()
        after = stored_scores()

    assert after[entering.pk] == before[entering.pk] + 10
    assert after[leaving.pk] == before[leaving.pk] - 10
    assert "(2 changed)" in output


@pytest.mark.parametrize("days_missed", [1, 3])
def test_refresh_scores_leaves_every_lead_as_a_full_recompute_would(days_missed):
    """Leads with close dates all around the window, scored on one day; the refresh some
    days later touches only the dates near the window, and gets every lead right."""
    ScoringCriterion.objects.filter(kind=Kind.CLOSE_WITHIN).update(days=7)
    with time_machine.travel(DAY, tick=False):
        today = timezone.localdate()
        for offset in range(-15, 20):
            LeadFactory(expected_close_date=today + datetime.timedelta(days=offset))
        LeadFactory(expected_close_date=None)

    with time_machine.travel(DAY + datetime.timedelta(days=days_missed), tick=False):
        refresh("--days-missed", str(days_missed))
        assert stored_scores() == expected_scores()


def test_refresh_scores_all_recomputes_every_lead(leads):
    LeadScore.objects.update(score=None)

    output = refresh("--all")

    assert stored_scores() == expected_scores()
    assert "Rescored 3 leads (3 changed) in 1 chunks" in output


def test_refresh_scores_does_nothing_without_a_date_dependent_criterion(leads):
    ScoringCriterion.objects.filter(kind=Kind.CLOSE_WITHIN).update(active=False)

    assert "nothing to refresh" in refresh()


# --- A recompute and the writes that run meanwhile (PostgreSQL) ------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
@pytest.mark.parametrize("criteria_change", ["before the save", "during the save"])
def test_a_recompute_waits_for_a_write_under_way_and_scores_what_it_wrote(criteria_change):
    """A criterion's points change, and a rep saves a value as the recompute starts.
    The recompute's chunk waits for the save, then scores what it committed by the new
    criteria. Without the scoring lock, the chunk scored the lead as it was before the
    save and overwrote the save's score; or the save, having read the criteria before
    they changed, kept the old criteria's score."""
    manager = ManagerFactory()
    lead = LeadFactory(value=Decimal(500), description="", priority="normal", created_by=manager)
    saved, release = threading.Event(), threading.Event()

    def change_criteria():
        ScoringCriterion.objects.filter(kind=Kind.VALUE_PRESENT).update(points=11)

    def save():
        try:
            with transaction.atomic():
                lead_update(lead_id=lead.pk, values={"value": Decimal(25000)}, by=manager)
                saved.set()
                release.wait(10)
        finally:
            connections.close_all()

    def recompute():
        try:
            return rescoring.leads_rescore()
        finally:
            connections.close_all()

    if criteria_change == "before the save":
        change_criteria()
    with ThreadPoolExecutor(2) as pool:
        saving = pool.submit(save)
        assert saved.wait(10)
        if criteria_change == "during the save":
            change_criteria()
        rescoring_run = pool.submit(recompute)
        time.sleep(0.5)  # the recompute reaches the lead (or the lock) meanwhile
        release.set()
        saving.result()
        assert rescoring_run.result().rows == 1

    assert stored_score(lead) == 11 + 20  # value present (now 11), value above €10,000
    assert stored_scores() == expected_scores()
