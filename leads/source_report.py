"""The source report: where the leads created in a period came from, and how they fared.

Per source (and "No source"), of the leads created in the period's months (in the site's
time zone, in the report's pipeline, owner and source): how many were created, how many
of them are won and lost now, the conversion rate (won of created: a lead still open
counts as created only), the average won value and the average days from the day a
lead was created to the day it was won.

One grouped query over the period's leads by source, read on PostgreSQL from
``lead_created_idx`` alone (it holds the creation time, and carries the source, stage,
owner, won value and close date: migration 0019). Cached like the win/loss figures.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from crm.web.templatetags.formatting import share
from pipelines.models import PipelineStage

from .filters import NO_SOURCE, local_day_range
from .models import Lead, LeadSource, Status
from .report_tables import (
    Bar,
    Segment,
    bar_chart,
    count,
    percentage,
    period_label,
)
from .reports import CsvDownloadMixin, Filters, ListLinks, ReportView, scoped_leads
from .totals import cached_for_filters

#: A stage id no stage has: an aggregate's filter naming no stage must still be SQL.
NO_STAGE = 0


# --- the query ---------------------------------------------------------------------------


def source_figures(filters: Filters, *, user) -> dict:
    """The leads created in the period, counted per source.

    ``rows``: (source id or None, created, won, lost, won value, won leads with a value,
    days from creation to won added up, won leads with a close date). The sources' slugs
    and labels come along, so that a cached result needs no query of its own.
    """
    kinds = dict(PipelineStage.objects.values_list("pk", "kind"))
    won = Q(stage_id__in=[pk for pk, k in kinds.items() if k == Status.WON] or [NO_STAGE])
    lost = Q(stage_id__in=[pk for pk, k in kinds.items() if k == Status.LOST] or [NO_STAGE])
    created = Lead.objects.filter(local_day_range("created_at", filters.start, filters.end))
    leads = scoped_leads(filters, user=user, leads=created)
    # Counting the stage (never empty), not the id: the index carries the stage, and
    # counting ids would read the table (COUNT(*) takes no filter in Django).
    rows = [
        (
            row["source_id"],
            row["n_created"],
            row["n_won"],
            row["n_lost"],
            row["won_sum"],
            row["n_valued"],
            row["days_sum"].total_seconds() / 86400 if row["days_sum"] is not None else 0,
            row["n_dated"],
        )
        for row in leads.values("source_id")
        .annotate(
            n_created=Count("stage_id"),
            n_won=Count("stage_id", filter=won),
            n_lost=Count("stage_id", filter=lost),
            won_sum=Sum("won_value", filter=won),
            n_valued=Count("won_value", filter=won),
            # The day it was won less the day it was created, on the site's calendar;
            # only for won leads (a lost one has a close date too).
            days_sum=Sum(F("actual_close_date") - TruncDate("created_at"), filter=won),
            n_dated=Count("actual_close_date", filter=won),
        )
        .order_by()
    ]
    sources = {
        pk: (slug, label, active)
        for pk, slug, label, active in LeadSource.objects.values_list(
            "pk", "slug", "label", "active"
        )
    }
    return {"rows": rows, "sources": sources, "count": sum(row[1] for row in rows)}


# --- what the page shows -----------------------------------------------------------------


@dataclass
class SourceRow:
    """A source's leads created in the period, and the links to them in the list."""

    label: str
    slug: str  # the list's source value: a slug, or "none"
    created: int = 0
    won: int = 0
    lost: int = 0
    won_value: Decimal | None = None  # None: no won lead has a known value
    valued: int = 0
    days: float = 0.0
    dated: int = 0
    no_source: bool = False
    created_url: str = ""
    won_url: str = ""
    lost_url: str = ""

    @property
    def open(self) -> int:
        return self.created - self.won - self.lost

    @property
    def conversion(self) -> float | None:
        """Won of created; None when nothing was created."""
        return self.won / self.created if self.created else None

    @property
    def average_won_value(self) -> Decimal | None:
        """The won leads' mean won value, those of unknown value left out."""
        if not self.valued or self.won_value is None:
            return None
        return (self.won_value / self.valued).quantize(Decimal("0.01"))

    @property
    def average_won_value_shown(self) -> Decimal | None:
        """The average to whole euros, for the page (the CSV keeps the cents)."""
        average = self.average_won_value
        return None if average is None else average.quantize(Decimal(1), ROUND_HALF_UP)

    @property
    def average_days(self) -> float | None:
        """The won leads' mean days from the day created to the day won."""
        return self.days / self.dated if self.dated else None

    @property
    def average_days_label(self) -> str:
        """Whole days, rounded half up: "23 days", "1 day"; — when none was won."""
        if self.average_days is None:
            return "—"
        days = math.floor(self.average_days + 0.5)
        return ngettext("%(days)s day", "%(days)s days", days) % {"days": days}

    def add(self, other: "SourceRow") -> None:
        for name in ("created", "won", "lost", "valued", "days", "dated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.won_value is not None:
            self.won_value = (self.won_value or 0) + other.won_value


def source_rows(filters: Filters, figures: dict) -> tuple[list[SourceRow], SourceRow]:
    """A row per source: the sources with leads created in the period, every active
    source (zeros say something too) unless one source was chosen, and "No source" last
    when it has leads; the most created first. And the row of them all."""
    rows: dict[int | None, SourceRow] = {}
    for pk, (slug, label, active) in figures["sources"].items():
        if (filters.source == slug) or (not filters.source and active):
            rows[pk] = SourceRow(label=label, slug=slug)
    if filters.source == NO_SOURCE:
        rows[None] = SourceRow(label=_("No source"), slug=NO_SOURCE, no_source=True)
    for pk, created, won, lost, won_value, valued, days, dated in figures["rows"]:
        if pk not in rows:
            if pk is None:
                rows[pk] = SourceRow(label=_("No source"), slug=NO_SOURCE, no_source=True)
            else:
                slug, label, _active = figures["sources"][pk]
                rows[pk] = SourceRow(label=label, slug=slug)
        row = rows[pk]
        row.created, row.won, row.lost = created, won, lost
        row.won_value, row.valued, row.days, row.dated = won_value, valued, days, dated
    total = SourceRow(label=_("Total"), slug=filters.source)
    for row in rows.values():
        total.add(row)
    ordered = sorted(rows.values(), key=lambda row: (row.no_source, -row.created, row.label))
    return ordered, total


def add_links(rows: list[SourceRow], total: SourceRow, filters: Filters, link: Callable[..., str]):
    """Each figure's leads in the list: created in the period (every status), won, lost."""
    period = {"created_from": filters.start.isoformat(), "created_to": filters.end.isoformat()}
    for row in [*rows, total]:
        source = row.slug or None  # the total: the scope's source, if any
        if row.created:
            row.created_url = link(status="all", source=source, **period)
        if row.won:
            row.won_url = link(status=Status.WON, source=source, **period)
        if row.lost:
            row.lost_url = link(status=Status.LOST, source=source, **period)


def chart(rows: list[SourceRow]) -> dict:
    """Per source, its created leads as a bar: won, lost, still open."""
    return bar_chart(
        [
            Bar(
                label=row.label,
                total=row.created,
                summary=(
                    _("%(created)s created · %(share)s won")
                    % {"created": count(row.created), "share": share(row.conversion)}
                    if row.created
                    else _("%(created)s created") % {"created": count(row.created)}
                ),
                segments=[
                    Segment(row.won, pgettext("chart", "won"), "chart-won"),
                    Segment(row.lost, pgettext("chart", "lost"), "chart-lost"),
                    Segment(row.open, pgettext("chart", "still open"), "chart-open"),
                ],
            )
            for row in rows
        ]
    )


class SourceReportView(CsvDownloadMixin, ReportView):
    """/reports/sources/: per source, the leads created in a period, won, lost, the
    conversion rate, the average won value and days to win; each figure links to its
    leads, and the table downloads as CSV.

    Everyone signed in may read it (a rep sees their own leads). One grouped query
    whatever the number of sources (see ``source_figures``); cached like the win/loss
    figures.
    """

    template_name = "leads/reports/sources.html"
    partials = {"sources-report": "report"}
    csv_name = "sources-report"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters, shown = self.report_context()
        context.update(shown)
        figures = cached_for_filters(
            "sources",
            filters.params(),
            self.request.user,
            lambda: source_figures(filters, user=self.request.user),
            size=lambda figures: figures["count"],
        )
        rows, total = source_rows(filters, figures)
        add_links(rows, total, filters, ListLinks(filters).leads)
        context.update(
            rows=rows,
            total=total,
            chart=chart(rows),
            chart_title=_("Leads created per source, %(period)s")
            % {"period": period_label(filters)},
            period=period_label(filters),
            csv_url=self.csv_url(filters),
        )
        return context

    def csv_table(self, context):
        header = [
            _("Source"),
            _("Created"),
            pgettext("status", "Won"),
            pgettext("status", "Lost"),
            _("Still open"),
            # Translators: xgettext:no-python-format
            _("Conversion (% of created)"),
            _("Average won value (EUR)"),
            _("Average days to win"),
        ]
        rows = [
            [
                row.label,
                row.created,
                row.won,
                row.lost,
                row.open,
                percentage(row.conversion),
                row.average_won_value,
                None if row.average_days is None else round(row.average_days, 1),
            ]
            for row in [*context["rows"], context["total"]]
        ]
        return header, rows
