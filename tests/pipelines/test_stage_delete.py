"""Deleting a stage that holds leads: they move to another stage of its pipeline first."""

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError

from leads.models import Lead, LeadEvent
from leads.services import stage_delete
from pipelines.models import Pipeline, PipelineStage
from tests.factories import (
    CaptureFormFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    UserFactory,
    default_stage,
)
from tests.test_admin import admin_url, pipeline_form_data, stage_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposal():
    """The default pipeline's Proposal stage (60 %), holding three leads."""
    stage = default_stage("Proposal")
    LeadFactory.create_batch(3, stage=stage, probability=60)
    return stage


def delete_url(stage: PipelineStage) -> str:
    return admin_url(PipelineStage, "delete", stage.pk)


def nothing_changed(stage: PipelineStage, count: int) -> bool:
    """The stage is still there with its leads, none of them written or recorded."""
    return (
        PipelineStage.objects.filter(pk=stage.pk).exists()
        and set(Lead.objects.filter(stage=stage).values_list("version", flat=True)) == {1}
        and Lead.objects.filter(stage=stage).count() == count
        and not LeadEvent.objects.exists()
    )


@pytest.fixture
def staff_rep(db):
    """Staff who may delete stages, but change only the leads they created or hold."""
    user = UserFactory(username="staffrep", is_staff=True, groups=["Sales rep"])
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_pipelinestage", "delete_pipelinestage"])
    )
    return user


# --- The confirmation page ------------------------------------------------------------------


def test_deleting_a_stage_with_leads_shows_the_count_and_the_previous_stage_as_target(
    admin_client, proposal
):
    response = admin_client.get(delete_url(proposal))
    assert response.status_code == 200
    assert response.templates[0].name == "admin/pipelines/pipelinestage/delete_with_leads.html"
    page = response.text
    assert f'<a href="/leads/?stage={proposal.pk}&amp;status=all">3 leads</a>' in page
    assert response.context["form"]["move_to"].initial == default_stage("Qualified")
    qualified = default_stage("Qualified").pk
    assert f'<option value="{qualified}" selected data-name="Qualified">Qualified</option>' in page
    assert 'value="Move 3 leads to Qualified and delete Proposal"' in page
    assert "protected related objects" not in page


def test_the_first_stage_of_a_pipeline_defaults_to_the_next_one(admin_client):
    new = default_stage("New")
    LeadFactory(stage=new)
    response = admin_client.get(delete_url(new))
    assert response.context["form"]["move_to"].initial == default_stage("Contacted")
    assert 'value="Move 1 lead to Contacted and delete New"' in response.text


def test_the_targets_offered_are_the_other_stages_of_the_same_pipeline(admin_client, proposal):
    PipelineStageFactory(name="Elsewhere")  # another pipeline's
    response = admin_client.get(delete_url(proposal))
    offered = [stage.name for stage in response.context["form"].fields["move_to"].queryset]
    assert offered == ["New", "Contacted", "Qualified", "Negotiation", "Won", "Lost"]


# --- Moving and deleting ------------------------------------------------------------------


def test_posting_moves_every_lead_with_its_history_and_deletes_the_stage(
    admin_client, admin_user, proposal
):
    won = default_stage("Won")
    leads = list(Lead.objects.filter(stage=proposal))
    response = admin_client.post(delete_url(proposal), {"move_to": won.pk})
    assert response.status_code == 302
    assert not PipelineStage.objects.filter(pk=proposal.pk).exists()
    for lead in leads:
        lead.refresh_from_db()
        assert lead.stage == won
        assert lead.probability == 100
        assert lead.closed_at is not None
        assert lead.version == 2
        event = lead.events.get()
        assert event.kind == LeadEvent.Kind.STAGE_CHANGED
        assert event.actor == admin_user
        assert (event.data["old"], event.data["new"]) == ("Proposal", "Won")
        assert event.data["stage_deleted"] is True
        assert "Moved when the stage Proposal was deleted" in event.describe()
    assert LogEntry.objects.get(action_flag=DELETION).object_repr == "Sales · Proposal"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "Moved 3 leads from Proposal to Won; each lead's history records the move." in messages


