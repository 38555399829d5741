"""The pipeline board in a real browser: drag, move with the keyboard, confirm, refuse."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Lead, Priority
from pipelines.models import PipelineStage
from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import ClientFactory, LeadFactory, RepFactory, default_stage

pytestmark = pytest.mark.e2e

STALE = "Stage no longer exists. Please refresh the page."


@pytest.fixture
def rep(transactional_db):
    return RepFactory(username="rita", first_name="Rita", last_name="Visser")


@pytest.fixture
def leads(rep):
    """Two leads in New (€20,000 and €5,000 at 10 %), one in Contacted (€1,000 at 20 %)."""
    return {
        "fleet": LeadFactory(
            title="Fleet renewal",
            client=ClientFactory(name="Acme BV"),
            created_by=rep,
            assignee=rep,
            value=Decimal(20000),
            probability=10,
            priority=Priority.HIGH,
            expected_close_date=timezone.localdate() - datetime.timedelta(days=2),
            stage=default_stage("New"),
        ),
        "chairs": LeadFactory(
            title="Office chairs",
            created_by=rep,
            value=Decimal(5000),
            probability=10,
            stage=default_stage("New"),
        ),
        "desks": LeadFactory(
            title="Standing desks",
            created_by=rep,
            value=Decimal(1000),
            probability=20,
            stage=default_stage("Contacted"),
        ),
    }


def column(page, name):
    return page.locator(f'#board section.board-column[data-name="{name}"]')


def count(page, name):
    return column(page, name).locator(".board-count")


def stats(page, name):
    return column(page, name).locator(".board-column-stats")


def card(page, lead):
    return page.locator(f'#board .board-card[data-lead="{lead.pk}"]')


def card_in(page, name, lead):
    return column(page, name).locator(f'.board-card[data-lead="{lead.pk}"]')


def toast(page, text):
    return page.locator("#toasts .toast", has_text=text)


def mark_document(page):
    page.evaluate("() => { window.__sameDocument = true; }")


def assert_same_document(page):
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"


def open_board(page, live_server, login, user):
    login(page, live_server, user, next_url="/board/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sales board")
    expect(column(page, "New")).to_be_visible()
    mark_document(page)


def drag(page, lead, name):
    """Drag a card onto a column with the mouse (native HTML5 drag and drop).

    Like page.drag_and_drop, plus a small move first: the drag starts before the board
    scrolls sideways to bring a far column (Won, Lost) into view; Chromium cancels a
    drag that has not started yet when the content under the pressed mouse scrolls.
    """
    source = card(page, lead)
    source.hover()
    page.mouse.down()
    box = source.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2 + 8, box["y"] + box["height"] / 2 + 8)
    column(page, name).locator(".board-column-header").hover()
    page.mouse.up()


def stage_of(lead) -> str:
    return Lead.objects.select_related("stage").get(pk=lead.pk).stage.name


# --- (a) drag a card to another column -----------------------------------------------------


def test_drag_a_card_to_another_column(page, live_server, rep, leads, login, screenshot):
    open_board(page, live_server, login, rep)
    expect(count(page, "New")).to_have_text("2")
    # A rounded total is followed by its exact amount, which only screen readers hear.
    expect(stats(page, "New")).to_have_text(re.compile(r"€25K€25,000\s*· weighted €2,500"))
    expect(count(page, "Contacted")).to_have_text("1")
    expect(stats(page, "Contacted")).to_have_text(re.compile(r"€1,000\s*· weighted €200"))
    screenshot(page, "board-desktop")

    drag(page, leads["fleet"], "Contacted")

    expect(toast(page, "Moved “Fleet renewal” to Contacted.")).to_be_visible()
    expect(count(page, "New")).to_have_text("1")
    expect(stats(page, "New")).to_have_text(re.compile(r"€5,000\s*· weighted €500"))
    expect(count(page, "Contacted")).to_have_text("2")
    # The probability follows the stage (20 %): 21,000 total, 4,200 weighted.
    expect(stats(page, "Contacted")).to_have_text(re.compile(r"€21K€21,000\s*· weighted €4,200"))
    expect(card_in(page, "Contacted", leads["fleet"])).to_be_visible()
    expect(card_in(page, "New", leads["fleet"])).to_have_count(0)
    expect(card(page, leads["fleet"])).to_have_count(1)
    assert_same_document(page)
    assert stage_of(leads["fleet"]) == "Contacted"
    assert Lead.objects.get(pk=leads["fleet"].pk).probability == 20
    screenshot(page, "board-after-drag")


# --- (b) the keyboard: "Move to…" ---------------------------------------------------------


def test_move_a_card_with_the_keyboard(page, live_server, rep, leads, login, screenshot):
    open_board(page, live_server, login, rep)
    lead = leads["chairs"]
    button = page.get_by_role("button", name="Move to another stage: “Office chairs”")
    # Reach the button with Tab from the card's title link.
    card(page, lead).get_by_role("link", name="Office chairs", exact=True).focus()
    page.keyboard.press("Tab")
    expect(button).to_be_focused()

    page.keyboard.press("Enter")

    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Move “Office chairs” to…")
    options = dialog.locator("[data-move-to]")
    expect(options).to_have_text(
        ["New", "Contacted", "Qualified", "Proposal", "Negotiation", "Won", "Lost"]
    )
    expect(dialog.get_by_role("button", name="New", exact=True)).to_be_disabled()
    contacted = dialog.get_by_role("button", name="Contacted", exact=True)
    expect(contacted).to_be_focused()  # the first stage it can go to
    screenshot(page, "board-move-dialog", full_page=False)

    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Qualified", exact=True)).to_be_focused()
    page.keyboard.press("Enter")

    expect(dialog).to_be_hidden()
    expect(toast(page, "Moved “Office chairs” to Qualified.")).to_be_visible()
    expect(card_in(page, "Qualified", lead)).to_be_visible()
    expect(count(page, "Qualified")).to_have_text("1")
    expect(count(page, "New")).to_have_text("1")
    # Keyboard users keep their place: the moved card's title has the focus.
    expect(card(page, lead).locator(".board-card-title")).to_be_focused()
    assert_same_document(page)
    assert stage_of(lead) == "Qualified"

    # Escape closes the dialog without moving anything.
    card(page, lead).get_by_role("button", name=re.compile("^Move")).press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(card_in(page, "Qualified", lead)).to_be_visible()
    assert stage_of(lead) == "Qualified"


# --- (c) Won and Lost ask how the lead closed -------------------------------------------------


def test_dragging_to_won_asks_how_it_was_won(page, live_server, rep, leads, login, screenshot):
    open_board(page, live_server, login, rep)
    lead = leads["fleet"]
    dialog = page.locator("#closing-dialog")

    drag(page, lead, "Won")

    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Mark “Fleet renewal” as Won")
    expect(dialog.get_by_label("Won value (EUR)")).to_have_value("20000.00")
    screenshot(page, "board-closing-won", full_page=False)
    dialog.get_by_role("link", name="Cancel").click()

    expect(dialog).to_be_hidden()
    expect(card_in(page, "New", lead)).to_be_visible()
    expect(count(page, "New")).to_have_text("2")
    expect(count(page, "Won")).to_have_text("0")
    page.wait_for_timeout(300)  # nothing was sent: still in New
    assert stage_of(lead) == "New"
    assert_same_document(page)

    drag(page, lead, "Won")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Won value (EUR)").fill("18000")
    dialog.get_by_role("button", name="Mark as Won").click()

    expect(dialog).to_be_hidden()
    expect(toast(page, "Moved “Fleet renewal” to Won.")).to_be_visible()
    expect(count(page, "Won")).to_have_text("1")
    expect(stats(page, "Won")).to_have_text(re.compile(r"€18K€18,000\s*· weighted €18K€18,000"))
    expect(count(page, "New")).to_have_text("1")
    expect(card_in(page, "New", lead)).to_have_count(0)
    expect(column(page, "Won")).to_have_class(re.compile(r"\bis-collapsed\b"))
    assert stage_of(lead) == "Won"
    assert Lead.objects.get(pk=lead.pk).won_value == 18000
    assert_same_document(page)

    # Opening the collapsed column shows the card that was moved there.
    column(page, "Won").get_by_role("link", name="Show 1 lead").click()
    expect(card_in(page, "Won", lead)).to_be_visible()


def test_losing_with_the_keyboard_asks_why(page, live_server, rep, leads, login, screenshot):
    open_board(page, live_server, login, rep)
    lead = leads["chairs"]
    card(page, lead).get_by_role("button", name=re.compile("^Move")).focus()
    page.keyboard.press("Enter")
    page.locator("#move-dialog").get_by_role("button", name="Lost", exact=True).focus()
    page.keyboard.press("Enter")

    dialog = page.locator("#closing-dialog")
    expect(dialog).to_be_visible()
    reason = dialog.get_by_label("Reason")
    expect(reason).to_be_focused()

    # Submitting without a reason (Enter in the competitor field) is refused in the dialog.
    competitor = dialog.get_by_label("Competitor")
    competitor.fill("Globex")
    competitor.press("Enter")
    expect(dialog.locator(".field-error").first).to_have_text("Choose why the lead was lost.")
    expect(reason).to_be_focused()
    assert stage_of(lead) == "New"

    reason.select_option(label="Chose competitor")
    reason.press("Tab")
    dialog.get_by_label("Competitor").press("Enter")

    expect(dialog).to_be_hidden()
    expect(toast(page, "Moved “Office chairs” to Lost.")).to_be_visible()
    expect(count(page, "Lost")).to_have_text("1")
    expect(count(page, "New")).to_have_text("1")
    assert_same_document(page)
    moved = Lead.objects.select_related("lost_reason").get(pk=lead.pk)
    assert (moved.stage.name, moved.lost_reason.name, moved.competitor) == (
        "Lost",
        "Chose competitor",
        "Globex",
    )

    # Escape closes the dialog and moves nothing.
    card(page, leads["fleet"]).get_by_role("button", name=re.compile("^Move")).press("Enter")
    page.locator("#move-dialog").get_by_role("button", name="Lost", exact=True).press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert stage_of(leads["fleet"]) == "New"


# --- (d) a refused move puts the card back -----------------------------------------------


def test_refused_move_puts_the_card_back(page, live_server, rep, leads, login, screenshot):
    open_board(page, live_server, login, rep)
    lead = leads["chairs"]
    proposal = default_stage("Proposal")
    assert not proposal.leads.exists()
    expect(column(page, "Proposal")).to_be_visible()
    # The stage goes away after the page was drawn (another user's admin edit).
    PipelineStage.objects.filter(pk=proposal.pk).delete()

    drag(page, lead, "Proposal")

    expect(toast(page, STALE)).to_be_visible()
    page.wait_for_timeout(500)  # time for the board to come back from the server
    screenshot(page, "board-refused-move")
    assert stage_of(lead) == "New"
    expect(count(page, "New")).to_have_text("2")
    # The card is back in New, not left in the column of a stage that no longer exists.
    expect(card_in(page, "New", lead)).to_be_visible()
    expect(card_in(page, "Proposal", lead)).to_have_count(0)


def test_forbidden_move_puts_the_card_back(page, live_server, rep, leads, login):
    open_board(page, live_server, login, rep)
    lead = leads["chairs"]
    # Someone else takes the lead over after the page was drawn: the rep may not move it.
    bob = RepFactory(username="bob", first_name="Bob", last_name="Bakker")
    Lead.objects.filter(pk=lead.pk).update(created_by=bob, assignee=bob)

    drag(page, lead, "Contacted")

    expect(toast(page, "You don't have permission to do that.")).to_be_visible()
    expect(card_in(page, "New", lead)).to_be_visible()
    expect(card_in(page, "Contacted", lead)).to_have_count(0)
    # The reloaded board knows the card is no longer the rep's to move.
    expect(card(page, lead)).not_to_have_attribute("draggable", "true")
    expect(card(page, lead).get_by_role("button", name=re.compile("^Move"))).to_have_count(0)
    expect(count(page, "New")).to_have_text("2")
    expect(count(page, "Contacted")).to_have_text("1")
    assert stage_of(lead) == "New"
    assert_same_document(page)


# --- screenshots at desktop and phone widths ------------------------------------------------


def test_board_at_desktop_and_phone_widths(page, live_server, rep, login, screenshot):
    today = timezone.localdate()
    other = RepFactory(username="jan", first_name="Jan", last_name="de Boer")
    names = ["New", "Contacted", "Qualified", "Proposal", "Negotiation", "Won", "Lost"]
    priorities = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]
    for i in range(24):
        LeadFactory(
            title=f"{['Fleet', 'Office', 'Cloud', 'Security'][i % 4]} deal {i + 1}",
            client=ClientFactory(name=f"Client {i % 5}") if i % 3 else None,
            created_by=rep,
            assignee=[rep, other, None][i % 3],
            value=Decimal(1500 * (i + 1)),
            priority=priorities[i % 4],
            expected_close_date=today + datetime.timedelta(days=i - 6) if i % 5 else None,
            stage=default_stage(names[i % len(names)]),
            stage_entered_at=timezone.now() - datetime.timedelta(days=i),
        )
    open_board(page, live_server, login, rep)
    expect(page.locator("#board .board-card").first).to_be_visible()
    screenshot(page, "board-desktop-full")
    assert page.viewport_size == DESKTOP

    page.set_viewport_size(PHONE)
    page.reload()
    expect(column(page, "New")).to_be_visible()
    screenshot(page, "board-phone")
    # The board scrolls sideways inside itself; the page does not.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


# --- quick actions: assign and priority ------------------------------------------------------


def test_quick_actions_assign_and_set_priority_with_the_keyboard(
    page, live_server, rep, leads, login, screenshot
):
    RepFactory(username="jan", first_name="Jan", last_name="de Boer")
    open_board(page, live_server, login, rep)
    lead = leads["chairs"]
    quick = card(page, lead).get_by_role(
        "link", name="Assign or set the priority of “Office chairs”"
    )
    # Reach it with Tab from the card's "Move to…" button, open it with Enter.
    card(page, lead).get_by_role("button", name=re.compile("^Move")).focus()
    page.keyboard.press("Tab")
    expect(quick).to_be_focused()
    page.keyboard.press("Enter")

    dialog = page.locator("#quick-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=2)).to_have_text("“Office chairs”")
    expect(dialog.get_by_role("button", name="Assign to me")).to_be_focused()
    expect(dialog.get_by_role("button", name="Normal")).to_have_attribute("aria-pressed", "true")
    screenshot(page, "board-quick-dialog", full_page=False)

    page.keyboard.press("Enter")  # "Assign to me"

    expect(dialog).to_be_hidden()
    expect(toast(page, "Assigned “Office chairs” to Rita Visser.")).to_be_visible()
    expect(card(page, lead).locator(".avatar")).to_contain_text("RV")
    # The card was replaced in place: keyboard users are back on its "⋯".
    expect(card(page, lead).locator("[data-quick]")).to_be_focused()
    assert Lead.objects.get(pk=lead.pk).assignee == rep
    assert_same_document(page)

    # A name nobody has is refused; the dialog stays open with what was typed.
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    field = dialog.get_by_label("Assign to someone")
    expect(field).to_be_focused()  # already the rep's: no "Assign to me"
    field.fill("Jan de Bore")
    field.press("Enter")
    expect(toast(page, "User not found.")).to_be_visible()
    expect(dialog).to_be_visible()
    expect(field).to_have_value("Jan de Bore")
    field.fill("Jan de Boer")
    field.press("Enter")
    expect(dialog).to_be_hidden()
    expect(card(page, lead).locator(".avatar")).to_contain_text("Assigned to Jan de Boer")
    # Back on the new card's "⋯" once htmx has settled it (before that, Enter would
    # follow the link to the page without JavaScript).
    expect(card(page, lead).locator("[data-quick]")).to_be_focused()

    # Priority: one button each, the current one pressed.
    card(page, lead).locator("[data-quick]").press("Enter")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Urgent").click()
    expect(dialog).to_be_hidden()
    expect(toast(page, "“Office chairs” is urgent priority now.")).to_be_visible()
    expect(card(page, lead).locator(".badge-urgent")).to_be_visible()
    expect(card_in(page, "New", lead)).to_have_class(re.compile(r"\bis-urgent\b"))
    saved = Lead.objects.get(pk=lead.pk)
    assert (saved.priority, saved.assignee.username) == ("urgent", "jan")
    assert_same_document(page)
    screenshot(page, "board-after-quick-actions")


def test_a_refused_quick_action_keeps_the_card_and_says_why(page, live_server, rep, leads, login):
    open_board(page, live_server, login, rep)
    lead = leads["chairs"]
    card(page, lead).locator("[data-quick]").click()
    dialog = page.locator("#quick-dialog")
    expect(dialog).to_be_visible()
    # Someone else takes the lead over while the dialog is open.
    bob = RepFactory(username="bob", first_name="Bob", last_name="Bakker")
    Lead.objects.filter(pk=lead.pk).update(created_by=bob, assignee=bob)

    dialog.get_by_role("button", name="High").click()

    expect(toast(page, "You don't have permission to do that.")).to_be_visible()
    expect(card_in(page, "New", lead)).to_be_visible()
    assert Lead.objects.get(pk=lead.pk).priority == "normal"
    assert_same_document(page)


def test_quick_actions_dialog_at_phone_width(page, live_server, rep, leads, login, screenshot):
    page.set_viewport_size(PHONE)
    open_board(page, live_server, login, rep)
    card(page, leads["fleet"]).locator("[data-quick]").click()
    expect(page.locator("#quick-dialog")).to_be_visible()
    screenshot(page, "board-quick-dialog-phone", full_page=False)


def test_a_card_assigned_out_of_the_boards_filter_leaves_the_board(
    page, live_server, rep, leads, login
):
    RepFactory(username="jan", first_name="Jan", last_name="de Boer")
    login(page, live_server, rep, next_url="/board/?assignee=me")
    lead = leads["fleet"]  # the rep's own: the only card on a board of their leads
    expect(card(page, lead)).to_be_visible()
    expect(count(page, "New")).to_have_text("1")
    mark_document(page)

    card(page, lead).locator("[data-quick]").click()
    field = page.locator("#quick-dialog").get_by_label("Assign to someone")
    field.fill("Jan de Boer")
    field.press("Enter")

    expect(toast(page, "It no longer matches the board’s filters.")).to_be_visible()
    expect(card(page, lead)).to_have_count(0)
    expect(count(page, "New")).to_have_text("0")
    assert_same_document(page)
