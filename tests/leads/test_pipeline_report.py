"""The pipeline report: per open stage of one pipeline, its open leads now (count, value,
weighted value, mean days in the stage) and, of the leads that entered it in the period,
how many moved on to a later stage (or were won); every figure links to its leads."""

import csv
import datetime
import io
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from leads import totals
from leads.models import LeadSource, Membership, Team
from leads.services import lead_delete, lead_move_stage
from pipelines.models import PipelineStage
from tests.factories import (
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
    lost,
)

pytestmark = pytest.mark.django_db

URL = "/reports/pipeline/"
TODAY = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)
PERIOD = {"from": "2026-09", "to": "2026-11"}
SALES = ["New", "Contacted", "Qualified", "Proposal", "Negotiation"]


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def moment(text: str) -> datetime.datetime:
    """ "2026-09-10" → noon UTC that day; a full ISO moment as it is."""
    if len(text) == 10:
        text += "T12:00:00+00:00"
    return datetime.datetime.fromisoformat(text)


def journey(title, created, stage, moves=(), *, by, pipeline_stages=None, **kwargs):
    """A lead created at ``created`` in ``stage``, then moved through the services at
    each (moment, stage name) of ``moves``: the stage moves record what the report reads.
    Stage names are the default pipeline's unless ``pipeline_stages`` names others."""

    def find(name):
        if pipeline_stages and name in pipeline_stages:
            return pipeline_stages[name]
        return default_stage(name)

    with time_machine.travel(moment(created), tick=False):
        lead = LeadFactory(title=title, stage=find(stage), **kwargs)
    for when, name in moves:
        with time_machine.travel(moment(when), tick=False):
            target = find(name)
            closing = lost() if target.kind == PipelineStage.Kind.LOST else None
            lead_move_stage(lead_id=lead.pk, stage=target, by=by, closing=closing)
    return lead


@pytest.fixture
def partners():
    pipeline = PipelineFactory(name="Partners")
    return {
        "pipeline": pipeline,
        "Lead in": PipelineStageFactory(pipeline=pipeline, name="Lead in", order=1),
        "Pitch": PipelineStageFactory(pipeline=pipeline, name="Pitch", order=2),
        "Signed": PipelineStageFactory(
            pipeline=pipeline, name="Signed", order=3, kind=PipelineStage.Kind.WON
        ),
    }


@pytest.fixture
def leads(manager, rep, other_rep, partners):
    """Leads that went through the Sales stages before and during September to November
    2026, by their stage moves (the comments say what each shows)."""
    referral = LeadSource.objects.get(slug="referral")
    made = {
        # Contacted and on to Qualified in the period; New was entered before it.
        "A": journey(
            "A", "2026-08-15", "New", [("2026-09-10", "Contacted"), ("2026-10-01", "Qualified")],
            by=manager, value=1000, assignee=rep,
        ),
        # Lost, and reopened into Contacted, then on to Proposal: it moved on.
        "B": journey(
            "B", "2026-09-05", "New",
            [("2026-09-20", "Contacted"), ("2026-10-05", "Lost"), ("2026-10-20", "Contacted"),
             ("2026-11-10", "Proposal")],
            by=manager, value=2000, assignee=rep,
        ),
        # Won straight from New: winning passes every open stage.
        "C": journey("C", "2026-09-01", "New", [("2026-10-15", "Won")], by=manager, value=700),
        # Created in Qualified (no move says so but its own stage), then lost.
        "D": journey("D", "2026-10-01", "Qualified", [("2026-10-20", "Lost")], by=manager),
        # Created in New in the period, never moved, no value and no source.
        "E": journey("E", "2026-11-01", "New", by=manager, value=None, source=None),
        # Proposal, lost, and back into Proposal: it entered Proposal once.
        "F": journey(
            "F", "2026-09-03", "Proposal", [("2026-09-15", "Lost"), ("2026-10-10", "Proposal")],
            by=manager, value=3000, assignee=other_rep,
        ),
        # In Contacted since July (before the period); Negotiation in it, then won.
        "G": journey(
            "G", "2026-07-01", "New",
            [("2026-07-10", "Contacted"), ("2026-09-15", "Negotiation"), ("2026-11-20", "Won")],
            by=manager, value=5000,
        ),
        # Back from Proposal to Qualified, and on to Proposal again.
        "K": journey(
            "K", "2026-09-02", "Proposal",
            [("2026-09-12", "Qualified"), ("2026-09-25", "Proposal")],
            by=manager, value=4000, assignee=other_rep, source=referral,
        ),
        # Another pipeline's stages: not Sales'.
        "H": journey(
            "H", "2026-09-10", "Lead in", [("2026-09-20", "Pitch"), ("2026-10-10", "Signed")],
            by=manager, pipeline_stages=partners, value=900,
        ),
    }  # fmt: skip
    # Entered New and Contacted in the period, then deleted: gone from the report too.
    deleted = journey("Z", "2026-09-10", "New", [("2026-09-15", "Contacted")], by=manager)
    with time_machine.travel(moment("2026-09-16"), tick=False):
        lead_delete(lead_id=deleted.pk, by=manager)
    return made


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def conversion(context) -> list[tuple]:
    return [(row.label, row.entered, row.moved_on) for row in context["rows"]]


