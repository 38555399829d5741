"""Every page, rendered in Dutch, holds no English of ours (issue 21, item 5).

The demo data (``seed_demo``) fills the pages; each page is requested with
``Accept-Language: nl`` by the person who sees most of it (the manager; the admin for the
Django admin), and its visible text — text nodes, ``title``, ``aria-label``, ``placeholder``,
``alt``, button values and the ``data-msg-*`` texts our scripts show — is read.

What counts as English: every word of the catalogue's English (its msgids) and some common
English words, less every word the Dutch uses too ("lead", "team", "score", "filter") and a
short allow-list of names. What is data is not ours to translate: every text the database
holds (titles, names, notes, stage names an admin typed) is cut out of a text before its
words are read. A string that is not marked for translation shows through, as does one that
is marked but not translated.

``PAGES`` names every page of the URL map that answers a GET; a test fails when a new page
is in neither ``PAGES`` nor ``NOT_PAGES``.
"""

import re
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import models
from django.test import Client

from crm.models import Client as Company
from crm.models import Contact
from leads.models import Lead, ScoringCriterion
from tests.test_sign_in_required import app_routes

User = get_user_model()
CATALOGUE = Path(settings.BASE_DIR) / "locale" / "nl" / "LC_MESSAGES" / "django.po"
DJANGO_CATALOGUES = Path(models.__file__).resolve().parents[2] / "conf" / "locale" / "nl"

# Words English and Dutch share, or names, that a Dutch page may show.
_ALLOWED = """
    leadly crm csv api eur ok id url html json curl cors hubspot pipedrive salesforce odoo
    excel google openapi swagger post get https http www hmac sha utf iso en nl english
    nederlands ada marieke alice bob
    """
ALLOWED = set(_ALLOWED.split())
_COMMON_ENGLISH = """
    the and with your this that for from was has have not all you are will yet none more
    than each which what when who into only add edit save cancel delete new show hide close
    back next previous search select today yesterday ago days day week month year overdue
    due total value stage owner assign move undo page leads clients contacts won lost open
    closed no yes any everyone nobody me mine
    """
COMMON_ENGLISH = set(_COMMON_ENGLISH.split())
# English words that a Dutch text may quote (the import's help names the English column
# headers it reads: "Stage/Fase") but that never stand for themselves on a Dutch page.
_NEVER_DUTCH = """
    stage stages title value source owner priority probability client clients lost
    close expected category description assignee search save cancel delete edit
    """
NEVER_DUTCH = set(_NEVER_DUTCH.split())
SHOWN_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "aria-description", "label"}
SKIPPED_ELEMENTS = {"script", "style", "code", "pre", "kbd", "samp", "svg"}
WORD = re.compile(r"\b[A-Za-z][a-z]+(?:'[a-z]+)?\b")


