"""The one write path for leads: permission, the model's rules, version and history."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead, LeadEvent
from leads.services import (
    LeadConflict,
    lead_add_note,
    lead_assign,
    lead_create,
    lead_delete,
    lead_move_stage,
    lead_update,
    leads_delete_bulk,
    leads_update_bulk,
)
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    RepFactory,
    UserFactory,
    default_stage,
    lost,
)

pytestmark = pytest.mark.django_db


def test_moving_records_the_stage_change_with_old_and_new(rep):
    lead = LeadFactory(probability=10, created_by=rep)
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Proposal"), by=rep)
    lead.refresh_from_db()
    assert lead.stage == default_stage("Proposal")
    assert lead.probability == 60
    assert lead.closed_at is None
    assert lead.version == 2
    event = lead.events.get()
    assert event.kind == LeadEvent.Kind.STAGE_CHANGED
    assert event.actor == rep
    assert (event.data["old"], event.data["new"]) == ("New", "Proposal")
    assert event.data["probability"] == {"old": 10, "new": 60}


@pytest.mark.parametrize(("stage_name", "probability"), [("Won", 100), ("Lost", 0)])
def test_moving_to_a_closed_stage_sets_closed_at(manager, stage_name, probability):
    lead = LeadFactory()
    closing = lost() if stage_name == "Lost" else None
    lead_move_stage(lead_id=lead.pk, stage=default_stage(stage_name), by=manager, closing=closing)
    lead.refresh_from_db()
    assert lead.closed_at is not None
    assert lead.closed_at == lead.stage_entered_at
    assert lead.probability == probability
    assert lead.status == stage_name.lower()


def test_moving_a_closed_lead_back_to_an_open_stage_clears_closed_at(manager):
    lead = LeadFactory()
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), by=manager)
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Negotiation"), by=manager)
    lead.refresh_from_db()
    assert lead.closed_at is None
    assert lead.is_open


def test_moving_to_the_current_stage_records_nothing(manager):
    lead = LeadFactory()
    lead_move_stage(lead_id=lead.pk, stage=lead.stage, by=manager)
    lead.refresh_from_db()
    assert lead.version == 1
    assert not lead.events.exists()


def test_assigning_records_who_gave_the_lead_to_whom(rep, other_rep, manager):
    lead = LeadFactory(assignee=rep)
    lead_assign(lead_id=lead.pk, assignee=other_rep, by=manager)
    lead.refresh_from_db()
    assert lead.assignee == other_rep
    assert lead.version == 2
    event = lead.events.get()
    assert event.kind == LeadEvent.Kind.ASSIGNED
    assert event.actor == manager
    assert (event.data["old"], event.data["new"]) == ("alice", "bob")
    assert (event.data["old_id"], event.data["new_id"]) == (rep.pk, other_rep.pk)


def test_unassigning_is_recorded(rep, manager):
    lead = LeadFactory(assignee=rep)
    lead_assign(lead_id=lead.pk, assignee=None, by=manager)
    lead.refresh_from_db()
    assert lead.assignee is None
    event = lead.events.get()
    assert event.describe() == f"Unassigned (was {rep.get_full_name()})"
    assert (event.data["old_id"], event.data["new_id"]) == (rep.pk, None)


def test_assigning_to_the_current_assignee_records_nothing(rep, manager):
    lead = LeadFactory(assignee=rep)
    lead_assign(lead_id=lead.pk, assignee=rep, by=manager)
    assert not lead.events.exists()


# --- who may write --------------------------------------------------------------------------

WRITES = {
    "update": lambda lead, user: lead_update(
        lead_id=lead.pk, values={"title": "Taken over"}, by=user
    ),
    "move": lambda lead, user: lead_move_stage(
        lead_id=lead.pk, stage=default_stage("Won"), by=user
    ),
    "assign": lambda lead, user: lead_assign(lead_id=lead.pk, assignee=user, by=user),
    "note": lambda lead, user: lead_add_note(lead_id=lead.pk, text="Mine now", by=user),
    "delete": lambda lead, user: lead_delete(lead_id=lead.pk, by=user),
    "bulk delete": lambda lead, user: leads_delete_bulk(lead_ids=[lead.pk], by=user),
}


@pytest.mark.parametrize("write", WRITES)
def test_a_rep_may_not_write_someone_elses_lead_through_any_service(rep, other_rep, write):
    lead = LeadFactory(created_by=other_rep, assignee=other_rep, title="Theirs")
    with pytest.raises(PermissionDenied):
        WRITES[write](lead, rep)
    lead.refresh_from_db()
    assert (lead.title, lead.version, lead.assignee) == ("Theirs", 1, other_rep)
    assert lead.stage == default_stage("New")
    assert not LeadEvent.objects.exists()


@pytest.mark.parametrize("write", WRITES)
def test_a_user_in_no_group_may_not_write_at_all(rep, write):
    lead = LeadFactory(created_by=rep)
    with pytest.raises(PermissionDenied):
        WRITES[write](lead, UserFactory(username="reader"))
    assert not LeadEvent.objects.exists()


def test_a_rep_may_change_the_leads_they_created_or_are_assigned(rep, other_rep):
    created = LeadFactory(created_by=rep, assignee=other_rep)
    assigned = LeadFactory(created_by=other_rep, assignee=rep)
    for lead in (created, assigned):
        lead_update(lead_id=lead.pk, values={"category": "Mine"}, by=rep)
    assert set(Lead.objects.values_list("category", flat=True)) == {"Mine"}


def test_permission_is_decided_on_the_lead_as_it_is_now(rep, other_rep, manager):
    """A rep who loaded their lead before a manager gave it away may no longer change it."""
    lead = LeadFactory(created_by=other_rep, assignee=rep)
    loaded = Lead.objects.get(pk=lead.pk)
    assert loaded.can_edit(rep)
    lead_assign(lead_id=lead.pk, assignee=other_rep, by=manager)
    with pytest.raises(PermissionDenied):
        lead_update(lead_id=loaded.pk, values={"title": "Stale rights"}, by=rep)


def test_creating_needs_the_right_to_add_leads(rep):
    reader = UserFactory(username="reader")
    with pytest.raises(PermissionDenied):
        lead_create(lead=Lead(title="Nope", stage=default_stage()), by=reader)
    assert not Lead.objects.exists()
    lead = lead_create(lead=Lead(title="Yes", stage=default_stage()), by=rep)
    assert (lead.created_by, lead.version, lead.probability) == (rep, 1, 10)


def test_bulk_update_leaves_the_leads_a_user_may_not_change_and_says_which(rep, other_rep):
    mine = LeadFactory(created_by=rep)
    theirs = LeadFactory(created_by=other_rep, value=Decimal(5))
    result = leads_update_bulk(
        changes={
            mine.pk: {"value": Decimal(99)},
            theirs.pk: {"value": Decimal(99)},
            123456: {"value": Decimal(99)},
        },
        by=rep,
    )
    assert [lead.pk for lead in result.changed] == [mine.pk]
    assert result.refused == [theirs.pk]
    assert result.missing == [123456]
    theirs.refresh_from_db()
    assert (theirs.value, theirs.version) == (Decimal(5), 1)
    mine.refresh_from_db()
    assert (mine.value, mine.version) == (Decimal(99), 2)
    assert mine.events.get().describe() == "Value: €1,000 → €99"


def test_bulk_update_writes_leads_that_end_alike_in_one_update(manager):
    leads = LeadFactory.create_batch(20, probability=10)
    LeadFactory(title="Left alone")
    won = default_stage("Won")
    with CaptureQueriesContext(connection) as queries:
        result = leads_update_bulk(changes={lead.pk: {"stage": won} for lead in leads}, by=manager)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert "CASE" not in updates[0]  # no branch per lead and field
    assert {lead.version for lead in result.changed} == {2}
    moved = Lead.objects.exclude(title="Left alone")
    assert set(moved.values_list("stage", "probability", "version")) == {(won.pk, 100, 2)}
    assert Lead.objects.get(title="Left alone").version == 1


def test_bulk_update_writes_leads_that_end_differently_each_with_its_values(manager):
    leads = LeadFactory.create_batch(3)
    changes = {lead.pk: {"value": Decimal(number)} for number, lead in enumerate(leads)}
    leads_update_bulk(changes=changes, by=manager)
    assert sorted(Lead.objects.values_list("value", "version")) == [
        (Decimal(0), 2),
        (Decimal(1), 2),
        (Decimal(2), 2),
    ]


def test_bulk_delete_is_all_or_nothing(rep, other_rep):
    mine, theirs = LeadFactory(created_by=rep), LeadFactory(created_by=other_rep)
    with pytest.raises(PermissionDenied):
        leads_delete_bulk(lead_ids=[mine.pk, theirs.pk], by=rep)
    assert Lead.objects.count() == 2
    assert leads_delete_bulk(lead_ids=[mine.pk], by=rep) == 1
    assert list(Lead.objects.all()) == [theirs]


# --- the model's rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"value": Decimal(-1)}, "value"),
        ({"probability": 101}, "probability"),
        ({"title": ""}, "title"),
        ({"priority": "sky-high"}, "priority"),
        ({"description": "x" * 5001}, "description"),
    ],
)
def test_an_update_breaking_the_models_rules_is_refused_and_writes_nothing(manager, values, field):
    lead = LeadFactory(title="Kept")
    with pytest.raises(ValidationError) as refused:
        lead_update(lead_id=lead.pk, values=values, by=manager)
    assert field in refused.value.message_dict
    lead.refresh_from_db()
    assert (lead.title, lead.version) == ("Kept", 1)
    assert not lead.events.exists()


def test_a_contact_of_another_client_is_refused(manager):
    acme, other = ClientFactory(name="Acme"), ClientFactory(name="Other")
    lead = LeadFactory(client=acme)
    with pytest.raises(ValidationError) as refused:
        lead_update(lead_id=lead.pk, values={"contact": ContactFactory(client=other)}, by=manager)
    assert "is not a contact of Acme" in str(refused.value)


def test_a_stale_version_is_a_conflict_and_writes_nothing(manager):
    lead = LeadFactory(title="Theirs")
    lead_update(lead_id=lead.pk, values={"title": "Newer"}, by=manager)
    with pytest.raises(LeadConflict) as conflict:
        lead_update(lead_id=lead.pk, values={"title": "Mine"}, expected_version=1, by=manager)
    assert conflict.value.current_version == 2
    assert Lead.objects.get().title == "Newer"


def test_a_note_is_activity_but_no_new_version(rep):
    lead = LeadFactory(created_by=RepFactory(username="carla"), assignee=rep)
    lead_add_note(lead_id=lead.pk, text="Called", by=rep)
    lead.refresh_from_db()
    assert lead.version == 1
    assert lead.events.get().data == {"text": "Called"}
