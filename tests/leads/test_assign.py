"""Assigning a lead from its detail page."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
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


def test_assigning_by_the_full_name_the_picker_shows(manager_client):
    anna = UserFactory(username="avries", first_name="Anna", last_name="de Vries")
    lead = LeadFactory()
    response = assign(manager_client, lead, "Anna de Vries")
    assert response.status_code == 200
    assert "Assigned to Anna de Vries." in response.headers["HX-Trigger"]
    lead.refresh_from_db()
    assert lead.assignee == anna


@pytest.mark.parametrize(
    "typed", ["anna DE VRIES", "  Anna   de\tVries ", "ANNA DE VRIES (AVRIES)"]
)
def test_a_typed_name_is_matched_whatever_its_case_and_spacing(manager_client, typed):
    anna = UserFactory(username="avries", first_name="Anna", last_name="de Vries")
    lead = LeadFactory()
    assert assign(manager_client, lead, typed).status_code == 200
    lead.refresh_from_db()
    assert lead.assignee == anna


def test_name_with_username_in_brackets_picks_one_of_two_namesakes(manager_client):
    UserFactory(username="anna", first_name="Anna", last_name="de Vries")
    anna2 = UserFactory(username="anna2", first_name="Anna", last_name="de Vries")
    piet = UserFactory(username="piet", first_name="Piet", last_name="Jansen")
    lead = LeadFactory()
    assign(manager_client, lead, "Anna de Vries (anna2)")
    lead.refresh_from_db()
    assert lead.assignee == anna2
    # Typed by hand, the brackets also name someone whose name nobody shares.
    assign(manager_client, lead, "Piet Jansen (piet)")
    lead.refresh_from_db()
    assert lead.assignee == piet


def test_every_name_the_picker_lists_assigns_that_user(manager_client):
    people = {
        "Anna de Vries (anna)": UserFactory(
            username="anna", first_name="Anna", last_name="de Vries"
        ),
        "Anna de Vries (anna2)": UserFactory(
            username="anna2", first_name="Anna ", last_name=" de Vries"
        ),
        # One's username is the other's full name: each is listed by a name that is theirs.
        "bob": UserFactory(username="bob", first_name="", last_name=""),
        "Bob (bsmith)": UserFactory(username="bsmith", first_name="Bob", last_name=""),
        "O'Brien & Sons": UserFactory(username="obrien", first_name="O'Brien", last_name="& Sons"),
        # Longer than a username: the field takes the longest name the picker lists.
        f"{'M' * 150} {'N' * 150} (long)": UserFactory(
            username="long", first_name="M" * 150, last_name="N" * 150
        ),
        f"{'M' * 150} {'N' * 150} (long2)": UserFactory(
            username="long2", first_name="M" * 150, last_name="N" * 150
        ),
    }
    lead = LeadFactory()
    names = listed(manager_client.get(lead.get_absolute_url()).content.decode())
    assert set(people) <= set(names)
    for name, user in people.items():
        assert assign(manager_client, lead, name).status_code == 200, name
        lead.refresh_from_db()
        assert lead.assignee == user, name


def test_a_name_that_is_also_someone_elses_username_is_refused_not_guessed(manager_client):
    UserFactory(username="bob", first_name="Robert", last_name="Bakker")
    UserFactory(username="bsmith", first_name="Bob", last_name="")
    lead = LeadFactory()
    names = listed(manager_client.get(lead.get_absolute_url()).content.decode())
    assert "Bob (bsmith)" in names
    assert "Robert Bakker" in names
    response = assign(manager_client, lead, "bob")
    assert response.status_code == 422
    assert "Several users are called Bob: pick one from the list." in response.headers["HX-Trigger"]
    lead.refresh_from_db()
    assert lead.assignee is None


def test_username_and_id_still_name_one_of_two_namesakes(manager_client):
    UserFactory(username="anna", first_name="Anna", last_name="de Vries")
    anna2 = UserFactory(username="anna2", first_name="Anna", last_name="de Vries")
    by_username, by_id = LeadFactory(), LeadFactory()
    assign(manager_client, by_username, "ANNA2")
    assign(manager_client, by_id, str(anna2.pk))
    by_username.refresh_from_db()
    by_id.refresh_from_db()
    assert by_username.assignee == by_id.assignee == anna2


@pytest.mark.parametrize("htmx", [True, False])
def test_a_full_name_two_active_users_share_is_refused_and_changes_nothing(
    manager_client, rep, htmx
):
    UserFactory(username="anna", first_name="Anna", last_name="de Vries")
    UserFactory(username="anna2", first_name="Anna", last_name="de Vries")
    lead = LeadFactory(assignee=rep)
    response = assign(manager_client, lead, "anna de  vries", htmx=htmx)
    message = "Several users are called Anna de Vries: pick one from the list."
    if htmx:
        assert response.status_code == 422
        assert message in response.headers["HX-Trigger"]
        assert response.headers["HX-Reswap"] == "none"  # the picker keeps what was typed
    else:
        assert response.status_code == 302
        assert message in manager_client.get(response["Location"]).content.decode()
    lead.refresh_from_db()
    assert lead.assignee == rep
    assert not LeadEvent.objects.filter(kind="assigned").exists()


def test_an_inactive_user_is_not_found_by_name_nor_a_namesake(manager_client):
    UserFactory(username="gone", first_name="Greta", last_name="Gone", is_active=False)
    UserFactory(username="anna_old", first_name="Anna", last_name="de Vries", is_active=False)
    anna = UserFactory(username="anna", first_name="Anna", last_name="de Vries")
    lead = LeadFactory()
    response = assign(manager_client, lead, "Greta Gone")
    assert response.status_code == 422
    assert "User not found." in response.headers["HX-Trigger"]
    assert assign(manager_client, lead, "Anna de Vries (anna_old)").status_code == 422
    assert assign(manager_client, lead, "Anna de Vries").status_code == 200
    lead.refresh_from_db()
    assert lead.assignee == anna


@pytest.mark.parametrize("unknown", ["nobody", "999999", "Nobody Known", "Alice (nobody)"])
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


def test_detail_page_offers_a_searchable_picker_of_active_users_by_full_name(manager_client):
    UserFactory(username="anna", first_name="Anna", last_name="de Vries")
    UserFactory(username="nameless", first_name="", last_name="")
    UserFactory(username="retired", first_name="Rita", last_name="Retired", is_active=False)
    lead = LeadFactory()
    html = manager_client.get(lead.get_absolute_url()).content.decode()
    assert '<datalist id="assignee-options">' in html
    names = listed(html)
    assert "Anna de Vries" in names
    assert "nameless" in names  # no full name: the username
    assert "anna" not in names
    assert "Rita Retired" not in names
    assert "retired" not in html
    assert ">Assign</summary>" in html


def test_picker_adds_the_username_to_a_name_two_active_users_share(
    manager_client, django_assert_num_queries
):
    UserFactory(username="anna", first_name="Anna", last_name="de Vries")
    UserFactory(username="anna2", first_name="anna", last_name="De  Vries")
    UserFactory(username="anna3", first_name="Anna", last_name="de Vries", is_active=False)
    UserFactory(username="piet", first_name="Piet", last_name="Jansen")
    lead = LeadFactory()
    with CaptureQueriesContext(connection) as queries:
        names = listed(manager_client.get(lead.get_absolute_url()).content.decode())
    assert "Anna de Vries (anna)" in names
    assert "anna De Vries (anna2)" in names
    assert "Anna de Vries" not in names
    assert not [name for name in names if "anna3" in name]  # inactive: not even a namesake
    assert "Piet Jansen" in names
    # However many people and namesakes, the list costs the same one query.
    UserFactory.create_batch(5, first_name="Jan", last_name="Smit")
    with django_assert_num_queries(len(queries)):
        names = listed(manager_client.get(lead.get_absolute_url()).content.decode())
    assert len([name for name in names if name.startswith("Jan Smit (user")]) == 5


def listed(html: str) -> list[str]:
    """The names the assign picker lists, in order."""
    datalist = re.search(r'<datalist id="assignee-options">(.*?)</datalist>', html, re.S)
    return [unescape(name) for name in re.findall(r'<option value="([^"]*)"', datalist[1])]


def test_detail_page_says_reassign_when_someone_is_assigned(manager_client, rep):
    lead = LeadFactory(assignee=rep)
    assert ">Reassign</summary>" in manager_client.get(lead.get_absolute_url()).content.decode()


def test_reader_sees_no_assign_control(client, reader):
    client.force_login(reader)
    lead = LeadFactory()
    html = client.get(lead.get_absolute_url()).content.decode()
    assert "assignee-options" not in html
