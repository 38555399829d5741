"""The lead list (/leads/): table, search, filters, chips, sort, pages, totals and htmx."""

import datetime
import html
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.filters import SORTS
from leads.models import Lead, Priority
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    LeadSourceFactory,
    PipelineFactory,
    PipelineStageFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "lead-results"}
HTMX_LIST = {"HX-Request": "true", "HX-Target": "lead-list"}

ROW = re.compile(r'<tr class="row-link" data-href="/leads/(?P<pk>\d+)/">(?P<body>.*?)</tr>', re.S)
TITLE = re.compile(r'<td class="cell-title"><a href="/leads/(?P<pk>\d+)/">(?P<title>.*?)</a></td>')
CHIP = re.compile(
    r'<span class="chip">(?P<label>.*?)\s*<a class="chip-remove" href="(?P<href>[^"]*)"', re.S
)
CLEAR_ALL = re.compile(r'<a class="link-button" href="(?P<href>[^"]*)"[^>]*>Clear all</a>')
EMPTY_STATE = re.compile(r'<div class="empty-state">(?P<body>.*?)</div>', re.S)
SUMMARY = re.compile(r'<p class="result-summary"[^>]*>(?P<text>.*?)</p>', re.S)


def list_url() -> str:
    return reverse("leads:list")


def titles(response) -> list[str]:
    """Lead titles in the order the rendered table shows them."""
    return [html.unescape(m["title"]) for m in TITLE.finditer(response.text)]


def rows(response) -> dict[str, str]:
    """Each rendered row's HTML by lead title."""
    result = {}
    for match in ROW.finditer(response.text):
        title = TITLE.search(match[0])
        result[html.unescape(title["title"])] = match["body"]
    return result


def chips(response) -> dict[str, dict[str, list[str]]]:
    """Each active-filter chip's label → the query its remove link asks for."""
    return {
        " ".join(html.unescape(m["label"]).split()): parse_qs(
            urlsplit(html.unescape(m["href"])).query
        )
        for m in CHIP.finditer(response.text)
    }


def summary(response) -> str:
    """The result summary as it is seen: without what only screen readers hear."""
    match = SUMMARY.search(response.text)
    assert match, "no result summary rendered"
    seen = re.sub(r'<span class="visually-hidden">.*?</span>', "", match["text"])
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", seen)).split())


def empty_state(response) -> str:
    match = EMPTY_STATE.search(response.text)
    assert match, "no empty state rendered"
    return match["body"]


def moment(day: int) -> datetime.datetime:
    return datetime.datetime(2025, 1, day, 12, 0, tzinfo=datetime.UTC)


# --- the table -------------------------------------------------------------------------


def test_table_shows_every_column_heading(rep_client):
    LeadFactory()

    response = rep_client.get(list_url())

    headings = re.findall(r'<a class="sort-link"[^>]*>([^<]+)<span', response.text)
    assert headings == [
        "Title",
        "Client",
        "Stage",
        "Value",
        "Prob.",
        "Priority",
        "Score",
        "Source",
        "Assignee",
        "Due",
        "Age",
        "Updated",
    ]


def test_row_shows_the_lead_fields_and_links_to_the_lead(rep_client):
    dana = UserFactory(username="dana", first_name="Dana", last_name="Jansen")
    client = ClientFactory(name="Acme Industries")
    lead = LeadFactory(
        title="Forklift fleet",
        client=client,
        value=Decimal("25000"),
        probability=40,
        priority=Priority.HIGH,
        source=LeadSourceFactory(slug="referral"),
        assignee=dana,
        stage=default_stage("Qualified"),
        expected_close_date=datetime.date(2099, 3, 15),
    )

    response = rep_client.get(list_url())

    row = rows(response)["Forklift fleet"]
    assert f'<a href="{lead.get_absolute_url()}">Forklift fleet</a>' in row
    assert "Acme Industries" in row
    assert "Qualified" in row
    assert "€25,000" in row
    assert "40%" in row
    assert "High" in row
    assert "Referral" in row
    assert "Dana Jansen" in row
    assert '<time datetime="2099-03-15">15 Mar 2099</time>' in row
    assert f'datetime="{timezone.localtime(lead.updated_at):%Y-%m-%dT%H:%M:%S}' in row


def test_row_shows_dashes_and_unassigned_for_missing_fields(rep_client):
    LeadFactory(title="Bare", value=None, probability=None, source=None, client=None, score=None)

    row = rows(rep_client.get(list_url()))["Bare"]

    cells = re.findall(r'<td(?! class="cell-check")[^>]*>(.*?)</td>', row, re.S)
    assert cells[1].strip() == '<span class="muted">—</span>'  # client
    assert cells[3] == "—"  # value
    assert cells[4] == "—"  # probability
    assert "—" in cells[6]  # score
    assert cells[7] == "—"  # source
    assert "Unassigned" in cells[8]
    assert "—" in cells[9]  # due


