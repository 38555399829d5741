"""The forecast report: open leads by expected close month for the months ahead, the
overdue and undated ones, with their value and weighted value, and the value won this
month and quarter; every figure links to its leads."""

import csv
import datetime
import io
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from leads import tally, totals
from leads.models import LeadEvent, Membership, Team
from leads.services import lead_move_stage
from pipelines.models import PipelineStage
from tests.factories import (
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

URL = "/reports/forecast/"
# A Wednesday in the middle of November: the quarter began on 1 October.
TODAY = datetime.datetime(2026, 11, 18, 12, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def due(on: str | None, value, probability, **kwargs):
    """An open lead (in Contacted unless told) expected to close ``on``."""
    return LeadFactory(
        title=kwargs.pop("title", f"due {on} {value}"),
        stage=kwargs.pop("stage", None) or default_stage("Contacted"),
        expected_close_date=day(on) if on else None,
        value=value,
        probability=probability,
        **kwargs,
    )


def won(on: str, value, **kwargs):
    return LeadFactory(
        stage=kwargs.pop("stage", None) or default_stage("Won"),
        value=value,
        actual_close_date=day(on),
        **kwargs,
    )


@pytest.fixture
def partners():
    pipeline = PipelineFactory(name="Partners")
    return {
        "pipeline": pipeline,
        "open": PipelineStageFactory(pipeline=pipeline, name="Lead in", order=1),
        "won": PipelineStageFactory(
            pipeline=pipeline, name="Signed", order=2, kind=PipelineStage.Kind.WON
        ),
    }


@pytest.fixture
def leads(manager, rep, other_rep, partners):
    """Open leads due before, in and after the six months from 18 November 2026, and
    leads won this month, this quarter and before it."""
    due("2026-11-17", 1000, 50, assignee=rep)  # yesterday: overdue
    due("2026-10-01", None, 20, assignee=rep)  # overdue, of unknown value
    due("2026-11-18", 2000, 25)  # today: this month
    due("2026-11-30", 3000, None)  # no probability: its value counts, weighs nothing
    due("2026-12-01", 500, 10, assignee=other_rep)
    due("2026-12-20", 250, 40, source=None)  # no source
    due("2026-12-05", 900, 50, stage=partners["open"])  # another pipeline
    due("2027-02-28", 10000, 80, assignee=other_rep)  # nothing due in January or March
    due("2027-04-30", 100, 100)  # the last day of the sixth month
    due("2027-05-01", 60000, 90)  # the seventh month: not shown unasked
    due(None, 7000, 30)  # no date
    due(None, None, None)  # no date, no value
    # Closed leads do not forecast, whatever their expected close date.
    won("2026-11-05", 5000, expected_close_date=day("2026-12-10"), assignee=rep)
    LeadFactory(stage=default_stage("Lost"), expected_close_date=day("2026-12-10"), value=8)
    # Lost, and reopened into Contacted (its probability follows the stage: 20 %).
    reopened = LeadFactory(
        title="reopened", stage=default_stage("Lost"), expected_close_date=day("2026-12-15"),
        value=400, actual_close_date=day("2026-11-02"),
    )  # fmt: skip
    lead_move_stage(lead_id=reopened.pk, stage=default_stage("Contacted"), by=manager)
    won("2026-11-18", 1500)  # today
    won("2026-11-10", 800, stage=partners["won"])
    won("2026-10-03", 2500)  # this quarter
    won("2026-09-30", 999)  # the quarter before
    LeadFactory(stage=default_stage("Lost"), value=123, actual_close_date=day("2026-11-06"))


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def figures(row) -> tuple:
    return (row.count, row.value, row.weighted)


def rows(context) -> list[tuple]:
    table = [context["overdue"], *context["by_month"], context["undated"], context["ahead"]]
    return [(row.label, *figures(row)) for row in table]


def count_listed(client, url: str) -> int:
    return client.get(url).context["totals"]["count"]


# --- figures -------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_open_leads_by_expected_close_month_overdue_and_undated(manager_client):
    context = report(manager_client).context

    assert rows(context) == [
        ("Overdue", 2, Decimal(1000), Decimal(500)),  # the lead of unknown value adds nothing
        ("Nov 2026", 2, Decimal(5000), Decimal(500)),  # from today; no probability weighs 0
        # 500 × 10 %, 250 × 40 %, 900 × 50 % (Partners), the reopened lead 400 × 20 %
        ("Dec 2026", 4, Decimal(2050), Decimal(680)),
        ("Jan 2027", 0, Decimal(0), Decimal(0)),
        ("Feb 2027", 1, Decimal(10000), Decimal(8000)),
        ("Mar 2027", 0, Decimal(0), Decimal(0)),
        ("Apr 2027", 1, Decimal(100), Decimal(100)),
        ("No expected close date", 2, Decimal(7000), Decimal(2100)),
        ("Next 6 months", 8, Decimal(17150), Decimal(9280)),
    ]
    assert [row.start for row in context["by_month"]][:2] == [day("2026-11-18"), day("2026-12-01")]


@pytest.mark.usefixtures("leads")
def test_won_so_far_this_month_and_this_quarter(manager_client):
    won_rows = report(manager_client).context["won"]

    assert [(w.label, w.start, w.end, w.count, w.value) for w in won_rows] == [
        ("Won this month", day("2026-11-01"), day("2026-11-18"), 3, Decimal(7300)),
        ("Won this quarter", day("2026-10-01"), day("2026-11-18"), 4, Decimal(9800)),
    ]


@pytest.mark.usefixtures("leads")
def test_more_or_fewer_months_ahead(manager_client):
    seven = report(manager_client, months="7").context
    one = report(manager_client, months="1").context

    assert [row.label for row in seven["by_month"]][-1] == "May 2027"
    assert figures(seven["by_month"][-1]) == (1, Decimal(60000), Decimal(54000))
    assert figures(seven["ahead"]) == (9, Decimal(77150), Decimal(63280))
    assert [row.label for row in one["by_month"]] == ["Nov 2026"]
    assert figures(one["ahead"]) == (2, Decimal(5000), Decimal(500))
    assert figures(one["overdue"]) == (2, Decimal(1000), Decimal(500))  # whatever the months


@pytest.mark.parametrize("months", ["0", "25", "six", "-1", "1.5", "٣"])
def test_months_out_of_range_show_six_and_say_so(manager_client, months):
    response = report(manager_client, months=months)

    assert len(response.context["by_month"]) == 6
    problem = "Months ahead must be a whole number from 1 to 24: showing 6 months."
    assert response.context["filters"].problems == [problem]
    assert problem in response.content.decode()


def test_the_pipeline_filter(manager_client, leads, partners):
    sales = report(manager_client, pipeline=default_stage().pipeline_id).context
    theirs = report(manager_client, pipeline=partners["pipeline"].pk).context

    assert figures(sales["by_month"][1]) == (3, Decimal(1150), Decimal(230))
    assert [(w.count, w.value) for w in sales["won"]] == [(2, Decimal(6500)), (3, Decimal(9000))]
    assert rows(theirs)[2] == ("Dec 2026", 1, Decimal(900), Decimal(450))
    assert figures(theirs["ahead"]) == (1, Decimal(900), Decimal(450))
    assert [(w.count, w.value) for w in theirs["won"]] == [(1, Decimal(800)), (1, Decimal(800))]


def test_owner_and_team_filters(manager_client, leads, other_rep):
    team = Team.objects.create(name="North")
    Membership.objects.create(team=team, user=other_rep)

    for owner in (other_rep.pk, f"team:{team.pk}"):
        context = report(manager_client, assignee=owner).context
        assert figures(context["ahead"]) == (2, Decimal(10500), Decimal(8050))
        assert figures(context["overdue"]) == (0, Decimal(0), Decimal(0))
        assert [w.count for w in context["won"]] == [0, 0]
    nobody = report(manager_client, assignee="none").context
    assert figures(nobody["undated"]) == (2, Decimal(7000), Decimal(2100))


@pytest.mark.usefixtures("leads")
def test_the_source_filter_and_leads_without_source(manager_client):
    none = report(manager_client, source="none").context

    assert figures(none["ahead"]) == (1, Decimal(250), Decimal(100))
    assert figures(none["by_month"][1]) == (1, Decimal(250), Decimal(100))
    assert [w.count for w in none["won"]] == [0, 0]


@pytest.mark.usefixtures("leads")
def test_a_rep_sees_their_own_figures_whatever_the_url(rep_client, other_rep):
    mine = report(rep_client).context
    asked = report(rep_client, assignee=other_rep.pk).context

    assert figures(mine["overdue"]) == (2, Decimal(1000), Decimal(500))
    assert figures(mine["ahead"]) == (0, Decimal(0), Decimal(0))
    assert [(w.count, w.value) for w in mine["won"]] == [(1, Decimal(5000)), (1, Decimal(5000))]
    assert rows(asked) == rows(mine)
    assert "assignee" not in mine["form"].fields


def test_nothing_open_and_nothing_won_shows_an_empty_state(manager_client):
    html = report(manager_client).content.decode()

    assert "No open lead here yet" in html
    assert '<svg class="report-chart-svg"' not in html


# --- the period does not apply -------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_no_period_fields_and_a_period_in_the_url_is_ignored(manager_client):
    response = report(manager_client, **{"from": "2020-01", "to": "nonsense"})
    html = response.content.decode()

    assert rows(response.context) == rows(report(manager_client).context)
    assert response.context["filters"].problems == []
    assert 'name="from"' not in html
    assert 'name="to"' not in html
    assert 'name="months"' in html
    assert "so it has no period" in html


# --- links ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_every_figure_links_to_the_list_of_exactly_its_leads(manager_client):
    context = report(manager_client).context
    table = [context["overdue"], *context["by_month"], context["undated"], context["ahead"]]

    for row in table:
        assert count_listed(manager_client, row.url) == row.count, row.label
    for won_row in context["won"]:
        assert count_listed(manager_client, won_row.url) == won_row.count, won_row.label


def test_the_links_name_the_days_and_the_scope(manager_client, leads, rep, partners):
    context = report(manager_client, assignee=rep.pk, source="website").context

    def query(url):
        parts = urlsplit(url)
        assert parts.path == reverse("leads:list")
        return {name: values[0] for name, values in parse_qs(parts.query).items()}

    scope = {"assignee": str(rep.pk), "source": "website"}
    assert query(context["overdue"].url) == {"due": "overdue", **scope}
    assert query(context["undated"].url) == {"due": "none", **scope}
    assert query(context["by_month"][0].url) == {
        "due_from": "2026-11-18",
        "due_to": "2026-11-30",
        **scope,
    }
    assert query(context["by_month"][1].url)["due_to"] == "2026-12-31"
    assert query(context["won"][1].url) == {
        "status": "won",
        "closed_from": "2026-10-01",
        "closed_to": "2026-11-18",
        **scope,
    }
    theirs = report(manager_client, pipeline=partners["pipeline"].pk).context
    url = theirs["by_month"][1].url
    assert query(url)["pipeline"] == str(partners["pipeline"].pk)
    assert count_listed(manager_client, url) == 1


@pytest.mark.usefixtures("leads")
def test_zeros_link_nowhere(manager_client):
    html = report(manager_client).content.decode()

    assert "due_from=2026-12-01&amp;due_to=2026-12-31" in html
    assert "due_from=2027-01-01" not in html  # nothing due in January


# --- download ------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_csv_download_of_the_table(manager_client):
    response = manager_client.get(URL, {"format": "csv", "months": "3"})

    assert response["Content-Disposition"] == 'attachment; filename="forecast-2026-11-18.csv"'
    assert list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")))) == [
        ["Expected close", "From", "To", "Leads", "Value (EUR)", "Weighted value (EUR)"],
        ["Overdue", "", "2026-11-17", "2", "1000.00", "500.00"],
        ["Nov 2026", "2026-11-18", "2026-11-30", "2", "5000.00", "500.00"],
        ["Dec 2026", "2026-12-01", "2026-12-31", "4", "2050.00", "680.00"],
        ["Jan 2027", "2027-01-01", "2027-01-31", "0", "0.00", "0.00"],
        ["No expected close date", "", "", "2", "7000.00", "2100.00"],
        ["Next 3 months", "2026-11-18", "2027-01-31", "6", "7050.00", "1180.00"],
    ]


def test_csv_weighted_values_to_the_cent(manager_client):
    due("2026-12-02", Decimal("10.01"), 33)  # 3.3033

    response = manager_client.get(URL, {"format": "csv"})

    assert "Dec 2026,2026-12-01,2026-12-31,1,10.01,3.30" in response.content.decode()


# --- the page ------------------------------------------------------------------------------


def test_reports_open_on_the_forecast(manager_client):
    assert manager_client.get(reverse("leads:reports"))["Location"] == URL


@pytest.mark.usefixtures("leads")
def test_the_page_has_a_table_and_a_chart(manager_client):
    html = report(manager_client).content.decode()

    assert "<caption" in html
    assert '<th scope="col" class="num">Weighted</th>' in html
    assert '<svg class="report-chart-svg"' in html
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in html
    assert "December 2026: 4 leads, value €2,050, weighted €680." in html
    assert html.count('class="chart-bar chart-value"') == 4 + 1  # months with value, legend
    assert f'<a href="{URL}" aria-current="page">Forecast</a>' in html
    assert "Download CSV" in html
    assert "style=" not in html.split('<div id="forecast">')[1]  # CSP: no inline style


def test_htmx_gets_the_report_region(manager_client):
    response = manager_client.get(URL, headers={"HX-Request": "true", "HX-Target": "forecast"})

    html = response.content.decode()
    assert "<html" not in html
    assert "<h1>Forecast</h1>" in html


def test_sign_in_is_required(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_every_signed_in_user_may_read_it(client, reader):
    client.force_login(reader)
    assert client.get(URL).status_code == 200


# --- queries and cache ---------------------------------------------------------------------


def test_a_constant_number_of_queries_whatever_the_months_and_data(
    manager_client, django_assert_max_num_queries
):
    owners = RepFactory.create_batch(3)
    for month in range(1, 13):
        due(f"2027-{month:02}-10", 100, 50, assignee=owners[month % 3])
        won(f"2026-{month:02}-11", 100, assignee=owners[month % 3])

    for params in ({}, {"months": "24"}, {"assignee": owners[0].pk}, {"source": "none"}):
        with django_assert_max_num_queries(13):
            report(manager_client, **params)


def test_figures_are_cached_until_the_next_write(manager_client, monkeypatch):
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 0)
    cache.clear()
    due("2026-12-02", 100, 50)
    assert report(manager_client).context["ahead"].count == 1

    due("2026-12-03", 100, 50)  # written around the services: no event, so the cache holds,
    # but PostgreSQL's running totals (leads.tally) count it at once
    assert report(manager_client).context["ahead"].count == (2 if tally.available() else 1)

    LeadEvent.objects.create(lead=due("2026-12-04", 100, 50), kind=LeadEvent.Kind.NOTE, data={})
    assert report(manager_client).context["ahead"].count == 3
    cache.clear()
