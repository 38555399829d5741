"""Bulk actions on the lead list: which leads a selection means, running the action on
them through the lead services, and undoing it.

- ``bulk_selection``: the ids of the leads ticked on the page, or of every lead the
  list's filters match (read from the URL, as the list reads them);
- ``bulk_change_create``: the action and its selection, recorded before it runs;
- ``bulk_change_run``: the action, a chunk of leads per transaction, each lead through
  ``leads.services`` (its lock, its permission check, its history), the leads the user
  may not change skipped and counted; progress recorded after each chunk, so that a
  large selection can run in the background (``leads.tasks``) with a progress bar;
- ``bulk_change_undo``: the old values back on the leads nobody changed since, each
  change in the lead's history.
"""

import datetime
import logging
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.web.bulk import bulk_insert
from pipelines.models import PipelineStage

from .bulk_forms import BulkActionForm
from .filters import LeadFilter
from .models import BulkChange, BulkChangeItem, Lead, LossReason
from .services import (
    LOCK_CHUNK,
    BulkResult,
    leads_assign_by_rules,
    leads_delete_bulk,
    leads_undo_bulk,
    leads_update_bulk,
)

logger = logging.getLogger(__name__)

#: Selections larger than this run in the background, with a progress bar.
BACKGROUND_OVER = 300
#: Leads one bulk action takes at most: past it, the filters should say more.
MAX_SELECTION = 50_000
#: Leads per transaction: a lead the action waits for is held up at most one chunk.
CHUNK = LOCK_CHUNK


class SelectionError(Exception):
    """The selection cannot be acted on; the message says why, for people."""


def bulk_selection(*, form: BulkActionForm, params: QueryDict, request) -> list[int]:
    """The ids the form's selection means, in id order: the leads ticked that still
    exist, or every lead the list's filters (``params``) match."""
    if form.all_matching:
        filterset = LeadFilter(params, queryset=Lead.objects.all(), request=request)
        if not filterset.is_valid():
            raise SelectionError(_("The list's filters are not valid: correct them and try again."))
        leads = filterset.qs
    else:
        leads = Lead.objects.filter(pk__in=form.cleaned_data["lead"])
    ids = list(leads.order_by("pk").values_list("pk", flat=True)[: MAX_SELECTION + 1])
    if len(ids) > MAX_SELECTION:
        raise SelectionError(
            _("That is more than %(count)s leads: narrow the filters and act on fewer at a time.")
            % {"count": intcomma(MAX_SELECTION)}
        )
    if not ids:
        raise SelectionError(_("None of the selected leads exists any more."))
    return ids


def bulk_change_create(*, form: BulkActionForm, lead_ids: list[int], by) -> BulkChange:
    """Record the action on these leads, queued to run."""
    action = form.cleaned_data["action"]
    if action == BulkChange.Action.RULES and not by.has_perm("leads.assign_lead"):
        raise PermissionDenied(_("You may not run the assignment rules."))
    values = {
        name: getattr(value, "pk", value) for name, value in form.values().items() if value != ""
    }
    return BulkChange.objects.create(
        created_by=by,
        action=action,
        values=values,
        description=form.describe(),
        lead_ids=lead_ids,
        total=len(lead_ids),
        lease_until=timezone.now() + datetime.timedelta(seconds=settings.IMPORT_QUEUE_SECONDS),
    )


def _lease() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=settings.IMPORT_LEASE_SECONDS)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _values(bulk_change: BulkChange) -> dict:
    """The action's values as the services take them: rows for the keys recorded."""
    related = {
        "stage": PipelineStage.objects,
        "lost_reason": LossReason.objects,
        "assignee": get_user_model().objects,
    }
    return {
        name: related[name].get(pk=value) if name in related and value is not None else value
        for name, value in bulk_change.values.items()
    }


def bulk_change_run(*, bulk_change: BulkChange) -> BulkChange:
    """Run a queued bulk change, a chunk of leads per transaction, recording progress
    and counts after each chunk. A failure stops it where it is (``failed``): what it
    changed so far stays changed, and can be undone."""
    mine = BulkChange.objects.filter(pk=bulk_change.pk)
    if not mine.filter(status=BulkChange.Status.QUEUED).update(
        status=BulkChange.Status.RUNNING, lease_until=_lease()
    ):
        bulk_change.refresh_from_db()
        return bulk_change  # another worker has it, or it is over
    try:
        values = _values(bulk_change)
        for ids in _chunks(bulk_change.lead_ids):
            with transaction.atomic():
                counts = _run_chunk(bulk_change, ids, values)
                mine.update(
                    done=F("done") + len(ids),
                    lease_until=_lease(),
                    **{name: F(name) + count for name, count in counts.items()},
                )
        mine.update(status=BulkChange.Status.DONE)
    except Exception as error:
        logger.exception("Bulk change %s failed", bulk_change.pk)
        failure = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        mine.update(status=BulkChange.Status.FAILED, failure=failure[:1000])
    mine.update(finished_at=timezone.now(), lease_until=None)
    bulk_change.refresh_from_db()
    return bulk_change