def now(context) -> list[tuple]:
    rows = context["rows"]
    return [(row.label, row.count, row.value, row.weighted, row.age_days) for row in rows]


def titles(client, url: str) -> list[str]:
    listed = client.get(url).context["page_obj"].object_list
    return sorted(lead.title for lead in listed)


# --- figures -------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_open_leads_per_stage_now_with_value_weighted_value_and_mean_age(manager_client):
    context = report(manager_client, **PERIOD).context

    assert now(context) == [
        ("New", 1, Decimal(0), Decimal(0), 29),  # E: no value, counted, adds nothing
        ("Contacted", 0, Decimal(0), Decimal(0), None),
        ("Qualified", 1, Decimal(1000), Decimal(400), 60),  # A at 40 %
        # B 2000 × 60 %, F 3000 × 60 %, K 4000 × 60 %; 20, 51 and 66 days: 45.67
        ("Proposal", 3, Decimal(9000), Decimal(5400), 46),
        ("Negotiation", 0, Decimal(0), Decimal(0), None),
    ]
    total = context["total"]
    assert (total.count, total.value, total.weighted, total.age_days) == (
        5,
        Decimal(10000),
        Decimal(5800),
        45,  # (29 + 60 + 20 + 51 + 66) / 5
    )


@pytest.mark.usefixtures("leads")
def test_conversion_of_the_leads_that_entered_each_stage_in_the_period(manager_client):
    context = report(manager_client, **PERIOD).context

    assert conversion(context) == [
        ("New", 3, 2),  # B, C (won) and E entered; B and C moved on. A entered in August.
        ("Contacted", 2, 2),  # A, and B before it was lost; G entered in July
        ("Qualified", 3, 1),  # A (still there), D (created there, lost), K (moved on)
        ("Proposal", 3, 0),  # B, F and K: each once, though F and K entered it twice
        ("Negotiation", 1, 1),  # G, won
    ]
    assert [row.conversion for row in context["rows"]] == [2 / 3, 1, 1 / 3, 0, 1]


@pytest.mark.usefixtures("leads")
def test_the_period_bounds_the_entries_not_what_followed(manager_client):
    context = report(manager_client, **{"from": "2026-09", "to": "2026-10"}).context

    assert conversion(context) == [
        ("New", 2, 2),  # E entered in November; B's Proposal in November still counts
        ("Contacted", 2, 2),
        ("Qualified", 3, 1),
        ("Proposal", 2, 0),  # B entered it in November
        ("Negotiation", 1, 1),  # G was won in November: it moved on all the same
    ]