def test_row_escapes_what_users_typed_and_keeps_braces(rep_client):
    LeadFactory(
        title='<script>alert("x")</script> {0} {title}',
        client=ClientFactory(name="Smith & <b>Sons</b>"),
        assignee=UserFactory(first_name="{x}", last_name="<i>Jo</i>"),
    )

    page = rep_client.get(list_url()).content.decode()

    typed = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; {0} {title}"
    assert "<script>alert" not in page
    assert f"{typed}</a>" in page
    assert f'aria-label="Select {typed}"' in page
    assert "Smith &amp; &lt;b&gt;Sons&lt;/b&gt;" in page
    assert "{x} &lt;i&gt;Jo&lt;/i&gt;" in page


def test_rows_say_their_cell_labels_in_the_readers_language(rep_client):
    LeadFactory(title="Heftrucks", expected_close_date=datetime.date(2099, 3, 15))

    row = rows(rep_client.get(list_url(), HTTP_ACCEPT_LANGUAGE="nl"))["Heftrucks"]

    for label in ("Klant", "Fase", "Waarde", "Prioriteit"):
        assert f'data-label="{label}"' in row
    assert 'aria-label="Heftrucks selecteren"' in row
    assert '<time datetime="2099-03-15">15 mrt. 2099</time>' in row


# --- search ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["FORKLIFT", "forklift", "ForkLift"],
)
def test_search_matches_title_case_insensitively(rep_client, query):
    LeadFactory(title="Forklift fleet")
    LeadFactory(title="Office chairs")

    assert titles(rep_client.get(list_url(), {"q": query})) == ["Forklift fleet"]


def test_search_matches_description_case_insensitively(rep_client):
    LeadFactory(title="Match", description="Wants a quote for SOLAR panels")
    LeadFactory(title="Other", description="Wind turbines")

    assert titles(rep_client.get(list_url(), {"q": "solar"})) == ["Match"]


def test_search_matches_client_name_case_insensitively(rep_client):
    LeadFactory(title="Match", client=ClientFactory(name="Heineken Brouwerijen"))
    LeadFactory(title="Other", client=ClientFactory(name="Philips"))

    assert titles(rep_client.get(list_url(), {"q": "HEINEKEN"})) == ["Match"]


def test_search_matches_contact_name_case_insensitively(rep_client):
    contact = ContactFactory(name="Johanna Vermeer")
    LeadFactory(title="Match", client=contact.client, contact=contact)
    other = ContactFactory(name="Piet Mondriaan")
    LeadFactory(title="Other", client=other.client, contact=other)

    assert titles(rep_client.get(list_url(), {"q": "vermeer"})) == ["Match"]


def test_blank_search_shows_everything(rep_client):
    LeadFactory(title="One")
    LeadFactory(title="Two")

    assert sorted(titles(rep_client.get(list_url(), {"q": "   "}))) == ["One", "Two"]


# --- filters ---------------------------------------------------------------------------


def test_stage_filter_accepts_several_stages(rep_client):
    new, contacted, qualified = (default_stage(n) for n in ("New", "Contacted", "Qualified"))
    LeadFactory(title="In new", stage=new)
    LeadFactory(title="In contacted", stage=contacted)
    LeadFactory(title="In qualified", stage=qualified)

    response = rep_client.get(list_url(), {"stage": [new.pk, qualified.pk]})

    assert sorted(titles(response)) == ["In new", "In qualified"]


def test_pipeline_filter_shows_only_leads_in_that_pipeline(rep_client):
    renewals = PipelineFactory(name="Renewals")
    LeadFactory(title="Renewal", stage=PipelineStageFactory(pipeline=renewals, order=0))
    LeadFactory(title="Sale")

    response = rep_client.get(list_url(), {"pipeline": renewals.pk})

    assert titles(response) == ["Renewal"]


@pytest.fixture
def leads_by_status(db):
    LeadFactory(title="Open one", stage=default_stage("Proposal"))
    LeadFactory(title="Won one", stage=default_stage("Won"))
    LeadFactory(title="Lost one", stage=default_stage("Lost"))


@pytest.mark.usefixtures("leads_by_status")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Open one"]),
        ({"status": "open"}, ["Open one"]),
        ({"status": "won"}, ["Won one"]),
        ({"status": "lost"}, ["Lost one"]),
        ({"status": "all"}, ["Lost one", "Open one", "Won one"]),
    ],
)
def test_status_filter_defaults_to_open_and_all_shows_every_status(rep_client, params, expected):
    assert sorted(titles(rep_client.get(list_url(), params))) == expected


@pytest.fixture
def leads_by_source(db):
    LeadFactory(title="From website", source=LeadSourceFactory(slug="website"))
    LeadFactory(title="From email", source=LeadSourceFactory(slug="email"))
    LeadFactory(title="From phone", source=LeadSourceFactory(slug="phone"))
    LeadFactory(title="Without source", source=None)


