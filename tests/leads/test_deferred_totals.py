"""Totals that never hold the rows up (``leads.totals``, issue 18).

On PostgreSQL a filter the running totals cannot answer (a search, a date...) over a set
the planner expects to be large is shown at once without its count; the page then asks
/leads/totals/, which counts within a time budget and, past it, says "about" the planner's
estimate. Never a wrong exact figure: whatever the list says exactly is a count.
"""

import html
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads import totals
from leads.models import Lead
from leads.services import lead_create
from tests.factories import LeadFactory, default_stage, loss_reason

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the planner's estimate is PostgreSQL's"
)
SUMMARY = re.compile(r'<p class="result-summary"[^>]*>(?P<text>.*?)</p>', re.S)
TITLE = re.compile(r'<td class="cell-title"><a href="/leads/\d+/">(?P<title>.*?)</a>')
POSITION = re.compile(r'<span id="page-position"[^>]*>(?P<text>.*?)</span>')
COUNT_LINK = re.compile(r'<a href="(?P<href>[^"]*)" hx-get="(?P<get>[^"]*)" hx-trigger="load"')
HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "lead-results"}


def text(match) -> str:
    """The text as it is seen: without what only screen readers hear."""
    seen = re.sub(r'<span class="visually-hidden">.*?</span>', "", match["text"])
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", seen)).split())


def summary(response) -> str:
    return text(SUMMARY.search(response.content.decode()))


def position(response) -> str:
    return text(POSITION.search(response.content.decode()))


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def widgets():
    return [LeadFactory(title=f"Widget {n}", value=1000, probability=50) for n in range(30)]


@pytest.fixture
def always_defer(monkeypatch):
    """Every set counts as large: the smallest estimate is 1 row."""
    monkeypatch.setattr(totals, "COUNT_INLINE_BELOW", 1)


@postgresql_only
@pytest.mark.usefixtures("always_defer")
def test_a_large_search_shows_its_rows_at_once_and_asks_for_its_count(rep_client, widgets):
    response = rep_client.get(reverse("leads:list"), {"q": "widget"})

    page = response.content.decode()
    assert len(TITLE.findall(page)) == 25
    assert summary(response) == "Showing 1–25 · Count all matches"
    link = COUNT_LINK.search(page)
    assert html.unescape(link["get"]) == "/leads/totals/?q=widget"
    assert html.unescape(link["href"]) == "?q=widget&count=1"  # without JavaScript
    # Whether a next page exists is known from the rows (one read beyond the page).
    assert position(response) == "Page 1"
    assert 'rel="next"' in page


@postgresql_only
@pytest.mark.usefixtures("always_defer")
def test_the_deferred_count_is_exact_with_the_page_position(rep_client, widgets):
    LeadFactory(title="Gadget", value=5)

    response = rep_client.get(reverse("leads:list_totals"), {"q": "widget", "page": "2"})

    assert response.status_code == 200
    body = response.content.decode()
    line = re.match(r"(?P<text>.*?)<span id=\"page-position\"", body, re.S)
    assert text(line) == "Showing 26–30 of 30 · Total €30K · Weighted €15K"
    assert position(response) == "Page 2 of 2"
    assert 'hx-swap-oob="true"' in body


def test_the_totals_view_counts_on_either_database(rep_client, widgets):
    response = rep_client.get(reverse("leads:list_totals"), {"q": "widget", "per_page": "50"})

    assert "Showing 1–30 of 30" in " ".join(response.content.decode().split())
    assert position(response) == "Page 1 of 1"


@postgresql_only
@pytest.mark.usefixtures("always_defer")
def test_without_javascript_the_count_link_counts_with_the_page(rep_client, widgets):
    response = rep_client.get(reverse("leads:list"), {"q": "widget", "count": "1"})

    assert summary(response) == "Showing 1–25 of 30 · Total €30K · Weighted €15K"
    assert position(response) == "Page 1 of 2"


@postgresql_only
@pytest.mark.usefixtures("always_defer")
def test_once_counted_the_next_pages_show_it_at_once(rep_client, widgets, monkeypatch):
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 10)
    rep_client.get(reverse("leads:list_totals"), {"q": "widget"})

    response = rep_client.get(reverse("leads:list"), {"q": "widget", "page": "2"})

    assert summary(response) == "Showing 26–30 of 30 · Total €30K · Weighted €15K"


