"""The forecast report: the open leads by the month they are expected to close.

For the months ahead (this month from today and the next five, or ``?months=`` 1–24),
the overdue leads (expected to close before today) and those without an expected close
date: how many, their value and their weighted value (value × probability / 100; a lead
of unknown value counts, adding nothing). Beside them, the value won so far this month
and this quarter (won leads by their close date).

The period of the other reports does not apply: the rows are the future, counted from
today, and the page has no period fields (a period in the URL is ignored).

On PostgreSQL, three small queries, exact after every write:

- the open leads of the scope by month of their expected close date, from the running
  totals (``leads.tally``, ``LeadCloseTally``): count, value and value × probability,
  the months before this one being overdue, up to the last month shown;
- this month's open leads grouped by expected close **day**, which today splits into
  overdue and ahead: an index range scan of ``lead_open_report_idx`` (stage, close
  date, with the value, probability, owner and source) over one month of dates;
- the won leads closed since the quarter began, summed for the quarter and the month
  (``lead_actual_close_idx``).

On SQLite the open leads are grouped by day up to the last month shown (added up by
month here), and the figures cached like the win/loss figures (``cached_for_filters``).
"""

import dataclasses
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.db.models import Count, DecimalField, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from pipelines.models import PipelineStage

from . import tally
from .models import Lead, LeadCloseTally, Status
from .reports import (
    CsvDownloadMixin,
    Filters,
    ListLinks,
    ReportForm,
    ReportView,
    add_months,
    cents,
    csv_url,
    month_end,
    scoped_leads,
)
from .totals import cached_for_filters

#: How many months the forecast shows unasked: this month and the next five.
DEFAULT_MONTHS = 6
#: The most it shows (a pair of bars per month must stay readable).
MAX_MONTHS = 24
OVERDUE = "overdue"
UNSCHEDULED = "none"  # the list's ``due=none``

#: value × probability, summed exactly (the column's 14 digits and 3 of the percentage).
_WEIGHTED = DecimalField(max_digits=20, decimal_places=2)


# --- the filters ---------------------------------------------------------------------------


def read_months(data, filters: Filters) -> int:
    """``?months=``: how many months ahead, 1 to MAX_MONTHS; otherwise the default, and
    a sentence saying so among the filters' problems."""
    given = data.get("months", "").strip()
    if not given:
        return DEFAULT_MONTHS
    if given.isascii() and given.isdigit() and 1 <= int(given) <= MAX_MONTHS:
        return int(given)
    filters.problems.append(
        _("Months ahead must be a whole number from 1 to %(most)s: showing %(default)s months.")
        % {"most": MAX_MONTHS, "default": DEFAULT_MONTHS}
    )
    return DEFAULT_MONTHS


class ForecastForm(ReportForm):
    """The reports' filter bar with how many months ahead (and no period: see the view)."""

    months = forms.IntegerField(
        label=gettext_lazy("Months ahead"),
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_MONTHS, "class": "input-narrow"}),
    )


# --- the queries ---------------------------------------------------------------------------


def stage_ids(filters: Filters, kind: str) -> list[int]:
    """The ids of the stages of a kind, of the chosen pipeline or all."""
    stages = PipelineStage.objects.filter(kind=kind)
    if filters.pipeline:
        stages = stages.filter(pipeline_id=filters.pipeline)
    return list(stages.values_list("pk", flat=True))


