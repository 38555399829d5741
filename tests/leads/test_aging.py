"""Aging (days in the current stage) and staleness (days without activity) of open leads."""

import datetime
import html
import re
from decimal import Decimal

import factory
import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import Lead
from leads.services import lead_add_note, lead_assign, lead_move_stage, lead_update
from pipelines.models import PipelineStage
from tests.factories import (
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

# Thursday 26 November 2026, noon in Amsterdam.
NOW = datetime.datetime(2026, 11, 26, 11, tzinfo=datetime.UTC)

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "lead-results"}

ROW = re.compile(r'<tr class="row-link" data-href="/leads/(?P<pk>\d+)/">(?P<body>.*?)</tr>', re.S)
TITLE = re.compile(r'<td class="cell-title"><a href="/leads/\d+/">(?P<title>[^<]*)</a>')
AGING = re.compile(
    r'<span class="badge badge-aging(?: badge-aging-(?P<level>\w+))?"[^>]*>'
    r'(?:(?P<days>\d+)d(?:<span class="visually-hidden">)? in stage'
    r'|<span class="visually-hidden">In the stage since </span>Today)'  # 0 days
)
STALE = re.compile(r'<span class="badge badge-stale">(?P<text>[^<]*)</span>')
WORK_ITEM = re.compile(
    r'<li class="work-item[^"]*">.*?class="work-title" href="[^"]+">(?P<title>[^<]+)<'
    r"(?P<body>.*?)</li>",
    re.S,
)
CHIP = re.compile(
    r'<span class="chip">(?P<label>.*?)\s*<a class="chip-remove" href="(?P<href>[^"]*)"', re.S
)


def ago(days=0, **kwargs):
    return NOW - datetime.timedelta(days=days, **kwargs)


def list_page(client, params=None, headers=None):
    return client.get(reverse("leads:list"), params or {}, headers=headers or {})


def titles(response) -> list[str]:
    return [html.unescape(m["title"]) for m in TITLE.finditer(response.content.decode())]


def rows(response) -> dict[str, str]:
    """Each list row's HTML by lead title."""
    result = {}
    for match in ROW.finditer(response.content.decode()):
        result[html.unescape(TITLE.search(match[0])["title"])] = match["body"]
    return result


def work_items(response) -> dict[str, str]:
    """Each My Work item's HTML by lead title."""
    return {
        html.unescape(m["title"]): m["body"] for m in WORK_ITEM.finditer(response.content.decode())
    }


def detail_page(client, lead) -> str:
    return client.get(reverse("leads:detail", args=[lead.pk])).content.decode()


def aging(fragment: str) -> tuple[int, str | None] | None:
    """(days, "warn" | "alert" | None) of the aging badge in a piece of HTML, or None."""
    match = AGING.search(fragment)
    return (int(match["days"] or 0), match["level"]) if match else None


def stale(fragment: str) -> str | None:
    match = STALE.search(fragment)
    return html.unescape(match["text"]) if match else None


def lead_in_stage(days, stage="New", **kwargs):
    """A lead that entered its stage `days` ago and was active then."""
    entered = ago(days)
    kwargs.setdefault("last_activity_at", entered)
    return LeadFactory(stage=default_stage(stage), stage_entered_at=entered, **kwargs)


