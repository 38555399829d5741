"""The calibration report: do scores and stage probabilities say what happens?

For the leads that closed in a period (by their close date, the win/loss page's period
and filters), the actual win rate next to what was predicted:

- per rating band (hot, warm, cold, unscored) and per 10-point score bucket: the share
  won against the mean score of its leads (a lead scoring 82 "implies" 82 %);
- per open stage: the share won of the closed leads that passed the stage, against the
  stage's probability. A lead passed a stage when one of its stage moves entered it or
  left it (the created event does not name the stage, so leaving it is how a lead
  created there shows).

Two grouped queries: the closed leads by score and stage (a few hundred rows at most),
and their stage moves, counted per open stage and closed stage. Cached like the
win/loss figures (``cached_for_filters``), but a large period's figures are held for ten
minutes even when leads are written meanwhile (``HOLD_SECONDS``).
"""

import math
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from pipelines.models import PipelineStage

from . import totals
from .models import LeadEvent, Status
from .reports import Filters, ListLinks, ReportView, closed_leads, csv_response, csv_urls
from .scoring import Rating, ScoringSettings
from .totals import cached_for_filters

#: Fewer closed leads than this say too little to compare a rate with its prediction.
MIN_SAMPLE = 50
#: How long the figures of a large period are kept, whatever is written meanwhile: one
#: write moves a rate over thousands of closed leads by a hair, and reading the stage
#: moves of a year's closed leads takes seconds at a million leads (docs/PERFORMANCE.md).
HOLD_SECONDS = 10 * 60
BUCKET = 10


# --- the queries -------------------------------------------------------------------------


def calibration_figures(filters: Filters, *, user) -> dict:
    """The period's closed leads counted by score and by the open stages they passed.

    - ``scores``: (score, won, count) for every score (None: unscored);
    - ``stages``: {stage id: (closed leads that passed it, of them won)}.
    """
    rows = list(PipelineStage.objects.values_list("pk", "kind", "pipeline_id"))
    kinds = {pk: kind for pk, kind, _pipeline in rows}
    won_stages = [pk for pk, kind in kinds.items() if kind == PipelineStage.Kind.WON]
    lost_stages = [pk for pk, kind in kinds.items() if kind == PipelineStage.Kind.LOST]
    open_stages = [  # the chosen pipeline's only: the others' would count nothing
        pk
        for pk, kind, pipeline in rows
        if kind == PipelineStage.Kind.OPEN
        and (not filters.pipeline or str(pipeline) == filters.pipeline)
    ]
    leads = closed_leads(filters, user=user)
    scores = defaultdict(int)
    for row in leads.values("stored_score__score", "stage_id").annotate(n=Count("pk")).order_by():
        kind = kinds.get(row["stage_id"])
        if kind in (PipelineStage.Kind.WON, PipelineStage.Kind.LOST):  # not a stray date
            scores[(row["stored_score__score"], kind == PipelineStage.Kind.WON)] += row["n"]
    stages = {}
    if scores and open_stages:
        # One row per closed stage, two distinct counts per open stage: a lead moved
        # back and forth through a stage counts once.
        moves = LeadEvent.objects.filter(
            kind=LeadEvent.Kind.STAGE_CHANGED,
            lead__in=leads.filter(stage_id__in=[*won_stages, *lost_stages]),
        ).annotate(entered=KT("data__new_id"), left=KT("data__old_id"))
        passed = {
            f"s{pk}": Count("lead_id", distinct=True, filter=Q(entered=str(pk)) | Q(left=str(pk)))
            for pk in open_stages
        }
        counts = {pk: [0, 0] for pk in open_stages}
        for row in moves.values("lead__stage_id").annotate(**passed).order_by():
            won = row["lead__stage_id"] in won_stages
            for pk in open_stages:
                counts[pk][0] += row[f"s{pk}"]
                counts[pk][1] += row[f"s{pk}"] if won else 0
        stages = {pk: (passed, won) for pk, (passed, won) in counts.items()}
    return {
        "scores": [(score, won, n) for (score, won), n in scores.items()],
        "stages": stages,
        "count": sum(scores.values()),
        "as_of": timezone.now(),
    }


