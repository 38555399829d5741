"""Default lead sources and the two sales groups with their permissions.

Re-running changes nothing an admin edited: existing sources (by slug) and existing groups
(by name) are left exactly as they are.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

DEFAULT_SOURCES = [
    ("website", "Website"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("referral", "Referral"),
    ("partner", "Partner"),
    ("campaign", "Campaign"),
    ("social_media", "Social media"),
    ("event", "Event"),
    ("other", "Other"),
]

VIEW_ALL = [
    ("crm", "view_client"),
    ("crm", "view_contact"),
    ("leads", "view_lead"),
    ("leads", "view_leadsource"),
    ("leads", "view_leadevent"),
    ("pipelines", "view_pipeline"),
    ("pipelines", "view_pipelinestage"),
]

GROUPS = {
    # Reps see everything, create clients, contacts and leads, and change their own leads
    # (the object-level rule lives in Lead.can_edit and LeadQuerySet.editable_by).
    "Sales rep": VIEW_ALL
    + [
        ("crm", "add_client"),
        ("crm", "change_client"),
        ("crm", "add_contact"),
        ("crm", "change_contact"),
        ("leads", "add_lead"),
        ("leads", "change_lead"),
        ("leads", "delete_lead"),
    ],
    "Sales manager": VIEW_ALL
    + [
        ("crm", "add_client"),
        ("crm", "change_client"),
        ("crm", "delete_client"),
        ("crm", "add_contact"),
        ("crm", "change_contact"),
        ("crm", "delete_contact"),
        ("leads", "add_lead"),
        ("leads", "change_lead"),
        ("leads", "delete_lead"),
        ("leads", "change_any_lead"),
        ("leads", "assign_lead"),
    ],
}


def create_sources(apps, schema_editor):
    LeadSource = apps.get_model("leads", "LeadSource")
    for order, (slug, label) in enumerate(DEFAULT_SOURCES):
        LeadSource.objects.get_or_create(slug=slug, defaults={"label": label, "order": order})


def create_groups(apps, schema_editor):
    # Permissions are normally made after migrating; the groups need them now.
    for app_config in apps.get_app_configs():
        previous = getattr(app_config, "models_module", None)
        app_config.models_module = True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = previous
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group, created = Group.objects.get_or_create(name=name)
        if not created:
            continue
        for app_label, codename in perms:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        ("crm", "0001_initial"),
        ("pipelines", "0002_default_pipeline"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_sources, migrations.RunPython.noop),
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
