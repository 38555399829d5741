"""Trigram indexes on client and contact names, on PostgreSQL only (issue 8).

The lead search looks up the clients and contacts whose name contains the words
(``UPPER(name::text) LIKE '%WORD%'``); these GIN indexes answer that without reading
every name. SQLite has no trigram indexes and does not need them at its sizes.
"""

from django.db import migrations

FORWARDS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX client_name_trgm_idx ON crm_client USING gin (UPPER(name::text) gin_trgm_ops)",
    "CREATE INDEX contact_name_trgm_idx ON crm_contact USING gin (UPPER(name::text) gin_trgm_ops)",
]
BACKWARDS = [
    "DROP INDEX client_name_trgm_idx",
    "DROP INDEX contact_name_trgm_idx",
]


def run(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
    ]

    operations = [migrations.RunPython(run(FORWARDS), run(BACKWARDS), elidable=False)]