@pytest.fixture
def signed_in(client):
    """Sign a user in during the travelled-to time (sessions expire after two weeks)."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


# --- aging --------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_age_counts_days_in_the_current_stage_not_since_creation(signed_in, rep):
    client = signed_in(rep)
    lead = LeadFactory(
        title="Moved lately",
        assignee=rep,
        created_at=ago(40),
        stage_entered_at=ago(3, hours=5),
        last_activity_at=ago(3),
    )
    assert aging(rows(list_page(client))["Moved lately"]) == (3, None)
    assert aging(detail_page(client, lead)) == (3, None)
    assert aging(work_items(client.get(reverse("leads:my_work")))["Moved lately"]) == (3, None)


@time_machine.travel(NOW, tick=False)
def test_list_shows_age_in_its_own_column_compactly(signed_in, rep):
    client = signed_in(rep)
    lead_in_stage(5, title="Five days")
    response = list_page(client)
    assert re.search(
        r'<th scope="col" aria-sort="none" class="num">\s*<a [^>]*>Age<', response.text
    )
    row = rows(response)["Five days"]
    assert (
        '<td class="num"><span class="badge badge-aging" title="In New since 21 Nov 2026">'
        '5d<span class="visually-hidden"> in stage</span></span>'
    ) in row


@time_machine.travel(NOW, tick=False)
def test_detail_and_my_work_say_nd_in_stage(signed_in, rep):
    client = signed_in(rep)
    lead = lead_in_stage(4, title="Four days", assignee=rep)
    assert ">4d in stage</span>" in detail_page(client, lead)
    assert ">4d in stage</span>" in work_items(client.get(reverse("leads:my_work")))["Four days"]


@pytest.mark.parametrize(
    ("days", "level"),
    [(0, None), (6, None), (7, "warn"), (13, "warn"), (14, "alert"), (45, "alert")],
)
@time_machine.travel(NOW, tick=False)
def test_aging_warns_from_7_days_and_alerts_from_14(signed_in, rep, days, level):
    client = signed_in(rep)
    lead = lead_in_stage(days, title="Aging", assignee=rep)
    assert aging(rows(list_page(client))["Aging"]) == (days, level)
    assert aging(detail_page(client, lead)) == (days, level)
    assert aging(work_items(client.get(reverse("leads:my_work")))["Aging"]) == (days, level)
    assert lead.aging() == level


@time_machine.travel(NOW, tick=False)
def test_aging_badges_have_distinct_warning_and_alert_classes(signed_in, rep):
    client = signed_in(rep)
    lead_in_stage(8, title="Warned")
    lead_in_stage(20, title="Alerted")
    lead_in_stage(1, title="Fresh")
    found = rows(list_page(client))
    assert 'class="badge badge-aging badge-aging-warn"' in found["Warned"]
    assert 'class="badge badge-aging badge-aging-alert"' in found["Alerted"]
    assert "badge-aging-" not in found["Fresh"]


@time_machine.travel(NOW, tick=False)
def test_each_stage_may_set_its_own_thresholds(signed_in, rep):
    client = signed_in(rep)
    PipelineStage.objects.filter(pk=default_stage("Qualified").pk).update(
        aging_warn_days=2, aging_alert_days=3
    )
    lead_in_stage(1, stage="Qualified", title="Qualified 1d")
    lead_in_stage(2, stage="Qualified", title="Qualified 2d")
    lead_in_stage(3, stage="Qualified", title="Qualified 3d")
    lead_in_stage(3, stage="New", title="New 3d")
    found = rows(list_page(client))
    assert aging(found["Qualified 1d"]) == (1, None)
    assert aging(found["Qualified 2d"]) == (2, "warn")
    assert aging(found["Qualified 3d"]) == (3, "alert")
    assert aging(found["New 3d"]) == (3, None)  # other stages keep 7 and 14


@time_machine.travel(NOW, tick=False)
def test_a_longer_threshold_holds_the_warning_back(signed_in, rep):
    client = signed_in(rep)
    PipelineStage.objects.filter(pk=default_stage("Negotiation").pk).update(
        aging_warn_days=20, aging_alert_days=30
    )
    lead = lead_in_stage(19, stage="Negotiation")
    assert aging(detail_page(client, lead)) == (19, None)


def test_age_resets_on_a_stage_change_and_the_timeline_keeps_the_old_duration(client, rep):
    with time_machine.travel(NOW, tick=False) as traveller:
        lead = LeadFactory(created_by=rep, title="Mover")
        traveller.shift(datetime.timedelta(days=10))
        client.force_login(rep)
        assert aging(detail_page(client, lead)) == (10, "warn")
        response = client.post(
            reverse("leads:move_stage", args=[lead.pk]),
            {"stage": default_stage("Contacted").pk},
            headers={"HX-Request": "true", "HX-Target": "lead-stage"},
        )
        assert aging(response.content.decode()) == (0, None)
        page = detail_page(client, lead)
        assert aging(page) == (0, None)
        assert "Stage: New → Contacted, after 10 days in New" in page
        traveller.shift(datetime.timedelta(days=2))
        assert aging(detail_page(client, lead)) == (2, None)


@pytest.mark.parametrize("stage", ["Won", "Lost"])
@time_machine.travel(NOW, tick=False)
def test_won_and_lost_leads_show_no_aging_badge(signed_in, rep, stage):
    client = signed_in(rep)
    lead = lead_in_stage(30, stage=stage, title="Closed", assignee=rep)
    assert lead.aging() is None
    assert "badge-aging" not in rows(list_page(client, {"status": "all"}))["Closed"]
    assert "badge-aging" not in detail_page(client, lead)
    completed = work_items(client.get(reverse("leads:my_work"), {"completed": "1"}))
    assert "badge-aging" not in completed["Closed"]


@time_machine.travel(NOW, tick=False)
def test_sort_by_age_puts_the_youngest_first_and_minus_age_the_oldest(signed_in, rep):
    client = signed_in(rep)
    lead_in_stage(9, title="Middle")
    lead_in_stage(1, title="Young")
    lead_in_stage(30, title="Old")
    assert titles(list_page(client, {"sort": "age"})) == ["Young", "Middle", "Old"]
    assert titles(list_page(client, {"sort": "-age"})) == ["Old", "Middle", "Young"]


@time_machine.travel(NOW, tick=False)
def test_age_column_heading_sorts_oldest_first_then_youngest(signed_in, rep):
    client = signed_in(rep)
    lead_in_stage(1)
    first = list_page(client).content.decode()
    assert re.search(r'href="\?sort=-age"[^>]*>Age<', first)
    again = list_page(client, {"sort": "-age"}).content.decode()
    assert re.search(r'href="\?sort=age"[^>]*>Age<', again)


def test_the_database_refuses_an_alert_before_the_warning():
    with pytest.raises(IntegrityError), transaction.atomic():
        PipelineStageFactory(aging_warn_days=10, aging_alert_days=5)


def test_the_database_refuses_moving_the_alert_before_the_warning_of_a_stage():
    stage = default_stage("Proposal")
    with pytest.raises(IntegrityError), transaction.atomic():
        PipelineStage.objects.filter(pk=stage.pk).update(aging_alert_days=3)
    stage.refresh_from_db()
    assert (stage.aging_warn_days, stage.aging_alert_days) == (7, 14)


def test_alert_and_warning_on_the_same_day_are_allowed():
    stage = PipelineStageFactory(aging_warn_days=5, aging_alert_days=5)
    stage.full_clean()


# --- stale --------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "is_stale"), [(0, False), (13, False), (14, True), (40, True)])
@time_machine.travel(NOW, tick=False)
def test_an_open_lead_is_stale_after_14_days_without_activity(signed_in, rep, days, is_stale):
    client = signed_in(rep)
    lead = LeadFactory(title="Quiet", assignee=rep, stage_entered_at=ago(50))
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=ago(days))
    lead.refresh_from_db()
    badge = f"Stale · {days} days since last activity" if is_stale else None
    assert stale(rows(list_page(client))["Quiet"]) == badge
    assert stale(detail_page(client, lead)) == badge
    assert stale(work_items(client.get(reverse("leads:my_work")))["Quiet"]) == badge
    assert (titles(list_page(client, {"stale": "1"})) == ["Quiet"]) == is_stale
    assert lead.stale_days() == (days if is_stale else None)


@time_machine.travel(NOW, tick=False)
def test_stale_counts_from_the_last_activity_not_from_the_stage_entry(signed_in, rep):
    client = signed_in(rep)
    lead_in_stage(30, title="Busy", last_activity_at=ago(2))
    lead_in_stage(30, title="Idle", last_activity_at=ago(20))
    assert titles(list_page(client, {"stale": "1"})) == ["Idle"]
    found = rows(list_page(client))
    assert stale(found["Busy"]) is None
    assert aging(found["Busy"]) == (30, "alert")


def note(lead, user):
    lead_add_note(lead_id=lead.pk, text="Checked in.", by=user)


def field_edit(lead, user):
    lead_update(
        lead_id=lead.pk, values={"value": Decimal(999)}, expected_version=lead.version, by=user
    )


def stage_change(lead, user):
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Contacted"), by=user)


def assignment(lead, user):
    lead_assign(lead_id=lead.pk, assignee=RepFactory(username="bob"), by=user)


@pytest.mark.parametrize("activity", [note, field_edit, stage_change, assignment])
def test_any_note_edit_stage_change_or_assignment_ends_staleness(client, rep, activity):
    with time_machine.travel(NOW, tick=False) as traveller:
        lead = LeadFactory(title="Revived", created_by=rep, assignee=rep)
        traveller.shift(datetime.timedelta(days=20))
        client.force_login(rep)
        assert titles(list_page(client, {"stale": "1"})) == ["Revived"]
        activity(lead, rep)
        lead.refresh_from_db()
        assert lead.last_activity_at == NOW + datetime.timedelta(days=20)
        assert lead.stale_days() is None
        assert titles(list_page(client, {"stale": "1"})) == []
        assert stale(detail_page(client, lead)) is None
        # The clock starts again from that activity.
        traveller.shift(datetime.timedelta(days=14))
        client.force_login(rep)
        assert titles(list_page(client, {"stale": "1"})) == ["Revived"]
        assert stale(detail_page(client, lead)) == "Stale · 14 days since last activity"


def test_adding_a_note_through_the_page_ends_staleness(client, rep):
    with time_machine.travel(NOW, tick=False) as traveller:
        lead = LeadFactory(created_by=rep)
        traveller.shift(datetime.timedelta(days=15))
        client.force_login(rep)
        assert stale(detail_page(client, lead)) == "Stale · 15 days since last activity"
        response = client.post(
            reverse("leads:add_note", args=[lead.pk]),
            {"text": "Called."},
            headers={"HX-Request": "true", "HX-Target": "lead-timeline"},
        )
        assert response.status_code == 200
        assert stale(detail_page(client, lead)) is None


@time_machine.travel(NOW, tick=False)
def test_stale_filter_lists_only_stale_leads_and_shows_a_stale_chip(signed_in, rep):
    client = signed_in(rep)
    lead_in_stage(20, title="Stale one")
    lead_in_stage(16, stage="Proposal", title="Stale two")
    lead_in_stage(3, title="Fresh")
    response = list_page(client, {"stale": "1", "sort": "title"})
    assert titles(response) == ["Stale one", "Stale two"]
    chips = [(html.unescape(c["label"]).strip(), c["href"]) for c in CHIP.finditer(response.text)]
    assert chips == [("Stale", "?sort=title")]
    assert 'name="stale" value="1"' in response.text
    assert re.search(r'<input type="checkbox" name="stale" value="1"[^>]*checked', response.text)


@time_machine.travel(NOW, tick=False)
def test_without_the_stale_filter_every_open_lead_is_listed(signed_in, rep):
    client = signed_in(rep)
    lead_in_stage(20, title="Stale one")
    lead_in_stage(3, title="Fresh")
    response = list_page(client, {"sort": "title"})
    assert titles(response) == ["Fresh", "Stale one"]
    assert "Stale" not in [c["label"].strip() for c in CHIP.finditer(response.text)]


@pytest.mark.parametrize("stage", ["Won", "Lost"])
@time_machine.travel(NOW, tick=False)
def test_closed_leads_are_never_stale(signed_in, rep, stage):
    client = signed_in(rep)
    lead = lead_in_stage(60, stage=stage, title="Closed", assignee=rep)
    assert lead.stale_days() is None
    assert titles(list_page(client, {"stale": "1", "status": "all"})) == []
    assert titles(list_page(client, {"stale": "1", "status": stage.lower()})) == []
    assert stale(rows(list_page(client, {"status": "all"}))["Closed"]) is None
    assert stale(detail_page(client, lead)) is None
    completed = work_items(client.get(reverse("leads:my_work"), {"completed": "1"}))
    assert stale(completed["Closed"]) is None


@pytest.fixture
def quick_pipeline(db):
    """A pipeline whose leads go stale after 3 days, with one open stage."""
    pipeline = PipelineFactory(name="Renewals", stale_after_days=3)
    return PipelineStageFactory(pipeline=pipeline, name="Due", order=0)


@time_machine.travel(NOW, tick=False)
def test_a_pipeline_with_a_shorter_threshold_makes_its_leads_stale_sooner(
    signed_in, rep, quick_pipeline
):
    client = signed_in(rep)
    quick = LeadFactory(title="Renewal", stage=quick_pipeline, last_activity_at=ago(3))
    LeadFactory(title="Sale", last_activity_at=ago(3))
    LeadFactory(title="Renewal 2d", stage=quick_pipeline, last_activity_at=ago(2))
    assert titles(list_page(client, {"stale": "1"})) == ["Renewal"]
    found = rows(list_page(client))
    assert stale(found["Renewal"]) == "Stale · 3 days since last activity"
    assert stale(found["Sale"]) is None
    assert stale(found["Renewal 2d"]) is None
    assert stale(detail_page(client, quick)) == "Stale · 3 days since last activity"


@time_machine.travel(NOW, tick=False)
def test_each_pipeline_keeps_its_own_threshold_in_the_filter(signed_in, rep, quick_pipeline):
    client = signed_in(rep)
    LeadFactory(title="Renewal", stage=quick_pipeline, last_activity_at=ago(10))
    LeadFactory(title="Sale 10d", last_activity_at=ago(10))
    LeadFactory(title="Sale 14d", last_activity_at=ago(14))
    assert titles(list_page(client, {"stale": "1", "sort": "title"})) == ["Renewal", "Sale 14d"]


@time_machine.travel(NOW, tick=False)
def test_a_one_day_threshold_says_1_day(signed_in, rep):
    client = signed_in(rep)
    pipeline = PipelineFactory(stale_after_days=1)
    lead = LeadFactory(
        stage=PipelineStageFactory(pipeline=pipeline, order=0), last_activity_at=ago(1)
    )
    assert stale(detail_page(client, lead)) == "Stale · 1 day since last activity"


def count_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as context:
        response = list_page(client, params, HTMX_RESULTS)
    assert response.status_code == 200
    return len(context.captured_queries)


def make_stale_leads(count, stages):
    LeadFactory.create_batch(
        count,
        stage=factory.Iterator(stages),
        last_activity_at=ago(30),
        stage_entered_at=ago(30),
    )


@time_machine.travel(NOW, tick=False)
def test_stale_filter_runs_a_constant_small_number_of_queries(
    signed_in, rep, quick_pipeline, django_assert_max_num_queries
):
    client = signed_in(rep)
    PipelineStageFactory(pipeline=PipelineFactory(stale_after_days=5), order=0)
    stages = list(PipelineStage.objects.filter(kind=PipelineStage.Kind.OPEN))
    params = {"stale": "1", "per_page": "100"}

    make_stale_leads(10, stages)
    few = count_queries(client, params)
    make_stale_leads(50, stages)
    with django_assert_max_num_queries(14):  # as any results region (test_list)
        response = list_page(client, params, HTMX_RESULTS)
    assert len(titles(response)) == 60
    assert "<html" not in response.content.decode()
    assert count_queries(client, params) == few
