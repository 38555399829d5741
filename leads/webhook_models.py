"""Webhooks: endpoints an admin registers for kinds of lead events, and every delivery
to them with what came of it. ``leads.webhooks`` makes the deliveries and sends them."""

import datetime
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookEventKind(models.TextChoices):
    CREATED = "lead.created", "Lead created"
    CHANGED = "lead.changed", "Lead changed"
    STAGE_CHANGED = "lead.stage_changed", "Stage changed"
    WON = "lead.won", "Lead won"
    LOST = "lead.lost", "Lead lost"
    ASSIGNED = "lead.assigned", "Lead assigned"
    DELETED = "lead.deleted", "Lead deleted"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookQuerySet(models.QuerySet):
    def listening(self):
        return self.filter(active=True)


class Webhook(models.Model):
    """An endpoint that is told, by a signed POST, when these kinds of things happen."""

    name = models.CharField(max_length=100)
    url = models.URLField(
        "URL",
        max_length=500,
        help_text="http or https. Addresses in private networks are refused unless the "
        "server allows them (WEBHOOK_ALLOW_PRIVATE).",
    )
    #: Signs every delivery (HMAC-SHA256); shown once, when made.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    events = models.JSONField(default=list, help_text="The kinds of events this endpoint is sent.")
    active = models.BooleanField(default=True, help_text="Inactive endpoints are sent nothing.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
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
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDeliveryQuerySet(models.QuerySet):
    def due(self, now: datetime.datetime | None = None):
        """Pending deliveries whose next attempt is now or past, oldest first."""
        return self.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now or timezone.now()
        ).order_by("next_attempt_at", "id")


class WebhookDelivery(models.Model):
    """One event for one endpoint: its body (signed anew on each attempt) and its log."""

    Status = DeliveryStatus

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    #: The event's id, the same for every endpoint it goes to: receivers drop repeats by it.
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=30, choices=WebhookEventKind.choices)
    #: The lead's id (not a key: the log outlives a deleted lead).
    lead_id = models.BigIntegerField(null=True, blank=True)
    #: The JSON sent, exactly: every attempt sends these bytes.
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        app_label = "leads"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
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
