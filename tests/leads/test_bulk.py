"""Bulk actions on the lead list: selection (ticked, or all matching the list's filters),
each lead through the services with its own permission check, the background run of a
large selection, and undo."""

import json
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.bulk_models import UNDO_WINDOW
from leads.models import BulkChange, Lead, LeadEvent, Priority
from leads.services import lead_update
from tests.factories import AssignmentRuleFactory, LeadFactory, default_stage, loss_reason

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "closing-dialog-body"}


def apply_url(**filters) -> str:
    url = reverse("leads:bulk_apply")
    if filters:
        url += "?" + urlencode(filters, doseq=True)
    return url


def post(client, leads=(), *, action, htmx=True, filters=None, **data):
    payload = {"lead": [lead.pk for lead in leads], "action": action, **data}
    return client.post(apply_url(**(filters or {})), payload, headers=HTMX if htmx else {})


def trigger(response) -> dict:
    return json.loads(response.headers.get("HX-Trigger", "{}"))


def fresh(lead) -> Lead:
    return Lead.objects.get(pk=lead.pk)


def signed_in(user) -> Client:
    """A browser of its own for ``user`` (the ``client`` fixtures share one)."""
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def mine(rep):
    return LeadFactory.create_batch(2, created_by=rep, assignee=rep)


# --- selection ----------------------------------------------------------------------------


def test_ticked_leads_move_to_a_stage_each_with_its_history_and_a_toast_that_can_undo(
    rep_client, mine
):
    proposal = default_stage("Proposal")

    response = post(rep_client, mine, action="stage", stage=proposal.pk)

    assert response.status_code == 200
    assert {fresh(lead).stage for lead in mine} == {proposal}
    assert {fresh(lead).probability for lead in mine} == {proposal.probability}
    change = BulkChange.objects.get()
    for lead in mine:
        event = LeadEvent.objects.get(lead=lead, kind=LeadEvent.Kind.STAGE_CHANGED)
        assert event.data["bulk"] == change.pk
        assert event.describe().startswith("Stage: New → Proposal")
    text = response.content.decode()
    assert 'hx-swap-oob="beforeend:#toasts"' in text
    assert "Moved 2 leads to Proposal." in text
    assert reverse("leads:bulk_undo", args=[change.pk]) in text
    assert "leadsChanged" in trigger(response)


def test_select_all_matching_applies_the_lists_filters_server_side_beyond_the_page(rep_client, rep):
    urgent = LeadFactory.create_batch(30, created_by=rep, priority=Priority.URGENT)
    others = LeadFactory.create_batch(3, created_by=rep, priority=Priority.LOW)

    response = post(
        rep_client,
        action="priority",
        priority="high",
        scope="all",
        filters={"priority": "urgent", "per_page": "25"},
    )

    assert response.status_code == 200
    assert "Set the priority of 30 leads to High." in response.content.decode()
    assert Lead.objects.filter(pk__in=[lead.pk for lead in urgent], priority="high").count() == 30
    assert {fresh(lead).priority for lead in others} == {"low"}


def test_select_all_matching_ignores_ids_sent_with_it(rep_client, rep):
    matching = LeadFactory(created_by=rep, priority=Priority.URGENT)
    outside = LeadFactory(created_by=rep, priority=Priority.LOW)

    post(
        rep_client,
        [outside],
        action="priority",
        priority="high",
        scope="all",
        filters={"priority": "urgent"},
    )

    assert fresh(matching).priority == "high"
    assert fresh(outside).priority == "low"


def test_list_offers_select_all_matching_with_the_count_or_without_one(rep_client, rep):
    LeadFactory.create_batch(3, created_by=rep)

    page = rep_client.get(reverse("leads:list")).content.decode()
    assert "Select all 3 matching" in page
    assert 'form="bulk-form"' in page
    assert "data-bulk-page" in page

    # A large search's count comes after the rows: the toolbar says "all matching".
    with mock.patch("leads.views.list_totals", return_value=None):
        page = rep_client.get(reverse("leads:list"), {"q": "Lead"}).content.decode()
    assert "Select all matching" in page
    assert "Select all 3" not in page


def test_a_reader_sees_no_bulk_toolbar_and_may_not_post_one(client, reader):
    lead = LeadFactory()
    client.force_login(reader)

    assert "bulk-form" not in client.get(reverse("leads:list")).content.decode()
    response = post(client, [lead], action="priority", priority="high")

    assert response.status_code == 403
    assert fresh(lead).priority == "normal"


