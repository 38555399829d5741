"""leads.events: every kind of lead event defined once, and every writer using it."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from leads import events
from leads.models import Lead, LeadEvent, LeadImport
from leads.services import (
    lead_add_note,
    lead_create,
    lead_delete,
    lead_update,
    leads_delete_bulk,
    leads_merge,
    leads_restore_bulk,
    leads_update_bulk,
)
from tests.factories import LeadFactory, RepFactory, default_stage

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=datetime.UTC)


def test_every_event_kind_has_one_definition():
    assert set(events.KINDS) == set(LeadEvent.Kind.values)
    for kind in LeadEvent.Kind:
        assert events.KINDS[kind].keys, kind


def made_by_every_constructor(rep) -> list[LeadEvent]:
    """One event of each shape, as the constructors make them, unsaved."""
    lead = LeadFactory(
        title="Deal", value=Decimal(25000), stage=default_stage("Qualified"), probability=40
    )
    lead_import = LeadImport(pk=7, file_name="q3.csv")
    value = events.field_changed(lead, "value", Decimal(30000), by=rep, at=AT)
    stage = events.stage_changed(
        lead,
        default_stage("Qualified"),
        default_stage("Proposal"),
        entered_old=AT - datetime.timedelta(days=12),
        old_probability=40,
        new_probability=60,
        by=rep,
        at=AT,
        stage_deleted=True,
    )
    return [
        events.created(lead, by=rep, at=AT),
        value,
        events.field_changed(lead, "assignee", rep, by=rep, at=AT),
        stage,
        events.note(lead, "Called", by=rep, at=AT),
        events.deleted(lead, by=rep, at=AT),
        events.deleted(lead, by=rep, at=AT, undoing=lead_import),
        events.deleted(
            Lead(pk=12, title="Old deal", stage=lead.stage), by=rep, at=AT, merged_into=lead
        ),
        events.merged(lead, Lead(pk=12, title="Old deal"), events=3, by=rep, at=AT),
        events.imported(lead, lead_import=lead_import, row=2, by=rep, at=AT),
        events.import_updated(
            lead,
            lead_import=lead_import,
            row=3,
            before={"value": "25000.00"},
            changes=[value],
            by=rep,
            at=AT,
        ),
        events.import_undone(
            lead,
            lead_import=lead_import,
            changes=events.import_update(
                {"before": {}, "version": 2, "changes": [value.data]}
            ).undo_changes,
            by=rep,
            at=AT,
        ),
    ]


def test_an_import_batchs_event_rows_are_the_imported_constructors(rep):
    leads = LeadFactory.create_batch(2)
    lead_import = LeadImport(pk=7, file_name="q3.csv")

    rows = events.imported_rows(
        [lead.pk for lead in leads], lead_import=lead_import, rows=[2, 3], by=rep, at=AT
    )

    assert list(rows) == [
        events.as_row(events.imported(lead, lead_import=lead_import, row=row, by=rep, at=AT))
        for lead, row in zip(leads, [2, 3], strict=True)
    ]


def test_each_constructor_writes_only_its_kinds_keys_and_reads_back_as_a_sentence(rep):
    made = made_by_every_constructor(rep)
    assert {event.kind for event in made} == set(LeadEvent.Kind.values)
    for event in made:
        assert set(event.data) <= events.KINDS[event.kind].keys, event.kind
        assert (event.actor, event.at) == (rep, AT)
    assert [event.describe() for event in made] == [
        "Created the lead",
        "Value: €25,000 → €30,000",
        f"Assigned to {rep.get_full_name()}",
        "Stage: Qualified → Proposal, after 12 days in Qualified. "
        "Probability: 40% → 60% (from the stage). Moved when the stage Qualified was deleted",
        "Added a note",
        "Deleted the lead “Deal”",
        "Deleted the lead “Deal”",
        f"Deleted the lead “Old deal”: merged into #{made[0].lead.pk}",
        "Merged from #12 “Old deal” (its 3 events are in this history)",
        "Imported from q3.csv",
        "Updated by the import of q3.csv. Value: €25,000 → €30,000",
        "Undid the import of q3.csv: the earlier values are back. Value: €30,000 → €25,000",
    ]


def test_an_event_saved_and_read_back_describes_as_it_was_made(rep):
    for event in made_by_every_constructor(rep):
        sentence = event.describe()
        event.save()
        assert LeadEvent.objects.get(pk=event.pk).describe() == sentence


def test_undo_reads_an_import_update_back_as_its_reverse(rep):
    lead = LeadFactory(assignee=rep)
    bob = RepFactory(username="bob")
    change = events.field_changed(lead, "assignee", bob, by=rep, at=AT)
    lead.version = 3
    data = events.import_updated(
        lead,
        lead_import=LeadImport(pk=1, file_name="a.csv"),
        row=2,
        before={"assignee": rep.pk},
        changes=[change],
        by=rep,
        at=AT,
    ).data
    update = events.import_update(data)
    assert (update.before, update.version) == ({"assignee": rep.pk}, 3)
    assert update.undo_changes == [
        {"field": "assignee", "old": "bob", "new": "alice", "old_id": bob.pk, "new_id": rep.pk}
    ]


def test_a_value_is_recorded_as_people_knew_it_and_shown_by_one_function():
    assert events.recorded_value("priority", "high") == "High"
    assert events.recorded_value("value", Decimal("30000.00")) == "30000"
    assert events.recorded_value("expected_close_date", datetime.date(2026, 12, 1)) == (
        "2026-12-01"
    )
    assert events.recorded_value("value", None) == ""
    assert events.show_value("value", "30000") == "€30,000"
    assert events.show_value("expected_close_date", "2026-12-01") == "1 Dec 2026"
    assert events.show_value("probability", 60) == "60%"
    assert events.show_value("category", "") == "—"


def test_every_event_the_services_write_is_of_its_kinds_shape(rep, manager):
    lead = Lead(title="Made here", stage=default_stage())
    lead_create(lead=lead, by=manager)
    lead_update(lead_id=lead.pk, values={"value": Decimal(10), "assignee": rep}, by=manager)
    lead_update(lead_id=lead.pk, values={"stage": default_stage("Proposal")}, by=manager)
    lead_add_note(lead_id=lead.pk, text="Called", by=manager)
    lead_import = LeadImport.objects.create(file_name="q3.csv", created_by=manager)
    leads_update_bulk(
        changes={lead.pk: {"title": "Imported title"}},
        by=manager,
        lead_import=lead_import,
        import_rows={lead.pk: 2},
    )
    event = LeadEvent.objects.get(events.updated_by_import(lead_import.pk))
    update = events.import_update(event.data)
    leads_restore_bulk(
        snapshots={lead.pk: update.before},
        versions={lead.pk: update.version},
        changes={lead.pk: update.undo_changes},
        by=manager,
        lead_import=lead_import,
    )
    other = LeadFactory()
    leads_delete_bulk(lead_ids=[other.pk], by=manager, undoing=lead_import)
    twin = LeadFactory(title="Made twice")
    leads_merge(keep_id=lead.pk, other_id=twin.pk, values={"value": twin.value}, by=manager)
    lead_delete(lead_id=lead.pk, by=manager)

    written = list(LeadEvent.objects.order_by("id"))
    assert {event.kind for event in written} == set(LeadEvent.Kind.values)
    for event in written:
        assert set(event.data) <= events.KINDS[event.kind].keys, event.kind
        assert event.describe()
    assert [event.data["title"] for event in written if event.kind == "deleted"] == [
        other.title,
        "Made twice",
        "Made here",
    ]


def test_the_admin_summarises_an_event_with_its_timeline_sentence(admin_client, rep):
    lead = LeadFactory(created_by=rep, value=Decimal(1000))
    lead_update(lead_id=lead.pk, values={"value": Decimal(99)}, by=rep)
    lead_add_note(lead_id=lead.pk, text="Called back", by=rep)
    page = admin_client.get(reverse("admin:leads_leadevent_changelist")).text
    for event in lead.events.all():
        assert event.describe() in page
    assert "Value: €1,000 → €99" in page
    assert "Added a note: Called back" in page


def test_a_new_lead_from_a_seed_and_from_a_form_record_the_same_created_event(rep):
    lead = LeadFactory(title="Seeded")
    made = events.created(lead, by=rep, at=timezone.now())
    saved = Lead(title="Seeded", stage=default_stage())
    lead_create(lead=saved, by=rep)
    assert (made.kind, made.data) == (saved.events.get().kind, saved.events.get().data)
