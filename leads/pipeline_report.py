"""The pipeline report: a pipeline's open stages now, and how leads move through them.

Per open stage of one pipeline (the default one unless another is chosen: the stages of
different pipelines make no single funnel):

- **now**: the open leads in it, their value and weighted value (value × probability /
  100), and how long they have been in it on average (since ``stage_entered_at``);
- **conversion over the period**: of the leads that entered the stage during the period,
  how many later entered a stage it moves on to (a later open stage, or a won one:
  winning passes every open stage; ``PipelineStage.moves_on_to``).

A lead entered a stage when it moved into it or was created in it. The stage moves say
both (``LeadEventQuerySet.stage_moves``): each move names the stage it left and how long
the lead had been there, so a visit's start is the move's time less those seconds; the
visit under way is the lead's own stage and ``stage_entered_at``. A lead counts once per
stage however often it entered it; it moved on when it entered an onward stage after
the first time it entered this one in the period, whenever that was (a lead that came
back from Lost and moved on counts; one lost since does not).

Three grouped queries:

- the open leads now, grouped by stage: count, value, value × probability, mean entry
  time; on PostgreSQL from the running totals (``leads.tally``), exact after every write
  in a few milliseconds; on SQLite counted, and cached until the next write to any lead;
- the conversion: the period's stage moves grouped by lead (the first entry into each
  stage, the last entry into each stage's onward stages), counted per stage in the same
  statement; and the leads whose visit under way began in the period, grouped by stage.
  Reading the moves of a year takes seconds at a million leads (docs/PERFORMANCE.md),
  and one write moves a conversion rate by a hair: a large period's conversion is held
  for ten minutes like the calibration report's, and the page says as of when.
"""

import dataclasses
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count, DecimalField, F, Max, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from pipelines.models import PipelineStage

from . import tally, totals
from .events import Epoch, epoch, visited
from .filters import local_midnight
from .models import Lead, LeadEvent, LeadTally
from .reports import (
    CsvDownloadMixin,
    Filters,
    ListLinks,
    ReportView,
    cents,
    csv_url,
    scoped_leads,
)
from .totals import cached_for_filters

#: How long a large period's conversion is kept whatever is written meanwhile.
HOLD_SECONDS = 10 * 60

_WEIGHTED = DecimalField(max_digits=20, decimal_places=2)


def period_bounds(filters: Filters) -> tuple[datetime.datetime, datetime.datetime]:
    """The period as moments: the first month's first midnight, and the midnight after
    the last day (excluded), in the site's time zone."""
    return local_midnight(filters.start), local_midnight(filters.end + datetime.timedelta(days=1))


def _owner_and_source(filters: Filters, *, user, leads):
    """The report's scope but the pipeline, which the stages name."""
    return scoped_leads(dataclasses.replace(filters, pipeline=""), user=user, leads=leads)


# --- the queries ---------------------------------------------------------------------------


def stage_figures(filters: Filters, *, user, open_stages: list[PipelineStage]) -> dict:
    """The open leads in each stage now: count, value, value × probability and the mean
    moment they entered it (seconds, ``Epoch``)."""
    stage_ids = [s.pk for s in open_stages]
    if tally.available():
        kept = _owner_and_source(
            filters, user=user, leads=LeadTally.objects.filter(stage_id__in=stage_ids)
        )
        stages = {
            row["stage_id"]: {
                "n": row["count"],
                "amount": row["total_value"],
                "weighted": row["weighted_x100"],
                "entered": row["entered"],
            }
            for row in kept.grouped("stage_id")
        }
        return {"stages": stages, "count": sum(row["n"] for row in stages.values())}
    leads = _owner_and_source(filters, user=user, leads=Lead.objects.filter(stage_id__in=stage_ids))
    rows = (
        leads.values("stage_id")
        # COUNT(*), not of the id: the index holds no id (see the win/loss report).
        .annotate(
            n=Count("*"),
            amount=Sum("value"),
            weighted=Sum(F("value") * F("probability"), output_field=_WEIGHTED),
            entered=Avg(Epoch("stage_entered_at")),
        )
        .order_by()
    )
    stages = {row.pop("stage_id"): row for row in rows}
    return {"stages": stages, "count": sum(row["n"] for row in stages.values())}


