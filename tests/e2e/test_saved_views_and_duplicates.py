"""In a real browser: the lead form's notice of possible duplicates as the title is typed,
and saving the lead list's filters as a view that opens with Leads."""

import pytest
from playwright.sync_api import expect

from leads import forms
from leads.models import Lead, Priority, SavedView
from tests.e2e.conftest import PHONE
from tests.factories import ClientFactory, LeadFactory, ManagerFactory, RepFactory, default_stage

pytestmark = pytest.mark.e2e


@pytest.fixture
def rep(transactional_db):
    return RepFactory(username="rita", first_name="Rita", last_name="Visser")


def test_typing_a_title_like_an_open_lead_of_the_client_warns_and_saving_still_works(
    page, live_server, rep, login, screenshot
):
    acme = ClientFactory(name="Acme")
    original = LeadFactory(
        title="Website redesign", client=acme, stage=default_stage("Proposal"), value=25000
    )
    LeadFactory(title="Website redesign", client=ClientFactory(name="Other"))
    login(page, live_server, rep, next_url="/leads/new/")

    page.get_by_label("Client").select_option(label="Acme")
    title = page.get_by_label("Title", exact=True)
    title.press_sequentially("Website redesig", delay=20)
    notice = page.locator("#duplicate-notice")
    expect(notice).to_have_attribute("aria-live", "polite")
    expect(notice).to_contain_text("Possible duplicate: ‘Website redesign’ (Proposal, €25,000)")
    link = notice.get_by_role("link", name="‘Website redesign’")
    expect(link).to_have_attribute("href", f"/leads/{original.pk}/")
    expect(link).to_have_attribute("target", "_blank")
    # Typing went on while the notice came: nothing typed was lost.
    expect(title).to_have_value("Website redesig")
    screenshot(page, "lead-duplicate-notice-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "lead-duplicate-notice-phone")

    title.press_sequentially("n")
    page.get_by_role("button", name="Create lead").click()

    expect(page.get_by_role("heading", name="Website redesign")).to_be_visible()
    assert Lead.objects.filter(title="Website redesign", client=acme).count() == 2


def test_another_title_clears_the_notice(page, live_server, rep, login):
    acme = ClientFactory(name="Acme")
    LeadFactory(title="Website redesign", client=acme)
    login(page, live_server, rep, next_url="/leads/new/")

    page.get_by_label("Title", exact=True).fill("Website redesign")
    expect(page.locator("#duplicate-notice")).to_be_empty()  # no client chosen yet
    page.get_by_label("Client").select_option(label="Acme")
    expect(page.locator("#duplicate-notice")).to_contain_text("Possible duplicate")
    page.get_by_label("Title", exact=True).fill("Office chairs")
    expect(page.locator("#duplicate-notice")).not_to_contain_text("Possible duplicate")


def test_a_client_found_by_the_client_search_is_heard_too(
    page, live_server, rep, login, monkeypatch
):
    monkeypatch.setattr(forms, "CLIENT_CHOICES_MAX", 3)  # past it, the form searches
    ClientFactory.create_batch(4)
    acme = ClientFactory(name="Acme")
    LeadFactory(title="Website redesign", client=acme)
    login(page, live_server, rep, next_url="/leads/new/")

    page.get_by_label("Title", exact=True).fill("Website redesign")
    page.get_by_label("Find a client by name").fill("Acme")
    expect(
        page.get_by_label("Client", exact=True).locator("option", has_text="Acme")
    ).to_have_count(1)
    page.get_by_label("Client", exact=True).select_option(label="Acme")

    expect(page.locator("#duplicate-notice")).to_contain_text("Possible duplicate")


def test_the_busy_bar_stops_when_the_form_is_answered_before_the_duplicate_check(
    page, live_server, rep, login
):
    """The page-wide bar along the top shows while a request is out, and stops once none
    is, even when the notice that asked was swapped out with the form before its answer
    came (the bar ran on for good: moving content nobody could stop, WCAG 2.2.2)."""
    lead = LeadFactory(title="Website redesign", created_by=rep)
    login(page, live_server, rep, next_url=f"/leads/{lead.pk}/edit/")
    bar = page.locator("#global-indicator")
    expect(bar).not_to_have_class("htmx-indicator htmx-request")
    held = []  # the duplicate checks, answered only after the form's own answer

    def hold(route):
        if held is not None:
            held.append(route)
        else:
            route.continue_()

    page.route("**/leads/duplicates/**", hold)
    page.get_by_label("Title", exact=True).fill("")  # asks for duplicates after 400 ms
    page.wait_for_function("() => document.querySelector('#global-indicator.htmx-request')")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#id_title_error")).to_be_visible()  # the 422 form, swapped in

    routes, held = held, None
    assert routes
    for route in routes:
        route.continue_()
    expect(bar).not_to_have_class("htmx-indicator htmx-request")
    page.wait_for_timeout(300)
    expect(bar).not_to_have_class("htmx-indicator htmx-request")


def test_save_the_filters_as_a_default_view_that_then_opens_with_leads(
    page, live_server, login, screenshot
):
    manager = ManagerFactory(username="mona", first_name="Mona", last_name="Bakker")
    LeadFactory(title="Server room", priority=Priority.URGENT)
    LeadFactory(title="Coffee beans", priority=Priority.LOW)
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/leads/?priority=urgent&sort=-value")
    expect(page.get_by_role("link", name="Server room")).to_be_visible()

    page.locator("summary", has_text="Save view").click()
    page.get_by_label("Name of the view").fill("Fires")
    page.get_by_label("Share with everyone").check()
    page.get_by_label("Open it when I open Leads").check()
    screenshot(page, "saved-view-save-desktop")
    page.get_by_role("button", name="Save view").click()

    expect(page.locator(".view-current")).to_contain_text("View: Fires")
    view = SavedView.objects.get()
    assert (view.query, view.shared) == ("priority=urgent&sort=-value", True)

    page.goto(f"{live_server.url}/leads/")  # asked nothing: the default view
    expect(page.get_by_role("link", name="Server room")).to_be_visible()
    expect(page.get_by_role("link", name="Coffee beans")).to_have_count(0)

    page.locator("summary", has_text="Views").click()
    screenshot(page, "saved-view-menu-desktop")
    page.get_by_role("link", name="All open leads").click()
    expect(page.get_by_role("link", name="Coffee beans")).to_be_visible()
    page.set_viewport_size(PHONE)
    page.locator("summary", has_text="Views").click()
    screenshot(page, "saved-view-menu-phone")

    page.goto(f"{live_server.url}/leads/views/")
    expect(page.get_by_role("cell", name="Your default")).to_be_visible()
    screenshot(page, "saved-views-page-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "saved-views-page-desktop")
