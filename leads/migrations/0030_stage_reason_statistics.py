"""The planner learns that only lost leads have a loss reason, on PostgreSQL.

Counted apart, a stage and a loss reason look independent to the planner: for "lost, for
the reason Price too high" it multiplied the lost stage's share of the leads (12 %) by
the reason's (3 %) and expected 3,728 leads of a million where there are 30,188. The list
counts a set it expects to be small with the page (``leads.totals.COUNT_INLINE_BELOW``),
so after every write that page waited 82 ms for a count it should have asked for after its
rows. Statistics over the two columns together (their functional dependency and their
most common pairs) make the estimate 28,759.

``CREATE STATISTICS`` takes a lock that lets reads and writes go on; the ``ANALYZE``
fills it (0.3 s at a million leads) rather than waiting for autovacuum's next one.
"""

from django.db import migrations

NAME = "lead_stage_reason_stats"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME} (dependencies, mcv) "
        "ON stage_id, lost_reason_id FROM leads_lead"
    )
    schema_editor.execute("ANALYZE leads_lead")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0029_my_work_index"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
