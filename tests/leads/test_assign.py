"""Assigning a lead from its detail page."""

import pytest
from django.urls import reverse

from leads.models import LeadEvent
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "lead-stage"}


def assign(client, lead, assignee, htmx=True):
    return client.post(
        reverse("leads:assign", args=[lead.pk]),
        {"assignee": assignee},
        headers=HTMX if htmx else {},
    )


def test_assigning_saves_at_once_swaps_the_region_and_toasts(manager_client, manager, rep):
    lead = LeadFactory()
    response = assign(manager_client, lead, "alice")
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert rep.get_full_name() in response.content.decode()
    assert f"Assigned to {rep.get_full_name()}." in response.headers["HX-Trigger"]
    lead.refresh_from_db()
    assert lead.assignee == rep
    event = LeadEvent.objects.get(lead=lead, kind="assigned")
    assert (event.data["old"], event.data["new"], event.actor) == ("", "alice", manager)


def test_reassigning_records_from_and_to(manager_client, rep, other_rep):
    lead = LeadFactory(assignee=rep)
    assign(manager_client, lead, "bob")
    event = LeadEvent.objects.get(lead=lead, kind="assigned")
    assert (event.data["old"], event.data["new"]) == ("alice", "bob")


def test_unassigning_records_an_event_and_shows_unassigned(manager_client, rep):
    lead = LeadFactory(assignee=rep)
    response = assign(manager_client, lead, "")
    assert "Unassigned" in response.content.decode()
    lead.refresh_from_db()
    assert lead.assignee is None
    event = LeadEvent.objects.get(lead=lead, kind="assigned")
    assert (event.data["old"], event.data["new"]) == ("alice", "")


def test_username_is_matched_case_insensitively_and_ids_work(manager_client, rep):
    lead = LeadFactory()
    assign(manager_client, lead, "ALICE")
    lead.refresh_from_db()
    assert lead.assignee == rep
    other = UserFactory(username="carol")
    assign(manager_client, lead, str(other.pk))
    lead.refresh_from_db()
    assert lead.assignee == other


@pytest.mark.parametrize("unknown", ["nobody", "999999"])
def test_unknown_user_answers_422_user_not_found_and_changes_nothing(manager_client, rep, unknown):
    lead = LeadFactory(assignee=rep)
    response = assign(manager_client, lead, unknown)
    assert response.status_code == 422
    assert "User not found." in response.headers["HX-Trigger"]
    assert response.headers["HX-Reswap"] == "none"
    lead.refresh_from_db()
    assert lead.assignee == rep
    assert not LeadEvent.objects.filter(kind="assigned").exists()


def test_inactive_user_cannot_be_assigned(manager_client):
    UserFactory(username="gone", is_active=False)
    lead = LeadFactory()
    assert assign(manager_client, lead, "gone").status_code == 422


def test_plain_post_redirects_back_to_the_lead(manager_client, rep):
    lead = LeadFactory()
    response = assign(manager_client, lead, "alice", htmx=False)
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()


def test_assigning_the_same_user_again_records_nothing(manager_client, rep):
    lead = LeadFactory(assignee=rep)
    assign(manager_client, lead, "alice")
    assert not LeadEvent.objects.filter(kind="assigned").exists()


def test_rep_may_not_assign_someone_elses_lead(rep_client, other_rep):
    lead = LeadFactory(created_by=other_rep)
    assert assign(rep_client, lead, "alice").status_code == 403
    lead.refresh_from_db()
    assert lead.assignee is None


def test_rep_may_hand_their_own_lead_to_a_colleague(rep_client, rep, other_rep):
    lead = LeadFactory(created_by=rep, assignee=rep)
    assert assign(rep_client, lead, "bob").status_code == 200
    lead.refresh_from_db()
    assert lead.assignee == other_rep


def test_detail_page_offers_a_searchable_picker_of_active_users(manager_client, rep):
    UserFactory(username="retired", is_active=False)
    lead = LeadFactory()
    html = manager_client.get(lead.get_absolute_url()).content.decode()
    assert '<datalist id="assignee-options">' in html
    assert '<option value="alice">' in html
    assert "retired" not in html
    assert ">Assign</summary>" in html


def test_detail_page_says_reassign_when_someone_is_assigned(manager_client, rep):
    lead = LeadFactory(assignee=rep)
    assert ">Reassign</summary>" in manager_client.get(lead.get_absolute_url()).content.decode()


def test_reader_sees_no_assign_control(client, reader):
    client.force_login(reader)
    lead = LeadFactory()
    html = client.get(lead.get_absolute_url()).content.decode()
    assert "assignee-options" not in html
