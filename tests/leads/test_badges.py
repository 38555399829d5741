"""The badges and bits a lead shows on every page, drawn by simple tags (lead_badges)."""

import datetime

import pytest
import time_machine
from django.template import engines
from django.utils import timezone

from leads.models import Priority
from pipelines.models import PipelineStage
from tests.factories import ClientFactory, LeadFactory, PipelineStageFactory, default_stage

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.UTC)


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


@pytest.mark.parametrize(
    ("priority", "html"),
    [
        ("urgent", '<span class="badge badge-urgent">Urgent</span>'),
        ("high", '<span class="badge badge-high">High</span>'),
        ("low", '<span class="badge badge-low">Low</span>'),
        ("normal", ""),
    ],
)
def test_priority_badge_names_every_priority_but_normal(priority, html):
    assert render("{% priority_badge p %}", p=priority) == html


def test_stage_name_of_an_open_stage_is_its_name_escaped():
    stage = PipelineStage(name="<Qualified>", kind=PipelineStage.Kind.OPEN)
    assert render("{% stage_name s %}", s=stage) == "&lt;Qualified&gt;"


def test_stage_name_of_a_won_stage_is_its_badge_and_its_name_when_that_says_more():
    assert render("{% stage_name s %}", s=PipelineStage(name="Won", kind="won")) == (
        '<span class="badge badge-won">Won</span>'
    )
    assert render("{% stage_name s %}", s=PipelineStage(name="Signed", kind="won")) == (
        'Signed <span class="badge badge-won">Won</span>'
    )


def test_client_name_is_escaped_and_a_deleted_client_says_so():
    lead = LeadFactory(client=ClientFactory(name="Acme & <Sons>"))
    assert render("{% client_name lead %}", lead=lead) == "Acme &amp; &lt;Sons&gt;"
    lead.client.soft_delete()
    assert "Deleted client" in render("{% client_name lead %}", lead=lead)
    lead.client = None
    assert render("{% client_name lead %}", lead=lead) == '<span class="muted">—</span>'


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("due", "badge"),
    [
        (datetime.date(2026, 11, 26), '<span class="badge badge-due-today">Due today</span>'),
        (datetime.date(2026, 11, 25), '<span class="badge badge-overdue">1 day overdue</span>'),
        (datetime.date(2026, 11, 20), '<span class="badge badge-overdue">6 days overdue</span>'),
        (datetime.date(2026, 11, 27), None),
    ],
)
def test_due_date_shows_the_date_and_how_late_an_open_lead_is(due, badge):
    lead = LeadFactory(expected_close_date=due)
    html = render("{% due_date lead %}", lead=lead)
    assert html.startswith(f'<time datetime="{due.isoformat()}">{due.day} Nov 2026</time>')
    if badge:
        assert html.endswith(f" {badge}")
    else:
        assert "badge" not in html


@time_machine.travel(NOW, tick=False)
def test_a_won_lead_is_never_overdue():
    lead = LeadFactory(expected_close_date=datetime.date(2026, 1, 1), stage=default_stage("Won"))
    assert "overdue" not in render("{% due_date lead %}", lead=lead)


@time_machine.travel(NOW, tick=False)
def test_aging_badge_compact_leaves_in_stage_to_screen_readers():
    lead = LeadFactory(stage=default_stage("Qualified"))
    lead.stage_entered_at = NOW - datetime.timedelta(days=15)
    full = render("{% aging_badge lead %}", lead=lead)
    compact = render("{% aging_badge lead compact=True %}", lead=lead)
    assert full == (
        '<span class="badge badge-aging badge-aging-alert" title="In Qualified since 11 Nov 2026">'
        "15d in stage"
        '<span class="visually-hidden"> (long past the stage&#x27;s limit)</span></span>'
    )
    assert '15d<span class="visually-hidden"> in stage</span>' in compact


@time_machine.travel(NOW, tick=False)
def test_a_lead_that_entered_its_stage_today_says_today_not_0d():
    lead = LeadFactory(stage=default_stage("Qualified"))
    lead.stage_entered_at = NOW - datetime.timedelta(hours=2)
    full = render("{% aging_badge lead %}", lead=lead)
    compact = render("{% aging_badge lead compact=True %}", lead=lead)
    expected = (
        '<span class="badge badge-aging" title="In Qualified since 26 Nov 2026">'
        '<span class="visually-hidden">In the stage since </span>Today</span>'
    )
    assert full == compact == expected
    lead.stage_entered_at = NOW - datetime.timedelta(days=1)
    assert "1d in stage" in render("{% aging_badge lead %}", lead=lead)


@time_machine.travel(NOW, tick=False)
def test_stale_badge_counts_days_since_the_last_activity():
    lead = LeadFactory()
    lead.last_activity_at = timezone.now() - datetime.timedelta(days=20)
    assert render("{% stale_badge lead %}", lead=lead) == (
        '<span class="badge badge-stale">Stale · 20 days since last activity</span>'
    )
    lead.last_activity_at = timezone.now()
    assert render("{% stale_badge lead %}", lead=lead) == ""


def test_priority_badges_are_labelled_with_the_model_choices(monkeypatch):
    monkeypatch.setattr(Priority.URGENT, "_label_", "Right now <!>")
    assert render("{% priority_badge p %}", p="urgent") == (
        '<span class="badge badge-urgent">Right now &lt;!&gt;</span>'
    )
    assert render("{% priority_badge p %}", p=Priority.HIGH) == (
        f'<span class="badge badge-high">{Priority.HIGH.label}</span>'
    )


def test_status_badges_and_stage_names_are_labelled_with_the_stage_kinds(monkeypatch):
    monkeypatch.setattr(PipelineStage.Kind.WON, "_label_", "Gewonnen")
    assert render("{% status_badge k %}", k="won") == (
        '<span class="badge badge-won">Gewonnen</span>'
    )
    assert render("{% status_badge k %}", k="open") == ""
    # "Won" no longer says what the label says, so the name shows beside the badge.
    assert render("{% stage_name s %}", s=PipelineStage(name="Won", kind="won")) == (
        'Won <span class="badge badge-won">Gewonnen</span>'
    )


def test_a_won_or_lost_stage_name_is_escaped_beside_its_badge():
    stage = PipelineStage(name='<script>alert("x")</script>', kind=PipelineStage.Kind.LOST)
    assert render("{% stage_name s %}", s=stage) == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
        '<span class="badge badge-lost">Lost</span>'
    )


@time_machine.travel(NOW, tick=False)
def test_the_aging_badge_escapes_the_stage_name_in_its_title():
    stage = PipelineStageFactory(name='<script>"x"</script>', kind=PipelineStage.Kind.OPEN)
    lead = LeadFactory(stage=stage)
    lead.stage_entered_at = NOW - datetime.timedelta(days=2)
    html = render("{% aging_badge lead %}", lead=lead)
    assert 'title="In &lt;script&gt;&quot;x&quot;&lt;/script&gt; since 24 Nov 2026"' in html
    assert "<script>" not in html