@pytest.mark.usefixtures("leads_by_source")
@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (["email"], ["From email"]),
        (["email", "phone"], ["From email", "From phone"]),
        (["none"], ["Without source"]),
        (["website", "none"], ["From website", "Without source"]),
    ],
)
def test_source_filter_accepts_several_sources_and_none_for_no_source(
    rep_client, sources, expected
):
    assert sorted(titles(rep_client.get(list_url(), {"source": sources}))) == expected


def test_priority_filter_accepts_several_priorities(rep_client):
    for priority in Priority:
        LeadFactory(title=f"P {priority.label}", priority=priority)

    response = rep_client.get(list_url(), {"priority": ["urgent", "low"]})

    assert sorted(titles(response)) == ["P Low", "P Urgent"]


@pytest.fixture
def leads_by_assignee(rep, other_rep):
    LeadFactory(title="Mine", assignee=rep)
    LeadFactory(title="Bob's", assignee=other_rep)
    LeadFactory(title="Nobody's", assignee=None)


@pytest.mark.usefixtures("leads_by_assignee")
def test_assignee_filter_by_user_id(rep_client, other_rep):
    assert titles(rep_client.get(list_url(), {"assignee": other_rep.pk})) == ["Bob's"]


@pytest.mark.usefixtures("leads_by_assignee")
def test_assignee_filter_me_shows_the_signed_in_users_leads(rep_client):
    assert titles(rep_client.get(list_url(), {"assignee": "me"})) == ["Mine"]


@pytest.mark.usefixtures("leads_by_assignee")
def test_assignee_filter_none_shows_unassigned_leads(rep_client):
    assert titles(rep_client.get(list_url(), {"assignee": "none"})) == ["Nobody's"]


def test_category_filter_is_case_insensitive_and_exact(rep_client):
    LeadFactory(title="Exact", category="Hardware")
    LeadFactory(title="Longer", category="Hardware tools")
    LeadFactory(title="Other", category="Software")

    assert titles(rep_client.get(list_url(), {"category": "hardware"})) == ["Exact"]


@pytest.fixture
def leads_by_value(db):
    LeadFactory(title="Small", value=Decimal("999.99"))
    LeadFactory(title="Lower bound", value=Decimal("1000"))
    LeadFactory(title="Upper bound", value=Decimal("5000"))
    LeadFactory(title="Large", value=Decimal("5000.01"))
    LeadFactory(title="Unknown", value=None)


@pytest.mark.usefixtures("leads_by_value")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"value_min": "1000"}, ["Large", "Lower bound", "Upper bound"]),
        ({"value_max": "5000"}, ["Lower bound", "Small", "Upper bound"]),
        ({"value_min": "1000", "value_max": "5000"}, ["Lower bound", "Upper bound"]),
    ],
)
def test_value_range_is_inclusive_and_leaves_out_unknown_values(rep_client, params, expected):
    assert sorted(titles(rep_client.get(list_url(), params))) == expected


def test_expected_close_range_is_inclusive(rep_client):
    LeadFactory(title="Before", expected_close_date=datetime.date(2025, 4, 30))
    LeadFactory(title="First day", expected_close_date=datetime.date(2025, 5, 1))
    LeadFactory(title="Last day", expected_close_date=datetime.date(2025, 5, 31))
    LeadFactory(title="After", expected_close_date=datetime.date(2025, 6, 1))
    LeadFactory(title="No date", expected_close_date=None)

    response = rep_client.get(list_url(), {"due_from": "2025-05-01", "due_to": "2025-05-31"})

    assert sorted(titles(response)) == ["First day", "Last day"]


@pytest.fixture
def leads_by_due_date(db):
    for title, day in [
        ("Long ago", datetime.date(2024, 12, 31)),
        ("Last of March", datetime.date(2025, 3, 31)),
        ("First of April", datetime.date(2025, 4, 1)),
        ("Sunday", datetime.date(2025, 4, 6)),
        ("Next Monday", datetime.date(2025, 4, 7)),
        ("End of June", datetime.date(2025, 6, 30)),
        ("July", datetime.date(2025, 7, 1)),
        ("No date", None),
    ]:
        LeadFactory(title=title, expected_close_date=day)


@pytest.mark.usefixtures("leads_by_due_date")
@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("overdue", ["Last of March", "Long ago"]),
        ("this_week", ["First of April", "Last of March", "Sunday"]),
        ("this_month", ["First of April", "Next Monday", "Sunday"]),
        ("this_quarter", ["End of June", "First of April", "Next Monday", "Sunday"]),
        ("none", ["No date"]),
    ],
)
def test_due_presets_use_today_in_amsterdam(rep_client, preset, expected):
    # 22:30 UTC on Monday 31 March is already Tuesday 1 April in Amsterdam (CEST).
    with time_machine.travel(datetime.datetime(2025, 3, 31, 22, 30, tzinfo=datetime.UTC)):
        response = rep_client.get(list_url(), {"due": preset})

    assert sorted(titles(response)) == expected


