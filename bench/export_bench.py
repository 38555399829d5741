"""How fast, and in how much memory, the CSV export streams N leads.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.export_bench --rows 10000 100000 1000000

The database must already hold at least the largest N leads (fill it with
``manage.py seed_bulk``). For each N the benchmark runs the export's own generator,
``leads.export.export_rows``, over ``Lead.objects.order_by("id")[:N]``; then (unless
--no-view) it calls the export view itself in-process, as a superuser, with
``?status=all``: every lead, in the list's default order. It prints a Markdown table.

Each export runs twice: once for the times and the peak RSS, once under tracemalloc
(which slows Python down) for the peak of Python allocations. ru_maxrss is the
process's high-water mark: it grows only when a run needs more than every run before.
"""

import argparse
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from leads.export import LeadExportView, export_rows  # noqa: E402
from leads.models import Lead  # noqa: E402

MB = 1024 * 1024


@dataclass
class Run:
    label: str
    rows: int
    first_chunk: float  # seconds to the BOM and header
    first_rows: float  # seconds to the first chunk of rows
    total: float
    size: int  # bytes
    lines: int
    rss_growth: int = 0  # bytes
    peak_python: int = 0  # bytes


def max_rss() -> int:
    """The process's peak resident set size so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def consume(chunks: Iterator[bytes]) -> tuple[float, float, float, int, int]:
    """Read an export to the end as a server would send it; times and sizes."""
    started = time.perf_counter()
    first_chunk = first_rows = None
    size = lines = 0
    for chunk in chunks:
        now = time.perf_counter() - started
        if first_chunk is None:
            first_chunk = now
        elif first_rows is None:
            first_rows = now
        size += len(chunk)
        lines += chunk.count(b"\r\n")
    total = time.perf_counter() - started
    return first_chunk or total, first_rows or total, total, size, lines


def measure(label: str, rows: int, make_chunks: Callable[[], Iterator[bytes]]) -> Run:
    rss_before = max_rss()
    run = Run(label, rows, *consume(make_chunks()))
    run.rss_growth = max_rss() - rss_before

    tracemalloc.start()
    tracemalloc.reset_peak()
    for _chunk in make_chunks():
        pass
    run.peak_python = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if run.lines != rows + 1:
        print(f"note: {label} wrote {run.lines} lines for {rows} rows", file=sys.stderr)
    return run


def view_chunks() -> Iterator[bytes]:
    """The real view: RequestFactory, a superuser, ?status=all (all leads, default sort)."""
    request = RequestFactory().get("/leads/export.csv", {"status": "all"})
    request.user = get_user_model()(username="bench", is_superuser=True, is_active=True)
    response = LeadExportView.as_view()(request)
    try:
        yield from response.streaming_content
    finally:
        response.close()


def table(runs: list[Run]) -> str:
    lines = [
        "| export | rows | first bytes (header) | first rows | total | rows/s | CSV size "
        "| peak Python memory (tracemalloc) | max RSS growth |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.label} | {run.rows:,} | {run.first_chunk * 1000:.1f} ms "
            f"| {run.first_rows * 1000:.0f} ms | {run.total:.2f} s "
            f"| {run.rows / run.total:,.0f} | {run.size / MB:.1f} MB "
            f"| {run.peak_python / MB:.2f} MB | {run.rss_growth / MB:.1f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-view", action="store_true", help="Skip the whole-table view run.")
    options = parser.parse_args(argv)
    sizes = sorted(options.rows)  # ascending, so that max RSS growth means something

    available = Lead.objects.count()
    if available < sizes[-1]:
        print(
            f"The database holds {available:,} leads, fewer than the {sizes[-1]:,} asked for. "
            f"Fill it first, e.g.:\n  manage.py seed_bulk --leads {sizes[-1] - available} "
            "--clients 50000 --contacts 100000",
            file=sys.stderr,
        )
        return 1

    runs = []
    for rows in sizes:
        queryset = Lead.objects.order_by("id")[:rows]
        runs.append(measure("export_rows, by id", rows, lambda q=queryset: export_rows(q)))
        print(f"done: {rows:,} rows", file=sys.stderr)
    if not options.no_view:
        runs.append(measure("view, ?status=all", available, view_chunks))

    vendor = connection.vendor
    version = connection.cursor().connection.info.server_version if vendor == "postgresql" else ""
    print(f"Database: {vendor} {version}, {available:,} leads; Python {sys.version.split()[0]}\n")
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
