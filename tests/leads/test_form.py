"""Creating and editing leads: field errors (422), kept input, conflicts (409), failures."""

import datetime
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from leads.models import Lead, LeadEvent
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

HTMX_FORM = {"HX-Request": "true", "HX-Target": "lead-form"}


def valid_data(**overrides):
    data = {
        "title": "Website redesign",
        "stage": default_stage().pk,
        "priority": "normal",
        "value": "25000",
        "probability": "",
        "description": "",
        "category": "",
    }
    data.update(overrides)
    return data


def create(http, htmx=False, **overrides):
    return http.post(
        reverse("leads:create"), valid_data(**overrides), headers=HTMX_FORM if htmx else {}
    )


@pytest.mark.parametrize("htmx", [False, True])
def test_invalid_submit_answers_422_with_every_message_and_keeps_input(rep_client, htmx):
    response = create(
        rep_client,
        htmx=htmx,
        title="",
        value="-5",
        probability="120",
        description="Typed text that must survive",
        category="Hardware",
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Title is required." in html
    assert "Value must be non-negative." in html
    assert "Probability must be between 0 and 100." in html
    assert 'value="-5"' in html
    assert 'value="120"' in html
    assert "Typed text that must survive" in html
    assert 'value="Hardware"' in html
    assert 'aria-invalid="true"' in html
    assert 'id="id_title_error"' in html
    assert ("<html" in html) is not htmx
    assert not Lead.objects.exists()


def test_title_of_only_spaces_is_required(rep_client):
    response = create(rep_client, title="   ")
    assert response.status_code == 422
    assert "Title is required." in response.content.decode()


def test_negative_probability_gets_the_range_message(rep_client):
    response = create(rep_client, probability="-1")
    assert "Probability must be between 0 and 100." in response.content.decode()


def test_contact_of_another_client_is_refused(rep_client):
    acme, other = ClientFactory(name="Acme"), ClientFactory()
    stranger = ContactFactory(client=other, name="Stranger")
    response = create(rep_client, client=acme.pk, contact=stranger.pk)
    assert response.status_code == 422
    assert "Stranger is not a contact of Acme." in response.content.decode()
    assert not Lead.objects.exists()


def test_contact_without_client_takes_the_contacts_client(rep_client, rep):
    contact = ContactFactory()
    assert create(rep_client, contact=contact.pk).status_code == 302
    assert Lead.objects.get().client == contact.client


def test_success_redirects_to_the_lead_with_a_lead_saved_message(rep_client, rep):
    response = create(rep_client)
    lead = Lead.objects.get()
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Lead saved."]
    assert lead.created_by == rep
    assert lead.value == Decimal(25000)
    assert LeadEvent.objects.filter(lead=lead, kind="created", actor=rep).exists()


def test_htmx_success_redirects_the_browser(rep_client):
    response = create(rep_client, htmx=True)
    assert response.status_code == 200
    assert response["HX-Redirect"] == Lead.objects.get().get_absolute_url()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("25000", "25000"),
        ("€ 25.000", "25000"),
        ("25.000,50", "25000.50"),
        ("1,234.56", "1234.56"),
        ("25,5", "25.5"),
        ("25,000", "25000"),
    ],
)
def test_value_accepts_amounts_as_people_type_them(rep_client, typed, expected):
    assert create(rep_client, value=typed).status_code == 302
    assert Lead.objects.get().value == Decimal(expected)


def test_empty_probability_takes_the_stages(rep_client):
    create(rep_client, stage=default_stage("Qualified").pk)
    assert Lead.objects.get().probability == 40


def test_typed_probability_wins_over_the_stages(rep_client):
    create(rep_client, stage=default_stage("Qualified").pk, probability="55")
    assert Lead.objects.get().probability == 55


@time_machine.travel(datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC))
def test_past_close_date_on_create_is_a_warning_not_an_error(rep_client):
    response = create(rep_client, expected_close_date="2026-11-01")
    assert response.status_code == 302
    messages = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert ("warning", "Expected close date is in the past.") in messages


@time_machine.travel(datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC))
def test_past_close_date_warning_shows_beside_other_errors(rep_client):
    response = create(rep_client, title="", expected_close_date="2026-11-01")
    assert response.status_code == 422
    assert "Expected close date is in the past." in response.content.decode()


def test_client_query_parameter_prefills_the_client_and_its_contacts(rep_client):
    acme = ClientFactory(name="Acme")
    ContactFactory(client=acme, name="Ann of Acme")
    ContactFactory(name="Someone Else")
    html = rep_client.get(reverse("leads:create") + f"?client={acme.pk}").content.decode()
    assert f'<option value="{acme.pk}" selected>Acme</option>' in html
    assert "Ann of Acme" in html
    assert "Someone Else" not in html


def test_changing_the_client_reloads_only_the_contact_choices(rep_client):
    acme = ClientFactory(name="Acme")
    ContactFactory(client=acme, name="Ann of Acme")
    response = rep_client.get(
        reverse("leads:create") + f"?client={acme.pk}",
        headers={"HX-Request": "true", "HX-Target": "field-contact"},
    )
    html = response.content.decode()
    assert "<form" not in html
    assert 'name="contact"' in html
    assert "Ann of Acme" in html


def test_stages_are_grouped_by_pipeline(rep_client):
    other = PipelineFactory(name="Partners")
    PipelineStageFactory(pipeline=other, name="Intro", order=0)
    html = rep_client.get(reverse("leads:create")).content.decode()
    assert '<optgroup label="Sales">' in html
    assert '<optgroup label="Partners">' in html