def test_this_quarter_preset_in_december_ends_on_new_years_eve(rep_client):
    LeadFactory(title="October", expected_close_date=datetime.date(2025, 10, 1))
    LeadFactory(title="New Year's Eve", expected_close_date=datetime.date(2025, 12, 31))
    LeadFactory(title="New Year", expected_close_date=datetime.date(2026, 1, 1))
    LeadFactory(title="September", expected_close_date=datetime.date(2025, 9, 30))

    with time_machine.travel(datetime.datetime(2025, 12, 15, 12, 0, tzinfo=datetime.UTC)):
        quarter = rep_client.get(list_url(), {"due": "this_quarter"})
        month = rep_client.get(list_url(), {"due": "this_month"})

    assert sorted(titles(quarter)) == ["New Year's Eve", "October"]
    assert titles(month) == ["New Year's Eve"]


# --- chips -----------------------------------------------------------------------------


def test_each_active_filter_value_shows_as_a_chip(rep_client):
    dana = UserFactory(username="dana", first_name="Dana", last_name="Jansen")
    LeadFactory()
    new = default_stage("New")
    response = rep_client.get(
        list_url(),
        {
            "q": "acme",
            "stage": [new.pk],
            "priority": ["high", "urgent"],
            "source": ["none"],
            "assignee": dana.pk,
            "status": "won",
            "due": "overdue",
            "category": "Hardware",
        },
    )

    labels = set(chips(response))
    assert labels == {
        "Search: acme",
        "Stage: New",
        "Priority: High",
        "Priority: Urgent",
        "Source: No source",
        "Assignee: Dana Jansen",
        "Status: Won",
        "Due: Overdue",
        "Category: Hardware",
    }


@pytest.mark.parametrize("field", ["client", "contact"])
def test_client_or_contact_filter_lists_their_leads_with_a_chip_that_stays(
    rep_client, field, django_assert_max_num_queries
):
    acme = ClientFactory(name="Acme & Sons")
    ada = ContactFactory(client=acme, name="Ada & Co")
    target = acme if field == "client" else ada
    LeadFactory(title="Theirs", client=acme, contact=ada)
    LeadFactory(title="Theirs, won", client=acme, contact=ada, stage=default_stage("Won"))
    LeadFactory(title="Someone else's", client=ClientFactory(), contact=None)
    ClientFactory.create_batch(3)  # the chip names the one chosen, never lists them all

    # The whole page: the filter bar reads its choices (loss reasons too).
    # And the rating thresholds, once for every badge.
    # And the bulk toolbar: the user's permissions (two), the people and the stages.
    # 23: on PostgreSQL a filter the running totals cannot answer asks the planner how
    # many leads it expects before counting them (leads.totals.list_totals); and the menu
    # of saved views.
    with django_assert_max_num_queries(23):
        response = rep_client.get(list_url(), {field: target.pk, "status": "all"})

    assert sorted(titles(response)) == ["Theirs", "Theirs, won"]
    assert chips(response) == {
        f"{field.title()}: {target.name}": {"status": ["all"]},
        "Status: All": {field: [str(target.pk)]},
    }
    # The filter form carries it, so that changing another filter keeps it.
    assert f'<input type="hidden" name="{field}" value="{target.pk}">' in response.text


def test_an_unknown_client_is_reported_and_ignored(rep_client):
    LeadFactory(title="Any")
    response = rep_client.get(list_url(), {"client": "999999"})
    assert titles(response) == ["Any"]
    assert "Some filters were not understood" in response.text


def test_status_open_and_sort_show_no_chip(rep_client):
    LeadFactory()

    response = rep_client.get(list_url(), {"status": "open", "sort": "-value"})

    assert chips(response) == {}


def test_chip_remove_link_drops_exactly_that_value_and_the_page(rep_client):
    LeadFactory()
    new, contacted = default_stage("New"), default_stage("Contacted")

    response = rep_client.get(
        list_url(),
        {
            "q": "acme",
            "stage": [new.pk, contacted.pk],
            "priority": ["high", "urgent"],
            "sort": "-value",
            "page": "2",
        },
    )

    found = chips(response)
    assert found["Stage: New"] == {
        "q": ["acme"],
        "stage": [str(contacted.pk)],
        "priority": ["high", "urgent"],
        "sort": ["-value"],
    }
    assert found["Priority: High"] == {
        "q": ["acme"],
        "stage": [str(new.pk), str(contacted.pk)],
        "priority": ["urgent"],
        "sort": ["-value"],
    }
    assert found["Search: acme"] == {
        "stage": [str(new.pk), str(contacted.pk)],
        "priority": ["high", "urgent"],
        "sort": ["-value"],
    }


def test_value_chip_shows_money_and_removes_only_that_bound(rep_client):
    LeadFactory()

    response = rep_client.get(list_url(), {"value_min": "1000", "value_max": "5000"})

    found = chips(response)
    assert found["Value from €1,000"] == {"value_max": ["5000"]}
    assert found["Value to €5,000"] == {"value_min": ["1000"]}