class VisibleText(HTMLParser):
    """The texts of a page a person reads or hears."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_ELEMENTS:
            self._skipping.append(tag)
        attributes = dict(attrs)
        if attributes.get("translate") == "no":
            return
        for name, value in attrs:
            if value and (name in SHOWN_ATTRIBUTES or name.startswith("data-msg")):
                self.texts.append(value)
        # An <input type="submit">'s value is its label; a <button>'s value is only sent.
        button = tag == "input" and attributes.get("type") in {"submit", "button", "reset"}
        if button and attributes.get("value"):
            self.texts.append(attributes["value"])

    def handle_endtag(self, tag):
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data):
        if not self._skipping and data.strip():
            self.texts.append(data.strip())


def _words(texts) -> set[str]:
    return {word.lower() for text in texts for word in WORD.findall(text)}


def _catalogue_words(path: Path) -> tuple[set[str], set[str]]:
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale="nl")
    english, dutch = [], []
    for message in catalogue:
        if not message.id:
            continue
        english += list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        dutch += [text for text in strings if text]
    # Placeholders are code, not English.
    strip = re.compile(r"%\(\w+\)[sd]|\{\w*\}")
    return _words(strip.sub(" ", t) for t in english), _words(strip.sub(" ", t) for t in dutch)


def english_words() -> set[str]:
    english, dutch = _catalogue_words(CATALOGUE)
    for django_catalogue in DJANGO_CATALOGUES.glob("LC_MESSAGES/*.po"):
        dutch |= _catalogue_words(django_catalogue)[1]
    for app in ("admin", "auth", "contenttypes", "sessions"):
        for po in (Path(models.__file__).resolve().parents[2] / "contrib" / app).glob(
            "locale/nl/LC_MESSAGES/django.po"
        ):
            dutch |= _catalogue_words(po)[1]
    return (english | COMMON_ENGLISH) - (dutch - NEVER_DUTCH) - ALLOWED


# Django's own texts that its Dutch catalogue leaves untranslated (new in 6.x, or never marked:
# the admin's search icon), and django-axes' admin, which has no Dutch: not ours to fix.
DJANGO_UNMARKED = [
    "Search",
    "- Select an option -",
    "Access attempts",
    "Access failures",
    "Access logs",
]


def not_ours_pattern() -> re.Pattern:
    """Django's texts its Dutch leaves English, to cut out before reading a text's words."""
    texts = list(DJANGO_UNMARKED)
    django_root = Path(models.__file__).resolve().parents[2]
    for po in [
        *django_root.glob("conf/locale/nl/LC_MESSAGES/django.po"),
        *django_root.glob("contrib/*/locale/nl/LC_MESSAGES/django.po"),
    ]:
        with po.open("rb") as handle:
            for message in read_po(handle, locale="nl"):
                strings = (
                    message.string
                    if isinstance(message.string, (list, tuple))
                    else [message.string]
                )
                if message.id and not all(strings):
                    ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
                    texts += ids
    parts = [
        re.sub(r"%\\\(\w+\\\)[sd]", ".+?", re.escape(text))
        for text in sorted(set(texts), key=len, reverse=True)
    ]
    return re.compile("|".join(parts))


def data_pattern() -> re.Pattern:
    """Every text the database holds, longest first, to cut out of a page's texts."""
    values = set()
    text_fields = (models.CharField, models.TextField, models.EmailField)
    for model in [
        *apps.get_app_config("crm").get_models(),
        *apps.get_app_config("leads").get_models(),
        *apps.get_app_config("pipelines").get_models(),
        User,
        Group,  # the roles' names ("Sales rep"): an admin renames them
    ]:
        for field in model._meta.concrete_fields:
            if isinstance(field, text_fields) and not field.choices:
                values.update(
                    value
                    for value in model._default_manager.values_list(
                        field.attname, flat=True
                    ).distinct()[:5000]
                    if value and len(value) >= 2
                )
    for user in User.objects.all():
        values.add(user.get_full_name())
    alternatives = sorted(values, key=len, reverse=True)
    return re.compile("|".join(re.escape(value) for value in alternatives))


def _first(queryset):
    found = queryset.order_by("pk").first()
    assert found is not None, f"the demo data has no {queryset.model.__name__} for this page"
    return found.pk


# Route name → the URLs of it to read (a route may be read in several states); the ids come
# from the demo data (``rows``).
PAGES = {
    "leads:my_work": ["/my-work/"],
    "leads:list": ["/leads/", "/leads/?q=zzzz", "/leads/?status=won&sort=-value"],
    "leads:list_totals": ["/leads/totals/"],
    "leads:competitors": ["/leads/competitors/"],
    "leads:create": ["/leads/new/"],
    "leads:detail": ["/leads/{open_lead}/", "/leads/{won}/", "/leads/{lost}/"],
    "leads:update": ["/leads/{open_lead}/edit/"],
    "leads:delete": ["/leads/{open_lead}/delete/"],
    "leads:quick_actions": ["/leads/{open_lead}/quick/"],
    "leads:merge": ["/leads/{open_lead}/merge/?other={other}"],
    "leads:move_stage": [  # how the lead closed: the won and the lost dialog
        "/leads/{open_lead}/stage/?stage={won_stage}",
        "/leads/{open_lead}/stage/?stage={lost_stage}",
    ],
    "leads:import": ["/leads/import/"],
    "leads:bulk_list": ["/leads/bulk/"],
    "leads:saved_views": ["/leads/views/"],
    "leads:duplicates": ["/leads/duplicates/?title=x&client={company}"],
    "leads:board_default": ["/board/"],
    "leads:board": ["/pipelines/{pipeline}/board/"],
    "leads:forecast": ["/reports/forecast/"],
    "leads:pipeline": ["/reports/pipeline/"],
    "leads:win_loss": ["/reports/win-loss/"],
    "leads:calibration": ["/reports/calibration/"],
    "leads:sources_report": ["/reports/sources/"],
    "leads:aging_report": ["/reports/aging/"],
    "leads:team_report": ["/reports/team/"],
    "leads:teams": ["/teams/"],
    "crm:client_list": ["/clients/"],
    "crm:client_create": ["/clients/new/"],
    "crm:client_detail": ["/clients/{company}/"],
    "crm:client_update": ["/clients/{company}/edit/"],
    "crm:client_delete": ["/clients/{company}/delete/"],
    "crm:contact_list": ["/contacts/"],
    "crm:contact_create": ["/contacts/new/"],
    "crm:contact_detail": ["/contacts/{contact}/"],
    "crm:contact_update": ["/contacts/{contact}/edit/"],
    "crm:contact_delete": ["/contacts/{contact}/delete/"],
    "crm:api_tokens": ["/settings/api-tokens/"],
}


