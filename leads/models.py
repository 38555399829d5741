"""Leads, where they came from, and everything that happened to them."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.urls import reverse
from django.utils import timezone

from pipelines.models import Pipeline, PipelineStage


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

    slug = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    active = models.BooleanField(default=True, help_text="Inactive sources are not offered.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "label"]

    def __str__(self):
        return self.label


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


PRIORITY_RANK = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}

#: Priority as a sortable number, urgent highest; usable in order_by() and annotate().
priority_rank = Case(
    *(When(priority=value, then=Value(rank)) for value, rank in PRIORITY_RANK.items()),
    default=Value(0),
    output_field=models.PositiveSmallIntegerField(),
)


class Status(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class LeadQuerySet(models.QuerySet):
    def open(self):
        return self.filter(stage__kind=PipelineStage.Kind.OPEN)

    def won(self):
        return self.filter(stage__kind=PipelineStage.Kind.WON)

    def lost(self):
        return self.filter(stage__kind=PipelineStage.Kind.LOST)

    def with_status(self, status: str):
        return self.filter(stage__kind=status)

    def assigned_to(self, user):
        return self.filter(assignee=user)

    def editable_by(self, user):
        """Leads the user may edit, delete or move: all for managers, own for reps."""
        if user.has_perm("leads.change_any_lead"):
            return self.all()
        if user.has_perm("leads.change_lead"):
            return self.filter(Q(created_by=user) | Q(assignee=user))
        return self.none()

    def for_display(self):
        """Everything a list row or detail page shows, in one query."""
        return self.select_related(
            "stage__pipeline", "source", "client", "contact", "assignee", "created_by"
        )

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


class Lead(models.Model):
    """A sales opportunity, from first contact to won or lost."""

    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    value = models.DecimalField(
        "value (EUR)",
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0), "Value must be non-negative.")],
        help_text="Expected deal value in euros; leave empty when unknown.",
    )
    probability = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[
            MinValueValidator(0, "Probability must be between 0 and 100."),
            MaxValueValidator(100, "Probability must be between 0 and 100."),
        ],
        help_text="Chance of winning, 0–100 %.",
    )
    source = models.ForeignKey(
        LeadSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    priority = models.CharField(max_length=6, choices=Priority.choices, default=Priority.NORMAL)
    expected_close_date = models.DateField("expected close", null=True, blank=True)
    category = models.CharField(max_length=100, blank=True)
    stage = models.ForeignKey(
        PipelineStage, on_delete=models.PROTECT, related_name="leads", default=default_stage_id
    )
    client = models.ForeignKey(
        "crm.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="leads"
    )
    contact = models.ForeignKey(
        "crm.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="leads"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_leads",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="created_leads",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    stage_entered_at = models.DateTimeField(default=timezone.now, editable=False)
    last_activity_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = LeadQuerySet.as_manager()

    class Meta:
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
            models.Index(fields=["created_at", "id"], name="lead_created_idx"),
            models.Index(fields=["category"], name="lead_category_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(title=""),
                name="lead_title_not_empty",
                violation_error_message="Title is required.",
            ),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0),
                name="lead_value_non_negative",
                violation_error_message="Value must be non-negative.",
            ),
            models.CheckConstraint(
                condition=Q(probability__isnull=True) | Q(probability__gte=0, probability__lte=100),
                name="lead_probability_0_100",
                violation_error_message="Probability must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(priority__in=[p.value for p in Priority]),
                name="lead_priority_valid",
                violation_error_message="Priority must be low, normal, high or urgent.",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), 5000),
                name="lead_description_max_5000",
                violation_error_message="Description must be at most 5000 characters.",
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

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK[Priority(self.priority)]

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
        from django.core.exceptions import ValidationError

        if self.contact_id and self.client_id and self.contact.client_id != self.client_id:
            raise ValidationError(
                {"contact": f"{self.contact.name} is not a contact of {self.client.name}."},
                code="contact_not_of_client",
            )

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

    def enter_stage(self, stage: PipelineStage, *, now, keep_probability: bool = False) -> dict:
        """Put the lead in a stage (unsaved) and return what the history records of it.

        The lead takes the stage's probability where the stage has one, unless the
        caller keeps the probability the user typed in the same save.
        """
        previous_id, previous_name = self.stage_id, self.stage.name if self.stage_id else None
        data = {
            "field": "stage",
            "old": previous_name,
            "new": stage.name,
            "old_id": previous_id,
            "new_id": stage.pk,
            "seconds_in_previous": int((now - self.stage_entered_at).total_seconds()),
        }
        self.stage = stage
        self.stage_entered_at = now
        self.closed_at = None if stage.is_open else now
        if stage.probability is not None and not keep_probability:
            if self.probability != stage.probability:
                data["probability"] = {"old": self.probability, "new": stage.probability}
            self.probability = stage.probability
        return data

    @transaction.atomic
    def move_to(self, stage: PipelineStage, *, by) -> "LeadEvent | None":
        """Move the lead to another stage and record it; moving to its own stage is a no-op."""
        if stage.pk == self.stage_id:
            return None
        now = timezone.now()
        data = self.enter_stage(stage, now=now)
        fields = ["stage", "stage_entered_at", "closed_at", "probability", *self.touch(now)]
        self.save(update_fields=fields)
        return LeadEvent.objects.create(
            lead=self, actor=by, at=now, kind=LeadEvent.Kind.STAGE_CHANGED, data=data
        )

    @transaction.atomic
    def assign_to(self, user, *, by) -> "LeadEvent | None":
        """Give the lead to a user (or to nobody) and record who did it."""
        if (user.pk if user else None) == self.assignee_id:
            return None
        old = self.assignee
        self.assignee = user
        self.save(update_fields=["assignee", *self.touch()])
        return LeadEvent.objects.create(
            lead=self,
            actor=by,
            at=self.updated_at,
            kind=LeadEvent.Kind.ASSIGNED,
            data={
                "field": "assignee",
                "old": old.get_username() if old else None,
                "new": user.get_username() if user else None,
                "old_id": old.pk if old else None,
                "new_id": user.pk if user else None,
            },
        )


class EventKind(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    STAGE_CHANGED = "stage_changed", "Stage changed"
    ASSIGNED = "assigned", "Assigned"
    NOTE = "note", "Note"
    IMPORTED = "imported", "Imported"
    DELETED = "deleted", "Deleted"


class LeadEvent(models.Model):
    """One thing that happened to a lead: the timeline and the audit trail."""

    Kind = EventKind

    # SET_NULL: the audit record of a deleted lead survives it (data keeps the title).
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="lead_events",
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["lead", "-at", "-id"], name="leadevent_lead_at_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in EventKind]),
                name="leadevent_kind_valid",
                violation_error_message="Unknown event kind.",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.at:%Y-%m-%d %H:%M}"
