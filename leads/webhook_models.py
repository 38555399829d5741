"""Webhooks: endpoints an admin registers for kinds of lead events, and every delivery
to them with what came of it. ``leads.webhooks`` makes the deliveries and sends them."""

import datetime
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookEventKind(models.TextChoices):
    CREATED = "lead.created", _("Lead created")
    CHANGED = "lead.changed", _("Lead changed")
    STAGE_CHANGED = "lead.stage_changed", _("Stage changed")
    WON = "lead.won", _("Lead won")
    LOST = "lead.lost", _("Lead lost")
    ASSIGNED = "lead.assigned", _("Lead assigned")
    DELETED = "lead.deleted", _("Lead deleted")


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookQuerySet(models.QuerySet):
    def listening(self):
        return self.filter(active=True)


class Webhook(models.Model):
    """An endpoint that is told, by a signed POST, when these kinds of things happen."""

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(
        _("URL"),
        max_length=500,
        help_text=_(
            "http or https. Addresses in private networks are refused unless the "
            "server allows them (WEBHOOK_ALLOW_PRIVATE)."
        ),
    )
    #: Signs every delivery (HMAC-SHA256); shown once, when made.
    secret = models.CharField(_("secret"), max_length=100, default=new_secret, editable=False)
    events = models.JSONField(
        _("events"), default=list, help_text=_("The kinds of events this endpoint is sent.")
    )
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive endpoints are sent nothing.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        app_label = "leads"
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def secret_hint(self) -> str:
        """The secret as the admin shows it after creation: its first and last letters."""
        return f"{self.secret[:6]}…{self.secret[-4:]}"

    def rotate_secret(self) -> str:
        """A new secret (deliveries from now on are signed with it); returned to show once."""
        self.secret = new_secret()
        self.save(update_fields=["secret"])
        return self.secret


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDeliveryQuerySet(models.QuerySet):
    def due(self, now: datetime.datetime | None = None):
        """Pending deliveries whose next attempt is now or past, oldest first."""
        return self.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now or timezone.now()
        ).order_by("next_attempt_at", "id")


class WebhookDelivery(models.Model):
    """One event for one endpoint: its body (signed anew on each attempt) and its log."""

    Status = DeliveryStatus

    webhook = models.ForeignKey(
        Webhook, verbose_name=_("webhook"), on_delete=models.CASCADE, related_name="deliveries"
    )
    #: The event's id, the same for every endpoint it goes to: receivers drop repeats by it.
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, editable=False)
    event = models.CharField(_("event"), max_length=30, choices=WebhookEventKind.choices)
    #: The lead's id (not a key: the log outlives a deleted lead).
    lead_id = models.BigIntegerField(_("lead id"), null=True, blank=True)
    #: The JSON sent, exactly: every attempt sends these bytes.
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        _("next attempt at"), null=True, blank=True, default=timezone.now
    )
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last status code"), null=True, blank=True
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook delivery")
        app_label = "leads"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhookdelivery_due_idx",
            ),
            models.Index(fields=["webhook", "-created_at"], name="webhookdelivery_hook_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values),
                name="webhookdelivery_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.event} → {self.webhook_id} ({self.get_status_display()})"
