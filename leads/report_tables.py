"""What the source, aging and team reports share: links to the lead list showing the
leads behind a figure, the table as a CSV download, and a chart of horizontal bars.

Each of those reports is one table of figures, one row per source, stage or owner, with
a chart of the same figures beside it.
"""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.http import HttpResponse, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.http import content_disposition_header

from .export import neutralise
from .reports import Filters

#: The format parameter that asks a report for its table as CSV.
CSV_FORMAT = "csv"


class ListLink:
    """Links to the lead list filtered to the leads behind a figure: the report's scope
    (pipeline, owner, source) and the figure's own filters, which override the scope's
    (a row's owner or source replaces the one chosen above the report)."""

    def __init__(self, filters: Filters):
        self.base = reverse("leads:list")
        self.scope = {
            name: value
            for name, value in (
                ("pipeline", filters.pipeline),
                ("assignee", filters.assignee),
                ("source", filters.source),
            )
            if value
        }

    def __call__(self, **params) -> str:
        query = QueryDict(mutable=True)
        query.update({**self.scope, **{k: str(v) for k, v in params.items() if v is not None}})
        return f"{self.base}?{query.urlencode()}"


def period_label(filters: Filters) -> str:
    """ "September 2026 to November 2026", or "November 2026" for one month."""
    start, end = (date_format(day, "F Y") for day in (filters.start, filters.end))
    return start if start == end else f"{start} to {end}"


def count(number: int) -> str:
    """A count as a chart writes it: "12,345" (the active language's grouping)."""
    return number_format(number, force_grouping=True)


# --- CSV ---------------------------------------------------------------------------------


def csv_cell(value) -> str | int | float:
    """A figure as a spreadsheet reads it: text made inert (a label typed in the admin
    could start with "="), money with its cents, nothing for unknown."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def csv_response(name: str, header: list[str], rows: Iterable[Iterable]) -> HttpResponse:
    """A small table as a UTF-8 CSV download (with a BOM, as the lead export writes it,
    so that Excel reads the accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"{name}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=filename
    )
    response["Cache-Control"] = "no-store"
    return response


def percentage(rate: float | None) -> float | None:
    """A rate as a percentage with one decimal, for a CSV cell."""
    return None if rate is None else round(rate * 100, 1)


class CsvDownloadMixin:
    """``?format=csv``: the report's table as a CSV file instead of the page, from the
    same figures (the same filters, and a rep's own leads only). ``csv_table(context)``
    gives the header and the rows; ``csv_url`` in the context links to it."""

    csv_name = "report"

    def csv_table(self, context) -> tuple[list[str], list[list]]:
        raise NotImplementedError

    def csv_url(self, filters: Filters, params: QueryDict | None = None) -> str:
        query = (params if params is not None else filters.params()).copy()
        query["format"] = CSV_FORMAT
        return f"{self.request.path}?{query.urlencode()}"

    def render_to_response(self, context, **response_kwargs):
        if self.request.GET.get("format") == CSV_FORMAT:
            header, rows = self.csv_table(context)
            return csv_response(self.csv_name, header, rows)
        return super().render_to_response(context, **response_kwargs)


# --- horizontal bars ---------------------------------------------------------------------


@dataclass
class Segment:
    """A part of a bar: its count, what it is (the legend's words) and its look."""

    count: int
    label: str
    look: str  # a CSS class: chart-won, chart-lost, chart-open, chart-age-0 ...
    x: float = 0.0  # where it starts, in percent of the chart's width
    width: float = 0.0  # in percent of the chart's width


@dataclass
class Bar:
    label: str
    total: int
    summary: str  # the figure written at the bar's end ("120 created · 9% won")
    segments: list[Segment] = field(default_factory=list)
    y: float = 0.0
    label_y: float = 0.0
    bar_y: float = 0.0


#: The geometry of a bar chart: each row its label above a bar. Heights in pixels; the
#: widths are percentages of the chart's width, so the SVG needs no viewBox and its text
#: keeps its size on a phone.
ROW_HEIGHT = 40
LABEL_BASELINE = 14
BAR_TOP = 20
BAR_HEIGHT = 14


def bar_chart(bars: list[Bar], *, scale: int | None = None) -> dict:
    """Where each bar and segment goes: lengths relative to the longest bar (or to
    ``scale``), segments side by side in the order given."""
    longest = scale or max((bar.total for bar in bars), default=0) or 1
    for index, bar in enumerate(bars):
        bar.y = index * ROW_HEIGHT
        bar.label_y = bar.y + LABEL_BASELINE
        bar.bar_y = bar.y + BAR_TOP
        x = 0.0
        for segment in bar.segments:
            segment.x = round(x, 2)
            segment.width = round(100 * segment.count / longest, 2)
            x += segment.width
    return {"bars": bars, "height": len(bars) * ROW_HEIGHT, "bar_height": BAR_HEIGHT}
