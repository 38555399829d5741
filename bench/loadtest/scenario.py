"""What the load test's simulated users do, as plain HTTP: no Django, no Locust here.

A ``Visit`` is one signed-in person (a Sales rep or a Sales manager) using the pages as a
browser does: it signs in once, then does one action at a time, chosen by ``MIX``. Every
request goes through a ``Browser`` (the locustfile's over Locust's client, the tests'
over Django's test client), so the same sequence of paths and form fields is what the
load test sends and what ``tests/test_loadtest_scenario.py`` checks against the app.

Some eighty of every hundred requests read and twenty write: of every 78 actions, 58 read
one page (the list, a search, a lead, the board, My Work) and 20 open a lead (its page, and for
an edit its form) and then write to it (a note, a stage move, an edit, an assignment), as
the page's own forms and htmx send them, with the CSRF token the page carries.
"""

import datetime
import html
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

#: action → weight. Reads are one request each; writes two (the lead's page, then the
#: POST; an edit three, with its form; a manager's assignment three, with the list of
#: unassigned leads), so that some 80 % of requests read and 20 % write.
READS = {"list": 14, "search": 10, "detail": 10, "board": 8, "my_work": 16}
WRITES = {"note": 7, "move": 6, "edit": 4, "assign": 3}
MIX = READS | WRITES

#: Words of the seeded leads' titles (``seed_bulk``), as a rep would search.
SEARCH_WORDS = ["license", "renewal", "upgrade", "support", "pilot", "cloud", "training"]
#: What the list is asked for besides its default view (status open, newest change).
LIST_FILTERS = [
    "",
    "?priority=high&priority=urgent",
    "?sort=-value",
    "?assignee=me",
    "?due=overdue",
    "?page=2",
    "?status=won",
]
PRIORITIES = ["low", "normal", "high", "urgent"]