@pytest.mark.usefixtures("leads")
def test_a_stage_entered_just_after_midnight_local_time_is_in_the_period(manager, manager_client):
    # 1 September 00:30 in Amsterdam is 31 August 22:30 UTC; 23:30 the day before is not.
    journey("L", "2026-08-31T22:30:00+00:00", "New", by=manager)
    journey("M", "2026-08-31T21:30:00+00:00", "New", [("2026-09-03", "Contacted")], by=manager)

    rows = conversion(report(manager_client, **PERIOD).context)

    assert rows[0] == ("New", 4, 2)  # L, not M
    assert rows[1] == ("Contacted", 3, 2)  # M entered Contacted on 3 September


def test_only_the_chosen_pipelines_stages(manager_client, leads, partners):
    context = report(manager_client, **PERIOD, pipeline=partners["pipeline"].pk).context

    assert conversion(context) == [("Lead in", 1, 1), ("Pitch", 1, 1)]  # H, signed
    assert now(context) == [
        ("Lead in", 0, Decimal(0), Decimal(0), None),
        ("Pitch", 0, Decimal(0), Decimal(0), None),
    ]
    assert context["pipeline_name"] == "Partners"


@pytest.mark.usefixtures("leads")
def test_the_default_pipeline_unless_one_is_chosen_and_no_all_pipelines(manager_client):
    context = report(manager_client).context

    assert [row.label for row in context["rows"]] == SALES
    assert context["filters"].pipeline == str(default_stage().pipeline_id)
    choices = [label for _value, label in context["form"].fields["pipeline"].choices]
    assert "All pipelines" not in choices
    assert choices[0] == "Sales"


def test_an_unknown_pipeline_shows_the_default_one_and_says_so(manager_client):
    context = report(manager_client, pipeline="999999").context

    assert [row.label for row in context["rows"]] == SALES
    assert context["filters"].problems == ["There is no such pipeline: showing Sales."]


def test_owner_filter(manager_client, leads, other_rep):
    context = report(manager_client, **PERIOD, assignee=other_rep.pk).context

    # F and K: Proposal now and entered; K entered Qualified and moved on.
    assert conversion(context) == [
        ("New", 0, 0),
        ("Contacted", 0, 0),
        ("Qualified", 1, 1),
        ("Proposal", 2, 0),
        ("Negotiation", 0, 0),
    ]
    assert context["total"].count == 2


def test_team_as_owner(manager_client, leads, other_rep):
    team = Team.objects.create(name="North")
    Membership.objects.create(team=team, user=other_rep)

    context = report(manager_client, **PERIOD, assignee=f"team:{team.pk}").context

    assert conversion(context)[3] == ("Proposal", 2, 0)
    url = context["rows"][3].entered_url
    assert parse_qs(urlsplit(url).query)["assignee"] == [f"team:{team.pk}"]
    assert titles(manager_client, url) == ["F", "K"]


@pytest.mark.usefixtures("leads")
def test_source_filter_and_leads_without_source(manager_client):
    referral = report(manager_client, **PERIOD, source="referral").context
    none = report(manager_client, **PERIOD, source="none").context

    assert conversion(referral) == [
        ("New", 0, 0),
        ("Contacted", 0, 0),
        ("Qualified", 1, 1),
        ("Proposal", 1, 0),
        ("Negotiation", 0, 0),
    ]
    assert conversion(none)[0] == ("New", 1, 0)  # E
    assert now(none)[0] == ("New", 1, Decimal(0), Decimal(0), 29)
    assert none["total"].count == 1


@pytest.mark.usefixtures("leads")
def test_a_rep_sees_their_own_figures_whatever_the_url(rep_client, other_rep):
    mine = report(rep_client, **PERIOD).context
    asked = report(rep_client, **PERIOD, assignee=other_rep.pk).context

    # A and B: both entered Contacted and moved on; B entered New, A is in Qualified.
    assert conversion(mine) == [
        ("New", 1, 1),
        ("Contacted", 2, 2),
        ("Qualified", 1, 0),
        ("Proposal", 1, 0),
        ("Negotiation", 0, 0),
    ]
    assert conversion(asked) == conversion(mine)
    assert "assignee" not in mine["form"].fields


