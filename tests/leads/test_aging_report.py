"""The aging report: the open leads now per stage, by days in the stage (0–7, 8–14,
15–30, over 30, in local dates) and the stale ones; each figure links to its leads, and
the table downloads as CSV."""

import csv
import datetime
import io
import zoneinfo
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from leads.models import Lead, LeadSource, Membership, Team
from pipelines.models import PipelineStage
from tests.factories import (
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
)
from tests.leads.test_aging import titles

pytestmark = pytest.mark.django_db

URL = "/reports/aging/"
BUCKET_HEADINGS = ["0–7 days", "8–14 days", "15–30 days", "Over 30 days"]
AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
# Monday 30 November 2026, 10:00 in Amsterdam.
NOW = datetime.datetime(2026, 11, 30, 10, tzinfo=AMSTERDAM)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False):
        yield


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM)


def ago(days: int) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def lead(title, entered, stage="New", *, active=None, **fields):
    """An open lead in ``stage`` since ``entered`` (Amsterdam's clock), active
    ``active`` days ago (today by default: not stale)."""
    return LeadFactory(
        title=title,
        stage=default_stage(stage) if isinstance(stage, str) else stage,
        stage_entered_at=at(entered),
        last_activity_at=ago(active) if active is not None else NOW,
        **fields,
    )


@pytest.fixture
def aged(rep, other_rep):
    """Open leads in the default pipeline (stale after 14 days; every stage warns at 7
    days and alerts at 14, Contacted at 3 and 10), closed ones that do not count.

    New: 2 in 0–7, 2 in 8–14, 2 in 15–30, 1 over 30; 2 stale (exactly 14 days without
    activity, and 40). Contacted: 1 in 0–7, 2 over 30, 1 stale. Proposal: 1 in 8–14.
    Alice's (``rep``): New 2, 1, 0, 1 (both stale), Contacted's stale one, the Proposal.
    """
    Contacted = default_stage("Contacted")
    Contacted.aging_warn_days, Contacted.aging_alert_days = 3, 10
    Contacted.save()
    lead("New today", "2026-11-30 00:00", assignee=rep)
    lead("New 7 days", "2026-11-23 00:00", assignee=rep, active=14)  # stale: exactly 14
    lead("New 8 days", "2026-11-22 23:59", assignee=other_rep)
    lead("New 14 days", "2026-11-16 08:00", assignee=rep, active=13)  # not stale yet
    lead("New 15 days", "2026-11-15 20:00", source=None)
    lead("New 30 days", "2026-10-31 00:00", assignee=other_rep)
    lead("New 31 days", "2026-10-30 23:59", assignee=rep, active=40)
    lead("Contacted 1 day", "2026-11-29 23:59", "Contacted", assignee=other_rep)
    lead("Contacted old", "2026-01-05 10:00", "Contacted", assignee=rep, active=300)
    lead("Contacted older", "2025-06-01 10:00", "Contacted", source=None)
    lead("Proposal 10 days", "2026-11-20 12:00", "Proposal", assignee=rep)
    # Closed leads sit in their stage too, however long: not open, not counted.
    lead("Won long ago", "2025-01-01 10:00", "Won", active=600, assignee=rep)
    lead("Lost long ago", "2025-01-01 10:00", "Lost", active=600, assignee=rep)


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def table(context) -> dict[str, tuple]:
    """Stage → (its buckets..., open, stale)."""
    return {
        row.label: (*(cell.count for cell in row.cells), row.total, row.stale)
        for group in context["groups"]
        for row in group.rows
    }


def total(context) -> tuple:
    row = context["total"]
    return (*(cell.count for cell in row.cells), row.total, row.stale)


def query(url: str) -> dict:
    parts = urlsplit(url)
    assert parts.path == reverse("leads:list")
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def listed(client, url: str) -> list[str]:
    return sorted(titles(client.get(url)))


def row_of(context, label: str):
    return next(row for group in context["groups"] for row in group.rows if row.label == label)


# --- figures -------------------------------------------------------------------------------


@pytest.mark.usefixtures("aged")
def test_open_leads_per_stage_by_days_in_the_stage_in_local_dates(manager_client):
    context = report(manager_client).context

    assert context["buckets"] == BUCKET_HEADINGS
    assert table(context) == {
        "New": (2, 2, 2, 1, 7, 2),
        "Contacted": (1, 0, 0, 2, 3, 1),
        "Qualified": (0, 0, 0, 0, 0, 0),  # every open stage shows, in order
        "Proposal": (0, 1, 0, 0, 1, 0),
        "Negotiation": (0, 0, 0, 0, 0, 0),
    }
    assert total(context) == (3, 3, 2, 3, 11, 3)


@pytest.mark.usefixtures("aged")
def test_the_period_does_not_apply_and_the_page_says_so(manager_client):
    asked = report(manager_client, **{"from": "2020-01", "to": "2020-03"})

    assert total(asked.context) == total(report(manager_client).context)
    assert "from" not in asked.context["form"].fields
    assert "to" not in asked.context["form"].fields
    html = asked.content.decode()
    assert 'type="month"' not in html
    assert "a period does not apply here" in html
    assert "as of today, 30 Nov 2026" in html
    assert not report(manager_client, **{"from": "nonsense"}).context["filters"].problems


