"""The running totals of the leads (``leads.tally``): two tables, and on PostgreSQL the
triggers that keep them, then every lead counted in.

The triggers are created before the leads are counted, in the same transaction: creating
them locks the lead table against writes until the migration commits, so no write falls
between the count and the triggers. At a million leads the count takes a few seconds.
The SQL comes from ``leads.tally``; a later change of the triggers comes with a
migration of its own that replaces the function.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from leads.tally import DROP_SQL, rebuild_sql, tally_sql


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in [*DROP_SQL, *tally_sql(), *rebuild_sql()]:
        schema_editor.execute(statement)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP_SQL:
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0020_open_report_index'),
        ('pipelines', '0003_aging_thresholds'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LeadCloseTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('n', models.BigIntegerField()),
                ('valued', models.BigIntegerField()),
                ('value_sum', models.DecimalField(decimal_places=2, max_digits=20)),
                ('weighted_x100', models.DecimalField(decimal_places=2, max_digits=22)),
                ('entered_sum', models.BigIntegerField()),
                ('close_month', models.DateField(null=True)),
                ('assignee', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('source', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='leads.leadsource')),
                ('stage', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pipelines.pipelinestage')),
            ],
            options={
                'verbose_name_plural': 'lead close tallies',
            },
        ),
        migrations.CreateModel(
            name='LeadTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('n', models.BigIntegerField()),
                ('valued', models.BigIntegerField()),
                ('value_sum', models.DecimalField(decimal_places=2, max_digits=20)),
                ('weighted_x100', models.DecimalField(decimal_places=2, max_digits=22)),
                ('entered_sum', models.BigIntegerField()),
                ('priority', models.CharField(max_length=6)),
                ('assignee', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('source', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='leads.leadsource')),
                ('stage', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pipelines.pipelinestage')),
            ],
            options={
                'verbose_name_plural': 'lead tallies',
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
