"""Saves that lose a race with another save, or with a deletion, answer with the form."""

import threading
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections
from django.urls import reverse

from leads import admin as leads_admin
from leads import services, views
from leads.models import Lead
from tests.factories import LeadFactory, ManagerFactory, default_stage

pytestmark = pytest.mark.django_db


def lead_form(lead, **values):
    return {
        "title": lead.title,
        "stage": lead.stage_id,
        "priority": "normal",
        "version": lead.version,
        **values,
    }


def admin_data(lead, title):
    return {
        "title": title,
        "stage": lead.stage_id,
        "priority": "normal",
        "value": "",
        "probability": "",
        "expected_version": lead.version,
    }


def test_the_admin_answers_a_save_that_lost_the_race_without_a_500(admin_client):
    """The service's check under the lock refuses: the admin shows its form again."""
    lead = LeadFactory(title="Contested")
    lost = [services.LeadConflict(lead.pk, 2), services.lead_update]

    def first_loses(**kwargs):
        outcome = lost.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome(**kwargs)

    with mock.patch.object(leads_admin, "lead_update", side_effect=first_loses):
        response = admin_client.post(
            reverse("admin:leads_lead_change", args=[lead.pk]), admin_data(lead, "Mine")
        )
    assert response.status_code == 302  # shown again, checked again, saved
    assert Lead.objects.get().title == "Mine"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="another save committed meanwhile (PostgreSQL)"
)
@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_the_conflict_when_someone_saved_between_check_and_save(admin_client):
    lead = LeadFactory(title="Contested")
    other = ManagerFactory(username="quick")

    def someone_saved_first(**kwargs):
        def save():
            try:
                services.lead_update(lead_id=lead.pk, values={"title": "Theirs"}, by=other)
            finally:
                connections.close_all()

        thread = threading.Thread(target=save)
        thread.start()
        thread.join()
        return services.lead_update(**kwargs)

    with mock.patch.object(leads_admin, "lead_update", side_effect=someone_saved_first):
        response = admin_client.post(
            reverse("admin:leads_lead_change", args=[lead.pk]), admin_data(lead, "Mine")
        )
    assert response.status_code == 200
    assert "Someone else saved this lead after you opened it" in response.text
    assert 'value="Mine"' in response.text  # what was typed, kept
    assert Lead.objects.get().title == "Theirs"


def test_an_edit_the_models_rules_refuse_on_the_lead_as_it_is_now_answers_422(manager_client):
    lead = LeadFactory(title="Kept")
    refusal = ValidationError({"contact": ["Ann is not a contact of Acme."]})
    with mock.patch.object(views, "lead_update", side_effect=refusal):
        response = manager_client.post(
            reverse("leads:update", args=[lead.pk]), lead_form(lead, title="Typed")
        )
    assert response.status_code == 422
    assert "Ann is not a contact of Acme." in response.text
    assert 'value="Typed"' in response.text


@pytest.mark.parametrize("path", ["create", "update"])
def test_a_choice_deleted_while_saving_answers_422_with_the_input_kept(manager_client, path):
    lead = LeadFactory()
    gone = IntegrityError("insert or update violates foreign key constraint")
    if path == "create":
        url, target = reverse("leads:create"), "lead_create"
    else:
        url, target = reverse("leads:update", args=[lead.pk]), "lead_update"
    with mock.patch.object(views, target, side_effect=gone):
        response = manager_client.post(url, lead_form(lead, title="Typed"))
    assert response.status_code == 422
    assert "was deleted meanwhile" in response.text
    assert 'value="Typed"' in response.text


def test_a_move_into_a_stage_deleted_while_it_waited_is_refused_with_a_toast(manager_client):
    lead = LeadFactory()
    gone = IntegrityError("insert or update violates foreign key constraint")
    with mock.patch.object(views, "lead_move_stage", side_effect=gone):
        response = manager_client.post(
            reverse("leads:move_stage", args=[lead.pk]),
            {"stage": default_stage("Won").pk},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 422
    assert "Stage no longer exists" in response.headers["HX-Trigger"]
