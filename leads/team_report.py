"""The team report: each rep's open leads now and how their leads closed in a period.

Per owner (each active user holding leads in the report's scope, every member of the
team chosen as owner, and "Unassigned"): the open leads and their value now, how many
of them are overdue (expected to close before today) and stale (``LeadQuerySet.stale``'s
rule), the leads won and lost in the period by the day they closed, and the win rate
(won of won and lost).

Two grouped queries, one per kind of figure, each read from an index alone on
PostgreSQL: the open leads by owner (``lead_stage_assignee_idx``, which carries the
value, the expected close date and the last activity: migration 0019), and the leads
closed in the period by owner and stage (``lead_actual_close_idx``, as the win/loss
report reads it). Cached like the win/loss figures.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from pipelines.models import PipelineStage

from .filters import TEAM_PREFIX, user_label
from .models import Membership, Status, inactive_condition
from .report_tables import (
    Bar,
    Segment,
    bar_chart,
    count,
    percentage,
    period_label,
)
from .reports import (
    CsvDownloadMixin,
    Filters,
    ListLinks,
    ReportView,
    WinRate,
    scoped_leads,
)
from .totals import cached_for_filters

#: The owner of unassigned leads, in the figures.
NOBODY = None


# --- the queries -------------------------------------------------------------------------


def team_figures(filters: Filters, *, user, now=None) -> dict:
    """Per owner id (None: unassigned): [open, open value, overdue, stale, won, lost];
    and the owners' names and whether they are active, the members of the team chosen."""
    now = now or timezone.now()
    stages = list(PipelineStage.objects.values_list("pk", "kind", "pipeline__stale_after_days"))
    kinds = {pk: kind for pk, kind, _days in stages}
    open_ids = [pk for pk, kind in kinds.items() if kind == PipelineStage.Kind.OPEN]
    thresholds = [(pk, days) for pk, kind, days in stages if kind == PipelineStage.Kind.OPEN]
    owners: dict[int | None, list] = {}

    def owner(pk):
        return owners.setdefault(pk, [0, None, 0, 0, 0, 0])

    # The scope's ids (a pipeline's stages, a team's members) are looked up once for both.
    scope = scoped_leads(filters, user=user)
    if open_ids:
        leads = scope.filter(stage_id__in=open_ids)
        # By stage and owner, the order of lead_stage_assignee_idx: PostgreSQL adds up
        # each group as it reads (by owner alone, it hashed 730,000 rows: 40 % slower).
        # Counting the stage (never empty), not the id: the index holds the stage, not
        # the id (COUNT(*) takes no filter in Django).
        for row in (
            leads.values("stage_id", "assignee_id")
            .annotate(
                open=Count("stage_id"),
                value=Sum("value"),
                overdue=Count(
                    "stage_id", filter=Q(expected_close_date__lt=timezone.localdate(now))
                ),
                stale=Count("stage_id", filter=inactive_condition(now, stages=thresholds)),
            )
            .order_by()
        ):
            figures = owner(row["assignee_id"])
            figures[0] += row["open"]
            if row["value"] is not None:
                figures[1] = (figures[1] or 0) + row["value"]
            figures[2] += row["overdue"]
            figures[3] += row["stale"]
    for row in (
        scope.filter(actual_close_date__range=(filters.start, filters.end))
        .values("assignee_id", "stage_id")
        .annotate(n=Count("stage_id"))
        .order_by()
    ):
        kind = kinds.get(row["stage_id"])
        if kind in (PipelineStage.Kind.WON, PipelineStage.Kind.LOST):  # not a stray date
            owner(row["assignee_id"])[4 if kind == PipelineStage.Kind.WON else 5] += row["n"]
    members = []
    if filters.assignee.startswith(TEAM_PREFIX):
        team = filters.assignee.removeprefix(TEAM_PREFIX)
        members = list(Membership.objects.filter(team_id=team).values_list("user_id", flat=True))
    ids = {pk for pk in [*owners, *members] if pk is not NOBODY}
    people = {
        person.pk: (user_label(person), person.is_active)
        for person in get_user_model()
        .objects.filter(pk__in=ids)
        .only("pk", "username", "first_name", "last_name", "is_active")
    }
    return {
        "owners": owners,
        "people": people,
        "members": members,
        "count": sum(figures[0] + figures[4] + figures[5] for figures in owners.values()),
    }


# --- what the page shows -----------------------------------------------------------------


@dataclass
class OwnerRow(WinRate):
    """An owner's figures and the links to the leads behind them."""

    label: str
    assignee: str  # the list's assignee value: a user's id, or "none"
    open: int = 0
    value: Decimal | None = None  # None: no open lead has a known value
    overdue: int = 0
    stale: int = 0
    won: int = 0
    lost: int = 0
    unassigned: bool = False
    deactivated: bool = False  # the list offers no such owner: no links
    open_url: str = ""
    overdue_url: str = ""
    stale_url: str = ""
    won_url: str = ""
    lost_url: str = ""

    def add(self, figures: list) -> None:
        open_, value, overdue, stale, won, lost = figures
        self.open += open_
        self.overdue += overdue
        self.stale += stale
        self.won += won
        self.lost += lost
        if value is not None:
            self.value = (self.value or 0) + value


