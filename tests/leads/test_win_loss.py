"""The win/loss report: won and lost leads per month, win rates, loss reasons and
competitors, each figure linking to its leads in the list."""

import datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from crm.web.templatetags.formatting import share
from leads import totals
from leads.models import LeadEvent
from pipelines.models import PipelineStage
from tests.factories import (
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
    loss_reason,
)

pytestmark = pytest.mark.django_db

URL = "/reports/win-loss/"
TODAY = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)
PERIOD = {"from": "2026-09", "to": "2026-11"}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def won(on: str, value, **kwargs):
    return LeadFactory(
        stage=kwargs.pop("stage", None) or default_stage("Won"),
        value=value,
        actual_close_date=day(on),
        **kwargs,
    )


def lost(on: str, value, reason: str | None, competitor: str = "", **kwargs):
    return LeadFactory(
        stage=default_stage("Lost"),
        value=value,
        actual_close_date=day(on),
        lost_reason=loss_reason(reason) if reason else None,
        competitor=competitor,
        **kwargs,
    )


@pytest.fixture
def closed(rep, other_rep):
    """Leads closed in September to November 2026, and one on either side."""
    other = PipelineFactory(name="Partners")
    PipelineStageFactory(pipeline=other, name="Lead in", order=1)
    other_won = PipelineStageFactory(
        pipeline=other, name="Signed", order=2, kind=PipelineStage.Kind.WON, probability=100
    )
    won("2026-08-31", 9999, assignee=rep)  # a day before the period
    won("2026-09-01", 1000, assignee=rep)  # its first day
    won("2026-09-17", 3000, assignee=other_rep)
    lost("2026-09-20", 500, "price-too-high", "Acme", assignee=rep)
    lost("2026-10-02", 2000, "no-budget", assignee=other_rep)
    lost("2026-10-09", None, None, assignee=rep)  # lost before reasons were recorded
    lost("2026-10-15", 1500, "price-too-high", "Acme")
    lost("2026-10-28", 700, "chose-competitor", "Globex", assignee=rep)
    won("2026-11-30", 4000, stage=other_won, assignee=rep)  # its last day
    LeadFactory(value=50_000)  # open: not closed, not counted
    return {"partners": other}


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def figures(tally) -> tuple:
    return (tally.won, tally.won_value, tally.lost, tally.lost_value)


def query(url: str) -> dict:
    parts = urlsplit(url)
    assert parts.path == reverse("leads:list")
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


# --- figures -------------------------------------------------------------------------------


@pytest.mark.usefixtures("closed")
def test_counts_and_values_per_month_with_both_ends_of_the_period_included(manager_client):
    context = report(manager_client, **PERIOD).context

    months = context["months"]
    assert [month.start for month in months] == [
        day("2026-09-01"),
        day("2026-10-01"),
        day("2026-11-01"),
    ]
    assert [figures(month) for month in months] == [
        (2, Decimal(4000), 1, Decimal(500)),
        (0, Decimal(0), 4, Decimal(4200)),  # the lead of unknown value is counted, not summed
        (1, Decimal(4000), 0, Decimal(0)),
    ]
    assert figures(context["total"]) == (3, Decimal(8000), 5, Decimal(4700))


@pytest.mark.usefixtures("closed")
def test_win_rate_is_won_of_won_and_lost_by_count_and_by_value(manager_client):
    context = report(manager_client, **PERIOD).context

    assert [month.win_rate for month in context["months"]] == [2 / 3, 0, 1]
    assert context["total"].win_rate == 3 / 8
    assert context["total"].value_win_rate == pytest.approx(8000 / 12700)
    html = report(manager_client, **PERIOD).content.decode()
    assert "38%" in html
    assert "63%" in html


@pytest.mark.usefixtures("closed")
def test_months_without_closed_leads_show_zeros(manager_client):
    context = report(manager_client, **{"from": "2026-06", "to": "2026-11"}).context

    assert len(context["months"]) == 6
    assert [figures(month) for month in context["months"][:2]] == [(0, 0, 0, 0)] * 2
    assert context["months"][0].win_rate is None  # "—", not 0%


