"""Managers' reports. The win/loss page: how leads closed, month by month.

Every figure comes from two grouped queries over the leads that closed in the period,
read through ``lead_actual_close_idx`` (on PostgreSQL an index-only scan: the index
holds the close date, stage, owner, value, won value and loss reason):

- the closed leads grouped by month, stage and loss reason, with their count and sums;
  whether a group was won or lost follows from its stage, looked up in Python;
- the competitors named on the lost leads, the ten most named.

The result is cached like the list's totals (``leads.totals``): until the next write to
any lead, or a minute at most for changes that record no event.
"""

import calendar
import csv
import datetime
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from django.views.generic import TemplateView, View

from crm.web.htmx import HtmxPartialMixin
from pipelines.models import Pipeline, PipelineStage

from .export import neutralise
from .filters import NO_SOURCE, TEAM_PREFIX, assignee_choices, source_choices
from .models import Lead, LeadSource, LossReason, Membership, Status
from .totals import cached_for_filters

#: The period shown unasked: this month and the eleven before it.
DEFAULT_MONTHS = 12
#: The longest period one page shows (a bar per month must stay readable).
MAX_MONTHS = 36
#: How many competitors the page names.
TOP_COMPETITORS = 10
#: The list's ``lost_reason`` value for lost leads without a reason.
NOT_RECORDED = "none"

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")

# --- the period and the filters ----------------------------------------------------------


def parse_month(text: str) -> datetime.date | None:
    """ "2026-03" → 1 March 2026; None for anything else (the form of <input type=month>)."""
    match = _MONTH.fullmatch(text.strip())
    if not match:
        return None
    year, month = int(match[1]), int(match[2])
    if not (1900 <= year <= 9998 and 1 <= month <= 12):
        return None
    return datetime.date(year, month, 1)