def owner_rows(filters: Filters, figures: dict) -> tuple[list[OwnerRow], OwnerRow]:
    """A row per active owner by name, then the unassigned leads (unless the report is
    one person's or one team's), then the leads of deactivated users together (the
    list cannot show them by owner). And the row of them all."""
    people = figures["people"]
    rows: dict = {}
    for pk in figures["members"]:
        if people.get(pk, ("", False))[1]:
            rows[pk] = OwnerRow(people[pk][0], str(pk))
    deactivated = OwnerRow(_("Deactivated users"), "", deactivated=True)
    nobody = OwnerRow(_("Unassigned"), "none", unassigned=True)
    total = OwnerRow(_("Total"), filters.assignee)
    for pk, owned in figures["owners"].items():
        if pk is NOBODY:
            row = nobody
        elif people[pk][1]:
            row = rows.setdefault(pk, OwnerRow(people[pk][0], str(pk)))
        else:
            row = deactivated
        row.add(owned)
        total.add(owned)
    ordered = sorted(rows.values(), key=lambda row: (row.label.casefold(), row.assignee))
    if not filters.assignee or filters.assignee == "none" or nobody.open or nobody.closed:
        ordered.append(nobody)
    if deactivated.open or deactivated.closed:
        ordered.append(deactivated)
    return ordered, total


def add_links(rows: list[OwnerRow], total: OwnerRow, filters: Filters, link: Callable[..., str]):
    """Each figure's leads in the list: the owner's open leads (all, overdue, stale), and
    those won and lost in the period. The total's are the scope's own."""
    period = {"closed_from": filters.start.isoformat(), "closed_to": filters.end.isoformat()}
    for row in [*rows, total]:
        if row.deactivated:
            continue
        who = {"assignee": row.assignee or None}
        if row.open:
            row.open_url = link(**who)
        if row.overdue:
            row.overdue_url = link(**who, due="overdue")
        if row.stale:
            row.stale_url = link(**who, stale=1)
        if row.won:
            row.won_url = link(**who, status=Status.WON, **period)
        if row.lost:
            row.lost_url = link(**who, status=Status.LOST, **period)


def chart(rows: list[OwnerRow]) -> dict:
    """Per owner, the open leads as a bar: the overdue ones first, hatched."""
    return bar_chart(
        [
            Bar(
                label=row.label,
                total=row.open,
                summary=_("%(open)s open · %(overdue)s overdue")
                % {"open": count(row.open), "overdue": count(row.overdue)},
                segments=[
                    Segment(row.overdue, pgettext("chart", "overdue"), "chart-overdue"),
                    Segment(
                        row.open - row.overdue,
                        pgettext("chart", "open, not overdue"),
                        "chart-open-work",
                    ),
                ],
            )
            for row in rows
        ]
    )


class TeamReportView(CsvDownloadMixin, ReportView):
    """/reports/team/: per rep, the open leads and their value now, the overdue and
    stale ones, the leads won and lost in a period and the win rate; each figure links
    to its leads, and the table downloads as CSV.

    Everyone signed in may read it (a rep sees their own row). Two grouped queries
    whatever the number of reps (see ``team_figures``); cached like the win/loss figures.
    """

    template_name = "leads/reports/team.html"
    partials = {"team-report": "report"}
    csv_name = "team-report"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters, shown = self.report_context()
        context.update(shown)
        figures = cached_for_filters(
            "team",
            filters.params(),
            self.request.user,
            lambda: team_figures(filters, user=self.request.user),
            size=lambda figures: figures["count"],
        )
        rows, total = owner_rows(filters, figures)
        add_links(rows, total, filters, ListLinks(filters).leads)
        context.update(
            rows=rows,
            total=total,
            chart=chart([row for row in rows if not row.deactivated]),
            period=period_label(filters),
            csv_url=self.csv_url(filters),
            any_deactivated=any(row.deactivated for row in rows),
        )
        return context

    def csv_table(self, context):
        header = [
            _("Owner"),
            pgettext("status", "Open"),
            _("Open value (EUR)"),
            _("Overdue"),
            _("Stale"),
            pgettext("status", "Won"),
            pgettext("status", "Lost"),
            # Translators: xgettext:no-python-format
            _("Win rate (% of won and lost)"),
        ]
        rows = [
            [
                row.label,
                row.open,
                row.value,
                row.overdue,
                row.stale,
                row.won,
                row.lost,
                percentage(row.win_rate),
            ]
            for row in [*context["rows"], context["total"]]
        ]
        return header, rows
