"""Capture forms: a website's contact form that creates leads by posting to
``/capture/<key>/`` (``leads.capture_views``), configured by an admin.

The public key is the form's only credential: it sits in the website's HTML, so it
authorises nothing but creating a lead the way the form says (its stage, source and
assignee). Switching the form off revokes the key (posts answer 401); issuing a new key
(``rotate_key``) makes the old one unknown.
"""

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def new_public_key() -> str:
    return secrets.token_urlsafe(18)


#: The hidden field a person never fills and a spam bot does (``leads.capture``).
HONEYPOT_FIELD = "homepage"


class CaptureFormQuerySet(models.QuerySet):
    def by_key(self, key: str) -> "CaptureForm | None":
        """The active form this key belongs to; None for an unknown or revoked key."""
        return (
            self.filter(public_key=key, active=True)
            .select_related("stage__pipeline", "source", "default_assignee")
            .first()
        )


class CaptureForm(models.Model):
    """A website form that creates leads: where they land, who gets them, who may post."""

    name = models.CharField(
        _("name"),
        max_length=100,
        help_text=_("The lead's history names it: “Captured from Website contact form”."),
    )
    public_key = models.CharField(
        _("public key"), max_length=64, unique=True, default=new_public_key, editable=False
    )
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Switch off to revoke the key: posts to it answer 401."),
    )
    stage = models.ForeignKey(
        "pipelines.PipelineStage",
        on_delete=models.PROTECT,
        related_name="capture_forms",
        verbose_name=_("target stage"),
        help_text=_("An open stage: its pipeline is the pipeline the leads land in."),
    )
    source = models.ForeignKey(
        "leads.LeadSource",
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="capture_forms",
    )
    default_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("default assignee"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="capture_forms",
        help_text=_("Leave empty to let the assignment rules choose, as for any new lead."),
    )
    allowed_origins = models.TextField(
        _("allowed origins"),
        blank=True,
        help_text=_(
            "The websites whose pages post to this form, one a line, for example "
            "https://www.example.com. A browser's post from any other site is refused (403); "
            "posts from servers (no Origin header) are accepted."
        ),
    )
    thank_you_url = models.URLField(
        _("thank-you page"),
        blank=True,
        help_text=_(
            "Where a plain HTML form (without JavaScript) sends the visitor after a "
            "post; empty: a short thank-you page of ours."
        ),
    )
    rate_limit = models.PositiveIntegerField(
        _("posts per hour"),
        default=60,
        help_text=_("More posts than this within an hour answer 429 until the hour is over."),
    )
    spam_caught = models.PositiveIntegerField(
        _("spam caught"),
        default=0,
        editable=False,
        help_text=_("Posts that filled the hidden field: not saved."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = CaptureFormQuerySet.as_manager()

    class Meta:
        verbose_name = _("capture form")
        verbose_name_plural = _("capture forms")
        app_label = "leads"
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate_limit__gte=1),
                name="captureform_rate_limit_positive",
                violation_error_message=_("Allow at least one post per hour."),
            ),
        ]

    def __str__(self):
        return self.name

    def endpoint(self) -> str:
        """The path websites post to. (Not ``get_absolute_url``: the admin would link it
        as "View on site", and it answers only POST.)"""
        return reverse("leads:capture", args=[self.public_key])

    def clean(self):
        if self.stage_id is not None and not self.stage.is_open:
            raise ValidationError(
                {"stage": gettext("Choose an open stage: captured leads are new.")}
            )
        bad = [line for line in self.origins() if not is_origin(line)]
        if bad:
            raise ValidationError(
                {
                    "allowed_origins": gettext(
                        "“%(line)s” is not an origin: write the scheme and host only, for "
                        "example https://www.example.com."
                    )
                    % {"line": bad[0]}
                }
            )

    def origins(self) -> list[str]:
        """The allowed origins, one a line, without a trailing slash."""
        return [
            line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()
        ]

    def allows_origin(self, origin: str | None) -> bool:
        """A post without an Origin (a server's, curl's) is allowed; a browser's only from
        a listed site."""
        return origin is None or origin.rstrip("/").lower() in {
            allowed.lower() for allowed in self.origins()
        }

    def rotate_key(self) -> None:
        """A new public key: the old one answers 401 from now on."""
        self.public_key = new_public_key()
        self.save(update_fields=["public_key"])

    def count_spam(self) -> None:
        CaptureForm.objects.filter(pk=self.pk).update(spam_caught=F("spam_caught") + 1)


def is_origin(text: str) -> bool:
    """ "https://www.example.com" or "http://localhost:8000": a scheme and a host, no path."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (a bad port raises)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment or parts.username)
    )
