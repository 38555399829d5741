"""Working with leads in a real browser: the form, the list, the tracker, delete, assign."""

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from leads import totals
from leads.models import Lead, Priority
from tests.factories import LeadFactory, ManagerFactory, RepFactory, default_stage

pytestmark = pytest.mark.e2e


@pytest.fixture
def rep(transactional_db):
    return RepFactory(username="rita", first_name="Rita", last_name="Visser")


def mark_document(page):
    """Tag the current document; a full page load would lose the tag."""
    page.evaluate("() => { window.__sameDocument = true; }")


def assert_same_document(page):
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def toast(page, text):
    return page.locator("#toasts .toast", has_text=text)


# --- 1. the form: errors keep what was typed ------------------------------------------------


def test_create_a_lead_with_an_error_then_fix_it(page, live_server, rep, login, screenshot):
    login(page, live_server, rep, next_url="/leads/new/")
    expect(page.get_by_role("heading", name="New lead")).to_be_visible()
    mark_document(page)

    title = page.get_by_label("Title", exact=True)
    value = page.get_by_label("Value (EUR)")
    description = page.get_by_label("Description")
    description.fill("Forty office chairs, delivery in March.")
    value.fill("-5")
    page.get_by_role("button", name="Create lead").click()

    expect(page.locator("#id_title_error")).to_have_text("Title is required.")
    expect(page.locator("#id_value_error")).to_have_text("Value must be non-negative.")
    expect(page.get_by_role("alert").filter(has_text="Please correct")).to_be_visible()
    # The form came back in place (422 swapped by htmx) with everything typed still there.
    assert_same_document(page)
    expect(description).to_have_value("Forty office chairs, delivery in March.")
    expect(value).to_have_value("-5")
    expect(title).to_be_focused()
    expect(title).to_have_attribute("aria-invalid", "true")
    screenshot(page, "lead-form-errors")

    # Title fixed, value still wrong: now the value field gets the focus (not the title,
    # which has autofocus).
    title.fill("Office chairs for Acme")
    page.get_by_role("button", name="Create lead").click()
    expect(page.locator("#id_title_error")).to_have_count(0)
    expect(page.locator("#id_value_error")).to_have_text("Value must be non-negative.")
    expect(value).to_be_focused()
    expect(title).to_have_value("Office chairs for Acme")
    expect(description).to_have_value("Forty office chairs, delivery in March.")

    value.fill("12500")
    page.get_by_role("button", name="Create lead").click()

    expect(page).to_have_url(re.compile(r"/leads/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Office chairs for Acme")
    expect(toast(page, "Lead saved.")).to_be_visible()
    expect(page.locator(".description")).to_have_text("Forty office chairs, delivery in March.")
    lead = Lead.objects.get(title="Office chairs for Acme")
    assert lead.value == Decimal("12500")
    assert lead.created_by == rep
    screenshot(page, "lead-form-saved")


# --- 2. the list: search, filter, sort, history ---------------------------------------------

KINDS = ["Widget", "Gadget", "Service"]
PRIORITIES = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]
NAMES = [
    "Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy", "Juniper",
]  # fmt: skip


@pytest.fixture
def thirty_leads(transactional_db):
    """Alder Widget (€1,000, low), Alder Gadget (€2,000, normal), … Juniper Service."""
    leads = []
    for i in range(30):
        leads.append(
            LeadFactory(
                title=f"{NAMES[i // 3]} {KINDS[i % 3]}",
                priority=PRIORITIES[i % 4],
                value=Decimal(1000 * (i + 1)),
            )
        )
    return leads


def row_titles(page):
    return page.locator("#lead-results tbody td.cell-title")


def titles_of(leads):
    return [lead.title for lead in leads]


def search_box(page):
    return page.get_by_role("searchbox", name="Search")


def filter_menu(page, label):
    return page.locator("details.filter-menu", has=page.locator("summary", has_text=label))


def open_menu(menu):
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
    expect(menu).to_have_attribute("open", "")


