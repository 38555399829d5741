"""manage.py send_webhooks: send the webhook deliveries that are due.

    manage.py send_webhooks [--every SECONDS] [--keep-days 30]

Where tasks run in a worker (``TASKS_BACKEND=database``) the deliveries are sent by
tasks, and this is the safety net: run it every few minutes from cron for any delivery
whose task was lost. With the immediate backend nothing else sends them (a request
never waits on an endpoint): run it from cron every minute, or with ``--every 10`` to
keep sending while developing. Delivered and failed deliveries older than
``--keep-days`` are deleted from the log.
"""

import datetime
import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from leads import webhooks
from leads.models import WebhookDelivery


class Command(BaseCommand):
    help = "Send the webhook deliveries that are due (and forget old ones)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=0,
            help="Keep running, looking for due deliveries every this many seconds.",
        )
        parser.add_argument(
            "--keep-days",
            type=int,
            default=30,
            help="Days the log keeps deliveries that are done (default 30).",
        )

    def handle(self, *args, every: float, keep_days: int, **options):
        while True:
            sent = webhooks.send_due()
            cutoff = timezone.now() - datetime.timedelta(days=keep_days)
            forgotten, _ = (
                WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.PENDING)
                .filter(created_at__lt=cutoff)
                .delete()
            )
            self.stdout.write(f"Attempted {sent} deliveries; forgot {forgotten} old ones.")
            if not every:
                return
            time.sleep(every)
