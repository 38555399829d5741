"""The score moves from a column of the lead to a narrow table of its own (LeadScore).

A change of criteria rewrites most scores at once; in the wide, heavily indexed lead
table that took seven to ten minutes at a million leads and bloated the table. Every
lead gets its row here, with its stored score (null: unscored), before the column goes.
The index is built after the rows are in; on PostgreSQL a descending twin serves the
list sorted by score, highest first (as 0015 did for the column, which it replaces).
"""

import django.db.models.deletion
from django.db import migrations, models

COPY = "INSERT INTO leads_leadscore (lead_id, score) SELECT id, score FROM leads_lead"
COPY_BACK = (
    "UPDATE leads_lead SET score = "
    "(SELECT score FROM leads_leadscore WHERE leads_leadscore.lead_id = leads_lead.id)"
)
DESC_INDEX = (
    "CREATE INDEX leadscore_score_desc_idx ON leads_leadscore (score DESC NULLS LAST, lead_id DESC)"
)
DROP_DESC_INDEX = "DROP INDEX IF EXISTS leadscore_score_desc_idx"
OLD_DESC_INDEX = "CREATE INDEX lead_score_desc_idx ON leads_lead (score DESC NULLS LAST, id DESC)"
DROP_OLD_DESC_INDEX = "DROP INDEX IF EXISTS lead_score_desc_idx"


def run(statement, *, postgresql_only=False):
    def operation(apps, schema_editor):
        if not postgresql_only or schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0016_score_recompute"),
    ]

    operations = [
        migrations.CreateModel(
            name="LeadScore",
            fields=[
                (
                    "lead",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="stored_score",
                        serialize=False,
                        to="leads.lead",
                    ),
                ),
                ("score", models.PositiveSmallIntegerField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "lead score",
            },
        ),
        migrations.RunPython(run(COPY), run(COPY_BACK), elidable=False),
        migrations.AddIndex(
            model_name="leadscore",
            index=models.Index(fields=["score", "lead"], name="leadscore_score_idx"),
        ),
        migrations.AddConstraint(
            model_name="leadscore",
            constraint=models.CheckConstraint(
                condition=models.Q(("score__isnull", True), ("score__lte", 100), _connector="OR"),
                name="leadscore_score_0_100",
                violation_error_message="A score is between 0 and 100.",
            ),
        ),
        migrations.RunPython(
            run(DESC_INDEX, postgresql_only=True),
            run(DROP_DESC_INDEX, postgresql_only=True),
            elidable=False,
        ),
        migrations.RunPython(
            run(DROP_OLD_DESC_INDEX, postgresql_only=True),
            run(OLD_DESC_INDEX, postgresql_only=True),
            elidable=False,
        ),
        migrations.RemoveConstraint(
            model_name="lead",
            name="lead_score_0_100",
        ),
        migrations.RemoveIndex(
            model_name="lead",
            name="lead_score_idx",
        ),
        migrations.RemoveField(
            model_name="lead",
            name="score",
        ),
    ]
