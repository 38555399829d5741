"""The lead list sorted by score, highest first, on PostgreSQL.

The list sorts with unscored leads last in both directions. ``lead_score_idx`` (score, id)
serves the ascending sort; read backwards it would give the unscored ones first, so
PostgreSQL would sort every lead to show the best 25. This index serves the descending
sort, as ``lead_actual_close_desc_idx`` does for the close date (0013); SQLite needs none
at the sizes it is used for.
"""

from django.db import migrations

FORWARDS = "CREATE INDEX lead_score_desc_idx ON leads_lead (score DESC NULLS LAST, id DESC)"
BACKWARDS = "DROP INDEX IF EXISTS lead_score_desc_idx"


def run(statement):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0014_scoring"),
    ]

    operations = [
        migrations.RunPython(run(FORWARDS), run(BACKWARDS), elidable=False),
    ]