@pytest.mark.usefixtures("aged")
def test_a_bucket_past_its_stages_aging_warning_or_alert_is_marked(manager_client):
    response = report(manager_client)
    new = row_of(response.context, "New")  # warns at 7 days, alerts at 14
    contacted = row_of(response.context, "Contacted")  # warns at 3, alerts at 10

    assert [cell.level for cell in new.cells] == ["", "warn", "alert", "alert"]
    assert [cell.level for cell in contacted.cells] == ["", "", "", "alert"]
    html = response.content.decode()
    assert "(past the aging warning)" in html
    assert "(past the aging alert)" in html
    assert "warning 7 d · alert 14 d" in html


def test_stale_follows_each_pipelines_own_threshold(manager_client):
    partners = PipelineFactory(name="Partners", stale_after_days=30)
    intake = PipelineStageFactory(pipeline=partners, name="Intake", order=1)
    lead("Quiet 20 days", "2026-11-01 10:00", intake, active=20)
    lead("Quiet 40 days", "2026-10-01 10:00", intake, active=40)
    lead("Sales, quiet 20 days", "2026-11-01 10:00", active=20)

    context = report(manager_client).context

    assert [group.pipeline for group in context["groups"]] == ["Sales", "Partners"]
    assert table(context)["Intake"] == (0, 0, 1, 1, 2, 1)
    assert table(context)["New"] == (0, 0, 1, 0, 1, 1)
    assert total(context)[-1] == 2


def test_nothing_open_shows_an_empty_state(manager_client):
    LeadFactory(stage=default_stage("Won"))

    html = report(manager_client).content.decode()

    assert "No open leads here" in html
    assert '<svg class="bar-chart"' not in html


# --- scope ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("aged")
def test_owner_filter_counts_only_their_leads(manager_client, rep):
    context = report(manager_client, assignee=rep.pk).context

    assert table(context)["New"] == (2, 1, 0, 1, 4, 2)
    assert table(context)["Contacted"] == (0, 0, 0, 1, 1, 1)
    assert table(context)["Proposal"] == (0, 1, 0, 0, 1, 0)
    assert total(context) == (2, 2, 0, 2, 6, 3)


@pytest.mark.usefixtures("aged")
def test_unassigned_team_and_source_filters(manager_client, other_rep):
    team = Team.objects.create(name="North")
    Membership.objects.create(team=team, user=other_rep)

    assert total(report(manager_client, assignee="none").context) == (0, 0, 1, 1, 2, 0)
    assert total(report(manager_client, assignee=f"team:{team.pk}").context) == (1, 1, 1, 0, 3, 0)
    assert total(report(manager_client, source="none").context) == (0, 0, 1, 1, 2, 0)
    assert total(report(manager_client, source="website").context) == (3, 3, 1, 2, 9, 3)


@pytest.mark.usefixtures("aged")
def test_pipeline_filter_shows_that_pipelines_stages_alone(manager_client):
    partners = PipelineFactory(name="Partners")
    intake = PipelineStageFactory(pipeline=partners, name="Intake", order=1)
    lead("Partner lead", "2026-11-29 10:00", intake)

    context = report(manager_client, pipeline=partners.pk).context

    assert table(context) == {"Intake": (1, 0, 0, 0, 1, 0)}
    assert query(context["total"].total_url)["pipeline"] == str(partners.pk)


@pytest.mark.usefixtures("aged")
def test_a_rep_sees_their_own_figures_whatever_the_url(rep_client):
    mine = report(rep_client).context
    asked = report(rep_client, assignee="none").context

    assert total(mine) == (2, 2, 0, 2, 6, 3)
    assert total(asked) == total(mine)
    assert "Your own leads" in report(rep_client).content.decode()


# --- links ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("aged")
def test_each_figure_links_to_the_list_filtered_to_its_leads(manager_client, rep):
    context = report(manager_client, assignee=rep.pk).context
    new = row_of(context, "New")
    stage = default_stage("New").pk

    assert [query(cell.url) if cell.url else None for cell in new.cells] == [
        {"assignee": str(rep.pk), "stage": str(stage), "age_max": "7"},
        {"assignee": str(rep.pk), "stage": str(stage), "age_min": "8", "age_max": "14"},
        None,  # none of theirs: a zero links nowhere
        {"assignee": str(rep.pk), "stage": str(stage), "age_min": "31"},
    ]
    assert query(new.stale_url) == {"assignee": str(rep.pk), "stage": str(stage), "stale": "1"}
    assert query(new.total_url) == {"assignee": str(rep.pk), "stage": str(stage)}


