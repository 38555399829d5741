"""The relationship core: clients and their contacts. Both are soft-deleted and audited.
Also what the project keeps beside them: rate-limit windows and personal API tokens."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

phone_validator = RegexValidator(
    r"^\+?[0-9 ()./-]{5,30}$",
    _("Enter a phone number of digits, spaces and + ( ) . / - (for example +31 20 123 4567)."),
)


class SoftDeleteQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)


class SoftDeletable(models.Model):
    """Rows are hidden, never removed: leads keep pointing at them, and admins can restore."""

    deleted_at = models.DateTimeField(
        _("deleted at"), null=True, blank=True, db_index=True, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = SoftDeleteQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def deleted_label(self) -> str:
        """What shows where a deleted record's name would be: "Deleted client"."""
        return gettext("Deleted %(record)s") % {"record": self._meta.verbose_name}

    def soft_delete(self) -> None:
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])

    def restore(self) -> None:
        self.deleted_at = None
        self.save(update_fields=["deleted_at", "updated_at"])


class Client(SoftDeletable):
    """An organisation or a person that buys from us."""

    class Kind(models.TextChoices):
        ORGANIZATION = "organization", _("Organization")
        PERSON = "person", _("Person")

    name = models.CharField(_("name"), max_length=255)
    kind = models.CharField(
        _("kind"), max_length=12, choices=Kind.choices, default=Kind.ORGANIZATION
    )
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True, validators=[phone_validator])
    website = models.URLField(_("website"), blank=True)
    address = models.TextField(_("address"), blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["name", "id"]
        indexes = [models.Index(Lower("name"), "id", name="client_lower_name_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""),
                name="client_name_not_empty",
                violation_error_message=_("Name is required."),
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["organization", "person"]),
                name="client_kind_valid",
                violation_error_message=_("Kind must be organization or person."),
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("crm:client_detail", args=[self.pk])


class Contact(SoftDeletable):
    """A person at a client whom we talk to."""

    client = models.ForeignKey(
        Client, verbose_name=_("client"), on_delete=models.PROTECT, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=255)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True, validators=[phone_validator])
    job_title = models.CharField(_("job title"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["name", "id"]
        indexes = [models.Index(Lower("name"), "id", name="contact_lower_name_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""),
                name="contact_name_not_empty",
                violation_error_message=_("Name is required."),
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("crm:contact_detail", args=[self.pk])


class AuditKind(models.TextChoices):
    CREATED = "created", _("Created")
    CHANGED = "changed", _("Changed")
    DELETED = "deleted", _("Deleted")
    RESTORED = "restored", _("Restored")


class AuditEvent(models.Model):
    """One thing that happened to a client or a contact: who did what, when, old → new.

    Written only by ``crm.services``, in the transaction of the change it records. A
    change writes one event per changed field; ``data`` holds the field and its old and
    new value as stored (choice keys; for a related row its name then, and the ids).
    """

    Kind = AuditKind

    #: The name of the foreign key to the audited record, set by each concrete model.
    record_field = ""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,  # the audit trail keeps who did it
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=10, choices=AuditKind.choices)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        abstract = True
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AuditKind.values),
                name="%(class)s_kind_valid",
                violation_error_message=_("Unknown event kind."),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.at:%Y-%m-%d %H:%M}"

    @classmethod
    def record_model(cls) -> type[models.Model]:
        return cls._meta.get_field(cls.record_field).related_model

    def describe(self) -> str:
        """The event as a sentence ("Email: a@x.nl → b@x.nl", "Deleted the client")."""
        data = self.data if isinstance(self.data, dict) else {}
        noun = self.record_model()._meta.verbose_name
        match self.kind:
            case AuditKind.CREATED:
                if data.get("file"):
                    said = gettext("Created the %(record)s by the import of %(file)s")
                elif data.get("capture"):
                    said = gettext("Created the %(record)s from the website form %(capture)s")
                else:
                    said = gettext("Created the %(record)s")
            case AuditKind.DELETED:
                said = gettext("Deleted the %(record)s")
            case AuditKind.RESTORED:
                said = gettext("Restored the %(record)s")
            case _:
                field = data.get("field", "")
                old, new = self.show(field, data.get("old")), self.show(field, data.get("new"))
                return f"{self.label(field)}: {old} → {new}"
        # The record's name may open the sentence in another language ("Klant aangemaakt").
        return capfirst(
            said % {"record": noun, "file": data.get("file"), "capture": data.get("capture")}
        )

    @classmethod
    def label(cls, field: str) -> str:
        """A field's name as the forms show it ("Job title")."""
        try:
            name = str(cls.record_model()._meta.get_field(field).verbose_name)
        except FieldDoesNotExist:  # a field that no longer exists keeps its raw name
            name = field.replace("_", " ")
        return name[:1].upper() + name[1:]

    @classmethod
    def show(cls, field: str, value) -> str:
        """A recorded value as people read it: choice labels, quoted text; "—" when empty."""
        if value in (None, ""):
            return "—"
        try:
            model_field = cls.record_model()._meta.get_field(field)
        except FieldDoesNotExist:
            return str(value)
        if model_field.choices and not model_field.is_relation:
            return str(dict(model_field.flatchoices).get(value, value))
        if isinstance(model_field, models.TextField):
            text = " ".join(str(value).split())
            return f"“{text[:80]}…”" if len(text) > 80 else f"“{text}”"
        return str(value)


class ClientEvent(AuditEvent):
    """The history of a client."""

    record_field = "client"

    # PROTECT: clients are soft-deleted, and erasing one for good is refused while it has
    # history. No index of its own: the (client, -at, -id) index below serves it.
    client = models.ForeignKey(
        Client,
        verbose_name=_("client"),
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
    )

    class Meta(AuditEvent.Meta):
        verbose_name = _("client event")
        verbose_name_plural = _("client events")
        indexes = [models.Index(fields=["client", "-at", "-id"], name="clientevent_client_at_idx")]


class ContactEvent(AuditEvent):
    """The history of a contact."""

    record_field = "contact"

    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
    )

    class Meta(AuditEvent.Meta):
        verbose_name = _("contact event")
        verbose_name_plural = _("contact events")
        indexes = [
            models.Index(fields=["contact", "-at", "-id"], name="contactevent_contact_at_idx")
        ]


class RateWindow(models.Model):
    """How many times ``key`` was counted in the window that began at ``start``.

    Written only by ``crm.ratelimit``. The counts live in the database, not in a
    process, so a limit holds across every app server and survives a restart.
    """

    key = models.CharField(_("key"), max_length=200)
    start = models.DateTimeField(_("start"))
    hits = models.PositiveIntegerField(_("hits"), default=0)

    class Meta:
        verbose_name = _("rate window")
        verbose_name_plural = _("rate windows")
        constraints = [
            models.UniqueConstraint(fields=["key", "start"], name="ratewindow_key_start_uniq")
        ]

    def __str__(self):
        return f"{self.key} @ {self.start:%Y-%m-%d %H:%M:%S}: {self.hits}"


#: What every API token starts with: a secret pasted into the wrong place is recognisable
#: (and secret scanners can be taught the pattern).
API_TOKEN_PREFIX = "crm_"


def api_token_digest(secret: str) -> str:
    """The SHA-256 of a token, hex: what is stored and looked up. A token is 256 random
    bits, so a plain hash is enough (no salt or slow hash: nothing to guess)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)

    def issue(self, *, user, name: str) -> tuple["ApiToken", str]:
        """A new token for ``user``: the row, and the secret, shown once and never stored."""
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(user=user, name=name, digest=api_token_digest(secret), hint=secret[-4:])
        token.full_clean()
        token.save()
        return token, secret

    def authenticate(self, secret: str) -> "ApiToken | None":
        """The active token of an active user that ``secret`` is, with its user; else None."""
        if not secret.startswith(API_TOKEN_PREFIX) or len(secret) > 200:
            return None
        return (
            self.active()
            .select_related("user")
            .filter(digest=api_token_digest(secret), user__is_active=True)
            .first()
        )


class ApiToken(models.Model):
    """A personal API token: its user's rights, for scripts and other systems.

    Only the SHA-256 of the secret is kept; the secret is shown once, when the token is
    made (``ApiToken.objects.issue``). Revoking keeps the row, so that the settings page
    can say when a token stopped working.
    """

    #: How long a use may go unrecorded: ``last_used_at`` is written at most this often.
    USE_RESOLUTION = timedelta(minutes=1)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What the token is for."))
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    #: The secret's last four characters, to tell tokens apart on the settings page.
    hint = models.CharField(_("hint"), max_length=4, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""),
                name="apitoken_name_not_empty",
                violation_error_message=_("Name the token."),
            ),
        ]

    def __str__(self):
        return f"{self.name} (…{self.hint})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        """Stop the token from working; a revoked token stays revoked when it was."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def record_use(self, now=None) -> None:
        """Note that the token was used, at most once per ``USE_RESOLUTION`` (a write per
        request would cost every call of a busy script a query)."""
        now = now or timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= self.USE_RESOLUTION:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class LanguagePreference(models.Model):
    """The language a user chose in the user menu, remembered across devices.

    Without a row, the browser's Accept-Language decides. Read once, when the user signs in
    (into the session, ``crm.language``): requests pay nothing for it.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="language_preference",
        verbose_name=_("user"),
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)

    class Meta:
        verbose_name = _("language preference")
        verbose_name_plural = _("language preferences")

    def __str__(self):
        return f"{self.user}: {self.language}"
