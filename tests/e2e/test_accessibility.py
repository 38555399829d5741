"""Every page against WCAG 2.1 A and AA, with axe-core, in English and in Dutch.

axe-core (tests/e2e/vendor/axe.min.js, from the npm registry; its README says which
version and how to upgrade it) is injected into each page as it stands — after a bad
submit, with a dialog or menu open, at a phone's width — and asked for the rules tagged
wcag2a, wcag2aa, wcag21a and wcag21aa. A test collects what every page of its part of the
product breaks and fails once at the end, naming for each violation the page, the rule,
its help text and the elements (their selectors and what to fix).

No rule is switched off. Should one ever report something that is not a barrier, exclude
that one element in ``Audit.check`` (``exclude=``) with a comment saying why.

The language comes from the browser's Accept-Language ("en", "nl"), as it does for
people; every page says which it was served in (``<html lang>``), which the audit checks.

Everything here finds its way by ids, names and URLs, not by English words, so the tests
keep working as the pages are translated. The data is the demo data (``seed_demo``): a
few hundred leads across every stage, with clients, contacts, history and closed leads,
so that the board, the lists and every report show what they show in use.
"""

import datetime
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from crm.models import Client, Contact
from leads.models import Lead
from pipelines.models import PipelineStage
from tests.e2e.conftest import DESKTOP, PHONE
from tests.factories import LeadFactory, SavedViewFactory, UserFactory

pytestmark = pytest.mark.e2e

User = get_user_model()

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LANGUAGES = ["en", "nl"]
NODES_SHOWN = 5  # of the elements that break a rule, in the report
DEMO_PASSWORD = "demo"
SIGN_IN = "form[action$='/accounts/login/'] button[type=submit]"

RUN_AXE = """
async ({tags, exclude}) => {
  const context = exclude.length ? {exclude: exclude} : document;
  const result = await axe.run(context, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
  });
  return result.violations.map((rule) => ({
    id: rule.id,
    impact: rule.impact,
    help: rule.help,
    url: rule.helpUrl,
    nodes: rule.nodes.map((node) => ({
      target: node.target.join(" "),
      html: node.html.slice(0, 200),
      summary: node.failureSummary,
    })),
  }));
}
"""


class Audit:
    """axe-core on the page as it stands; what it finds is kept for one report."""

    def __init__(self, page, language: str, base: str):
        self.page = page
        self.language = language
        self.base = base
        self.found: list[str] = []
        self.checked: list[str] = []

    def check(self, what: str, *, exclude: tuple[str, ...] = ()) -> None:
        page = self.page
        page.wait_for_load_state()
        # Nothing htmx asked for still on its way (a region that loads itself, such as
        # the lead form's duplicate notice); an element carries .htmx-request until its
        # answer is swapped in, and the page-wide indicator while any request is out.
        try:
            page.wait_for_function("() => !document.querySelector('.htmx-request')")
        except PlaywrightTimeoutError:
            busy = page.evaluate(
                "() => [...document.querySelectorAll('.htmx-request')].map((el) => el.outerHTML"
                ".slice(0, 120))"
            )
            pytest.fail(f"{what}: htmx requests never settled: {busy}", pytrace=False)
        served = page.evaluate("document.documentElement.lang")
        assert served == self.language, f"{what}: served in {served!r}, not {self.language!r}"
        if not page.evaluate("typeof window.axe === 'object'"):
            page.add_script_tag(path=str(AXE))
        violations = page.evaluate(RUN_AXE, {"tags": WCAG_21_AA, "exclude": list(exclude)})
        self.checked.append(what)
        for rule in violations:
            lines = [f"{what} [{self.language}] {page.url}", f"  {rule['id']} ({rule['impact']}): "
                     f"{rule['help']} <{rule['url']}>"]  # fmt: skip
            for node in rule["nodes"][:NODES_SHOWN]:
                lines.append(f"    {node['target']}  {node['html']}")
                lines.extend(f"      {line}" for line in node["summary"].splitlines())
            if len(rule["nodes"]) > NODES_SHOWN:
                lines.append(f"    … and {len(rule['nodes']) - NODES_SHOWN} more elements")
            self.found.append("\n".join(lines))

    def visit(self, path: str, what: str | None = None, *, status: int = 200) -> None:
        """Open ``path`` and check it."""
        response = self.page.goto(f"{self.base}{path}")
        assert response.status == status, f"{path}: {response.status}"
        self.check(what or path)

    def assert_clean(self) -> None:
        assert self.checked, "nothing was checked"
        if self.found:
            count = len(self.found)
            pytest.fail(
                f"{count} WCAG 2.1 A/AA violation{'s' if count > 1 else ''} "
                f"(axe-core) on {len(self.checked)} page states checked:\n\n"
                + "\n\n".join(self.found),
                pytrace=False,
            )


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(params=LANGUAGES)
def language(request):
    return request.param


