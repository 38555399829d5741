"""The lead list and how leads closed: loss reason, competitor and close date filters, the
Closed column and sort, and what a row says of a won or lost lead."""

import datetime
import html
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.filters import SORTS
from leads.models import Lead
from pipelines.models import PipelineStage
from tests.factories import (
    LeadFactory,
    LossReasonFactory,
    PipelineFactory,
    PipelineStageFactory,
    default_stage,
    loss_reason,
)
from tests.leads.test_list import HTMX_RESULTS, chips, count_queries, list_url, rows, titles

pytestmark = pytest.mark.django_db


def lost_lead(title: str, reason: str | None = "price-too-high", **fields) -> Lead:
    """A lost lead; ``reason`` None: lost before reasons were asked (none recorded)."""
    fields.setdefault("actual_close_date", datetime.date(2025, 3, 1))
    return LeadFactory(
        title=title,
        stage=default_stage("Lost"),
        lost_reason=loss_reason(reason) if reason else None,
        **fields,
    )


def won_lead(title: str, **fields) -> Lead:
    fields.setdefault("actual_close_date", datetime.date(2025, 3, 1))
    return LeadFactory(title=title, stage=default_stage("Won"), **fields)


def headings(response) -> list[str]:
    return re.findall(r'<a class="sort-link"[^>]*>([^<]+)<span', response.text)


# --- loss reason -------------------------------------------------------------------------


@pytest.fixture
def leads_by_reason(db):
    lost_lead("Too dear", "price-too-high")
    lost_lead("No money", "no-budget")
    lost_lead("Silent", "no-response")
    lost_lead("Long ago", None)
    LeadFactory(title="Still open")
    won_lead("Signed")


@pytest.mark.usefixtures("leads_by_reason")
@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        (["price-too-high"], ["Too dear"]),
        (["price-too-high", "no-budget"], ["No money", "Too dear"]),
        ([None], ["Long ago"]),
        (["no-response", None], ["Long ago", "Silent"]),
    ],
)
def test_loss_reason_filter_accepts_several_reasons_and_none_for_not_recorded(
    rep_client, reasons, expected
):
    ids = [str(loss_reason(slug).pk) if slug else "none" for slug in reasons]

    response = rep_client.get(list_url(), {"status": "all", "lost_reason": ids})

    assert sorted(titles(response)) == expected


@pytest.mark.usefixtures("leads_by_reason")
def test_not_recorded_means_lost_leads_without_a_reason_not_open_or_won_ones(rep_client):
    response = rep_client.get(list_url(), {"status": "all", "lost_reason": "none"})

    assert titles(response) == ["Long ago"]


@pytest.mark.usefixtures("leads_by_reason")
def test_loss_reason_chips_name_the_reason_and_remove_only_it(rep_client):
    price = str(loss_reason("price-too-high").pk)

    response = rep_client.get(
        list_url(), {"status": "lost", "lost_reason": [price, "none"], "page": "2"}
    )

    assert chips(response) == {
        "Status: Lost": {"lost_reason": [price, "none"]},
        "Loss reason: Price too high": {"status": ["lost"], "lost_reason": ["none"]},
        "Loss reason: Not recorded": {"status": ["lost"], "lost_reason": [price]},
    }


def test_loss_reason_menu_offers_every_reason_and_not_recorded(rep_client):
    LossReasonFactory(name="Went quiet & vanished", active=False)
    LeadFactory()

    response = rep_client.get(list_url())

    menu = response.text.split("<summary>Loss reason")[1].split("</details>")[0]
    offered = [html.unescape(label).strip() for label in re.findall(r"> ([^<]+)</label>", menu)]
    # Inactive reasons too: leads lost for them are still found.
    assert "Went quiet & vanished" in offered
    assert offered[0] == "Price too high"
    assert offered[-1] == "Not recorded"


# --- competitor --------------------------------------------------------------------------


def test_competitor_filter_is_case_insensitive_and_exact(rep_client):
    lost_lead("To Acme", competitor="Acme")
    lost_lead("To ACME", competitor="ACME")
    lost_lead("To Acme Corp", competitor="Acme Corp")
    lost_lead("To nobody")

    response = rep_client.get(list_url(), {"status": "lost", "competitor": "acme"})

    assert sorted(titles(response)) == ["To ACME", "To Acme"]
    assert chips(response)["Competitor: acme"] == {"status": ["lost"]}