def rows() -> dict[str, int]:
    """The demo data's rows the pages are read for."""
    open_lead = _first(Lead.objects.filter(stage__kind="open", client__isnull=False))
    pipeline = Lead.objects.get(pk=open_lead).stage.pipeline
    return {
        "won_stage": _first(pipeline.stages.filter(kind="won")),
        "lost_stage": _first(pipeline.stages.filter(kind="lost")),
        "open_lead": open_lead,
        "won": _first(Lead.objects.filter(stage__kind="won")),
        "lost": _first(Lead.objects.filter(stage__kind="lost")),
        "other": _first(Lead.objects.filter(stage__kind="open").exclude(pk=open_lead)),
        "company": _first(Company.objects.filter(leads__isnull=False)),
        "contact": _first(Contact.objects.filter(leads__isnull=False)),
        "pipeline": pipeline.pk,
        "criterion": _first(ScoringCriterion.objects.all()),
    }


# Routes that are not pages: writes (POST only), downloads, redirects, the API and public
# endpoints read elsewhere (the sign-in page and the errors are read below).
NOT_PAGES = {
    "home",
    "leads:reports",
    "login",
    "logout",
    "favicon",
    "leads:capture",
    "leads:export",
    "leads:import_errors",
    "leads:import_detail",
    "leads:assign_by_rules",
    "leads:bulk_apply",
    "leads:bulk_detail",
    "leads:bulk_undo",
    "leads:saved_view_open",
    "leads:add_note",
    "leads:assign",
    "leads:set_priority",
    "leads:team_pause",
    "leads:team_absence_add",
    "leads:team_absence_remove",
    "crm:api_token_create",
    "crm:api_token_revoke",
    "crm:language",
}


# Texts that name English words on purpose: the import's help lists the English column
# headers it reads beside the Dutch ones.
QUOTING_ENGLISH = ["Column names in English or Dutch are recognised"]


def quoting_texts() -> set[str]:
    """The Dutch of ``QUOTING_ENGLISH``, as the pages show it."""
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale="nl")
    return {
        " ".join(message.string.split())
        for message in catalogue
        if isinstance(message.id, str) and message.id.startswith(tuple(QUOTING_ENGLISH))
    }


def _english_in(
    html: str, english: set[str], data: re.Pattern, django: re.Pattern, quoting: set[str]
) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    found = []
    for text in parser.texts:
        if " ".join(text.split()) in quoting:
            continue
        ours = django.sub(" ", data.sub(" ", text))
        words = {word.lower() for word in WORD.findall(ours)} & english
        if words:
            found.append(f"{text!r} ({', '.join(sorted(words))})")
    return found


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--force", stdout=StringIO())


def test_every_page_of_the_url_map_is_read_or_said_why_not(db):
    routes = {
        name
        for name, _ in app_routes()
        # The API speaks JSON; a saved view's own URLs are writes, or open the list.
        if not name.startswith("api:") and not name.startswith("leads:saved_view_")
    }
    unknown = routes - set(PAGES) - NOT_PAGES
    assert not unknown, f"Read these pages in Dutch (PAGES) or say why not (NOT_PAGES): {unknown}"


