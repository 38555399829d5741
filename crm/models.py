"""The relationship core: clients and their contacts. Both are soft-deleted."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

phone_validator = RegexValidator(
    r"^\+?[0-9 ()./-]{5,30}$",
    "Enter a phone number of digits, spaces and + ( ) . / - (for example +31 20 123 4567).",
)


class SoftDeleteQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)


class SoftDeletable(models.Model):
    """Rows are hidden, never removed: leads keep pointing at them, and admins can restore."""

    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SoftDeleteQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def soft_delete(self) -> None:
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])

    def restore(self) -> None:
        self.deleted_at = None
        self.save(update_fields=["deleted_at", "updated_at"])


class Client(SoftDeletable):
    """An organisation or a person that buys from us."""

    class Kind(models.TextChoices):
        ORGANIZATION = "organization", "Organization"
        PERSON = "person", "Person"

    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ORGANIZATION)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True, validators=[phone_validator])
    website = models.URLField(blank=True)
    address = models.TextField(blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(Lower("name"), "id", name="client_lower_name_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""),
                name="client_name_not_empty",
                violation_error_message="Name is required.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["organization", "person"]),
                name="client_kind_valid",
                violation_error_message="Kind must be organization or person.",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("crm:client_detail", args=[self.pk])


class Contact(SoftDeletable):
    """A person at a client whom we talk to."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="contacts")
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True, validators=[phone_validator])
    job_title = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(Lower("name"), "id", name="contact_lower_name_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""),
                name="contact_name_not_empty",
                violation_error_message="Name is required.",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("crm:contact_detail", args=[self.pk])
