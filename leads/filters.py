"""The lead list's search, filters and sort, all from the URL."""

import datetime
import functools

from django import forms
from django.db.models import F, Q, Value
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client, Contact
from crm.web.filters import (
    SEARCH_ID_LIMIT,
    BooleanFilter,
    CharFilter,
    ChoiceFilter,
    DateFilter,
    ModelChoiceFilter,
    ModelMultipleChoiceFilter,
    MultipleChoiceFilter,
    NumberFilter,
    SortedFilterSet,
    SortFilter,
)
from crm.web.templatetags.formatting import format_money
from pipelines.models import Pipeline, PipelineStage, all_stages

from . import tally
from .assignees import active_user_list
from .models import (
    Lead,
    LossReason,
    Membership,
    Priority,
    Status,
    Team,
    all_sources,
    priority_rank,
)
from .scoring import Rating, ScoringSettings

NO_SOURCE = "none"
#: The assignee filter's value for a team's leads: "team:<id>".
TEAM_PREFIX = "team:"
#: ``lost_reason=none``: lost leads without a reason (lost before reasons were asked).
NOT_RECORDED = "none"

#: sort key → expression; leads without a value sort last in both directions.
SORTS = {
    "title": F("title"),
    "client": F("client__name"),
    "stage": F("stage__order"),
    "value": F("value"),
    "probability": F("probability"),
    "priority": priority_rank,
    "source": F("source__label"),
    "assignee": F("assignee__username"),
    "expected_close_date": F("expected_close_date"),
    "actual_close_date": F("actual_close_date"),
    "updated_at": F("updated_at"),
    "created_at": F("created_at"),
    # Age in stage: a longer age is an earlier entry (LeadFilter.reversed_sorts).
    "age": F("stage_entered_at"),
    "score": F("stored_score__score"),  # LeadFilter.filter_sort joins it
}
DEFAULT_SORT = "-updated_at"
#: Sorts over columns that can be empty; empty values go last in both directions.
NULLABLE_SORTS = frozenset(
    {
        "client",
        "value",
        "probability",
        "source",
        "assignee",
        "expected_close_date",
        "actual_close_date",
        "score",  # unscored: no active criteria when the lead was last written
    }
)
#: Filters on how a lead closed: only won or lost leads match them.
CLOSING_FILTERS = ("lost_reason", "competitor", "closed_from", "closed_to")
#: Filters on the way a lead went, which leads of every status went: unasked, the list
#: shows them all (not only the open ones).
HISTORY_FILTERS = ("entered_stage",)
#: The filters the running totals can answer (``leads.tally``): the lead's own stage,
#: owner, source and priority (the status and the pipeline are the stage's).
TALLY_FILTERS = ("status", "pipeline", "stage", "source", "priority", "assignee")


class DuePreset:
    OVERDUE = "overdue"
    THIS_WEEK = "this_week"
    THIS_MONTH = "this_month"
    THIS_QUARTER = "this_quarter"
    NONE = "none"

    choices = [
        (OVERDUE, _("Overdue")),
        (THIS_WEEK, _("This week")),
        (THIS_MONTH, _("This month")),
        (THIS_QUARTER, _("This quarter")),
        (NONE, _("No date")),
    ]


