"""The forecast and pipeline reports in a real browser: the filter bar swaps the report
by htmx and keeps the state in the URL, every figure is a link, nothing breaks the CSP."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.services import lead_move_stage
from tests.e2e.conftest import PHONE
from tests.factories import LeadFactory, ManagerFactory, RepFactory, default_stage

pytestmark = pytest.mark.e2e


@pytest.fixture
def manager(transactional_db):
    return ManagerFactory(username="mara", first_name="Mara", last_name="de Boer")


@pytest.fixture
def leads(manager):
    rita = RepFactory(username="rita", first_name="Rita", last_name="Visser")
    today = timezone.localdate()
    LeadFactory(
        title="Fleet renewal", value=Decimal(20000), probability=50, assignee=rita,
        expected_close_date=today + datetime.timedelta(days=40), stage=default_stage("Qualified"),
    )  # fmt: skip
    LeadFactory(title="Office chairs", value=Decimal(5000), expected_close_date=None)
    moved = LeadFactory(title="Printers", value=Decimal(3000), assignee=rita)
    lead_move_stage(lead_id=moved.pk, stage=default_stage("Contacted"), by=manager)
    return {"rita": rita}


def watch_console(page) -> list[str]:
    """What the browser reports of the security policy (a blocked inline script or style
    is a console error naming it), and uncaught page errors."""
    errors = []
    policy = re.compile(r"Content.Security.Policy|Permissions.Policy", re.IGNORECASE)
    page.on("console", lambda message: policy.search(message.text) and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_forecast_months_and_owner_swap_the_report_and_stay_in_the_url(
    page, live_server, manager, leads, login, screenshot
):
    errors = watch_console(page)
    login(page, live_server, manager, next_url="/reports/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Forecast")
    table = page.locator("table", has=page.locator("caption", has_text="Open leads by expected"))
    expect(table.locator("tbody tr")).to_have_count(1 + 6 + 1)  # overdue, 6 months, no date

    page.get_by_label("Months ahead").fill("3")
    page.get_by_label("Owner").select_option(label="Rita Visser")
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(re.compile(r"[?&]months=3(&|$)"))
    expect(table.locator("tbody tr")).to_have_count(1 + 3 + 1)
    expect(page.locator(".page-header .subtitle")).to_contain_text("Owner: Rita Visser")
    expect(table.locator("tfoot")).to_contain_text("Next 3 months")
    screenshot(page, "reports-forecast-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "reports-forecast-phone")

    table.locator("tfoot").get_by_role("link", name="1", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Leads")
    expect(page.locator("#lead-results tbody td.cell-title")).to_have_text(["Fleet renewal"])
    assert errors == []


def test_pipeline_report_funnel_and_links(page, live_server, manager, leads, login, screenshot):
    errors = watch_console(page)
    login(page, live_server, manager, next_url="/reports/pipeline/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pipeline")
    funnel = page.get_by_role("img", name=re.compile("Leads that entered each stage"))
    expect(funnel).to_be_visible()
    contacted = page.locator("tbody tr", has=page.get_by_role("rowheader", name="Contacted"))
    expect(contacted.locator("td").nth(4)).to_have_text("1")  # entered in the period

    page.get_by_label("Owner").select_option(label="Rita Visser")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"[?&]assignee=\d+"))
    screenshot(page, "reports-pipeline-desktop")

    contacted.locator("td").nth(4).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Leads")
    expect(page.locator("#lead-results .chip", has_text="Entered Contacted")).to_be_visible()
    expect(page.locator("#lead-results tbody td.cell-title")).to_have_text(["Printers"])
    assert errors == []
