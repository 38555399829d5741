"""Board quick actions (issue 19): assign a card (to me, to someone, to nobody) and set its
priority from the board, the card updated in place."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import Lead, LeadEvent, Priority
from tests.factories import LeadFactory, RepFactory, default_stage
from tests.leads.test_board import card, get_board, many_leads, parse

pytestmark = pytest.mark.django_db

BOARD = "http://testserver/board/"


def htmx(target: str, current_url: str = BOARD) -> dict:
    return {"HX-Request": "true", "HX-Target": target, "HX-Current-URL": current_url}


def quick_url(lead) -> str:
    return reverse("leads:quick_actions", args=[lead.pk])


def assign(client, lead, current_url=BOARD, **data):
    return client.post(
        reverse("leads:assign", args=[lead.pk]),
        {"origin": "board", **data},
        headers=htmx(f"card-{lead.pk}", current_url),
    )


def set_priority(client, lead, priority, **headers):
    return client.post(
        reverse("leads:set_priority", args=[lead.pk]),
        {"origin": "board", "priority": priority},
        headers=headers or htmx(f"card-{lead.pk}"),
    )


def triggers(response) -> dict:
    return json.loads(response["HX-Trigger"])


def unchanged(lead) -> None:
    saved = Lead.objects.get(pk=lead.pk)
    assert (saved.assignee_id, saved.priority, saved.version) == (
        lead.assignee_id,
        lead.priority,
        lead.version,
    )
    assert not LeadEvent.objects.filter(lead=lead).exists()


@pytest.fixture
def bob(db):
    return RepFactory(username="bob", first_name="Bob", last_name="Bakker")


# --- the card and its dialog ---------------------------------------------------------------


def test_a_card_the_user_may_change_has_a_named_quick_actions_button(rep_client, rep, bob):
    mine = LeadFactory(title="Fleet renewal", created_by=rep)
    theirs = LeadFactory(created_by=bob, assignee=bob)
    html = get_board(rep_client).content
    node = card(html, mine)
    assert node.attrs["id"] == f"card-{mine.pk}"
    button = node.find("a", cls="board-quick")
    assert button.attrs["aria-label"] == "Assign or set the priority of “Fleet renewal”"
    assert button.attrs["href"] == quick_url(mine)  # a page without JavaScript
    assert button.attrs["hx-target"] == "#quick-dialog-body"
    assert button.attrs["aria-haspopup"] == "dialog"
    assert card(html, theirs).find("a", cls="board-quick") is None
    assert parse(html).find("dialog", id="quick-dialog") is not None


def test_a_reader_gets_no_quick_actions_and_a_manager_gets_them_on_every_card(
    client, reader, manager, rep
):
    LeadFactory.create_batch(2, created_by=rep)
    client.force_login(reader)
    assert parse(get_board(client).content).find_all("a", cls="board-quick") == []
    client.force_login(manager)
    assert len(parse(get_board(client).content).find_all("a", cls="board-quick")) == 2


def test_the_dialog_offers_assign_to_me_to_someone_and_each_priority(rep_client, rep, bob):
    lead = LeadFactory(created_by=rep, assignee=bob, priority=Priority.HIGH)
    response = rep_client.get(quick_url(lead), headers=htmx("quick-dialog-body"))
    assert response.status_code == 200
    page = parse(response.content)
    assert page.find("html") is None  # the dialog's content alone
    assert page.find("button", name="me").text == "Assign to me"
    assert page.find("input", id="quick-assignee").attrs["list"] == "quick-assignee-options"
    names = [o.attrs["value"] for o in page.find("datalist").find_all("option")]
    assert "Bob Bakker" in names
    assert page.find("button", name="assignee", value="").text == "Unassign"
    buttons = page.find_all("button", name="priority")
    assert [b.visible_text() for b in buttons] == ["Low", "Normal", "High", "Urgent"]
    assert [b.attrs["aria-pressed"] for b in buttons] == ["false", "false", "true", "false"]
    for form in page.find_all("form"):
        assert form.attrs["hx-target"] == f"#card-{lead.pk}"
        assert form.find("input", name="origin").attrs["value"] == "board"


def test_the_dialog_is_a_page_of_its_own_without_javascript(rep_client, rep):
    lead = LeadFactory(created_by=rep, assignee=rep)
    response = rep_client.get(quick_url(lead))
    assert response.status_code == 200
    page = parse(response.content)
    assert page.find("html") is not None
    assert page.find("button", name="me") is None  # assigned to the rep already


def test_the_dialog_of_a_lead_the_user_may_not_change_is_403(rep_client, bob):
    lead = LeadFactory(created_by=bob, assignee=bob)
    assert rep_client.get(quick_url(lead), headers=htmx("quick-dialog-body")).status_code == 403


# --- assigning ---------------------------------------------------------------------------


def test_assign_to_me_answers_with_the_card_updated_a_toast_and_closes_the_dialog(rep_client, rep):
    rep.first_name, rep.last_name = "Alice", "de Vries"
    rep.save()
    lead = LeadFactory(title="Fleet renewal", created_by=rep)

    response = assign(rep_client, lead, me="1")

    assert response.status_code == 200
    node = card(response.content, lead)
    assert node.attrs["id"] == f"card-{lead.pk}"
    assert "Assigned to Alice de Vries" in node.text
    assert node.find("a", cls="board-quick") is not None
    assert "<html" not in response.content.decode()
    assert triggers(response)["showToast"] == {
        "level": "success",
        "message": "Assigned “Fleet renewal” to Alice de Vries.",
    }
    assert "closeDialog" in triggers(response)
    assert Lead.objects.get(pk=lead.pk).assignee == rep
    event = LeadEvent.objects.get(lead=lead)
    assert (event.kind, event.actor) == (LeadEvent.Kind.ASSIGNED, rep)


def test_assign_to_someone_by_name_and_unassign(rep_client, rep, bob):
    lead = LeadFactory(created_by=rep)
    response = assign(rep_client, lead, assignee="Bob Bakker")
    assert "Assigned to Bob Bakker" in card(response.content, lead).text
    assert Lead.objects.get(pk=lead.pk).assignee == bob

    response = assign(rep_client, lead, assignee="")
    assert card(response.content, lead).find("span", cls="avatar") is None
    assert triggers(response)["showToast"]["message"] == f"“{lead.title}” is now unassigned."
    assert Lead.objects.get(pk=lead.pk).assignee is None


def test_an_unknown_name_is_refused_as_a_toast_and_swaps_nothing(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = assign(rep_client, lead, assignee="Nobody Known")
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"
    assert triggers(response)["showToast"] == {"level": "error", "message": "User not found."}
    unchanged(lead)


def test_a_rep_may_not_assign_another_reps_lead_from_the_board(rep_client, bob):
    lead = LeadFactory(created_by=bob, assignee=bob)
    response = assign(rep_client, lead, me="1")
    assert response.status_code == 403
    assert response["HX-Reswap"] == "none"
    assert "showToast" in triggers(response)
    unchanged(lead)


def test_a_lead_deleted_meanwhile_is_a_404_toast(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    pk = lead.pk
    lead.delete()
    response = rep_client.post(
        reverse("leads:assign", args=[pk]), {"origin": "board", "me": "1"}, headers=htmx("card")
    )
    assert response.status_code == 404
    assert "showToast" in triggers(response)


def test_a_card_that_leaves_the_boards_filters_has_the_board_fetched_again(rep_client, rep, bob):
    lead = LeadFactory(title="Fleet renewal", created_by=rep, assignee=rep)
    LeadFactory(title="Still mine", created_by=rep, assignee=rep)

    response = assign(rep_client, lead, current_url=f"{BOARD}?assignee=me", assignee="bob")

    assert response.status_code == 200
    assert "Assigned to Bob Bakker" in card(response.content, lead).text
    assert triggers(response)["showToast"]["message"] == (
        "Assigned “Fleet renewal” to Bob Bakker. It no longer matches the board’s filters."
    )
    # The page fetches its board region again (board.js), without the card.
    assert {"closeDialog", "boardChanged"} <= set(triggers(response))


def test_a_card_still_within_the_boards_filters_stays_where_it_is(rep_client, rep, bob):
    lead = LeadFactory(title="Fleet renewal", created_by=rep, assignee=rep)
    response = assign(rep_client, lead, current_url=f"{BOARD}?q=fleet", assignee="bob")
    assert "boardChanged" not in triggers(response)
    assert triggers(response)["showToast"]["message"] == "Assigned “Fleet renewal” to Bob Bakker."


def test_without_javascript_an_action_goes_back_to_the_board(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.post(
        reverse("leads:assign", args=[lead.pk]), {"origin": "board", "me": "1"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:board", args=[lead.stage.pipeline_id])
    assert Lead.objects.get(pk=lead.pk).assignee == rep


def test_the_lead_pages_assign_picker_still_answers_with_the_page(rep_client, rep, bob):
    lead = LeadFactory(created_by=rep)
    response = rep_client.post(
        reverse("leads:assign", args=[lead.pk]),
        {"assignee": "bob"},
        headers={"HX-Request": "true", "HX-Target": "lead-stage"},
    )
    assert response.status_code == 200
    assert 'id="lead-assignee"' in response.content.decode()
    assert triggers(response)["showToast"]["message"] == "Assigned to Bob Bakker."


# --- priority ----------------------------------------------------------------------------


def test_set_priority_answers_with_the_card_showing_its_badge(rep_client, rep):
    lead = LeadFactory(title="Fleet renewal", created_by=rep, priority=Priority.NORMAL)

    response = set_priority(rep_client, lead, "urgent")

    assert response.status_code == 200
    node = card(response.content, lead)
    assert "is-urgent" in node.classes()
    assert node.find("span", cls="badge-urgent") is not None
    assert triggers(response)["showToast"]["message"] == "“Fleet renewal” is urgent priority now."
    assert "closeDialog" in triggers(response)
    saved = Lead.objects.get(pk=lead.pk)
    assert (saved.priority, saved.version) == ("urgent", lead.version + 1)
    event = LeadEvent.objects.get(lead=lead)
    assert event.describe() == "Priority: Normal → Urgent"


@pytest.mark.parametrize("priority", ["", "critical"])
def test_an_unknown_priority_is_refused_as_a_toast(rep_client, rep, priority):
    lead = LeadFactory(created_by=rep)
    response = set_priority(rep_client, lead, priority)
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"
    assert triggers(response)["showToast"]["level"] == "error"
    unchanged(lead)


def test_a_rep_may_not_set_the_priority_of_another_reps_lead(rep_client, bob):
    lead = LeadFactory(created_by=bob, assignee=bob)
    response = set_priority(rep_client, lead, "urgent")
    assert response.status_code == 403
    assert "showToast" in triggers(response)
    unchanged(lead)


def test_a_manager_may_set_any_leads_priority(manager_client, bob):
    lead = LeadFactory(created_by=bob, assignee=bob, stage=default_stage("Proposal"))
    assert set_priority(manager_client, lead, "low").status_code == 200
    assert Lead.objects.get(pk=lead.pk).priority == "low"


def test_setting_the_priority_on_the_lead_page_answers_with_its_region(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.post(
        reverse("leads:set_priority", args=[lead.pk]),
        {"priority": "high"},
        headers={"HX-Request": "true", "HX-Target": "lead-stage"},
    )
    assert response.status_code == 200
    assert 'id="lead-assignee"' in response.content.decode()
    assert "timelineChanged" in triggers(response)


# --- queries -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["assign", "priority"])
def test_a_quick_actions_queries_do_not_grow_with_the_board(rep_client, rep, action):
    def act():
        lead = LeadFactory(created_by=rep)
        with CaptureQueriesContext(connection) as queries:
            if action == "assign":
                response = assign(rep_client, lead, me="1")
            else:
                response = set_priority(rep_client, lead, "high")
        assert response.status_code == 200
        return len(queries.captured_queries)

    many_leads(30, rep)
    small = act()
    many_leads(270, rep)
    assert small == act()
