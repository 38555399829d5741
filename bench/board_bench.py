"""Board benchmark: server time and queries of /board/ on the configured database.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench
    .venv/bin/python -m bench.board_bench --repeat 20

The database should hold over 100,000 open leads (``manage.py seed_bulk --leads 200000``).
Each case is requested in-process through Django's test client as a superuser, after two
warm-up requests; the table shows median and p95 server time and the number of queries.
Target (issue 7): under 150 ms with a constant number of queries.
"""

import argparse
import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from leads.models import Lead  # noqa: E402
from pipelines.models import Pipeline  # noqa: E402

CASES = [
    ("board", "/board/"),
    ("board, search 'license'", "/board/?q=license"),
    ("board, overdue + urgent", "/board/?due=overdue&priority=urgent"),
    ("board, one assignee", "/board/?assignee={user}"),
    ("board, Won opened", "/board/?open={won}"),
    ("column Load more (offset 50)", "/board/?column={first}&offset=50"),
]


def measure(client, url, repeat, headers=None):
    for _ in range(2):
        client.get(url, headers=headers or {})
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers or {})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, headers=headers or {})
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    admin, _ = get_user_model().objects.get_or_create(
        username="bench_board_admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)
    pipeline = Pipeline.objects.default()
    stages = list(pipeline.stages.order_by("order"))
    won = next(stage for stage in stages if stage.kind == "won")
    user = Lead.objects.exclude(assignee=None).values_list("assignee", flat=True).first()
    open_count = Lead.objects.open().count()
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}), "
          f"{Lead.objects.count():,} leads, {open_count:,} open\n")  # fmt: skip
    print("| case | median (ms) | p95 (ms) | queries |")
    print("|---|--:|--:|--:|")
    for name, url in CASES:
        url = url.format(won=won.pk, first=stages[0].pk, user=user)
        target = "more-x" if "offset" in url else None
        headers = {"HX-Request": "true", "HX-Target": target} if target else None
        median, p95, queries = measure(client, url, args.repeat, headers)
        print(f"| {name} | {median:.0f} | {p95:.0f} | {queries} |", flush=True)


if __name__ == "__main__":
    main()
