"""Leads, where they came from, and everything that happened to them."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext, npgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.web.memo import per_request
from pipelines.models import Pipeline, PipelineStage, attach_stages, stage_ids

# Teams and assignment rules are defined in .assignment; found here too.
from .assignment import Absence as Absence
from .assignment import AssignmentRule as AssignmentRule
from .assignment import Membership as Membership
from .assignment import Team as Team

# A lead's history is defined in .events, with every kind of event; found here too.
from .bulk_models import BulkChange as BulkChange
from .bulk_models import BulkChangeItem as BulkChangeItem

# Capture forms (.capture_models) and webhooks (.webhook_models, below) are found here too.
from .capture_models import CaptureForm as CaptureForm
from .events import EventKind as EventKind
from .events import LeadEvent as LeadEvent
from .events import epoch, recorded_value, visited

# Saved views of the list are defined in .saved_views; found here too.
from .progress import LeasedProgress
from .saved_views import DefaultView as DefaultView
from .saved_views import SavedView as SavedView

# Scores are defined in .scoring; found here too.
from .scoring import LeadScore as LeadScore
from .scoring import ScoringCriterion as ScoringCriterion
from .scoring import ScoringSettings as ScoringSettings
from .scoring import rating_expression

# The running totals PostgreSQL keeps of the leads are defined in .tally; found here too.
from .tally import LeadCloseTally as LeadCloseTally
from .tally import LeadTally as LeadTally
from .webhook_models import Webhook as Webhook
from .webhook_models import WebhookDelivery as WebhookDelivery


def default_stage_id() -> int | None:
    """The first open stage of the default pipeline: where a new lead starts."""
    stage = (
        PipelineStage.objects.filter(pipeline__is_default=True, kind=PipelineStage.Kind.OPEN)
        .order_by("order")
        .values_list("pk", flat=True)
        .first()
    )
    return stage


class LeadSource(models.Model):
    """Where a lead came from (website, referral, ...); managed in the admin."""

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=100)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive sources are not offered.")
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("lead source")
        verbose_name_plural = _("lead sources")
        ordering = ["order", "label"]

    def __str__(self):
        return self.label


@per_request
def all_sources() -> list[LeadSource]:
    """Every lead source, in order: read once a request (``crm.web.memo``), for the rows'
    sources and the source menu."""
    return list(LeadSource.objects.all())


def attach_references(leads) -> None:
    """Give each lead of a list page its stage (with its pipeline) and source from what
    the request reads anyway, without a query of their own."""
    attach_stages(leads)
    sources = {source.pk: source for source in all_sources()}
    for lead in leads:
        if lead.source_id is not None and lead.source_id in sources:
            lead.source = sources[lead.source_id]


def attach_people(leads) -> None:
    """Give each lead its owner and its creator, read in one query (a prefetch of each
    was a query each)."""
    ids = {lead.assignee_id for lead in leads} | {lead.created_by_id for lead in leads}
    ids.discard(None)
    if not ids:
        return
    people = get_user_model().objects.in_bulk(ids)
    for lead in leads:
        for field in ("assignee", "created_by"):
            person = people.get(getattr(lead, f"{field}_id"))
            if person is not None:  # else deleted meanwhile: read as before, if asked
                setattr(lead, field, person)


class LossReasonQuerySet(models.QuerySet):
    def offered(self, current_id: int | None = None):
        """The active reasons, and the one a lead holds already (kept when deactivated)."""
        return self.filter(Q(active=True) | Q(pk=current_id))

    def fallback(self) -> "LossReason":
        """ "Other": what a lost lead gets when nobody said why (an import, a deleted
        stage). Made again if an admin deleted it."""
        reason, _created = self.get_or_create(
            slug=LossReason.FALLBACK_SLUG, defaults={"name": "Other", "note_required": True}
        )
        return reason


class LossReason(models.Model):
    """Why a lead was lost ("Price too high", "Chose competitor", ...); admin-managed."""

    #: The reason given when nobody said one (see ``LossReasonQuerySet.fallback``).
    FALLBACK_SLUG = "other"

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive reasons are not offered.")
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    note_required = models.BooleanField(
        _("needs a note"),
        default=False,
        help_text=_(
            "Losing a lead for this reason needs a note saying what happened (as for “Other”)."
        ),
    )

    objects = LossReasonQuerySet.as_manager()

    class Meta:
        verbose_name = _("loss reason")
        verbose_name_plural = _("loss reasons")
        ordering = ["order", "name"]

    def __str__(self):
        return self.name


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}

#: Priority as a sortable number, urgent highest; usable in order_by() and annotate().
priority_rank = Case(
    *(When(priority=value, then=Value(rank)) for value, rank in PRIORITY_RANK.items()),
    default=Value(0),
    output_field=models.PositiveSmallIntegerField(),
)


class Status(models.TextChoices):
    OPEN = "open", pgettext_lazy("status", "Open")
    WON = "won", pgettext_lazy("status", "Won")
    LOST = "lost", pgettext_lazy("status", "Lost")


def inactive_condition(now=None, *, stages=None) -> Q:
    """The stale rule without its "open": no activity for the lead's pipeline's
    ``stale_after_days``. ``LeadQuerySet.stale`` and the reports' stale counts share it.

    It names stage ids, so that an index holding the stage and the last activity answers
    it without a join. ``stages``: (stage id, its pipeline's stale_after_days) of the
    stages the leads are known to be in already (a report's open stages), read by the
    caller; where they share one threshold, the condition is on the last activity alone.
    Without them, every stage's are read (one query).
    """
    now = now or timezone.now()
    known = stages is not None
    if not known:
        stages = PipelineStage.objects.values_list("pk", "pipeline__stale_after_days")
    stages_by_days = defaultdict(list)
    for stage_id, days in stages:
        stages_by_days[days].append(stage_id)
    if known and len(stages_by_days) == 1:
        [days] = stages_by_days
        return Q(last_activity_at__lte=now - datetime.timedelta(days=days))
    condition = Q(pk__in=[])
    for days, ids in stages_by_days.items():
        condition |= Q(
            stage_id__in=ids,
            last_activity_at__lte=now - datetime.timedelta(days=days),
        )
    return condition


class LeadQuerySet(models.QuerySet):
    def open(self):
        return self.filter(stage__kind=PipelineStage.Kind.OPEN)

    def won(self):
        return self.filter(stage__kind=PipelineStage.Kind.WON)

    def lost(self):
        return self.filter(stage__kind=PipelineStage.Kind.LOST)

    def with_score(self):
        """Each lead with its stored ``score`` (``LeadScore``; None while unscored)."""
        return self.annotate(score=F("stored_score__score"))

    def with_rating(self):
        """Each lead with its ``score`` and its ``rating`` (hot, warm, cold or None) by
        the current thresholds, read in the same query: what ``{% rating_badge %}`` shows."""
        return self.with_score().annotate(rating=rating_expression())

    def stale(self, now=None):
        """Open leads without activity for their pipeline's threshold (indexed columns only)."""
        return self.open().filter(inactive_condition(now))

    def with_status(self, status: str):
        """Leads whose stage is of that kind (open, won or lost).

        The stage ids are looked up first, a query over a handful of rows: a condition on
        the lead's own ``stage_id`` lets PostgreSQL estimate from the lead table's
        statistics and read its (stage, ...) indexes, which a join to the stages hides.
        """
        return self.filter(stage_id__in=stage_ids(status))

    def assigned_to(self, user):
        return self.filter(assignee=user)

    def entered_stage(self, stage: PipelineStage, start=None, end=None):
        """Leads that entered ``stage`` from ``start`` (included) to ``end`` (excluded),
        aware datetimes or None for no bound: those that have left it since, by their
        stage moves (``LeadEventQuerySet.stage_moves``), and those in it now."""
        since, until = epoch(start), epoch(end)
        left = LeadEvent.objects.stage_moves(since).filter(visited(stage.pk, since, until))
        now = Q(stage_id=stage.pk)
        if start is not None:
            now &= Q(stage_entered_at__gte=start)
        if end is not None:
            now &= Q(stage_entered_at__lt=end)
        return self.filter(Q(pk__in=left.values("lead_id")) | now)

    def moved_on_from(self, stage: PipelineStage, start=None, end=None):
        """Of the leads that entered ``stage`` from ``start`` to ``end`` (as
        ``entered_stage``), those that entered a stage it moves on to after they first
        entered it: a later open stage of its pipeline, or a won one
        (``PipelineStage.moves_on_to``). The pipeline report counts them the same way."""
        since, until = epoch(start), epoch(end)
        onward = stage.moves_on_to(PipelineStage.objects.filter(pipeline_id=stage.pipeline_id))
        entered, moved_on = visited(stage.pk, since, until), Q(entered_id__in=onward)
        passed = (
            LeadEvent.objects.stage_moves(since)
            .filter(entered | moved_on)
            .values("lead_id")
            .annotate(
                first=models.Min("left_entered", filter=entered),
                onward=models.Max("moved", filter=moved_on),
            )
            .filter(onward__gte=F("first"))
            .values("lead_id")
        )
        return self.filter(pk__in=passed)

    def editable_by(self, user):
        """Leads the user may edit, delete or move: all for managers, own for reps."""
        if user.has_perm("leads.change_any_lead"):
            return self.all()
        if user.has_perm("leads.change_lead"):
            return self.filter(Q(created_by=user) | Q(assignee=user))
        return self.none()

    def for_display(self):
        """Everything a lead's page shows: one query for the lead, two for its people.

        The two users (assignee and creator) come in queries of their own: joining all
        eight tables at once cost PostgreSQL 3 to 8 ms of planning for 0.2 ms of work.
        """
        return (
            self.select_related("stage__pipeline", "source", "client", "contact", "lost_reason")
            .prefetch_related("assignee", "created_by")
            .with_rating()
        )

    def for_page(self):
        """What a lead's own page shows, for ``attach_references`` to complete.

        As ``for_display``, less the joins of the stage, its pipeline and the source,
        which the page takes from what a request reads once (``attach_references``; the
        stage tracker needs the pipeline's stages anyway), and of the owner and the
        creator (``attach_people``: one query for both). Joining eight tables cost
        PostgreSQL 5 to 7 ms of planning for 0.2 ms of work at a million leads; five take
        a fraction of that.
        """
        related = self.select_related("client", "contact").prefetch_related("lost_reason")
        return related.with_rating()

    def for_list_rows(self):
        """What a row of the lead list shows (no contact or creator), in a few small queries.

        The leads with their client and assignee; then the loss reasons of the lost ones
        (no query when no lead on the page has one). Their stages (with the pipelines) and
        sources come from what the request reads anyway: ``attach_references``. Joining the
        six tables before reasons came in one query cost PostgreSQL 3 to 5 ms of planning a
        page, ten times its execution.
        """
        return self.select_related("client", "assignee").prefetch_related("lost_reason")

    def competitors(self, limit: int = 50) -> list[str]:
        """The competitors named on lost leads, the most named first: what the loss
        dialog and the list's competitor filter suggest.

        Counted as rows (COUNT(*)), not ids: PostgreSQL then reads the partial index of
        the leads that name one (lead_competitor_close_idx, which carries the name)
        alone. Counting ids visited the table: 167 ms at a million leads, against 14.
        """
        rows = (
            self.exclude(competitor="")
            .order_by()
            .values("competitor")
            .annotate(n=models.Count("*"))
            .order_by("-n", "competitor")[:limit]
        )
        return [row["competitor"] for row in rows]

    def with_priority_rank(self):
        return self.annotate(priority_rank=priority_rank)

    def totals(self) -> dict:
        """Count, total value and weighted value of the set; unknown values are left out."""
        return self.order_by().aggregate(
            count=models.Count("pk"),
            total_value=models.Sum("value"),
            weighted_value=models.Sum(
                F("value") * F("probability") / Value(Decimal(100)),
                output_field=models.DecimalField(max_digits=20, decimal_places=2),
            ),
        )

    def summary(self) -> dict:
        """Count and value of the open and won leads, and the last activity, in one query:
        what a client's or contact's page says of its leads."""
        is_open = Q(stage__kind=PipelineStage.Kind.OPEN)
        is_won = Q(stage__kind=PipelineStage.Kind.WON)
        return self.order_by().aggregate(
            total_count=models.Count("pk"),
            open_count=models.Count("pk", filter=is_open),
            open_value=models.Sum("value", filter=is_open),
            won_count=models.Count("pk", filter=is_won),
            won_value=models.Sum("value", filter=is_won),
            last_activity=models.Max("last_activity_at"),
        )


#: What a closed lead says of how it closed; an open lead holds none of them.
CLOSING_FIELDS = ("actual_close_date", "won_value", "lost_reason", "competitor", "lost_note")
#: Of those, what only a lost lead holds; and what only a won lead holds.
LOST_FIELDS = ("lost_reason", "competitor", "lost_note")
WON_FIELDS = ("won_value",)


class Lead(models.Model):
    """A sales opportunity, from first contact to won or lost."""

    title = models.CharField(_("title"), max_length=255)
    description = models.TextField(
        _("description"), blank=True, validators=[MaxLengthValidator(5000)]
    )
    value = models.DecimalField(
        _("value (EUR)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0), _("Value must be non-negative."))],
        help_text=_("Expected deal value in euros; leave empty when unknown."),
    )
    probability = models.PositiveSmallIntegerField(
        _("probability"),
        null=True,
        blank=True,
        validators=[
            MinValueValidator(0, _("Probability must be between 0 and 100.")),
            MaxValueValidator(100, _("Probability must be between 0 and 100.")),
        ],
        help_text=_("Chance of winning, 0–100 %."),
    )
    # PROTECT, here and for the people below: a deletion would change leads without a
    # version or a history event. Sources are made inactive, users deactivated.
    source = models.ForeignKey(
        LeadSource,
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
    )
    priority = models.CharField(
        _("priority"), max_length=6, choices=Priority.choices, default=Priority.NORMAL
    )
    expected_close_date = models.DateField(_("expected close"), null=True, blank=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    stage = models.ForeignKey(
        PipelineStage,
        verbose_name=_("stage"),
        on_delete=models.PROTECT,
        related_name="leads",
        default=default_stage_id,
    )
    client = models.ForeignKey(
        "crm.Client",
        verbose_name=_("client"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
    )
    contact = models.ForeignKey(
        "crm.Contact",
        verbose_name=_("contact"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_leads",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="created_leads",
    )
    import_batch = models.ForeignKey(
        "leads.LeadImport",
        verbose_name=_("import batch"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="leads",
        help_text=_("The CSV import that created this lead."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)
    stage_entered_at = models.DateTimeField(
        _("stage entered at"), default=timezone.now, editable=False
    )
    last_activity_at = models.DateTimeField(
        _("last activity at"), default=timezone.now, editable=False
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    # How it closed: a won lead's date and value, a lost lead's reason. Empty while open
    # (reopening clears them; the timeline keeps what they were).
    actual_close_date = models.DateField(
        _("actual close date"),
        null=True,
        blank=True,
        help_text=_("The day the deal was won or lost."),
    )
    won_value = models.DecimalField(
        _("won value (EUR)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0), _("Won value must be non-negative."))],
        help_text=_("What the deal was won for; the lead's value follows it."),
    )
    lost_reason = models.ForeignKey(
        LossReason,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("loss reason"),
    )
    competitor = models.CharField(
        _("competitor"),
        max_length=100,
        blank=True,
        help_text=_("Who won the deal instead, if anyone."),
    )
    lost_note = models.CharField(
        _("loss note"),
        max_length=500,
        blank=True,
        help_text=_("What happened, in a sentence or two."),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    objects = LeadQuerySet.as_manager()

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-updated_at", "-id"]
        permissions = [
            ("change_any_lead", "Can edit, move and delete any lead"),
            ("assign_lead", "Can assign leads to anyone"),
        ]
        indexes = [
            models.Index(fields=["-updated_at", "-id"], name="lead_updated_idx"),
            models.Index(fields=["stage", "-updated_at", "-id"], name="lead_stage_updated_idx"),
            models.Index(fields=["assignee", "stage"], name="lead_assignee_stage_idx"),
            models.Index(fields=["expected_close_date", "id"], name="lead_close_date_idx"),
            models.Index(fields=["value", "id"], name="lead_value_idx"),
            models.Index(fields=["title", "id"], name="lead_title_idx"),
            models.Index(fields=["priority", "id"], name="lead_priority_idx"),
            # The list sorted by creation, and the source report's period. On PostgreSQL
            # it also carries what that report counts and sums (migration 0019), which
            # adds lead_stage_assignee_idx there too: the open leads by stage and owner
            # with what the aging and team reports count.
            models.Index(fields=["created_at", "id"], name="lead_created_idx"),
            models.Index(fields=["category"], name="lead_category_idx"),
            models.Index(fields=["stage_entered_at", "id"], name="lead_stage_entered_idx"),
            models.Index(fields=["last_activity_at"], name="lead_last_activity_idx"),
            # The list sorted by close date, and the win/loss report's months. On
            # PostgreSQL it also carries what the report sums (migration 0011).
            models.Index(fields=["actual_close_date", "id"], name="lead_actual_close_idx"),
            models.Index(fields=["competitor"], name="lead_competitor_idx"),
            # The win/loss report's competitors in a period: only the leads that name
            # one (a few percent), read from the index alone on PostgreSQL (migration
            # 0012 adds what it sums there).
            models.Index(
                fields=["actual_close_date"],
                condition=~Q(competitor=""),
                name="lead_competitor_close_idx",
            ),
            # The forecast and pipeline reports: the open leads by stage and close date.
            # On PostgreSQL it also carries what they sum and filter by (migration 0019).
            models.Index(fields=["stage", "expected_close_date"], name="lead_open_report_idx"),
            # The list sorted by priority (either way: the index reads backwards too).
            models.Index(priority_rank.desc(), F("id").desc(), name="lead_priority_rank_idx"),
            # The board's card order within a stage: priority rank, then close date.
            models.Index(
                F("stage"),
                priority_rank.desc(),
                F("expected_close_date").asc(),
                F("id").asc(),
                name="lead_board_order_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(title=""),
                name="lead_title_not_empty",
                violation_error_message=_("Title is required."),
            ),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0),
                name="lead_value_non_negative",
                violation_error_message=_("Value must be non-negative."),
            ),
            models.CheckConstraint(
                condition=Q(probability__isnull=True) | Q(probability__gte=0, probability__lte=100),
                name="lead_probability_0_100",
                violation_error_message=_("Probability must be between 0 and 100."),
            ),
            models.CheckConstraint(
                condition=Q(priority__in=[p.value for p in Priority]),
                name="lead_priority_valid",
                violation_error_message=_("Priority must be low, normal, high or urgent."),
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), 5000),
                name="lead_description_max_5000",
                violation_error_message=_("Description must be at most 5000 characters."),
            ),
            models.CheckConstraint(
                condition=Q(won_value__isnull=True) | Q(won_value__gte=0),
                name="lead_won_value_non_negative",
                violation_error_message=_("Won value must be non-negative."),
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("lost_note"), 500),
                name="lead_lost_note_max_500",
                violation_error_message=_("The loss note must be at most 500 characters."),
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1),
                name="lead_version_positive",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("leads:detail", args=[self.pk])

    # --- derived state -------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.stage.kind

    @property
    def is_open(self) -> bool:
        return self.stage.kind == PipelineStage.Kind.OPEN

    @property
    def pipeline(self) -> Pipeline:
        return self.stage.pipeline

    @property
    def weighted_value(self) -> Decimal | None:
        if self.value is None or self.probability is None:
            return None
        return (self.value * self.probability / Decimal(100)).quantize(Decimal("0.01"))

    def aged_weighting(self, settings, now=None) -> dict | None:
        """The weighted value discounted for sitting long past the stage's aging alert,
        when the scoring settings turn decay on: {"share", "days_past", "value"}; None
        when nothing is discounted."""
        if not self.is_open or self.weighted_value is None:
            return None
        days_past = self.days_in_stage(now) - self.stage.aging_alert_days
        share = settings.decay(days_past)
        if share == 100:
            return None
        value = (self.weighted_value * share / Decimal(100)).quantize(Decimal("0.01"))
        return {"share": share, "days_past": days_past, "value": value}

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK[Priority(self.priority)]

    def days_in_stage(self, now=None) -> int:
        """Days since the lead entered its current stage, on the site's calendar: entered
        yesterday, at any hour, is 1 day (as the list's age filter and the aging report
        count them)."""
        today = timezone.localdate(now or timezone.now())
        return (today - timezone.localdate(self.stage_entered_at)).days

    def aging(self, now=None, *, days: int | None = None) -> str | None:
        """ "alert" or "warn" when an open lead sits in its stage too long, else None.
        ``days``: its days in stage, when the caller has them already."""
        if not self.is_open:
            return None
        days = self.days_in_stage(now) if days is None else days
        if days >= self.stage.aging_alert_days:
            return "alert"
        if days >= self.stage.aging_warn_days:
            return "warn"
        return None

    def days_since_activity(self, now=None) -> int:
        return ((now or timezone.now()) - self.last_activity_at).days

    def stale_days(self, now=None) -> int | None:
        """Days since the last activity of an open lead past its pipeline's threshold."""
        if not self.is_open:
            return None
        days = self.days_since_activity(now)
        return days if days >= self.stage.pipeline.stale_after_days else None

    def days_overdue(self, today=None) -> int | None:
        """Days past the expected close date for an open lead (0 = due today), else None."""
        if self.expected_close_date is None or not self.is_open:
            return None
        today = today or timezone.localdate()
        delta = (today - self.expected_close_date).days
        return delta if delta >= 0 else None

    # --- validation ----------------------------------------------------------------------

    def clean(self):
        super().clean()
        if self.contact_id and self.client_id and self.contact.client_id != self.client_id:
            raise ValidationError(
                {
                    "contact": gettext("%(contact)s is not a contact of %(client)s.")
                    % {"contact": self.contact.name, "client": self.client.name}
                },
                code="contact_not_of_client",
            )
        self.clean_closing()

    def clean_closing(self, today=None):
        """How a closed lead closed: a lost lead needs a reason (and a note where the
        reason asks for one); no close date lies in the future.

        An open lead's closing fields and a closed lead's missing date or won value are
        not errors: the services clear and fill them (``leads.services.closing_values``).
        """
        errors = {}
        if self.stage_id and self.stage.kind == PipelineStage.Kind.LOST:
            if self.lost_reason_id is None:
                errors["lost_reason"] = ValidationError(
                    gettext("Choose why the lead was lost."), code="lost_reason_required"
                )
            elif self.lost_reason.note_required and not self.lost_note.strip():
                errors["lost_note"] = ValidationError(
                    gettext("Say what happened: the reason “%(reason)s” needs a note."),
                    code="lost_note_required",
                    params={"reason": self.lost_reason.name},
                )
        closed_on = self.actual_close_date if self.stage_id and not self.stage.is_open else None
        if closed_on and closed_on > (today or timezone.localdate()):
            errors["actual_close_date"] = ValidationError(
                gettext("The close date cannot be in the future."), code="close_date_future"
            )
        if errors:
            raise ValidationError(errors)

    def closing_facts(self) -> dict:
        """How the lead closed, as the history records it (empty for an open lead)."""
        return {
            name: recorded_value(name, getattr(self, name))
            for name in CLOSING_FIELDS
            if getattr(self, name) not in (None, "")
        }

    # --- behaviour -----------------------------------------------------------------------

    def can_edit(self, user) -> bool:
        """Managers may change any lead; reps the ones they created or are assigned to."""
        if user.has_perm("leads.change_any_lead"):
            return True
        return user.has_perm("leads.change_lead") and user.pk in (
            self.created_by_id,
            self.assignee_id,
        )

    def can_delete(self, user) -> bool:
        if user.has_perm("leads.change_any_lead") and user.has_perm("leads.delete_lead"):
            return True
        return user.has_perm("leads.delete_lead") and user.pk in (
            self.created_by_id,
            self.assignee_id,
        )

    def can_assign(self, user) -> bool:
        return user.has_perm("leads.assign_lead") or self.can_edit(user)

    def touch(self, now=None) -> list[str]:
        """Mark a write: new version, updated and activity time. Returns the fields set."""
        now = now or timezone.now()
        self.version += 1
        self.updated_at = now
        self.last_activity_at = now
        return ["version", "updated_at", "last_activity_at"]

    def enter_stage(self, stage: PipelineStage, *, now, keep_probability: bool = False) -> None:
        """Put the lead in a stage (unsaved).

        The lead takes the stage's probability where the stage has one, unless the
        caller keeps the probability the user typed in the same save.
        """
        self.stage = stage
        self.stage_entered_at = now
        self.closed_at = None if stage.is_open else now
        if stage.probability is not None and not keep_probability:
            self.probability = stage.probability


class LeadImportQuerySet(models.QuerySet):
    def mark_interrupted(self, now=None) -> int:
        """Imports past their lease are interrupted: a worker that stopped reporting
        (killed, or its machine gone), or a queued task no worker ever started.

        Never waits: an import whose row is locked is in the middle of a batch, alive.
        """
        with transaction.atomic():
            stale = (
                self.select_for_update(skip_locked=True)
                .filter(
                    status__in=[LeadImport.Status.QUEUED, LeadImport.Status.RUNNING],
                    lease_until__lt=now or timezone.now(),
                )
                .values_list("pk", flat=True)
            )
            return LeadImport.objects.filter(pk__in=list(stale)).update(
                status=LeadImport.Status.INTERRUPTED
            )


class LeadImport(models.Model):
    """One CSV import: the uploaded file, how its columns map, and what came of it."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        INTERRUPTED = "interrupted", _("Interrupted")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        UNDONE = "undone", _("Undone")

    class Mode(models.TextChoices):
        SKIP_INVALID = "skip_invalid", _("Skip invalid rows and import the rest")
        ALL_OR_NOTHING = (
            "all_or_nothing",
            _("All or nothing: import nothing if any row has an error"),
        )

    class Kind(models.TextChoices):
        LEADS = "leads", _("Deals (leads)")
        CLIENTS = "clients", _("Organizations (clients)")
        CONTACTS = "contacts", _("People (contacts)")

    class Duplicates(models.TextChoices):
        SKIP = "skip", _("Skip the row")
        UPDATE = "update", _("Update the existing lead")
        CREATE = "create", _("Create a new lead anyway")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    file_name = models.CharField(_("file name"), max_length=255)
    kind = models.CharField(
        _("kind"),
        max_length=10,
        choices=Kind.choices,
        default=Kind.LEADS,
        help_text=_("What the file holds."),
    )
    # The file lives in the database so that any app server or worker can read it.
    content = models.BinaryField(_("content"), editable=False)
    encoding = models.CharField(_("encoding"), max_length=20)
    delimiter = models.CharField(_("delimiter"), max_length=1)
    notice = models.CharField(_("notice"), max_length=255, blank=True)
    headers = models.JSONField(_("headers"), default=list)
    mapping = models.JSONField(
        _("mapping"), default=dict, help_text=_("CSV column index → lead field.")
    )
    mode = models.CharField(
        _("mode"), max_length=20, choices=Mode.choices, default=Mode.SKIP_INVALID
    )
    duplicates = models.CharField(
        _("duplicates"), max_length=10, choices=Duplicates.choices, default=Duplicates.SKIP
    )
    create_clients = models.BooleanField(_("create clients"), default=False)
    create_contacts = models.BooleanField(_("create contacts"), default=False)
    stage_map = models.JSONField(
        _("stage map"),
        default=dict,
        blank=True,
        help_text=_("A stage name in the file → our stage's id."),
    )
    template = models.ForeignKey(
        "leads.ImportTemplate",
        verbose_name=_("template"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The saved mapping the file's header was recognised by."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.UPLOADED
    )
    total_rows = models.PositiveIntegerField(_("total rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed rows"), default=0)
    created_count = models.PositiveIntegerField(_("created count"), default=0)
    updated_count = models.PositiveIntegerField(_("updated count"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped count"), default=0)
    skip_reasons = models.JSONField(
        _("skip reasons"),
        default=dict,
        blank=True,
        help_text=_("Why rows were skipped: {reason: rows}."),
    )
    error_report = models.TextField(
        _("error report"), blank=True, help_text=_("CSV: row, message.")
    )
    failure = models.TextField(_("failure"), blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    # The run that may write: a worker that lost it (the import was resumed or undone
    # meanwhile) stops at its next batch, writing nothing more.
    run_token = models.UUIDField(_("run token"), null=True, blank=True, editable=False)
    # Until when the running worker has promised to report; a run past it has died.
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    last_row = models.PositiveIntegerField(
        _("last row"),
        default=0,
        help_text=_("The last spreadsheet row written (resuming starts after it)."),
    )
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)

    objects = LeadImportQuerySet.as_manager()

    class Meta:
        verbose_name = _("lead import")
        verbose_name_plural = _("lead imports")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"

    def get_absolute_url(self):
        return reverse("leads:import_detail", args=[self.pk])

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 0 if self.status in (self.Status.QUEUED, self.Status.RUNNING) else 100
        return min(100, round(100 * self.processed_rows / self.total_rows))

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.UNDONE)

    @property
    def is_active(self) -> bool:
        """Waiting for a worker or running: its page keeps polling."""
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def summary(self) -> str:
        """ "Imported 12 leads. 3 rows skipped (missing title)." — what the import did, in a
        sentence or two."""
        created, updated = self.created_count, self.updated_count
        if self.kind == self.Kind.CLIENTS:
            parts = [ngettext("Imported %(count)d client.", "Imported %(count)d clients.", created)]
            if updated:
                parts.append(
                    ngettext("Updated %(count)d client.", "Updated %(count)d clients.", updated)
                )
        elif self.kind == self.Kind.CONTACTS:
            parts = [
                ngettext("Imported %(count)d contact.", "Imported %(count)d contacts.", created)
            ]
            if updated:
                parts.append(
                    ngettext("Updated %(count)d contact.", "Updated %(count)d contacts.", updated)
                )
        else:
            parts = [ngettext("Imported %(count)d lead.", "Imported %(count)d leads.", created)]
            if updated:
                parts.append(
                    ngettext("Updated %(count)d lead.", "Updated %(count)d leads.", updated)
                )
        parts[0] %= {"count": created}
        if updated:
            parts[1] %= {"count": updated}
        if skipped := self.skipped_count:
            if why := self.skip_reasons_said():
                said = ngettext(
                    "%(count)d row skipped (%(why)s).", "%(count)d rows skipped (%(why)s).", skipped
                ) % {"count": skipped, "why": why}
            else:
                said = ngettext("%(count)d row skipped.", "%(count)d rows skipped.", skipped) % {
                    "count": skipped
                }
            parts.append(said)
        return " ".join(parts)

    def noun(self, count: int) -> str:
        """What the import brings, as many as ``count``: "lead", "clients", "contact"."""
        if self.kind == self.Kind.CLIENTS:
            return npgettext("imported", "client", "clients", count)
        if self.kind == self.Kind.CONTACTS:
            return npgettext("imported", "contact", "contacts", count)
        return npgettext("imported", "lead", "leads", count)

    def skip_reasons_said(self, most: int = 3) -> str:
        """ "missing title", or "2 missing title, 1 invalid value": why rows were skipped,
        the ``most`` commonest reasons and how many rows the others account for."""
        # Ordered here: PostgreSQL's jsonb keeps its keys in an order of its own.
        reasons = sorted((self.skip_reasons or {}).items(), key=lambda item: (-item[1], item[0]))
        if len(reasons) == 1 and reasons[0][1] == self.skipped_count:
            return reasons[0][0]
        said = [f"{rows} {reason}" for reason, rows in reasons[:most]]
        if rest := sum(rows for _reason, rows in reasons[most:]):
            said.append(gettext("%(count)d for other reasons") % {"count": rest})
        return ", ".join(said)


class ImportTemplate(models.Model):
    """A confirmed mapping saved under a name ("Pipedrive export"): the next file with the
    same header (matched without case or punctuation) arrives mapped as this one was."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("kind"), max_length=10, choices=LeadImport.Kind.choices, default="leads"
    )
    #: The header's normalised column names, joined: how a later file is recognised.
    header_key = models.TextField(_("header key"), db_index=True)
    headers = models.JSONField(_("headers"), default=list)
    mapping = models.JSONField(
        _("mapping"), default=dict, help_text=_("CSV column index → lead field.")
    )
    stage_map = models.JSONField(
        _("stage map"),
        default=dict,
        blank=True,
        help_text=_("A stage name in the file → our stage's id."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("import template")
        verbose_name_plural = _("import templates")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="import_template_name_unique"),
        ]

    def __str__(self):
        return self.name


class ScoreRecompute(LeasedProgress, models.Model):
    """One recomputation of stored scores after the criteria changed (or the daily
    refresh): its progress, for the admin's progress bar.

    The newest one is the one that counts: an older run still going stops at its next
    chunk (``superseded``), since the newer one reads the newer criteria.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        SUPERSEDED = "superseded", _("Superseded")
        FAILED = "failed", _("Failed")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    chunks = models.PositiveIntegerField(_("chunks"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Until when the running worker has promised to report (renewed after each chunk);
    # past it, the run has died and the page says so instead of polling forever.
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    failure = models.TextField(_("failure"), blank=True)

    class Meta:
        verbose_name = _("score recompute")
        verbose_name_plural = _("score recomputes")
        ordering = ["-id"]

    def __str__(self):
        return gettext("Score recompute %(id)s (%(status)s)") % {
            "id": self.pk,
            "status": self.get_status_display(),
        }
