"""The data migrations: what they create, and that running them again respects admin edits."""

import importlib
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.core.management import call_command

from leads.models import LeadSource
from pipelines.models import Pipeline, PipelineStage

pipeline_migration = importlib.import_module("pipelines.migrations.0002_default_pipeline")
leads_migration = importlib.import_module("leads.migrations.0002_default_sources_and_groups")

pytestmark = pytest.mark.django_db

EXPECTED_STAGES = [
    ("New", 0, 10, "open"),
    ("Contacted", 1, 20, "open"),
    ("Qualified", 2, 40, "open"),
    ("Proposal", 3, 60, "open"),
    ("Negotiation", 4, 80, "open"),
    ("Won", 5, 100, "won"),
    ("Lost", 6, 0, "lost"),
]
VIEW_ALL = {
    "crm.view_client",
    "crm.view_contact",
    "leads.view_lead",
    "leads.view_leadsource",
    "leads.view_leadevent",
    "pipelines.view_pipeline",
    "pipelines.view_pipelinestage",
}
EXPECTED_GROUP_PERMISSIONS = {
    "Sales rep": VIEW_ALL
    | {
        "crm.add_client",
        "crm.change_client",
        "crm.add_contact",
        "crm.change_contact",
        "leads.add_lead",
        "leads.change_lead",
        "leads.delete_lead",
    },
    "Sales manager": VIEW_ALL
    | {
        "crm.add_client",
        "crm.change_client",
        "crm.delete_client",
        "crm.add_contact",
        "crm.change_contact",
        "crm.delete_contact",
        "leads.add_lead",
        "leads.change_lead",
        "leads.delete_lead",
        "leads.change_any_lead",
        "leads.assign_lead",
        "leads.share_savedview",  # leads.migrations.0023_saved_views
    },
}


def group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


@pytest.fixture
def rerun_migrations():
    """Run the data migrations' functions again, with the project's app registry."""

    def rerun():
        pipeline_migration.create_default_pipeline(django_apps, None)
        leads_migration.create_sources(django_apps, None)
        leads_migration.create_groups(django_apps, None)

    return rerun


def test_rerunning_the_groups_migration_leaves_the_app_registry_as_it_was(rerun_migrations):
    before = {config.label: config.models_module for config in django_apps.get_app_configs()}
    rerun_migrations()
    after = {config.label: config.models_module for config in django_apps.get_app_configs()}
    assert after == before


def test_default_pipeline_is_sales_with_seven_stages():
    pipeline = Pipeline.objects.default()
    assert pipeline.name == "Sales"
    stages = pipeline.stages.order_by("order").values_list("name", "order", "probability", "kind")
    assert list(stages) == EXPECTED_STAGES
    assert Pipeline.objects.count() == 1


def test_nine_default_sources_exist_in_order():
    assert list(LeadSource.objects.order_by("order").values_list("slug", "label", "active")) == [
        ("website", "Website", True),
        ("email", "Email", True),
        ("phone", "Phone", True),
        ("referral", "Referral", True),
        ("partner", "Partner", True),
        ("campaign", "Campaign", True),
        ("social_media", "Social media", True),
        ("event", "Event", True),
        ("other", "Other", True),
    ]


@pytest.mark.parametrize("name", EXPECTED_GROUP_PERMISSIONS)
def test_sales_groups_have_the_expected_permissions(name):
    assert group_permissions(name) == EXPECTED_GROUP_PERMISSIONS[name]


def test_rerunning_the_migrations_on_untouched_data_changes_nothing(rerun_migrations):
    stages_before = list(PipelineStage.objects.values())
    sources_before = list(LeadSource.objects.values())
    rerun_migrations()
    assert list(PipelineStage.objects.values()) == stages_before
    assert list(LeadSource.objects.values()) == sources_before
    for name, permissions in EXPECTED_GROUP_PERMISSIONS.items():
        assert group_permissions(name) == permissions


def test_rerunning_the_migrations_keeps_admin_edits(rerun_migrations):
    PipelineStage.objects.filter(name="Qualified").update(name="Discovery", probability=30)
    LeadSource.objects.filter(slug="website").update(label="Web form", active=False)
    rep = Group.objects.get(name="Sales rep")
    rep.permissions.remove(rep.permissions.get(codename="delete_lead"))

    rerun_migrations()

    assert list(
        Pipeline.objects.default().stages.order_by("order").values_list("name", "probability")
    ) == [
        ("New", 10),
        ("Contacted", 20),
        ("Discovery", 30),
        ("Proposal", 60),
        ("Negotiation", 80),
        ("Won", 100),
        ("Lost", 0),
    ]
    assert Pipeline.objects.count() == 1
    website = LeadSource.objects.get(slug="website")
    assert (website.label, website.active) == ("Web form", False)
    assert LeadSource.objects.count() == 9
    assert group_permissions("Sales rep") == EXPECTED_GROUP_PERMISSIONS["Sales rep"] - {
        "leads.delete_lead"
    }
    assert Group.objects.filter(name__in=EXPECTED_GROUP_PERMISSIONS).count() == 2


def test_rerunning_the_migrations_keeps_a_renamed_pipeline_and_adds_none(rerun_migrations):
    Pipeline.objects.update(name="Direct sales")
    rerun_migrations()
    assert list(Pipeline.objects.values_list("name", flat=True)) == ["Direct sales"]


def test_models_have_no_missing_migrations():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"Models have changes without a migration:\n{out.getvalue()}")
