"""manage.py compact_tallies: fold the running totals, check them, or count them afresh.

    manage.py compact_tallies [--check] [--rebuild]

The lead triggers add a row of differences to the running totals (``leads.tally``) per
combination a write changes; readers fold them back when they pile up. This folds them
now (say nightly, or before a benchmark). ``--check`` compares every total with a fresh
count of the leads and fails when one differs; ``--rebuild`` counts every lead afresh
(after SQL that bypassed the triggers). PostgreSQL only: elsewhere there is nothing to do.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from crm.web.db import without_statement_timeout
from leads import tally


class Command(BaseCommand):
    help = "Fold the running totals of the leads (--check: compare; --rebuild: recount)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Compare with a fresh count.")
        parser.add_argument("--rebuild", action="store_true", help="Count every lead afresh.")

    def handle(self, *args, check=False, rebuild=False, **options):
        if not tally.available():
            self.stdout.write("The running totals are kept on PostgreSQL only: nothing to do.")
            return
        with without_statement_timeout(connection):
            if rebuild:
                tally.rebuild()
                self.stdout.write("Counted every lead afresh.")
            left = tally.compact()
            self.stdout.write(f"Folded the running totals into {left:,} rows.")
            if check:
                wrong = tally.differences()
                if wrong:
                    for row in wrong[:20]:
                        self.stderr.write(repr(row))
                    raise CommandError(
                        f"{len(wrong):,} running totals differ from a fresh count "
                        "(run with --rebuild to count afresh)."
                    )
                self.stdout.write("Every running total equals a fresh count.")
