"""manage.py refresh_scores: the daily refresh of scores that the date alone changes.

    manage.py refresh_scores [--days-missed 1] [--all]

"Expected close within N days" is met by other leads today than yesterday, though
nobody wrote to them. Run it daily just after midnight (in TIME_ZONE): it recomputes the
leads whose expected close date lies where yesterday's and today's windows differ (see
``leads.rescoring.dated_window``); after days without a run, pass how many
(``--days-missed``). ``--all`` recomputes every lead (after a restore, say), with the
same chunked code as a change of criteria.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from crm.web.db import without_statement_timeout
from leads import scoring
from leads.models import Lead
from leads.rescoring import dated_window, leads_rescore


class Command(BaseCommand):
    help = "Recompute the scores that changed with the date (daily), or every score (--all)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", dest="everything", help="Recompute every lead's score."
        )
        parser.add_argument(
            "--days-missed",
            type=int,
            default=1,
            help="Days since the last refresh (default 1: it runs daily).",
        )

    def handle(self, *args, everything: bool, days_missed: int, **options):
        if days_missed < 1:
            raise CommandError("--days-missed is at least 1.")
        started = time.perf_counter()
        today = timezone.localdate()
        criteria = scoring.active_criteria()
        window = None if everything else dated_window(criteria, today, days_missed=days_missed)
        if everything:
            leads = Lead.objects.all()
        elif window:
            leads = Lead.objects.filter(expected_close_date__range=window)
        else:
            leads = Lead.objects.none()
            self.stdout.write("No active criterion depends on the date: nothing to refresh.")

        with without_statement_timeout(connection):
            result = leads_rescore(leads=leads, criteria=criteria, today=today)
            # A lead written past the services (SQL by hand, a restored table) may have
            # no score row, and would sort as unscored: it gets one.
            unscored = Lead.objects.filter(stored_score__isnull=True)
            added = leads_rescore(leads=unscored, criteria=criteria, today=today)
        if everything or window:
            self.stdout.write(
                f"Rescored {result.rows:,} leads ({result.changed:,} changed) in "
                f"{result.chunks} chunks, {time.perf_counter() - started:.1f} s."
            )
        if added.rows:
            self.stdout.write(f"Scored {added.rows:,} leads that had no score row.")
