"""Rate limits shared by every app server: N requests per key per period.

A fixed window per key, counted in the database (``RateWindow``) with one atomic upsert,
so two servers, or two workers of one, count into the same row and a restart forgets
nothing. A client may spend its limit at the end of one window and again at the start
of the next: at most twice the limit within one period, which is the usual price of
fixed windows and fine for keeping a script or a spam bot in check.

Callers name the key ("api-token:12", "capture:<public key>") and turn a refusal into
their own response: ``429`` with ``Retry-After: verdict.retry_after``.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from crm.models import RateWindow


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    #: Whole seconds until the window ends: when a refused client may try again.
    retry_after: int

    def headers(self) -> dict[str, str]:
        """The headers a response carries: the limit, what is left, and when a refused
        client may try again."""
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def window_start(now: datetime, period: timedelta) -> datetime:
    seconds = period.total_seconds()
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def hit(key: str, *, limit: int, period: timedelta, now: datetime | None = None) -> Verdict:
    """Count one request against ``key`` and say whether it is within ``limit`` per
    ``period``. A refused request counts too (a client hammering past its limit does not
    get a fresh window sooner)."""
    now = now or timezone.now()
    start = window_start(now, period)
    table, key_column, start_column, hits_column = map(
        connection.ops.quote_name, [RateWindow._meta.db_table, "key", "start", "hits"]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {start_column}, {hits_column}) "
            f"VALUES (%s, %s, 1) ON CONFLICT ({key_column}, {start_column}) "
            f"DO UPDATE SET {hits_column} = {table}.{hits_column} + 1 RETURNING {hits_column}",
            [key, connection.ops.adapt_datetimefield_value(start)],
        )
        (hits,) = cursor.fetchone()
    if hits == 1:
        # The first request of a window sweeps the key's older windows: a key keeps
        # one row, and a key nobody uses any more keeps its last one.
        RateWindow.objects.filter(key=key, start__lt=start).delete()
    retry_after = max(1, math.ceil((start + period - now).total_seconds()))
    return Verdict(
        allowed=hits <= limit,
        limit=limit,
        remaining=max(0, limit - hits),
        retry_after=retry_after,
    )