def month_end(first: datetime.date) -> datetime.date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def add_months(first: datetime.date, months: int) -> datetime.date:
    index = first.year * 12 + first.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def month_count(start: datetime.date, end: datetime.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def months_between(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """The first day of every month from start's to end's, both included."""
    return [add_months(start, n) for n in range(month_count(start, end))]


def default_period(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    this_month = today.replace(day=1)
    return add_months(this_month, 1 - DEFAULT_MONTHS), this_month


class MonthInput(forms.TextInput):
    input_type = "month"


@dataclass
class Filters:
    """What the page shows: the period (whole months, both ends included), the pipeline
    and the owner as they apply, and what was not understood."""

    start: datetime.date
    end: datetime.date
    pipeline: str = ""
    assignee: str = ""  # "me", "none", a user's id, or "team:<id>"
    source: str = ""  # a source's slug, or "none"
    problems: list[str] = field(default_factory=list)

    @property
    def months(self) -> list[datetime.date]:
        return months_between(self.start, self.end)

    def params(self) -> QueryDict:
        """As URL parameters: the cache key's filters and the form's values."""
        params = QueryDict(mutable=True)
        params.update({"from": f"{self.start:%Y-%m}", "to": f"{self.end:%Y-%m}"})
        for name in ("pipeline", "assignee", "source"):
            if value := getattr(self, name):
                params[name] = value
        return params


def read_filters(
    data: QueryDict,
    *,
    today: datetime.date,
    pipelines,
    owners,
    sources=(),
    any_pipeline: bool = True,
) -> Filters:
    """The filters in ``data``; whatever is not understood falls back to its default
    (the last 12 months, all pipelines, anyone, any source), with a sentence saying so.

    ``pipelines``, ``owners`` and ``sources`` are the choices offered, as (value, label)
    pairs. Without ``any_pipeline`` one pipeline always applies: the first offered (the
    default one) unless another is chosen.
    """
    first, last = default_period(today)
    filters = Filters(start=first, end=month_end(last))
    given_from, given_to = data.get("from", "").strip(), data.get("to", "").strip()
    if given_from or given_to:
        start = parse_month(given_from) if given_from else None
        end = parse_month(given_to) if given_to else last
        if (given_from and start is None) or end is None:
            filters.problems.append(
                _(
                    "The period was not understood (write months like 2026-03): "
                    "showing the last 12 months."
                )
            )
        else:
            start = start or add_months(end, 1 - DEFAULT_MONTHS)
            if start > end:
                filters.problems.append(
                    _("The period ends before it starts: showing the last 12 months.")
                )
            elif month_count(start, end) > MAX_MONTHS:
                filters.problems.append(
                    ngettext(
                        "A period spans at most %(count)s month: showing the last 12 months.",
                        "A period spans at most %(count)s months: showing the last 12 months.",
                        MAX_MONTHS,
                    )
                    % {"count": MAX_MONTHS}
                )
            else:
                filters.start, filters.end = start, month_end(end)
    for name, choices, unknown in (
        ("pipeline", pipelines, _("There is no such pipeline: showing all pipelines.")),
        ("assignee", owners, _("There is no such owner: showing all owners.")),
        ("source", sources, _("There is no such source: showing all sources.")),
    ):
        value = data.get(name, "")
        if value in {str(v) for v, _label in choices}:
            setattr(filters, name, str(value))
        elif value:
            if name == "pipeline" and not any_pipeline and pipelines:
                unknown = _("There is no such pipeline: showing %(pipeline)s.") % {
                    "pipeline": pipelines[0][1]
                }
            filters.problems.append(unknown)
    if not any_pipeline and not filters.pipeline and pipelines:
        filters.pipeline = str(pipelines[0][0])
    return filters


class ReportForm(forms.Form):
    """The reports' filter bar, drawn from the filters as they apply (``Filters``).

    Its choices are handed in, read once for checking and drawing alike; without owners
    (a rep, who sees their own figures) it has no owner field. A report of today's
    figures has no ``period``; one of a single pipeline's stages offers no "All
    pipelines" (``any_pipeline``).
    """

    pipeline = forms.ChoiceField(label=gettext_lazy("Pipeline"), required=False)
    assignee = forms.ChoiceField(label=gettext_lazy("Owner"), required=False)
    source = forms.ChoiceField(label=gettext_lazy("Source"), required=False)

    def __init__(
        self,
        filters: Filters,
        *,
        pipelines,
        owners,
        sources,
        period: bool = True,
        any_pipeline: bool = True,
    ):
        super().__init__(initial=filters.params().dict())
        # "from" is a Python keyword, so the two months are added by name.
        # Translators: the placeholder of a month field, as in 2026-03.
        month = {"placeholder": _("YYYY-MM"), "pattern": "[0-9]{4}-[0-9]{2}"}
        if period:
            self.fields = {
                "from": forms.CharField(
                    label=pgettext("period", "From"), required=False, widget=MonthInput(month)
                ),
                "to": forms.CharField(
                    label=pgettext("period", "To"), required=False, widget=MonthInput(month)
                ),
                **self.fields,
            }
        self.fields["pipeline"].choices = [
            *([("", _("All pipelines"))] if any_pipeline else []),
            *pipelines,
        ]
        self.fields["source"].choices = [("", _("Any source")), *sources]
        if owners:
            self.fields["assignee"].choices = [("", _("Anyone")), *owners]
        else:
            del self.fields["assignee"]


# --- the queries -------------------------------------------------------------------------


def scoped_leads(filters: Filters, *, user, leads=None):
    """The leads of the pipeline, owner and source chosen (every report's scope). Each
    condition names ids only (stages, users, a source), looked up first, so that the
    reports' indexes can answer without a join."""
    leads = (Lead.objects.all() if leads is None else leads).order_by()
    if filters.pipeline:
        pipeline = PipelineStage.objects.filter(pipeline_id=filters.pipeline)
        leads = leads.filter(stage_id__in=list(pipeline.values_list("pk", flat=True)))
    if filters.assignee == "me":
        leads = leads.filter(assignee_id=user.pk)
    elif filters.assignee == "none":
        leads = leads.filter(assignee_id__isnull=True)
    elif filters.assignee.startswith(TEAM_PREFIX):
        members = Membership.objects.filter(team_id=filters.assignee.removeprefix(TEAM_PREFIX))
        leads = leads.filter(assignee_id__in=list(members.values_list("user_id", flat=True)))
    elif filters.assignee:
        leads = leads.filter(assignee_id=filters.assignee)
    if filters.source == NO_SOURCE:
        leads = leads.filter(source_id__isnull=True)
    elif filters.source:
        source = LeadSource.objects.filter(slug=filters.source).values_list("pk", flat=True)
        leads = leads.filter(source_id__in=list(source))
    return leads


def closed_leads(filters: Filters, *, user):
    """The leads with a close date in the period, in the report's scope (a close date
    left on an open lead by hand is for the caller to skip)."""
    period = Lead.objects.filter(actual_close_date__range=(filters.start, filters.end))
    return scoped_leads(filters, user=user, leads=period)


def closed_figures(filters: Filters, *, user) -> dict:
    """The figures of the leads that closed in the period, from four small queries.

    - the stages and their kinds, a handful of rows;
    - the leads closed in the period grouped by day, stage and loss reason, with their
      count and value (a won lead's won value), added up by month here;
    - the ten competitors most named on the lost leads, with their count and value.

    The conditions name only columns of ``lead_actual_close_idx`` (the close date, the
    stage ids, the owner's id), so PostgreSQL answers the second from the index alone;
    the third reads ``lead_competitor_close_idx``, which holds only the leads that name
    a competitor. Without a pipeline no stage is named: every lead with a close date
    is closed (reopening clears it), and naming all the closed stages made PostgreSQL
    expect a quarter of the rows and plan without parallel workers.
    The loss reasons' names come along (the fourth, a handful of rows), so that a
    cached result needs no query of its own.
    """
    kinds = dict(PipelineStage.objects.values_list("pk", "kind"))
    closed = {pk for pk, kind in kinds.items() if kind != PipelineStage.Kind.OPEN}
    leads = closed_leads(filters, user=user)
    # By day, not by month: PostgreSQL knows how many days there are (a date_trunc
    # looked like 25,000 groups to it and it sorted 200,000 rows on disk to find 96),
    # and a year holds at most a few thousand (day, stage, reason) groups.
    # A won lead's value is its won value (they are equal; a lost lead has none).
    months = defaultdict(lambda: [0, None])
    for row in (
        leads.values("actual_close_date", "stage_id", "lost_reason_id")
        .annotate(n=Count("pk"), v=Sum(Coalesce("won_value", "value")))
        .order_by()
    ):
        if row["stage_id"] not in closed:
            continue  # a close date left on an open lead (by hand): it did not close
        month = row["actual_close_date"].replace(day=1)
        group = months[(month, kinds[row["stage_id"]], row["lost_reason_id"])]
        group[0] += row["n"]
        if row["v"] is not None:
            group[1] = (group[1] or 0) + row["v"]
    groups = [(*key, *sums) for key, sums in months.items()]
    competitors = []
    if any(group[1] == PipelineStage.Kind.LOST for group in groups):
        # Only a lost lead names a competitor (the services clear it otherwise): naming
        # the lost stages too made PostgreSQL read the table rather than the index.
        competitors = list(
            leads.exclude(competitor="")
            .values("competitor")
            # Not Count("pk"): the index holds no id, and one would cost a heap read
            # per lead (340 ms instead of 27 at a million leads).
            .annotate(n=Count("competitor"), v=Sum("value"))
            .order_by("-n", F("v").desc(nulls_last=True), "competitor")
            .values_list("competitor", "n", "v")[:TOP_COMPETITORS]
        )
    reasons = dict(LossReason.objects.values_list("pk", "name")) if groups else {}
    return {
        "groups": groups,
        "competitors": competitors,
        "reasons": reasons,
        "count": sum(group[3] for group in groups),
    }


# --- what the page shows -----------------------------------------------------------------


class WinRate:
    """The win rate of something with ``won`` and ``lost`` counts (a month, an owner)."""

    won: int
    lost: int

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def win_rate(self) -> float | None:
        """Won of won and lost, by count; None when nothing closed."""
        return self.won / self.closed if self.closed else None


@dataclass
class Tally(WinRate):
    """Won and lost leads of a month (or of the period): counts and values, and the
    links to the list showing them."""

    start: datetime.date
    end: datetime.date
    won: int = 0
    won_value: Decimal = Decimal(0)
    lost: int = 0
    lost_value: Decimal = Decimal(0)
    won_url: str = ""
    lost_url: str = ""

    @property
    def value_win_rate(self) -> float | None:
        """Won of won and lost, by value (leads of unknown value left out)."""
        total = self.won_value + self.lost_value
        return float(self.won_value / total) if total else None


@dataclass
class Share:
    """A loss reason or a competitor: its lost leads, their value, and their share."""

    name: str
    count: int
    value: Decimal | None  # None: no lead of them has a known value
    share: float
    url: str
    not_recorded: bool = False


class ListLinks:
    """Links to the lead list showing the leads behind a figure (the list's filters:
    status, closed_from/closed_to, pipeline, assignee, lost_reason, competitor)."""

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

    def __call__(self, status: str, start: datetime.date, end: datetime.date, **extra) -> str:
        params = QueryDict(mutable=True)
        params.update(
            {"status": status, "closed_from": start.isoformat(), "closed_to": end.isoformat()}
        )
        params.update(self.scope)
        params.update(extra)
        return f"{self.base}?{params.urlencode()}"

    def closed(self, start: datetime.date, end: datetime.date, **extra) -> str:
        """Won and lost alike: with a close-date filter the list shows every status."""
        params = QueryDict(mutable=True)
        params.update({"closed_from": start.isoformat(), "closed_to": end.isoformat()})
        params.update(self.scope)
        params.update(extra)
        return f"{self.base}?{params.urlencode()}"

    def leads(self, **filters) -> str:
        """The list with these filters in the report's scope (without a status: the open
        leads). A figure's own filter replaces the scope's (a row's owner or source
        replaces the one chosen above the report); None leaves a filter out."""
        given = {name: str(value) for name, value in filters.items() if value is not None}
        params = QueryDict(mutable=True)
        params.update({**self.scope, **given})
        return f"{self.base}?{params.urlencode()}"


def cents(amount) -> Decimal:
    """An amount as a CSV cell: to the cent, as the database holds it on every backend."""
    return Decimal(amount).quantize(Decimal("0.01"))


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


def csv_response(name: str, header: list[str], rows) -> HttpResponse:
    """A report's table as a CSV download, ``<name>-<today>.csv``, every cell through
    ``csv_cell``; with a BOM, as the lead export writes it, so that spreadsheets read
    UTF-8 as UTF-8."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{name}-{timezone.localdate():%Y-%m-%d}.csv"
    )
    response["Cache-Control"] = "no-store"
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return response


#: The format parameter that asks a report for its table as CSV.
CSV_FORMAT = "csv"


class CsvDownloadMixin:
    """``?format=csv``: the report's table as a CSV file instead of the page, from the
    same figures (the same filters, and a rep's own leads only). ``csv_table(context)``
    gives the header and the rows; ``csv_url`` in the context links to it."""

    csv_name = "report"

    def csv_table(self, context) -> tuple[list[str], list[list]]:
        raise NotImplementedError

    def csv_url(self, filters: Filters, params: QueryDict | None = None) -> str:
        return self.request.path + csv_url(params if params is not None else filters.params())

    def render_to_response(self, context, **response_kwargs):
        if self.request.GET.get("format") == CSV_FORMAT:
            header, rows = self.csv_table(context)
            return csv_response(self.csv_name, header, rows)
        return super().render_to_response(context, **response_kwargs)


def tallies(filters: Filters, figures: dict, link: ListLinks) -> tuple[list[Tally], Tally]:
    """A tally for every month of the period (months without closed leads hold zeros),
    and one for the whole period."""
    by_month = {month: Tally(month, month_end(month)) for month in filters.months}
    total = Tally(filters.start, filters.end)
    for month, kind, _reason, count, value in figures["groups"]:
        for tally in (by_month[month], total):
            if kind == PipelineStage.Kind.WON:
                tally.won += count
                tally.won_value += value or 0
            else:
                tally.lost += count
                tally.lost_value += value or 0
    for tally in [*by_month.values(), total]:
        if tally.won:
            tally.won_url = link(Status.WON, tally.start, tally.end)
        if tally.lost:
            tally.lost_url = link(Status.LOST, tally.start, tally.end)
    return list(by_month.values()), total


def loss_reasons(filters: Filters, figures: dict, total: Tally, link: ListLinks) -> list[Share]:
    """The loss reasons given in the period, the most given first; lost leads without a
    reason as "Not recorded"."""
    not_recorded = _("Not recorded")
    counts, values = defaultdict(int), {}
    for _month, kind, reason, count, value in figures["groups"]:
        if kind == PipelineStage.Kind.LOST:
            counts[reason] += count
            if value is not None:  # None: no lead of the group has a known value
                values[reason] = values.get(reason, 0) + value
    rows = [
        Share(
            name=figures["reasons"].get(reason, not_recorded) if reason else not_recorded,
            count=count,
            value=values.get(reason),
            share=count / total.lost,
            url=link(
                Status.LOST,
                filters.start,
                filters.end,
                lost_reason=str(reason) if reason else NOT_RECORDED,
            ),
            not_recorded=reason is None,
        )
        for reason, count in counts.items()
    ]
    # "Not recorded" is no reason: it goes last whatever its size.
    return sorted(rows, key=lambda row: (row.not_recorded, -row.count, -(row.value or 0), row.name))


def competitors(filters: Filters, figures: dict, total: Tally, link: ListLinks) -> list[Share]:
    return [
        Share(
            name=name,
            count=count,
            value=value,
            share=count / total.lost,
            url=link(Status.LOST, filters.start, filters.end, competitor=name),
        )
        for name, count, value in figures["competitors"]
    ]


#: The chart's geometry, in SVG user units (the SVG scales to its box).
CHART_HEIGHT = 160
CHART_TOP = 18  # room for the count above the tallest bar
CHART_BOTTOM = 36  # room for the month and year under the bars
GROUP_WIDTH = 44
BAR_WIDTH = 16


def chart(months: list[Tally]) -> dict:
    """Where the won and lost bars of each month go: heights scaled to the busiest
    month's larger count."""
    tallest = max((max(t.won, t.lost) for t in months), default=0) or 1
    bars = []
    for index, tally in enumerate(months):
        left = index * GROUP_WIDTH + (GROUP_WIDTH - 2 * BAR_WIDTH - 2) / 2
        month = {"tally": tally, "label_x": index * GROUP_WIDTH + GROUP_WIDTH / 2}
        for kind, count, x in (
            ("won", tally.won, left),
            ("lost", tally.lost, left + BAR_WIDTH + 2),
        ):
            height = round(CHART_HEIGHT * count / tallest, 1)
            month[kind] = {
                "count": count,
                "x": x,
                "y": CHART_TOP + CHART_HEIGHT - height,
                "height": height,
                "label_x": x + BAR_WIDTH / 2,
                "label_y": CHART_TOP + CHART_HEIGHT - height - 4,
            }
        month["show_year"] = index == 0 or tally.start.month == 1
        bars.append(month)
    return {
        "months": bars,
        "width": len(months) * GROUP_WIDTH,
        "height": CHART_TOP + CHART_HEIGHT + CHART_BOTTOM,
        "baseline": CHART_TOP + CHART_HEIGHT,
        "bar_width": BAR_WIDTH,
        "month_y": CHART_TOP + CHART_HEIGHT + 14,
        "year_y": CHART_TOP + CHART_HEIGHT + 28,
    }


class ReportView(HtmxPartialMixin, TemplateView):
    """A report page: its period, pipeline, owner and source read from the URL
    (``read_filters``), the form that changes them, and the names they stand for.

    Managers (``leads.change_any_lead``) choose whose figures they see; a rep sees their
    own, whatever the URL says. A report of today's figures has no ``period``; one of a
    single pipeline's stages shows the default pipeline unasked (not ``any_pipeline``).
    """

    period = True
    any_pipeline = True
    form_class = ReportForm

    def report_context(self) -> tuple[Filters, dict]:
        """The filters, and what every report's page shows of them."""
        pipelines = [
            (str(pk), name)
            for pk, name in Pipeline.objects.order_by("-is_default", "name").values_list(
                "pk", "name"
            )
        ]
        sources = source_choices()
        everyone = self.request.user.has_perm("leads.change_any_lead")
        owners = assignee_choices() if everyone else []
        data = self.request.GET
        if not self.period:  # a period in the URL (from another report) does not apply
            data = data.copy()
            for name in ("from", "to"):
                data.pop(name, None)
        filters = read_filters(
            data,
            today=timezone.localdate(),
            pipelines=pipelines,
            owners=owners,
            sources=sources,
            any_pipeline=self.any_pipeline,
        )
        if not everyone:
            filters.assignee = "me"
        form = self.form_class(
            filters,
            pipelines=pipelines,
            owners=owners,
            sources=sources,
            period=self.period,
            any_pipeline=self.any_pipeline,
        )
        return filters, {
            "form": form,
            "filters": filters,
            "pipeline_name": dict(pipelines).get(filters.pipeline, ""),
            "owner_name": dict(owners).get(filters.assignee, "") if everyone else "",
            "own_figures": not everyone,
            "source_name": dict(sources).get(filters.source, ""),
        }


class ReportsView(View):
    """/reports/: the first report."""

    def get(self, request):
        return HttpResponseRedirect(reverse("leads:forecast"))


class WinLossView(ReportView):
    """/reports/win-loss/: won and lost leads per month, win rates, loss reasons and
    competitors for a period, a pipeline and an owner; every figure links to its leads.

    Everyone signed in may read it (reps see every lead anyway). A constant number of
    queries, whatever the period: see ``closed_figures``; cached like the list's totals.
    """

    template_name = "leads/reports/win_loss.html"
    partials = {"win-loss": "report"}
    #: ``?format=csv&table=…``: each table of the page as a download.
    csv_tables = ("months", "reasons", "competitors")

    def get(self, request, *args, **kwargs):
        context = self.get_context_data(**kwargs)
        if request.GET.get("format") == "csv":
            return win_loss_csv(context, request.GET.get("table", ""))
        return self.render_to_response(context)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters, shown = self.report_context()
        context.update(shown)
        figures = cached_for_filters(
            "win-loss",
            filters.params(),
            self.request.user,
            lambda: closed_figures(filters, user=self.request.user),
            size=lambda figures: figures["count"],
        )
        link = ListLinks(filters)
        months, total = tallies(filters, figures, link)
        context.update(
            months=months,
            total=total,
            reasons=loss_reasons(filters, figures, total, link) if total.lost else [],
            competitors=competitors(filters, figures, total, link) if total.lost else [],
            chart=chart(months),
            csv_urls=csv_urls(self.request.GET, self.csv_tables),
        )
        return context


def csv_url(params: QueryDict, table: str = "") -> str:
    """The page's query with ``format=csv`` (and a table's name, where the page has
    several): its download."""
    query = params.copy()
    query.setlist("format", ["csv"])
    if table:
        query.setlist("table", [table])
    return f"?{query.urlencode()}"


def csv_urls(params: QueryDict, tables) -> dict[str, str]:
    """Each table's download (``csv_url``), by the table's name."""
    return {table: csv_url(params, table) for table in tables}


def win_loss_csv(context: dict, table: str) -> HttpResponse:
    """One of the win/loss tables as CSV (the months unless another is named)."""
    if table in ("reasons", "competitors"):
        return csv_response(
            f"win-loss-{table}",
            [
                _("Loss reason") if table == "reasons" else _("Competitor"),
                pgettext("status", "Lost"),
                _("Value (EUR)"),
                _("Share"),
            ],
            (
                [
                    row.name,
                    row.count,
                    cents(row.value) if row.value is not None else "",
                    round(row.share, 4),
                ]
                for row in context[table]
            ),
        )
    rows = [*context["months"], context["total"]]
    return csv_response(
        "win-loss",
        [
            _("Month"),
            pgettext("period", "From"),
            pgettext("period", "To"),
            pgettext("status", "Won"),
            _("Won value (EUR)"),
            pgettext("status", "Lost"),
            _("Lost value (EUR)"),
            _("Win rate"),
        ],
        (
            [
                _("Total") if row is context["total"] else f"{row.start:%Y-%m}",
                row.start.isoformat(),
                row.end.isoformat(),
                row.won,
                cents(row.won_value),
                row.lost,
                cents(row.lost_value),
                round(row.win_rate, 4) if row.win_rate is not None else "",
            ]
            for row in rows
        ),
    )