def test_competitor_input_suggests_the_competitors_named_most_first(rep_client):
    lost_lead("A", competitor="Globex")
    lost_lead("B", competitor="Initech & Co")
    lost_lead("C", competitor="Initech & Co")

    page = rep_client.get(list_url()).text
    # The list asks for them when the field is first focused, not with every page.
    assert 'list="competitor-options"' in page
    datalist = re.search(r'<datalist id="competitor-options"([^>]*)>(.*?)</datalist>', page, re.S)
    assert datalist[2] == ""
    assert f'hx-get="{reverse("leads:competitors")}"' in datalist[1]
    assert 'hx-trigger="focus once from:#id_competitor"' in datalist[1]
    assert 'hx-target="this"' in datalist[1]

    options = rep_client.get(reverse("leads:competitors"), headers={"HX-Request": "true"})

    assert options.status_code == 200
    assert re.findall(r'<option value="([^"]*)">', options.text) == [
        "Initech &amp; Co",
        "Globex",
    ]


def test_the_list_page_does_not_look_up_the_competitors(rep_client):
    lost_lead("A", competitor="Globex")

    with CaptureQueriesContext(connection) as queries:
        rep_client.get(list_url())

    assert not [q for q in queries if "competitor" in q["sql"] and "GROUP BY" in q["sql"]]


def test_competitor_options_need_a_sign_in(client):
    response = client.get(reverse("leads:competitors"))

    assert response.status_code == 302


def test_results_alone_do_not_look_up_the_competitors(rep_client):
    lost_lead("A", competitor="Globex")

    response = rep_client.get(list_url(), headers=HTMX_RESULTS)

    assert "competitor-options" not in response.text
    with_bar = count_queries(rep_client, {}, {"HX-Request": "true", "HX-Target": "lead-list"})
    assert count_queries(rep_client, {}, HTMX_RESULTS) < with_bar


# --- close date --------------------------------------------------------------------------


@pytest.fixture
def leads_by_close_date(db):
    won_lead("Before", actual_close_date=datetime.date(2025, 1, 31))
    lost_lead("First day", actual_close_date=datetime.date(2025, 2, 1))
    won_lead("Last day", actual_close_date=datetime.date(2025, 2, 28))
    lost_lead("After", actual_close_date=datetime.date(2025, 3, 1))
    LeadFactory(title="Open")


@pytest.mark.usefixtures("leads_by_close_date")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"closed_from": "2025-02-01"}, ["After", "First day", "Last day"]),
        ({"closed_to": "2025-02-28"}, ["Before", "First day", "Last day"]),
        ({"closed_from": "2025-02-01", "closed_to": "2025-02-28"}, ["First day", "Last day"]),
    ],
)
def test_close_date_range_is_inclusive_and_leaves_out_open_leads(rep_client, params, expected):
    response = rep_client.get(list_url(), {"status": "all", **params})

    assert sorted(titles(response)) == expected


@pytest.mark.usefixtures("leads_by_close_date")
def test_close_date_chips_remove_only_their_bound(rep_client):
    response = rep_client.get(
        list_url(), {"status": "all", "closed_from": "2025-02-01", "closed_to": "2025-02-28"}
    )

    found = chips(response)
    assert found["Closed from: 2025-02-01"] == {"status": ["all"], "closed_to": ["2025-02-28"]}
    assert found["Closed to: 2025-02-28"] == {"status": ["all"], "closed_from": ["2025-02-01"]}


@pytest.mark.usefixtures("leads_by_close_date")
@pytest.mark.parametrize(
    ("status", "expected"), [("won", ["Last day"]), ("lost", ["First day"]), ("open", [])]
)
def test_close_date_range_narrows_the_status_asked_for(rep_client, status, expected):
    params = {"status": status, "closed_from": "2025-02-01", "closed_to": "2025-02-28"}

    assert titles(rep_client.get(list_url(), params)) == expected


@pytest.mark.usefixtures("leads_by_close_date", "leads_by_reason")
@pytest.mark.parametrize(
    "params",
    [
        {"closed_from": "2025-02-01"},
        {"competitor": "Acme"},
        {"lost_reason": "none"},
    ],
)
def test_a_closing_filter_without_a_status_looks_at_closed_leads_too(rep_client, params):
    lost_lead("Lost to Acme", competitor="Acme", actual_close_date=datetime.date(2025, 2, 2))

    response = rep_client.get(list_url(), params)

    assert titles(response)
    assert "Open" not in titles(response)
    assert all(not lead.is_open for lead in Lead.objects.filter(title__in=titles(response)))
    assert "Status: All" not in chips(response)  # the URL did not ask for it


# --- the win/loss report's links ---------------------------------------------------------


@pytest.fixture
def report_leads(rep, other_rep):
    other = PipelineFactory(name="Renewals")
    other_lost = PipelineStageFactory(pipeline=other, name="Lost", order=90, kind="lost")
    february = datetime.date(2025, 2, 10)
    price = "price-too-high"
    lost_lead("Match", price, assignee=rep, competitor="Acme", actual_close_date=february)
    lost_lead("Other reason", "no-budget", assignee=rep, competitor="Acme")
    lost_lead("Other person", price, assignee=other_rep, competitor="Acme")
    lost_lead("Other month", price, assignee=rep, competitor="Acme")
    lost_lead("Other competitor", price, assignee=rep, competitor="Globex")
    LeadFactory(
        title="Other pipeline",
        stage=other_lost,
        assignee=rep,
        competitor="Acme",
        actual_close_date=february,
        lost_reason=loss_reason(price),
    )
    won_lead("Won match", assignee=rep, actual_close_date=february)
    won_lead("Won other month", assignee=rep)