@pytest.mark.usefixtures("closed")
def test_loss_reasons_ranked_with_their_share_and_not_recorded_last(manager_client):
    reasons = report(manager_client, **PERIOD).context["reasons"]

    assert [(r.name, r.count, r.value, r.share) for r in reasons] == [
        ("Price too high", 2, Decimal(2000), 0.4),
        ("No budget", 1, Decimal(2000), 0.2),  # a tie in count: the larger value first
        ("Chose competitor", 1, Decimal(700), 0.2),
        ("Not recorded", 1, None, 0.2),
    ]


@pytest.mark.usefixtures("closed")
def test_top_competitors_by_count_with_value(manager_client):
    competitors = report(manager_client, **PERIOD).context["competitors"]

    assert [(c.name, c.count, c.value) for c in competitors] == [
        ("Acme", 2, Decimal(2000)),
        ("Globex", 1, Decimal(700)),
    ]


def test_only_the_ten_most_named_competitors_are_shown(manager_client):
    for number in range(12):
        for _ in range(number + 1):
            lost("2026-11-02", 100, "chose-competitor", f"Rival {number:02}")

    competitors = report(manager_client).context["competitors"]

    assert [c.name for c in competitors] == [f"Rival {n:02}" for n in range(11, 1, -1)]


def test_pipeline_filter_counts_only_that_pipelines_leads(manager_client, closed):
    partners = closed["partners"]
    context = report(manager_client, **PERIOD, pipeline=partners.pk).context

    assert figures(context["total"]) == (1, Decimal(4000), 0, Decimal(0))
    assert context["reasons"] == context["competitors"] == []


@pytest.mark.usefixtures("closed")
def test_owner_filter_counts_only_their_leads(manager_client, other_rep):
    context = report(manager_client, **PERIOD, assignee=other_rep.pk).context

    assert [figures(month) for month in context["months"]] == [
        (1, Decimal(3000), 0, Decimal(0)),
        (0, Decimal(0), 1, Decimal(2000)),
        (0, Decimal(0), 0, Decimal(0)),
    ]


@pytest.mark.usefixtures("closed")
def test_a_rep_sees_their_own_figures_whatever_the_url(rep_client):
    mine = report(rep_client, **PERIOD).context
    asked = report(rep_client, **PERIOD, assignee="none").context

    assert figures(mine["total"]) == (2, Decimal(5000), 3, Decimal(1200))
    assert figures(asked["total"]) == figures(mine["total"])
    assert "assignee" not in mine["form"].fields  # no owner to choose
    assert "Your own leads" in mine_html(rep_client)


def mine_html(client) -> str:
    return client.get(URL, PERIOD).content.decode()


@pytest.mark.usefixtures("closed")
def test_owner_unassigned(manager_client):
    nobody = report(manager_client, **PERIOD, assignee="none").context["total"]

    assert figures(nobody) == (0, Decimal(0), 1, Decimal(1500))


@pytest.mark.usefixtures("closed")
def test_default_period_is_the_last_twelve_months_ending_this_month(manager_client):
    context = report(manager_client).context

    assert context["months"][0].start == day("2025-12-01")
    assert context["months"][-1].end == day("2026-11-30")
    assert figures(context["total"]) == (4, Decimal(17999), 5, Decimal(4700))
    assert not context["filters"].problems


def test_a_lead_reopened_is_not_counted(manager_client):
    """Reopening clears the close date; a stray one on an open lead does not count."""
    LeadFactory(stage=default_stage("Proposal"), actual_close_date=day("2026-11-02"))

    assert report(manager_client).context["total"].closed == 0


# --- links ---------------------------------------------------------------------------------


def test_each_figure_links_to_the_list_filtered_to_its_leads(manager_client, closed, rep):
    partners = closed["partners"]
    context = report(manager_client, **PERIOD, assignee=rep.pk).context
    september = context["months"][0]

    assert query(september.won_url) == {
        "status": "won",
        "closed_from": "2026-09-01",
        "closed_to": "2026-09-30",
        "assignee": str(rep.pk),
    }
    assert query(context["total"].lost_url)["closed_to"] == "2026-11-30"
    reasons = {r.name: query(r.url) for r in context["reasons"]}
    assert reasons["Price too high"]["lost_reason"] == str(loss_reason("price-too-high").pk)
    assert reasons["Not recorded"]["lost_reason"] == "none"
    assert reasons["Not recorded"]["status"] == "lost"
    assert {query(c.url)["competitor"] for c in context["competitors"]} == {"Acme", "Globex"}

    in_partners = report(manager_client, **PERIOD, pipeline=partners.pk).context["total"]
    assert query(in_partners.won_url)["pipeline"] == str(partners.pk)