def test_a_chosen_open_target_takes_the_leads_and_keeps_them_open(admin_client, proposal):
    contacted = default_stage("Contacted")
    response = admin_client.post(delete_url(proposal), {"move_to": contacted.pk})
    assert response.status_code == 302
    assert Lead.objects.filter(stage=contacted).count() == 3
    assert set(Lead.objects.values_list("probability", "closed_at")) == {(20, None)}


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda stage: PipelineStageFactory(name="Elsewhere").pk, id="other-pipeline"),
        pytest.param(lambda stage: stage.pk, id="the-stage-itself"),
        pytest.param(lambda stage: "garbage", id="garbage"),
        pytest.param(lambda stage: "", id="none"),
    ],
)
def test_a_target_that_is_not_another_stage_of_the_pipeline_is_refused(
    admin_client, proposal, target
):
    response = admin_client.post(delete_url(proposal), {"move_to": target(proposal)})
    assert response.status_code == 422
    assert response.context["form"].errors["move_to"] in (
        ["Choose another stage of the pipeline Sales."],
        ["This field is required."],
    )
    assert nothing_changed(proposal, 3)


def test_the_last_open_stage_cannot_be_deleted_even_with_its_leads_moved(admin_client):
    pipeline = PipelineFactory(name="Renewals")
    open_stage = PipelineStageFactory(pipeline=pipeline, order=0, name="Open")
    lost = PipelineStageFactory(pipeline=pipeline, order=1, name="Lost", kind="lost")
    LeadFactory(stage=open_stage)
    assert admin_client.get(delete_url(open_stage)).status_code == 403
    assert admin_client.post(delete_url(open_stage), {"move_to": lost.pk}).status_code == 403
    assert nothing_changed(open_stage, 1)


def test_a_staff_user_who_may_not_change_every_lead_is_refused_and_nothing_changes(
    client, staff_rep, monkeypatch
):
    proposal = default_stage("Proposal")
    # Their own lead comes first and moves in a chunk of its own before the refusal:
    # it must be rolled back with the rest.
    LeadFactory(stage=proposal, created_by=staff_rep)
    LeadFactory.create_batch(3, stage=proposal)
    monkeypatch.setattr("leads.services.MOVE_CHUNK", 1)
    client.force_login(staff_rep)
    page = client.get(delete_url(proposal))
    assert page.status_code == 200
    assert "You may not change 3 of these leads" in page.text
    assert 'id="move-and-delete"' not in page.text
    response = client.post(delete_url(proposal), {"move_to": default_stage("Qualified").pk})
    assert response.status_code == 403
    assert "You may not change every lead in Proposal" in response.text
    assert nothing_changed(proposal, 4)
    assert not LogEntry.objects.exists()


def test_deleting_a_stage_needs_the_permission_to_delete_stages(client, proposal):
    user = UserFactory(is_staff=True, groups=["Sales manager"])
    user.user_permissions.add(Permission.objects.get(codename="view_pipelinestage"))
    client.force_login(user)
    assert client.get(delete_url(proposal)).status_code == 403
    qualified = default_stage("Qualified")
    assert client.post(delete_url(proposal), {"move_to": qualified.pk}).status_code == 403
    assert nothing_changed(proposal, 3)


def test_an_empty_stage_is_deleted_with_djangos_own_confirmation(admin_client):
    empty = PipelineStageFactory(pipeline=Pipeline.objects.default(), name="Demo", order=9)
    page = admin_client.get(delete_url(empty))
    assert page.templates[0].name == "admin/delete_confirmation.html"
    assert "Are you sure you want to delete the pipeline stage" in page.text
    response = admin_client.post(delete_url(empty), {"post": "yes"})
    assert response.status_code == 302
    assert not PipelineStage.objects.filter(pk=empty.pk).exists()


# --- The service --------------------------------------------------------------------------


def test_the_service_moves_a_large_stage_a_chunk_at_a_time(admin_user, proposal, monkeypatch):
    LeadFactory.create_batch(4, stage=proposal)
    monkeypatch.setattr("leads.services.MOVE_CHUNK", 2)
    moved = stage_delete(stage=proposal, move_to=default_stage("Lost"), by=admin_user)
    assert moved == 7
    assert Lead.objects.filter(stage=default_stage("Lost")).count() == 7
    assert LeadEvent.objects.filter(kind=LeadEvent.Kind.STAGE_CHANGED).count() == 7


def test_leads_moved_to_a_stage_without_a_probability_keep_their_own(admin_user, proposal):
    pipeline = proposal.pipeline
    unrated = PipelineStageFactory(pipeline=pipeline, name="Unrated", order=9, probability=None)
    for number, lead in enumerate(Lead.objects.filter(stage=proposal), start=1):
        Lead.objects.filter(pk=lead.pk).update(probability=number * 10)
    stage_delete(stage=proposal, move_to=unrated, by=admin_user)
    assert sorted(Lead.objects.values_list("probability", "version")) == [
        (10, 2),
        (20, 2),
        (30, 2),
    ]


