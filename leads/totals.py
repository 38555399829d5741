"""The lead list's count and totals for the whole filtered set, cached while they hold.

On PostgreSQL a filter of the leads' stage, status, pipeline, owner, source and priority
alone (the list unasked, a rep's own leads, a stage...) is answered from the running
totals the database keeps (``leads.tally``): exact after every write, in a few
milliseconds. What follows is for every other filter (a search, a date range, a
rating...), and for SQLite.

Counting and summing a large set costs what reading it costs: with the covering index,
about 250 ms for the 730,000 open leads of a million on our benchmark machine, and
0.7 s for a search that matches a quarter of them. The list shows the same totals on
every page and in every sort of a filter, so they are computed once and cached (Django's
cache; the default per-process memory cache is enough) under the filter's parameters:

- Only sets of ``CACHE_MIN_COUNT`` leads or more are cached; smaller ones are counted on
  every request, which the indexes make cheap, and are therefore always exact.
- A cached entry holds the id of the newest ``LeadEvent`` at the time it was computed.
  Every write the application makes to a lead records an event (create, edit, move,
  assign, note, delete, import, undo), so the next request after any such write, from any
  process, finds a newer event and counts again.
- Writes that record no event (a client renamed, a stage's kind changed in the admin,
  SQL run by hand) show after at most ``CACHE_SECONDS``.

Counting is never on the rows' critical path when it would be slow. On PostgreSQL, a set
the planner expects to hold ``COUNT_INLINE_BELOW`` leads or more, and whose totals are not
in the cache, is counted by a second request (``LeadListTotalsView``) that the page makes
once its rows are shown; that count gets ``COUNT_BUDGET_MS``, after which the list says
"about" the planner's estimate instead of an exact figure it does not have.
"""

import hashlib
import json

from django.core.cache import cache
from django.db import OperationalError, connection
from django.db.models import Max
from django.http import QueryDict
from django.utils import timezone

from crm.web.db import time_limit

from .models import LeadEvent

CACHE_MIN_COUNT = 5_000
CACHE_SECONDS = 60
#: A set the planner expects to be smaller is counted with the page; larger, after it.
COUNT_INLINE_BELOW = 5_000
#: How long the deferred count may take (ms) before the planner's estimate stands in.
COUNT_BUDGET_MS = 2_000
#: Parameters that change the page, not which leads are in the set.
NOT_FILTERS = frozenset({"page", "per_page", "sort", "after", "before", "count"})


def list_totals(queryset, *, params: QueryDict, user, tally=None) -> dict | None:
    """``queryset.totals()`` for the list filtered by ``params``, when they come without
    holding the rows up: from the running totals (``tally``, ``LeadFilter.tally``: exact,
    kept by the database), from a valid cache entry, or counted when the set is expected
    to be small. None: the page shows its rows and asks ``deferred_totals`` after."""
    if tally is not None:
        return tally.totals()
    return cached_for_filters(
        "lead-list-totals",
        params,
        user,
        queryset.totals,
        size=lambda totals: totals["count"],
        defer=lambda: (estimated_count(queryset) or 0) >= COUNT_INLINE_BELOW,
    )


def deferred_totals(queryset, *, params: QueryDict, user) -> dict:
    """``queryset.totals()`` counted within ``COUNT_BUDGET_MS``; past it, the planner's
    estimate of the count marked ``about`` (and no sums: nothing estimates them honestly).
    Shared with ``list_totals`` through the cache."""
    return cached_for_filters(
        "lead-list-totals",
        params,
        user,
        lambda: totals_within(queryset, COUNT_BUDGET_MS),
        size=lambda totals: totals["count"],
    )


def totals_within(queryset, milliseconds: int) -> dict:
    """``queryset.totals()`` if the database computes them in time; else the estimate."""
    try:
        with time_limit(connection, milliseconds):
            return queryset.totals()
    except OperationalError:  # the time ran out (QueryCanceled), and the count was rolled back
        estimate = estimated_count(queryset) or 0
        return {"count": estimate, "total_value": None, "weighted_value": None, "about": True}


def estimated_count(queryset) -> int | None:
    """How many rows PostgreSQL's planner expects ``queryset`` to hold (its statistics:
    a millisecond, no rows read); None on SQLite, which has no such estimate."""
    if connection.vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def cached_for_filters(
    prefix: str, params: QueryDict, user, compute, *, size, hold: int = 0, defer=None
):
    """compute(), or its cached result for these filters while no lead was written since.

    ``size(result)`` is the number of leads it covers: only large sets are cached.
    ``hold``: keep a large set's result this many seconds whatever is written meanwhile
    (for statistics that one write barely moves and that cost seconds to compute).
    ``defer``: asked before computing; if it says so, None instead of computing now.
    """
    key = totals_cache_key(params, user, prefix=prefix)
    cached = cache.get(key)
    if hold and cached is not None:
        return cached[1]
    mark = latest_event_id()  # before counting: a write after it will be seen next time
    if cached is not None and cached[0] == mark:
        return cached[1]
    if defer is not None and defer():
        return None
    result = compute()
    if size(result) >= CACHE_MIN_COUNT:
        cache.set(key, (mark, result), hold or CACHE_SECONDS)
    return result


def latest_event_id() -> int | None:
    """The newest lead event's id (an index look-up): it changes with every lead write."""
    return LeadEvent.objects.aggregate(latest=Max("pk"))["latest"]


def totals_cache_key(params: QueryDict, user, *, prefix: str = "lead-list-totals") -> str:
    """The same filters give the same key in any order, on any page and in any sort."""
    filters = sorted(
        (name, value)
        for name, values in params.lists()
        if name not in NOT_FILTERS
        for value in values
        if value != ""
    )
    # "Me" is someone else for every user; due presets and "stale" move with the date.
    me = user.pk if "me" in params.getlist("assignee") else None
    text = repr((filters, me, timezone.localdate().isoformat()))
    return f"{prefix}:{hashlib.sha256(text.encode()).hexdigest()}"