def test_clear_all_keeps_the_sort(rep_client):
    LeadFactory()

    response = rep_client.get(
        list_url(), {"priority": "high", "q": "acme", "sort": "-value", "page": "2"}
    )

    match = CLEAR_ALL.search(response.text)
    assert match
    assert html.unescape(match["href"]) == "?sort=-value"


def test_clear_all_with_the_default_sort_clears_everything(rep_client):
    LeadFactory()

    match = CLEAR_ALL.search(rep_client.get(list_url(), {"priority": "high"}).text)

    assert match
    # "view=all": the list asked nothing at all opens the user's default view instead.
    assert match["href"] == "?view=all"


# --- sort ------------------------------------------------------------------------------


@pytest.fixture
def ranked_leads(rep, other_rep):
    """Alpha < Bravo < Charlie on every column; Delta is empty where it can be, else largest."""
    carol = UserFactory(username="carol")
    LeadFactory(
        title="Alpha",
        score=10,
        client=ClientFactory(name="Acme"),
        stage=default_stage("New"),
        value=Decimal("100"),
        probability=10,
        priority=Priority.LOW,
        source=LeadSourceFactory(slug="email"),
        assignee=rep,
        expected_close_date=datetime.date(2025, 1, 1),
        updated_at=moment(1),
        created_at=moment(1),
        stage_entered_at=moment(4),  # Alpha is the youngest in its stage
    )
    LeadFactory(
        title="Bravo",
        score=20,
        client=ClientFactory(name="Beta"),
        stage=default_stage("Contacted"),
        value=Decimal("200"),
        probability=20,
        priority=Priority.NORMAL,
        source=LeadSourceFactory(slug="phone"),
        assignee=other_rep,
        expected_close_date=datetime.date(2025, 2, 1),
        updated_at=moment(2),
        created_at=moment(2),
        stage_entered_at=moment(3),  # Alpha is the youngest in its stage
    )
    LeadFactory(
        title="Charlie",
        score=30,
        client=ClientFactory(name="Gamma"),
        stage=default_stage("Qualified"),
        value=Decimal("300"),
        probability=30,
        priority=Priority.HIGH,
        source=LeadSourceFactory(slug="website"),
        assignee=carol,
        expected_close_date=datetime.date(2025, 3, 1),
        updated_at=moment(3),
        created_at=moment(3),
        stage_entered_at=moment(2),  # Alpha is the youngest in its stage
    )
    LeadFactory(
        title="Delta",
        score=None,
        client=None,
        stage=default_stage("Proposal"),
        value=None,
        probability=None,
        priority=Priority.URGENT,
        source=None,
        assignee=None,
        expected_close_date=None,
        updated_at=moment(4),
        created_at=moment(4),
        stage_entered_at=moment(1),  # Alpha is the youngest in its stage
    )


NULLABLE_SORTS = {
    "client",
    "value",
    "probability",
    "source",
    "assignee",
    "expected_close_date",
    "score",
}


def test_sort_keys_are_the_list_columns_plus_created_at():
    # The Closed column (actual_close_date) shows only where closed leads can be.
    assert set(SORTS) == {
        "title",
        "client",
        "stage",
        "value",
        "probability",
        "priority",
        "source",
        "assignee",
        "expected_close_date",
        "actual_close_date",
        "updated_at",
        "created_at",
        "age",
        "score",
    }


#: Every sort but the close date, which open leads do not have: test_list_closing.py sorts
#: closed leads by it.
OPEN_LEAD_SORTS = [key for key in SORTS if key != "actual_close_date"]


@pytest.mark.usefixtures("ranked_leads")
@pytest.mark.parametrize("key", OPEN_LEAD_SORTS)
def test_sort_ascending_by_each_column(rep_client, key):
    response = rep_client.get(list_url(), {"sort": key})

    assert titles(response) == ["Alpha", "Bravo", "Charlie", "Delta"]


@pytest.mark.usefixtures("ranked_leads")
@pytest.mark.parametrize("key", OPEN_LEAD_SORTS)
def test_sort_descending_by_each_column_keeps_empty_values_last(rep_client, key):
    response = rep_client.get(list_url(), {"sort": f"-{key}"})

    if key in NULLABLE_SORTS:
        assert titles(response) == ["Charlie", "Bravo", "Alpha", "Delta"]
    else:
        assert titles(response) == ["Delta", "Charlie", "Bravo", "Alpha"]


@pytest.mark.parametrize("sort", ["value", "-value"])
def test_leads_without_value_sort_last_in_both_directions(rep_client, sort):
    LeadFactory(title="Unknown", value=None)
    LeadFactory(title="Zero", value=Decimal("0"))
    LeadFactory(title="Big", value=Decimal("90000"))

    assert titles(rep_client.get(list_url(), {"sort": sort}))[-1] == "Unknown"