# --- what the page shows -----------------------------------------------------------------


@dataclass
class Row:
    """A band, bucket or stage: its closed and won leads, the actual win rate and the
    rate predicted for them (a fraction), with links to the leads where the list can
    show them."""

    label: str
    closed: int = 0
    won: int = 0
    predicted: float | None = None
    score_total: int = 0  # for the mean score
    closed_url: str = ""
    won_url: str = ""

    @property
    def enough(self) -> bool:
        return self.closed >= MIN_SAMPLE

    @property
    def actual(self) -> float | None:
        return self.won / self.closed if self.closed else None

    @property
    def difference(self) -> float | None:
        """Actual minus predicted, in percentage points' fraction (0.05 = 5 points)."""
        if self.actual is None or self.predicted is None:
            return None
        return self.actual - self.predicted

    @property
    def difference_label(self) -> str:
        """ "+5 pts", "−12 pts", "±0 pts": actual against predicted, in percentage points."""
        if self.difference is None:
            return "—"
        points = math.floor(self.difference * 100 + 0.5)  # half up, as ``share`` rounds
        sign = "+" if points > 0 else "−" if points < 0 else "±"
        # Translators: percentage points, as in "+5 pts" (the sign comes with the number).
        return _("%(sign)s%(points)s pts") % {"sign": sign, "points": abs(points)}


def _add(row: Row, score: int | None, won: bool, count: int) -> None:
    row.closed += count
    row.won += count if won else 0
    row.score_total += (score or 0) * count


def _mean(rows: list[Row]) -> None:
    for row in rows:
        if row.closed and row.predicted is None:
            row.predicted = row.score_total / row.closed / 100


def bands(figures: dict, settings: ScoringSettings, filters: Filters, link: ListLinks):
    rows = {rating: Row(str(label)) for rating, label in Rating.choices}
    unscored = Row(_("Unscored"))
    for score, won, count in figures["scores"]:
        _add(rows[settings.rating(score)] if score is not None else unscored, score, won, count)
    _mean(list(rows.values()))
    for rating, row in rows.items():
        if row.closed:
            row.closed_url = link.closed(filters.start, filters.end, rating=rating)
        if row.won:
            row.won_url = link(Status.WON, filters.start, filters.end, rating=rating)
    return [*rows.values(), unscored]


