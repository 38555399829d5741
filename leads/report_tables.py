"""What the source, aging and team reports share: a chart of horizontal bars (links to
the list are ``reports.ListLinks.leads``, the CSV download ``reports.CsvDownloadMixin``).

Each of those reports is one table of figures, one row per source, stage or owner, with
a chart of the same figures beside it.
"""

from dataclasses import dataclass, field

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from .reports import Filters


def period_label(filters: Filters) -> str:
    """ "September 2026 to November 2026", or "November 2026" for one month."""
    start, end = (date_format(day, "F Y") for day in (filters.start, filters.end))
    return start if start == end else _("%(start)s to %(end)s") % {"start": start, "end": end}


def count(number: int) -> str:
    """A count as a chart writes it: "12,345" (the active language's grouping)."""
    return number_format(number, force_grouping=True)


# --- CSV ---------------------------------------------------------------------------------


def percentage(rate: float | None) -> float | None:
    """A rate as a percentage with one decimal, for a CSV cell."""
    return None if rate is None else round(rate * 100, 1)


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