# The Django admin, as the admin sees it: our models' names, fields, columns, actions and
# our own admin templates (Django's texts are Django's translation).
ADMIN_PAGES = [
    "/admin/",
    "/admin/leads/lead/",
    "/admin/leads/lead/{open_lead}/change/",
    "/admin/pipelines/pipeline/",
    "/admin/pipelines/pipeline/{pipeline}/change/",
    "/admin/leads/leadsource/",
    "/admin/leads/lossreason/",
    "/admin/leads/scoringcriterion/",
    "/admin/leads/scoringcriterion/{criterion}/change/",
    "/admin/leads/assignmentrule/add/",
    "/admin/leads/team/add/",
    "/admin/leads/captureform/add/",
    "/admin/leads/webhook/add/",
    "/admin/crm/client/",
    "/admin/crm/client/{company}/change/",
    "/admin/crm/contact/{contact}/change/",
    "/admin/auth/user/",
]


class Reader:
    """Reads pages as one person, in Dutch, and keeps each English text once."""

    def __init__(self, username: str | None = None):
        self.client = Client(HTTP_ACCEPT_LANGUAGE="nl")
        if username:
            self.client.force_login(User.objects.get(username=username))
        self.english = english_words()
        self.data = data_pattern()
        self.django = not_ours_pattern()
        self.quoting = quoting_texts()
        self.found: dict[str, str] = {}

    def read(self, url: str, *, method: str = "get", data=None, status: int = 200) -> None:
        response = getattr(self.client, method)(url, data or {})
        assert response.status_code == status, f"{url}: {response.status_code}"
        assert response["Content-Language"] == "nl", url
        for text in _english_in(
            response.content.decode(), self.english, self.data, self.django, self.quoting
        ):
            self.found.setdefault(text, url)

    def assert_dutch(self) -> None:
        lines = [f"{url}: {text}" for text, url in self.found.items()]
        assert not lines, f"{len(lines)} English texts on Dutch pages:\n" + "\n".join(lines)


@pytest.mark.django_db
def test_no_english_of_ours_on_any_page_in_dutch(demo):
    reader = Reader("manager")
    ids = rows()
    for urls in PAGES.values():
        for url in urls:
            reader.read(url.format(**ids))
    reader.assert_dutch()


@pytest.mark.django_db
def test_forms_with_errors_and_the_pages_around_them_in_dutch(demo):
    reader = Reader("manager")
    ids = rows()
    reader.read("/leads/new/", method="post", data={"title": "", "value": "veel"}, status=422)
    reader.read(f"/leads/{ids['open_lead']}/edit/", method="post", data={"title": ""}, status=422)
    reader.read("/clients/new/", method="post", data={"name": ""}, status=422)
    reader.read("/contacts/new/", method="post", data={"first_name": ""}, status=422)
    reader.read("/leads/bestaat-niet/", status=404)
    reader.read("/leads/999999/", status=404)
    signed_out = Reader()
    signed_out.read("/accounts/login/")
    signed_out.read("/accounts/login/", method="post", data={"username": "x"}, status=422)
    reader.found.update(signed_out.found)
    reader.assert_dutch()


@pytest.mark.django_db
def test_our_part_of_the_admin_in_dutch(demo):
    reader = Reader("admin")
    ids = rows()
    for url in ADMIN_PAGES:
        reader.read(url.format(**ids))
    reader.assert_dutch()


# A coordinate of a drawing: a number, never "12,5" (Dutch writes decimals with a comma,
# and a template localizes every number it prints unless told not to).
GEOMETRY = re.compile(r'\s(x|y|x1|x2|y1|y2|cx|cy|r|width|height|viewBox|points)="([^"]*)"')


@pytest.mark.django_db
def test_the_reports_drawings_keep_their_numbers_in_dutch(demo):
    client = Client(HTTP_ACCEPT_LANGUAGE="nl")
    client.force_login(User.objects.get(username="manager"))
    wrong, drawn = [], 0
    reports = [url for urls in PAGES.values() for url in urls if url.startswith("/reports/")]
    for url in reports:
        html = client.get(url).content.decode()
        for svg in re.findall(r"<svg.*?</svg>", html, re.S):
            for attribute, value in GEOMETRY.findall(svg):
                drawn += 1
                if "," in value:
                    wrong.append(f"{url}: {attribute}={value!r}")
    assert drawn > 100
    assert not wrong, wrong[:10]
