"""How a lead's score shows: its rating badge everywhere a lead is drawn, the list's Score
column and rating filter, the detail page's "why this score", and the export's column."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import Lead, ScoringCriterion, ScoringSettings
from leads.scoring import CriterionKind
from leads.services import lead_update
from leads.templatetags.lead_badges import rating_badge
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    LeadSourceFactory,
    stored_score,
)
from tests.leads.test_board import card, get_board
from tests.leads.test_import import imported, start, uploaded  # noqa: F401 (fixtures)
from tests.leads.test_list import HTMX_RESULTS, chips, list_url, titles

pytestmark = pytest.mark.django_db

BADGE = re.compile(r'<span class="badge badge-rating badge-(\w+)"[^>]*>([^<]*)</span>')


def thresholds(*, hot_above: int, cold_below: int) -> None:
    ScoringSettings.objects.update_or_create(
        pk=1, defaults={"hot_above": hot_above, "cold_below": cold_below}
    )


def badges(response) -> list[str]:
    return [text for _, text in BADGE.findall(response.content.decode())]


def detail(client, lead, **kwargs):
    return client.get(reverse("leads:detail", args=[lead.pk]), **kwargs)


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- the badge -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "shown"),
    [(81, "Hot 81"), (80, "Warm 80"), (30, "Warm 30"), (29, "Cold 29"), (0, "Cold 0")],
)
def test_badge_says_the_rating_and_score_by_the_thresholds_in_the_settings(score, shown):
    thresholds(hot_above=80, cold_below=30)
    lead = Lead.objects.with_rating().get(pk=LeadFactory(score=score).pk)

    assert re.sub(r"<[^>]+>", "", rating_badge(lead)) == shown
    assert f'title="Score {score} of 100"' in rating_badge(lead)


def test_an_unscored_lead_has_no_badge():
    lead = Lead.objects.with_rating().get(pk=LeadFactory(score=None).pk)

    assert rating_badge(lead) == ""


def test_the_rating_in_sql_agrees_with_the_settings_rating_at_every_score():
    thresholds(hot_above=65, cold_below=35)
    for score in range(101):
        LeadFactory(score=score)
    settings = ScoringSettings.current()

    for lead in Lead.objects.with_rating():
        assert lead.rating == settings.rating(lead.score), lead.score


def test_the_rating_uses_the_default_thresholds_before_the_settings_row_exists():
    ScoringSettings.objects.all().delete()
    lead = Lead.objects.with_rating().get(pk=LeadFactory(score=71).pk)

    assert lead.rating == "hot"


def test_badge_text_is_escaped_markup_built_with_format_html():
    lead = Lead.objects.with_rating().get(pk=LeadFactory(score=50).pk)

    assert rating_badge(lead) == (
        '<span class="badge badge-rating badge-warm" title="Score 50 of 100">Warm 50</span>'
    )


# --- the list ------------------------------------------------------------------------------


@pytest.fixture
def scored(db):
    LeadFactory(title="Unscored", score=None)
    LeadFactory(title="Cold", score=12)
    LeadFactory(title="Warm", score=55)
    LeadFactory(title="Hot", score=90)


@pytest.mark.usefixtures("scored")
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("score", ["Cold", "Warm", "Hot", "Unscored"]),
        ("-score", ["Hot", "Warm", "Cold", "Unscored"]),
    ],
)
def test_score_sort_puts_unscored_leads_last_both_ways(rep_client, sort, expected):
    assert titles(rep_client.get(list_url(), {"sort": sort})) == expected


@pytest.mark.usefixtures("scored")
def test_score_column_sorts_highest_first_on_first_click_and_shows_badges(rep_client):
    response = rep_client.get(list_url(), {"sort": "title"})
    page = response.content.decode()

    assert re.search(r'href="\?[^"]*sort=-score[^"]*"[^>]*>Score', page)
    assert sorted(badges(response)) == ["Cold 12", "Hot 90", "Warm 55"]
    assert '<span class="muted" title="Not scored">—</span>' in page


@pytest.mark.usefixtures("scored")
def test_rating_filter_takes_several_ratings_with_a_chip_for_each(rep_client):
    response = rep_client.get(list_url(), {"rating": ["hot", "cold"], "sort": "title"})

    assert titles(response) == ["Cold", "Hot"]
    assert chips(response) == {
        "Rating: Hot": {"rating": ["cold"], "sort": ["title"]},
        "Rating: Cold": {"rating": ["hot"], "sort": ["title"]},
    }


@pytest.mark.usefixtures("scored")
def test_rating_filter_follows_the_thresholds(rep_client):
    assert titles(rep_client.get(list_url(), {"rating": "hot"})) == ["Hot"]

    thresholds(hot_above=50, cold_below=10)

    assert sorted(titles(rep_client.get(list_url(), {"rating": "hot"}))) == ["Hot", "Warm"]
    assert titles(rep_client.get(list_url(), {"rating": "cold"})) == []


def test_an_unknown_rating_is_refused_like_any_unknown_choice(rep_client):
    LeadFactory(title="Any", score=50)

    response = rep_client.get(list_url(), {"rating": "lukewarm"})

    assert response.status_code == 200
    assert "Rating: lukewarm" not in text(response)


def count_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(list_url(), params, headers=HTMX_RESULTS).status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("params", [{}, {"sort": "-score"}, {"rating": ["hot", "warm"]}])
def test_the_badges_cost_no_query_per_row(rep_client, params):
    for score in (10, 50, 90):
        LeadFactory(score=score)
    few = count_queries(rep_client, {**params, "per_page": "100"})
    for score in range(40):
        LeadFactory(score=score * 2)

    assert count_queries(rep_client, {**params, "per_page": "100"}) == few


def test_the_list_reads_no_settings_row_for_its_badges(rep_client):
    LeadFactory(score=90)
    with CaptureQueriesContext(connection) as context:
        rep_client.get(list_url(), headers=HTMX_RESULTS)

    alone = [q["sql"] for q in context.captured_queries if "leads_scoringsettings" in q["sql"]]
    assert all("leads_lead" in sql for sql in alone)  # only as the rows' subquery


# --- the detail page -----------------------------------------------------------------------


@pytest.fixture
def good_lead(rep):
    """Value above €10,000, a client, a referral: 10 + 20 + 15 + 15 = 60 by the defaults."""
    return LeadFactory(
        title="Good",
        assignee=rep,
        value=Decimal("25000"),
        client=ClientFactory(),
        source=LeadSourceFactory(slug="referral"),
    )


def test_detail_shows_the_badge_and_why_this_score(rep_client, good_lead):
    page = text(detail(rep_client, good_lead))

    assert good_lead.score == 60
    assert badges(detail(rep_client, good_lead)) == ["Warm 60", "Warm 60"]  # header, card
    assert "60 of 100" in page
    assert "Why this score" in page
    assert "✓ Met: +20 value above €10,000" in page
    assert "✓ Met: +15 client linked" in page
    assert "✗ Not met: +10 contact linked" in page
    assert "✗ Not met: +5 description present" in page


def test_what_would_raise_it_lists_the_unmet_criteria_most_points_first(rep_client, good_lead):
    page = text(detail(rep_client, good_lead))

    raise_it = page[page.index("What would raise it") + len("What would raise it") :]
    hints = re.findall(r"([A-Z][^:]*?): \+(\d+)", raise_it)
    assert [int(points) for _, points in hints] == sorted(
        (int(points) for _, points in hints), reverse=True
    )
    assert ("Link a contact", "10") in hints
    assert ("Describe the deal", "5") in hints
    assert "Link a client" not in raise_it


def test_a_sum_past_100_says_the_score_stops_there(rep_client):
    ScoringCriterion.objects.filter(kind=CriterionKind.DESCRIPTION_PRESENT).update(points=60)
    client = ClientFactory()
    lead = LeadFactory(
        value=Decimal("25000"),
        client=client,
        contact=ContactFactory(client=client),
        description="A big deal",
    )

    page = text(detail(rep_client, lead))

    assert "100 of 100" in page
    assert "the criteria it meets add up to 115; a score stops at 100" in page


def test_an_unscored_lead_says_so(rep_client):
    lead = LeadFactory(score=None)

    page = text(detail(rep_client, lead))

    assert "Not scored yet" in page
    assert badges(detail(rep_client, lead)) == []


def test_without_active_criteria_the_page_says_leads_are_not_scored(rep_client):
    ScoringCriterion.objects.update(active=False)
    lead = LeadFactory()

    page = text(detail(rep_client, lead))

    assert lead.score is None
    assert "Leads are not scored: no scoring criteria are active." in page
    assert "Why this score" not in page


def test_the_score_card_is_in_the_region_that_refreshes_after_an_action(rep_client, good_lead):
    region = detail(
        rep_client, good_lead, headers={"HX-Request": "true", "HX-Target": "lead-stage"}
    )

    assert "<html" not in region.content.decode()
    assert "Why this score" in text(region)


def test_the_score_card_shows_the_new_score_after_an_edit(rep_client, rep, good_lead):
    # The form saves through lead_update and redirects to the page, drawn afresh.
    lead_update(lead_id=good_lead.pk, values={"description": "Now described"}, by=rep)

    page = text(detail(rep_client, good_lead))

    assert "65 of 100" in page
    assert "✓ Met: +5 description present" in page
    assert "Describe the deal" not in page


# --- board, My Work ------------------------------------------------------------------------


def test_board_cards_show_the_rating_badge(rep_client):
    lead = LeadFactory(score=90)

    node = card(get_board(rep_client).content, lead)

    [badge] = [b for b in node.find_all(cls="badge") if "badge-rating" in b.classes()]
    assert badge.text == "Hot 90"


def test_my_work_shows_the_rating_badge(rep_client, rep):
    LeadFactory(assignee=rep, score=20)

    assert badges(rep_client.get(reverse("leads:my_work"))) == ["Cold 20"]


# --- export and import ---------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    data = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(data, newline="")))


def test_export_has_the_computed_score_beside_the_status(rep_client, good_lead):
    LeadFactory(title="Unscored", score=None)

    rows = read_csv(rep_client.get(reverse("leads:export"), {"sort": "title"}))

    assert list(rows[0])[list(rows[0]).index("status") + 1] == "score"
    assert [(row["title"], row["score"]) for row in rows] == [("Good", "60"), ("Unscored", "")]


def test_importing_an_export_ignores_its_score_column(rep_client, good_lead, imported):  # noqa: F811
    exported = b"".join(rep_client.get(reverse("leads:export")).streaming_content)
    tampered = exported.replace(b",60,", b",99,")
    assert tampered != exported
    Lead.objects.all().delete()

    lead_import = imported(rep_client, tampered)

    assert lead_import.summary == "Imported 1 lead.", lead_import.error_report
    headers = list(lead_import.headers)
    assert str(headers.index("score")) not in lead_import.mapping  # never read
    # The score the services computed from the lead's fields, not the file's 99.
    assert stored_score(Lead.objects.get()) == 60
