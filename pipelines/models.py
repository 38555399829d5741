"""Pipelines and their ordered stages."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.web.memo import per_request

LAST_OPEN_STAGE_MESSAGE = _("A pipeline must keep at least one open stage.")


class PipelineQuerySet(models.QuerySet):
    def default(self) -> "Pipeline":
        """The default pipeline (exactly one exists; the data migration creates it)."""
        return self.get(is_default=True)


class Pipeline(models.Model):
    """A sequence of stages a lead moves through."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    is_default = models.BooleanField(
        _("default"),
        default=False,
        help_text=_("New leads start in this pipeline. Exactly one pipeline is the default."),
    )
    stale_after_days = models.PositiveSmallIntegerField(
        _("stale after days"),
        default=14,
        validators=[MinValueValidator(1)],
        help_text=_("An open lead without activity for this many days counts as stale."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="pipeline_single_default",
                violation_error_message=_("Another pipeline is already the default."),
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("admin:pipelines_pipeline_change", args=[self.pk])

    def first_open_stage(self) -> "PipelineStage | None":
        return self.stages.filter(kind=PipelineStage.Kind.OPEN).order_by("order").first()


class PipelineStage(models.Model):
    """One step of a pipeline; its kind says whether a lead there is open, won or lost."""

    class Kind(models.TextChoices):
        OPEN = "open", pgettext_lazy("status", "Open")
        WON = "won", pgettext_lazy("status", "Won")
        LOST = "lost", pgettext_lazy("status", "Lost")

    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="stages"
    )
    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveSmallIntegerField(
        _("order"), help_text=_("Position in the pipeline, from 0.")
    )
    probability = models.PositiveSmallIntegerField(
        _("probability"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Win probability (0–100 %) a lead takes when it enters this stage."),
    )
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices, default=Kind.OPEN)
    aging_warn_days = models.PositiveSmallIntegerField(
        _("aging warning after (days)"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("A lead this long in the stage gets the warning look."),
    )
    aging_alert_days = models.PositiveSmallIntegerField(
        _("aging alert after (days)"),
        default=14,
        validators=[MinValueValidator(1)],
        help_text=_("A lead this long in the stage gets the alert look."),
    )
    colour = models.CharField(
        _("colour"),
        max_length=7,
        default="#6b7280",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Enter a colour as #rrggbb."))],
    )

    class Meta:
        verbose_name = _("pipeline stage")
        verbose_name_plural = _("pipeline stages")
        ordering = ["pipeline", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "order"],
                name="stage_unique_order_per_pipeline",
                violation_error_message=_("Another stage of this pipeline has this position."),
            ),
            models.UniqueConstraint(
                fields=["pipeline", "name"],
                name="stage_unique_name_per_pipeline",
                violation_error_message=_("Another stage of this pipeline has this name."),
            ),
            models.CheckConstraint(
                condition=Q(probability__isnull=True) | Q(probability__gte=0, probability__lte=100),
                name="stage_probability_0_100",
                violation_error_message=_("Probability must be between 0 and 100."),
            ),
            models.CheckConstraint(
                condition=Q(aging_alert_days__gte=models.F("aging_warn_days")),
                name="stage_aging_alert_after_warning",
                violation_error_message=_("The alert must not come before the warning."),
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["open", "won", "lost"]),
                name="stage_kind_valid",
                violation_error_message=_("Kind must be open, won or lost."),
            ),
        ]

    def __str__(self):
        return f"{self.pipeline.name} · {self.name}"

    @property
    def is_open(self) -> bool:
        return self.kind == self.Kind.OPEN

    def is_last_open(self) -> bool:
        """Whether it is its pipeline's only open stage, which the pipeline must keep."""
        return (
            self.is_open
            and not PipelineStage.objects.filter(pipeline_id=self.pipeline_id, kind=self.Kind.OPEN)
            .exclude(pk=self.pk)
            .exists()
        )

    def moves_on_to(self, stages) -> list[int]:
        """The ids of the stages a lead that leaves this one moves on to, of ``stages``
        (its pipeline's): the open stages after it, and the won ones, since winning
        passes every open stage."""
        return [
            stage.pk
            for stage in stages
            if stage.pipeline_id == self.pipeline_id
            and (
                stage.kind == self.Kind.WON
                or (stage.kind == self.Kind.OPEN and stage.order > self.order)
            )
        ]

    def neighbour(self) -> "PipelineStage | None":
        """Where its leads go when it is deleted: the stage before it, or after it if first."""
        others = PipelineStage.objects.filter(pipeline_id=self.pipeline_id).exclude(pk=self.pk)
        before = others.filter(order__lt=self.order).order_by("-order").first()
        return before or others.filter(order__gt=self.order).order_by("order").first()

    def clean(self):
        super().clean()
        if self.pk and self.kind != self.Kind.OPEN and self.pipeline_id:
            was_open = PipelineStage.objects.filter(pk=self.pk, kind=self.Kind.OPEN).exists()
            others_open = (
                self.pipeline.stages.filter(kind=self.Kind.OPEN).exclude(pk=self.pk).exists()
            )
            if was_open and not others_open:
                raise ValidationError({"kind": LAST_OPEN_STAGE_MESSAGE}, code="last_open")


@per_request
def all_stages() -> list[PipelineStage]:
    """Every stage with its pipeline, the default pipeline's first, each pipeline's in
    order: read once a request (``crm.web.memo``), for the rows' stages, the stage ids of
    a status and the stage menus."""
    return list(
        PipelineStage.objects.select_related("pipeline").order_by(
            "-pipeline__is_default", "pipeline__name", "order"
        )
    )


def pipeline_stages(pipeline_id: int) -> list[PipelineStage]:
    """One pipeline's stages in order, from ``all_stages`` (no query of their own)."""
    return [stage for stage in all_stages() if stage.pipeline_id == pipeline_id]


def stage_ids(kind: str) -> list[int]:
    """The ids of the stages of that kind (open, won or lost)."""
    return [stage.pk for stage in all_stages() if stage.kind == kind]


def attach_stages(leads) -> None:
    """Give each lead its stage (with its pipeline) from ``all_stages``, without a query."""
    stages = {stage.pk: stage for stage in all_stages()}
    for lead in leads:
        stage = stages.get(lead.stage_id)
        if stage is not None:
            lead.stage = stage
