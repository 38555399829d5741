"""My Work ranks a rep's open leads from an index alone, on PostgreSQL (SQLite needs none
at the sizes it is used for).

``lead_stage_assignee_idx`` (stage, owner), which migration 0019 made to carry what the
aging and team reports read, carries the priority and the id too: My Work's due groups
(``leads.views.first_of_each_due_group``) take each group's first leads by priority and
close date, and its size, from the entries of one owner in each open stage, without
reading the table. For a rep with 80,000 open leads of a million that read 29,000 pages
of the table and sorted every lead (250–500 ms); from the index, 50–120 ms.

Built concurrently, beside the old one, then put in its place: a plain rebuild would hold
the lead table locked against every read and write while it builds (seconds at a million
leads), and the app's lock timeout would fail it against a working team.
"""

from django.db import migrations

BEFORE = "stage_entered_at, last_activity_at, expected_close_date, value, source_id"
AFTER = BEFORE + ", priority, id"


def stage_assignee(included: str):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        execute = schema_editor.execute
        execute("DROP INDEX CONCURRENTLY IF EXISTS lead_stage_assignee_new")  # a failed try
        execute(
            "CREATE INDEX CONCURRENTLY lead_stage_assignee_new ON leads_lead "
            f"(stage_id, assignee_id) INCLUDE ({included})"
        )
        execute("DROP INDEX CONCURRENTLY IF EXISTS lead_stage_assignee_idx")
        execute("ALTER INDEX lead_stage_assignee_new RENAME TO lead_stage_assignee_idx")

    return operation


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("leads", "0028_translatable_names"),
    ]

    operations = [
        migrations.RunPython(stage_assignee(AFTER), stage_assignee(BEFORE), elidable=False),
    ]
