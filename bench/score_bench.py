"""Score recompute benchmark: every lead's stored score recomputed, on the configured database.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench
    .venv/bin/python -m bench.score_bench [--chunk 50000] [--chunk 20000]

Runs the background task's own code (``leads.rescoring.score_recompute_run``, chunked by
id range, progress after each chunk) for three changes of the criteria: none (every
score already right: only reads), one criterion's points (most leads change) and back,
and the daily refresh of the date-dependent criterion (``manage.py refresh_scores``).
It leaves the criteria as it found them. Prints a Markdown table. The target (issue 15)
is a million leads in under two minutes on PostgreSQL on this machine.
"""

import argparse
import os
import time
from io import StringIO

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from crm.web.db import without_statement_timeout  # noqa: E402
from leads import rescoring  # noqa: E402
from leads.models import Lead, ScoreRecompute, ScoringCriterion  # noqa: E402


def recompute(chunk: int) -> tuple[rescoring.Rescored, float]:
    """One run of the task: what the chunked recompute did, and the seconds it took."""
    rescoring.CHUNK_IDS = chunk
    results = []
    rescore = rescoring.leads_rescore

    def watched(**kwargs):
        results.append(rescore(**kwargs))
        return results[-1]

    rescoring.leads_rescore = watched
    try:
        run = ScoreRecompute.objects.create()
        started = time.perf_counter()
        run = rescoring.score_recompute_run(recompute=run)
        seconds = time.perf_counter() - started
    finally:
        rescoring.leads_rescore = rescore
    assert run.status == ScoreRecompute.Status.DONE, run.failure
    return results[0], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, action="append", help="ids per chunk (repeatable)")
    chunks = parser.parse_args().chunk or [rescoring.CHUNK_IDS]
    print(f"{connection.vendor}, {Lead.objects.count():,} leads\n")
    print("| change | ids per chunk | rows | changed | seconds | rows/s | chunks |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    valued = ScoringCriterion.objects.get(kind=ScoringCriterion.Kind.VALUE_PRESENT)
    points = valued.points
    with without_statement_timeout(connection):
        for chunk in chunks:
            for change, new_points in [
                ("none", points),
                (f"value present {points} → {points + 1}", points + 1),
                (f"value present back to {points}", points),
            ]:
                ScoringCriterion.objects.filter(pk=valued.pk).update(points=new_points)
                done, seconds = recompute(chunk)
                print(
                    f"| {change} | {chunk:,} | {done.rows:,} | {done.changed:,} | {seconds:.1f} "
                    f"| {done.rows / seconds:,.0f} | {done.chunks} |"
                )
        out = StringIO()
        started = time.perf_counter()
        call_command("refresh_scores", stdout=out)
        print(
            f"| daily refresh_scores | {rescoring.CHUNK_IDS:,} | {out.getvalue().strip()} "
            f"| | {time.perf_counter() - started:.1f} | | |"
        )
    ScoringCriterion.objects.filter(pk=valued.pk).update(points=points)


if __name__ == "__main__":
    main()
