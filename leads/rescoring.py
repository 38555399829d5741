"""Recomputing stored scores in the database, many leads at a time.

Every write through the services scores its lead with the criteria of that moment
(``leads.scoring``). What the services cannot see is a change of the criteria
themselves, or of the date (``close_within``): then the stored scores (``LeadScore``)
are recomputed here, a range of lead ids at a time, by two statements with the score as
SQL (``score_expression``): one updates the scores that differ, one adds the rows of
leads that have none.

A recompute changes derived data only: it does not bump a lead's ``version`` nor write
an event. Nobody edited the lead, so an edit form opened before it must still save
(the version check guards against lost *edits*, and the score is not an edit: the save
scores the lead again with the criteria of that moment), and the history shows what
people did, not a million "score changed" lines per change of a criterion.

No score is lost to a write that runs meanwhile. Each chunk takes the scoring lock
(``scoring.lock_scoring``) before it reads: it waits for the writes under way (one that
read the criteria before they changed included) and holds off new ones for the chunk's
split second, so it scores what they committed, and they score with the criteria that
it scores with.
"""

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min, QuerySet
from django.utils import timezone

from . import scoring
from .models import Lead, LeadScore, ScoreRecompute

logger = logging.getLogger(__name__)

#: Ids per chunk: one transaction each, a fraction of a second on PostgreSQL, so a lead
#: that a person saves meanwhile waits at most that long.
CHUNK_IDS = 50_000


class RecomputeSuperseded(Exception):
    """A newer recompute was asked for: it reads the newer criteria, this one stops."""


@dataclass(frozen=True)
class Rescored:
    rows: int  # leads looked at
    changed: int  # whose stored score changed (or was added)
    chunks: int


def leads_rescore(
    *,
    leads: QuerySet | None = None,
    criteria: list | None = None,
    today: datetime.date | None = None,
    chunk: int | None = None,
    after_chunk: Callable[[int, int], None] | None = None,
) -> Rescored:
    """Store the score of these leads (every lead by default), a range of ids at a time.

    Each chunk is its own transaction; ``after_chunk(rows, chunks)`` runs inside it (to
    record progress with the rows it reports, or to stop by raising). Only scores that
    differ are written: PostgreSQL writes a new row version and its index entries for
    each row updated, so an unchanged score costs a read, not a write.
    """
    leads = Lead.objects.all() if leads is None else leads
    criteria = scoring.active_criteria() if criteria is None else criteria
    today = today or timezone.localdate()
    expression = scoring.score_expression(criteria, today)
    chunk = chunk or CHUNK_IDS
    bounds = leads.aggregate(first=Min("id"), last=Max("id"))
    if bounds["first"] is None:
        return Rescored(rows=0, changed=0, chunks=0)
    rows = changed = chunks = 0
    for start in range(bounds["first"], bounds["last"] + 1, chunk):
        in_chunk = leads.filter(id__gte=start, id__lt=start + chunk)
        with transaction.atomic():
            scoring.lock_scoring(shared=False)
            rows += in_chunk.count()
            changed += _store(in_chunk, expression)
            chunks += 1
            if after_chunk is not None:
                after_chunk(rows, chunks)
    return Rescored(rows=rows, changed=changed, chunks=chunks)


def _store(leads: QuerySet, expression) -> int:
    """Write the scores of these leads (``expression``) that differ from the stored
    ones, and add the missing rows; how many rows were written."""
    table = connection.ops.quote_name(LeadScore._meta.db_table)
    # Null-safe "differs": PostgreSQL's spelling, and SQLite's.
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    fresh = leads.order_by().annotate(fresh_lead=F("pk"), fresh_score=expression)
    select, params = fresh.values_list("fresh_lead", "fresh_score").query.sql_with_params()
    missing, missing_params = (
        fresh.filter(stored_score__isnull=True).values_list("fresh_lead", "fresh_score").query
    ).sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET score = fresh.fresh_score FROM ({select}) AS fresh "
            f"WHERE {table}.lead_id = fresh.fresh_lead "
            f"AND {table}.score {differs} fresh.fresh_score",
            params,
        )
        written = cursor.rowcount
        cursor.execute(f"INSERT INTO {table} (lead_id, score) {missing}", missing_params)
        return written + cursor.rowcount


def _lease(seconds: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def score_recompute_run(*, recompute: ScoreRecompute) -> ScoreRecompute:
    """Recompute every lead's score with the criteria of now, recording progress after
    each chunk; stop (superseded) at the first chunk after a newer recompute was asked for.
    """
    mine = ScoreRecompute.objects.filter(pk=recompute.pk)
    newer = ScoreRecompute.objects.filter(pk__gt=recompute.pk)
    if not mine.filter(status=ScoreRecompute.Status.QUEUED).update(
        status=ScoreRecompute.Status.RUNNING,
        started_at=timezone.now(),
        lease_until=_lease(settings.IMPORT_LEASE_SECONDS),
    ):
        recompute.refresh_from_db()
        return recompute  # another worker has it, or it is over

    def report(rows: int, chunks: int) -> None:
        if newer.exists():
            raise RecomputeSuperseded
        mine.update(done=rows, chunks=chunks, lease_until=_lease(settings.IMPORT_LEASE_SECONDS))

    try:
        if newer.exists():
            raise RecomputeSuperseded
        mine.update(total=Lead.objects.count())
        result = leads_rescore(after_chunk=report)
        # Leads created meanwhile were scored by their writers; the count is the run's.
        mine.update(status=ScoreRecompute.Status.DONE, total=result.rows, done=result.rows)
    except RecomputeSuperseded:
        mine.update(status=ScoreRecompute.Status.SUPERSEDED)
    except Exception as error:
        logger.exception("Score recompute %s failed", recompute.pk)
        mine.update(status=ScoreRecompute.Status.FAILED, failure=str(error)[:1000])
    mine.update(finished_at=timezone.now(), lease_until=None)
    recompute.refresh_from_db()
    return recompute


def dated_window(
    criteria: list, today: datetime.date, *, days_missed: int = 1
) -> tuple[datetime.date, datetime.date] | None:
    """The expected close dates whose leads may have met a date-dependent criterion
    ``days_missed`` days ago and not today, or the other way round; None when no active
    criterion depends on the date.

    A "within N days" criterion is met on day t by the dates t … t+N. Between day
    t−k and day t the leads that flip lie in the union of both windows, t−k … t+N:
    outside it a lead meets the criterion on neither day.
    """
    days = [c.days or 0 for c in criteria if c.dated]
    if not days:
        return None
    return today - datetime.timedelta(days=days_missed), today + datetime.timedelta(days=max(days))