# --- links ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_every_figure_links_to_exactly_its_leads(manager_client):
    context = report(manager_client, **PERIOD).context
    rows = {row.label: row for row in context["rows"]}

    expected = {
        "New": (["E"], ["B", "C", "E"], ["B", "C"]),
        "Contacted": ([], ["A", "B"], ["A", "B"]),
        "Qualified": (["A"], ["A", "D", "K"], ["K"]),
        "Proposal": (["B", "F", "K"], ["B", "F", "K"], []),
        "Negotiation": ([], ["G"], ["G"]),
    }
    for label, (open_now, entered, moved_on) in expected.items():
        row = rows[label]
        assert titles(manager_client, row.url) == open_now, label
        assert titles(manager_client, row.age_url) == open_now, label
        assert titles(manager_client, row.entered_url) == entered, label
        assert titles(manager_client, row.moved_on_url) == moved_on, label
    assert titles(manager_client, context["total"].url) == ["A", "B", "E", "F", "K"]


def test_the_links_carry_the_period_the_stage_and_the_scope(manager_client, leads, rep):
    context = report(manager_client, **PERIOD, assignee=rep.pk, source="website").context
    row = context["rows"][1]

    assert parse_qs(urlsplit(row.moved_on_url).query) == {
        "status": ["all"],
        "entered_stage": [str(default_stage("Contacted").pk)],
        "entered_from": ["2026-09-01"],
        "entered_to": ["2026-11-30"],
        "moved_on": ["1"],
        "pipeline": [str(default_stage().pipeline_id)],
        "assignee": [str(rep.pk)],
        "source": ["website"],
    }
    assert parse_qs(urlsplit(row.url).query)["stage"] == [str(default_stage("Contacted").pk)]
    assert titles(manager_client, row.moved_on_url) == ["A", "B"]


