"""Merging two leads in a real browser: find the other lead, pick values, confirm, merge."""

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from leads.models import Lead, LeadEvent, Priority
from leads.services import lead_add_note
from tests.e2e.conftest import PHONE
from tests.factories import ClientFactory, LeadFactory, RepFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def rep(transactional_db):
    return RepFactory(username="rita", first_name="Rita", last_name="Visser")


@pytest.fixture
def pair(rep):
    acme = ClientFactory(name="Acme BV")
    keep = LeadFactory(
        title="Acme fleet",
        client=acme,
        created_by=rep,
        value=None,
        description="Twelve vans for the Utrecht depot.",
    )
    other = LeadFactory(
        title="Acme fleet renewal",
        client=acme,
        created_by=rep,
        assignee=rep,
        value=Decimal(25000),
        priority=Priority.HIGH,
        expected_close_date=datetime.date(2027, 3, 31),
        description="They may lease rather than buy.",
    )
    lead_add_note(lead_id=other.pk, text="Called Ann: wants a quote by Friday.", by=rep)
    return keep, other


def test_merge_a_lead_found_by_search_picking_values(
    page, live_server, rep, pair, login, screenshot
):
    keep, other = pair
    LeadFactory(title="Globex renewal", created_by=rep)
    login(page, live_server, rep, next_url=keep.get_absolute_url())
    page.get_by_role("link", name="Merge with…").click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Merge “Acme fleet” with another lead")
    # The client's other leads are offered at once; the search narrows any lead down.
    results = page.locator("#merge-candidates")
    expect(results.get_by_role("link", name="Acme fleet renewal", exact=True)).to_be_visible()
    search = page.get_by_label("Find the other lead")
    expect(search).to_be_focused()
    search.fill("globex")
    expect(results.get_by_role("link", name="Globex renewal", exact=True)).to_be_visible()
    expect(results.get_by_role("link", name="Acme fleet renewal", exact=True)).to_have_count(0)
    search.fill("renewal")
    expect(results.get_by_role("link", name="Acme fleet renewal", exact=True)).to_be_visible()
    screenshot(page, "merge-search-desktop")

    results.get_by_role("link", name="Compare “Acme fleet renewal” with this lead").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Merge two leads")
    value = page.get_by_role("group", name="Value")
    expect(value.get_by_role("radio", checked=True)).to_have_count(1)
    # Only the other lead has a value: it is picked already.
    expect(value.get_by_label("€25,000", exact=False)).to_be_checked()
    title = page.get_by_role("group", name="Title")
    expect(title.get_by_label("Acme fleet", exact=False).first).to_be_checked()
    # Pick with the keyboard: the other lead's title.
    title.get_by_label("Acme fleet renewal", exact=False).check()
    page.get_by_role("group", name="Description").get_by_label("Both", exact=False).check()
    screenshot(page, "merge-compare-desktop")

    page.get_by_role("button", name=f"Merge into #{keep.pk}").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("“Acme fleet renewal” is deleted")
    dialog.get_by_role("button", name="Merge").click()

    expect(page).to_have_url(f"{live_server.url}{keep.get_absolute_url()}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme fleet renewal")
    expect(page.locator("#toasts")).to_contain_text(f"Merged “Acme fleet renewal” (#{other.pk})")
    timeline = page.locator("#lead-timeline")
    expect(timeline).to_contain_text(f"Merged from #{other.pk} “Acme fleet renewal”")
    expect(timeline).to_contain_text("Called Ann: wants a quote by Friday.")
    merged = Lead.objects.get(pk=keep.pk)
    assert (merged.title, merged.value) == ("Acme fleet renewal", 25000)
    assert merged.description == (
        "Twelve vans for the Utrecht depot.\n\nThey may lease rather than buy."
    )
    assert not Lead.objects.filter(pk=other.pk).exists()
    assert LeadEvent.objects.get(kind="deleted").data["merged_into"] == keep.pk
    screenshot(page, "merge-done-desktop")


def test_merge_pages_at_phone_width(page, live_server, rep, pair, login, screenshot):
    keep, other = pair
    page.set_viewport_size(PHONE)
    login(page, live_server, rep, next_url=f"/leads/{keep.pk}/merge/")
    expect(page.locator("#merge-candidates")).to_contain_text("Acme fleet renewal")
    # The row's action fits the screen: the table folds its columns instead of scrolling.
    compare = page.get_by_role("link", name="Compare “Acme fleet renewal” with this lead")
    expect(compare).to_be_in_viewport(ratio=1)
    screenshot(page, "merge-search-phone")
    page.goto(f"{live_server.url}/leads/{keep.pk}/merge/?with={other.pk}")
    expect(page.get_by_role("group", name="Value")).to_contain_text(f"#{other.pk}, merged in:")
    screenshot(page, "merge-compare-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_cancelling_the_confirmation_merges_nothing(page, live_server, rep, pair, login):
    keep, other = pair
    login(page, live_server, rep, next_url=f"/leads/{keep.pk}/merge/?with={other.pk}")
    page.get_by_role("button", name=f"Merge into #{keep.pk}").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(300)
    assert Lead.objects.filter(pk=other.pk).exists()
    assert Lead.objects.get(pk=keep.pk).title == "Acme fleet"
