"""The lead form's notice of possible duplicates: open leads of the same client with a
similar title, which never stop a lead from being saved."""

import html
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from leads.duplicates import likely_duplicates, significant_words
from leads.models import Lead
from tests.factories import ClientFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "duplicate-notice"}


@pytest.fixture
def acme():
    return ClientFactory(name="Acme")


def notice(http, **params):
    response = http.get(reverse("leads:duplicates"), params, headers=HTMX)
    assert response.status_code == 200
    return html.unescape(response.text)


def titles(leads) -> list[str]:
    return [lead.title for lead in leads]


def test_significant_words_leave_out_common_ones_and_repeats():
    assert significant_words("The new Website redesign for the website") == [
        "website",
        "redesign",
    ]


def test_a_similar_title_of_the_same_client_is_a_possible_duplicate(acme):
    LeadFactory(title="Website redesign", client=acme)
    LeadFactory(title="Website redesign", client=ClientFactory())  # another client's
    LeadFactory(title="Office chairs", client=acme)

    found = likely_duplicates(title="website redesign 2027", client_id=acme.pk)

    assert titles(found) == ["Website redesign"]
    assert found[0].client_id == acme.pk


def test_closed_leads_and_the_lead_itself_are_not_duplicates(acme):
    LeadFactory(title="Website redesign", client=acme, stage=default_stage("Won"))
    LeadFactory(title="Website redesign", client=acme, stage=default_stage("Lost"))
    itself = LeadFactory(title="Website redesign", client=acme)

    assert likely_duplicates(title="Website redesign", client_id=acme.pk, exclude=itself.pk) == []


def test_the_most_alike_come_first_and_at_most_five(acme):
    LeadFactory(title="Website", client=acme)
    LeadFactory(title="Website redesign", client=acme)
    LeadFactory.create_batch(6, title="Website redesign phase two", client=acme)

    found = likely_duplicates(title="Website redesign", client_id=acme.pk)

    assert len(found) == 5
    assert found[0].title == "Website redesign"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigrams are PostgreSQL's")
def test_on_postgresql_other_forms_of_the_words_match_by_trigrams_and_other_words_do_not(acme):
    LeadFactory(title="Website redesign", client=acme)

    assert titles(likely_duplicates(title="Websites redesigned", client_id=acme.pk)) == [
        "Website redesign"
    ]
    assert likely_duplicates(title="Webshop design", client_id=acme.pk) == []


def test_the_notice_names_each_duplicate_with_its_stage_value_and_link(rep_client, acme):
    lead = LeadFactory(
        title="Website redesign", client=acme, stage=default_stage("Proposal"), value=25000
    )

    text = notice(rep_client, title="Website redesign", client=acme.pk)

    assert "Possible duplicate: " in text
    assert "‘Website redesign’" in text
    assert "(Proposal, €25,000)" in text
    assert f'href="/leads/{lead.pk}/" target="_blank"' in text


def test_a_duplicate_without_a_value_says_its_stage_alone(rep_client, acme):
    LeadFactory(title="Website redesign", client=acme, value=None)

    assert "‘Website redesign’</a> (New)" in notice(rep_client, title="Website", client=acme.pk)


def test_the_notice_is_empty_without_a_client_or_a_title_or_a_match(rep_client, acme):
    LeadFactory(title="Website redesign", client=acme)

    assert "Possible duplicate" not in notice(rep_client, title="Website redesign", client="")
    assert "Possible duplicate" not in notice(rep_client, title="  ", client=acme.pk)
    assert "Possible duplicate" not in notice(rep_client, title="Office chairs", client=acme.pk)
    assert "Possible duplicate" not in notice(rep_client, title="Website", client="x")


def test_editing_a_lead_does_not_call_it_a_duplicate_of_itself(rep_client, acme):
    lead = LeadFactory(title="Website redesign", client=acme)

    text = notice(rep_client, title="Website redesign", client=acme.pk, lead=lead.pk)

    assert "Possible duplicate" not in text


def test_the_form_asks_for_duplicates_as_title_and_client_change(rep_client, rep, acme):
    lead = LeadFactory(title="Website redesign", client=acme, assignee=rep)

    create = rep_client.get(reverse("leads:create")).text
    edit = rep_client.get(reverse("leads:update", args=[lead.pk]))

    assert 'id="duplicate-notice"' in create
    assert 'aria-live="polite"' in create
    assert "input changed delay:400ms from:#id_title, change from:#client-choices" in create
    assert edit.status_code == 200
    assert f'hx-get="/leads/duplicates/?lead={lead.pk}"' in edit.text


def test_a_possible_duplicate_does_not_stop_the_lead_from_being_saved(rep_client, acme):
    LeadFactory(title="Website redesign", client=acme)

    response = rep_client.post(
        reverse("leads:create"),
        {
            "title": "Website redesign",
            "client": acme.pk,
            "stage": default_stage().pk,
            "priority": "normal",
            "value": "25000",
        },
    )

    assert response.status_code == 302
    assert Lead.objects.filter(title="Website redesign", client=acme).count() == 2
    assert Lead.objects.get(value=Decimal("25000")).client == acme