def test_filter_sort_and_the_back_button(page, live_server, rep, thirty_leads, login, screenshot):
    widgets = [lead for lead in thirty_leads if lead.title.endswith("Widget")]
    urgent_widgets = [lead for lead in widgets if lead.priority == Priority.URGENT]
    assert len(widgets) == 10 and len(urgent_widgets) == 3  # noqa: PT018
    login(page, live_server, rep, next_url="/leads/")
    expect(page.locator("#lead-results .result-summary")).to_contain_text("of 30")
    expect(row_titles(page)).to_have_count(25)
    mark_document(page)

    # Search: debounced, swaps the results, pushes ?q=.
    search_box(page).press_sequentially("widget", delay=30)
    expect(page).to_have_url(re.compile(r"[?&]q=widget(&|$)"))
    expect(row_titles(page)).to_have_count(10)
    expect(page.locator("#lead-results .result-summary")).to_contain_text("1–10 of 10")
    for cell in row_titles(page).all():
        expect(cell).to_contain_text("Widget")
    assert_same_document(page)

    # Priority filter: a checkbox in the Priority menu.
    priority_menu = filter_menu(page, "Priority")
    open_menu(priority_menu)
    priority_menu.get_by_label("Urgent").check()
    chip = page.locator("#lead-results .chip", has_text="Priority: Urgent")
    expect(chip).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]priority=urgent(&|$)"))
    assert query(page)["q"] == ["widget"]
    expect(row_titles(page)).to_have_text(titles_of(urgent_widgets[::-1]))
    page.keyboard.press("Escape")

    # Sort by value: descending first, then ascending.
    def value_header():
        return page.locator("#lead-results thead").get_by_role("link", name=re.compile(r"^Value"))

    value_header().click()
    expect(page).to_have_url(re.compile(r"[?&]sort=-value(&|$)"))
    expect(page.locator("th", has_text="Value")).to_have_attribute("aria-sort", "descending")
    by_value = sorted(urgent_widgets, key=lambda lead: lead.value)
    expect(row_titles(page)).to_have_text(titles_of(by_value[::-1]))
    sorted_desc_url = page.url

    value_header().click()
    expect(page).to_have_url(re.compile(r"[?&]sort=value(&|$)"))
    expect(page.locator("th", has_text="Value")).to_have_attribute("aria-sort", "ascending")
    expect(row_titles(page)).to_have_text(titles_of(by_value))
    assert query(page)["q"] == ["widget"]
    assert query(page)["priority"] == ["urgent"]
    assert_same_document(page)
    screenshot(page, "lead-list-filtered-sorted")

    # Back: the descending state comes back, rows and URL.
    page.go_back()
    expect(page).to_have_url(sorted_desc_url)
    expect(row_titles(page)).to_have_text(titles_of(by_value[::-1]))
    expect(page.locator("th", has_text="Value")).to_have_attribute("aria-sort", "descending")
    expect(chip).to_be_visible()

    # The same URL loaded directly shows the same rows.
    page.reload()
    expect(page).to_have_url(sorted_desc_url)
    expect(row_titles(page)).to_have_text(titles_of(by_value[::-1]))
    expect(search_box(page)).to_have_value("widget")
    expect(priority_menu.get_by_label("Urgent")).to_be_checked()

    # Removing the chip drops the filter, keeps the search and the sort.
    page.get_by_role("link", name="Remove filter Priority: Urgent").click()
    expect(chip).to_have_count(0)
    expect(page.locator("#lead-results .chip")).to_have_text(["Search: widget ×"])
    expect(page).not_to_have_url(re.compile(r"priority="))
    assert query(page)["q"] == ["widget"]
    assert query(page)["sort"] == ["-value"]
    expect(row_titles(page)).to_have_text(titles_of(sorted(widgets, key=lambda x: -x.value)))
    expect(priority_menu.get_by_label("Urgent")).not_to_be_checked()
    screenshot(page, "lead-list-chip-removed")


