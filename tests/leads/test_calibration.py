"""The calibration report: for the leads closed in a period, the win rate per rating
band, score bucket and stage passed, next to what the score or the stage predicted."""

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from leads import totals
from leads.models import LeadEvent
from pipelines.models import PipelineStage
from tests.factories import LeadFactory, PipelineFactory, PipelineStageFactory, default_stage

pytestmark = pytest.mark.django_db

URL = "/reports/calibration/"
TODAY = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)
PERIOD = {"from": "2026-09", "to": "2026-11"}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def closed(score, *, won: bool, on="2026-10-15", moves=(), **kwargs):
    """A lead closed on ``on`` with this score, and its stage moves (pairs of stage
    names, the last into the won or lost stage added here)."""
    final = kwargs.pop("stage", None) or default_stage("Won" if won else "Lost")
    lead = LeadFactory(
        stage=final, score=score, actual_close_date=datetime.date.fromisoformat(on), **kwargs
    )
    path = [(default_stage(old), default_stage(new)) for old, new in moves]
    if moves:
        path.append((default_stage(moves[-1][1]), final))
    LeadEvent.objects.bulk_create(
        LeadEvent(
            lead=lead,
            kind=LeadEvent.Kind.STAGE_CHANGED,
            data={"old": old.name, "new": new.name, "old_id": old.pk, "new_id": new.pk},
        )
        for old, new in path
    )
    return lead


@pytest.fixture
def leads():
    """60 hot leads (45 won), 12 warm (3 won), 2 unscored, none cold; one out of the period.

    Every hot lead moved New → Contacted → closed; five of the won ones went back to
    New and on to Contacted again (each stage still counts them once).
    """
    forward = [("New", "Contacted")]
    back_and_forth = [("New", "Contacted"), ("Contacted", "New"), ("New", "Contacted")]
    for n in range(30):  # score 80: 24 won
        closed(80, won=n < 24, moves=back_and_forth if n < 5 else forward)
    for n in range(30):  # score 90: 21 won
        closed(90, won=n < 21, moves=forward)
    for n in range(12):  # warm, never moved (created in Proposal? no event says)
        closed(50, won=n < 3)
    closed(None, won=False)
    closed(None, won=False)
    closed(80, won=True, on="2026-08-31", moves=forward)  # before the period
    LeadFactory(score=95)  # open: not closed, not counted