def _run_chunk(bulk_change: BulkChange, ids: list[int], values: dict) -> dict[str, int]:
    """One chunk of the action through the services; the counts it adds."""
    by, tags = bulk_change.created_by, {"bulk": bulk_change.pk}
    if bulk_change.action == BulkChange.Action.DELETE:
        refused: list[int] = []
        deleted = leads_delete_bulk(lead_ids=ids, by=by, refused=refused)
        missing = len(ids) - deleted - len(refused)
        return {"changed": deleted, "skipped": len(refused), "missing": missing}
    if bulk_change.action == BulkChange.Action.RULES:
        rules = leads_assign_by_rules(lead_ids=ids, by=by, tags=tags)
        result = BulkResult(
            changed=rules.assigned, before={lead.pk: {"assignee": None} for lead in rules.assigned}
        )
    else:
        result = leads_update_bulk(
            changes=dict.fromkeys(ids, values), by=by, keep_before=True, tags=tags
        )
    bulk_insert(
        BulkChangeItem,
        ["bulk_change_id", "lead_id", "before", "version"],
        (
            (bulk_change.pk, lead.pk, result.before[lead.pk], lead.version)
            for lead in result.changed
        ),
        count=len(result.changed),
    )
    changed, skipped, missing = len(result.changed), len(result.refused), len(result.missing)
    return {
        "changed": changed,
        "skipped": skipped,
        "missing": missing,
        # Already as asked (or, for the rules, assigned already or matching none).
        "unchanged": len(ids) - changed - skipped - missing,
    }


class UndoRefused(Exception):
    """The bulk change cannot be undone; the message says why, for people."""


@transaction.atomic
def bulk_change_undo(*, bulk_change: BulkChange, by) -> BulkChange:
    """Put back the old values on the leads the change changed and nobody changed since
    (each lead's history says so, as "Undid a bulk change: …"); the others are left
    as they are, and counted. Only its maker may undo it, once, within ``UNDO_WINDOW``."""
    bulk_change = BulkChange.objects.select_for_update().get(pk=bulk_change.pk)
    if bulk_change.status == BulkChange.Status.UNDONE:
        raise UndoRefused(_("This bulk change was undone already."))
    if not bulk_change.can_undo(by):
        raise UndoRefused(_why_not(bulk_change, by))
    restored = not_restored = 0
    items = bulk_change.items.order_by("lead_id").values_list("lead_id", "before", "version")
    batch: dict[int, tuple[dict, int]] = {}
    for lead_id, before, version in items.iterator(chunk_size=CHUNK):
        batch[lead_id] = (before, version)
        if len(batch) == CHUNK:
            restored, not_restored = _undo(batch, by, bulk_change, restored, not_restored)
            batch = {}
    if batch:
        restored, not_restored = _undo(batch, by, bulk_change, restored, not_restored)
    BulkChange.objects.filter(pk=bulk_change.pk).update(
        status=BulkChange.Status.UNDONE,
        undone_at=timezone.now(),
        restored=restored,
        not_restored=not_restored,
    )
    bulk_change.refresh_from_db()
    return bulk_change


def _undo(batch, by, bulk_change, restored: int, not_restored: int) -> tuple[int, int]:
    result = leads_undo_bulk(items=batch, by=by, tags={"undo_bulk": bulk_change.pk})
    return restored + len(result.changed), not_restored + len(batch) - len(result.changed)


def _why_not(bulk_change: BulkChange, by) -> str:
    if by.pk != bulk_change.created_by_id:
        return _("Only the person who made a bulk change can undo it.")
    if bulk_change.action == BulkChange.Action.DELETE:
        return _("Deleted leads cannot be brought back from here.")
    if bulk_change.is_active:
        return _("This bulk change is still running: undo it once it has finished.")
    if not bulk_change.changed:
        return _("This bulk change changed no lead: there is nothing to undo.")
    return _("This bulk change is too old to undo.")
