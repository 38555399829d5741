"""The team report: per rep, the open leads and their value now, the overdue and stale
ones, the leads won and lost in a period and the win rate; each figure links to its
leads, and the table downloads as CSV."""

import csv
import datetime
import io
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.urls import reverse

from leads.models import Membership, Team
from tests.factories import (
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
)
from tests.leads.test_aging import titles

pytestmark = pytest.mark.django_db

URL = "/reports/team/"
NOW = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)
PERIOD = {"from": "2026-09", "to": "2026-11"}


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False):
        yield


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def open_lead(title, owner, value, *, due=None, quiet=0, **fields):
    """An open lead, expected to close on ``due``, without activity for ``quiet`` days."""
    return LeadFactory(
        title=title,
        assignee=owner,
        value=value,
        expected_close_date=day(due) if due else None,
        last_activity_at=NOW - datetime.timedelta(days=quiet),
        **fields,
    )


def closed_lead(title, owner, stage, on, **fields):
    return LeadFactory(
        title=title, assignee=owner, stage=default_stage(stage), actual_close_date=day(on), **fields
    )


@pytest.fixture
def people(db):
    """Alice and Bob, Carol (Bob's teammate in North, with no leads), Dave (deactivated
    with an open lead), and the manager, who holds none."""
    alice = RepFactory(username="alice", first_name="Alice", last_name="Adams")
    bob = RepFactory(username="bob", first_name="Bob", last_name="Brown")
    carol = RepFactory(username="carol", first_name="Carol", last_name="Clark")
    dave = RepFactory(username="dave", first_name="Dave", last_name="Dunn", is_active=False)
    north = Team.objects.create(name="North")
    Membership.objects.create(team=north, user=bob)
    Membership.objects.create(team=north, user=carol)
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "north": north}


@pytest.fixture
def leads(people):
    """Alice: 3 open (1,000 overdue; unknown value, stale; 700 with a stray close date in
    the period), won 1 and lost 1 in the period, won 1 the day before it.
    Bob: 1 open (500, no close date expected, stale), won 2 (the period's first day) and
    lost 1 (its last day). Unassigned: 1 open (200, overdue), lost 1. Dave: 1 open (300).
    """
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    open_lead("A overdue", alice, 1000, due="2026-11-29")
    open_lead("A quiet", alice, None, due="2026-12-05", quiet=20)
    # Open, with a close date left in the period: open, not won or lost.
    open_lead(
        "A dated", alice, 700, stage=default_stage("Proposal"), actual_close_date=day("2026-10-05")
    )
    closed_lead("A won", alice, "Won", "2026-10-01")
    closed_lead("A lost", alice, "Lost", "2026-09-15")
    closed_lead("A won before", alice, "Won", "2026-08-31")
    open_lead("B quiet", bob, 500, quiet=30)
    closed_lead("B won 1", bob, "Won", "2026-09-01")
    closed_lead("B won 2", bob, "Won", "2026-09-01", source=None)
    closed_lead("B lost", bob, "Lost", "2026-11-30")
    open_lead("U overdue", None, 200, due="2026-01-01", source=None)
    closed_lead("U lost", None, "Lost", "2026-10-20")
    open_lead("D open", dave, 300)


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def figures(row) -> tuple:
    return (row.label, row.open, row.value, row.overdue, row.stale, row.won, row.lost, row.win_rate)


def table(context) -> list[tuple]:
    return [figures(row) for row in context["rows"]]


def query(url: str) -> dict:
    parts = urlsplit(url)
    assert parts.path == reverse("leads:list")
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def listed(client, url: str) -> list[str]:
    return sorted(titles(client.get(url)))


@pytest.fixture
def alice_client(client, people):
    client.force_login(people["alice"])
    return client


# --- figures -------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_per_rep_open_value_overdue_stale_won_lost_and_win_rate(manager_client):
    context = report(manager_client, **PERIOD).context

    assert table(context) == [
        ("Alice Adams", 3, Decimal(1700), 1, 1, 1, 1, 0.5),  # the unknown value left out
        ("Bob Brown", 1, Decimal(500), 0, 1, 2, 1, 2 / 3),
        ("Unassigned", 1, Decimal(200), 1, 0, 0, 1, 0.0),
        # Deactivated users' leads together: the list offers no such owner to link to.
        ("Deactivated users", 1, Decimal(300), 0, 0, 0, 0, None),
    ]
    assert figures(context["total"]) == ("Total", 6, Decimal(2700), 2, 2, 3, 3, 0.5)


