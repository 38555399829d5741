"""The Content-Security-Policy in a real browser: the pages and the admin work under it,
and an injected inline script, event handler or style does not run.

A violation shows in two ways, and both are collected: a ``securitypolicyviolation``
event in the page (an init script, which the policy does not govern, logs it) and
Chromium's own console error. Permissions-Policy header errors (an unknown feature name)
and uncaught page errors are collected too.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import ClientFactory, LeadFactory, ManagerFactory, default_stage

pytestmark = pytest.mark.e2e

WATCH_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(
    "securitypolicyviolation: " + event.violatedDirective + " blocked " +
    (event.blockedURI || "inline") + " (" + (event.sample || "") + ")"
  );
});
"""
POLICY_MESSAGE = re.compile(
    r"securitypolicyviolation|Content.Security.Policy|Permissions.Policy", re.IGNORECASE
)


class PolicyWatch:
    """What the browser reported about the policies, and uncaught page errors."""

    def __init__(self, page):
        self.page = page
        self.reports: list[str] = []
        self.page_errors: list[str] = []
        page.context.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _console(self, message):
        if POLICY_MESSAGE.search(message.text):
            self.reports.append(message.text)

    def assert_clean(self, where: str):
        assert self.reports == [], f"policy reports on {where}"
        assert self.page_errors == [], f"page errors on {where}"

    def wait_for(self, pattern: str, timeout_ms: int = 2000):
        """Wait until a report matches ``pattern`` (console messages arrive a bit later)."""
        for _ in range(timeout_ms // 50):
            if any(re.search(pattern, report) for report in self.reports):
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"no report matching {pattern!r} in {self.reports}")


@pytest.fixture
def watch(page):
    return PolicyWatch(page)


@pytest.fixture
def boss(transactional_db):
    """A sales manager who is also an admin: may move any lead and open the admin."""
    return ManagerFactory(username="mara", is_staff=True, is_superuser=True)


def visit(page, live_server, path):
    """Open ``path``; the document itself must carry both policies."""
    response = page.goto(f"{live_server.url}{path}")
    assert response.ok, f"{path}: {response.status}"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "camera=()" in response.headers["permissions-policy"]
    return response


def toast(page, text):
    return page.locator("#toasts .toast", has_text=text)


