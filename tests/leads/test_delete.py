"""Deleting a lead: confirmation, audit record, toasts, and refusals."""

from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.db import OperationalError
from django.urls import reverse

from leads.models import Lead, LeadEvent
from tests.factories import LeadFactory, default_stage

pytestmark = pytest.mark.django_db


def delete_url(lead):
    return reverse("leads:delete", args=[lead.pk])


def test_confirmation_page_asks_before_deleting(rep_client, rep):
    lead = LeadFactory(created_by=rep, title="Keep or not")
    response = rep_client.get(delete_url(lead))
    assert response.status_code == 200
    assert "Delete the lead “Keep or not”?" in response.content.decode()
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_won_lead_confirmation_warns_that_it_is_won(rep_client, rep):
    lead = LeadFactory(created_by=rep, stage=default_stage("Won"))
    text = "This lead is marked as Won. Are you sure you want to delete it?"
    assert text in rep_client.get(delete_url(lead)).content.decode()
    assert text in rep_client.get(lead.get_absolute_url()).content.decode()


def test_post_deletes_redirects_to_the_list_and_leaves_an_audit_record(rep_client, rep):
    lead = LeadFactory(created_by=rep, title="Doomed")
    LeadEvent.objects.create(lead=lead, actor=rep, kind="note", data={"text": "hi"})
    response = rep_client.post(delete_url(lead))
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:list")
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Lead “Doomed” deleted."]
    assert not Lead.objects.filter(pk=lead.pk).exists()
    audit = LeadEvent.objects.get(kind="deleted")
    assert audit.actor == rep
    assert audit.data["title"] == "Doomed"
    assert audit.data["lead_id"] == lead.pk
    # Earlier history survives the lead too.
    assert LeadEvent.objects.filter(kind="note").exists()


def test_deleted_lead_is_gone_from_the_list(rep_client, rep):
    lead = LeadFactory(created_by=rep, title="Vanishing deal")
    rep_client.post(delete_url(lead))
    html = rep_client.get(reverse("leads:list")).content.decode()
    assert f'href="{lead.get_absolute_url()}"' not in html
    assert "No leads yet" in html


def test_htmx_delete_redirects_the_browser_to_the_list(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.post(delete_url(lead), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("leads:list")


def test_failed_delete_shows_an_error_toast_and_keeps_the_page(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    with mock.patch("leads.views.lead_delete", side_effect=OperationalError("down")):
        response = rep_client.post(delete_url(lead), headers={"HX-Request": "true"})
    assert response.status_code == 503
    assert "could not be deleted" in response.headers["HX-Trigger"]
    assert response.headers["HX-Reswap"] == "none"
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_failed_plain_delete_returns_to_the_lead_with_an_error(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    with mock.patch("leads.views.lead_delete", side_effect=OperationalError("down")):
        response = rep_client.post(delete_url(lead))
    assert response["Location"] == lead.get_absolute_url()
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("could not be deleted" in m for m in messages)


def test_rep_may_not_delete_someone_elses_lead(rep_client, other_rep):
    lead = LeadFactory(created_by=other_rep)
    assert rep_client.get(delete_url(lead)).status_code == 403
    assert rep_client.post(delete_url(lead)).status_code == 403
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_manager_may_delete_any_lead(manager_client, other_rep):
    lead = LeadFactory(created_by=other_rep)
    assert manager_client.post(delete_url(lead)).status_code == 302
    assert not Lead.objects.filter(pk=lead.pk).exists()


def test_deleting_a_missing_lead_is_404(rep_client):
    assert rep_client.post(reverse("leads:delete", args=[999999])).status_code == 404
