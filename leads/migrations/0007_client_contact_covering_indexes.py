"""The lead's client and contact indexes carry what a client's or contact's page sums.

On PostgreSQL the foreign-key indexes on ``client_id`` and ``contact_id`` are rebuilt under
the same names with ``INCLUDE (id, stage_id, value, last_activity_at)``: the summary of a
client's leads (open and won counts and values, last activity) and the open-lead count of
each client in the client list then read the index alone. For the largest client of the
million-lead benchmark (83,000 leads) the summary went from 190 ms to 20 ms. SQLite keeps
the plain foreign-key indexes.
"""

from django.db import migrations

INCLUDED = "id, stage_id, value, last_activity_at"  # id: Count("pk") reads it


def rebuild(*, include: bool):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = apps.get_model("leads", "Lead")._meta.db_table
        for column in ("client_id", "contact_id"):
            # The name Django gave the foreign key's index, so that it still finds it.
            name = schema_editor._create_index_name(table, [column])
            extra = f" INCLUDE ({INCLUDED})" if include else ""
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")
            schema_editor.execute(
                f"CREATE INDEX {schema_editor.quote_name(name)} ON {table} ({column}){extra}"
            )

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0006_list_search_indexes"),
    ]

    operations = [
        migrations.RunPython(rebuild(include=True), rebuild(include=False), elidable=False),
    ]
