"""Import benchmark: N generated CSV rows through the real import, on the configured database.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench
    .venv/bin/python -m bench.import_bench --rows 100000

Prints a Markdown table: rows, seconds for the stage step (the file's stage names read and
ours proposed, issue 22), for the dry run and for the import, rows per second,
the process's peak RSS and, with --trace-memory, peak Python memory (tracemalloc; it slows
the run, so time and memory come from separate runs). The target (issue 18) is
100,000 rows in 10 seconds on PostgreSQL on this machine.

Each run then removes what it wrote (its leads, their events and scores, the clients it
created and the import itself), so that the benchmark database keeps its size; pass
--keep to leave them.
"""

import argparse
import os
import random
import resource
import time
import tracemalloc

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402

from crm.models import Client, ClientEvent  # noqa: E402
from leads.imports import (  # noqa: E402
    check_rows,
    initial_mapping,
    propose_stage,
    read_csv_upload,
    stage_choices,
    stage_names,
)
from leads.models import Lead, LeadEvent, LeadImport  # noqa: E402
from leads.tasks import queue_lead_import  # noqa: E402

HEADER = "Titel;Waarde;Kans;Fase;Klant;Sluitdatum;Prioriteit;Bron;Categorie;Omschrijving\n"
STAGES = ["Nieuw", "New", "Contacted", "Qualified", "Proposal", "Negotiation"]


def make_csv(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = [HEADER]
    for n in range(rows):
        value = f"{rng.randint(100, 99999)}.{rng.randint(0, 99):02d}".replace(".", ",")
        lines.append(
            f"Bench deal {n};{value};{rng.randint(0, 100)};{rng.choice(STAGES[1:])};"
            f"Bench client {rng.randint(1, 2000)};{rng.randint(1, 28)}-{rng.randint(1, 12)}-2027;"
            f"{rng.choice(['laag', 'normaal', 'hoog', 'urgent'])};website;Software;"
            f"Imported by the benchmark, row {n}\n"
        )
    return "".join(lines).encode()


def clean_up(lead_import: LeadImport) -> None:
    """Remove what an import wrote: its leads (their events, scores and running totals
    with them), the clients it created, and the import."""
    leads = Lead.objects.filter(import_batch=lead_import)
    LeadEvent.objects.filter(lead__in=leads).delete()
    # In chunks, as the services delete: Django sets the events' lead to NULL for all the
    # deleted leads in one UPDATE, past the 65,535 parameters a statement may carry with
    # server-side binding (DB_PREPARE_THRESHOLD).
    ids = list(leads.values_list("pk", flat=True))
    for start in range(0, len(ids), 10_000):
        Lead.objects.filter(pk__in=ids[start : start + 10_000]).delete()
    created = ClientEvent.objects.filter(data__import_id=lead_import.pk).values("client_id")
    clients = list(created.values_list("client_id", flat=True))
    ClientEvent.objects.filter(client_id__in=clients).delete()
    Client.objects.filter(pk__in=clients).delete()
    lead_import.delete()


def run(rows: int, *, trace_memory: bool = False, keep: bool = False) -> dict:
    user, _ = get_user_model().objects.get_or_create(username="bench_importer")
    user.groups.add(Group.objects.get(name="Sales rep"))  # imports write as their user
    raw = make_csv(rows)
    if trace_memory:  # tracemalloc slows allocation-heavy code a lot: timings are then off
        tracemalloc.start()
    started = time.perf_counter()
    csv_file = read_csv_upload(raw)
    mapping, _, _ = initial_mapping(csv_file.headers)
    lead_import = LeadImport.objects.create(
        created_by=user,
        file_name=f"bench-{rows}.csv",
        content=raw,
        encoding=csv_file.encoding,
        delimiter=csv_file.delimiter,
        headers=csv_file.headers,
        mapping=mapping,
        create_clients=True,
        duplicates=LeadImport.Duplicates.CREATE,
    )
    uploaded = time.perf_counter() - started
    # The mapping and stage steps as the page does them: the file's stage names read,
    # ours proposed, the proposals confirmed.
    started = time.perf_counter()
    stages = stage_choices()
    lead_import.stage_map = {
        seen.name: proposal.stage.pk
        for seen in stage_names(lead_import, mapping)
        if (proposal := propose_stage(seen, stages)).stage is not None
    }
    lead_import.save(update_fields=["stage_map"])
    mapping_s = time.perf_counter() - started
    started = time.perf_counter()
    check = check_rows(lead_import)
    dry_run = uploaded + time.perf_counter() - started
    started = time.perf_counter()
    queue_lead_import(lead_import)  # the immediate task backend runs it here and now
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
    tracemalloc.stop()
    lead_import.refresh_from_db()
    assert lead_import.created_count == rows - check.invalid, lead_import.failure
    in_db = Lead.objects.count()
    if not keep:
        clean_up(lead_import)
    return {
        "rows": rows,
        "mapping_s": mapping_s,
        "dry_run_s": dry_run,
        "import_s": seconds,
        "rows_per_s": rows / seconds,
        "peak_py_mb": f"{peak / 2**20:.0f}" if trace_memory else "—",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "imported": lead_import.created_count,
        "leads_in_db": in_db,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="also measure peak Python memory with tracemalloc (slows the run down)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the imported leads and clients in place"
    )
    args = parser.parse_args()
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})\n")
    print(
        "| rows | stage step (s) | dry run (s) | import (s) | rows/s | peak Python (MB) "
        "| peak RSS (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        r = run(rows, trace_memory=args.trace_memory, keep=args.keep)
        print(
            f"| {r['rows']:,} | {r['mapping_s']:.1f} | {r['dry_run_s']:.1f} | "
            f"{r['import_s']:.1f} | {r['rows_per_s']:,.0f} | {r['peak_py_mb']} | "
            f"{r['peak_rss_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