def test_pages_and_admin_run_without_a_policy_violation(
    page, live_server, boss, watch, login, screenshot
):
    acme = ClientFactory(name="Acme BV")
    ClientFactory(name="Globex")
    lead = LeadFactory(
        title="Fleet renewal", client=acme, assignee=boss, created_by=boss, value=Decimal(9000)
    )
    for i in range(6):
        LeadFactory(title=f"Office chairs {i}", value=Decimal(1000 * (i + 1)), assignee=boss)

    # My Work, straight after signing in.
    login(page, live_server, boss)
    expect(page.get_by_role("heading", level=1)).to_contain_text("My Work")
    watch.assert_clean("sign-in and My Work")

    # The lead list: a search, a filter and a sort, each swapped in by htmx.
    visit(page, live_server, "/leads/")
    page.get_by_role("searchbox", name="Search").press_sequentially("chairs", delay=20)
    expect(page).to_have_url(re.compile(r"[?&]q=chairs(&|$)"))
    priority = page.locator("details.filter-menu", has=page.locator("summary", has_text="Priority"))
    priority.locator("summary").click()
    priority.get_by_label("Normal").check()
    expect(page).to_have_url(re.compile(r"[?&]priority=normal(&|$)"))
    expect(page.locator("#lead-results .chip", has_text="Priority: Normal")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#lead-results .result-summary")).to_contain_text("of 6")
    page.locator("#lead-results thead").get_by_role("link", name=re.compile(r"^Value")).click()
    expect(page).to_have_url(re.compile(r"[?&]sort=-value(&|$)"))
    expect(page.locator("#lead-results tbody td.cell-title").first).to_have_text("Office chairs 5")
    screenshot(page, "csp-lead-list")
    watch.assert_clean("the lead list")

    # A lead's page: move it to another stage through the tracker.
    visit(page, live_server, f"/leads/{lead.pk}/")
    page.locator(".tracker-steps").get_by_role("button", name=re.compile(r"^Qualified")).click()
    expect(toast(page, "Moved to Qualified.")).to_be_visible()
    watch.assert_clean("the lead's page")

    # The board: "Move to…" opens its dialog and moves the card.
    visit(page, live_server, "/board/")
    page.get_by_role("button", name="Move to another stage: “Fleet renewal”").click()
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Proposal", exact=True).click()
    expect(toast(page, "Moved “Fleet renewal” to Proposal.")).to_be_visible()
    screenshot(page, "csp-board")
    watch.assert_clean("the board")

    # The lead form: a client picked swaps the contact field; an error comes back as 422.
    visit(page, live_server, "/leads/new/")
    page.get_by_label("Client").select_option(label="Acme BV")
    page.get_by_role("button", name="Create lead").click()
    expect(page.locator("#id_title_error")).to_have_text("Title is required.")
    watch.assert_clean("the lead form")

    for path in ("/clients/", "/leads/import/", "/reports/forecast/", "/reports/pipeline/"):
        visit(page, live_server, path)
        watch.assert_clean(path)

    # The admin: its index, a change list, and a lead's change form with autocomplete.
    visit(page, live_server, "/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    visit(page, live_server, "/admin/leads/lead/")
    watch.assert_clean("the admin index and lead change list")

    visit(page, live_server, f"/admin/leads/lead/{lead.pk}/change/")
    page.locator(".field-client .select2-selection").click()
    page.locator(".select2-search__field").fill("Glo")
    page.locator(".select2-results__option", has_text="Globex").click()
    expect(page.locator(".field-client .select2-selection__rendered")).to_have_text(
        re.compile("Globex")
    )
    watch.assert_clean("the admin's lead change form")

    # The pipeline's change form: the inline stage editor adds a row.
    visit(page, live_server, f"/admin/pipelines/pipeline/{default_stage().pipeline_id}/change/")
    rows = page.locator("#stages-group tr.form-row:not(.empty-form)")
    expect(rows).to_have_count(7)
    page.locator("#stages-group").get_by_role("button", name=re.compile("Add another")).click()
    expect(rows).to_have_count(8)
    watch.assert_clean("the admin's pipeline change form")


def test_an_injected_inline_script_handler_or_style_does_not_run(
    page, live_server, boss, watch, login
):
    login(page, live_server, boss, next_url="/leads/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Leads")
    watch.assert_clean("the lead list")

    ran = page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__injectedScript = true";
          document.body.appendChild(script);

          const button = document.createElement("button");
          button.setAttribute("onclick", "window.__injectedHandler = true");
          document.body.appendChild(button);
          button.click();

          const style = document.createElement("style");
          style.textContent = "#main { outline: 7px solid red }";
          document.head.appendChild(style);

          return {
            script: window.__injectedScript === true,
            handler: window.__injectedHandler === true,
            style: getComputedStyle(document.getElementById("main")).outlineWidth === "7px",
          };
        }"""
    )

    assert ran == {"script": False, "handler": False, "style": False}
    # The browser said why: the watch that finds no violation on the pages finds these.
    watch.wait_for(r"securitypolicyviolation: script-src-elem blocked inline")
    watch.wait_for(r"securitypolicyviolation: script-src-attr blocked inline")
    watch.wait_for(r"securitypolicyviolation: style-src-elem blocked inline")


def test_a_script_in_swapped_html_does_not_run(page, live_server, boss, watch, login):
    """htmx runs no script from a response (allowScriptTags false), and the policy
    would block one anyway: nothing a fragment carries runs inline."""
    login(page, live_server, boss, next_url="/leads/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Leads")

    page.evaluate(
        """() => htmx.swap("#main",
          '<script>window.__swappedScript = true<\\/script>' +
          '<img src="data:," onerror="window.__swappedHandler = true">',
          {swapStyle: "beforeend"})"""
    )
    watch.wait_for(r"securitypolicyviolation: script-src-attr blocked inline")

    assert page.evaluate("() => window.__swappedScript === true") is False
    assert page.evaluate("() => window.__swappedHandler === true") is False