@pytest.mark.usefixtures("closed")
def test_the_page_carries_the_links_and_zeros_link_nowhere(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert 'href="/leads/?status=won&amp;closed_from=2026-09-01&amp;closed_to=2026-09-30"' in html
    assert "closed_from=2026-10-01&amp;closed_to=2026-10-31" in html
    assert "status=won&amp;closed_from=2026-10-01" not in html  # nothing won in October
    assert "competitor=Acme" in html


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"from": "2026-13"}, "not understood"),
        ({"from": "September", "to": "2026-11"}, "not understood"),
        ({"to": "2026-1"}, "not understood"),
        ({"from": "0000-01", "to": "2026-01"}, "not understood"),
        ({"from": "2026-11", "to": "2026-09"}, "ends before it starts"),
        ({"from": "2020-01", "to": "2026-11"}, "at most 36 months"),
        ({"from": "٢٠٢٦-٠٩"}, "not understood"),
    ],
)
def test_a_bad_period_shows_the_default_and_says_so(manager_client, params, problem):
    response = report(manager_client, **params)
    context = response.context

    assert context["months"][0].start == day("2025-12-01")
    assert len(context["months"]) == 12
    assert any(problem in text for text in context["filters"].problems)
    assert problem in response.content.decode()


@pytest.mark.parametrize("params", [{"pipeline": "999999"}, {"pipeline": "x"}, {"assignee": "-1"}])
def test_an_unknown_pipeline_or_owner_shows_all_and_says_so(manager_client, params):
    context = report(manager_client, **params).context

    assert context["filters"].problems
    assert (context["filters"].pipeline, context["filters"].assignee) == ("", "")


def test_only_to_given_shows_the_twelve_months_ending_then(manager_client):
    months = report(manager_client, to="2026-06").context["months"]

    assert (months[0].start, months[-1].start) == (day("2025-07-01"), day("2026-06-01"))


def test_the_form_shows_the_period_that_applies(manager_client):
    html = report(manager_client, **{"from": "nonsense"}).content.decode()

    assert 'type="month" name="from" value="2025-12"' in html
    assert 'name="to" value="2026-11"' in html


def test_shares_read_as_whole_percentages():
    assert [share(v) for v in (None, 0, 0.001, 0.125, 0.375, 2 / 3, 1)] == [
        "—",
        "0%",
        "<1%",
        "13%",  # half up
        "38%",
        "67%",
        "100%",
    ]


# --- the page ------------------------------------------------------------------------------