@pytest.mark.usefixtures("aged")
def test_following_a_link_lists_exactly_the_leads_counted(manager_client):
    context = report(manager_client).context
    new = row_of(context, "New")
    buckets = [listed(manager_client, cell.url) for cell in new.cells]

    assert buckets == [
        ["New 7 days", "New today"],
        ["New 14 days", "New 8 days"],
        ["New 15 days", "New 30 days"],
        ["New 31 days"],
    ]
    assert listed(manager_client, new.stale_url) == ["New 31 days", "New 7 days"]
    over_30 = context["total"].cells[-1]
    assert listed(manager_client, over_30.url) == [
        "Contacted old",
        "Contacted older",
        "New 31 days",
    ]
    assert listed(manager_client, context["total"].stale_url) == [
        "Contacted old",
        "New 31 days",
        "New 7 days",
    ]


# --- CSV -----------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8").removeprefix("\ufeff"))))


@pytest.mark.usefixtures("aged")
def test_csv_download_holds_the_table(manager_client):
    response = manager_client.get(URL, {"format": "csv"})

    assert 'filename="aging-report-2026-11-30.csv"' in response["Content-Disposition"]
    assert read_csv(response) == [
        ["Pipeline", "Stage", *BUCKET_HEADINGS, "Open", "Stale"],
        ["Sales", "New", "2", "2", "2", "1", "7", "2"],
        ["Sales", "Contacted", "1", "0", "0", "2", "3", "1"],
        ["Sales", "Qualified", "0", "0", "0", "0", "0", "0"],
        ["Sales", "Proposal", "0", "1", "0", "0", "1", "0"],
        ["Sales", "Negotiation", "0", "0", "0", "0", "0", "0"],
        ["", "All open stages", "3", "3", "2", "3", "11", "3"],
    ]


@pytest.mark.usefixtures("aged")
def test_the_csv_link_keeps_the_filters_but_no_period(manager_client):
    url = report(manager_client, source="website", **{"from": "2026-01"}).context["csv_url"]

    assert parse_qs(urlsplit(url).query) == {"source": ["website"], "format": ["csv"]}


def test_csv_makes_a_stage_name_that_looks_like_a_formula_inert(manager_client):
    PipelineStage.objects.filter(pk=default_stage("New").pk).update(name="+cmd|' /C calc'!A0")
    lead("Odd", "2026-11-29 10:00", PipelineStage.objects.get(name__startswith="+cmd"))

    rows = read_csv(manager_client.get(URL, {"format": "csv"}))

    assert rows[1][:3] == ["Sales", "'+cmd|' /C calc'!A0", "1"]


# --- the page ------------------------------------------------------------------------------


@pytest.mark.usefixtures("aged")
def test_the_table_and_chart_read_to_a_screen_reader(manager_client):
    html = report(manager_client).content.decode()

    assert "<caption" in html
    assert '<th scope="colgroup" colspan="4" class="th-group">Days in the stage</th>' in html
    assert '<th scope="col" class="num">8–14<span class="visually-hidden"> days</span></th>' in html
    assert 'role="img" aria-labelledby="aging-chart-title aging-chart-desc"' in html
    assert "New: 2 0–7 days, 2 8–14 days, 2 15–30 days, 1 Over 30 days." in html
    assert "style=" not in html.split('<main id="main"')[1]


def test_htmx_gets_the_report_region(manager_client):
    response = manager_client.get(URL, headers={"HX-Request": "true", "HX-Target": "aging-report"})

    html = response.content.decode()
    assert "<html" not in html
    assert "<h1>Aging</h1>" in html


def test_the_reports_tabs_link_to_it(manager_client):
    html = report(manager_client).content.decode()

    assert 'aria-current="page">Aging</a>' in html
    assert f'href="{reverse("leads:team_report")}"' in html


# --- queries -------------------------------------------------------------------------------


def test_a_constant_number_of_queries_whatever_the_stages_and_leads(
    manager_client, django_assert_max_num_queries
):
    owners = RepFactory.create_batch(3)
    partners = PipelineFactory(name="Partners")
    stages = [PipelineStageFactory(pipeline=partners, order=n) for n in range(4)]
    for number in range(30):
        lead(
            f"Lead {number}",
            f"2026-{1 + number % 11:02}-10 10:00",
            stages[number % 4] if number % 2 else "Qualified",
            active=number * 5,
            assignee=owners[number % 3],
            source=LeadSource.objects.order_by("?").first(),
        )

    for params in ({}, {"pipeline": partners.pk}, {"assignee": owners[0].pk}):
        # Session, user, the nav's two permission reads, the filter bar's pipelines,
        # sources, owners and teams, the newest event; then the open stages, the stale
        # thresholds, the figures, and the stages with their pipelines for the rows.
        with django_assert_max_num_queries(13):
            report(manager_client, **params)
    assert Lead.objects.count() == 30


def test_postgresql_reads_the_open_leads_from_an_index_alone():
    if connection.vendor != "postgresql":
        return  # SQLite needs none
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'lead_stage_assignee_idx'"
        )
        [definition] = cursor.fetchone()

    assert (
        "(stage_id, assignee_id) INCLUDE (stage_entered_at, last_activity_at, "
        "expected_close_date, value, source_id, priority, id)" in definition  # My Work's too
    )
