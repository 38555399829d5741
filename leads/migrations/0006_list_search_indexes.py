"""Indexes for the lead list at a million leads (issue 8), on PostgreSQL only.

- Trigram (pg_trgm) GIN indexes on UPPER(title) and UPPER(description): Django's
  icontains is ``UPPER(col::text) LIKE UPPER('%word%')``, which these serve.
- ``lead_priority_rank_idx`` (both databases): the list sorted by priority rank.
- ``lead_value_desc_idx``: the list sorts by value with empty values last in both
  directions; (value, id) serves the ascending sort, this one the descending.
- ``lead_updated_idx`` and ``lead_stage_updated_idx`` keep their keys and gain included
  columns, so that PostgreSQL answers from the index alone (an index-only scan):
  the stage for skipping to a deep page of open leads, and value and probability for the
  count and totals of a status or stage.

SQLite has none of this (no trigram indexes, no included columns) and needs none at the
sizes it is used for; the models declare the indexes both databases share.
"""

from django.db import migrations, models

FORWARDS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "SET LOCAL maintenance_work_mem = '256MB'",
    "CREATE INDEX lead_title_trgm_idx ON leads_lead USING gin (UPPER(title::text) gin_trgm_ops)",
    "CREATE INDEX lead_description_trgm_idx ON leads_lead "
    "USING gin (UPPER(description) gin_trgm_ops)",
    "CREATE INDEX lead_value_desc_idx ON leads_lead (value DESC NULLS LAST, id DESC)",
    "DROP INDEX lead_updated_idx",
    "CREATE INDEX lead_updated_idx ON leads_lead (updated_at DESC, id DESC) INCLUDE (stage_id)",
    "DROP INDEX lead_stage_updated_idx",
    "CREATE INDEX lead_stage_updated_idx ON leads_lead (stage_id, updated_at DESC, id DESC) "
    "INCLUDE (value, probability)",
]
BACKWARDS = [
    "DROP INDEX lead_title_trgm_idx",
    "DROP INDEX lead_description_trgm_idx",
    "DROP INDEX lead_value_desc_idx",
    "DROP INDEX lead_updated_idx",
    "CREATE INDEX lead_updated_idx ON leads_lead (updated_at DESC, id DESC)",
    "DROP INDEX lead_stage_updated_idx",
    "CREATE INDEX lead_stage_updated_idx ON leads_lead (stage_id, updated_at DESC, id DESC)",
]


def run(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0005_board_order_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                models.OrderBy(
                    models.Case(
                        models.When(priority="low", then=models.Value(1)),
                        models.When(priority="normal", then=models.Value(2)),
                        models.When(priority="high", then=models.Value(3)),
                        models.When(priority="urgent", then=models.Value(4)),
                        default=models.Value(0),
                        output_field=models.PositiveSmallIntegerField(),
                    ),
                    descending=True,
                ),
                models.OrderBy(models.F("id"), descending=True),
                name="lead_priority_rank_idx",
            ),
        ),
        migrations.RunPython(run(FORWARDS), run(BACKWARDS), elidable=False),
    ]
