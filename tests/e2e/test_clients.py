"""Deleting a client in a real browser: its lead keeps the reference, shown as a placeholder."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import ClientFactory, LeadFactory, ManagerFactory

pytestmark = pytest.mark.e2e


def test_delete_a_client_and_see_the_placeholder_on_its_lead(page, live_server, login, screenshot):
    manager = ManagerFactory(username="boss")
    client = ClientFactory(name="Vanishing Ventures")
    lead = LeadFactory(title="Deal with Vanishing", client=client)
    login(page, live_server, manager)

    page.goto(f"{live_server.url}{client.get_absolute_url()}")
    page.get_by_role("link", name="Delete").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("1 open lead")
    dialog.get_by_role("button", name="Delete client").click()

    expect(page).to_have_url(re.compile(r"/clients/$"))
    expect(page.locator("#toasts")).to_contain_text("Vanishing Ventures")
    expect(page.get_by_role("link", name="Vanishing Ventures")).to_have_count(0)

    page.goto(f"{live_server.url}{lead.get_absolute_url()}")
    expect(page.locator(".badge-deleted", has_text="Deleted client")).to_be_visible()
    expect(page.get_by_role("link", name="Vanishing Ventures")).to_have_count(0)
    screenshot(page, "lead-with-deleted-client")