def report(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def figures(rows) -> list[tuple]:
    return [(row.label, row.closed, row.won, row.actual, row.predicted) for row in rows]


def query(url: str) -> dict:
    parts = urlsplit(url)
    assert parts.path == reverse("leads:list")
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


# --- figures -------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_per_rating_band_the_win_rate_against_the_mean_score(manager_client):
    bands = report(manager_client, **PERIOD).context["bands"]

    assert figures(bands) == [
        ("Hot", 60, 45, 0.75, 0.85),
        ("Warm", 12, 3, 0.25, 0.50),
        ("Cold", 0, 0, None, None),
        ("Unscored", 2, 0, 0.0, None),
    ]
    assert bands[0].difference_label == "−10 pts"
    assert [band.enough for band in bands] == [True, False, False, False]


@pytest.mark.usefixtures("leads")
def test_per_score_bucket_the_win_rate_against_the_buckets_mean_score(manager_client):
    buckets = report(manager_client, **PERIOD).context["buckets"]

    assert [row.label for row in buckets] == [
        "0–9", "10–19", "20–29", "30–39", "40–49", "50–59", "60–69", "70–79", "80–89", "90–100",
    ]  # fmt: skip
    assert figures(buckets[5:]) == [
        ("50–59", 12, 3, 0.25, 0.50),
        ("60–69", 0, 0, None, None),
        ("70–79", 0, 0, None, None),
        ("80–89", 30, 24, 0.8, 0.8),
        ("90–100", 30, 21, 0.7, 0.9),
    ]
    assert sum(row.closed for row in buckets) == 72  # the unscored are in no bucket
    assert buckets[8].difference_label == "±0 pts"
    assert buckets[9].difference_label == "−20 pts"


def test_a_score_of_100_is_in_the_last_bucket(manager_client):
    closed(100, won=True)

    buckets = report(manager_client).context["buckets"]

    assert (buckets[-1].closed, buckets[-1].predicted) == (1, 1.0)


@pytest.mark.usefixtures("leads")
def test_per_stage_the_share_won_of_the_closed_leads_that_passed_it(manager_client):
    (group,) = report(manager_client, **PERIOD).context["stages"]

    assert group.pipeline == "Sales"
    assert figures(group.rows) == [
        # New: only ever left (the leads were created there), yet passed.
        ("New", 60, 45, 0.75, 0.10),
        ("Contacted", 60, 45, 0.75, 0.20),  # the five moved back count once
        ("Qualified", 0, 0, None, 0.40),
        ("Proposal", 0, 0, None, 0.60),
        ("Negotiation", 0, 0, None, 0.80),
    ]
    assert group.rows[0].difference_label == "+65 pts"


# --- the minimum sample and the empty page -------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_fewer_than_fifty_closed_leads_show_no_rate_but_how_many_are_missing(manager_client):
    html = report(manager_client, **PERIOD).content.decode()

    assert "Not enough closed leads yet: 12 of the 50 needed" in html
    assert "Not enough closed leads yet: 0 of the 50 needed" in html
    assert '<td class="num">75%</td>' in html  # the hot band's rate
    assert '<td class="num">25%</td>' not in html  # the warm band's is not shown


def test_nothing_closed_shows_an_empty_state(manager_client):
    LeadFactory(score=80)  # open

    html = report(manager_client).content.decode()

    assert "No lead was won or lost in this period" in html
    assert "calibration-plot" not in html


# --- filters -------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_the_period_counts_the_leads_closed_in_it(manager_client):
    hot = report(manager_client, **{"from": "2026-08", "to": "2026-08"}).context["bands"][0]
    assert (hot.closed, hot.won) == (1, 1)

    hot = report(manager_client).context["bands"][0]  # the last 12 months: both
    assert (hot.closed, hot.won) == (61, 46)


@pytest.mark.usefixtures("leads")
def test_the_pipeline_filter_counts_only_that_pipelines_leads_and_stages(manager_client):
    partners = PipelineFactory(name="Partners")
    lead_in = PipelineStageFactory(pipeline=partners, name="Lead in", order=1, probability=30)
    signed = PipelineStageFactory(
        pipeline=partners, name="Signed", order=2, kind=PipelineStage.Kind.WON, probability=100
    )
    lead = LeadFactory(stage=signed, score=20, actual_close_date=datetime.date(2026, 11, 2))
    LeadEvent.objects.create(
        lead=lead,
        kind=LeadEvent.Kind.STAGE_CHANGED,
        data={"old_id": lead_in.pk, "new_id": signed.pk, "old": "Lead in", "new": "Signed"},
    )

    context = report(manager_client, **PERIOD, pipeline=partners.pk).context

    assert [(band.closed, band.won) for band in context["bands"]] == [
        (0, 0),
        (0, 0),
        (1, 1),
        (0, 0),
    ]
    (group,) = context["stages"]
    assert figures(group.rows) == [("Lead in", 1, 1, 1.0, 0.30)]
    every = report(manager_client, **PERIOD).context["stages"]
    assert [g.pipeline for g in every] == ["Sales", "Partners"]


# --- links ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_band_counts_link_to_the_list_by_rating_period_and_status(manager_client):
    hot = report(manager_client, **PERIOD, pipeline="1").context["bands"][0]

    assert query(hot.closed_url) == {
        "closed_from": "2026-09-01",
        "closed_to": "2026-11-30",
        "pipeline": "1",
        "rating": "hot",
    }
    assert query(hot.won_url)["status"] == "won"
    html = report(manager_client, **PERIOD).content.decode()
    assert "status=won&amp;closed_from=2026-09-01&amp;closed_to=2026-11-30&amp;rating=hot" in html


# --- the page ------------------------------------------------------------------------------


@pytest.mark.usefixtures("leads")
def test_renders_the_plot_as_svg_with_a_text_alternative(manager_client):
    for _ in range(20):
        closed(85, won=True)  # 80–89 now has 50 closed leads, 44 won, a mean score of 82

    html = report(manager_client, **PERIOD).content.decode()

    assert '<svg class="calibration-plot"' in html
    assert 'role="img" aria-labelledby="plot-title plot-desc"' in html
    assert "Scores 80–89: predicted 82%, actual 88%." in html
    assert "Scores 90–100" not in html  # 30 leads: too few to plot
    assert html.count('<g class="chart-point">') == 1
    assert 'class="chart-diagonal"' in html
    assert "<caption" in html
    assert "style=" not in html.split('id="calibration"')[1]


def test_sign_in_is_required(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_every_signed_in_user_may_read_it(client, reader):
    client.force_login(reader)
    assert client.get(URL).status_code == 200


def test_both_reports_link_to_each_other_and_mark_the_current_one(manager_client):
    calibration = report(manager_client).content.decode()
    win_loss = manager_client.get(reverse("leads:win_loss")).content.decode()

    for html in (calibration, win_loss):
        assert '<nav class="report-tabs" aria-label="Reports">' in html
    assert f'<a href="{URL}" aria-current="page">Calibration</a>' in calibration
    assert '<a href="/reports/win-loss/" aria-current="page">Win/loss</a>' in win_loss


def test_htmx_gets_the_report_region(manager_client):
    response = manager_client.get(URL, headers={"HX-Request": "true", "HX-Target": "calibration"})

    html = response.content.decode()
    assert "<html" not in html
    assert "<h1>Calibration</h1>" in html


def test_a_constant_number_of_queries_whatever_the_data(
    manager_client, django_assert_max_num_queries
):
    for score in range(0, 101, 5):
        closed(score, won=score % 2 == 0, moves=[("New", "Qualified")])

    for params in ({}, PERIOD, {"pipeline": "1"}):
        # Two of them read the user's permissions, for the nav's Teams link; two the
        # filter bar's sources and teams.
        with django_assert_max_num_queries(16):
            report(manager_client, **params)


def test_a_large_periods_figures_are_held_for_ten_minutes_whatever_is_written(
    manager_client, monkeypatch
):
    monkeypatch.setattr(totals, "CACHE_MIN_COUNT", 1)
    cache.clear()
    closed(80, won=True)
    assert report(manager_client).context["bands"][0].closed == 1

    LeadEvent.objects.create(lead=closed(80, won=True), kind=LeadEvent.Kind.NOTE, data={})
    response = report(manager_client)
    assert response.context["bands"][0].closed == 1  # held, and the page says since when
    assert "Figures as of 13:00, counted again every 10 minutes." in response.content.decode()

    with time_machine.travel(TODAY + datetime.timedelta(minutes=11), tick=False):
        cache.clear()  # the memory cache expires by the real clock: as it would by then
        assert report(manager_client).context["bands"][0].closed == 2
    cache.clear()


def test_a_small_periods_figures_are_always_counted_afresh(manager_client):
    closed(80, won=True)
    assert report(manager_client).context["bands"][0].closed == 1

    closed(80, won=True)  # even without an event
    response = report(manager_client)
    assert response.context["bands"][0].closed == 2
    assert "counted again" not in response.content.decode()


@pytest.mark.usefixtures("leads")
def test_each_table_downloads_as_csv(manager_client):
    import csv
    import io

    def rows(table):
        response = manager_client.get(URL, {**PERIOD, "format": "csv", "table": table})
        assert response["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))

    bands = rows("bands")
    assert bands[0] == ["Rating", "Closed", "Won", "Actual win rate", "Predicted win rate"]
    # A rate shows only where enough leads closed to say (Warm's 12 do not).
    assert bands[1:] == [
        ["Hot", "60", "45", "0.75", "0.85"],
        ["Warm", "12", "3", "", "0.5"],
        ["Cold", "0", "0", "", ""],
        ["Unscored", "2", "0", "", ""],
    ]
    assert rows("buckets")[0][0] == "Score"
    stages = rows("stages")
    assert stages[0][:2] == ["Pipeline", "Stage passed"]
    assert len(stages) == 1 + sum(
        len(group.rows) for group in report(manager_client, **PERIOD).context["stages"]
    )
    assert "table=stages" in report(manager_client, **PERIOD).content.decode()
