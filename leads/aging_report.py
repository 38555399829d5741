"""The aging report: how long the open leads have sat in their stage, now.

Per open stage (in the report's pipeline, owner and source; the period does not apply),
its open leads in four buckets of days in the stage, 0–7, 8–14, 15–30 and over 30, counted
in local dates as the list's ``age_min``/``age_max`` count them (entered yesterday, at
any hour, is 1 day), and how many of them are stale (``LeadQuerySet.stale``'s rule).

One grouped query over the open leads by stage, each bucket and the stale ones a
filtered count, read on PostgreSQL from ``lead_stage_assignee_idx`` alone (the stage
and owner, carrying the stage entry, last activity and source: migration 0019).
Cached like the win/loss figures, and counted afresh each day.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from pipelines.models import PipelineStage

from .filters import days_in_stage
from .models import Lead, inactive_condition
from .report_tables import Bar, Segment, bar_chart, count
from .reports import CsvDownloadMixin, Filters, ListLinks, ReportView, scoped_leads
from .totals import cached_for_filters

#: The buckets of whole days in the stage: (first, last), None for no last.
BUCKETS = ((0, 7), (8, 14), (15, 30), (31, None))


def bucket_bounds(bucket: tuple[int, int | None]) -> dict:
    """A bucket as ``days_in_stage`` bounds. The first has no lower bound: a lead whose
    stage entry lies ahead of the clock is new, not out of every bucket."""
    first, last = bucket
    return {"least": first or None, "most": last}


def bucket_label(first: int, last: int | None) -> str:
    if last is None:
        return _("Over %(days)s days") % {"days": first - 1}
    return _("%(first)s–%(last)s days") % {"first": first, "last": last}


# --- the query ---------------------------------------------------------------------------


def open_stages(filters: Filters) -> list[PipelineStage]:
    """The open stages in order, per pipeline (only the chosen one when one is), with
    their pipelines: the report's rows, and what its figures count."""
    stages = PipelineStage.objects.filter(kind=PipelineStage.Kind.OPEN).select_related("pipeline")
    if filters.pipeline:
        stages = stages.filter(pipeline_id=filters.pipeline)
    return list(stages.order_by("-pipeline__is_default", "pipeline__name", "order", "pk"))


def aging_figures(filters: Filters, *, user, stages: list[PipelineStage], now=None) -> dict:
    """The open leads of ``stages`` counted per stage: in each bucket, in all, and stale.

    ``stages``: {stage id: [per bucket..., all, stale]}.
    """
    now = now or timezone.now()
    counts = {}
    if stages:
        open_leads = Lead.objects.filter(stage_id__in=[stage.pk for stage in stages])
        leads = scoped_leads(filters, user=user, leads=open_leads)
        today = timezone.localdate(now)
        thresholds = [(stage.pk, stage.pipeline.stale_after_days) for stage in stages]
        # Counting the stage (never empty), not the id: the index holds the stage, not
        # the id (COUNT(*) takes no filter in Django). Each bucket is the list's
        # days-in-stage bounds (``bucket_params``).
        buckets = {
            f"b{index}": Count(
                "stage_id", filter=days_in_stage(today=today, **bucket_bounds(bucket))
            )
            for index, bucket in enumerate(BUCKETS)
        }
        for row in (
            leads.values("stage_id")
            .annotate(
                **buckets,
                all=Count("stage_id"),
                stale=Count("stage_id", filter=inactive_condition(now, stages=thresholds)),
            )
            .order_by()
        ):
            counts[row["stage_id"]] = [
                *(row[f"b{index}"] for index in range(len(BUCKETS))),
                row["all"],
                row["stale"],
            ]
    return {"stages": counts, "count": sum(row[-2] for row in counts.values())}


# --- what the page shows -----------------------------------------------------------------


@dataclass
class Cell:
    """A bucket of a stage: its leads, the link to them, and whether every one of them is
    past the stage's aging warning or alert (the list's aging badge)."""

    count: int
    label: str  # the bucket's: "8–14 days"
    url: str = ""
    level: str = ""  # "", "warn" or "alert"


@dataclass
class StageRow:
    label: str
    stage_id: int | None
    warn_days: int = 0
    alert_days: int = 0
    cells: list[Cell] = field(default_factory=list)
    total: int = 0
    stale: int = 0
    total_url: str = ""
    stale_url: str = ""


@dataclass
class PipelineGroup:
    pipeline: str
    rows: list[StageRow]


def level(first_day: int, stage: PipelineStage) -> str:
    """How the list's aging badge marks a lead this many days in the stage."""
    if first_day >= stage.aging_alert_days:
        return "alert"
    if first_day >= stage.aging_warn_days:
        return "warn"
    return ""