@pytest.mark.usefixtures("leads")
def test_the_page_says_what_each_figure_counts(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert "the win rate is won of won and lost" in html
    assert "expected to close before today" in html
    assert "The leads of deactivated users, together" in html
    assert "67%" in html
    assert "€1,700" in html


@pytest.mark.usefixtures("leads")
def test_a_period_without_closed_leads_still_shows_the_open_ones(manager_client):
    context = report(manager_client, **{"from": "2026-06", "to": "2026-07"}).context

    assert table(context)[:3] == [
        ("Alice Adams", 3, Decimal(1700), 1, 1, 0, 0, None),
        ("Bob Brown", 1, Decimal(500), 0, 1, 0, 0, None),
        ("Unassigned", 1, Decimal(200), 1, 0, 0, 0, None),
    ]


def test_nobody_holding_leads_shows_the_unassigned_row_of_zeros(manager_client):
    context = report(manager_client, **PERIOD).context

    assert table(context) == [("Unassigned", 0, None, 0, 0, 0, 0, None)]
    assert "Nobody holds leads here" not in report(manager_client).content.decode()


def test_a_user_without_leads_is_left_out(manager_client, people):
    open_lead("A", people["alice"], 100)

    assert [row.label for row in report(manager_client).context["rows"]] == [
        "Alice Adams",
        "Unassigned",
    ]


# --- scope ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_a_team_shows_each_of_its_members_and_only_them(manager_client, people):
    context = report(manager_client, **PERIOD, assignee=f"team:{people['north'].pk}").context

    assert table(context) == [
        ("Bob Brown", 1, Decimal(500), 0, 1, 2, 1, 2 / 3),
        ("Carol Clark", 0, None, 0, 0, 0, 0, None),  # a member with nothing
    ]
    assert figures(context["total"]) == ("Total", 1, Decimal(500), 0, 1, 2, 1, 2 / 3)
    assert query(context["total"].won_url)["assignee"] == f"team:{people['north'].pk}"


@pytest.mark.usefixtures("leads")
def test_one_owner_or_the_unassigned_alone(manager_client, people):
    alice = report(manager_client, **PERIOD, assignee=people["alice"].pk).context
    nobody = report(manager_client, **PERIOD, assignee="none").context

    assert [row.label for row in alice["rows"]] == ["Alice Adams"]
    assert table(nobody) == [("Unassigned", 1, Decimal(200), 1, 0, 0, 1, 0.0)]


@pytest.mark.usefixtures("leads")
def test_source_and_pipeline_filters(manager_client):
    nameless = report(manager_client, **PERIOD, source="none").context
    partners = PipelineFactory(name="Partners")
    PipelineStageFactory(pipeline=partners, name="Intake", order=1)
    elsewhere = report(manager_client, **PERIOD, pipeline=partners.pk).context

    assert table(nameless) == [
        ("Bob Brown", 0, None, 0, 0, 1, 0, 1.0),
        ("Unassigned", 1, Decimal(200), 1, 0, 0, 0, None),
    ]
    assert table(elsewhere) == [("Unassigned", 0, None, 0, 0, 0, 0, None)]


@pytest.mark.usefixtures("leads")
def test_stale_follows_each_pipelines_own_threshold(manager_client, people):
    partners = PipelineFactory(name="Partners", stale_after_days=60)
    intake = PipelineStageFactory(pipeline=partners, name="Intake", order=1)
    open_lead("P quiet 30 days", people["carol"], 100, quiet=30, stage=intake)

    rows = {row.label: row for row in report(manager_client, **PERIOD).context["rows"]}

    assert (rows["Carol Clark"].open, rows["Carol Clark"].stale) == (1, 0)
    assert rows["Bob Brown"].stale == 1  # 30 days in Sales, which says 14


@pytest.mark.usefixtures("leads")
def test_a_rep_sees_their_own_row_whatever_the_url(alice_client):
    mine = report(alice_client, **PERIOD).context
    asked = report(alice_client, **PERIOD, assignee="none").context

    assert table(mine) == [("Alice Adams", 3, Decimal(1700), 1, 1, 1, 1, 0.5)]
    assert table(asked) == table(mine)
    assert query(mine["total"].open_url)["assignee"] == "me"


# --- links ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_each_figure_links_to_the_list_filtered_to_its_leads(manager_client, people):
    context = report(manager_client, **PERIOD, source="website").context
    alice = context["rows"][0]
    pk = str(people["alice"].pk)

    assert query(alice.open_url) == {"assignee": pk, "source": "website"}
    assert query(alice.overdue_url) == {"assignee": pk, "source": "website", "due": "overdue"}
    assert query(alice.stale_url) == {"assignee": pk, "source": "website", "stale": "1"}
    assert query(alice.won_url) == {
        "assignee": pk,
        "source": "website",
        "status": "won",
        "closed_from": "2026-09-01",
        "closed_to": "2026-11-30",
    }
    unassigned = next(row for row in context["rows"] if row.unassigned)
    assert unassigned.open_url == ""  # its open lead has no source
    assert query(unassigned.lost_url)["assignee"] == "none"


@pytest.mark.usefixtures("leads")
def test_following_a_link_lists_exactly_the_leads_counted(manager_client):
    context = report(manager_client, **PERIOD).context
    alice, bob, nobody, gone = context["rows"]

    assert listed(manager_client, alice.open_url) == ["A dated", "A overdue", "A quiet"]
    assert listed(manager_client, alice.overdue_url) == ["A overdue"]
    assert listed(manager_client, alice.stale_url) == ["A quiet"]
    assert listed(manager_client, alice.won_url) == ["A won"]  # not the one before
    assert listed(manager_client, bob.won_url) == ["B won 1", "B won 2"]
    assert listed(manager_client, bob.lost_url) == ["B lost"]
    assert listed(manager_client, nobody.lost_url) == ["U lost"]
    assert listed(manager_client, context["total"].overdue_url) == ["A overdue", "U overdue"]
    assert gone.open_url == ""  # the list cannot show a deactivated user's leads


@pytest.mark.usefixtures("leads")
def test_zeros_and_the_deactivated_row_link_nowhere(manager_client):
    html = report(manager_client, **PERIOD).content.decode()
    deactivated = html.split("Deactivated users")[1].split("</tr>")[0]

    assert "<a " not in deactivated
    assert "due=overdue" in html


# --- CSV -----------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8").removeprefix("\ufeff"))))


@pytest.mark.usefixtures("leads")
def test_csv_download_holds_the_table(manager_client):
    response = manager_client.get(URL, {**PERIOD, "format": "csv"})

    assert 'filename="team-report-2026-11-30.csv"' in response["Content-Disposition"]
    assert read_csv(response) == [
        [
            "Owner",
            "Open",
            "Open value (EUR)",
            "Overdue",
            "Stale",
            "Won",
            "Lost",
            "Win rate (% of won and lost)",
        ],
        ["Alice Adams", "3", "1700.00", "1", "1", "1", "1", "50.0"],
        ["Bob Brown", "1", "500.00", "0", "1", "2", "1", "66.7"],
        ["Unassigned", "1", "200.00", "1", "0", "0", "1", "0.0"],
        ["Deactivated users", "1", "300.00", "0", "0", "0", "0", ""],
        ["Total", "6", "2700.00", "2", "2", "3", "3", "50.0"],
    ]


def test_csv_makes_a_name_that_looks_like_a_formula_inert(manager_client):
    mallory = RepFactory(username="mallory", first_name="@SUM(A1)", last_name="")
    open_lead("M", mallory, 10)

    rows = read_csv(manager_client.get(URL, {"format": "csv"}))

    assert ["'@SUM(A1)", "1", "10.00", "0", "0", "0", "0", ""] in rows


@pytest.mark.usefixtures("leads")
def test_a_reps_csv_holds_their_own_row(alice_client):
    rows = read_csv(alice_client.get(URL, {**PERIOD, "format": "csv"}))

    assert [row[0] for row in rows] == ["Owner", "Alice Adams", "Total"]


# --- the page ------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_the_table_and_chart_read_to_a_screen_reader(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert "<caption" in html
    assert '<th scope="col" class="num">Win rate</th>' in html
    assert '<th scope="row">Alice Adams</th>' in html
    assert 'role="img" aria-labelledby="team-chart-title team-chart-desc"' in html
    assert "Alice Adams: 1 overdue, 2 open, not overdue." in html
    assert "Deactivated users:" not in html.split("team-chart-desc")[1].split("</desc>")[0]


def test_htmx_gets_the_report_region(manager_client):
    response = manager_client.get(
        URL, PERIOD, headers={"HX-Request": "true", "HX-Target": "team-report"}
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "<h1>Team</h1>" in html


def test_the_navigation_marks_reports_not_the_teams_page(manager_client):
    html = report(manager_client).content.decode()

    assert 'aria-current="page">Reports</a>' in html
    assert 'aria-current="page">Teams</a>' not in html
    assert 'aria-current="page">Leads</a>' not in html
    assert 'aria-current="page">Team</a>' in html  # the reports' own tab


def test_every_signed_in_user_may_read_it(client, reader):
    client.force_login(reader)

    assert client.get(URL).status_code == 200


# --- queries -------------------------------------------------------------------------------


def test_a_constant_number_of_queries_whatever_the_reps_and_leads(
    manager_client, people, django_assert_max_num_queries
):
    owners = RepFactory.create_batch(6)
    for number in range(36):
        owner = owners[number % 6]
        if number % 3:
            stage = ["Won", "Lost"][number % 2]
            closed_lead(f"C{number}", owner, stage, f"2026-{9 + number % 3}-10")
        else:
            open_lead(f"O{number}", owner, number * 10, due="2026-11-01", quiet=number)

    team = f"team:{people['north'].pk}"
    for params in ({}, {"from": "2024-01", "to": "2026-11"}, {"assignee": team}):
        # Session, user, the nav's two permission reads, the filter bar's pipelines,
        # sources, owners and teams, the newest event; then the stages, the open and the
        # closed leads, the people named; a team's members (to filter and to list them).
        with django_assert_max_num_queries(15):
            report(manager_client, **params)