@postgresql_only
@pytest.mark.usefixtures("always_defer")
def test_a_write_after_the_count_is_counted_again(rep_client, widgets, monkeypatch, rep):
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 10)
    rep_client.get(reverse("leads:list_totals"), {"q": "widget"})

    lead_create(lead=Lead(title="Widget new", stage=default_stage("New")), by=rep)

    response = rep_client.get(reverse("leads:list"), {"q": "widget", "page": "2"})
    assert summary(response).startswith("Showing 26–31 ·")  # not the stale 30
    counted = rep_client.get(reverse("leads:list_totals"), {"q": "widget", "page": "2"})
    assert "of 31" in " ".join(counted.content.decode().split())


@postgresql_only
@pytest.mark.usefixtures("always_defer")
def test_filters_the_running_totals_answer_are_never_deferred(rep_client, widgets):
    response = rep_client.get(reverse("leads:list"), {"priority": "normal"})

    assert summary(response).startswith("Showing 1–25 of 30 ·")


@postgresql_only
def test_a_small_search_is_counted_with_its_page(rep_client, widgets):
    response = rep_client.get(reverse("leads:list"), {"q": "widget"})

    assert summary(response) == "Showing 1–25 of 30 · Total €30K · Weighted €15K"


@postgresql_only
def test_a_count_past_its_time_is_the_planners_estimate_said_as_about(widgets):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        (before,) = cursor.fetchone()
    slow = Lead.objects.filter(RawSQL("pg_sleep(0.05) IS NOT NULL", [], BooleanField()))

    result = totals.totals_within(slow, 20)

    assert result["about"] is True
    assert result["count"] >= 1  # the planner's guess, not a count
    assert result["total_value"] is None and result["weighted_value"] is None  # noqa: PT018
    # The connection is usable, with its own time limit back.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == (before,)
    assert Lead.objects.count() == 30


@postgresql_only
def test_a_count_in_time_is_exact(widgets):
    assert totals.totals_within(Lead.objects.all(), 5_000)["count"] == 30


def test_an_estimate_reads_as_about_and_never_as_a_total(rep_client, widgets, monkeypatch):
    def slow(queryset, milliseconds):
        return {"count": 251_234, "total_value": None, "weighted_value": None, "about": True}

    monkeypatch.setattr(totals, "totals_within", slow)

    response = rep_client.get(reverse("leads:list_totals"), {"q": "widget"})

    shown = " ".join(html.unescape(response.content.decode()).split())
    assert "Showing 1–25 of about 250,000" in shown
    assert "narrow the search to see the value" in shown
    assert "Total" not in shown
    assert position(response) == "Page 1 of about 10,000"  # an estimate, said as one


@postgresql_only
@pytest.mark.usefixtures("always_defer")
def test_a_deferred_page_runs_as_many_queries_whatever_its_size(rep_client, widgets):
    LeadFactory.create_batch(80, title="Widget more")

    def queries(per_page):
        with CaptureQueriesContext(connection) as context:
            response = rep_client.get(
                reverse("leads:list"), {"q": "widget", "per_page": per_page}, headers=HTMX_RESULTS
            )
        assert len(TITLE.findall(response.content.decode())) == per_page
        return len(context)

    assert queries(25) == queries(100)


def test_the_totals_need_a_signed_in_user(client):
    response = client.get(reverse("leads:list_totals"), {"q": "widget"})

    assert response.status_code == 302


@postgresql_only
def test_the_planner_knows_that_only_lost_leads_have_a_loss_reason():
    """Its estimate decides whether the list counts with the page: thought independent,
    "lost for one reason" looked 8 times smaller than it is (migration 0030)."""
    lost_stage, reason = default_stage("Lost"), loss_reason("price-too-high")
    Lead.objects.bulk_create(
        [Lead(title=f"Open {n}", stage=default_stage()) for n in range(300)]
        + [Lead(title=f"Lost {n}", stage=lost_stage, lost_reason=reason) for n in range(100)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")

    lost_for_price = Lead.objects.filter(stage__in=[lost_stage], lost_reason__in=[reason])

    # Independent, it would be 400 × ¼ × ¼ = 25.
    assert 80 <= totals.estimated_count(lost_for_price) <= 120