def test_a_large_search_shows_its_rows_then_its_count_and_pages_by_next_and_back(
    page, live_server, rep, login, screenshot, monkeypatch
):
    # Every set counts as large (issue 18): on PostgreSQL the count comes after the rows.
    monkeypatch.setattr(totals, "COUNT_INLINE_BELOW", 1)
    for n in range(30):
        LeadFactory(title=f"Deal {n:02d}", value=Decimal(1000))
    summary = page.locator("#lead-results .result-summary")
    position = page.locator("#page-position")
    login(page, live_server, rep)

    response = page.goto(f"{live_server.url}/leads/?q=deal")
    if connection.vendor == "postgresql":
        assert "Count all matches" in response.text()  # the rows came without the count
    expect(summary).to_contain_text("Showing 1–25 of 30")
    expect(summary).to_contain_text("Total €30K")
    expect(position).to_have_text("Page 1 of 2")
    expect(row_titles(page)).to_have_count(25)
    first_page = row_titles(page).all_inner_texts()
    mark_document(page)

    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"[?&]after="))
    expect(row_titles(page)).to_have_count(5)
    expect(position).to_have_text("Page 2 of 2")
    expect(summary).to_contain_text("Showing 26–30 of 30")
    screenshot(page, "lead-list-deferred-count-page-2")

    page.go_back()
    expect(row_titles(page)).to_have_text(first_page)
    expect(position).to_have_text("Page 1 of 2")
    page.get_by_role("link", name="Next →").click()
    expect(row_titles(page)).to_have_count(5)
    page.get_by_role("link", name="← Previous").click()
    expect(page).to_have_url(re.compile(r"[?&]before="))
    expect(row_titles(page)).to_have_text(first_page)
    assert_same_document(page)


def test_back_button_restores_the_filter_form_too(page, live_server, rep, thirty_leads, login):
    login(page, live_server, rep, next_url="/leads/")
    search_box(page).press_sequentially("widget", delay=30)
    expect(page).to_have_url(re.compile(r"[?&]q=widget(&|$)"))
    expect(row_titles(page)).to_have_count(10)
    priority = filter_menu(page, "Priority")
    open_menu(priority)
    priority.get_by_label("Urgent").check()
    expect(page).to_have_url(re.compile(r"[?&]priority=urgent(&|$)"))
    expect(row_titles(page)).to_have_count(3)

    page.go_back()

    # Rows and URL are those of "widget" without the priority filter …
    expect(page).not_to_have_url(re.compile(r"priority="))
    expect(row_titles(page)).to_have_count(10)
    # … and so should the form be: the search box still says what was searched for.
    expect(search_box(page)).to_have_value("widget", timeout=2000)
    expect(priority.get_by_label("Urgent")).not_to_be_checked()
    # Filtering further keeps the search.
    open_menu(priority)
    priority.get_by_label("High").check()
    expect(page).to_have_url(re.compile(r"[?&]priority=high(&|$)"), timeout=2000)
    assert query(page).get("q") == ["widget"]


def test_the_competitor_filter_suggests_competitors_once_focused(page, live_server, rep, login):
    lost = default_stage("Lost")
    for title, competitor in [("A", "Globex"), ("B", "Initech"), ("C", "Initech")]:
        LeadFactory(title=title, stage=lost, competitor=competitor)
    login(page, live_server, rep, next_url="/leads/")
    mark_document(page)
    options = page.locator("#competitor-options option")
    expect(options).to_have_count(0)

    page.get_by_text("More filters", exact=True).click()
    page.get_by_label("Competitor", exact=True).focus()

    expect(options).to_have_count(2)
    assert options.evaluate_all("els => els.map(e => e.value)") == ["Initech", "Globex"]
    # Asked on the side: the rows, the URL and the page stay as they were.
    expect(page).to_have_url(re.compile(r"/leads/$"))
    assert_same_document(page)


# --- 3. the stage tracker --------------------------------------------------------------------