def conversion_figures(filters: Filters, *, user, stages: list[PipelineStage]) -> dict:
    """Per open stage of ``stages`` (one pipeline's): the leads that entered it in the
    period (``entered``) and of them those that moved on (``moved_on``).

    One statement reads the period's moves grouped by lead and counts, per stage, the
    leads with a visit begun in the period that has ended (``left``), those of them that
    entered an onward stage after the first such visit began (``moved_on``), and those
    of them in the stage again now, the latest move having brought them back in the
    period (``again``: counted below as well). A second counts the leads whose visit
    under way began in the period (``now``). A lead entered a stage in the period when
    it has either kind of visit: ``left + now - again``.
    """
    start, end = period_bounds(filters)
    since, until = epoch(start), epoch(end)
    open_stages = [stage for stage in stages if stage.is_open]
    moves = LeadEvent.objects.stage_moves(since).filter(
        Q(left_id__in=[s.pk for s in stages]) | Q(entered_id__in=[s.pk for s in stages])
    )
    if filters.assignee or filters.source:
        scope = _owner_and_source(filters, user=user, leads=Lead.objects.all())
        moves = moves.filter(lead_id__in=scope.values("pk"))
    # Per lead: the first visit to each stage begun in the period, and the last move
    # into each stage and into a won one. A lead moved on from a stage when its last
    # move into any stage it moves on to came after that first visit began: the last
    # moves into each stage serve every earlier stage, read once per row.
    won = [stage.pk for stage in stages if stage.kind == PipelineStage.Kind.WON]
    per_lead = {"latest": Max("moved")}
    if won:
        per_lead["won"] = Max("moved", filter=Q(entered_id__in=won))
    counts = {}
    for stage in open_stages:
        first, back = f"first_{stage.pk}", f"back_{stage.pk}"
        per_lead[first] = Min("left_entered", filter=visited(stage.pk, since, until))
        per_lead[back] = Max("moved", filter=Q(entered_id=stage.pk))
        counts[f"left_{stage.pk}"] = Count(first)
        counts[f"again_{stage.pk}"] = Count(
            "lead_id",
            filter=Q(**{f"{first}__isnull": False, f"{back}__gte": F("latest")})
            & Q(**{f"{back}__gte": since, f"{back}__lt": until}),
        )
    for stage in open_stages:
        onward = ["won" if pk in won else f"back_{pk}" for pk in stage.moves_on_to(stages)]
        if onward:
            moved_on = Q()
            for last in dict.fromkeys(onward):  # every won stage is one "won"
                moved_on |= Q(**{f"{last}__gte": F(f"first_{stage.pk}")})
            counts[f"moved_on_{stage.pk}"] = Count("lead_id", filter=moved_on)
    counted = {}
    if open_stages:
        counted = moves.values("lead_id").annotate(**per_lead).order_by().aggregate(**counts)
    current = _owner_and_source(
        filters,
        user=user,
        leads=Lead.objects.filter(
            stage_id__in=[s.pk for s in open_stages],
            stage_entered_at__gte=start,
            stage_entered_at__lt=end,
        ),
    )
    now = dict(
        current.values("stage_id").annotate(n=Count("*")).order_by().values_list("stage_id", "n")
    )
    figures = {
        stage.pk: {
            "entered": counted.get(f"left_{stage.pk}", 0)
            + now.get(stage.pk, 0)
            - counted.get(f"again_{stage.pk}", 0),
            "moved_on": counted.get(f"moved_on_{stage.pk}", 0),
        }
        for stage in open_stages
    }
    return {
        "stages": figures,
        "count": sum(figure["entered"] for figure in figures.values()),
        "as_of": timezone.now(),
    }


# --- what the page shows -------------------------------------------------------------------


@dataclass
class StageRow:
    """An open stage: its open leads now (count, value, weighted value, mean days in the
    stage) and its conversion over the period, with the links to the leads behind each."""

    label: str
    count: int = 0
    value: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)
    age: float | None = None  # mean days in the stage
    entered: int = 0
    moved_on: int = 0
    url: str = ""
    age_url: str = ""
    entered_url: str = ""
    moved_on_url: str = ""
    together: bool = False  # the open stages together: no conversion of its own

    @property
    def age_days(self) -> int | None:
        """The mean age in whole days, half up."""
        return None if self.age is None else int(self.age + 0.5)

    @property
    def conversion(self) -> float | None:
        return self.moved_on / self.entered if self.entered else None


def stage_rows(
    open_stages: list[PipelineStage],
    now: dict,
    conversion: dict,
    *,
    filters: Filters,
    link: ListLinks,
    moment: datetime.datetime,
) -> tuple[list[StageRow], StageRow]:
    """A row per open stage in order (stages without leads hold zeros), and the open
    stages together (their conversions do not add up: a lead passes several)."""
    rows = []
    entered_total = 0.0
    total = StageRow(_("All open stages"), together=True)
    total.url = link.leads()
    total.age_url = link.leads(sort="-age")
    for stage in open_stages:
        figures = now["stages"].get(stage.pk, {})
        passed = conversion["stages"].get(stage.pk, {})
        row = StageRow(
            stage.name,
            count=figures.get("n", 0),
            value=figures.get("amount") or Decimal(0),
            weighted=(figures.get("weighted") or Decimal(0)) / 100,
            entered=passed.get("entered", 0),
            moved_on=passed.get("moved_on", 0),
        )
        if row.count:
            row.age = (moment.timestamp() - figures["entered"]) / 86400
            entered_total += figures["entered"] * row.count
        row.url = link.leads(stage=str(stage.pk))
        row.age_url = link.leads(stage=str(stage.pk), sort="-age")
        period = {
            "status": "all",
            "entered_stage": str(stage.pk),
            "entered_from": filters.start.isoformat(),
            "entered_to": filters.end.isoformat(),
        }
        row.entered_url = link.leads(**period)
        row.moved_on_url = link.leads(**period, moved_on="1")
        total.count += row.count
        total.value += row.value
        total.weighted += row.weighted
        rows.append(row)
    if total.count:
        total.age = (moment.timestamp() - entered_total / total.count) / 86400
    return rows, total


