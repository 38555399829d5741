"""Trigram indexes for the client and contact searches, on PostgreSQL only (issue 8).

The client list searches name, email and phone (``UPPER(col::text) LIKE '%WORD%'``): with
the name alone indexed, counting the matches of a common word read all 50,000 clients
(70 to 110 ms); with email and phone indexed too, PostgreSQL combines the three (a
BitmapOr). The contact list's own columns (email, phone, job title) get theirs as well.
SQLite has no trigram indexes and does not need them at its sizes.
"""

from django.db import migrations

INDEXES = {
    "client_email_trgm_idx": ("crm_client", "email"),
    "client_phone_trgm_idx": ("crm_client", "phone"),
    "contact_email_trgm_idx": ("crm_contact", "email"),
    "contact_phone_trgm_idx": ("crm_contact", "phone"),
    "contact_job_title_trgm_idx": ("crm_contact", "job_title"),
}
FORWARDS = [
    f"CREATE INDEX {name} ON {table} USING gin (UPPER({column}::text) gin_trgm_ops)"
    for name, (table, column) in INDEXES.items()
]
BACKWARDS = [f"DROP INDEX {name}" for name in INDEXES]


def run(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_name_trigram_indexes"),
    ]

    operations = [migrations.RunPython(run(FORWARDS), run(BACKWARDS), elidable=False)]