def test_move_a_stage_with_the_tracker(page, live_server, rep, login, screenshot):
    lead = LeadFactory(title="Fleet renewal", created_by=rep, value=Decimal(40000))
    login(page, live_server, rep, next_url=f"/leads/{lead.pk}/")
    tracker = page.locator(".tracker-steps")
    current = tracker.locator('[aria-current="step"]')
    probability = page.locator(".info-grid div", has=page.locator("dt", has_text="Probability"))
    expect(current).to_contain_text("New")
    expect(probability.locator("dd")).to_have_text("10%")
    mark_document(page)

    tracker.get_by_role("button", name=re.compile(r"^Proposal")).click()

    expect(current).to_contain_text("Proposal")
    expect(current).to_have_count(1)
    expect(probability.locator("dd")).to_have_text("60%")
    expect(toast(page, "Moved to Proposal.")).to_be_visible()
    expect(tracker.locator(".tracker-step.is-completed")).to_have_count(3)  # New … Qualified
    assert_same_document(page)

    # Won asks how it was won: today and the lead's value, both editable.
    tracker.get_by_role("link", name=re.compile(r"^Won")).click()
    dialog = page.locator("#closing-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Mark “Fleet renewal” as Won")
    close_date = dialog.get_by_label("Close date")
    expect(close_date).to_be_focused()
    expect(close_date).to_have_value(timezone.localdate().isoformat())
    won_value = dialog.get_by_label("Won value (EUR)")
    expect(won_value).to_have_value("40000.00")
    won_value.fill("-5")
    screenshot(page, "lead-closing-won-dialog", full_page=False)
    dialog.get_by_role("button", name="Mark as Won").click()
    expect(dialog.locator(".field-error")).to_have_text("Won value must be non-negative.")
    expect(won_value).to_be_focused()  # the first field in error
    lead.refresh_from_db()
    assert lead.stage.name == "Proposal"  # a 422 moved nothing
    won_value.fill("38500")
    won_value.press("Enter")

    expect(dialog).to_be_hidden()
    expect(current).to_contain_text("Won")
    expect(probability.locator("dd")).to_have_text("100%")
    expect(page.locator(".info-grid")).to_contain_text("€38,500")
    expect(toast(page, "Moved to Won.")).to_be_visible()
    assert_same_document(page)
    lead.refresh_from_db()
    assert (lead.stage.name, lead.won_value, lead.value) == ("Won", 38500, 38500)
    screenshot(page, "lead-tracker-won")


def test_lose_a_lead_from_the_tracker_then_reopen_it(page, live_server, rep, login, screenshot):
    lead = LeadFactory(title="Fleet renewal", created_by=rep, stage=default_stage("Negotiation"))
    LeadFactory(title="Earlier loss", stage=default_stage("Lost"), competitor="Globex")
    login(page, live_server, rep, next_url=f"/leads/{lead.pk}/")
    mark_document(page)
    tracker = page.locator(".tracker-steps")
    tracker.get_by_role("link", name=re.compile(r"^Lost")).click()
    dialog = page.locator("#closing-dialog")
    expect(dialog).to_be_visible()
    reason = dialog.get_by_label("Reason")
    expect(reason).to_be_focused()

    # No reason: refused in the dialog, what was typed stays.
    dialog.get_by_label("Competitor").fill("Globex")
    dialog.get_by_role("button", name="Mark as Lost").click()
    expect(dialog.locator(".field-error").first).to_have_text("Choose why the lead was lost.")
    expect(dialog.get_by_label("Competitor")).to_have_value("Globex")
    lead.refresh_from_db()
    assert lead.stage.name == "Negotiation"

    # "Other" needs a note.
    dialog.get_by_label("Reason").select_option(label="Other")
    dialog.get_by_role("button", name="Mark as Lost").click()
    expect(dialog.locator(".field-error")).to_contain_text("needs a note")
    dialog.get_by_label("Note").fill("Budget moved to a merger.")
    screenshot(page, "lead-closing-lost-dialog", full_page=False)
    dialog.get_by_role("button", name="Mark as Lost").click()

    expect(dialog).to_be_hidden()
    grid = page.locator(".info-grid")
    expect(grid).to_contain_text("Other")
    expect(grid).to_contain_text("Globex")
    expect(grid).to_contain_text("Budget moved to a merger.")
    # The timeline follows without a reload.
    timeline = page.locator(".timeline-item").first
    expect(timeline).to_contain_text("Lost: Other, to Globex (“Budget moved to a merger.”)")
    screenshot(page, "lead-lost")

    # Reopening clears it; the timeline keeps what it was.
    tracker.get_by_role("button", name=re.compile(r"^Qualified")).click()
    expect(page.locator('.tracker-steps [aria-current="step"]')).to_contain_text("Qualified")
    expect(grid).not_to_contain_text("Globex")
    expect(timeline).to_contain_text("Reopened; was Lost: Other, to Globex")
    assert_same_document(page)
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.competitor) == (None, "")