@pytest.mark.parametrize("sort", ["expected_close_date", "-expected_close_date"])
def test_leads_without_expected_close_sort_last_in_both_directions(rep_client, sort):
    LeadFactory(title="No date", expected_close_date=None)
    LeadFactory(title="Early", expected_close_date=datetime.date(2020, 1, 1))
    LeadFactory(title="Late", expected_close_date=datetime.date(2030, 1, 1))

    assert titles(rep_client.get(list_url(), {"sort": sort}))[-1] == "No date"


@pytest.fixture
def leads_by_priority(db):
    # Created in alphabetical order so that sorting by the raw text would pass unnoticed.
    for priority in sorted(Priority, key=lambda p: p.value):
        LeadFactory(title=priority.label, priority=priority)


@pytest.mark.usefixtures("leads_by_priority")
def test_priority_sorts_by_rank_urgent_first_when_descending(rep_client):
    response = rep_client.get(list_url(), {"sort": "-priority"})

    assert titles(response) == ["Urgent", "High", "Normal", "Low"]


@pytest.mark.usefixtures("leads_by_priority")
def test_priority_sorts_by_rank_low_first_when_ascending(rep_client):
    response = rep_client.get(list_url(), {"sort": "priority"})

    assert titles(response) == ["Low", "Normal", "High", "Urgent"]


@pytest.mark.usefixtures("ranked_leads")
def test_default_sort_is_most_recently_updated_first(rep_client):
    assert titles(rep_client.get(list_url())) == ["Delta", "Charlie", "Bravo", "Alpha"]


@pytest.mark.usefixtures("ranked_leads")
@pytest.mark.parametrize("sort", ["bogus", "-bogus", "description", "-", "value;drop"])
def test_unknown_sort_falls_back_to_the_default(rep_client, sort):
    response = rep_client.get(list_url(), {"sort": sort})

    assert response.status_code == 200
    assert titles(response) == ["Delta", "Charlie", "Bravo", "Alpha"]


def test_column_heading_links_toggle_the_sort_direction(rep_client):
    LeadFactory()

    response = rep_client.get(list_url(), {"sort": "value", "page": "1", "q": "lead"})

    value_heading = re.search(
        r'<th scope="col" aria-sort="ascending" class="num">(.*?)</th>', response.text, re.S
    )
    assert value_heading
    href = re.search(r'href="([^"]*)"', value_heading[1])[1]
    assert parse_qs(urlsplit(html.unescape(href)).query) == {"sort": ["-value"], "q": ["lead"]}


# --- pagination and totals -------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_page", "expected_rows"),
    [(None, 25), ("25", 25), ("50", 50), ("100", 60), ("30", 25), ("abc", 25), ("-50", 25)],
)
def test_page_size_is_25_by_default_and_accepts_only_50_or_100(rep_client, per_page, expected_rows):
    LeadFactory.create_batch(60)
    params = {"per_page": per_page} if per_page else {}

    assert len(titles(rep_client.get(list_url(), params))) == expected_rows


def test_second_page_says_which_leads_it_shows(rep_client):
    LeadFactory.create_batch(60)

    response = rep_client.get(list_url(), {"page": "2"})

    assert len(titles(response)) == 25
    assert summary(response).startswith("Showing 26–50 of 60")


def test_pages_do_not_overlap_and_cover_every_lead(rep_client):
    LeadFactory.create_batch(30)

    first = titles(rep_client.get(list_url(), {"page": "1"}))
    second = titles(rep_client.get(list_url(), {"page": "2"}))

    assert len(first) == 25
    assert len(second) == 5
    assert sorted(first + second) == sorted(Lead.objects.values_list("title", flat=True))


def test_totals_leave_out_unknown_values_and_probabilities():
    LeadFactory(value=Decimal("1000"), probability=10)
    LeadFactory(value=Decimal("2000"), probability=None)
    LeadFactory(value=None, probability=50)
    LeadFactory(value=Decimal("400"), probability=25)

    totals = Lead.objects.totals()

    assert totals["count"] == 4
    assert totals["total_value"] == Decimal("3400")
    assert totals["weighted_value"] == Decimal("200")


def test_weighted_total_keeps_fractions_of_a_euro():
    LeadFactory(value=Decimal("150"), probability=33)
    LeadFactory(value=Decimal("10.50"), probability=50)

    totals = Lead.objects.totals()

    assert totals["total_value"] == Decimal("160.50")
    assert totals["weighted_value"] == Decimal("54.75")


def test_totals_of_an_empty_set_are_unknown():
    totals = Lead.objects.none().totals()

    assert totals == {"count": 0, "total_value": None, "weighted_value": None}