def report_link(rep, **params) -> dict:
    return {
        "closed_from": "2025-02-01",
        "closed_to": "2025-02-28",
        "pipeline": PipelineStage.objects.get(pipeline__is_default=True, name="Lost").pipeline_id,
        "assignee": rep.pk,
        **params,
    }


@pytest.mark.usefixtures("report_leads")
def test_the_win_loss_reports_lost_link_finds_exactly_its_leads(rep_client, rep):
    reason = loss_reason("price-too-high").pk
    params = report_link(rep, status="lost", lost_reason=reason, competitor="acme")

    response = rep_client.get(list_url(), params)

    assert titles(response) == ["Match"]
    assert set(chips(response)) == {
        "Status: Lost",
        "Loss reason: Price too high",
        "Competitor: acme",
        "Closed from: 2025-02-01",
        "Closed to: 2025-02-28",
        "Pipeline: Sales",
        f"Assignee: {rep.get_full_name() or rep.username}",
    }


@pytest.mark.usefixtures("report_leads")
def test_the_win_loss_reports_won_link_finds_exactly_its_leads(rep_client, rep):
    response = rep_client.get(list_url(), report_link(rep, status="won"))

    assert titles(response) == ["Won match"]


@pytest.mark.usefixtures("report_leads")
def test_the_win_loss_reports_not_recorded_link_finds_lost_leads_without_a_reason(rep_client, rep):
    lost_lead("Unexplained", None, assignee=rep, actual_close_date=datetime.date(2025, 2, 3))

    response = rep_client.get(list_url(), report_link(rep, status="lost", lost_reason="none"))

    assert titles(response) == ["Unexplained"]
    assert "Loss reason: Not recorded" in chips(response)


# --- the Closed column and its sort -------------------------------------------------------


def test_the_closed_and_age_columns_show_where_leads_they_speak_of_can_be(rep_client):
    won_lead("Signed")
    lost_lead("Missed")
    LeadFactory(title="Open")

    open_headings = headings(rep_client.get(list_url()))
    all_headings = headings(rep_client.get(list_url(), {"status": "all"}))

    assert "Closed" not in open_headings  # an open lead has no close date
    assert all_headings == [*open_headings[:10], "Closed", *open_headings[10:]]
    for status in ("won", "lost"):  # nor a closed lead an age in its stage
        closed_headings = [heading for heading in all_headings if heading != "Age"]
        assert headings(rep_client.get(list_url(), {"status": status})) == closed_headings


def test_a_row_shows_the_close_date_or_a_dash(rep_client):
    won_lead("Signed", actual_close_date=datetime.date(2025, 2, 14))
    LeadFactory(title="Still open")

    found = rows(rep_client.get(list_url(), {"status": "all"}))

    assert (
        '<td class="cell-date"><time datetime="2025-02-14">14 Feb 2025</time></td>'
        in (found["Signed"])
    )
    assert '<td class="cell-date"><span class="muted">—</span></td>' in found["Still open"]


def test_sort_keys_include_the_close_date():
    assert "actual_close_date" in SORTS


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("actual_close_date", ["Early", "Late", "Open"]),
        ("-actual_close_date", ["Late", "Early", "Open"]),
    ],
)
def test_sort_by_close_date_keeps_leads_without_one_last_in_both_directions(
    rep_client, sort, expected
):
    LeadFactory(title="Open")
    won_lead("Late", actual_close_date=datetime.date(2025, 5, 1))
    lost_lead("Early", actual_close_date=datetime.date(2025, 1, 1))

    response = rep_client.get(list_url(), {"status": "all", "sort": sort})

    assert titles(response) == expected


def test_the_closed_heading_sorts_most_recent_first_then_toggles(rep_client):
    won_lead("Signed")

    def closed_link(params):
        page = rep_client.get(list_url(), params).text
        return html.unescape(re.search(r'<a class="sort-link" href="([^"]*)"[^>]*>Closed', page)[1])

    assert closed_link({"status": "all"}) == "?status=all&sort=-actual_close_date"
    assert closed_link({"status": "all", "sort": "-actual_close_date"}) == (
        "?status=all&sort=actual_close_date"
    )


# --- how a row says a lead closed ---------------------------------------------------------


def stage_cell(row: str) -> str:
    return re.findall(r'<td(?! class="cell-check")[^>]*>(.*?)</td>', row, re.S)[2]


