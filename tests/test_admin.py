"""The Django admin: every page renders, and the rules the admin adds to the models hold."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Client, ClientEvent, Contact, ContactEvent
from crm.services import client_update, contact_update
from crm.web.admin_utils import CappedCountPaginator
from leads.models import (
    Lead,
    LeadEvent,
    LeadImport,
    LeadSource,
    LossReason,
    SavedView,
    ScoringSettings,
    WebhookDelivery,
)
from leads.services import lead_assign, lead_move_stage
from pipelines.models import Pipeline, PipelineStage
from tests.factories import (
    AbsenceFactory,
    AssignmentRuleFactory,
    CaptureFormFactory,
    ClientEventFactory,
    ClientFactory,
    ContactEventFactory,
    ContactFactory,
    LeadEventFactory,
    LeadFactory,
    MembershipFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    SavedViewFactory,
    WebhookFactory,
    default_stage,
    loss_reason,
    lost,
)

pytestmark = pytest.mark.django_db

# Our models and Django's auth; third-party admins (the task queue's) are theirs to test.
REGISTERED = sorted(
    (m for m in admin.site._registry if m._meta.app_label in {"auth", "crm", "leads", "pipelines"}),
    key=lambda model: model._meta.label,
)
READ_ONLY = {LeadEvent, LeadImport, ClientEvent, ContactEvent, WebhookDelivery}
#: One row, changed in place: no add page, and its list is its change page.
SINGLETONS = {ScoringSettings}
#: Made on the site's pages only (a saved view, with the list's filters).
MADE_ON_PAGES = {SavedView}


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def sample_data(rep):
    """A little of everything, including a deleted client and an event of a deleted lead."""
    client = ClientFactory(name="Acme")
    contact = ContactFactory(client=client, name="Wile E. Coyote")
    client_update(client_id=client.pk, values={"kind": Client.Kind.PERSON}, by=rep)
    contact_update(contact_id=contact.pk, values={"job_title": "Genius"}, by=rep)
    ClientFactory(name="Gone Ltd").soft_delete()
    lead = LeadFactory(client=client, contact=contact, assignee=rep, created_by=rep)
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Qualified"), by=rep)
    LeadEventFactory(lead=lead)
    LeadEvent.objects.create(lead=None, kind=LeadEvent.Kind.DELETED, data={"title": "Old deal"})
    LeadImport.objects.create(
        created_by=rep, file_name="Acme leads.csv", content=b"Title\nX\n", encoding="utf-8",
        delimiter=",", headers=["Title"], mapping={"0": "title"},
    )  # fmt: skip
    membership = MembershipFactory(team__name="Acme accounts", user=rep)
    AbsenceFactory(membership=membership, note="Acme trade fair")
    AssignmentRuleFactory(name="Acme leads", team=membership.team, category="Acme")
    SavedViewFactory(name="Acme's open deals", owner=rep, query="q=Acme")
    CaptureFormFactory(name="Acme website")
    WebhookDelivery.objects.create(
        webhook=WebhookFactory(name="Acme ERP"), event="lead.created", lead_id=lead.pk, body="{}"
    )
    return {"client": client, "contact": contact, "lead": lead}


# --- Every page --------------------------------------------------------------------------


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_renders(admin_client, sample_data, model):
    response = admin_client.get(admin_url(model, "changelist"))
    if model in SINGLETONS:
        assert response["Location"] == admin_url(model, "change", model.objects.get().pk)
        return
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_search_renders(admin_client, sample_data, model):
    if not admin.site.get_model_admin(model).search_fields:
        return
    response = admin_client.get(admin_url(model, "changelist"), {"q": "Acme"})
    assert response.status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_add_page_renders_unless_the_model_is_read_only(admin_client, model):
    response = admin_client.get(admin_url(model, "add"))
    assert response.status_code == (403 if model in READ_ONLY | SINGLETONS | MADE_ON_PAGES else 200)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_change_page_renders(admin_client, sample_data, model):
    obj = model._default_manager.first()
    response = admin_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200


def test_lead_changelist_runs_a_bounded_number_of_queries(
    admin_client, admin_user, django_assert_max_num_queries
):
    reps = [RepFactory() for _ in range(3)]
    stages = list(PipelineStage.objects.filter(pipeline__is_default=True))
    for number in range(30):
        contact = ContactFactory()
        LeadFactory(
            client=contact.client,
            contact=contact,
            assignee=reps[number % 3],
            stage=stages[number % len(stages)],
        )
    admin_client.get(admin_url(Lead, "changelist"))  # warm up the session and caches
    # Session, user, stage/source/loss reason/assignee filter choices, capped count, rows:
    # no query per row, which would add dozens.
    with django_assert_max_num_queries(8):
        response = admin_client.get(admin_url(Lead, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 30


def test_lead_and_event_changelists_do_not_count_the_whole_table():
    for model in (Lead, LeadEvent, Client, Contact, ClientEvent, ContactEvent):
        model_admin = admin.site.get_model_admin(model)
        assert model_admin.paginator is CappedCountPaginator
        assert model_admin.show_full_result_count is False


# --- Paginator ----------------------------------------------------------------------------


class TinyCapPaginator(CappedCountPaginator):
    cap = 3


def test_paginator_counts_exactly_up_to_the_cap():
    ClientFactory.create_batch(3)
    assert TinyCapPaginator(Client.objects.all(), 2).count == 3


def test_paginator_stops_counting_a_filtered_result_at_the_cap():
    ClientFactory.create_batch(5, kind=Client.Kind.PERSON)
    paginator = TinyCapPaginator(Client.objects.filter(kind=Client.Kind.PERSON), 2)
    assert paginator.count == 3
    assert paginator.num_pages == 2


def test_paginator_on_a_large_unfiltered_table_reports_at_least_the_cap():
    # SQLite has no planner estimate; PostgreSQL's may be stale. Either way >= cap.
    ClientFactory.create_batch(5)
    assert TinyCapPaginator(Client.objects.all(), 2).count >= 3


def test_paginator_counts_lists_by_length():
    assert CappedCountPaginator([1, 2, 3, 4], 2).count == 4


# --- Pipelines ----------------------------------------------------------------------------


def pipeline_form_data(pipeline: Pipeline, stages: list[dict], **fields) -> dict:
    """POST data for the pipeline change form with its inline stages."""
    data = {
        "name": pipeline.name,
        "stale_after_days": pipeline.stale_after_days,
        "stages-TOTAL_FORMS": len(stages),
        "stages-INITIAL_FORMS": sum(1 for stage in stages if stage.get("id")),
        "stages-MIN_NUM_FORMS": 0,
        "stages-MAX_NUM_FORMS": 1000,
    }
    if pipeline.is_default:
        data["is_default"] = "on"
    data.update(fields)
    for index, stage in enumerate(stages):
        for key, value in stage.items():
            data[f"stages-{index}-{key}"] = value
    return data


def stage_row(stage: PipelineStage, **changes) -> dict:
    row = {
        "id": stage.pk,
        "pipeline": stage.pipeline_id,
        "order": stage.order,
        "name": stage.name,
        "kind": stage.kind,
        "probability": stage.probability,
        "colour": stage.colour,
    }
    return row | changes


@pytest.fixture
def small_pipeline():
    pipeline = PipelineFactory(name="Renewals")
    PipelineStageFactory(pipeline=pipeline, order=0, name="Open", kind=PipelineStage.Kind.OPEN)
    PipelineStageFactory(pipeline=pipeline, order=1, name="Lost", kind=PipelineStage.Kind.LOST)
    return pipeline


def test_pipeline_admin_refuses_to_make_the_last_open_stage_won(admin_client, small_pipeline):
    open_stage, lost = small_pipeline.stages.order_by("order")
    data = pipeline_form_data(small_pipeline, [stage_row(open_stage, kind="won"), stage_row(lost)])
    response = admin_client.post(admin_url(Pipeline, "change", small_pipeline.pk), data)
    assert response.status_code == 200
    assert "A pipeline must keep at least one open stage." in response.text
    open_stage.refresh_from_db()
    assert open_stage.kind == PipelineStage.Kind.OPEN


def test_pipeline_admin_refuses_to_delete_the_last_open_stage(admin_client, small_pipeline):
    open_stage, lost = small_pipeline.stages.order_by("order")
    data = pipeline_form_data(small_pipeline, [stage_row(open_stage, DELETE="on"), stage_row(lost)])
    response = admin_client.post(admin_url(Pipeline, "change", small_pipeline.pk), data)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.non_form_errors() == ["A pipeline must keep at least one open stage."]
    assert small_pipeline.stages.filter(pk=open_stage.pk).exists()


def test_pipeline_admin_refuses_a_new_pipeline_without_an_open_stage(admin_client):
    data = pipeline_form_data(
        Pipeline(name="Closed only", stale_after_days=14),
        [{"order": 0, "name": "Won", "kind": "won", "probability": 100, "colour": "#16a34a"}],
    )
    response = admin_client.post(admin_url(Pipeline, "add"), data)
    assert response.status_code == 200
    assert "A pipeline must keep at least one open stage." in response.text
    assert not Pipeline.objects.filter(name="Closed only").exists()


def test_pipeline_admin_saves_a_valid_change_of_stages(admin_client, small_pipeline):
    open_stage, lost = small_pipeline.stages.order_by("order")
    new_stage = {"order": 2, "name": "Won", "kind": "won", "probability": 100, "colour": "#16a34a"}
    data = pipeline_form_data(small_pipeline, [stage_row(open_stage), stage_row(lost), new_stage])
    response = admin_client.post(admin_url(Pipeline, "change", small_pipeline.pk), data)
    assert response.status_code == 302
    assert list(small_pipeline.stages.values_list("name", flat=True)) == ["Open", "Lost", "Won"]


def test_pipeline_admin_shows_an_error_for_a_second_default(admin_client):
    data = pipeline_form_data(
        Pipeline(name="Also default", stale_after_days=14, is_default=True),
        [{"order": 0, "name": "New", "kind": "open", "probability": 10, "colour": "#64748b"}],
    )
    response = admin_client.post(admin_url(Pipeline, "add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Another pipeline is already the default."
    ]
    assert Pipeline.objects.filter(is_default=True).count() == 1


def test_pipeline_admin_refuses_to_switch_the_default_off(admin_client):
    sales = Pipeline.objects.default()
    stages = [stage_row(stage) for stage in sales.stages.order_by("order")]
    data = pipeline_form_data(sales, stages)
    del data["is_default"]
    response = admin_client.post(admin_url(Pipeline, "change", sales.pk), data)
    assert response.status_code == 200
    assert "New leads need a default pipeline" in response.text
    assert Pipeline.objects.default() == sales


def test_make_default_action_hands_the_default_over(admin_client, small_pipeline):
    response = admin_client.post(
        admin_url(Pipeline, "changelist"),
        {"action": "make_default", "_selected_action": [small_pipeline.pk]},
    )
    assert response.status_code == 302
    assert Pipeline.objects.default() == small_pipeline
    assert Pipeline.objects.filter(is_default=True).count() == 1


def test_default_pipeline_cannot_be_deleted_in_the_admin(admin_client):
    response = admin_client.get(admin_url(Pipeline, "delete", Pipeline.objects.default().pk))
    assert response.status_code == 403


def test_last_open_stage_cannot_be_deleted_in_the_stage_admin(admin_client, small_pipeline):
    open_stage = small_pipeline.stages.get(kind=PipelineStage.Kind.OPEN)
    response = admin_client.get(admin_url(PipelineStage, "delete", open_stage.pk))
    assert response.status_code == 403


# --- Clients and contacts: soft delete ----------------------------------------------------


def test_restore_action_brings_back_a_soft_deleted_client(admin_client):
    client = ClientFactory()
    client.soft_delete()
    response = admin_client.post(
        admin_url(Client, "changelist"),
        {"action": "restore_selected", "_selected_action": [client.pk]},
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.deleted_at is None


def test_soft_delete_action_hides_clients_without_removing_them(admin_client):
    client = ClientFactory()
    response = admin_client.post(
        admin_url(Client, "changelist"),
        {"action": "soft_delete_selected", "_selected_action": [client.pk]},
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.deleted_at is not None


def test_soft_delete_keeps_the_first_deletion_time(admin_client):
    contact = ContactFactory()
    contact.soft_delete()
    deleted_at = contact.deleted_at
    admin_client.post(
        admin_url(Contact, "changelist"),
        {"action": "soft_delete_selected", "_selected_action": [contact.pk]},
    )
    contact.refresh_from_db()
    assert contact.deleted_at == deleted_at


def test_client_changelist_filters_on_deleted(admin_client):
    ClientFactory(name="Alive and well")
    ClientFactory(name="Long gone").soft_delete()
    url = admin_url(Client, "changelist")
    names = lambda response: [c.name for c in response.context["cl"].result_list]  # noqa: E731
    assert names(admin_client.get(url)) == ["Alive and well", "Long gone"]
    assert names(admin_client.get(url, {"deleted": "yes"})) == ["Long gone"]
    assert names(admin_client.get(url, {"deleted": "no"})) == ["Alive and well"]


def test_bulk_hard_delete_is_not_offered_for_clients(admin_client):
    response = admin_client.get(admin_url(Client, "changelist"))
    actions = [value for value, _label in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert {"soft_delete_selected", "restore_selected"} <= set(actions)


def test_client_autocomplete_for_leads_leaves_out_deleted_clients(admin_client):
    ClientFactory(name="Acme alive")
    ClientFactory(name="Acme deleted").soft_delete()
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "leads", "model_name": "lead", "field_name": "client", "term": "Acme"},
    )
    assert [result["text"] for result in response.json()["results"]] == ["Acme alive"]


def test_source_autocomplete_for_leads_offers_active_sources_only(admin_client):
    LeadSource.objects.filter(slug="partner").update(active=False)
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "leads", "model_name": "lead", "field_name": "source", "term": "p"},
    )
    assert [result["text"] for result in response.json()["results"]] == ["Phone", "Campaign"]


# --- Leads --------------------------------------------------------------------------------


def lead_form_data(lead: Lead | None = None, **fields) -> dict:
    """POST data for the lead form: the lead's current values (or a blank lead), changed."""
    lead = lead or Lead(title="Admin lead", stage=default_stage("New"))
    data = {
        "title": lead.title,
        "description": lead.description,
        "stage": lead.stage_id,
        "priority": lead.priority,
        "category": lead.category,
        "value": "" if lead.value is None else str(lead.value),
        "probability": "" if lead.probability is None else lead.probability,
        "expected_close_date": lead.expected_close_date or "",
        "source": lead.source_id or "",
        "client": lead.client_id or "",
        "contact": lead.contact_id or "",
        "assignee": lead.assignee_id or "",
    }
    return data | fields