# --- permission per lead --------------------------------------------------------------------


def test_leads_the_user_may_not_change_are_skipped_and_counted(rep_client, rep, other_rep):
    own = LeadFactory(created_by=rep)
    theirs = LeadFactory(created_by=other_rep, assignee=other_rep)

    response = post(rep_client, [own, theirs], action="stage", stage=default_stage("Proposal").pk)

    assert "Moved 1 lead to Proposal; 1 skipped: you may not change them." in (
        response.content.decode()
    )
    assert fresh(own).stage.name == "Proposal"
    assert fresh(theirs).stage.name == "New"
    assert not LeadEvent.objects.filter(lead=theirs).exists()


def test_bulk_delete_deletes_what_the_user_may_and_skips_the_rest(rep_client, rep, other_rep):
    own = LeadFactory(created_by=rep)
    theirs = LeadFactory(created_by=other_rep, assignee=other_rep)

    response = post(rep_client, [own, theirs], action="delete")

    assert "Deleted 1 lead; 1 skipped: you may not delete them." in response.content.decode()
    assert not Lead.objects.filter(pk=own.pk).exists()
    assert Lead.objects.filter(pk=theirs.pk).exists()
    assert LeadEvent.objects.filter(kind=LeadEvent.Kind.DELETED, data__lead_id=own.pk).exists()
    change = BulkChange.objects.get()
    assert not change.can_undo(rep)


def test_assign_gives_the_leads_to_the_person_chosen(manager_client, rep):
    leads = LeadFactory.create_batch(2)

    response = post(manager_client, leads, action="assign", assignee=rep.pk)

    assert "Assigned 2 leads to" in response.content.decode()
    assert {fresh(lead).assignee for lead in leads} == {rep}


def test_assign_to_nobody_unassigns(manager_client, rep):
    lead = LeadFactory(assignee=rep)

    response = post(manager_client, [lead], action="assign", assignee="none")

    assert "Unassigned 1 lead." in response.content.decode()
    assert fresh(lead).assignee is None


def test_the_assignment_rules_run_on_the_selection_for_a_manager_only(rep, manager):
    AssignmentRuleFactory(team=None, user=rep)
    lead = LeadFactory(created_by=rep)

    refused = post(signed_in(rep), [lead], action="rules")
    assert refused.status_code == 403
    assert fresh(lead).assignee is None

    response = post(signed_in(manager), [lead], action="rules")
    assert "The assignment rules assigned 1 lead." in response.content.decode()
    assert fresh(lead).assignee == rep


# --- a lost stage asks the reason once --------------------------------------------------------


def test_a_lost_stage_without_a_reason_asks_for_it_and_moves_nothing(rep_client, mine):
    lost = default_stage("Lost")

    response = post(rep_client, mine, action="stage", stage=lost.pk)

    assert response.status_code == 422
    text = response.content.decode()
    assert "Mark 2 leads as Lost" in text
    assert "Choose why the lead was lost." not in text  # asked, not wrong yet
    for lead in mine:  # the selection travels with the form
        assert f'<input type="hidden" name="lead" value="{lead.pk}">' in text
    assert {fresh(lead).stage.name for lead in mine} == {"New"}
    assert not BulkChange.objects.exists()


def test_the_dialog_sent_without_a_reason_says_what_is_missing(rep_client, mine):
    response = post(
        rep_client, mine, action="stage", stage=default_stage("Lost").pk, lost_reason=""
    )

    assert response.status_code == 422
    assert "Choose why the lead was lost." in response.content.decode()
    assert {fresh(lead).stage.name for lead in mine} == {"New"}


def test_a_lost_stage_with_a_reason_closes_every_lead_with_it(rep_client, mine):
    reason = loss_reason("price-too-high")

    response = post(
        rep_client,
        mine,
        action="stage",
        stage=default_stage("Lost").pk,
        lost_reason=reason.pk,
        competitor="Acme",
    )

    assert response.status_code == 200
    assert "closeDialog" in trigger(response)
    for lead in mine:
        lead = fresh(lead)
        assert (lead.stage.name, lead.lost_reason, lead.competitor) == ("Lost", reason, "Acme")
        assert lead.actual_close_date is not None