def test_sign_in_is_required(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_every_signed_in_user_may_read_it(client, reader):
    client.force_login(reader)
    assert client.get(URL).status_code == 200


@pytest.mark.usefixtures("closed")
def test_renders_the_chart_as_svg_with_a_text_alternative(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert '<svg class="winloss-chart"' in html
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in html
    assert "September 2026: 2 won, 1 lost." in html
    assert html.count('class="chart-bar chart-won"') == 2 + 1  # two months, and the legend
    assert html.count('class="chart-bar chart-lost"') == 2 + 1
    assert "<caption" in html
    assert 'scope="row"' in html


def test_nothing_closed_shows_an_empty_state(manager_client):
    LeadFactory()  # open

    html = report(manager_client).content.decode()

    assert "No lead was won or lost in this period" in html
    assert '<svg class="winloss-chart"' not in html


def test_htmx_gets_the_report_region(manager_client):
    response = manager_client.get(
        URL, PERIOD, headers={"HX-Request": "true", "HX-Target": "win-loss"}
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "Win/loss" in html


def test_the_top_navigation_links_to_the_reports(manager_client):
    html = manager_client.get(reverse("leads:my_work")).content.decode()

    assert f'href="{reverse("leads:reports")}"' in html
    forecast = manager_client.get(manager_client.get(reverse("leads:reports"))["Location"])
    assert f'<a href="{URL}">Win/loss</a>' in forecast.content.decode()  # a tab of every report


# --- queries and cache ---------------------------------------------------------------------


def test_a_constant_number_of_queries_whatever_the_period_and_data(
    manager_client, django_assert_max_num_queries
):
    owners = RepFactory.create_batch(3)
    for month in range(1, 12):
        won(f"2026-{month:02}-10", 100, assignee=owners[month % 3])
        lost(f"2026-{month:02}-11", 100, "no-budget", f"Rival {month}")

    for params in ({}, {"from": "2024-01", "to": "2026-11"}, {"assignee": owners[0].pk}):
        # Two of them read the user's permissions, for the nav's Teams link; two the
        # filter bar's sources and teams.
        with django_assert_max_num_queries(13):
            report(manager_client, **params)


def test_figures_are_cached_until_the_next_write(manager_client, monkeypatch):
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 0)
    cache.clear()
    won("2026-11-02", 100)
    assert report(manager_client).context["total"].won == 1

    won("2026-11-03", 100)  # written around the services: no event, so the cache holds
    assert report(manager_client).context["total"].won == 1

    LeadEvent.objects.create(lead=won("2026-11-04", 100), kind=LeadEvent.Kind.NOTE, data={})
    assert report(manager_client).context["total"].won == 3
    cache.clear()


# --- the reports' shared filters: source and team -------------------------------------------


@pytest.mark.usefixtures("closed")
def test_the_source_filter(manager_client):
    from leads.models import Lead, LeadSource

    referral = LeadSource.objects.get(slug="referral")
    Lead.objects.filter(value__in=[1000, 500]).update(source=referral)
    by_source = report(manager_client, **PERIOD, source="referral").context
    none = report(manager_client, **PERIOD, source="none").context["total"]

    assert figures(by_source["total"]) == (1, Decimal(1000), 1, Decimal(500))
    assert by_source["source_name"] == "Referral"
    assert figures(none) == (0, Decimal(0), 0, Decimal(0))  # the factory gives every lead one
    total = by_source["total"]
    assert parse_qs(urlsplit(total.won_url).query)["source"] == ["referral"]


@pytest.mark.usefixtures("closed")
def test_a_team_as_owner_counts_its_members_leads(manager_client, rep, other_rep):
    from leads.models import Membership, Team

    team = Team.objects.create(name="North")
    Membership.objects.create(team=team, user=other_rep)
    context = report(manager_client, **PERIOD, assignee=f"team:{team.pk}").context

    assert figures(context["total"]) == (1, Decimal(3000), 1, Decimal(2000))
    assert context["owner_name"] == "Team: North"
    lost_url = context["total"].lost_url
    assert parse_qs(urlsplit(lost_url).query)["assignee"] == [f"team:{team.pk}"]
    listed = manager_client.get(lost_url).context["page_obj"].object_list
    assert [lead.value for lead in listed] == [Decimal(2000)]  # the list filters by team too


# --- CSV downloads -----------------------------------------------------------------------------


def csv_rows(response) -> list[list[str]]:
    import csv
    import io

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.mark.usefixtures("closed")
def test_each_table_downloads_as_csv(manager_client):
    page = report(manager_client, **PERIOD).content.decode()
    assert "format=csv" in page
    assert "table=reasons" in page

    months = csv_rows(manager_client.get(URL, {**PERIOD, "format": "csv"}))
    reasons = csv_rows(manager_client.get(URL, {**PERIOD, "format": "csv", "table": "reasons"}))
    rivals = csv_rows(manager_client.get(URL, {**PERIOD, "format": "csv", "table": "competitors"}))

    assert months[0][:4] == ["Month", "From", "To", "Won"]
    assert months[1][:8] == [
        "2026-09",
        "2026-09-01",
        "2026-09-30",
        "2",
        "4000.00",
        "1",
        "500.00",
        "0.6667",
    ]
    assert months[-1][0] == "Total"
    assert months[-1][3:7] == ["3", "8000.00", "5", "4700.00"]
    assert reasons[0] == ["Loss reason", "Lost", "Value (EUR)", "Share"]
    assert reasons[1][:3] == ["Price too high", "2", "2000.00"]
    assert rivals[1][:3] == ["Acme", "2", "2000.00"]


def test_a_competitor_named_like_a_formula_is_neutralised_in_the_csv(manager_client):
    lost("2026-10-02", 100, "chose-competitor", "=HYPERLINK(1)")

    rows = csv_rows(manager_client.get(URL, {**PERIOD, "format": "csv", "table": "competitors"}))

    assert rows[1][0] == "'=HYPERLINK(1)"
