"""What a bulk action on the lead list did, kept for its progress and for its undo.

A ``BulkChange`` is one action (assign, run the rules, move to a stage, set a
priority, delete) on a selection of leads; ``leads.bulk`` runs it through the lead
services. Each lead it changed has a ``BulkChangeItem``: the fields as they were before
(as ``leads.services`` snapshots them) and the version the change left, so that undo
can put back exactly those fields on the leads nobody has changed since.
"""

import datetime

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .progress import LeasedProgress

#: How long a bulk change can be undone.
UNDO_WINDOW = datetime.timedelta(hours=24)


class BulkChange(LeasedProgress, models.Model):
    """One bulk action on a selection of leads: its progress, what came of it, its undo."""

    class Action(models.TextChoices):
        ASSIGN = "assign", _("Assign")
        RULES = "rules", _("Run assignment rules")
        STAGE = "stage", _("Move to a stage")
        PRIORITY = "priority", _("Set priority")
        DELETE = "delete", _("Delete")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        UNDONE = "undone", _("Undone")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    # The action's values as ids and keys ({"stage": 7, "lost_reason": 2, ...}).
    values = models.JSONField(_("values"), default=dict, blank=True)
    # What it does, as people read it ("Move to Lost (Price too high)").
    description = models.CharField(_("description"), max_length=300)
    # The selection, resolved when it was asked for: the ids of the leads to change.
    lead_ids = models.JSONField(_("lead ids"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)  # looked at so far
    changed = models.PositiveIntegerField(_("changed"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)  # the user may not change them
    missing = models.PositiveIntegerField(_("missing"), default=0)  # deleted meanwhile
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)  # held the values already
    # Until when the running worker has promised to report (renewed after each chunk).
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    failure = models.TextField(_("failure"), blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    restored = models.PositiveIntegerField(_("restored"), default=0)  # put back by the undo
    # Changed since, or refused.
    not_restored = models.PositiveIntegerField(_("not restored"), default=0)

    class Meta:
        verbose_name = _("bulk change")
        verbose_name_plural = _("bulk changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="bulkchange_user_idx")]

    def __str__(self):
        return ngettext(
            "%(description)s (%(count)d lead)", "%(description)s (%(count)d leads)", self.total
        ) % {"description": self.description, "count": self.total}

    def get_absolute_url(self):
        return reverse("leads:bulk_detail", args=[self.pk])

    @property
    def undo_until(self) -> datetime.datetime:
        return self.created_at + UNDO_WINDOW

    def can_undo(self, user, now=None) -> bool:
        """Its maker may undo a change that ended (done, or failed part-way) and wrote
        something, within the undo window; a deletion cannot be undone."""
        now = now or timezone.now()
        return (
            user.pk == self.created_by_id
            and self.action != self.Action.DELETE
            and self.status in (self.Status.DONE, self.Status.FAILED)
            and not self.is_stale
            and self.changed > 0
            and now < self.undo_until
        )


class BulkChangeItem(models.Model):
    """A lead a bulk change changed: its fields before (to put back) and the version the
    change left it at (undo leaves a lead changed since alone)."""

    bulk_change = models.ForeignKey(
        BulkChange, verbose_name=_("bulk change"), on_delete=models.CASCADE, related_name="items"
    )
    # No foreign key: a lead deleted since is simply not restored.
    lead_id = models.BigIntegerField(_("lead id"))
    before = models.JSONField(_("before"), default=dict)
    version = models.PositiveIntegerField(_("version"))

    class Meta:
        verbose_name = _("bulk change item")
        verbose_name_plural = _("bulk change items")
        constraints = [
            models.UniqueConstraint(fields=["bulk_change", "lead_id"], name="bulkitem_unique")
        ]

    def __str__(self):
        return gettext("Lead %(lead)s in bulk change %(change)s") % {
            "lead": self.lead_id,
            "change": self.bulk_change_id,
        }