@pytest.fixture
def page(browser, language):
    """A page whose browser asks for ``language``. The context lets the injected axe
    script past the Content-Security-Policy (script-src 'self' refuses an inline one);
    the pages have no inline script or style the policy would otherwise have stopped
    (tests/e2e/test_security_headers.py), so they look and behave as they do for people.
    Animations are off: a dialog or toast is checked as it ends up, not half faded in."""
    context = browser.new_context(
        viewport=DESKTOP,
        locale={"en": "en-GB", "nl": "nl-NL"}[language],
        extra_http_headers={"Accept-Language": language},
        bypass_csp=True,
        reduced_motion="reduce",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def audit(page, language, live_server):
    return Audit(page, language, live_server.url)


@pytest.fixture
def demo(transactional_db):
    """The demo data set: users (password "demo"), clients, contacts, leads, history."""
    call_command("seed_demo", "--force", stdout=StringIO())
    return DemoData()


class DemoData:
    """Rows of the demo data the tests open pages of."""

    def open_lead(self) -> Lead:
        return (
            Lead.objects.filter(stage__kind="open", client__isnull=False, contact__isnull=False)
            .order_by("pk")
            .first()
        )

    def stage(self, kind: str) -> PipelineStage:
        return PipelineStage.objects.filter(kind=kind, pipeline__is_default=True).first()

    def client(self) -> Client:
        return Client.objects.filter(deleted_at__isnull=True, leads__isnull=False).first()

    def contact(self) -> Contact:
        return Contact.objects.filter(deleted_at__isnull=True, leads__isnull=False).first()


def sign_in(audit, username: str, password: str = DEMO_PASSWORD, next_url: str = "/") -> None:
    """Through the sign-in form, by its fields' ids (their labels are translated)."""
    page = audit.page
    page.context.clear_cookies()  # whoever was signed in is no longer
    page.goto(f"{audit.base}/accounts/login/?next={next_url}")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator(SIGN_IN).click()
    page.wait_for_load_state()


def open_every_menu(page) -> None:
    """Open every <details> (filter menus, saved views, the assign picker) at once: axe
    checks only what is shown."""
    page.evaluate("document.querySelectorAll('details').forEach((menu) => { menu.open = true; })")


# --- signing in and the error pages ---------------------------------------------------------


def test_sign_in_and_error_pages(audit, demo):
    page = audit.page
    audit.visit("/accounts/login/", "sign-in page")

    page.locator("#id_username").fill("manager")
    page.locator("#id_password").fill("wrong")
    page.locator(SIGN_IN).click()
    expect(page.locator("#login-errors")).to_be_visible()
    audit.check("sign-in page with a wrong password")

    for _ in range(4):  # five wrong passwords pause signing in
        page.locator("#id_username").fill("nobody")
        page.locator("#id_password").fill("wrong")
        page.locator(SIGN_IN).click()
        page.wait_for_load_state()
    page.locator("#id_username").fill("nobody")
    page.locator("#id_password").fill("wrong")
    with page.expect_response(lambda response: response.status == 429):
        page.locator(SIGN_IN).click()
    audit.check("too many sign-in attempts")

    UserFactory(username="reader", password=DEMO_PASSWORD)  # in no group: reads only
    sign_in(audit, "reader")
    audit.visit("/leads/new/", "403 page", status=403)
    audit.visit("/leads/999999/", "404 page", status=404)
    audit.visit("/no-such-page/", "404 page of an unknown address", status=404)
    audit.assert_clean()


# --- leads: list, detail, form, merge --------------------------------------------------------


def test_lead_list_its_menus_bulk_actions_and_saved_views(audit, demo):
    page = audit.page
    sign_in(audit, "manager", next_url="/leads/")
    audit.check("lead list")

    open_stage = demo.stage("open")
    audit.visit(f"/leads/?stage={open_stage.pk}&priority=high&sort=-value", "filtered lead list")
    audit.visit("/leads/?q=zzzz-nothing-matches", "lead list without results")
    audit.visit("/leads/?status=open&sort=title")
    open_every_menu(page)
    audit.check("lead list with every menu open")

    # Ticked leads, then a move to a lost stage: the closing dialog asks the reason.
    page.reload()
    rows = page.locator('input[name="lead"][form="bulk-form"]')
    rows.nth(0).check()
    rows.nth(1).check()
    audit.check("lead list with two leads ticked")
    page.locator("#id_bulk_stage").select_option(str(demo.stage("lost").pk))
    page.locator('#bulk-form button[name="action"][value="stage"]').click()
    dialog = page.locator("#closing-dialog")
    expect(dialog).to_be_visible()
    audit.check("bulk move's closing dialog")
    dialog.locator("button[type=submit]").first.click()
    expect(dialog.locator(".field-error").first).to_be_visible()
    audit.check("bulk move's closing dialog with an error")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # Without htmx (form.submit() goes past it) the reason is asked on a page of its own.
    page.evaluate(
        """() => {
            const form = document.getElementById("bulk-form");
            const action = Object.assign(document.createElement("input"),
                                         {type: "hidden", name: "action", value: "stage"});
            form.append(action);
            form.submit();
        }"""
    )
    page.wait_for_url("**/leads/bulk/apply/**")
    expect(page.locator("form .field-error, form select[name=lost_reason]").first).to_be_visible()
    audit.check("bulk move's closing page (without JavaScript)")
    page.go_back()

    # A bulk change done: its toast, then Recent bulk changes and the change's page.
    rows.nth(0).check()
    page.locator("#id_bulk_priority").select_option("high")
    page.locator('#bulk-form button[name="action"][value="priority"]').click()
    expect(page.locator("#toasts [data-bulk-toast]")).to_be_visible()
    audit.check("lead list with the bulk change's toast")
    audit.visit("/leads/bulk/", "recent bulk changes")
    page.locator("table a[href*='/leads/bulk/']").first.click()
    page.wait_for_load_state()
    audit.check("a bulk change's page")

    # Saving a view under a name taken answers with the form again; then the views page.
    SavedViewFactory(owner=User.objects.get(username="manager"), name="Urgent ones")
    page.goto(f"{audit.base}/leads/?priority=urgent")
    page.locator("details.save-view summary").click()
    page.locator("#id_view_name").fill("Urgent ones")
    page.locator("#save-view-form button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    audit.check("save view form with an error")
    page.locator("input[name=name]").fill("Urgent, mine")
    page.locator("form.form button[type=submit]").click()
    page.wait_for_load_state()
    audit.check("lead list opened from a saved view")
    audit.visit("/leads/views/", "saved views")
    audit.assert_clean()


def test_lead_detail_its_dialogs_and_the_lead_form(audit, demo):
    page = audit.page
    lead = demo.open_lead()
    # A likely duplicate, so that the form shows its notice.
    LeadFactory(title=f"{lead.title} (2)", client=lead.client, stage=lead.stage)
    sign_in(audit, "manager", next_url=f"/leads/{lead.pk}/")
    audit.check("lead detail")
    open_every_menu(page)
    audit.check("lead detail with the assign picker open")

    # A lost stage in the tracker asks how the lead closed.
    lost = demo.stage("lost")
    page.locator(f".tracker-steps a[href$='?stage={lost.pk}']").click()
    dialog = page.locator("#closing-dialog")
    expect(dialog).to_be_visible()
    audit.check("lead detail's closing dialog")
    dialog.locator("button[type=submit]").first.click()
    expect(dialog.locator(".field-error").first).to_be_visible()
    audit.check("lead detail's closing dialog with an error")
    page.keyboard.press("Escape")

    # Delete asks first, in the confirmation dialog.
    page.locator(f"a[href$='/leads/{lead.pk}/delete/']").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    audit.check("lead detail's delete confirmation")
    page.keyboard.press("Escape")

    audit.visit(f"/leads/{lead.pk}/stage/?stage={lost.pk}", "closing page (without JavaScript)")
    audit.visit(f"/leads/{lead.pk}/delete/", "delete confirmation page")

    audit.visit("/leads/new/", "new lead form")
    page.locator("#id_title").fill("")
    page.locator("#id_probability").fill("250")
    page.locator("#id_value").fill("a lot")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    audit.check("new lead form with errors")

    audit.visit(f"/leads/{lead.pk}/edit/")
    expect(page.locator(".duplicate-notice")).to_be_visible()
    audit.check("lead edit form with a possible duplicate")
    page.locator("#id_title").fill("")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    audit.check("lead edit form with an error")

    other = Lead.objects.filter(stage__kind="open").exclude(pk=lead.pk).order_by("pk").first()
    audit.visit(f"/leads/{lead.pk}/merge/", "merge: find the other lead")
    page.locator("#merge-q").fill(other.title)
    expect(page.locator("#merge-candidates table")).to_be_visible()
    audit.check("merge: search results")
    audit.visit(f"/leads/{lead.pk}/merge/?with={other.pk}", "merge: side by side")
    audit.assert_clean()


# --- the board and My Work --------------------------------------------------------------------


def test_board_with_its_dialogs_open_and_my_work(audit, demo):
    page = audit.page
    sign_in(audit, "manager", next_url="/board/")
    expect(page.locator("#board .board-card").first).to_be_visible()
    audit.check("board")

    card = page.locator("#board .board-card:has([data-move])").first
    card.locator("[data-move]").click()
    move = page.locator("#move-dialog")
    expect(move).to_be_visible()
    audit.check("board's move dialog")
    move.locator("[data-move-to][data-kind=won]").click()
    closing = page.locator("#closing-dialog")
    expect(closing).to_be_visible()
    audit.check("board's closing dialog")
    page.keyboard.press("Escape")
    expect(closing).to_be_hidden()

    card.locator("[data-quick]").click()
    quick = page.locator("#quick-dialog")
    expect(quick).to_be_visible()
    audit.check("board's quick actions")
    page.keyboard.press("Escape")

    won = demo.stage("won")
    audit.visit(f"/board/?open={won.pk}", "board with the Won column open")
    audit.visit(f"/leads/{Lead.objects.filter(stage__kind='open').first().pk}/quick/",
                "quick actions page (without JavaScript)")  # fmt: skip

    sign_in(audit, "alice", next_url="/my-work/")
    audit.check("My Work")
    audit.visit("/my-work/?completed=1&all=1", "My Work with completed leads, all shown")
    audit.assert_clean()


# --- clients and contacts ---------------------------------------------------------------------


def test_clients_and_contacts(audit, demo):
    page = audit.page
    client, contact = demo.client(), demo.contact()
    sign_in(audit, "manager", next_url="/clients/")
    audit.check("client list")
    audit.visit("/clients/?q=a", "client list searched")
    audit.visit(f"/clients/{client.pk}/", "client detail")
    audit.visit(f"/clients/{client.pk}/edit/", "client edit form")
    audit.visit(f"/clients/{client.pk}/delete/", "client delete confirmation")
    audit.visit("/clients/new/", "new client form")
    page.locator("#id_name").fill("")
    page.locator("#id_email").fill("not an address")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    audit.check("new client form with errors")

    audit.visit("/contacts/", "contact list")
    audit.visit(f"/contacts/{contact.pk}/", "contact detail")
    audit.visit(f"/contacts/{contact.pk}/edit/", "contact edit form")
    audit.visit(f"/contacts/{contact.pk}/delete/", "contact delete confirmation")
    audit.visit("/contacts/new/", "new contact form")
    page.locator("#id_email").fill("not an address")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    audit.check("new contact form with errors")

    # Deleted: staff still open them, with a warning that links to the admin, and the
    # leads show a placeholder in their place.
    Client.objects.filter(pk=client.pk).update(deleted_at=timezone.now())
    Contact.objects.filter(pk=contact.pk).update(deleted_at=timezone.now())
    sign_in(audit, "admin", next_url=f"/clients/{client.pk}/")
    audit.check("deleted client, seen by an admin")
    audit.visit(f"/contacts/{contact.pk}/", "deleted contact, seen by an admin")
    audit.visit(f"/leads/{client.leads.first().pk}/", "lead of a deleted client")
    audit.assert_clean()


# --- the import, step by step -----------------------------------------------------------------


def test_import_steps(audit, demo, tmp_path):
    page = audit.page
    due = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    good = tmp_path / "leads.csv"
    good.write_text(
        "Title,Value,Client,Expected close date\n"
        f"Fleet renewal,20000,Acme BV,{due}\n"
        f"Office chairs,not a number,Acme BV,{due}\n"
        ",300,Acme BV,\n",
        encoding="utf-8",
    )
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    sign_in(audit, "manager", next_url="/leads/import/")
    audit.check("import: upload")
    page.locator("input[type=file]").set_input_files(str(empty))
    page.locator("form[enctype] button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    audit.check("import: upload refused")

    page.locator("input[type=file]").set_input_files(str(good))
    page.locator("form[enctype] button[type=submit]").click()
    expect(page.locator('button[name="action"][value="preview"]')).to_be_visible()
    audit.check("import: map the columns")
    page.locator('button[name="action"][value="preview"]').click()
    page.wait_for_load_state()
    audit.check("import: preview with row errors")
    page.locator('button[name="action"][value="run"]').click()
    page.wait_for_load_state()
    expect(page.locator('button[name="action"][value="run"]')).to_have_count(0)
    audit.check("import: result")
    audit.visit("/leads/import/", "import: upload with the history")
    audit.assert_clean()


# --- reports and teams ------------------------------------------------------------------------

REPORTS = [
    "/reports/",
    "/reports/forecast/",
    "/reports/pipeline/",
    "/reports/win-loss/",
    "/reports/calibration/",
    "/reports/sources/",
    "/reports/aging/",
    "/reports/team/",
    "/teams/",
]


def test_every_report_and_teams(audit, demo):
    sign_in(audit, "manager", next_url="/reports/")
    for path in REPORTS:
        audit.visit(path)
    audit.visit("/reports/win-loss/?period=year", "win/loss over a year")
    audit.assert_clean()


# --- a phone ----------------------------------------------------------------------------------


def test_the_phone_layout(audit, demo):
    page = audit.page
    page.set_viewport_size(PHONE)
    lead = demo.open_lead()
    sign_in(audit, "manager", next_url="/leads/")
    audit.check("lead list on a phone")
    page.locator("button.filter-toggle").first.click()
    audit.check("lead list on a phone, filters open")
    for path in [
        f"/leads/{lead.pk}/",
        "/leads/new/",
        "/board/",
        "/my-work/",
        "/clients/",
        f"/clients/{demo.client().pk}/",
        "/contacts/",
        "/leads/import/",
        "/leads/bulk/",
        "/leads/views/",
        *REPORTS,
    ]:
        audit.visit(path, f"{path} on a phone")
    audit.assert_clean()


# --- dark mode --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en"])  # colours do not change with the language
def test_dark_mode(audit, demo):
    """The stylesheet's dark colours (prefers-color-scheme: dark) meet the same contrast."""
    page = audit.page
    page.emulate_media(color_scheme="dark")
    audit.visit("/accounts/login/", "sign-in page, dark")
    lead = demo.open_lead()
    sign_in(audit, "manager", next_url="/leads/")
    open_every_menu(page)
    audit.check("lead list with every menu open, dark")
    rows = page.locator('input[name="lead"][form="bulk-form"]')
    rows.nth(0).check()
    audit.check("lead list with a lead ticked, dark")

    audit.visit(f"/leads/{lead.pk}/", "lead detail, dark")
    page.locator(f".tracker-steps a[href$='?stage={demo.stage('lost').pk}']").click()
    expect(page.locator("#closing-dialog")).to_be_visible()
    page.locator("#closing-dialog button[type=submit]").first.click()
    expect(page.locator("#closing-dialog .field-error").first).to_be_visible()
    audit.check("lead detail's closing dialog with an error, dark")

    audit.visit("/leads/new/", "new lead form, dark")
    page.locator("#id_probability").fill("250")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator(".field-error").first).to_be_visible()
    audit.check("new lead form with errors, dark")

    audit.visit("/board/", "board, dark")
    page.locator("#board [data-quick]").first.click()
    expect(page.locator("#quick-dialog")).to_be_visible()
    audit.check("board's quick actions, dark")
    for path in ["/my-work/", "/clients/", "/contacts/", "/leads/import/", *REPORTS]:
        audit.visit(path, f"{path}, dark")
    audit.visit("/leads/999999/", "404 page, dark", status=404)
    audit.assert_clean()
