"""The API's pages in a real browser: the interactive docs (Swagger UI from our own static
files) and the tokens page work under the Content-Security-Policy, with nothing loaded
from elsewhere."""

import pytest
from playwright.sync_api import expect

from tests.e2e.test_security_headers import PolicyWatch
from tests.factories import ManagerFactory

pytestmark = pytest.mark.e2e


def test_the_docs_load_from_our_server_and_try_a_call(page, live_server, login, screenshot):
    watch = PolicyWatch(page)
    elsewhere = []
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url) if not request.url.startswith(live_server.url) else None
        ),
    )
    login(page, live_server, ManagerFactory(username="boss"))
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.get_by_text("Leadly CRM API").first).to_be_visible()
    operation = page.locator("#operations-Users-get_me")
    expect(operation).to_be_visible()
    # Try "Who the token or the session stands for" with the session, as a person would.
    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(operation.locator(".response .response-col_status").first).to_have_text("200")
    expect(operation.locator(".response-col_description .microlight").first).to_contain_text(
        '"username": "boss"'
    )
    screenshot(page, "api-docs")
    watch.assert_clean("the API docs")
    assert elsewhere == []


def test_a_token_is_made_copied_and_revoked(page, live_server, login, screenshot):
    watch = PolicyWatch(page)
    login(page, live_server, ManagerFactory(username="boss"))
    page.locator("details.user-menu > summary").click()  # the user menu
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("Website sync")
    page.get_by_role("button", name="Make token").click()
    secret = page.get_by_role("textbox", name="Your new token")
    assert secret.input_value().startswith("crm_")
    screenshot(page, "api-token-new")
    page.get_by_role("button", name="Revoke Website sync").click()
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("Token “Website sync” revoked")).to_be_visible()
    watch.assert_clean("the API tokens page")