def test_adding_a_lead_in_the_admin_sets_created_by_and_records_it(admin_client, admin_user):
    response = admin_client.post(admin_url(Lead, "add"), lead_form_data(value="1200"))
    assert response.status_code == 302
    lead = Lead.objects.get(title="Admin lead")
    assert lead.created_by == admin_user
    assert lead.value == Decimal("1200")
    event = lead.events.get()
    assert (event.kind, event.actor, event.data["title"]) == ("created", admin_user, "Admin lead")


def test_changing_the_stage_in_the_admin_moves_the_lead(admin_client, admin_user):
    lead = LeadFactory(title="Admin lead", probability=10)
    response = admin_client.post(
        admin_url(Lead, "change", lead.pk),
        lead_form_data(lead, stage=default_stage("Won").pk),
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == default_stage("Won")
    assert lead.closed_at is not None
    assert lead.probability == 100
    event = lead.events.get()
    assert (event.kind, event.actor, event.data["new"]) == ("stage_changed", admin_user, "Won")


def test_changing_fields_in_the_admin_records_each_change(admin_client):
    lead = LeadFactory(title="Admin lead", value=Decimal("1000"), probability=10)
    response = admin_client.post(
        admin_url(Lead, "change", lead.pk),
        lead_form_data(lead, value="2500.00", priority="high"),
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.version == 2
    changes = {e.data["field"]: (e.data["old"], e.data["new"]) for e in lead.events.all()}
    assert changes == {"value": ("1000", "2500"), "priority": ("Normal", "High")}


def test_lead_changelist_filters_on_status(admin_client, rep):
    LeadFactory(title="Still open")
    signed = LeadFactory(title="Signed", created_by=rep)
    lead_move_stage(lead_id=signed.pk, stage=default_stage("Won"), by=rep)
    response = admin_client.get(admin_url(Lead, "changelist"), {"status": "won"})
    assert [lead.title for lead in response.context["cl"].result_list] == ["Signed"]


def test_lead_admin_refuses_a_lost_lead_without_a_reason(admin_client):
    lead = LeadFactory(title="Lost, unexplained", stage=default_stage("Lost"), lost_reason=None)
    response = admin_client.post(admin_url(Lead, "change", lead.pk), lead_form_data(lead))
    assert response.status_code == 200
    assert "Choose why the lead was lost." in response.text
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.version) == (None, 1)


def test_lead_admin_records_a_reason_given_to_a_lost_lead(admin_client):
    lead = LeadFactory(title="Lost, unexplained", stage=default_stage("Lost"), lost_reason=None)
    data = lead_form_data(lead, lost_reason=loss_reason("no-budget").pk, competitor="Acme")
    response = admin_client.post(admin_url(Lead, "change", lead.pk), data)
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.lost_reason.slug, lead.competitor, lead.version) == ("no-budget", "Acme", 2)