def test_a_lost_stage_without_javascript_asks_on_a_page_of_its_own(rep_client, mine):
    response = post(rep_client, mine, action="stage", stage=default_stage("Lost").pk, htmx=False)

    assert response.status_code == 422
    assert "<html" in response.content.decode()


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "priority", "priority": "high"}, "Select at least one lead first."),
        ({"action": "explode", "lead": ["1"]}, "That is not something the list can do"),
        ({"action": "priority", "lead": ["1"]}, "Choose a priority."),
        ({"action": "stage", "lead": ["1"], "stage": "99999"}, "That stage no longer exists"),
        ({"action": "assign", "lead": ["1"]}, "Choose who gets the leads"),
        ({"action": "priority", "priority": "high", "lead": ["x"]}, "is not a lead"),
    ],
)
def test_bad_input_answers_422_with_a_clear_error_and_changes_nothing(
    rep_client, mine, data, message
):
    data = dict(data)
    if data.get("lead") == ["1"]:
        data["lead"] = [str(mine[0].pk)]

    response = rep_client.post(apply_url(), data, headers=HTMX)

    assert response.status_code == 422
    assert message in trigger(response)["showToast"]["message"]
    assert {fresh(lead).version for lead in mine} == {mine[0].version}
    assert not BulkChange.objects.exists()


def test_invalid_filters_with_select_all_are_refused(rep_client, mine):
    response = post(
        rep_client, action="priority", priority="high", scope="all", filters={"value_min": "abc"}
    )

    assert response.status_code == 422
    assert "filters are not valid" in trigger(response)["showToast"]["message"]
    assert {fresh(lead).priority for lead in mine} == {"normal"}


def test_without_javascript_the_result_is_a_page_with_undo(rep_client, mine):
    response = post(rep_client, mine, action="priority", priority="urgent", htmx=False)

    change = BulkChange.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change.get_absolute_url()
    page = rep_client.get(response["Location"]).content.decode()
    assert "Set the priority of 2 leads to Urgent." in page
    assert "Undo this change" in page


# --- undo -----------------------------------------------------------------------------------


def test_undo_puts_the_old_values_back_in_each_leads_history(rep_client, rep, mine):
    before = [fresh(lead) for lead in mine]
    post(rep_client, mine, action="stage", stage=default_stage("Won").pk)
    change = BulkChange.objects.get()

    response = rep_client.post(reverse("leads:bulk_undo", args=[change.pk]), headers=HTMX)

    assert response.status_code == 200
    assert (
        "Undone: 2 leads have their earlier values back."
        in (trigger(response)["showToast"]["message"])
    )
    for old in before:
        lead = fresh(old)
        assert (lead.stage, lead.probability, lead.stage_entered_at) == (
            old.stage,
            old.probability,
            old.stage_entered_at,
        )
        assert (lead.actual_close_date, lead.won_value, lead.closed_at) == (None, None, None)
        assert lead.version == old.version + 2
        undone = LeadEvent.objects.filter(lead=lead, data__undo_bulk=change.pk)
        sentences = [event.describe() for event in undone]
        assert any(s.startswith("Undid a bulk change: Reopened; was Won") for s in sentences)
    change.refresh_from_db()
    assert change.status == BulkChange.Status.UNDONE
    assert (change.restored, change.not_restored) == (2, 0)


def test_undo_leaves_a_lead_changed_since_as_it_is_and_counts_it(rep_client, rep, mine):
    post(rep_client, mine, action="priority", priority="urgent")
    lead_update(lead_id=mine[1].pk, values={"title": "Edited since"}, by=rep)
    change = BulkChange.objects.get()

    response = rep_client.post(reverse("leads:bulk_undo", args=[change.pk]), headers=HTMX)

    assert "1 changed since" in trigger(response)["showToast"]["message"]
    assert fresh(mine[0]).priority == "normal"
    assert fresh(mine[1]).priority == "urgent"


def test_undo_of_assignment_restores_each_leads_own_assignee(manager_client, rep, other_rep):
    one, two = LeadFactory(assignee=rep), LeadFactory(assignee=other_rep)
    post(manager_client, [one, two], action="assign", assignee="none")

    manager_client.post(reverse("leads:bulk_undo", args=[BulkChange.objects.get().pk]))

    assert (fresh(one).assignee, fresh(two).assignee) == (rep, other_rep)
    event = LeadEvent.objects.filter(lead=one, kind=LeadEvent.Kind.ASSIGNED).first()
    assert event.describe().startswith("Undid a bulk change: Assigned to")


