"""Background work for leads, run by Django's Tasks framework.

A task runs in the language of the person who started it (passed along as ``language``): an
import's row errors and summary, and a bulk change's or recompute's failure, are written in
the words they will read, as they are when the work runs within their request.
"""

import datetime
import uuid

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone, translation

from crm.language import supported

from .address_imports import records_import_run
from .bulk import bulk_change_run
from .imports import lead_import_run
from .models import BulkChange, LeadImport, ScoreRecompute
from .rescoring import score_recompute_run

# Webhook deliveries are sent by a task defined beside them; found here too.
from .webhooks import send_webhook_deliveries as send_webhook_deliveries


def _language(language: str | None) -> str:
    return supported(language) or settings.LANGUAGE_CODE


@task
def run_lead_import(import_id: int, language: str | None = None) -> None:
    """Run a CSV import that the user started; progress and results land on the LeadImport."""
    lead_import = LeadImport.objects.get(pk=import_id)
    # An address book (organizations, people) is checked and written by its own module.
    write = None if lead_import.kind == LeadImport.Kind.LEADS else records_import_run
    with translation.override(_language(language)):
        lead_import_run(lead_import=lead_import, write=write)


def queue_lead_import(lead_import: LeadImport) -> None:
    """Hand an import (new, or interrupted and resumed) to a worker once this commits.

    A new token: a worker still holding the old one (thought dead, but only slow)
    stops at its next batch instead of writing beside the new run.
    """
    # A task that no worker starts within this time (the queue lost it, or its worker
    # died before it began) leaves the import interrupted, not waiting forever.
    waiting = datetime.timedelta(seconds=settings.IMPORT_QUEUE_SECONDS)
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.QUEUED,
        run_token=uuid.uuid4(),
        lease_until=timezone.now() + waiting,
    )
    language = translation.get_language()
    transaction.on_commit(lambda: run_lead_import.enqueue(lead_import.pk, language))


@task
def recompute_scores(recompute_id: int, language: str | None = None) -> None:
    """Recompute every lead's stored score after the scoring criteria changed."""
    with translation.override(_language(language)):
        score_recompute_run(recompute=ScoreRecompute.objects.get(pk=recompute_id))


def queue_score_recompute(*, by) -> ScoreRecompute:
    """Ask for every lead's score to be recomputed once this transaction commits.

    A newer recompute supersedes any still queued or running: those stop at their next
    chunk, as this one reads the criteria as they are now.
    """
    waiting = datetime.timedelta(seconds=settings.IMPORT_QUEUE_SECONDS)
    recompute = ScoreRecompute.objects.create(
        created_by=by if by and by.is_authenticated else None,
        lease_until=timezone.now() + waiting,
    )
    language = translation.get_language()
    transaction.on_commit(lambda: recompute_scores.enqueue(recompute.pk, language))
    return recompute


@task
def run_bulk_change(bulk_change_id: int, language: str | None = None) -> None:
    """Run a bulk action on many leads; progress and counts land on the BulkChange."""
    with translation.override(_language(language)):
        bulk_change_run(bulk_change=BulkChange.objects.get(pk=bulk_change_id))


def queue_bulk_change(bulk_change: BulkChange) -> None:
    """Hand a large bulk change to a worker once this transaction commits."""
    language = translation.get_language()
    transaction.on_commit(lambda: run_bulk_change.enqueue(bulk_change.pk, language))