#: The funnel's geometry, in SVG user units (the SVG scales to its box).
FUNNEL_WIDTH = 360
LABEL_WIDTH = 104
BAR_AREA = FUNNEL_WIDTH - LABEL_WIDTH
BAR_HEIGHT = 24
STEP = 44  # from one bar's top to the next: the bar, and the conversion under it
#: A bar narrower than this has its count beside it, not on it.
COUNT_INSIDE = 40


def funnel(rows: list[StageRow]) -> dict:
    """A centred bar per stage, its width the leads that entered it in the period
    (the widest stage the full width), with the share that moved on under it."""
    widest = max((row.entered for row in rows), default=0) or 1
    centre = LABEL_WIDTH + BAR_AREA / 2
    bars = []
    for index, row in enumerate(rows):
        width = round(BAR_AREA * row.entered / widest, 1)
        top = index * STEP
        inside = width >= COUNT_INSIDE
        bars.append(
            {
                "row": row,
                "x": centre - width / 2,
                "y": top,
                "width": width,
                "label_y": top + BAR_HEIGHT / 2,
                "count_x": centre if inside else centre + width / 2 + 6,
                "count_inside": inside,
                "rate_y": top + BAR_HEIGHT + 13,
            }
        )
    return {
        "bars": bars,
        "width": FUNNEL_WIDTH,
        "height": max(len(rows), 1) * STEP,
        "bar_height": BAR_HEIGHT,
        "label_x": LABEL_WIDTH - 8,
        "centre": centre,
    }


class PipelineReportView(CsvDownloadMixin, ReportView):
    """/reports/pipeline/: per open stage of a pipeline, its open leads now (count, value,
    weighted value, mean days in the stage) and the share of the leads that entered it
    in the period that moved on; for an owner and a source. ``?format=csv`` downloads
    the table.

    Everyone signed in may read it; reps see their own leads. A constant number of
    queries whatever the number of leads: see ``stage_figures`` and
    ``conversion_figures``.
    """

    template_name = "leads/reports/pipeline.html"
    partials = {"pipeline-report": "report"}
    csv_name = "pipeline"
    any_pipeline = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters, shown = self.report_context()
        user = self.request.user
        stages = list(
            PipelineStage.objects.filter(pipeline_id=filters.pipeline or None).order_by(
                "order", "pk"
            )
        )
        open_stages = [stage for stage in stages if stage.is_open]
        params = filters.params()
        if tally.available():  # the running totals: exact, and cheaper than a cache
            now = stage_figures(filters, user=user, open_stages=open_stages)
        else:
            now = cached_for_filters(
                "pipeline-now",
                params,
                user,
                lambda: stage_figures(filters, user=user, open_stages=open_stages),
                size=lambda figures: figures["count"],
            )
        conversion = cached_for_filters(
            "pipeline-conversion",
            params,
            user,
            lambda: conversion_figures(filters, user=user, stages=stages),
            size=lambda figures: figures["count"],
            hold=HOLD_SECONDS,
        )
        link = ListLinks(filters)
        rows, total = stage_rows(
            open_stages, now, conversion, filters=filters, link=link, moment=timezone.now()
        )
        context.update(
            shown,
            rows=rows,
            total=total,
            funnel=funnel(rows),
            as_of=conversion["as_of"],
            held=conversion["count"] >= totals.CACHE_MIN_COUNT,
            csv_url=csv_url(self.request.GET),
        )
        return context

    def csv_table(self, context) -> tuple[list[str], list[list]]:
        filters = context["filters"]
        rows = [*context["rows"], context["total"]]
        return (
            [
                _("Stage"),
                _("Open leads"),
                _("Value (EUR)"),
                _("Weighted value (EUR)"),
                _("Mean days in stage"),
                _("Entered %(start)s to %(end)s")
                % {"start": f"{filters.start:%Y-%m}", "end": f"{filters.end:%Y-%m}"},
                _("Moved on"),
                _("Conversion (%)"),
            ],
            (
                [
                    row.label,
                    row.count,
                    cents(row.value),
                    cents(row.weighted),
                    "" if row.age is None else round(row.age, 1),
                    "" if row.together else row.entered,
                    "" if row.together else row.moved_on,
                    "" if row.conversion is None else round(row.conversion * 100, 1),
                ]
                for row in rows
            ),
        )