def test_summary_totals_cover_the_whole_filtered_set_not_just_the_page(rep_client):
    LeadFactory.create_batch(30, value=Decimal("300"), probability=10, category="Match")
    LeadFactory(value=Decimal("5000"), probability=100, category="Other")
    LeadFactory(value=None, probability=50, category="Match")

    response = rep_client.get(list_url(), {"category": "match"})

    assert len(titles(response)) == 25
    assert summary(response) == "Showing 1–25 of 31 · Total €9,000 · Weighted €900"


def test_summary_totals_use_compact_money_for_large_sums(rep_client):
    LeadFactory(value=Decimal("1234567"), probability=50)

    assert summary(rep_client.get(list_url())).endswith("Total €1.2M · Weighted €617.3K")


# --- htmx ------------------------------------------------------------------------------


def test_htmx_results_request_returns_only_the_results_fragment(rep_client):
    LeadFactory.create_batch(3)

    fragment = rep_client.get(list_url(), {"sort": "title"}, headers=HTMX_RESULTS)
    page = rep_client.get(list_url(), {"sort": "title"})

    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert '<form id="lead-filters"' not in fragment.text
    assert '<form id="lead-filters"' in page.text
    assert "<html" in page.text
    assert titles(fragment) == titles(page)
    assert len(titles(page)) == 3


def test_htmx_list_request_returns_filters_and_results(rep_client):
    LeadFactory.create_batch(2)

    response = rep_client.get(list_url(), headers=HTMX_LIST)

    assert "<html" not in response.text
    assert '<form id="lead-filters"' in response.text
    assert '<section id="lead-results"' in response.text
    assert len(titles(response)) == 2


def test_history_restore_request_gets_the_full_page(rep_client):
    LeadFactory()

    response = rep_client.get(
        list_url(), headers={**HTMX_RESULTS, "HX-History-Restore-Request": "true"}
    )

    assert "<html" in response.text
    assert '<form id="lead-filters"' in response.text


@pytest.mark.parametrize("headers", [{}, HTMX_RESULTS, HTMX_LIST])
def test_responses_vary_on_htmx_headers(rep_client, headers):
    LeadFactory()

    response = rep_client.get(list_url(), headers=headers)

    vary = {v.strip().lower() for v in response["Vary"].split(",")}
    assert {"hx-request", "hx-target"} <= vary


# --- empty states ----------------------------------------------------------------------


def test_empty_state_without_any_leads_offers_a_new_lead(rep_client):
    response = rep_client.get(list_url())

    body = empty_state(response)
    assert "No leads yet" in body
    assert f'href="{reverse("leads:create")}"' in body
    assert "New lead" in body
    assert "No leads match these filters." not in response.text


def test_empty_state_when_filters_exclude_everything_offers_to_clear_them(rep_client):
    LeadFactory(title="Something")

    response = rep_client.get(list_url(), {"q": "nothing like this", "sort": "-value"})

    body = empty_state(response)
    assert "No leads match these filters." in body
    assert re.search(r'<a class="btn" href="\?sort=-value"[^>]*>Clear filters</a>', body)
    assert "No leads yet" not in response.text


def test_empty_state_when_only_closed_leads_exist_is_the_filtered_one(rep_client):
    LeadFactory(stage=default_stage("Won"))

    body = empty_state(rep_client.get(list_url()))

    assert "No leads match these filters." in body


# --- query count -----------------------------------------------------------------------


@pytest.fixture
def many_leads(rep, other_rep):
    sources = [LeadSourceFactory(slug=slug) for slug in ("website", "email", "phone")]
    assignees = [rep, other_rep, None]
    stages = [default_stage(n) for n in ("New", "Contacted", "Qualified")]
    for i in range(120):
        contact = ContactFactory()
        LeadFactory(
            client=contact.client,
            contact=contact,
            source=sources[i % 3],
            assignee=assignees[i % 3],
            stage=stages[i % 3],
            priority=list(Priority)[i % 4],
            expected_close_date=datetime.date(2025, 1, 1) + datetime.timedelta(days=i),
        )


def count_queries(client, params, headers=None) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(list_url(), params, headers=headers or {})
    assert response.status_code == 200
    return len(context.captured_queries)


@pytest.mark.usefixtures("many_leads")
def test_results_region_runs_at_most_14_queries_whatever_the_page_size(
    rep_client, django_assert_max_num_queries
):
    # The page's rows take three: the leads, then their stages and sources (for_list_rows).
    # The bulk toolbar four: the user's permissions (two), the people and the stages.
    with django_assert_max_num_queries(14):
        rep_client.get(list_url(), {"per_page": "25"}, headers=HTMX_RESULTS)
    with django_assert_max_num_queries(14):
        rep_client.get(list_url(), {"per_page": "100"}, headers=HTMX_RESULTS)

    assert count_queries(rep_client, {"per_page": "25"}, HTMX_RESULTS) == count_queries(
        rep_client, {"per_page": "100"}, HTMX_RESULTS
    )