def test_only_its_maker_can_undo_and_only_once(rep_client, other_rep, mine):
    post(rep_client, mine, action="priority", priority="urgent")
    change = BulkChange.objects.get()
    url = reverse("leads:bulk_undo", args=[change.pk])

    assert signed_in(other_rep).post(url, headers=HTMX).status_code == 404
    assert {fresh(lead).priority for lead in mine} == {"urgent"}

    assert rep_client.post(url, headers=HTMX).status_code == 200
    again = rep_client.post(url, headers=HTMX)
    assert again.status_code == 422
    assert "undone already" in trigger(again)["showToast"]["message"]


def test_undo_is_refused_after_the_undo_window(rep_client, mine, time_machine):
    post(rep_client, mine, action="priority", priority="urgent")
    change = BulkChange.objects.get()
    time_machine.move_to(change.created_at + UNDO_WINDOW, tick=False)

    response = rep_client.post(reverse("leads:bulk_undo", args=[change.pk]), headers=HTMX)

    assert response.status_code == 422
    assert "too old" in trigger(response)["showToast"]["message"]
    assert {fresh(lead).priority for lead in mine} == {"urgent"}


def test_recent_bulk_changes_lists_my_changes_with_undo(rep_client, other_rep, mine):
    post(rep_client, mine, action="priority", priority="urgent")
    theirs = LeadFactory(created_by=other_rep)
    post(signed_in(other_rep), [theirs], action="priority", priority="low")

    page = rep_client.get(reverse("leads:bulk_list")).content.decode()

    assert "Set priority to Urgent" in page
    assert "Set priority to Low" not in page
    change = BulkChange.objects.get(created_by__username="alice")
    response = rep_client.post(
        reverse("leads:bulk_undo", args=[change.pk]), {"from": "list"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("leads:bulk_list")
    assert "Undone: 2 leads have their earlier values back." in response.content.decode()


# --- large selections -------------------------------------------------------------------------


def test_a_large_selection_runs_in_the_background_with_a_progress_page(
    rep_client, rep, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("leads.bulk_views.BACKGROUND_OVER", 2)
    monkeypatch.setattr("leads.bulk.CHUNK", 2)
    leads = LeadFactory.create_batch(5, created_by=rep)

    with django_capture_on_commit_callbacks() as callbacks:
        response = post(rep_client, action="priority", priority="high", scope="all")
    change = BulkChange.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == change.get_absolute_url()
    waiting = rep_client.get(change.get_absolute_url()).content.decode()
    assert "Waiting to start" in waiting
    assert 'hx-trigger="every 1s"' in waiting
    assert {fresh(lead).priority for lead in leads} == {"normal"}

    for callback in callbacks:  # the worker (the immediate backend runs it here)
        callback()

    change.refresh_from_db()
    assert (change.status, change.done, change.changed) == ("done", 5, 5)
    done = rep_client.get(change.get_absolute_url()).content.decode()
    assert "Set the priority of 5 leads to High." in done
    assert 'hx-trigger="every 1s"' not in done
    assert {fresh(lead).priority for lead in leads} == {"high"}


def test_a_selection_over_the_limit_is_refused(rep_client, mine, monkeypatch):
    monkeypatch.setattr("leads.bulk.MAX_SELECTION", 1)

    response = post(rep_client, action="priority", priority="high", scope="all")

    assert response.status_code == 422
    assert "narrow the filters" in trigger(response)["showToast"]["message"]


def test_applying_to_a_page_of_100_leads_takes_as_many_queries_as_to_a_page_of_25(rep_client, rep):
    few = LeadFactory.create_batch(25, created_by=rep)
    many = LeadFactory.create_batch(100, created_by=rep)
    with CaptureQueriesContext(connection) as small:
        post(rep_client, few, action="priority", priority="high")
    with CaptureQueriesContext(connection) as large:
        post(rep_client, many, action="priority", priority="high")

    assert len(small.captured_queries) == len(large.captured_queries)


def test_other_reps_cannot_see_my_bulk_change(rep_client, other_rep, mine):
    post(rep_client, mine, action="priority", priority="urgent")

    url = BulkChange.objects.get().get_absolute_url()

    assert signed_in(other_rep).get(url).status_code == 404
