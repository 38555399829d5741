"""Bulk action benchmark: 10,000 leads moved to a stage, and the move undone.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench
    flock /tmp/bench.lock .venv/bin/python -m bench.bulk_bench [--leads 10000]

Makes its own leads (open, in the default pipeline's first stage, created by a manager
of its own) beside whatever the database holds, then runs the background task's own
code on them (``leads.bulk.bulk_change_run``: chunks of leads, each lead through
``leads.services`` with its lock, permission check, history event and score, progress
after each chunk), then its undo (``bulk_change_undo``), and times both. All of it runs
in one transaction that is rolled back at the end (the chunks' transactions are
savepoints in it), so the database is left as found, even by a failed run; a database
migrated before the bulk changes' tables (0022) gets them inside that transaction only.
Prints a Markdown table. The target (issue 19) is
10,000 leads moved in under 10 s on PostgreSQL.
"""

import argparse
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from leads import scoring  # noqa: E402
from leads.bulk import bulk_change_run, bulk_change_undo  # noqa: E402
from leads.bulk_models import BulkChange, BulkChangeItem  # noqa: E402
from leads.models import Lead  # noqa: E402
from pipelines.models import PipelineStage  # noqa: E402

USERNAME = "bench_bulk_manager"


def make_leads(count: int, by: User) -> list[int]:
    """``count`` open leads in the default pipeline's first stage, scored, with ids."""
    stage = PipelineStage.objects.filter(pipeline__is_default=True, kind="open").first()
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        [
            Lead(
                title=f"Bulk bench {n}",
                stage=stage,
                probability=stage.probability,
                value=1000 + n,
                created_by=by,
                assignee=by,
                created_at=now,
                updated_at=now,
                stage_entered_at=now,
                last_activity_at=now,
            )
            for n in range(count)
        ],
        batch_size=2000,
    )
    criteria = scoring.criteria_for_write()
    scoring.store_scores({lead.pk: scoring.score(lead, criteria) for lead in leads})
    return [lead.pk for lead in leads]


class RolledBack(Exception):
    """Leaves the run's transaction, undoing everything it wrote."""


def ensure_tables() -> None:
    """The bulk changes' tables, for this transaction, where the database lacks them."""
    if BulkChange._meta.db_table in connection.introspection.table_names():
        return
    with connection.schema_editor(atomic=False) as editor:
        editor.create_model(BulkChange)
        editor.create_model(BulkChangeItem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    count = parser.parse_args().leads
    print(f"{connection.vendor}, {Lead.objects.count():,} leads before\n")
    try:
        with transaction.atomic():
            run(count)
            raise RolledBack
    except RolledBack:
        pass
    print(f"\n{Lead.objects.count():,} leads after (the run rolled back)")


def run(count: int) -> None:
    ensure_tables()
    user = User.objects.create_user(USERNAME)
    user.groups.add(Group.objects.get(name="Sales manager"))
    user = User.objects.get(pk=user.pk)  # permissions read afresh
    ids = make_leads(count, user)
    target = PipelineStage.objects.get(pipeline__is_default=True, name="Proposal")
    change = BulkChange.objects.create(
        created_by=user,
        action=BulkChange.Action.STAGE,
        values={"stage": target.pk},
        description=f"Move to {target.name}",
        lead_ids=ids,
        total=len(ids),
    )
    started = time.perf_counter()
    change = bulk_change_run(bulk_change=change)
    moved = time.perf_counter() - started
    assert change.status == BulkChange.Status.DONE, change.failure
    assert change.changed == count, change.changed
    started = time.perf_counter()
    change = bulk_change_undo(bulk_change=change, by=user)
    undone = time.perf_counter() - started
    assert change.restored == count, change.restored
    print("| step | leads | seconds | leads/s |")
    print("|---|---:|---:|---:|")
    print(f"| move to {target.name} | {count:,} | {moved:.2f} | {count / moved:,.0f} |")
    print(f"| undo | {count:,} | {undone:.2f} | {count / undone:,.0f} |")


if __name__ == "__main__":
    main()