def test_assignees_are_active_users_only(rep_client):
    UserFactory(username="gone", first_name="Gone", last_name="Away", is_active=False)
    UserFactory(username="here", first_name="Here", last_name="Now")
    html = rep_client.get(reverse("leads:create")).content.decode()
    assert "Here Now" in html
    assert "Gone Away" not in html


def test_database_failure_on_save_answers_503_and_keeps_input(rep_client):
    with mock.patch("leads.views.lead_create", side_effect=OperationalError("down")):
        response = create(rep_client, description="Keep me")
    assert response.status_code == 503
    html = response.content.decode()
    assert "Your input is kept" in html
    assert "Keep me" in html
    assert "Traceback" not in html


def test_user_without_add_permission_may_not_create(client, reader):
    client.force_login(reader)
    assert client.get(reverse("leads:create")).status_code == 403
    assert create(client).status_code == 403
    assert not Lead.objects.exists()


# --- editing ------------------------------------------------------------------------------


def edit_data(lead, **overrides):
    data = valid_data(
        title=lead.title,
        stage=lead.stage_id,
        priority=lead.priority,
        value=str(lead.value or ""),
        probability=str(lead.probability or ""),
        version=lead.version,
    )
    data.update(overrides)
    return data


def edit(client, lead, **overrides):
    return client.post(reverse("leads:update", args=[lead.pk]), edit_data(lead, **overrides))


def test_edit_form_carries_the_version(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    html = rep_client.get(reverse("leads:update", args=[lead.pk])).content.decode()
    assert 'name="version" value="1"' in html


def test_edit_saves_records_each_changed_field_and_bumps_the_version(rep_client, rep):
    lead = LeadFactory(created_by=rep, value=Decimal("25000"), probability=10)
    response = edit(rep_client, lead, value="30000", title="Bigger deal")
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.title, lead.value, lead.version) == ("Bigger deal", Decimal(30000), 2)
    changes = {e.data["field"]: (e.data["old"], e.data["new"]) for e in lead.events.all()}
    assert changes["value"] == ("25000", "30000")
    assert changes["title"][1] == "Bigger deal"


def test_saving_over_someone_elses_change_answers_409_and_keeps_my_values(manager, rep):
    lead = LeadFactory(created_by=rep, title="Original", value=Decimal("1000"))
    alice, boss = Client(), Client()
    alice.force_login(rep)
    boss.force_login(manager)
    # Both open the form at version 1; the manager saves first.
    assert edit(boss, lead, value="5000").status_code == 302
    response = edit(alice, lead, title="Alice's title", description="Alice's notes")
    assert response.status_code == 409
    html = response.content.decode()
    assert "while you were editing" in html
    assert "Alice&#x27;s title" in html
    assert "Alice&#x27;s notes" in html
    assert manager.get_full_name() in html  # who changed it
    assert "<td>5000</td><td>1000</td>" in html  # value: saved now vs. what Alice sends
    assert 'name="version" value="2"' in html
    lead.refresh_from_db()
    assert (lead.title, lead.value) == ("Original", Decimal(5000))
    # Saving again, knowingly, overwrites.
    again = alice.post(
        reverse("leads:update", args=[lead.pk]),
        edit_data(lead, title="Alice's title", value="1000", version=2),
    )
    assert again.status_code == 302
    lead.refresh_from_db()
    assert lead.title == "Alice's title"


def test_changing_the_stage_in_the_form_takes_the_stages_probability(rep_client, rep):
    lead = LeadFactory(created_by=rep, probability=10)
    edit(rep_client, lead, stage=default_stage("Proposal").pk, probability="10")
    lead.refresh_from_db()
    assert lead.stage.name == "Proposal"
    assert lead.probability == 60
    event = lead.events.get(kind="stage_changed")
    assert (event.data["old"], event.data["new"]) == ("New", "Proposal")


def test_probability_typed_with_a_stage_change_wins(rep_client, rep):
    lead = LeadFactory(created_by=rep, probability=10)
    edit(rep_client, lead, stage=default_stage("Proposal").pk, probability="35")
    lead.refresh_from_db()
    assert (lead.stage.name, lead.probability) == ("Proposal", 35)


def test_rep_may_not_edit_someone_elses_lead(rep_client, other_rep):
    lead = LeadFactory(created_by=other_rep, assignee=other_rep, title="Theirs")
    assert rep_client.get(reverse("leads:update", args=[lead.pk])).status_code == 403
    assert edit(rep_client, lead, title="Mine now").status_code == 403
    lead.refresh_from_db()
    assert lead.title == "Theirs"


def test_rep_may_edit_a_lead_assigned_to_them(rep_client, rep, other_rep):
    lead = LeadFactory(created_by=other_rep, assignee=rep)
    assert edit(rep_client, lead, title="Updated").status_code == 302


def test_editing_a_missing_lead_is_404(rep_client):
    assert rep_client.get(reverse("leads:update", args=[999999])).status_code == 404


def test_contact_query_parameter_prefills_the_contact_and_its_client(rep_client):
    acme = ClientFactory(name="Acme")
    ann = ContactFactory(client=acme, name="Ann of Acme")
    html = rep_client.get(reverse("leads:create") + f"?contact={ann.pk}").content.decode()
    assert f'<option value="{acme.pk}" selected>Acme</option>' in html
    assert f'<option value="{ann.pk}" selected>Ann of Acme</option>' in html


def test_edit_page_ignores_a_client_parameter_outside_htmx(rep_client, rep):
    acme, other = ClientFactory(name="Acme"), ClientFactory(name="Other")
    lead = LeadFactory(created_by=rep, client=acme)
    url = reverse("leads:update", args=[lead.pk]) + f"?client={other.pk}"
    html = rep_client.get(url).content.decode()
    assert f'<option value="{acme.pk}" selected>Acme</option>' in html