def test_a_lost_lead_shows_its_reason_and_competitor_under_its_stage(rep_client):
    lost_lead("Lost to Acme", competitor="Acme & Sons")
    lost_lead("Lost for no budget", "no-budget")
    lost_lead("Lost long ago", None)

    found = rows(rep_client.get(list_url(), {"status": "lost"}))

    sub = re.compile(r'<div class="cell-sub">(.*?)</div>')
    assert sub.search(stage_cell(found["Lost to Acme"]))[1] == "Price too high · Acme &amp; Sons"
    assert sub.search(stage_cell(found["Lost for no budget"]))[1] == "No budget"
    assert sub.search(stage_cell(found["Lost long ago"]))[1] == "No reason recorded"


def test_a_won_lead_shows_its_won_value_under_its_stage(rep_client):
    won_lead("Signed", value=Decimal("12000"), won_value=Decimal("12000"))

    cell = stage_cell(rows(rep_client.get(list_url(), {"status": "won"}))["Signed"])

    assert '<div class="cell-sub">Won\N{NO-BREAK SPACE}€12,000</div>' in cell


def test_an_open_lead_shows_nothing_under_its_stage(rep_client):
    LeadFactory(title="Open")

    assert "cell-sub" not in stage_cell(rows(rep_client.get(list_url()))["Open"])


# --- query count ---------------------------------------------------------------------------


@pytest.fixture
def many_closed_leads(rep, other_rep):
    reasons = [LossReasonFactory() for _ in range(5)]
    people = [rep, other_rep, None]
    for i in range(60):
        LeadFactory(
            title=f"Lost {i}",
            stage=default_stage("Lost"),
            lost_reason=reasons[i % 5] if i % 6 else None,
            competitor=f"Rival {i % 7}",
            assignee=people[i % 3],
            actual_close_date=datetime.date(2025, 1, 1) + datetime.timedelta(days=i),
        )
        won_lead(f"Won {i}", assignee=people[i % 3], won_value=Decimal(i))


@pytest.mark.usefixtures("many_closed_leads")
@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"status": "all", "sort": "-actual_close_date"},
        {"status": "lost", "lost_reason": "none", "competitor": "Rival 1"},
    ],
)
def test_closed_leads_results_stay_within_15_queries_whatever_the_page_size(rep_client, params):
    # The bulk toolbar takes four: the user's permissions (two), the people and the stages it
    # offers (leads.bulk_views). The loss reasons are one query for the page
    # (for_list_rows), never one per row. On PostgreSQL a filter the running totals
    # cannot answer (a loss reason) asks the planner how many leads it expects before
    # counting them (leads.totals.list_totals).
    small = count_queries(rep_client, {**params, "per_page": "25"}, HTMX_RESULTS)
    large = count_queries(rep_client, {**params, "per_page": "100"}, HTMX_RESULTS)

    assert small == large
    assert small <= 15


@pytest.mark.usefixtures("many_closed_leads")
def test_full_page_of_lost_leads_query_count_does_not_grow_with_the_page_size(rep_client):
    assert count_queries(rep_client, {"status": "lost", "per_page": "25"}) == count_queries(
        rep_client, {"status": "lost", "per_page": "100"}
    )


# --- input the list does not understand ----------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"lost_reason": "abc"},
        {"lost_reason": "999999"},
        {"closed_from": "notadate"},
        {"closed_to": "2025-02-30"},
    ],
)
def test_invalid_closing_filter_values_are_reported_and_ignored(rep_client, params):
    lost_lead("Still here")

    response = rep_client.get(list_url(), {"status": "lost", **params})

    assert response.status_code == 200
    assert titles(response) == ["Still here"]
    assert "Some filters were not understood" in response.text


def test_a_competitor_name_is_matched_as_text_not_as_a_pattern(rep_client):
    lost_lead("Percent", competitor="100% Deals")
    lost_lead("Other", competitor="1000 Deals")

    response = rep_client.get(list_url(), {"status": "lost", "competitor": "100% deals"})

    assert titles(response) == ["Percent"]


def test_the_closing_filters_keep_their_values_in_the_filter_bar(rep_client):
    reason = loss_reason("no-budget")
    lost_lead("Kept", "no-budget", competitor="Acme")

    response = rep_client.get(
        list_url(),
        {
            "status": "lost",
            "lost_reason": reason.pk,
            "competitor": "Acme",
            "closed_from": "2025-01-01",
            "closed_to": "2025-12-31",
        },
    )

    text = response.text
    assert re.search(r'<details class="filter-menu filter-more"\s+open>', text)
    assert re.search(rf'value="{reason.pk}" id="id_lost_reason_\d+" checked>', text)
    assert 'name="competitor" value="Acme"' in text
    assert 'name="closed_from" value="2025-01-01"' in text
    assert 'name="closed_to" value="2025-12-31"' in text
