"""The lead list at a phone's width, and the small things a user noticed on the pages."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Priority
from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import (
    ClientFactory,
    LeadFactory,
    ManagerFactory,
    RepFactory,
    default_stage,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def rep(transactional_db):
    return RepFactory(username="rita", first_name="Rita", last_name="Visser")


@pytest.fixture
def some_leads(rep):
    today = timezone.localdate()
    acme = ClientFactory(name="Acme Logistics")
    globex = ClientFactory(name="Globex Holding International")
    fleet = LeadFactory(
        title="Fleet renewal for the northern depots",
        client=acme,
        stage=default_stage("Proposal"),
        value=Decimal("1734250"),
        priority=Priority.HIGH,
        expected_close_date=today + datetime.timedelta(days=12),
        assignee=rep,
    )
    LeadFactory(
        title="Solar panels",
        client=globex,
        stage=default_stage("Qualified"),
        value=Decimal(4800),
        priority=Priority.URGENT,
        expected_close_date=today - datetime.timedelta(days=3),
    )
    LeadFactory(title="Office chairs", stage=default_stage("New"), value=None)
    return fleet


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


# --- the list on a phone ----------------------------------------------------------------------


def test_on_a_phone_each_lead_is_a_card_and_the_filters_fold_behind_a_button(
    page, live_server, rep, some_leads, login, screenshot
):
    page.set_viewport_size(PHONE)
    login(page, live_server, rep, next_url="/leads/")
    assert page_width(page) <= PHONE["width"]  # no sideways scrolling: nothing is cut off

    card = page.locator("tbody tr", has_text="Fleet renewal")
    expect(card).to_have_css("display", "grid")
    for seen in ("Acme Logistics", "Proposal", "€1,734,250", "High"):
        expect(card.get_by_text(seen, exact=True)).to_be_visible()
    expect(card.locator("td[data-label=Due] time")).to_be_visible()
    # Each figure is labelled, to the eye and to screen readers alike.
    expect(card.locator("td[data-label=Value]")).to_have_accessible_name("Value €1,734,250")
    expect(card.get_by_text("Rita Visser")).to_be_hidden()  # the assignee is for wide screens
    expect(card.get_by_text("Website")).to_be_hidden()  # so is the source
    # The title is the card's link.
    card.get_by_role("link", name="Fleet renewal for the northern depots").is_visible()

    toggle = page.get_by_role("button", name="Filters")
    search = page.get_by_label("Search", exact=True)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(search).to_be_hidden()
    screenshot(page, "lead-list-phone")

    # From the keyboard: the button opens the bar, Tab goes on into it.
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(search).to_be_visible()
    screenshot(page, "lead-list-phone-filters")
    search.fill("Solar")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("Solar panels")
    # The chips say what is filtered while the bar is folded again.
    toggle.press(" ")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(search).to_be_hidden()
    expect(page.locator(".chips")).to_contain_text("Solar")
    assert page_width(page) <= PHONE["width"]

    # Sorting stays at hand: the column headings are a strip of sort links above the cards.
    page.locator("thead").get_by_role("link", name=re.compile(r"^Value")).click()
    expect(page).to_have_url(re.compile(r"sort=-?value"))

    # "Clear all" brings the whole list back, its button folded and working.
    page.locator(".chips").get_by_role("link", name="Clear all").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(search).to_be_hidden()
    toggle.click()
    expect(search).to_be_visible()


def test_on_a_wide_screen_the_list_is_a_table_with_the_filters_open(
    page, live_server, rep, some_leads, login, screenshot
):
    login(page, live_server, rep, next_url="/leads/")
    expect(page.get_by_role("button", name="Filters")).to_be_hidden()
    expect(page.get_by_label("Search", exact=True)).to_be_visible()
    row = page.locator("tbody tr", has_text="Fleet renewal")
    expect(row).to_have_css("display", "table-row")
    expect(row.get_by_text("Rita Visser")).to_be_visible()
    # The title looks like the link it is: in the links' colour.
    colours = page.evaluate(
        """() => {
            const link = document.createElement("a");
            link.href = "/";
            document.body.append(link);
            const title = document.querySelector("td.cell-title a");
            return [getComputedStyle(title).color, getComputedStyle(link).color];
        }"""
    )
    assert colours[0] == colours[1]
    screenshot(page, "lead-list-desktop")


def test_without_javascript_the_filters_are_simply_there_on_a_phone(
    browser, live_server, rep, some_leads, login
):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    try:
        login(page, live_server, rep, next_url="/leads/")
        expect(page.get_by_label("Search", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Filters")).to_be_hidden()
        assert page_width(page) <= PHONE["width"]
    finally:
        context.close()


# --- the small things -------------------------------------------------------------------------


def test_a_rounded_total_shows_the_exact_amount_on_hover(page, live_server, rep, some_leads, login):
    login(page, live_server, rep, next_url="/leads/")
    total = page.locator("#result-summary .money-compact").first
    expect(total.locator("[aria-hidden=true]")).to_have_text("€1.7M")  # what is seen
    expect(total.locator("[aria-hidden=true]")).to_be_visible()
    expect(total).to_have_attribute("title", "€1,739,050")  # on hover
    expect(total).to_match_aria_snapshot("- text: €1,739,050")  # what screen readers hear


def test_the_timeline_follows_a_move_an_assignment_and_a_note_without_a_reload(
    page, live_server, login, screenshot
):
    manager = ManagerFactory(username="maria", first_name="Maria", last_name="de Boer")
    alice = RepFactory(username="alice", first_name="Alice", last_name="de Vries")
    RepFactory(username="bob", first_name="Bob", last_name="Janssen")
    lead = LeadFactory(title="Depot lighting", assignee=alice, stage=default_stage("New"))
    login(page, live_server, manager, next_url=f"/leads/{lead.pk}/")
    page.evaluate("() => { window.__sameDocument = true; }")
    newest = page.locator("#lead-timeline .timeline-item").first

    page.locator(".tracker-steps").get_by_role("button", name=re.compile(r"^Qualified")).click()
    expect(newest).to_contain_text("Stage: New → Qualified")

    picker = page.locator("details.assign-picker")
    picker.locator("summary").click()
    picker.get_by_label("Assign to").fill("Bob Janssen")
    picker.get_by_role("button", name="Assign", exact=True).click()
    # Named as every other screen names people: by full name.
    expect(newest).to_contain_text("Reassigned from Alice de Vries to Bob Janssen")
    expect(newest).to_contain_text("Maria de Boer")

    page.get_by_label("Note").fill("Called: wants a quote by Friday.")
    page.get_by_role("button", name="Add note").click()
    expect(newest).to_contain_text("Called: wants a quote by Friday.")
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    screenshot(page, "lead-detail-timeline")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_toast_does_not_cover_the_pages_main_buttons(
    page, live_server, rep, login, screenshot, viewport
):
    lead = LeadFactory(title="Depot lighting", created_by=rep, stage=default_stage("New"))
    page.set_viewport_size(viewport)
    login(page, live_server, rep, next_url=f"/leads/{lead.pk}/")
    page.get_by_role("button", name=re.compile(r"^Move to Contacted")).click()
    toast = page.locator("#toasts .toast", has_text="Moved to Contacted.")
    expect(toast).to_be_visible()
    buttons = [
        page.get_by_role("link", name="Edit"),
        page.get_by_role("link", name="Delete"),
        page.get_by_role("button", name=re.compile(r"^Move to Qualified")),
    ]
    for button in buttons:
        expect(button).to_be_visible()
        assert not boxes_overlap(toast.bounding_box(), button.bounding_box())
    screenshot(
        page, f"lead-detail-toast-{'phone' if viewport == PHONE else 'desktop'}", full_page=False
    )


def test_the_list_fits_a_1280_px_screen(page, live_server, rep, some_leads, login):
    login(page, live_server, rep, next_url="/leads/")
    assert page_width(page) <= DESKTOP["width"]


def test_a_table_that_scrolls_sideways_scrolls_from_the_keyboard(page, live_server, login):
    """The calibration's tables hold no links: on a phone each scrolls inside its frame,
    which takes the focus (named by the table's caption) so the arrow keys scroll it; on
    a wide screen, where it fits, the frame is no stop on the way through the page."""
    LeadFactory(stage=default_stage("Won"), actual_close_date=timezone.localdate())
    page.set_viewport_size(PHONE)
    login(page, live_server, ManagerFactory(username="mara"), next_url="/reports/calibration/")
    section = page.locator("section[aria-labelledby='buckets-heading']")
    frame = section.locator(".table-wrap")
    caption = section.locator("caption").text_content().strip()
    expect(frame).to_have_attribute("tabindex", "0")
    region = page.get_by_role("region", name=caption)
    expect(region).to_have_count(1)

    section.get_by_role("link").last.focus()  # "Download CSV", just before the table
    page.keyboard.press("Tab")
    expect(region).to_be_focused()
    assert frame.evaluate("(el) => el.scrollLeft") == 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(el) => el.scrollLeft > 0", arg=frame.element_handle(), timeout=2000)

    page.set_viewport_size(DESKTOP)
    expect(frame).not_to_have_attribute("tabindex", "0")
    expect(page.get_by_role("region", name=caption)).to_have_count(0)
