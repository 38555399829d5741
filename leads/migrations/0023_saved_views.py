"""Saved views of the lead list and each user's default; Sales managers may share views."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def let_managers_share(apps, schema_editor):
    """Give the Sales manager group the right to share views (if the group exists)."""
    # Permissions are normally made after migrating; the group needs this one now.
    leads = apps.get_app_config("leads")
    previous = getattr(leads, "models_module", None)
    leads.models_module = True
    try:
        create_permissions(leads, apps=apps, verbosity=0)
    finally:
        leads.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    share = Permission.objects.get(content_type__app_label="leads", codename="share_savedview")
    for group in Group.objects.filter(name="Sales manager"):
        group.permissions.add(share)


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0022_bulk_changes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.CreateModel(
            name='SavedView',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('shared', models.BooleanField(default=False, help_text='Everyone sees it in their views.')),
                ('query', models.TextField(blank=True)),
                ('names', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='saved_views', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['name', 'pk'],
                'permissions': [('share_savedview', 'Can share saved views with everyone')],
            },
        ),
        migrations.CreateModel(
            name='DefaultView',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='default_list_view', to=settings.AUTH_USER_MODEL)),
                ('view', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='defaults', to='leads.savedview')),
            ],
        ),
        migrations.AddConstraint(
            model_name='savedview',
            constraint=models.UniqueConstraint(fields=('owner', 'name'), name='saved_view_unique_name'),
        ),
        migrations.RunPython(let_managers_share, migrations.RunPython.noop),
    ]
