"""The default "Sales" pipeline and its seven stages.

Idempotent and respectful of admin edits: when any pipeline exists, nothing is created or
changed, so renamed, reordered or deleted stages stay as the admin left them.
"""

from django.db import migrations

DEFAULT_STAGES = [
    # name, order, probability, kind, colour
    ("New", 0, 10, "open", "#64748b"),
    ("Contacted", 1, 20, "open", "#0ea5e9"),
    ("Qualified", 2, 40, "open", "#6366f1"),
    ("Proposal", 3, 60, "open", "#a855f7"),
    ("Negotiation", 4, 80, "open", "#f59e0b"),
    ("Won", 5, 100, "won", "#16a34a"),
    ("Lost", 6, 0, "lost", "#dc2626"),
]


def create_default_pipeline(apps, schema_editor):
    Pipeline = apps.get_model("pipelines", "Pipeline")
    PipelineStage = apps.get_model("pipelines", "PipelineStage")
    if Pipeline.objects.exists():
        return
    pipeline = Pipeline.objects.create(name="Sales", is_default=True)
    PipelineStage.objects.bulk_create(
        PipelineStage(
            pipeline=pipeline, name=name, order=order, probability=p, kind=kind, colour=colour
        )
        for name, order, p, kind, colour in DEFAULT_STAGES
    )


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0001_initial")]

    operations = [migrations.RunPython(create_default_pipeline, migrations.RunPython.noop)]