def bucket_params(first: int, last: int | None) -> dict:
    """The list's days-in-stage bounds for a bucket."""
    bounds = bucket_bounds((first, last))
    return {"age_min": bounds["least"], "age_max": bounds["most"]}


def stage_rows(stages: list[PipelineStage], figures: dict, link: Callable[..., str]):
    """Each open stage with its buckets, per pipeline; and the row of all of them."""
    groups: dict[int, PipelineGroup] = {}
    labels = [bucket_label(*bucket) for bucket in BUCKETS]
    total = StageRow(_("All open stages"), None, cells=[Cell(0, label) for label in labels])
    for stage in stages:
        *buckets, in_stage, stale = figures["stages"].get(stage.pk, [0] * (len(BUCKETS) + 2))
        row = StageRow(
            stage.name,
            stage.pk,
            warn_days=stage.aging_warn_days,
            alert_days=stage.aging_alert_days,
            total=in_stage,
            stale=stale,
        )
        for (first, last), bucket, sum_cell in zip(BUCKETS, buckets, total.cells, strict=True):
            url = link(stage=stage.pk, **bucket_params(first, last)) if bucket else ""
            marked = level(first, stage) if bucket else ""
            row.cells.append(Cell(bucket, sum_cell.label, url, marked))
            sum_cell.count += bucket
        if in_stage:
            row.total_url = link(stage=stage.pk)
        if stale:
            row.stale_url = link(stage=stage.pk, stale=1)
        total.total += in_stage
        total.stale += stale
        groups.setdefault(stage.pipeline_id, PipelineGroup(stage.pipeline.name, [])).rows.append(
            row
        )
    # All open stages: the list's open leads, in the scope (its pipeline, if one).
    for (first, last), cell in zip(BUCKETS, total.cells, strict=True):
        cell.url = link(**bucket_params(first, last)) if cell.count else ""
    total.total_url = link() if total.total else ""
    total.stale_url = link(stale=1) if total.stale else ""
    return list(groups.values()), total


def chart(groups: list[PipelineGroup]) -> dict:
    """Per stage, its open leads as a bar, in buckets from the newest to the oldest."""
    several = len(groups) > 1
    return bar_chart(
        [
            Bar(
                label=f"{group.pipeline} · {row.label}" if several else row.label,
                total=row.total,
                summary=_("%(open)s open · %(stale)s stale")
                % {"open": count(row.total), "stale": count(row.stale)},
                segments=[
                    Segment(cell.count, bucket_label(first, last), f"chart-age-{index}")
                    for index, ((first, last), cell) in enumerate(
                        zip(BUCKETS, row.cells, strict=True)
                    )
                ],
            )
            for group in groups
            for row in group.rows
        ]
    )


class AgingReportView(CsvDownloadMixin, ReportView):
    """/reports/aging/: per open stage, the open leads now by days in the stage (0–7,
    8–14, 15–30, over 30) and the stale ones; each figure links to its leads, and the
    table downloads as CSV. The period does not apply: the form leaves it out.

    Everyone signed in may read it (a rep sees their own leads). One grouped query
    whatever the number of stages (see ``aging_figures``); cached like the win/loss
    figures.
    """

    template_name = "leads/reports/aging.html"
    partials = {"aging-report": "report"}
    csv_name = "aging-report"
    period = False  # now, not over a period: see get_context_data

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters, shown = self.report_context()
        context.update(shown)
        # Now, not over a period: the months are neither asked (``period``), nor part of
        # the cache key, nor worth a word when a URL names ones that are not understood.
        params = filters.params()
        for name in ("from", "to"):
            params.pop(name)
        stages = open_stages(filters)
        figures = cached_for_filters(
            "aging",
            params,
            self.request.user,
            lambda: aging_figures(filters, user=self.request.user, stages=stages),
            size=lambda figures: figures["count"],
        )
        groups, total = stage_rows(stages, figures, ListLinks(filters).leads)
        context.update(
            groups=groups,
            total=total,
            buckets=[bucket_label(first, last) for first, last in BUCKETS],
            bucket_headings=[
                f"{first}–{last}" if last is not None else f"> {first - 1}"
                for first, last in BUCKETS
            ],
            chart=chart(groups),
            csv_url=self.csv_url(filters, params),
            today=timezone.localdate(),
        )
        return context

    def csv_table(self, context):
        header = [
            _("Pipeline"),
            _("Stage"),
            *context["buckets"],
            pgettext("status", "Open"),
            _("Stale"),
        ]
        rows = [
            [group.pipeline, row.label, *(cell.count for cell in row.cells), row.total, row.stale]
            for group in context["groups"]
            for row in group.rows
        ]
        total = context["total"]
        rows.append(["", total.label, *(c.count for c in total.cells), total.total, total.stale])
        return header, rows
