"""Django's migrate, without the statement timeout requests have (crm/settings.py)."""

from django.core.management.commands import migrate
from django.db import connections

from crm.web.db import without_statement_timeout


class Command(migrate.Command):
    def handle(self, *args, **options):
        # Index builds over a million leads take longer than any request may.
        with without_statement_timeout(connections[options["database"]]):
            return super().handle(*args, **options)