@pytest.mark.usefixtures("many_leads")
def test_filtered_results_region_stays_within_14_queries_whatever_the_page_size(rep_client):
    params = {
        "stage": [default_stage("New").pk],
        "source": ["website", "none"],
        "sort": "-priority",
    }

    small = count_queries(rep_client, {**params, "per_page": "25"}, HTMX_RESULTS)
    large = count_queries(rep_client, {**params, "per_page": "100"}, HTMX_RESULTS)

    assert small == large
    assert small <= 14  # with the bulk toolbar's four


@pytest.mark.usefixtures("many_leads")
def test_full_page_query_count_does_not_grow_with_the_page_size(rep_client):
    assert count_queries(rep_client, {"per_page": "25"}) == count_queries(
        rep_client, {"per_page": "100"}
    )


# --- priority indicators ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "badge"),
    [
        (Priority.URGENT, '<span class="badge badge-urgent">Urgent</span>'),
        (Priority.HIGH, '<span class="badge badge-high">High</span>'),
        (Priority.LOW, '<span class="badge badge-low">Low</span>'),
    ],
)
def test_priority_shows_as_a_badge(rep_client, priority, badge):
    LeadFactory(title="Flagged", priority=priority)

    assert badge in rows(rep_client.get(list_url()))["Flagged"]


def test_normal_priority_shows_no_badge(rep_client):
    LeadFactory(title="Ordinary", priority=Priority.NORMAL)

    row = rows(rep_client.get(list_url()))["Ordinary"]

    assert not re.search(r"badge-(urgent|high|normal|low)", row)
    assert "Normal" not in row


# --- access ----------------------------------------------------------------------------


def test_user_in_no_group_can_read_the_list(client, reader):
    LeadFactory(title="Visible")
    client.force_login(reader)

    response = client.get(list_url())

    assert response.status_code == 200
    assert titles(response) == ["Visible"]


def test_anonymous_user_is_redirected_to_login(client):
    response = client.get(list_url(), {"q": "x"})

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("login")
    assert parse_qs(location.query)["next"] == [f"{list_url()}?q=x"]


def test_anonymous_htmx_request_does_not_get_the_list(client):
    LeadFactory(title="Secret")

    response = client.get(list_url(), headers=HTMX_RESULTS)

    assert "Secret" not in response.text
    assert response.status_code in (302, 401, 403)


# --- invalid input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"value_min": "abc"},
        {"value_max": "1e999999"},
        {"stage": "999999"},
        {"stage": "abc"},
        {"assignee": "xyz"},
        {"assignee": "999999"},
        {"pipeline": "abc"},
        {"priority": "extreme"},
        {"source": "nowhere"},
        {"due": "someday"},
        {"due_from": "not-a-date"},
        {"due_to": "2025-02-30"},
        {"page": "abc"},
        {"page": "999"},
        {"page": "-1"},
        {"per_page": "1000000000000000000000"},
    ],
)
def test_invalid_filter_values_are_ignored(rep_client, params):
    LeadFactory(title="Still here", value=Decimal("10"))

    response = rep_client.get(list_url(), params)

    assert response.status_code == 200
    assert titles(response) == ["Still here"]


@pytest.mark.parametrize("params", [{"stage": "999999"}, {"value_min": "abc"}])
def test_invalid_filter_values_are_ignored_in_htmx_requests_too(rep_client, params):
    LeadFactory(title="Still here")

    response = rep_client.get(list_url(), params, headers=HTMX_RESULTS)

    assert response.status_code == 200
    assert titles(response) == ["Still here"]


def test_invalid_status_falls_back_to_open_leads(rep_client):
    LeadFactory(title="Open one")
    LeadFactory(title="Won one", stage=default_stage("Won"))

    response = rep_client.get(list_url(), {"status": "bogus"})

    assert response.status_code == 200
    assert titles(response) == ["Open one"]


def test_sort_and_page_links_keep_the_filters_through_djangos_querystring(rep_client):
    LeadFactory.create_batch(26, title="Widget")

    response = rep_client.get(
        list_url(), {"q": "widget", "priority": ["high", "normal"], "page": "1"}
    )

    sort_links = re.findall(r'<a class="sort-link" href="([^"]*)"', response.text)
    assert html.unescape(sort_links[0]) == "?q=widget&priority=high&priority=normal&sort=title"
    next_link = re.search(r'<a href="([^"]*)"[^>]*rel="next"', response.text)
    assert html.unescape(next_link[1]).startswith(
        "?q=widget&priority=high&priority=normal&page=2&after="  # where it seeks from
    )


def test_the_rounded_totals_carry_the_exact_amounts_for_hover_and_screen_readers(rep_client):
    LeadFactory(value=Decimal(1_734_250), probability=10)

    line = SUMMARY.search(rep_client.get(list_url()).text)["text"]

    assert summary(rep_client.get(list_url())).endswith("Total €1.7M · Weighted €173.4K")
    assert '<span class="money-compact" title="€1,734,250">' in line
    assert '<span class="visually-hidden">€1,734,250</span>' in line
    assert '<span class="visually-hidden">€173,425</span>' in line