def test_the_header_follows_a_stage_move(page, live_server, rep, login):
    lead = LeadFactory(title="Fleet renewal", created_by=rep)
    login(page, live_server, rep, next_url=f"/leads/{lead.pk}/")
    header = page.locator(".page-header")
    expect(header.locator(".badge-won")).to_have_count(0)

    page.locator(".tracker-steps").get_by_role("link", name=re.compile(r"^Won")).click()
    page.locator("#closing-dialog").get_by_role("button", name="Mark as Won").click()
    expect(page.locator('.tracker-steps [aria-current="step"]')).to_contain_text("Won")

    # What a reload shows: the Won badge, and Delete warns that the lead is won.
    expect(header.locator(".badge-won")).to_have_text("Won", timeout=2000)
    header.get_by_role("link", name="Delete").click()
    expect(page.locator("#confirm-dialog")).to_contain_text("marked as Won", timeout=2000)


# --- 4. delete -------------------------------------------------------------------------------


def test_delete_a_lead_after_confirming(page, live_server, rep, login, screenshot):
    lead = LeadFactory(title="Printer lease", created_by=rep)
    LeadFactory(title="Coffee machines", created_by=rep)
    login(page, live_server, rep, next_url=f"/leads/{lead.pk}/")
    dialog = page.locator("#confirm-dialog")
    delete = page.locator(".page-actions").get_by_role("link", name="Delete")

    delete.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete the lead “Printer lease”? This cannot be undone.")
    expect(dialog.get_by_role("button", name="Confirm")).to_have_class(re.compile("btn-danger"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    assert Lead.objects.filter(pk=lead.pk).exists()

    delete.click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/leads/$"))
    expect(toast(page, "Lead “Printer lease” deleted.")).to_be_visible()
    expect(row_titles(page)).to_have_text(["Coffee machines"])
    assert not Lead.objects.filter(pk=lead.pk).exists()
    screenshot(page, "lead-deleted")


# --- 5. assign, then it is on the assignee's My Work ----------------------------------------


def test_assign_a_lead_and_it_shows_in_my_work(page, live_server, login, screenshot):
    manager = ManagerFactory(username="maria", first_name="Maria", last_name="de Boer")
    bob = RepFactory(username="bob", first_name="Bob", last_name="Bakker")
    lead = LeadFactory(title="Solar panels for the depot")
    login(page, live_server, manager, next_url=f"/leads/{lead.pk}/")
    expect(page.locator("#lead-assignee")).to_have_text("Unassigned")

    picker = page.locator("details.assign-picker")
    picker.locator("summary").click()
    picker.get_by_label("Assign to").fill("Bob Bakker")
    picker.get_by_role("button", name="Assign", exact=True).click()

    expect(toast(page, "Assigned to Bob Bakker.")).to_be_visible()
    expect(page.locator("#lead-assignee")).to_have_text("Bob Bakker")
    lead.refresh_from_db()
    assert lead.assignee == bob

    page.locator("details.user-menu > summary").click()  # the user menu
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    login(page, live_server, bob, next_url="/my-work/")

    expect(page).to_have_url(re.compile(r"/my-work/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Leads (1)")
    work_item = page.locator(".work-item", has_text="Solar panels for the depot")
    expect(work_item).to_be_visible()
    screenshot(page, "my-work-assigned")
    work_item.get_by_role("link", name="Solar panels for the depot").click()
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))


def test_a_name_two_people_share_is_refused_and_stays_typed(page, live_server, login, screenshot):
    manager = ManagerFactory(username="maria", first_name="Maria", last_name="de Boer")
    RepFactory(username="anna", first_name="Anna", last_name="de Vries")
    anna2 = RepFactory(username="anna2", first_name="Anna", last_name="de Vries")
    lead = LeadFactory(title="Solar panels for the depot")
    login(page, live_server, manager, next_url=f"/leads/{lead.pk}/")
    mark_document(page)

    picker = page.locator("details.assign-picker")
    picker.locator("summary").click()
    name = picker.get_by_label("Assign to")
    name.fill("Anna de Vries")
    picker.get_by_role("button", name="Assign", exact=True).click()

    expect(
        toast(page, "Several users are called Anna de Vries: pick one from the list.")
    ).to_be_visible()
    assert_same_document(page)
    expect(name).to_have_value("Anna de Vries")
    expect(page.locator("#lead-assignee")).to_have_text("Unassigned")
    screenshot(page, "assign-namesakes-refused")

    name.fill("Anna de Vries (anna2)")
    picker.get_by_role("button", name="Assign", exact=True).click()
    expect(toast(page, "Assigned to Anna de Vries.")).to_be_visible()
    lead.refresh_from_db()
    assert lead.assignee == anna2
