"""The source report: per source, the leads created in a period, won and lost, the
conversion rate, the average won value and days to win; each figure links to its leads,
and the table downloads as CSV."""

import csv
import datetime
import io
import zoneinfo
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from leads import totals
from leads.models import Lead, LeadEvent, LeadSource, Membership, Team
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

URL = "/reports/sources/"
AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
TODAY = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)
PERIOD = {"from": "2026-09", "to": "2026-11"}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def at(text: str) -> datetime.datetime:
    """A moment on Amsterdam's clock."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM)


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def source(slug: str | None) -> LeadSource | None:
    return LeadSource.objects.get(slug=slug) if slug else None


def lead(title, created, slug, stage="New", closed=None, **fields):
    """A lead created at ``created`` (Amsterdam), from a source, in a stage; a won or
    lost one closed on ``closed``."""
    fields.setdefault("actual_close_date", day(closed) if closed else None)
    return LeadFactory(
        title=title,
        created_at=at(created),
        source=source(slug),
        stage=default_stage(stage) if isinstance(stage, str) else stage,
        **fields,
    )


@pytest.fixture
def created(rep, other_rep):
    """Leads created in September to November 2026 and one just before, by source.

    website: 6 created (one won without a close date, one won without a value, one
    reopened), 3 won, 1 lost; referral: 1 created, won in 20 days (created just after
    midnight on 1 September in Amsterdam, still 31 August in UTC); no source: 2 created,
    1 lost.
    """
    lead("W open", "2026-09-05 10:00", "website", assignee=rep)
    lead("W won", "2026-09-10 10:00", "website", "Won", "2026-10-10", value=4000, assignee=rep)
    lead("W won, no value", "2026-10-01 10:00", "website", "Won", "2026-10-11", value=None)
    lead("W lost", "2026-10-15 10:00", "website", "Lost", "2026-11-01", assignee=other_rep)
    lead("W won, no date", "2026-11-03 10:00", "website", "Won", value=500, assignee=rep)
    # Won once, reopened: the services cleared how it closed. Created, not won.
    lead("W reopened", "2026-11-04 10:00", "website", "Proposal", assignee=rep)
    lead("R won", "2026-09-01 00:30", "referral", "Won", "2026-09-21", value=10_000)
    lead("R before", "2026-08-31 23:30", "referral", "Won", "2026-09-02", value=99_999)
    lead("N open", "2026-11-30 09:00", None, assignee=other_rep)
    lead("N lost", "2026-11-02 10:00", None, "Lost", "2026-11-20", assignee=rep)


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def figures(row) -> tuple:
    return (
        row.label,
        row.created,
        row.won,
        row.lost,
        row.conversion,
        row.average_won_value,
        row.average_days,
    )


def query(url: str) -> dict:
    parts = urlsplit(url)
    assert parts.path == reverse("leads:list")
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def listed(client, url: str) -> list[str]:
    return sorted(titles(client.get(url)))


def rows_with_leads(context) -> list[tuple]:
    return [figures(row) for row in context["rows"] if row.created]


# --- figures -------------------------------------------------------------------------------


@pytest.mark.usefixtures("created")
def test_per_source_created_won_lost_conversion_value_and_days(manager_client):
    context = report(manager_client, **PERIOD).context

    assert rows_with_leads(context) == [
        # 6 created: 3 won (4,000 and 500 known: 2,250 on average; 30 and 10 days, the
        # one without a close date left out), 1 lost, 2 still open.
        ("Website", 6, 3, 1, 0.5, Decimal("2250.00"), 20.0),
        # 20 days: from 1 September, its day in Amsterdam (31 August in UTC would be 21).
        ("Referral", 1, 1, 0, 1.0, Decimal("10000.00"), 20.0),
        ("No source", 2, 0, 1, 0.0, None, None),  # last, whatever its size
    ]
    assert figures(context["total"]) == (
        "Total",
        9,
        4,
        2,
        4 / 9,
        Decimal("4833.33"),  # 14,500 over the 3 won leads of known value
        20.0,  # (30 + 10 + 20) / 3
    )
    assert context["total"].open == 3


@pytest.mark.usefixtures("created")
def test_the_page_says_what_the_conversion_divides_by(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert "Conversion is won of created" in html
    assert "44%" in html  # 4 of 9
    assert "€2,250" in html
    assert "20 days" in html


@pytest.mark.usefixtures("created")
def test_active_sources_without_leads_show_zeros_and_an_inactive_one_only_with_leads(
    manager_client,
):
    LeadSource.objects.filter(slug="event").update(active=False)
    LeadSource.objects.filter(slug="referral").update(active=False)

    rows = {row.label: row for row in report(manager_client, **PERIOD).context["rows"]}

    assert rows["Email"].created == 0
    assert rows["Email"].conversion is None  # "—", not 0%
    assert "Event" not in rows  # inactive, no leads
    assert rows["Referral"].created == 1  # inactive, but it has leads


def test_an_empty_period_shows_an_empty_state(manager_client):
    lead("Old", "2025-01-10 10:00", "website")

    response = report(manager_client, **PERIOD)

    assert response.context["total"].created == 0
    html = response.content.decode()
    assert "No lead was created in this period" in html
    assert '<svg class="bar-chart"' not in html


@pytest.mark.usefixtures("created")
def test_the_default_period_is_the_last_twelve_months(manager_client):
    total = report(manager_client).context["total"]

    assert (total.created, total.won) == (10, 5)  # with "R before", 31 August


def test_a_stray_close_date_on_an_open_lead_makes_it_neither_won_nor_counted_in_days(
    manager_client,
):
    lead("Open, dated", "2026-10-01 10:00", "website", "Proposal", "2026-10-20")

    total = report(manager_client, **PERIOD).context["total"]

    assert (total.created, total.won, total.lost, total.average_days) == (1, 0, 0, None)


# --- scope ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("created")
def test_owner_filter_counts_only_their_leads(manager_client, rep):
    context = report(manager_client, **PERIOD, assignee=rep.pk).context

    assert rows_with_leads(context) == [
        ("Website", 4, 2, 0, 0.5, Decimal("2250.00"), 30.0),
        ("No source", 1, 0, 1, 0.0, None, None),
    ]


@pytest.mark.usefixtures("created")
def test_unassigned_and_team_owners(manager_client, other_rep):
    team = Team.objects.create(name="North")
    Membership.objects.create(team=team, user=other_rep)

    nobody = report(manager_client, **PERIOD, assignee="none").context
    north = report(manager_client, **PERIOD, assignee=f"team:{team.pk}").context

    assert [row[:4] for row in rows_with_leads(nobody)] == [
        ("Referral", 1, 1, 0),  # as many as the website's: by name
        ("Website", 1, 1, 0),
    ]
    assert [row[:4] for row in rows_with_leads(north)] == [
        ("Website", 1, 0, 1),
        ("No source", 1, 0, 0),
    ]
    assert query(north["total"].created_url)["assignee"] == f"team:{team.pk}"


@pytest.mark.usefixtures("created")
@pytest.mark.parametrize(
    ("slug", "expected"),
    [("referral", [("Referral", 1, 1)]), ("none", [("No source", 2, 0)])],
)
def test_source_filter_shows_that_source_alone(manager_client, slug, expected):
    context = report(manager_client, **PERIOD, source=slug).context

    assert [row[:3] for row in map(figures, context["rows"])] == expected


def test_a_chosen_source_without_leads_shows_its_row_of_zeros(manager_client):
    lead("Web", "2026-10-01 10:00", "website")

    context = report(manager_client, **PERIOD, source="email").context

    assert [figures(row)[:2] for row in context["rows"]] == [("Email", 0)]


@pytest.mark.usefixtures("created")
def test_pipeline_filter_counts_only_that_pipelines_leads(manager_client):
    partners = PipelineFactory(name="Partners")
    signed = PipelineStageFactory(
        pipeline=partners, name="Signed", order=2, kind=PipelineStage.Kind.WON
    )
    PipelineStageFactory(pipeline=partners, name="Lead in", order=1)
    lead("P won", "2026-10-01 10:00", "partner", signed, "2026-10-06", value=300)

    context = report(manager_client, **PERIOD, pipeline=partners.pk).context

    assert rows_with_leads(context) == [("Partner", 1, 1, 0, 1.0, Decimal("300.00"), 5.0)]


@pytest.mark.usefixtures("created")
def test_a_rep_sees_their_own_figures_whatever_the_url(rep_client):
    mine = report(rep_client, **PERIOD).context
    asked = report(rep_client, **PERIOD, assignee="none").context

    assert [row[:4] for row in rows_with_leads(mine)] == [
        ("Website", 4, 2, 0),
        ("No source", 1, 0, 1),
    ]
    assert rows_with_leads(asked) == rows_with_leads(mine)
    assert "assignee" not in mine["form"].fields
    assert query(mine["total"].created_url)["assignee"] == "me"


# --- links ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("created")
def test_each_figure_links_to_the_list_filtered_to_its_leads(manager_client, rep):
    context = report(manager_client, **PERIOD, assignee=rep.pk).context
    website = context["rows"][0]

    assert query(website.created_url) == {
        "status": "all",
        "source": "website",
        "created_from": "2026-09-01",
        "created_to": "2026-11-30",
        "assignee": str(rep.pk),
    }
    assert query(website.won_url)["status"] == "won"
    assert query(context["rows"][-1].lost_url)["source"] == "none"


@pytest.mark.usefixtures("created")
def test_following_a_link_lists_exactly_the_leads_counted(manager_client):
    context = report(manager_client, **PERIOD).context
    website, referral, nobody = rows_with_leads_objects(context)

    assert listed(manager_client, website.created_url) == [
        "W lost",
        "W open",
        "W reopened",
        "W won",
        "W won, no date",
        "W won, no value",
    ]
    assert listed(manager_client, website.won_url) == ["W won", "W won, no date", "W won, no value"]
    assert listed(manager_client, referral.created_url) == ["R won"]  # not "R before"
    assert listed(manager_client, nobody.lost_url) == ["N lost"]
    assert len(titles(manager_client.get(context["total"].created_url))) == 9


def rows_with_leads_objects(context) -> list:
    return [row for row in context["rows"] if row.created]


@pytest.mark.usefixtures("created")
def test_the_page_carries_the_links_and_zeros_link_nowhere(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert (
        'href="/leads/?status=won&amp;source=referral&amp;created_from=2026-09-01'
        '&amp;created_to=2026-11-30"' in html
    )
    assert "status=lost&amp;source=referral" not in html  # nothing lost from referrals


# --- CSV -----------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.mark.usefixtures("created")
def test_csv_download_holds_the_table(manager_client):
    response = manager_client.get(URL, {**PERIOD, "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="sources-report-2026-11-30.csv"'
    rows = read_csv(response)
    assert rows[0] == [
        "Source",
        "Created",
        "Won",
        "Lost",
        "Still open",
        "Conversion (% of created)",
        "Average won value (EUR)",
        "Average days to win",
    ]
    assert rows[1:3] == [
        ["Website", "6", "3", "1", "2", "50.0", "2250.00", "20.0"],
        ["Referral", "1", "1", "0", "0", "100.0", "10000.00", "20.0"],
    ]
    assert ["No source", "2", "0", "1", "1", "0.0", "", ""] in rows
    assert rows[-1] == ["Total", "9", "4", "2", "3", "44.4", "4833.33", "20.0"]


def test_csv_makes_a_label_that_looks_like_a_formula_inert(manager_client):
    LeadSource.objects.filter(slug="website").update(label="=HYPERLINK(1)")
    lead("Web", "2026-10-01 10:00", "website")

    rows = read_csv(manager_client.get(URL, {**PERIOD, "format": "csv"}))

    assert ["'=HYPERLINK(1)", "1", "0", "0", "1", "0.0", "", ""] in rows


@pytest.mark.usefixtures("created")
def test_the_page_links_to_its_csv_with_the_same_filters(manager_client, rep):
    response = report(manager_client, **PERIOD, assignee=rep.pk)

    params = parse_qs(urlsplit(response.context["csv_url"]).query)
    assert params == {
        "from": ["2026-09"],
        "to": ["2026-11"],
        "assignee": [str(rep.pk)],
        "format": ["csv"],
    }
    assert "Download CSV" in response.content.decode()


@pytest.mark.usefixtures("created")
def test_a_reps_csv_holds_their_own_figures(rep_client):
    rows = read_csv(rep_client.get(URL, {**PERIOD, "format": "csv", "assignee": "none"}))

    assert rows[-1][:4] == ["Total", "5", "2", "1"]


# --- the page ------------------------------------------------------------------------------


@pytest.mark.usefixtures("created")
def test_the_table_and_chart_read_to_a_screen_reader(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert "<caption" in html
    assert '<th scope="col" class="num">Conversion</th>' in html
    assert '<th scope="row">Website</th>' in html
    assert '<svg class="bar-chart"' in html
    assert 'role="img" aria-labelledby="sources-chart-title sources-chart-desc"' in html
    assert "Website: 3 won, 1 lost, 2 still open." in html
    assert "<script" not in html.split('<main id="main"')[1]
    assert "style=" not in html.split('<main id="main"')[1]


def test_the_reports_tabs_link_to_it(manager_client):
    html = manager_client.get("/reports/win-loss/").content.decode()

    assert f'href="{reverse("leads:sources_report")}"' in html
    assert 'aria-current="page">Sources</a>' in report(manager_client).content.decode()


def test_sign_in_is_required(client):
    assert client.get(URL).status_code == 302


def test_htmx_gets_the_report_region(manager_client):
    response = manager_client.get(
        URL, PERIOD, headers={"HX-Request": "true", "HX-Target": "sources-report"}
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "<h1>Sources</h1>" in html
    assert response["Vary"].count("HX-Target") == 1


# --- queries and cache ---------------------------------------------------------------------


def test_a_constant_number_of_queries_whatever_the_sources_and_leads(
    manager_client, django_assert_max_num_queries
):
    owners = RepFactory.create_batch(3)
    slugs = list(LeadSource.objects.values_list("slug", flat=True))
    for number in range(30):
        lead(
            f"Lead {number}",
            f"2026-{9 + number % 3:02}-1{number % 9} 10:00",
            slugs[number % len(slugs)],
            ["New", "Won", "Lost"][number % 3],
            "2026-11-20" if number % 3 else None,
            assignee=owners[number % 3],
        )

    for params in ({}, {"from": "2024-01", "to": "2026-11"}, {"assignee": owners[0].pk}):
        # Session, user, the nav's two permission reads, the filter bar's pipelines,
        # sources, owners and teams, the newest event; then the stages, the figures and
        # the sources' names.
        with django_assert_max_num_queries(12):
            report(manager_client, **params)


def test_figures_are_cached_until_the_next_write(manager_client, monkeypatch):
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 0)
    cache.clear()
    lead("One", "2026-10-01 10:00", "website")
    assert report(manager_client).context["total"].created == 1

    lead("Two", "2026-10-02 10:00", "website")  # around the services: no event
    assert report(manager_client).context["total"].created == 1

    LeadEvent.objects.create(lead=Lead.objects.get(title="Two"), kind=LeadEvent.Kind.NOTE, data={})
    assert report(manager_client).context["total"].created == 2
    cache.clear()


def test_postgresql_reads_the_period_from_the_creation_index_alone():
    if connection.vendor != "postgresql":
        return  # SQLite keeps the plain index
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'lead_created_idx'")
        [definition] = cursor.fetchone()

    assert (
        "(created_at, id) INCLUDE (source_id, stage_id, assignee_id, won_value, "
        "actual_close_date)" in definition
    )
