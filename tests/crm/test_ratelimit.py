"""crm.ratelimit: N per key per period, counted in the database for every app server."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from crm import ratelimit
from crm.models import RateWindow

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
NOON = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)


def test_requests_within_the_limit_pass_and_say_what_is_left():
    verdicts = [ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON) for _ in range(3)]

    assert [v.allowed for v in verdicts] == [True, True, True]
    assert [v.remaining for v in verdicts] == [2, 1, 0]
    assert verdicts[-1].headers() == {"RateLimit-Limit": "3", "RateLimit-Remaining": "0"}


def test_the_request_past_the_limit_is_refused_until_the_window_ends():
    for _ in range(3):
        ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON)

    refused = ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON)

    assert not refused.allowed
    assert refused.retry_after == 50  # the window began at 12:00:00 and ends at 12:01:00
    assert refused.headers()["Retry-After"] == "50"


def test_a_new_window_starts_afresh_and_sweeps_the_old_one():
    for _ in range(4):
        ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON)

    later = ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON + MINUTE)

    assert later.allowed
    assert later.remaining == 2
    assert list(RateWindow.objects.values_list("hits", flat=True)) == [1]


def test_keys_count_apart():
    for _ in range(3):
        ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON)

    assert ratelimit.hit("token:2", limit=3, period=MINUTE, now=NOON).allowed
    assert not ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON).allowed


def test_refused_requests_count_too():
    for _ in range(10):
        ratelimit.hit("token:1", limit=3, period=MINUTE, now=NOON)

    assert RateWindow.objects.get().hits == 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
def test_concurrent_requests_from_several_connections_are_all_counted():
    """Like several app servers: 4 connections, 40 requests at once, a limit of 25."""
    together = threading.Barrier(4)

    def hammer(count: int) -> list[bool]:
        try:
            together.wait()
            return [
                ratelimit.hit("shared", limit=25, period=MINUTE, now=NOON).allowed
                for _ in range(count)
            ]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        allowed = [ok for verdicts in pool.map(hammer, [10] * 4) for ok in verdicts]

    assert allowed.count(True) == 25
    assert sum(RateWindow.objects.values_list("hits", flat=True)) == 40
