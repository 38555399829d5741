"""Browser tests: Playwright's sync API driving Debian's chromium against live_server.

Fixtures
    browser      session-wide headless chromium (/usr/bin/chromium, never downloaded)
    page         a fresh browser context and page per test, viewport 1280x900
    login        a function: login(page, live_server, user, password="pw", next_url="")
                 signs in through the login form and waits for the redirect
    screenshot   a function: screenshot(page, name, full_page=True) saves
                 test-results/<name>.png (gitignored) and returns its path
    DESKTOP, PHONE   viewport sizes for page.set_viewport_size(...)

    def test_x(page, live_server, login, screenshot):
        login(page, live_server, UserFactory())
        screenshot(page, "x-desktop")

Every test here runs against ``live_server``, so its database is transactional: the
server thread must see what the test creates. A transactional test ends by flushing the
tables, which also removes the rows the data migrations made (groups, the default
pipeline, lead sources); ``migrated_rows`` in tests/conftest.py puts them back before each
transactional test. pytest-django runs transactional tests after the others, so the rest
of the suite never sees a flushed database.

Mark each test module ``pytestmark = pytest.mark.e2e`` (run them alone with -m e2e, skip
them with -m "not e2e").
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread

# Playwright's sync API runs an event loop in this thread, which makes Django refuse
# ORM calls from the test body ("You cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


class OneRequestAtATime(WSGIServer):
    """The live server for SQLite's in-memory test database, which the server's threads
    would share: one SQLite connection cannot serve two requests at once ("bad parameter
    or other API misuse"), and a page may send two together (the lead form's duplicate
    notice as the contact choices reload; a board card's dialog as the board reloads).
    Served in turn, each answered with "Connection: close". PostgreSQL gives each thread
    its own connection and keeps Django's threaded server."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)


if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    LiveServerThread.server_class = OneRequestAtATime
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}: run 'apt-get install chromium'")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _e2e_database(transactional_db, live_server):
    """Every browser test runs against live_server (tests/conftest.py restores the rows
    the data migrations made, which transactional tests flush)."""


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def _login(page, live_server, user, password: str = "pw", next_url: str = ""):
    """Sign ``user`` in through the login form; returns the page after the redirect."""
    query = f"?next={next_url}" if next_url else ""
    page.goto(f"{live_server.url}/accounts/login/{query}")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def _screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG under test-results/ for a human (or a reviewer) to look at."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def login():
    return _login


@pytest.fixture
def screenshot():
    return _screenshot
