"""The lead form's client field when there are many clients (issue 18's load test found a
form of 50,000 options, 3.8 MB and 2 s): a search narrows what is drawn, while any live
client still validates, and the search loses nothing typed, with or without JavaScript.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads import forms
from leads.models import Lead
from tests.factories import ClientFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

OPTION = re.compile(
    r'<option value="(?P<value>\d*)"(?P<selected> selected)?>(?P<label>[^<]*)</option>'
)
CLIENT_FIELD = {"HX-Request": "true", "HX-Target": "client-choices"}


@pytest.fixture
def many(monkeypatch):
    monkeypatch.setattr(forms, "CLIENT_CHOICES_MAX", 3)
    names = ["Acme Corp", "Acme Labs", "Beta BV", "Gamma GmbH", "Delta Ltd"]
    return {name: ClientFactory(name=name) for name in names}


def client_options(html: str) -> list[str]:
    select = re.search(r'<select name="client".*?</select>', html, re.S)[0]
    return [m["label"] for m in OPTION.finditer(select)]


def selected_client(html: str) -> str | None:
    select = re.search(r'<select name="client".*?</select>', html, re.S)[0]
    chosen = [m["label"] for m in OPTION.finditer(select) if m["selected"]]
    return chosen[0] if chosen else None


def test_few_clients_are_all_listed_without_a_search(rep_client):
    ClientFactory(name="Only One")

    html = rep_client.get(reverse("leads:create")).content.decode()

    assert client_options(html) == ["No client", "Only One"]
    assert 'name="client_q"' not in html


def test_many_clients_offer_a_search_and_draw_none_before_it(rep_client, many):
    html = rep_client.get(reverse("leads:create")).content.decode()

    assert 'name="client_q"' in html
    assert 'aria-label="Find a client by name"' in html
    assert client_options(html) == ["No client"]


def test_the_search_draws_the_clients_it_finds(rep_client, many):
    response = rep_client.get(reverse("leads:create"), {"client_q": "acme"}, headers=CLIENT_FIELD)

    html = response.content.decode()
    assert "<form" not in html and 'name="client_q"' not in html  # noqa: PT018 (the choices alone: the search box keeps its focus and what is typed)
    assert client_options(html) == ["No client", "Acme Corp", "Acme Labs"]
    assert "2 clients found" in html


def test_the_chosen_client_stays_offered_and_chosen_beside_what_is_found(rep_client, many, rep):
    lead = LeadFactory(client=many["Delta Ltd"], assignee=rep)

    edit = rep_client.get(reverse("leads:update", args=[lead.pk])).content.decode()
    assert client_options(edit) == ["No client", "Delta Ltd"]
    assert selected_client(edit) == "Delta Ltd"

    found = rep_client.get(
        reverse("leads:update", args=[lead.pk]),
        {"client_q": "beta", "client": many["Delta Ltd"].pk},
        headers=CLIENT_FIELD,
    ).content.decode()
    assert client_options(found) == ["No client", "Delta Ltd", "Beta BV"]
    assert selected_client(found) == "Delta Ltd"


def test_any_live_client_validates_though_not_drawn(rep_client, many, rep):
    response = rep_client.post(
        reverse("leads:create"),
        {
            "title": "Big deal",
            "stage": default_stage().pk,
            "priority": "normal",
            "client": many["Gamma GmbH"].pk,
        },
    )

    assert response.status_code == 302
    assert Lead.objects.get(title="Big deal").client == many["Gamma GmbH"]


def test_find_without_javascript_searches_and_saves_nothing_keeping_what_was_typed(
    rep_client, many
):
    response = rep_client.post(
        reverse("leads:create"),
        {
            "title": "Typed and kept",
            "description": "Every word of it",
            "stage": default_stage().pk,
            "priority": "high",
            "client_q": "labs",
            "find_client": "1",
        },
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert not Lead.objects.exists()
    assert client_options(html) == ["No client", "Acme Labs"]
    assert 'value="Typed and kept"' in html
    assert "Every word of it" in html
    assert 'value="labs"' in html


def test_the_form_reads_as_many_queries_however_many_clients(rep_client, monkeypatch):
    monkeypatch.setattr(forms, "CLIENT_CHOICES_MAX", 3)

    def queries():
        with CaptureQueriesContext(connection) as context:
            response = rep_client.get(
                reverse("leads:create"), {"client_q": "client"}, headers=CLIENT_FIELD
            )
        return len(context), len(client_options(response.content.decode()))

    ClientFactory.create_batch(5, name="Client x")
    few = queries()
    ClientFactory.create_batch(80, name="Client y")
    many = queries()
    assert few[0] == many[0]
    assert many[1] == 1 + forms.FOUND_CLIENTS_MAX
    response = rep_client.get(reverse("leads:create"), {"client_q": "client"}, headers=CLIENT_FIELD)
    assert "The first 50 clients found: type more to narrow them" in response.content.decode()


def test_a_deleted_client_is_not_found(rep_client, many):
    many["Acme Labs"].delete()

    response = rep_client.get(reverse("leads:create"), {"client_q": "acme"}, headers=CLIENT_FIELD)

    assert client_options(response.content.decode()) == ["No client", "Acme Corp"]