def forecast_figures(filters: Filters, *, user, today: datetime.date, months: int) -> dict:
    """The open leads of the scope by expected close day until the last month shown
    (and those without a date), and the won leads of this quarter and this month.

    The pipeline is named by the stage ids of its open (or won) stages alone: one list
    of ids, not the pipeline's and the open stages' both, which PostgreSQL would take
    for two independent conditions and expect too few rows of.
    """
    anywhere = dataclasses.replace(filters, pipeline="")
    horizon = add_months(today.replace(day=1), months)  # the first day not shown
    open_ids = stage_ids(filters, PipelineStage.Kind.OPEN)
    open_leads = scoped_leads(anywhere, user=user, leads=Lead.objects.filter(stage_id__in=open_ids))
    month_start = today.replace(day=1)
    if tally.available():
        # Whole months from the running totals, each as its first day (before this month:
        # overdue); this month, which today splits, day by day from the leads.
        kept = scoped_leads(
            anywhere,
            user=user,
            leads=LeadCloseTally.objects.filter(stage_id__in=open_ids),
        )
        days = [
            (row["close_month"], row["count"], row["total_value"], row["weighted_x100"])
            for row in kept.filter(Q(close_month__lt=horizon) | Q(close_month__isnull=True))
            .exclude(close_month=month_start)
            .grouped("close_month")
        ]
        days += by_day(
            open_leads.filter(
                expected_close_date__gte=month_start,
                expected_close_date__lt=add_months(month_start, 1),
            )
        )
    else:
        days = by_day(
            open_leads.filter(
                Q(expected_close_date__lt=horizon) | Q(expected_close_date__isnull=True)
            )
        )
    quarter_start = month_start.replace(month=(today.month - 1) // 3 * 3 + 1)
    won_leads = scoped_leads(
        anywhere,
        user=user,
        leads=Lead.objects.filter(
            actual_close_date__range=(quarter_start, today),
            stage_id__in=stage_ids(filters, PipelineStage.Kind.WON),
        ),
    )
    this_month = Q(actual_close_date__gte=month_start)
    won = won_leads.aggregate(
        # The close date, not the id: the index holds the date, not the id.
        quarter=Count("actual_close_date"),
        quarter_value=Sum(Coalesce("won_value", "value")),
        month=Count("actual_close_date", filter=this_month),
        month_value=Sum(Coalesce("won_value", "value"), filter=this_month),
    )
    return {
        "days": days,
        "won": won,
        "count": sum(n for _day, n, _value, _weighted in days) + won["quarter"],
    }


def by_day(leads) -> list[tuple]:
    """(expected close day, count, value, value × probability) of the leads, by day."""
    return list(
        leads.values("expected_close_date")
        # COUNT(*), not of the id: the index holds no id (see the win/loss report).
        .annotate(
            n=Count("*"),
            amount=Sum("value"),
            weighted=Sum(F("value") * F("probability"), output_field=_WEIGHTED),
        )
        .order_by()
        .values_list("expected_close_date", "n", "amount", "weighted")
    )


# --- what the page shows -------------------------------------------------------------------


@dataclass
class Row:
    """A month of the forecast (or the overdue or undated leads): its open leads, their
    value and weighted value, and the link to the list showing them."""

    key: str  # "2026-11", "overdue" or "none"
    label: str
    start: datetime.date | None = None
    end: datetime.date | None = None
    count: int = 0
    value: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)
    url: str = ""

    def add(self, count: int, value, weighted) -> None:
        self.count += count
        self.value += value or 0
        self.weighted += (weighted or Decimal(0)) / 100


@dataclass
class Won:
    """The won leads of this month or quarter so far."""

    label: str
    start: datetime.date
    end: datetime.date
    count: int
    value: Decimal
    url: str = ""


def forecast_rows(
    figures: dict, *, today: datetime.date, months: int, link: ListLinks
) -> tuple[Row, list[Row], Row, Row]:
    """The overdue leads, a row per month from this one (from today), the leads without
    a date, and the months together. Months without leads hold zeros."""
    overdue = Row(OVERDUE, _("Overdue"), end=today - datetime.timedelta(days=1))
    undated = Row(UNSCHEDULED, _("No expected close date"))
    by_month = {}
    for number in range(months):
        first = add_months(today.replace(day=1), number)
        start = max(first, today)
        by_month[first] = Row(f"{first:%Y-%m}", date_format(first, "M Y"), start, month_end(first))
    ahead = Row(
        "ahead",
        ngettext("Next %(count)s month", "Next %(count)s months", months) % {"count": months},
    )
    ahead.start, ahead.end = today, month_end(add_months(today.replace(day=1), months - 1))
    for day, count, value, weighted in figures["days"]:
        if day is None:
            row = undated
        elif day < today:
            row = overdue
        else:
            row = by_month[day.replace(day=1)]
            ahead.add(count, value, weighted)
        row.add(count, value, weighted)
    overdue.url = link.leads(due=OVERDUE)
    undated.url = link.leads(due=UNSCHEDULED)
    for row in [*by_month.values(), ahead]:
        row.url = link.leads(due_from=row.start.isoformat(), due_to=row.end.isoformat())
    return overdue, list(by_month.values()), undated, ahead