def test_the_service_refuses_a_stage_with_leads_and_no_target(admin_user, proposal):
    with pytest.raises(ValidationError, match="choose a stage to move them to"):
        stage_delete(stage=proposal, move_to=None, by=admin_user)
    assert nothing_changed(proposal, 3)


def test_the_service_refuses_the_last_open_stage(admin_user):
    pipeline = PipelineFactory()
    open_stage = PipelineStageFactory(pipeline=pipeline, order=0)
    won = PipelineStageFactory(pipeline=pipeline, order=1, kind="won")
    with pytest.raises(ValidationError, match="at least one open stage"):
        stage_delete(stage=open_stage, move_to=won, by=admin_user)
    assert PipelineStage.objects.filter(pk=open_stage.pk).exists()


def test_the_service_needs_the_permission_to_delete_stages(manager, proposal):
    with pytest.raises(PermissionDenied):
        stage_delete(stage=proposal, move_to=default_stage("Won"), by=manager)
    assert nothing_changed(proposal, 3)


# --- The pipeline's page ------------------------------------------------------------------


def test_deleting_a_stage_with_leads_in_the_pipeline_form_points_to_the_stage_page(
    admin_client, proposal
):
    sales = Pipeline.objects.default()
    rows = [
        stage_row(stage, DELETE="on") if stage == proposal else stage_row(stage)
        for stage in sales.stages.order_by("order")
    ]
    data = pipeline_form_data(sales, rows, name="Sales renamed")
    response = admin_client.post(admin_url(Pipeline, "change", sales.pk), data)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    link = f'<a href="{delete_url(proposal)}">delete it from its own page</a>'
    assert formset.non_form_errors() == [
        f"The stage Proposal holds 3 leads; {link} to move them first."
    ]
    assert link in response.text
    assert "protected related objects" not in response.text
    assert Pipeline.objects.default().name == "Sales"
    assert nothing_changed(proposal, 3)


def test_deleting_a_pipeline_whose_stages_hold_leads_says_so_instead_of_listing_them(
    admin_client,
):
    pipeline = PipelineFactory(name="Renewals")
    stage = PipelineStageFactory(pipeline=pipeline, order=0, name="Open")
    LeadFactory.create_batch(2, stage=stage)
    page = admin_client.get(admin_url(Pipeline, "delete", pipeline.pk))
    assert page.status_code == 200
    assert f'<a href="/leads/?pipeline={pipeline.pk}&amp;status=all">2 leads</a>' in page.text
    assert "protected related objects" not in page.text
    response = admin_client.post(admin_url(Pipeline, "delete", pipeline.pk), {"post": "yes"})
    assert response.status_code == 409
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()
    assert Lead.objects.filter(stage=stage).count() == 2


def test_a_pipeline_without_leads_is_deleted_with_its_stages(admin_client):
    pipeline = PipelineFactory(name="Unused")
    PipelineStageFactory(pipeline=pipeline, order=0)
    response = admin_client.post(admin_url(Pipeline, "delete", pipeline.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Pipeline.objects.filter(pk=pipeline.pk).exists()


def test_an_empty_stage_the_service_refuses_at_the_last_moment_is_a_message_not_a_500(
    admin_client, monkeypatch
):
    """Django's own confirmation ends in the service, whose checks run under its locks."""
    from leads import admin as leads_admin

    stage = PipelineStageFactory(pipeline=Pipeline.objects.default(), order=50, name="Spare")

    def refused(**kwargs):
        raise ValidationError("A pipeline must keep at least one open stage.")

    monkeypatch.setattr(leads_admin, "stage_delete", refused)
    response = admin_client.post(delete_url(stage), {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "A pipeline must keep at least one open stage." in response.text
    assert PipelineStage.objects.filter(pk=stage.pk).exists()


def test_a_lead_moved_in_just_before_the_delete_refuses_it_and_changes_nothing(
    admin_user, proposal, monkeypatch
):
    from django.db.models import ProtectedError

    def protected(self, *args, **kwargs):
        raise ProtectedError("a lead came in", set())

    monkeypatch.setattr(PipelineStage, "delete", protected)
    with pytest.raises(ValidationError, match="moved into Proposal meanwhile"):
        stage_delete(stage=proposal, move_to=default_stage("Qualified"), by=admin_user)
    monkeypatch.undo()
    assert nothing_changed(proposal, 3)


def test_a_stage_a_capture_form_lands_leads_in_is_kept_and_says_why(admin_client, proposal):
    CaptureFormFactory(name="Website", stage=proposal)

    response = admin_client.post(delete_url(proposal), {"move_to": default_stage("Won").pk})

    assert response.status_code == 422
    assert "capture form Website" in response.text
    assert nothing_changed(proposal, 3)