@pytest.mark.usefixtures("leads")
def test_zeros_link_nowhere(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    contacted = str(default_stage("Contacted").pk)
    assert f"entered_stage={contacted}&amp;" in html  # entered, and moved on
    assert f"stage={contacted}&amp;pipeline" not in html  # no open lead in Contacted now


# --- the list's filters for them -------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_the_list_filters_by_stage_entered_in_a_period_and_moved_on(manager_client):
    qualified = default_stage("Qualified").pk
    url = reverse("leads:list")

    entered = {"entered_stage": qualified, "entered_from": "2026-09-01", "entered_to": "2026-11-30"}
    assert titles(manager_client, f"{url}?status=all&{urlencode(entered)}") == ["A", "D", "K"]
    assert titles(manager_client, f"{url}?{urlencode(entered)}") == ["A", "D", "K"]  # any status
    assert titles(manager_client, f"{url}?{urlencode(entered)}&moved_on=1") == ["K"]
    ever = {"entered_stage": qualified}
    assert titles(manager_client, f"{url}?{urlencode(ever)}") == ["A", "D", "K"]
    october = {"entered_stage": qualified, "entered_from": "2026-10-01"}
    assert titles(manager_client, f"{url}?{urlencode(october)}") == ["A", "D"]


@pytest.mark.usefixtures("leads")
def test_the_list_shows_the_entered_filters_as_chips_and_keeps_them(manager_client):
    qualified = default_stage("Qualified").pk
    response = manager_client.get(
        reverse("leads:list"),
        {"entered_stage": qualified, "entered_from": "2026-09-01", "moved_on": "1"},
    )
    html = response.content.decode()

    labels = [chip["label"] for chip in response.context["chips"]]
    assert "Entered Qualified (Sales)" in labels
    assert "Moved on to a later stage" in labels
    assert f'<input type="hidden" name="entered_stage" value="{qualified}">' in html
    assert '<input type="hidden" name="moved_on" value="1">' in html


def urlencode(params: dict) -> str:
    from urllib.parse import urlencode as encode

    return encode(params)


# --- download ------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_csv_download_of_the_table(manager_client):
    response = manager_client.get(URL, {**PERIOD, "format": "csv"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="pipeline-2026-11-30.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Stage",
        "Open leads",
        "Value (EUR)",
        "Weighted value (EUR)",
        "Mean days in stage",
        "Entered 2026-09 to 2026-11",
        "Moved on",
        "Conversion (%)",
    ]
    assert rows[1] == ["New", "1", "0.00", "0.00", "29.0", "3", "2", "66.7"]
    assert rows[4] == ["Proposal", "3", "9000.00", "5400.00", "45.7", "3", "0", "0.0"]
    assert rows[-1] == ["All open stages", "5", "10000.00", "5800.00", "45.2", "", "", ""]


def test_csv_cells_cannot_run_as_formulas(manager_client):
    stage = default_stage("Qualified")
    stage.name = "=HYPERLINK(1)"
    stage.save()

    response = manager_client.get(URL, {"format": "csv"})

    assert "\r\n'=HYPERLINK(1),0," in response.content.decode()


# --- the page ------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_the_page_has_a_table_and_a_funnel_chart(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert "<caption" in html
    assert '<th scope="colgroup" colspan="4">Open now</th>' in html
    assert '<th scope="row">Qualified</th>' in html
    assert '<svg class="report-chart-svg funnel-chart"' in html
    assert "Qualified: 3 entered, 33% moved on." in html
    assert html.count('class="chart-bar funnel-bar"') == 5 + 1  # every stage, and the legend
    assert "Download CSV" in html
    assert "?from=2026-09&amp;to=2026-11&amp;format=csv" in html
    assert "style=" not in html.split('<div id="pipeline-report">')[1]  # CSP: no inline style


def test_htmx_gets_the_report_region(manager_client):
    response = manager_client.get(
        URL, PERIOD, headers={"HX-Request": "true", "HX-Target": "pipeline-report"}
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "<h1>Pipeline</h1>" in html


def test_sign_in_is_required(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_tab_among_the_reports(manager_client):
    html = report(manager_client).content.decode()

    tabs = html.split('class="report-tabs"')[1].split("</nav>")[0]
    assert tabs.index("Forecast") < tabs.index("Pipeline") < tabs.index("Win/loss")
    assert f'<a href="{URL}" aria-current="page">Pipeline</a>' in tabs


# --- queries and cache ---------------------------------------------------------------------


def test_a_constant_number_of_queries_whatever_the_data(
    manager, manager_client, django_assert_max_num_queries
):
    for number in range(3):
        journey(f"Q{number}", "2026-09-01", "New", [("2026-10-01", "Contacted")], by=manager)
    with django_assert_max_num_queries(14):
        report(manager_client, **PERIOD)
    owners = RepFactory.create_batch(3)
    for number, owner in enumerate(owners * 3):
        journey(
            f"R{number}", "2026-09-02", "New",
            [("2026-09-03", "Qualified"), ("2026-09-04", "Lost"), ("2026-09-05", "Proposal")],
            by=manager, assignee=owner,
        )  # fmt: skip
    for params in ({}, PERIOD, {"assignee": owners[0].pk}, {"source": "none"}):
        with django_assert_max_num_queries(14):
            report(manager_client, **params)


def test_the_open_leads_are_counted_again_after_a_write_the_conversion_held(
    manager, manager_client, monkeypatch
):
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 0)
    cache.clear()
    lead = journey("A", "2026-09-01", "New", by=manager)
    first = report(manager_client, **PERIOD).context
    assert (first["rows"][0].count, first["rows"][0].entered) == (1, 1)
    assert first["held"]

    with time_machine.travel(moment("2026-11-30T12:00:00+00:00"), tick=False):
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Contacted"), by=manager)
    after = report(manager_client, **PERIOD).context

    assert (after["rows"][0].count, after["rows"][1].count) == (0, 1)  # counted again
    assert (after["rows"][0].moved_on, after["rows"][1].entered) == (0, 0)  # held
    assert "Conversion as of 13:00, counted again every 10 minutes." in (
        report(manager_client, **PERIOD).content.decode()
    )
    cache.clear()