def won_so_far(figures: dict, *, today: datetime.date, link: ListLinks) -> list[Won]:
    month_start = today.replace(day=1)
    quarter_start = month_start.replace(month=(today.month - 1) // 3 * 3 + 1)
    won = figures["won"]
    rows = [
        Won(
            _("Won this month"), month_start, today, won["month"], won["month_value"] or Decimal(0)
        ),
        Won(
            _("Won this quarter"),
            quarter_start,
            today,
            won["quarter"],
            won["quarter_value"] or Decimal(0),
        ),
    ]
    for row in rows:
        row.url = link(Status.WON, row.start, row.end)
    return rows


#: The chart's geometry, in SVG user units (the SVG scales to its box).
CHART_HEIGHT = 160
CHART_TOP = 18  # room for the amount above the tallest bar
CHART_BOTTOM = 36  # room for the month and year under the bars
GROUP_WIDTH = 52
BAR_WIDTH = 30
INNER_WIDTH = 16
#: Fewer months are drawn as wide as this many, centred: their labels stay in scale.
MIN_GROUPS = 8
#: More months than this leave their amounts to the table: they would not fit.
MAX_LABELLED = 12


def chart(months: list[Row]) -> dict:
    """A bar per month for its value, and inside it a narrower one for its weighted
    value; heights scaled to the largest month's value."""
    tallest = max((row.value for row in months), default=0) or 1
    baseline = CHART_TOP + CHART_HEIGHT
    width = max(len(months), MIN_GROUPS) * GROUP_WIDTH
    left = (width - len(months) * GROUP_WIDTH) / 2
    bars = []
    for index, row in enumerate(months):
        centre = left + index * GROUP_WIDTH + GROUP_WIDTH / 2
        value_height = round(float(CHART_HEIGHT * row.value / tallest), 1)
        weighted_height = round(float(CHART_HEIGHT * row.weighted / tallest), 1)
        bars.append(
            {
                "row": row,
                "x": centre - BAR_WIDTH / 2,
                "inner_x": centre - INNER_WIDTH / 2,
                "value_y": baseline - value_height,
                "value_height": value_height,
                "weighted_y": baseline - weighted_height,
                "weighted_height": weighted_height,
                "label_x": centre,
                "label_y": baseline - value_height - 4,
                "show_year": index == 0 or row.start.month == 1,
            }
        )
    return {
        "months": bars,
        "labelled": len(months) <= MAX_LABELLED,
        "width": width,
        "height": baseline + CHART_BOTTOM,
        "baseline": baseline,
        "bar_width": BAR_WIDTH,
        "inner_width": INNER_WIDTH,
        "month_y": baseline + 14,
        "year_y": baseline + 28,
    }


class ForecastView(CsvDownloadMixin, ReportView):
    """/reports/forecast/: the open leads by expected close month for the months ahead,
    the overdue ones and those without a date, with the value won this month and
    quarter; for a pipeline, an owner and a source. ``?format=csv`` downloads the table.

    Everyone signed in may read it; reps see their own leads. A constant number of
    queries: see ``forecast_figures``; cached like the win/loss figures.
    """

    template_name = "leads/reports/forecast.html"
    partials = {"forecast": "report"}
    csv_name = "forecast"
    period = False
    form_class = ForecastForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters, shown = self.report_context()
        months = read_months(self.request.GET, filters)
        shown["form"].initial["months"] = months
        today = timezone.localdate()
        params = filters.params()
        params["months"] = str(months)

        def figures():
            return forecast_figures(filters, user=self.request.user, today=today, months=months)

        if tally.available():  # the running totals: exact, and cheaper than a cache
            figures = figures()
        else:
            figures = cached_for_filters(
                "forecast", params, self.request.user, figures, size=lambda f: f["count"]
            )
        link = ListLinks(filters)
        overdue, by_month, undated, ahead = forecast_rows(
            figures, today=today, months=months, link=link
        )
        context.update(
            shown,
            today=today,
            months=months,
            overdue=overdue,
            by_month=by_month,
            undated=undated,
            ahead=ahead,
            won=won_so_far(figures, today=today, link=link),
            chart=chart(by_month),
            csv_url=csv_url(self.request.GET),
        )
        return context

    def csv_table(self, context) -> tuple[list[str], list[list]]:
        rows = [context["overdue"], *context["by_month"], context["undated"], context["ahead"]]
        return (
            [
                _("Expected close"),
                pgettext("period", "From"),
                pgettext("period", "To"),
                _("Leads"),
                _("Value (EUR)"),
                _("Weighted value (EUR)"),
            ],
            (
                [
                    row.label,
                    row.start.isoformat() if row.start else "",
                    row.end.isoformat() if row.end else "",
                    row.count,
                    cents(row.value),
                    cents(row.weighted),
                ]
                for row in rows
            ),
        )