def due_range(preset: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """First and last day of a week, month or quarter preset around today."""
    if preset == DuePreset.THIS_WEEK:
        start = today - datetime.timedelta(days=today.weekday())
        return start, start + datetime.timedelta(days=6)
    if preset == DuePreset.THIS_MONTH:
        start = today.replace(day=1)
    else:  # quarter
        start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    months = 1 if preset == DuePreset.THIS_MONTH else 3
    year, month = divmod(start.month - 1 + months, 12)
    end = datetime.date(start.year + year, month + 1, 1) - datetime.timedelta(days=1)
    return start, end


def search_condition(text: str) -> Q:
    """Leads whose title, description, client name or contact name contains the text.

    Case-insensitive substring matching (icontains) everywhere. The clients and contacts
    whose name matches are looked up first, in one small query, so that the condition on
    the lead table names only its own columns: for a rare word PostgreSQL then combines
    the trigram indexes on title and description with the client and contact indexes (a
    BitmapOr) instead of joining both tables for every lead. A word common in names
    (more than SEARCH_ID_LIMIT matches) stays a subquery, which suits the plan such a
    search gets anyway: walk the sort order's index and test each lead. The list, the
    board and the admin share it.
    """
    condition = Q(title__icontains=text) | Q(description__icontains=text)
    clients = Client.objects.filter(name__icontains=text).order_by()
    contacts = Contact.objects.filter(name__icontains=text).order_by()
    found = list(
        clients.values_list(Value("client"), "pk")
        .union(contacts.values_list(Value("contact"), "pk"), all=True)
        .order_by()[: SEARCH_ID_LIMIT + 1]
    )
    if len(found) > SEARCH_ID_LIMIT:
        return condition | Q(client__in=clients.values("pk")) | Q(contact__in=contacts.values("pk"))
    for field in ("client", "contact"):
        ids = [pk for kind, pk in found if kind == field]
        if ids:
            condition |= Q(**{f"{field}_id__in": ids})
    return condition


def unset(value) -> bool:
    """Whether a cleaned filter value is a filter left empty (a value of 0 is a filter)."""
    return value is None or value is False or (isinstance(value, str | list) and not value)


def local_midnight(day: datetime.date) -> datetime.datetime:
    """The moment a day begins in the site's time zone."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())


def money_chip(label: str, value) -> str:
    return f"{label} {format_money(value)}"


def user_label(user) -> str:
    return user.get_full_name() or user.get_username()


def source_choices():
    sources = ((source.slug, source.label) for source in all_sources())
    return [*sources, (NO_SOURCE, gettext("No source"))]


def lost_reason_choices():
    return [
        *((str(pk), name) for pk, name in LossReason.objects.values_list("pk", "name")),
        (NOT_RECORDED, gettext("Not recorded")),
    ]


def assignee_choices():
    """Me, nobody, each active user, and each team (its members' leads)."""
    users = active_user_list()
    teams = Team.objects.values_list("pk", "name")
    return [
        ("me", gettext("Me")),
        ("none", gettext("Unassigned")),
        *((str(u.pk), user_label(u)) for u in users),
        *((f"{TEAM_PREFIX}{pk}", gettext("Team: %(team)s") % {"team": name}) for pk, name in teams),
    ]


def date_bound(field: str, lookup: str, label: str) -> DateFilter:
    """A bound on a date column, typed in the browser's date picker."""
    return DateFilter(
        field_name=field,
        lookup_expr=lookup,
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def value_bound(lookup: str, label: str) -> NumberFilter:
    """A bound on the value, with as many digits as the column holds: a larger bound is
    refused, not formatted."""
    field = Lead._meta.get_field("value")
    return NumberFilter(
        field_name="value",
        lookup_expr=lookup,
        label=label,
        max_digits=field.max_digits,
        decimal_places=field.decimal_places,
        chip=money_chip,
    )


def day_start(day: datetime.date) -> datetime.datetime | None:
    """The first moment of a day in the site's time zone; None for a day so far off
    that the moment cannot be written (the first and last days a date can hold)."""
    try:
        moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        moment.astimezone(datetime.UTC)  # what the database is given
    except OverflowError:
        return None
    return moment


def local_day_range(field: str, start: datetime.date | None, end: datetime.date | None) -> Q:
    """``field`` (a moment) on one of the days from start to end in the site's time zone,
    both included, either open: bounds on the column itself, which its index serves
    (``field__date`` would convert every row's moment first)."""
    condition = Q()
    if start is not None and (moment := day_start(start)) is not None:
        condition &= Q(**{f"{field}__gte": moment})
    after = (
        end + datetime.timedelta(days=1) if end is not None and end < datetime.date.max else None
    )
    if after is not None and (moment := day_start(after)) is not None:
        condition &= Q(**{f"{field}__lt": moment})
    return condition


def days_in_stage(least: int | None = None, most: int | None = None, *, today=None) -> Q:
    """Leads in their stage at least ``least`` and at most ``most`` whole days (either
    open), counted in local dates: entered yesterday, at any hour, is 1 day. The list's
    ``age_min``/``age_max`` and the aging report's buckets."""
    today = today or timezone.localdate()
    return local_day_range(
        "stage_entered_at",
        today - datetime.timedelta(days=most) if most is not None else None,
        today - datetime.timedelta(days=least) if least is not None else None,
    )


def created_bound(method: str, label: str) -> DateFilter:
    """A bound on the day a lead was created, in the site's time zone."""
    return DateFilter(method=method, label=label, widget=forms.DateInput(attrs={"type": "date"}))


def age_bound(method: str, label: str, chip) -> NumberFilter:
    """A bound on the whole days a lead has been in its stage, counted in local dates:
    entered yesterday (whatever the hour) is 1 day. ``chip``: the days → the chip."""
    return NumberFilter(
        method=method,
        label=label,
        min_value=0,
        max_digits=5,
        decimal_places=0,
        chip=lambda label, value: chip(int(value)),
    )


class LeadFilter(SortedFilterSet):
    """Search, filters and sort for /leads/ (and, later, the export and the board)."""

    sorts = SORTS
    default_sort = DEFAULT_SORT
    nullable_sorts = NULLABLE_SORTS
    reversed_sorts = frozenset({"age"})  # age in stage: a longer age is an earlier entry

    q = CharFilter(
        method="search",
        label=_("Search"),
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Title, description, client, contact")}
        ),
    )
    status = ChoiceFilter(
        method="filter_status",
        choices=[*Status.choices, ("all", _("All"))],
        empty_label=None,
        label=_("Status"),
        no_chip=(Status.OPEN,),  # what the list shows unasked
    )
    pipeline = ModelChoiceFilter(
        field_name="stage__pipeline",
        queryset=Pipeline.objects.all(),
        label=_("Pipeline"),
        empty_label=_("All pipelines"),
    )
    # distinct=False: a lead has one stage and one priority, so no row can repeat, and
    # DISTINCT would stop PostgreSQL from reading the sort order from an index.
    stage = ModelMultipleChoiceFilter(
        queryset=PipelineStage.objects.select_related("pipeline").order_by(
            "-pipeline__is_default", "pipeline__name", "order"
        ),
        label=_("Stage"),
        widget=forms.CheckboxSelectMultiple,
        distinct=False,
        chip=lambda label, stage: f"{label}: {stage.name}",  # the filter groups by pipeline
    )
    source = MultipleChoiceFilter(
        method="filter_source", label=_("Source"), widget=forms.CheckboxSelectMultiple
    )
    priority = MultipleChoiceFilter(
        choices=Priority.choices,
        label=_("Priority"),
        widget=forms.CheckboxSelectMultiple,
        distinct=False,
    )
    # Hot, warm and cold by today's thresholds, as the badges say them.
    rating = MultipleChoiceFilter(
        method="filter_rating",
        choices=Rating.choices,
        label=_("Rating"),
        widget=forms.CheckboxSelectMultiple,
    )
    assignee = ChoiceFilter(method="filter_assignee", label=_("Assignee"), empty_label=_("Anyone"))
    # Set from a client's or contact's page ("All N leads"); shown as a chip, not as a
    # select of every client. Their choices are never drawn: the chip names the one chosen.
    client = ModelChoiceFilter(queryset=Client.objects.all(), label=_("Client"))
    contact = ModelChoiceFilter(queryset=Contact.objects.all(), label=_("Contact"))
    category = CharFilter(field_name="category", lookup_expr="iexact", label=_("Category"))
    value_min = value_bound("gte", _("Value from"))
    value_max = value_bound("lte", _("Value to"))
    due = ChoiceFilter(
        method="filter_due", choices=DuePreset.choices, label=_("Due"), empty_label=_("Any time")
    )
    due_from = date_bound("expected_close_date", "gte", _("Due from"))
    due_to = date_bound("expected_close_date", "lte", _("Due to"))
    stale = BooleanFilter(
        method="filter_stale",
        label=_("Stale only"),
        widget=forms.CheckboxInput(attrs={"value": "1"}),
        chip=lambda label, value: gettext("Stale"),
    )
    # How leads closed (only won or lost leads match these; see CLOSING_FILTERS).
    lost_reason = MultipleChoiceFilter(
        method="filter_lost_reason", label=_("Loss reason"), widget=forms.CheckboxSelectMultiple
    )
    competitor = CharFilter(
        field_name="competitor",
        lookup_expr="iexact",
        label=_("Competitor"),
        widget=forms.TextInput(attrs={"list": "competitor-options", "autocomplete": "off"}),
    )
    closed_from = date_bound("actual_close_date", "gte", _("Closed from"))
    closed_to = date_bound("actual_close_date", "lte", _("Closed to"))
    # The day a lead was created, and how long it has been in its stage, in local dates
    # (the source and aging reports' links).
    created_from = created_bound("filter_created_from", _("Created from"))
    created_to = created_bound("filter_created_to", _("Created to"))
    age_min = age_bound(
        "filter_age_min",
        _("In stage from (days)"),
        lambda days: (
            ngettext("In stage ≥ %(days)d day", "In stage ≥ %(days)d days", days) % {"days": days}
        ),
    )
    age_max = age_bound(
        "filter_age_max",
        _("In stage to (days)"),
        lambda days: (
            ngettext("In stage ≤ %(days)d day", "In stage ≤ %(days)d days", days) % {"days": days}
        ),
    )
    # The pipeline report's conversion: the leads that entered a stage in a period, and
    # those of them that moved on. Set from the report and shown as chips; the dates and
    # "moved on" only bound the stage (``filter_entered``).
    entered_stage = ModelChoiceFilter(
        queryset=PipelineStage.objects.select_related("pipeline"),
        method="filter_entered",
        label=_("Entered stage"),
        chip=lambda label, stage: (
            gettext("Entered %(stage)s (%(pipeline)s)")
            % {"stage": stage.name, "pipeline": stage.pipeline.name}
        ),
    )
    entered_from = DateFilter(method="bounds_entered", label=_("Entered from"))
    entered_to = DateFilter(method="bounds_entered", label=_("Entered to"))
    moved_on = BooleanFilter(
        method="bounds_entered",
        label=_("Moved on"),
        widget=forms.CheckboxInput(attrs={"value": "1"}),
        chip=lambda label, value: gettext("Moved on to a later stage"),
    )
    sort = SortFilter(SORTS)

    def __init__(self, data=None, *args, request=None, **kwargs):
        data = data.copy() if data is not None else {}
        # Open leads when the URL says nothing (the sort's default is SortedFilterSet's);
        # every status when it asks how leads closed, which only closed leads say.
        if data.get("status") not in [*Status.values, "all"]:
            asks_closing = any(data.get(name) for name in (*CLOSING_FILTERS, *HISTORY_FILTERS))
            data["status"] = "all" if asks_closing else Status.OPEN
        super().__init__(data, *args, request=request, **kwargs)
        # Callables: the choices load only when a value is checked or the form is drawn,
        # so swapping just the results costs no query for them; and once, not once for
        # every value checked.
        self.filters["source"].extra["choices"] = functools.cache(source_choices)
        self.filters["assignee"].extra["choices"] = functools.cache(assignee_choices)
        self.filters["lost_reason"].extra["choices"] = functools.cache(lost_reason_choices)

    @property
    def form(self):
        new = not hasattr(self, "_form")
        form = super().form
        if new:  # the stage menu draws the stages the status filter read this request
            form.fields["stage"].known_objects = all_stages
        return form

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(search_condition(value))

    def filter_status(self, queryset, name, value):
        if value in Status.values:
            return queryset.with_status(value)
        return queryset

    def filter_source(self, queryset, name, value):
        slugs = [v for v in value if v != NO_SOURCE]
        condition = Q(source__slug__in=slugs) if slugs else Q()
        if NO_SOURCE in value:
            condition = condition | Q(source__isnull=True) if slugs else Q(source__isnull=True)
        return queryset.filter(condition)

    def for_pages(self, queryset):
        """The filtered, sorted leads as a page reads its ids from them.

        Sorted by score, they are inner-joined to their score rows: only then can
        PostgreSQL read them in the order of the score table's index instead of sorting
        them all. Every lead has its row (``LeadScore``; an unscored one a null score,
        which sorts last), so the join loses none. The totals count ``queryset`` itself,
        which the sort does not join.
        """
        if self.current_sort.removeprefix("-") == "score":
            return queryset.filter(stored_score__isnull=False)
        return queryset

    def tally(self, base=None):
        """The same filters over the running totals (``leads.tally``), whose sums are
        this set's count and totals; None where they cannot say (SQLite, or a filter of
        another kind: a search, a date, a rating...). ``base``: the totals to start from,
        standing for the queryset this filter was given."""
        if not tally.available() or not self.is_valid():
            return None
        cleaned = self.form.cleaned_data
        if any(
            not unset(value)
            for name, value in cleaned.items()
            if name not in TALLY_FILTERS and name != "sort"
        ):
            return None
        queryset = tally.LeadTally.objects.all() if base is None else base
        for name in TALLY_FILTERS:
            queryset = self.filters[name].filter(queryset, cleaned.get(name))
        return queryset

    @functools.cached_property
    def scoring(self) -> ScoringSettings:
        """The rating thresholds, read once for the filter and the page's badges."""
        return ScoringSettings.current()

    def filter_rating(self, queryset, name, value):
        condition = Q()
        for rating in value:
            condition |= self.scoring.rating_range(rating)
        return queryset.filter(condition)

    def filter_lost_reason(self, queryset, name, value):
        condition = Q(lost_reason_id__in=[v for v in value if v != NOT_RECORDED])
        if NOT_RECORDED in value:
            # Open and won leads have no reason either: the lost ones only, their stages
            # looked up first as ``LeadQuerySet.with_status`` does.
            lost = PipelineStage.objects.filter(kind=PipelineStage.Kind.LOST)
            lost_ids = list(lost.values_list("pk", flat=True))
            condition |= Q(lost_reason__isnull=True, stage_id__in=lost_ids)
        return queryset.filter(condition)

    def filter_assignee(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee=self.request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value.startswith(TEAM_PREFIX):  # the members' ids first: no join
            members = Membership.objects.filter(team_id=value.removeprefix(TEAM_PREFIX))
            return queryset.filter(assignee_id__in=list(members.values_list("user_id", flat=True)))
        return queryset.filter(assignee_id=value)

    def filter_due(self, queryset, name, value):
        today = timezone.localdate()
        if value == DuePreset.OVERDUE:  # only an open lead can be late
            return queryset.open().filter(expected_close_date__lt=today)
        if value == DuePreset.NONE:
            return queryset.filter(expected_close_date__isnull=True)
        start, end = due_range(value, today)
        return queryset.filter(expected_close_date__range=(start, end))

    def filter_entered(self, queryset, name, stage):
        """Leads that entered the stage (from ``entered_from`` to ``entered_to``, both
        days included), and with ``moved_on`` those of them that then moved on: as the
        pipeline report counts them (``LeadQuerySet.entered_stage``, ``moved_on_from``)."""
        cleaned = self.form.cleaned_data
        first, last = cleaned.get("entered_from"), cleaned.get("entered_to")
        start = local_midnight(first) if first else None
        end = local_midnight(last + datetime.timedelta(days=1)) if last else None
        if cleaned.get("moved_on"):
            return queryset.moved_on_from(stage, start, end)
        return queryset.entered_stage(stage, start, end)

    def bounds_entered(self, queryset, name, value):
        return queryset  # read by filter_entered

    def filter_stale(self, queryset, name, value):
        return queryset.stale() if value else queryset

    def filter_created_from(self, queryset, name, value):
        return queryset.filter(local_day_range("created_at", value, None))

    def filter_created_to(self, queryset, name, value):
        return queryset.filter(local_day_range("created_at", None, value))

    def filter_age_min(self, queryset, name, value):
        return queryset.filter(days_in_stage(least=int(value)))

    def filter_age_max(self, queryset, name, value):
        return queryset.filter(days_in_stage(most=int(value)))