def buckets(figures: dict) -> list[Row]:
    rows = [Row(f"{low}–{low + BUCKET - 1 if low < 90 else 100}") for low in range(0, 100, BUCKET)]
    for score, won, count in figures["scores"]:
        if score is not None:
            _add(rows[min(score // BUCKET, len(rows) - 1)], score, won, count)
    _mean(rows)
    return rows


@dataclass
class StageGroup:
    pipeline: str
    rows: list[Row]


def stage_rows(figures: dict, filters: Filters) -> list[StageGroup]:
    """The open stages in order, per pipeline (only the chosen one when one is)."""
    stages = PipelineStage.objects.filter(kind=PipelineStage.Kind.OPEN).select_related("pipeline")
    if filters.pipeline:
        stages = stages.filter(pipeline_id=filters.pipeline)
    groups: dict[int, StageGroup] = {}
    for stage in stages.order_by("-pipeline__is_default", "pipeline__name", "order", "pk"):
        passed, won = figures["stages"].get(stage.pk, (0, 0))
        group = groups.setdefault(stage.pipeline_id, StageGroup(stage.pipeline.name, []))
        group.rows.append(
            Row(
                stage.name,
                closed=passed,
                won=won,
                predicted=stage.probability / 100 if stage.probability is not None else None,
            )
        )
    return list(groups.values())


#: The plot's geometry, in SVG user units: a square of PLOT, margins for the axes.
PLOT = 240
MARGIN_LEFT = 44
MARGIN_BOTTOM = 40
MARGIN_TOP = 12


def plot(rows: list[Row]) -> dict:
    """Where each bucket with enough leads sits: predicted across, actual up."""

    def x(rate):
        return round(MARGIN_LEFT + rate * PLOT, 1)

    def y(rate):
        return round(MARGIN_TOP + (1 - rate) * PLOT, 1)

    points = [
        {"row": row, "x": x(row.predicted), "y": y(row.actual)}
        for row in rows
        if row.enough and row.predicted is not None
    ]
    ticks = [
        {"label": f"{tick}%", "x": x(tick / 100), "y": y(tick / 100)} for tick in range(0, 101, 25)
    ]
    return {
        "points": points,
        "ticks": ticks,
        "width": MARGIN_LEFT + PLOT + 16,
        "height": MARGIN_TOP + PLOT + MARGIN_BOTTOM,
        "left": MARGIN_LEFT,
        "right": MARGIN_LEFT + PLOT,
        "top": MARGIN_TOP,
        "bottom": MARGIN_TOP + PLOT,
        "empty_x": MARGIN_LEFT + 10,  # above the diagonal, in the top left corner
        "empty_y": MARGIN_TOP + 22,
        "tick_label_y": MARGIN_TOP + PLOT + 16,
        "axis_label_y": MARGIN_TOP + PLOT + 34,
        "axis_label_x": MARGIN_LEFT + PLOT / 2,
        "tick_label_x": MARGIN_LEFT - 6,
    }


class CalibrationView(ReportView):
    """/reports/calibration/: for the leads closed in a period, the win rate per rating
    band, score bucket and stage passed, next to what the score or the stage's
    probability predicted.

    Everyone signed in may read it. A constant number of queries: see
    ``calibration_figures``; cached like the win/loss figures.
    """

    template_name = "leads/reports/calibration.html"
    partials = {"calibration": "report"}
    #: ``?format=csv&table=…``: each table of the page as a download.
    csv_tables = ("bands", "buckets", "stages")

    def get(self, request, *args, **kwargs):
        context = self.get_context_data(**kwargs)
        if request.GET.get("format") == "csv":
            table = request.GET.get("table", "")
            return calibration_csv(context, table if table in self.csv_tables else "bands")
        return self.render_to_response(context)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters, shown = self.report_context()
        context.update(shown)
        figures = cached_for_filters(
            "calibration",
            filters.params(),
            self.request.user,
            lambda: calibration_figures(filters, user=self.request.user),
            size=lambda figures: figures["count"],
            hold=HOLD_SECONDS,
        )
        link = ListLinks(filters)
        score_buckets = buckets(figures)
        context.update(
            count=figures["count"],
            as_of=figures["as_of"],
            held=figures["count"] >= totals.CACHE_MIN_COUNT,
            bands=bands(figures, ScoringSettings.current(), filters, link),
            buckets=score_buckets,
            stages=stage_rows(figures, filters) if figures["count"] else [],
            plot=plot(score_buckets),
            min_sample=MIN_SAMPLE,
            csv_urls=csv_urls(self.request.GET, self.csv_tables),
        )
        return context


def calibration_csv(context: dict, table: str):
    """A table of the page as CSV: its rows' closed and won leads, the actual and the
    predicted win rate (the actual empty where too few leads closed to say); the stages
    with their pipeline."""
    if table == "stages":
        header = [_("Pipeline"), _("Stage passed")]
        rows = [([group.pipeline], row) for group in context["stages"] for row in group.rows]
    else:
        header = [_("Rating") if table == "bands" else _("Score")]
        rows = [([], row) for row in context[table]]
    return csv_response(
        f"calibration-{table}",
        [
            *header,
            pgettext("status", "Closed"),
            pgettext("status", "Won"),
            _("Actual win rate"),
            _("Predicted win rate"),
        ],
        (
            [
                *lead_cells,
                row.label,
                row.closed,
                row.won,
                round(row.actual, 4) if row.enough and row.actual is not None else "",
                round(row.predicted, 4) if row.predicted is not None else "",
            ]
            for lead_cells, row in rows
        ),
    )