def test_lead_admin_offers_active_reasons_and_the_one_the_lead_holds(admin_client):
    LossReason.objects.filter(slug__in=["no-budget", "no-response"]).update(active=False)
    lead = LeadFactory(stage=default_stage("Lost"), lost_reason=loss_reason("no-budget"))
    form = admin_client.get(admin_url(Lead, "change", lead.pk)).context["adminform"].form
    offered = {reason.slug for reason in form.fields["lost_reason"].queryset}
    assert "no-budget" in offered
    assert "no-response" not in offered


def test_lead_admin_groups_the_closing_fields(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    fieldsets = dict(admin.site.get_model_admin(Lead).get_fieldsets(request))
    assert fieldsets["Closing"]["fields"] == [
        "actual_close_date",
        "won_value",
        "lost_reason",
        "competitor",
        "lost_note",
    ]


def test_lead_changelist_filters_on_loss_reason_and_shows_the_close_date(admin_client):
    LeadFactory(title="Too dear", stage=default_stage("Lost"))
    LeadFactory(title="No money", stage=default_stage("Lost"), lost_reason=loss_reason("no-budget"))
    response = admin_client.get(
        admin_url(Lead, "changelist"), {"lost_reason__id__exact": loss_reason("no-budget").pk}
    )
    assert [lead.title for lead in response.context["cl"].result_list] == ["No money"]
    assert "column-actual_close_date" in response.text


def test_loss_reasons_are_edited_in_their_list_and_get_a_slug_from_their_name(admin_client):
    model_admin = admin.site.get_model_admin(LossReason)
    assert model_admin.list_display == ["name", "slug", "active", "order", "note_required"]
    assert model_admin.list_editable == ["active", "order"]
    assert model_admin.prepopulated_fields == {"slug": ["name"]}
    response = admin_client.post(
        admin_url(LossReason, "add"),
        {"name": "Timing", "slug": "timing", "active": "on", "order": 70},
    )
    assert response.status_code == 302
    assert LossReason.objects.get(slug="timing").name == "Timing"


def test_lead_admin_refuses_to_overwrite_a_newer_save(admin_client, rep):
    lead = LeadFactory(title="Contested", created_by=rep)
    change_url = admin_url(Lead, "change", lead.pk)
    page = admin_client.get(change_url)
    assert '<input type="hidden" name="expected_version" value="1"' in page.text
    lead_move_stage(
        lead_id=lead.pk, stage=default_stage("Contacted"), by=rep
    )  # someone else, meanwhile
    data = lead_form_data(lead, title="Mine", expected_version=1)
    response = admin_client.post(change_url, data)
    assert response.status_code == 200
    assert "Someone else saved this lead after you opened it." in response.text
    lead.refresh_from_db()
    assert lead.title == "Contested"


def test_lead_admin_refuses_a_contact_of_another_client(admin_client):
    acme = ClientFactory(name="Acme")
    stranger = ContactFactory(name="Stranger")
    response = admin_client.post(
        admin_url(Lead, "add"), lead_form_data(client=acme.pk, contact=stranger.pk)
    )
    assert response.status_code == 200
    assert "Stranger is not a contact of Acme." in response.text
    assert not Lead.objects.exists()


def test_deleting_a_lead_in_the_admin_keeps_its_title_in_the_history(admin_client):
    lead = LeadFactory(title="Short-lived deal")
    response = admin_client.post(admin_url(Lead, "delete", lead.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Lead.objects.exists()
    event = LeadEvent.objects.get(kind=LeadEvent.Kind.DELETED)
    assert event.lead is None
    response = admin_client.get(admin_url(LeadEvent, "changelist"))
    assert "Short-lived deal (deleted)" in response.text


# --- History ------------------------------------------------------------------------------


def test_lead_events_cannot_be_changed_or_deleted_in_the_admin(admin_client):
    event = LeadEventFactory()
    change_url = admin_url(LeadEvent, "change", event.pk)
    response = admin_client.get(change_url)
    assert response.status_code == 200
    assert 'name="_save"' not in response.text
    assert admin_client.post(change_url, {"kind": "note"}).status_code == 403
    assert admin_client.get(admin_url(LeadEvent, "delete", event.pk)).status_code == 403
    assert admin_client.get(admin_url(LeadEvent, "add")).status_code == 403
    event.refresh_from_db()
    assert event.kind == LeadEvent.Kind.NOTE


def test_event_changelist_filters_on_kind_and_actor(admin_client, rep, other_rep):
    lead = LeadFactory(created_by=rep)
    lead_assign(lead_id=lead.pk, assignee=other_rep, by=rep)
    LeadEventFactory(lead=lead, actor=other_rep)
    url = admin_url(LeadEvent, "changelist")
    by_kind = admin_client.get(url, {"kind__exact": "assigned"}).context["cl"].result_list
    assert [e.kind for e in by_kind] == ["assigned"]
    by_actor = admin_client.get(url, {"actor__id__exact": other_rep.pk}).context["cl"].result_list
    assert [e.kind for e in by_actor] == ["note"]


def test_a_deleted_client_can_be_restored_from_its_own_page(admin_client):
    client = ClientFactory()
    client.soft_delete()
    change_url = admin_url(Client, "change", client.pk)
    page = admin_client.get(change_url)
    assert "Restore this client" in page.text
    assert "Soft-delete this client" in page.text
    response = admin_client.post(
        change_url,
        {"CHANGE_FORM-action": "restore_selected", "_selected_action": [client.pk]},
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.deleted_at is None


def test_a_client_with_few_contacts_edits_them_inline(admin_client):
    client = ClientFactory()
    ContactFactory(client=client, name="Ada Inline")
    page = admin_client.get(admin_url(Client, "change", client.pk)).text
    assert 'name="contacts-TOTAL_FORMS"' in page
    assert 'value="Ada Inline"' in page


def test_a_client_with_many_contacts_links_to_them_instead_of_drawing_them_all(admin_client):
    client = ClientFactory()
    ContactFactory.create_batch(51, client=client)
    page = admin_client.get(admin_url(Client, "change", client.pk)).text
    assert 'name="contacts-TOTAL_FORMS"' not in page
    contacts = admin_url(Contact, "changelist")
    assert f'<a href="{contacts}?client__id__exact={client.pk}">51 contacts</a>' in page
    listed = admin_client.get(contacts, {"client__id__exact": client.pk})
    assert listed.status_code == 200
    assert "51 contacts" in listed.text  # the changelist, filtered to this client


def test_lead_page_links_to_the_lead_history(admin_client, rep):
    lead = LeadFactory(created_by=rep)
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Contacted"), by=rep)
    other = LeadFactory(created_by=rep)
    lead_move_stage(lead_id=other.pk, stage=default_stage("Lost"), by=rep, closing=lost())
    page = admin_client.get(admin_url(Lead, "change", lead.pk))
    history_url = f"{admin_url(LeadEvent, 'changelist')}?lead__id__exact={lead.pk}"
    assert f'href="{history_url}"' in page.text
    events = admin_client.get(history_url).context["cl"].result_list
    assert [(event.lead, event.data["new"]) for event in events] == [(lead, "Contacted")]


def test_a_clients_change_page_counts_its_contacts_once(admin_client):
    client = ClientFactory()
    ContactFactory.create_batch(3, client=client)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(admin_url(Client, "change", client.pk))
    counts = [
        q["sql"]
        for q in queries.captured_queries
        if 'COUNT(*) AS "__count" FROM "crm_contact"' in q["sql"]
    ]
    assert len(counts) == 1


# --- Clients and contacts: history --------------------------------------------------------


def client_admin_data(client: Client | None = None, contacts=(), new_contacts=(), **fields):
    """POST data for the client admin form with its contacts inline, changed by fields."""
    client = client or Client(name="Admin client", kind=Client.Kind.ORGANIZATION)
    data = {
        name: getattr(client, name)
        for name in ["name", "kind", "email", "phone", "website", "address", "notes"]
    }
    rows = [
        {"id": c.pk, "client": client.pk, "name": c.name, "job_title": c.job_title,
         "email": c.email, "phone": c.phone} | changes
        for c, changes in contacts
    ] + [{"client": client.pk or "", **row} for row in new_contacts]  # fmt: skip
    data.update(
        {
            "contacts-TOTAL_FORMS": len(rows),
            "contacts-INITIAL_FORMS": len(contacts),
            "contacts-MIN_NUM_FORMS": 0,
            "contacts-MAX_NUM_FORMS": 1000,
        }
    )
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"contacts-{index}-{key}"] = "" if value is None else value
    return data | fields


def history(record) -> list[tuple]:
    """(kind, actor's username, sentence) of the record's events, oldest first."""
    return [
        (event.kind, event.actor.username, event.describe())
        for event in record.events.select_related("actor").order_by("id")
    ]


def test_adding_a_client_with_a_contact_in_the_admin_records_both(admin_client):
    data = client_admin_data(new_contacts=[{"name": "Ada Inline", "job_title": "CTO"}])
    response = admin_client.post(admin_url(Client, "add"), data)
    assert response.status_code == 302
    client = Client.objects.get(name="Admin client")
    assert history(client) == [("created", "admin", "Created the client")]
    assert history(client.contacts.get()) == [("created", "admin", "Created the contact")]


def test_changing_a_client_and_its_contacts_inline_records_each_changed_field(admin_client):
    client = ClientFactory(name="Acme", email="a@acme.example", website="")
    ann = ContactFactory(client=client, name="Ann", job_title="")
    bert = ContactFactory(client=client, name="Bert")
    data = client_admin_data(
        client,
        contacts=[(ann, {"job_title": "CTO"}), (bert, {})],
        email="b@acme.example",
        website="https://acme.example",
    )
    response = admin_client.post(admin_url(Client, "change", client.pk), data)
    assert response.status_code == 302
    assert sorted(history(client)) == [
        ("changed", "admin", "Email: a@acme.example → b@acme.example"),
        ("changed", "admin", "Website: — → https://acme.example"),
    ]
    assert history(ann) == [("changed", "admin", "Job title: — → CTO")]
    assert history(bert) == []


def test_adding_and_changing_a_contact_in_the_admin_records_it(admin_client):
    acme, globex = ClientFactory(name="Acme"), ClientFactory(name="Globex")
    data = {"client": acme.pk, "name": "Ann", "job_title": "", "email": "", "phone": ""}
    assert admin_client.post(admin_url(Contact, "add"), data).status_code == 302
    contact = Contact.objects.get()
    change_url = admin_url(Contact, "change", contact.pk)
    assert admin_client.post(change_url, data | {"client": globex.pk}).status_code == 302
    assert history(contact) == [
        ("created", "admin", "Created the contact"),
        ("changed", "admin", "Client: Acme → Globex"),
    ]


@pytest.mark.parametrize("factory", [ClientFactory, ContactFactory], ids=["client", "contact"])
def test_soft_delete_and_restore_actions_record_an_event_per_row_they_change(admin_client, factory):
    living, also_living, gone = factory.create_batch(3)
    gone.soft_delete()
    url = admin_url(factory._meta.model, "changelist")
    selected = [living.pk, also_living.pk, gone.pk]
    admin_client.post(url, {"action": "soft_delete_selected", "_selected_action": selected})
    admin_client.post(url, {"action": "restore_selected", "_selected_action": [living.pk]})
    noun = factory._meta.model._meta.verbose_name
    assert history(living) == [
        ("deleted", "admin", f"Deleted the {noun}"),
        ("restored", "admin", f"Restored the {noun}"),
    ]
    assert history(also_living) == [("deleted", "admin", f"Deleted the {noun}")]
    assert history(gone) == []  # deleted before: keeps its first deletion


def test_the_restore_action_on_a_clients_page_records_it(admin_client):
    client = ClientFactory()
    client.soft_delete()
    response = admin_client.post(
        admin_url(Client, "change", client.pk),
        {"CHANGE_FORM-action": "restore_selected", "_selected_action": [client.pk]},
    )
    assert response.status_code == 302
    assert history(client) == [("restored", "admin", "Restored the client")]


def test_the_actions_say_how_many_rows_they_changed(admin_client):
    living, gone = ClientFactory.create_batch(2)
    gone.soft_delete()
    response = admin_client.post(
        admin_url(Client, "changelist"),
        {"action": "soft_delete_selected", "_selected_action": [living.pk, gone.pk]},
        follow=True,
    )
    assert "Soft-deleted 1 client." in response.text


@pytest.mark.parametrize("record", ["client", "contact"])
def test_a_records_admin_page_shows_its_latest_20_events_and_links_to_all(
    admin_client, admin_user, record
):
    obj = ClientFactory() if record == "client" else ContactFactory()
    update = client_update if record == "client" else contact_update
    key = f"{record}_id"
    for number in range(25):
        update(**{key: obj.pk}, values={"name": f"Name {number + 1}"}, by=admin_user)
    model = type(obj)
    event_model = ClientEvent if record == "client" else ContactEvent
    page = admin_client.get(admin_url(model, "change", obj.pk)).text
    assert "Name: Name 24 → Name 25" in page  # the latest
    assert "Name: Name 5 → Name 6" in page  # the 20th latest
    assert "Name: Name 4 → Name 5" not in page
    full = f"{admin_url(event_model, 'changelist')}?{record}__id__exact={obj.pk}"
    assert f'href="{full}"' in page
    listed = admin_client.get(full).context["cl"]
    assert listed.result_count == 25


def test_a_record_without_history_says_so(admin_client):
    page = admin_client.get(admin_url(Client, "change", ClientFactory().pk)).text
    assert "No changes recorded yet." in page


@pytest.mark.parametrize("factory", [ClientFactory, ContactFactory], ids=["client", "contact"])
def test_a_record_cannot_be_erased_for_good_in_the_admin_only_soft_deleted(admin_client, factory):
    obj = factory()
    model = factory._meta.model
    page = admin_client.get(admin_url(model, "change", obj.pk)).text
    assert admin_url(model, "delete", obj.pk) not in page
    assert "soft_delete_selected" in page
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_history_changelists_filter_by_kind_and_actor_and_search_by_name(
    admin_client, rep, manager
):
    acme, globex = ClientFactory(name="Acme", email=""), ClientFactory(name="Globex")
    client_update(client_id=acme.pk, values={"email": "a@acme.example"}, by=rep)
    client_update(client_id=globex.pk, values={"email": "g@globex.example"}, by=manager)
    admin_client.post(
        admin_url(Client, "changelist"),
        {"action": "soft_delete_selected", "_selected_action": [globex.pk]},
    )
    url = admin_url(ClientEvent, "changelist")
    rows = lambda params: [  # noqa: E731
        (e.client.name, e.kind) for e in admin_client.get(url, params).context["cl"].result_list
    ]
    assert rows({"kind__exact": "deleted"}) == [("Globex", "deleted")]
    assert rows({"actor__id__exact": rep.pk}) == [("Acme", "changed")]
    assert rows({"q": "glob"}) == [("Globex", "deleted"), ("Globex", "changed")]
    page = admin_client.get(url).text
    assert "Email: — → a@acme.example" in page


@pytest.mark.parametrize("event_model", [ClientEvent, ContactEvent], ids=["client", "contact"])
def test_history_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, event_model):
    event = (ClientEventFactory if event_model is ClientEvent else ContactEventFactory)()
    change_url = admin_url(event_model, "change", event.pk)
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert admin_client.post(change_url, {"kind": "deleted"}).status_code == 403
    assert admin_client.get(admin_url(event_model, "delete", event.pk)).status_code == 403
    assert admin_client.get(admin_url(event_model, "add")).status_code == 403
    event.refresh_from_db()
    assert event.kind == "changed"


@pytest.mark.parametrize("event_model", [ClientEvent, ContactEvent], ids=["client", "contact"])
def test_users_who_are_not_staff_cannot_see_the_history(client, rep, event_model):
    (ClientEventFactory if event_model is ClientEvent else ContactEventFactory)()
    client.force_login(rep)
    response = client.get(admin_url(event_model, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_the_right_to_read_history_see_neither_it_nor_its_list(client, rep):
    rep.is_staff = True
    rep.save()
    acme = ClientFactory()
    client_update(client_id=acme.pk, values={"email": "secret@acme.example"}, by=rep)
    client.force_login(rep)
    page = client.get(admin_url(Client, "change", acme.pk))
    assert page.status_code == 200
    assert "latest changes" not in page.text.lower()
    assert "Email: — → secret@acme.example" not in page.text
    assert client.get(admin_url(ClientEvent, "changelist")).status_code == 403


def _admin_fields(rf, admin_user) -> list[str]:
    request = rf.get("/")
    request.user = admin_user
    fieldsets = admin.site.get_model_admin(Lead).get_fieldsets(request)
    return [field for _, options in fieldsets for field in options["fields"]]


def test_the_admin_edits_the_lead_forms_fields_each_once(rf, admin_user):
    from leads.admin import RECORD_FIELDS
    from leads.forms import LeadForm

    fields = _admin_fields(rf, admin_user)

    assert sorted(fields) == sorted([*LeadForm.Meta.fields, "expected_version", *RECORD_FIELDS])


def test_a_field_the_admin_does_not_group_still_shows_in_its_first_group(
    rf, admin_user, monkeypatch
):
    model_admin = admin.site.get_model_admin(Lead)
    groups = {
        name: [f for f in group if f != "category"]
        for name, group in model_admin.field_groups.items()
    }
    monkeypatch.setattr(model_admin, "field_groups", groups)

    assert "category" in _admin_fields(rf, admin_user)