LEAD_LINK = re.compile(r'href="/leads/(\d+)/"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
#: The tracker's forms each post one open stage (won and lost ask first: not posted here).
STAGE_FORM = re.compile(r'<input type="hidden" name="stage" value="(\d+)">')
CURRENT_STAGE = re.compile(r'aria-current="step"')
FORM = re.compile(r"<form\b[^>]*>(.*?)</form>", re.S)
INPUT = re.compile(r"<input\b([^>]*)>")
SELECT = re.compile(r"<select\b([^>]*)>(.*?)</select>", re.S)
OPTION = re.compile(r"<option\b([^>]*)>", re.S)
TEXTAREA = re.compile(r"<textarea\b([^>]*)>(.*?)</textarea>", re.S)
ATTRIBUTE = re.compile(r'([\w-]+)(?:="([^"]*)")?')


@dataclass
class Page:
    """A response as a browser keeps it: the status after redirects and the HTML."""

    status: int
    text: str


class Browser(Protocol):
    """Sends one request as a browser would (cookies kept, redirects followed) and
    answers the page; it fails the request (and raises) when the status is not one of
    ``expect`` or the page lacks ``contains``. ``name`` is the request's kind in the
    figures; ``htmx_target`` makes it an htmx request swapping that element."""

    def get(
        self,
        path: str,
        *,
        name: str,
        expect: Sequence[int] = (200,),
        contains: str = "",
        htmx_target: str = "",
    ) -> Page: ...

    def post(
        self,
        path: str,
        data: dict[str, str | list[str]],
        *,
        name: str,
        expect: Sequence[int] = (200,),
        contains: str = "",
        htmx_target: str = "",
    ) -> Page: ...


@dataclass
class Visit:
    """One person's session: signs in once, then acts (``act``) until the test ends.

    ``colleagues``: usernames a lead may be assigned to. A rep writes to the leads of
    their My Work (theirs to change); a manager to any lead the lists showed them.
    """

    browser: Browser
    username: str
    password: str
    manager: bool
    colleagues: Sequence[str]
    rng: random.Random = field(default_factory=random.Random)
    #: (this session, of how many): a rep signed in twice works on the leads of My Work
    #: whose id % sessions == this one, so one session never writes to a lead the other
    #: just gave away.
    share: tuple[int, int] = (0, 1)
    csrf: str = ""
    seen: list[int] = field(default_factory=list)
    own: list[int] = field(default_factory=list)

    # --- signing in -----------------------------------------------------------------------

    def sign_in(self) -> None:
        self.read("/accounts/login/", name="login (form)")
        self.write(
            "/accounts/login/",
            {"username": self.username, "password": self.password},
            name="login",
            contains="My Work",
        )
        self.my_work()

    def act(self, action: str | None = None) -> None:
        """One action: ``action``, or one drawn by ``MIX``."""
        action = action or self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        getattr(self, action)()

    # --- reads ----------------------------------------------------------------------------

    def list(self, query: str | None = None) -> None:
        query = self.rng.choice(LIST_FILTERS) if query is None else query
        self.remember(self.read(f"/leads/{query}", name="list"))

    def search(self) -> None:
        self.remember(self.read(f"/leads/?q={self.rng.choice(SEARCH_WORDS)}", name="search"))

    def detail(self) -> None:
        self.read(f"/leads/{self.some_lead()}/", name="detail")

    def board(self) -> None:
        query = self.rng.choice(["", "?assignee=me"])
        self.remember(self.read(f"/board/{query}", name="board"))

    def my_work(self) -> None:
        page = self.read("/my-work/", name="my_work", contains="My Work")
        mine, sessions = self.share
        listed = map(int, dict.fromkeys(LEAD_LINK.findall(page.text)))
        self.own = [pk for pk in listed if pk % sessions == mine]
        self.remember(page)

    # --- writes: each opens the lead's page first, as a person would -----------------------
    # The page shows a write's button only to someone allowed to use it. A lead that is no
    # longer theirs (a manager, or their other session, gave it away) is read, not written.

    def note(self) -> None:
        lead = self.lead_to_write()
        if self.open_to_write(lead, f'action="/leads/{lead}/notes/"') is None:
            return
        text = f"Load test note {self.rng.randrange(10**9)} by {self.username}"
        self.write(
            f"/leads/{lead}/notes/",
            {"text": text},
            name="note",
            htmx_target="lead-timeline",
            contains=text,
        )

    def move(self) -> None:
        """To another open stage the tracker offers (won and lost ask how it closed)."""
        lead = self.lead_to_write()
        page = self.open_to_write(lead, '<input type="hidden" name="stage"')
        if page is None:
            return
        self.write(
            f"/leads/{lead}/stage/",
            {"stage": self.rng.choice(STAGE_FORM.findall(page.text))},
            name="move",
            htmx_target="lead-stage",
        )

    def edit(self) -> None:
        """The edit form as it comes, with another priority and close date. Saved, the
        answer sends htmx to the lead's page (HX-Redirect): not followed here, so that an
        edit counts as many requests as the other writes plus its form."""
        lead = self.lead_to_write()
        if self.open_to_write(lead, f'href="/leads/{lead}/edit/"') is None:
            return
        page = self.read(f"/leads/{lead}/edit/", name="edit (form)")
        data = form_fields(page.text, action_contains='id="id_title"')
        data["priority"] = self.rng.choice(PRIORITIES)
        close = datetime.date.today() + datetime.timedelta(days=self.rng.randrange(7, 120))
        data["expected_close_date"] = close.isoformat()
        self.write(f"/leads/{lead}/edit/", data, name="edit", htmx_target="lead-form")

    def assign(self) -> None:
        """To a colleague, typed in the picker as their username: a manager gives out an
        unassigned lead, a rep hands one of theirs over."""
        if self.manager:
            page = self.read("/leads/?assignee=none", name="list")
            unassigned = [int(pk) for pk in dict.fromkeys(LEAD_LINK.findall(page.text))]
            lead = self.rng.choice(unassigned) if unassigned else self.some_lead()
        else:
            lead = self.lead_to_write()
        if self.open_to_write(lead, 'id="assignee-options"') is None:
            return
        colleague = self.rng.choice(self.colleagues)
        self.write(
            f"/leads/{lead}/assign/",
            {"assignee": colleague},
            name="assign",
            htmx_target="lead-stage",
        )
        if colleague != self.username and lead in self.own:
            self.own.remove(lead)

    # --- helpers --------------------------------------------------------------------------

    def read(self, path: str, **kwargs) -> Page:
        page = self.browser.get(path, **kwargs)
        self.csrf = csrf_token(page.text) or self.csrf
        return page

    def write(self, path: str, data: dict, **kwargs) -> Page:
        page = self.browser.post(path, {**data, "csrfmiddlewaretoken": self.csrf}, **kwargs)
        self.csrf = csrf_token(page.text) or self.csrf
        return page

    def open_to_write(self, lead: int, button: str) -> Page | None:
        """The lead's page, if it shows this person ``button``; else None."""
        page = self.read(f"/leads/{lead}/", name="detail")
        if button in page.text:
            return page
        if lead in self.own:
            self.own.remove(lead)
        return None

    def remember(self, page: Page) -> None:
        """Keep the leads a page showed, to open one later (the last 200)."""
        self.seen = [*self.seen, *map(int, dict.fromkeys(LEAD_LINK.findall(page.text)))][-200:]

    def some_lead(self) -> int:
        if not self.seen:  # the list as it opens: every open lead, newest change first
            self.list("")
        return self.rng.choice(self.seen)

    def lead_to_write(self) -> int:
        if self.manager:
            return self.some_lead()
        if not self.own:
            self.my_work()
        # A rep with no open lead left opens any: its page shows no button to write with.
        return self.rng.choice(self.own) if self.own else self.some_lead()


def csrf_token(text: str) -> str:
    found = CSRF_INPUT.search(text)
    return found.group(1) if found else ""


def attributes(tag: str) -> dict[str, str]:
    return {name: html.unescape(value or "") for name, value in ATTRIBUTE.findall(tag)}


def form_fields(text: str, *, action_contains: str) -> dict[str, str | list[str]]:
    """What a browser would submit of the page's first form containing ``action_contains``:
    inputs (checked boxes only, no buttons), each select's selected options (or its
    first) and textareas. Regular expressions, not an HTML parser: the edit form lists
    every client, megabytes at a million leads, and the load generator must stay light."""
    body = next(m.group(1) for m in FORM.finditer(text) if action_contains in m.group(1))
    data: dict[str, str | list[str]] = {}
    for match in INPUT.finditer(body):
        attrs = attributes(match.group(1))
        kind = attrs.get("type", "text")
        if "name" not in attrs or kind in {"submit", "button", "file"}:
            continue
        if kind in {"checkbox", "radio"} and "checked" not in attrs:
            continue
        data[attrs["name"]] = attrs.get("value", "on" if kind == "checkbox" else "")
    for match in SELECT.finditer(body):
        attrs = attributes(match.group(1))
        options = [attributes(option) for option in OPTION.findall(match.group(2))]
        chosen = [o.get("value", "") for o in options if "selected" in o]
        if not chosen and options and "multiple" not in attrs:
            chosen = [options[0].get("value", "")]
        if "name" in attrs:
            data[attrs["name"]] = chosen if "multiple" in attrs else (chosen or [""])[0]
    for match in TEXTAREA.finditer(body):
        attrs = attributes(match.group(1))
        if "name" in attrs:
            # A browser drops the one newline that may follow <textarea>.
            data[attrs["name"]] = html.unescape(match.group(2).removeprefix("\n"))
    return data
