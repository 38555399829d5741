"""Signing in and out in a real browser, and what the shell does once signed in."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE
from tests.factories import RepFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def alice(transactional_db):
    return UserFactory(username="alice", first_name="Alice", last_name="Jansen")


def test_sign_in_see_navigation_and_sign_out(page, live_server, alice, screenshot):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_label("Username")).to_be_focused()
    screenshot(page, "login-desktop")

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator(".topbar")).to_contain_text("Alice Jansen")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="My Work")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Leads")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    screenshot(page, "signed-in-desktop")

    page.locator("details.user-menu > summary").click()  # the user menu
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.locator(".topbar")).to_have_count(0)


def test_wrong_password_keeps_username_and_says_why(page, live_server, alice):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_label("Username")).to_have_value("alice")


def test_five_wrong_passwords_pause_sign_in_with_a_page_that_says_why(
    page, live_server, alice, screenshot
):
    page.goto(f"{live_server.url}/accounts/login/")
    for _ in range(5):
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    expect(page.get_by_role("heading", name="Too many sign-in attempts")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again in 15 minutes")
    screenshot(page, "locked-out-desktop")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "locked-out-phone")

    page.get_by_role("link", name="Back to sign in").click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Too many sign-in attempts")).to_be_visible()
    expect(page.locator(".topbar")).to_have_count(0)


def test_staff_see_the_admin_link(page, live_server, login):
    login(page, live_server, UserFactory(username="root", is_staff=True, is_superuser=True))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()

    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_phone_layout(page, live_server, alice, login, screenshot):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, "login-phone")

    login(page, live_server, alice)

    menu = page.locator("details.user-menu > summary")
    expect(menu).to_be_visible()
    menu.click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    menu.click()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Leads")).to_be_visible()
    # Nothing wider than the screen (tables scroll inside their own box).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "signed-in-phone")


# --- the shell's JavaScript (static/js/app.js) with the htmx error contract ---------------


@pytest.fixture
def signed_in(page, live_server, alice, login):
    login(page, live_server, alice, next_url="/no-such-page/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    return page


def test_htmx_404_shows_a_toast_and_replaces_nothing(signed_in, screenshot):
    page = signed_in
    page.evaluate("() => { htmx.ajax('GET', '/leads/999999/', {target: '#main'}); }")

    toast = page.locator("#toasts .toast-error")
    expect(toast).to_contain_text("Not found. It may have been deleted.")
    expect(toast).to_have_attribute("role", "alert")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    screenshot(page, "toast-error", full_page=False)

    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_have_count(0)


def test_network_failure_shows_a_toast(signed_in):
    page = signed_in
    page.route("**/unreachable/", lambda route: route.abort())

    page.evaluate("() => { htmx.ajax('GET', '/unreachable/', {target: '#main'}); }")

    expect(page.locator("#toasts .toast-error")).to_contain_text("Could not reach the server")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


@pytest.mark.parametrize("status", [422, 409])
def test_422_and_409_are_swapped_in(signed_in, status):
    page = signed_in
    page.route(
        "**/form/",
        lambda route: route.fulfill(status=status, body="<p id='swapped'>form again</p>"),
    )

    page.evaluate("() => { htmx.ajax('POST', '/form/', {target: '#main'}); }")

    expect(page.locator("#swapped")).to_have_text("form again")
    expect(page.locator("#toasts .toast")).to_have_count(0)


def test_server_error_without_toast_header_gets_a_generic_toast(signed_in):
    page = signed_in
    page.route("**/broken/", lambda route: route.fulfill(status=502, body="Bad gateway"))

    page.evaluate("() => { htmx.ajax('GET', '/broken/', {target: '#main'}); }")

    expect(page.locator("#toasts .toast-error")).to_have_text(
        re.compile(r"Something went wrong \(502\)\. Your input is kept\.")
    )
    expect(page.locator("#toasts .toast")).to_have_count(1)


def test_show_toast_event_success_hides_itself(signed_in):
    page = signed_in
    page.route(
        "**/saved/",
        lambda route: route.fulfill(
            status=204,
            headers={"HX-Trigger": '{"showToast": {"level": "success", "message": "Saved."}}'},
        ),
    )
    page.clock.install()

    page.evaluate("() => { htmx.ajax('POST', '/saved/', {target: '#main'}); }")

    toast = page.locator("#toasts .toast-success")
    expect(toast).to_have_text(re.compile("Saved."))
    page.clock.run_for(6000)
    expect(toast).to_have_count(0)
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_hx_confirm_opens_our_dialog(signed_in):
    page = signed_in
    requests = []
    page.route(
        "**/delete-me/",
        lambda route: (
            requests.append(route.request.method),
            route.fulfill(status=200, body="<p id='deleted'>Deleted.</p>"),
        ),
    )
    page.evaluate(
        """() => {
          const button = document.createElement('button');
          button.textContent = 'Delete lead';
          button.setAttribute('hx-post', '/delete-me/');
          button.setAttribute('hx-target', '#main');
          button.setAttribute('hx-confirm', 'Delete this lead?');
          button.setAttribute('data-confirm-danger', '');
          button.setAttribute('data-confirm-label', 'Delete');
          document.querySelector('#main').prepend(button);
          htmx.process(button);
        }"""
    )
    dialog = page.locator("#confirm-dialog")

    page.get_by_role("button", name="Delete lead").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete this lead?")
    expect(dialog.get_by_role("button", name="Delete")).to_have_class(re.compile("btn-danger"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert requests == []

    page.get_by_role("button", name="Delete lead").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#deleted")).to_have_text("Deleted.")
    assert requests == ["POST"]


def test_the_language_is_switched_in_the_user_menu_and_kept(page, live_server, login):
    """The user menu's EN / NL switch: the same page comes back in Dutch, and stays Dutch
    after signing out and in again on a browser that asks for English."""
    user = RepFactory(username="switcher")
    login(page, live_server, user)
    page.goto(f"{live_server.url}/leads/")
    page.locator("details.user-menu > summary").click()
    page.get_by_role("button", name="Nederlands").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    nav = page.get_by_role("navigation", name="Hoofdmenu")
    expect(nav.get_by_role("link", name="Mijn werk")).to_be_visible()
    page.locator("details.user-menu > summary").click()
    expect(page.get_by_role("button", name="Nederlands")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Uitloggen").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")  # the sign-in page too
    page.context.clear_cookies()
    login(page, live_server, user)
    expect(page.locator("html")).to_have_attribute("lang", "nl")
