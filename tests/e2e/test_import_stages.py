"""Switching from another CRM in a real browser: a HubSpot deals export is uploaded, its
stages are matched to ours in the stage step, one is changed, and the deals import."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from leads.models import Lead
from tests.e2e.conftest import PHONE
from tests.factories import ClientFactory, RepFactory, default_stage

pytestmark = pytest.mark.e2e

HUBSPOT = Path(__file__).resolve().parents[1] / "leads" / "fixtures" / "peers" / "hubspot_deals.csv"


def test_match_a_hubspot_files_stages_and_import(page, live_server, login, screenshot):
    rep = RepFactory(username="jan", first_name="Jan", last_name="de Vries")
    RepFactory(username="carla", first_name="Carla", last_name="Smit")
    login(page, live_server, rep)

    page.goto(f"{live_server.url}/leads/import/")
    page.get_by_label("CSV file").set_input_files(str(HUBSPOT))
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_text("This looks like an export from HubSpot")).to_be_visible()
    mapping = page.locator("table.import-mapping")
    expect(mapping.get_by_role("row", name="Deal Name")).to_contain_text(
        "Deal Name → Title (HubSpot)"
    )
    expect(mapping.get_by_label("Record ID")).to_have_value("")  # not recognised: ignored

    stages = page.locator("#import-stages")
    expect(stages.get_by_role("heading")).to_have_text("3. Match their stages to ours")
    appointment = stages.get_by_label("Appointment Scheduled")
    expect(appointment).to_have_value(str(default_stage("Contacted").pk))
    expect(stages.get_by_role("row", name="Appointment Scheduled")).to_contain_text(
        "Contacted · probability 20 %"
    )
    expect(stages.get_by_label("Closed Won")).to_have_value(str(default_stage("Won").pk))
    screenshot(page, "import-stage-step-desktop")

    # The user knows better: an appointment is qualified, here.
    appointment.select_option(label="Qualified")
    page.get_by_label("Create clients that do not exist yet").check()
    page.get_by_role("button", name="Preview (dry run)").click()
    expect(page.get_by_text("5 rows: 5 ready to import")).to_be_visible()
    expect(page.locator("#import-stages").get_by_label("Appointment Scheduled")).to_have_value(
        str(default_stage("Qualified").pk)
    )
    screenshot(page, "import-stage-step-preview")

    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported 5 leads.")).to_be_visible()
    assert Lead.objects.get(title="Acme website redesign").stage == default_stage("Qualified")
    assert Lead.objects.get(title="Initech support contract").stage == default_stage("Won")


def test_the_stage_step_fits_a_phone(page, live_server, login, screenshot):
    login(page, live_server, RepFactory(username="jan"))
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/leads/import/")
    page.get_by_label("CSV file").set_input_files(str(HUBSPOT))
    page.get_by_role("button", name="Upload and map columns").click()
    stages = page.locator("#import-stages")
    expect(stages).to_be_visible()
    select = stages.get_by_label("Closed Lost")
    select.scroll_into_view_if_needed()
    box = select.bounding_box()
    # Each stage a card on a phone: its choice as wide as the card, inside the screen.
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    assert box["width"] > PHONE["width"] / 2
    screenshot(page, "import-stage-step-phone")


def test_import_people_before_their_deals(page, live_server, login, screenshot):
    ClientFactory(name="Acme B.V.")
    login(page, live_server, RepFactory(username="jan"))
    page.goto(f"{live_server.url}/leads/import/")
    page.get_by_label("People (contacts)").check()
    screenshot(page, "import-upload-kinds")
    page.get_by_label("CSV file").set_input_files(str(HUBSPOT.parent / "pipedrive_people.csv"))
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page.get_by_text("This looks like an export from Pipedrive")).to_be_visible()
    expect(page.locator("#import-stages")).to_have_count(0)
    page.get_by_label("Create clients that do not exist yet").check()
    page.get_by_role("button", name="Preview (dry run)").click()
    expect(page.get_by_text("4 rows: 2 ready to import, 2 with errors")).to_be_visible()
    screenshot(page, "import-people-preview")
