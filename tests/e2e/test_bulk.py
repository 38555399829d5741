"""Bulk actions in a real browser: select all matching beyond the page, undo from the
toast, the loss reason asked once in the dialog, and the layout on a phone."""

import pytest
from playwright.sync_api import expect

from leads.models import Lead, LeadEvent, Priority
from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import LeadFactory, RepFactory, loss_reason

pytestmark = pytest.mark.e2e


@pytest.fixture
def rep(transactional_db):
    return RepFactory(username="rita", first_name="Rita", last_name="Visser")


def toast(page, text):
    return page.locator("#toasts .toast", has_text=text)


def test_select_all_matching_then_undo_from_the_toast(page, live_server, rep, login, screenshot):
    urgent = LeadFactory.create_batch(30, created_by=rep, priority=Priority.URGENT)
    calm = LeadFactory(created_by=rep, priority=Priority.LOW, title="Calm one")
    login(page, live_server, rep, next_url="/leads/?priority=urgent")
    rows = page.locator('input[name="lead"][form="bulk-form"]')
    expect(rows).to_have_count(25)  # one page of 30

    page.get_by_label("Select all leads on this page").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("25 leads ticked")
    page.get_by_label("Select all 30 matching").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("All matching leads selected")
    page.get_by_label("Priority", exact=True).select_option("high")
    screenshot(page, "bulk-selected-desktop", full_page=False)
    page.get_by_role("button", name="Set", exact=True).click()

    expect(toast(page, "Set the priority of 30 leads to High.")).to_be_visible()
    page.wait_for_timeout(300)  # the toast's entrance, for the picture
    screenshot(page, "bulk-toast-desktop", full_page=False)
    assert Lead.objects.filter(pk__in=[lead.pk for lead in urgent], priority="high").count() == 30
    assert Lead.objects.get(pk=calm.pk).priority == "low"
    # The list came again as its URL filters it: no urgent lead is left on it.
    expect(page.get_by_text("No leads match these filters.")).to_be_visible()

    toast(page, "Set the priority of 30").get_by_role("button", name="Undo").click()

    expect(toast(page, "Undone: 30 leads have their earlier values back.")).to_be_visible()
    expect(rows).to_have_count(25)
    assert Lead.objects.filter(priority="urgent").count() == 30
    undone = LeadEvent.objects.filter(lead=urgent[0], data__has_key="undo_bulk").get()
    assert undone.describe() == "Undid a bulk change: Priority: High → Urgent"


def test_moving_ticked_leads_to_lost_asks_the_reason_once(
    page, live_server, rep, login, screenshot
):
    leads = LeadFactory.create_batch(3, created_by=rep)
    login(page, live_server, rep, next_url="/leads/")

    for lead in leads[:2]:
        page.get_by_label(f"Select {lead.title}", exact=True).check()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 leads ticked")
    page.get_by_label("Move to", exact=True).select_option(label="Lost")
    page.get_by_role("button", name="Move", exact=True).click()

    dialog = page.locator("#closing-dialog")
    expect(dialog.get_by_role("heading", name="Mark 2 leads as Lost")).to_be_visible()
    page.wait_for_timeout(300)  # the dialog's entrance, for the picture
    screenshot(page, "bulk-lost-dialog-desktop", full_page=False)
    dialog.get_by_role("button", name="Mark as Lost").click()
    expect(dialog.locator("#id_lost_reason_error")).to_have_text("Choose why the lead was lost.")
    dialog.get_by_label("Reason").select_option(label="Price too high")
    dialog.get_by_role("button", name="Mark as Lost").click()

    expect(toast(page, "Moved 2 leads to Lost (Price too high).")).to_be_visible()
    expect(dialog).to_be_hidden()
    reason = loss_reason("price-too-high")
    assert [Lead.objects.get(pk=lead.pk).lost_reason for lead in leads] == [reason, reason, None]


def test_the_bulk_toolbar_on_a_phone(page, live_server, rep, login, screenshot):
    leads = LeadFactory.create_batch(4, created_by=rep)
    page.set_viewport_size(PHONE)
    login(page, live_server, rep, next_url="/leads/")

    # Each lead's card keeps its own checkbox on a phone.
    one = page.get_by_label(f"Select {leads[0].title}")
    expect(one).to_be_visible()
    one.check()
    expect(page.locator("[data-bulk-count]")).to_have_text("1 lead ticked")
    screenshot(page, "bulk-card-ticked-phone")
    page.get_by_label("Select all leads on this page").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("4 leads ticked")
    bar = page.locator("#bulk-form")
    box = bar.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "bulk-toolbar-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "bulk-toolbar-desktop")


def test_recent_bulk_changes_undo_without_the_toast(page, live_server, rep, login, screenshot):
    leads = LeadFactory.create_batch(3, created_by=rep, assignee=rep)
    login(page, live_server, rep, next_url="/leads/")
    page.get_by_label("Select all leads on this page").check()
    page.get_by_label("Assign to", exact=True).select_option(label="Nobody (unassigned)")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(toast(page, "Unassigned 3 leads.")).to_be_visible()

    page.get_by_role("link", name="Recent bulk changes").click()
    expect(page.get_by_role("heading", name="Recent bulk changes")).to_be_visible()
    screenshot(page, "bulk-recent-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "bulk-recent-phone")
    page.get_by_role("button", name="Undo “Unassign”").click()

    expect(toast(page, "Undone: 3 leads have their earlier values back.")).to_be_visible()
    row = page.get_by_role("row", name="Unassign")
    expect(row.get_by_text("Undone", exact=True)).to_be_visible()  # the badge, no button
    expect(row.get_by_role("button")).to_have_count(0)
    assert {Lead.objects.get(pk=lead.pk).assignee for lead in leads} == {rep}
