"""What keeps the lead pages fast at a million leads (issue 8) behaves the same everywhere.

The indexes exist on PostgreSQL only; the code paths they serve (the search's client and
contact look-up, status by stage ids, the page fetched by ids, the cached totals, My Work's
first leads of each group) run on SQLite and PostgreSQL alike and are tested here on both.
"""

import datetime
import html
import re
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.web import filters as crm_filters
from leads import filters, totals
from leads.models import Lead, Status
from leads.services import lead_create
from leads.views import MyWorkView
from tests.factories import ClientFactory, ContactFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "lead-results"}
SUMMARY = re.compile(r'<p class="result-summary"[^>]*>(?P<text>.*?)</p>', re.S)
TITLE = re.compile(r'<td class="cell-title"><a href="/leads/\d+/">(?P<title>.*?)</a>')


def summary(response) -> str:
    """The result summary as it is seen: without what only screen readers hear."""
    seen = re.sub(
        r'<span class="visually-hidden">.*?</span>', "", SUMMARY.search(response.text)["text"]
    )
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", seen)).split())


def titles(response) -> list[str]:
    return [html.unescape(m["title"]) for m in TITLE.finditer(response.text)]


@pytest.fixture
def empty_cache():
    """Totals cached by one test must not be seen by another (ids repeat on SQLite)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cache_every_set(monkeypatch, empty_cache):
    """Cache the totals of any set, however small, as the list does from 5,000 leads."""
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 0)


# --- search ----------------------------------------------------------------------------


def search(text: str) -> set[str]:
    return set(Lead.objects.filter(filters.search_condition(text)).values_list("title", flat=True))


@pytest.fixture
def searchable():
    zeppelin = ClientFactory(name="Zeppelin Werke")
    LeadFactory(title="Airship", client=zeppelin)
    LeadFactory(title="Hangar", contact=ContactFactory(name="Anna Zeppelin"))
    LeadFactory(title="Zeppelin tour")
    LeadFactory(title="Balloon", description="Bigger than a zeppelin.")
    LeadFactory(title="Unrelated", client=ClientFactory(name="Acme"))


@pytest.mark.usefixtures("searchable")
def test_search_matches_title_description_client_and_contact_in_any_case():
    assert search("ZEPPELIN") == {"Airship", "Hangar", "Zeppelin tour", "Balloon"}


@pytest.mark.usefixtures("searchable")
def test_search_finds_the_same_leads_when_many_clients_match(monkeypatch):
    # Beyond the id limit the clients and contacts are matched by a subquery instead.
    monkeypatch.setattr(filters, "SEARCH_ID_LIMIT", 1)

    assert search("zeppelin") == {"Airship", "Hangar", "Zeppelin tour", "Balloon"}


@pytest.mark.usefixtures("searchable")
def test_search_looks_up_clients_and_contacts_in_one_query():
    with CaptureQueriesContext(connection) as queries:
        condition = filters.search_condition("zeppelin")

    assert len(queries) == 1
    assert Lead.objects.filter(condition).count() == 4


@pytest.mark.usefixtures("searchable")
def test_admin_searches_like_the_list(admin_client):
    response = admin_client.get(reverse("admin:leads_lead_changelist"), {"q": "zeppelin"})

    shown = {lead.title for lead in response.context["cl"].result_list}
    assert shown == {"Airship", "Hangar", "Zeppelin tour", "Balloon"}


# --- status and pages ------------------------------------------------------------------


def test_status_filters_by_the_ids_of_stages_of_that_kind():
    LeadFactory(title="Open one")
    LeadFactory(title="Won one", stage=default_stage("Won"))

    queryset = Lead.objects.with_status(Status.WON)

    assert "pipelines_pipelinestage" not in str(queryset.query)
    assert list(queryset.values_list("title", flat=True)) == ["Won one"]


def test_pages_come_in_the_sort_order_with_every_row_field(rep_client):
    client = ClientFactory(name="Acme")
    for number in range(60):
        LeadFactory(title=f"Lead {number:02}", value=Decimal(number), client=client)

    third = rep_client.get(reverse("leads:list"), {"sort": "-value", "page": 3})

    assert titles(third) == [f"Lead {number:02}" for number in range(9, -1, -1)]
    assert "Acme" in third.text
    assert summary(third).startswith("Showing 51–60 of 60")


# --- cached totals ---------------------------------------------------------------------


@pytest.mark.usefixtures("cache_every_set")
def test_totals_are_cached_across_pages_and_sorts(rep_client, rep):
    LeadFactory.create_batch(30)
    url = reverse("leads:list")
    rep_client.get(url, headers=HTMX_RESULTS)

    with CaptureQueriesContext(connection) as queries:
        response = rep_client.get(url, {"page": 2, "sort": "title"}, headers=HTMX_RESULTS)

    assert not [q for q in queries if 'COUNT("leads_lead"' in q["sql"]]
    assert summary(response).startswith("Showing 26–30 of 30")


@pytest.mark.usefixtures("cache_every_set")
def test_a_write_through_the_app_refreshes_cached_totals_at_once(rep_client, rep):
    LeadFactory.create_batch(3, value=Decimal("100"))
    url = reverse("leads:list")
    assert "of 3 · Total €300" in summary(rep_client.get(url))

    lead_create(lead=Lead(title="New one", value=Decimal("50"), stage=default_stage()), by=rep)

    assert "of 4 · Total €350" in summary(rep_client.get(url))


@pytest.mark.usefixtures("cache_every_set")
def test_a_write_that_records_no_event_shows_once_the_cached_totals_expire(rep_client):
    LeadFactory.create_batch(3, title="Acme deal")
    # A search: PostgreSQL's running totals (leads.tally) cannot answer it, the cache does.
    url = reverse("leads:list") + "?q=acme"
    with time_machine.travel(datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC)) as clock:
        assert "of 3" in summary(rep_client.get(url))
        LeadFactory(title="Acme deal")  # as SQL run by hand would: no LeadEvent
        assert "of 3" in summary(rep_client.get(url))

        clock.shift(totals.CACHE_SECONDS + 1)

        assert "of 4" in summary(rep_client.get(url))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL's")
def test_on_postgresql_a_write_that_records_no_event_shows_at_once(rep_client):
    LeadFactory.create_batch(3)
    url = reverse("leads:list")
    assert "of 3" in summary(rep_client.get(url))
    LeadFactory()  # as SQL run by hand would: no LeadEvent, but the triggers count it
    assert "of 4" in summary(rep_client.get(url))


@pytest.mark.usefixtures("cache_every_set")
def test_each_filter_has_its_own_cached_totals(rep_client):
    LeadFactory.create_batch(2, priority="high")
    LeadFactory(priority="low")
    url = reverse("leads:list")

    assert "of 3" in summary(rep_client.get(url))
    assert "of 2" in summary(rep_client.get(url, {"priority": "high"}))
    assert "of 1" in summary(rep_client.get(url, {"priority": "low"}))


@pytest.mark.usefixtures("cache_every_set")
def test_assignee_me_is_cached_per_user(client, rep, other_rep):
    LeadFactory.create_batch(2, assignee=rep)
    LeadFactory(assignee=other_rep)
    url = reverse("leads:list")

    client.force_login(rep)
    assert "of 2" in summary(client.get(url, {"assignee": "me"}))
    client.force_login(other_rep)
    assert "of 1" in summary(client.get(url, {"assignee": "me"}))


def test_small_sets_are_not_cached(rep_client, empty_cache):
    LeadFactory.create_batch(3)

    rep_client.get(reverse("leads:list"))
    LeadFactory()  # no event: a cached entry would hide it

    assert "of 4" in summary(rep_client.get(reverse("leads:list")))


def test_cache_key_ignores_page_sort_and_order_of_parameters(rep):
    key = totals.totals_cache_key

    assert key(QueryDict("priority=high&source=web&page=3&sort=title"), rep) == key(
        QueryDict("source=web&priority=high"), rep
    )
    assert key(QueryDict("priority=high"), rep) != key(QueryDict("priority=low"), rep)


# --- My Work ---------------------------------------------------------------------------


def group_titles(response, key: str) -> list[str]:
    section = response.text.split(f'id="group-{key}"')[1].split("</section>")[0]
    return re.findall(r'class="work-title" href="[^"]+">([^<]+)<', section)


def test_my_work_shows_the_first_leads_of_a_big_group_and_how_many_it_holds(
    rep_client, rep, monkeypatch
):
    monkeypatch.setattr(MyWorkView, "group_limit", 2)
    LeadFactory(assignee=rep, title="Urgent", priority="urgent")
    LeadFactory(assignee=rep, title="High", priority="high")
    LeadFactory(assignee=rep, title="Normal", priority="normal")
    LeadFactory(assignee=rep, title="Won", stage=default_stage("Won"))

    response = rep_client.get(reverse("leads:my_work"))

    assert group_titles(response, "none") == ["Urgent", "High"]
    assert 'No due date <span class="muted">(3)</span>' in response.text
    assert "The first 2 of 3." in response.text
    assert "Leads (3)" in response.text
    every = rep_client.get(reverse("leads:my_work"), {"all": "1"})
    assert group_titles(every, "none") == ["Urgent", "High", "Normal"]
    assert "The first" not in every.text


@time_machine.travel(datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.UTC))  # a Wednesday
def test_my_work_takes_each_groups_first_leads_and_counts_each_group_alone(
    rep_client, rep, other_rep, monkeypatch
):
    monkeypatch.setattr(MyWorkView, "group_limit", 2)
    day = datetime.date
    for title, priority, due in [
        ("Old urgent", "urgent", day(2026, 11, 1)),
        ("Old low, earliest", "low", day(2026, 10, 1)),
        ("Old normal", "normal", day(2026, 11, 20)),
        ("Old normal, earlier", "normal", day(2026, 11, 2)),
        ("Friday high", "high", day(2026, 11, 27)),
        ("Sunday", "normal", day(2026, 11, 29)),
        ("Thursday", "normal", day(2026, 11, 26)),
        ("Monday", "urgent", day(2026, 11, 30)),
        ("None low", "low", None),
    ]:
        LeadFactory(assignee=rep, title=title, priority=priority, expected_close_date=due)
    LeadFactory(assignee=other_rep, title="Not mine", expected_close_date=day(2026, 11, 1))
    LeadFactory(assignee=rep, title="Won", stage=default_stage("Won"))

    response = rep_client.get(reverse("leads:my_work"))

    assert group_titles(response, "overdue") == ["Old urgent", "Old normal, earlier"]
    assert 'Overdue <span class="muted">(4)</span>' in response.text
    assert group_titles(response, "week") == ["Friday high", "Thursday"]
    assert 'Due this week <span class="muted">(3)</span>' in response.text
    assert group_titles(response, "upcoming") == ["Monday"]
    assert group_titles(response, "none") == ["None low"]
    assert "Leads (9)" in response.text


# --- PostgreSQL's indexes --------------------------------------------------------------


def test_sqlite_has_the_portable_indexes_and_no_postgresql_ones():
    if connection.vendor == "postgresql":
        return  # the test below checks PostgreSQL's
    with connection.cursor() as cursor:
        names = set(connection.introspection.get_constraints(cursor, "leads_lead"))
    assert {"lead_updated_idx", "lead_stage_updated_idx", "lead_priority_rank_idx"} <= names
    assert "lead_title_trgm_idx" not in names  # trigram indexes are PostgreSQL's alone


def test_postgresql_has_the_trigram_and_covering_indexes():
    if connection.vendor != "postgresql":
        return  # the test above checks SQLite's
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
            [
                [
                    "lead_title_trgm_idx",
                    "lead_description_trgm_idx",
                    "client_name_trgm_idx",
                    "contact_name_trgm_idx",
                    "lead_value_desc_idx",
                    "lead_updated_idx",
                    "lead_stage_updated_idx",
                    "lead_actual_close_idx",
                    "lead_competitor_close_idx",
                    "lead_actual_close_desc_idx",
                ]
            ],
        )
        indexes = dict(cursor.fetchall())

    assert "gin_trgm_ops" in indexes["lead_title_trgm_idx"]
    assert "upper(description)" in indexes["lead_description_trgm_idx"]
    assert "gin_trgm_ops" in indexes["client_name_trgm_idx"]
    assert "gin_trgm_ops" in indexes["contact_name_trgm_idx"]
    assert "value DESC NULLS LAST" in indexes["lead_value_desc_idx"]
    assert "INCLUDE (stage_id)" in indexes["lead_updated_idx"]
    assert "INCLUDE (value, probability)" in indexes["lead_stage_updated_idx"]
    assert (
        "INCLUDE (stage_id, assignee_id, value, won_value, lost_reason_id)"
        in (indexes["lead_actual_close_idx"])
    )


def test_the_lead_client_and_contact_searches_share_one_id_limit():
    assert filters.SEARCH_ID_LIMIT == crm_filters.SEARCH_ID_LIMIT
