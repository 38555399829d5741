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

from .progress import LeasedProgress

#: How long a bulk change can be undone.
UNDO_WINDOW = datetime.timedelta(hours=24)


class BulkChange(LeasedProgress, models.Model):
    """One bulk action on a selection of leads: its progress, what came of it, its undo."""

    class Action(models.TextChoices):
        ASSIGN = "assign", "Assign"
        RULES = "rules", "Run assignment rules"
        STAGE = "stage", "Move to a stage"
        PRIORITY = "priority", "Set priority"
        DELETE = "delete", "Delete"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        UNDONE = "undone", "Undone"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=12, choices=Action.choices)
    # The action's values as ids and keys ({"stage": 7, "lost_reason": 2, ...}).
    values = models.JSONField(default=dict, blank=True)
    # What it does, as people read it ("Move to Lost (Price too high)").
    description = models.CharField(max_length=300)
    # The selection, resolved when it was asked for: the ids of the leads to change.
    lead_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)  # looked at so far
    changed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # the user may not change them
    missing = models.PositiveIntegerField(default=0)  # deleted meanwhile
    unchanged = models.PositiveIntegerField(default=0)  # held the values already
    # Until when the running worker has promised to report (renewed after each chunk).
    lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    restored = models.PositiveIntegerField(default=0)  # put back by the undo
    not_restored = models.PositiveIntegerField(default=0)  # changed since, or refused

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="bulkchange_user_idx")]

    def __str__(self):
        return f"{self.description} ({self.total} leads)"

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

    bulk_change = models.ForeignKey(BulkChange, on_delete=models.CASCADE, related_name="items")
    # No foreign key: a lead deleted since is simply not restored.
    lead_id = models.BigIntegerField()
    before = models.JSONField(default=dict)
    version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bulk_change", "lead_id"], name="bulkitem_unique")
        ]

    def __str__(self):
        return f"Lead {self.lead_id} in bulk change {self.bulk_change_id}"
