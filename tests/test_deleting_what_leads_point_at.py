"""Deleting what leads point at would change them around the one write path: refused.

A lead source or loss reason is made inactive, a user deactivated; an import stays (its
leads point at it for undo). Each is refused in the admin with no page of a thousand
protected rows, and by the database whatever deletes it.
"""

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from leads.models import Lead, LeadImport, LeadSource, LossReason
from leads.services import lead_add_note
from tests.factories import LeadFactory, RepFactory, UserFactory, default_stage, loss_reason

pytestmark = pytest.mark.django_db


def test_a_source_with_leads_cannot_be_deleted_and_its_leads_stay_as_they_were(admin_client):
    source = LeadSource.objects.get(slug="referral")
    lead = LeadFactory(source=source)
    url = reverse("admin:leads_leadsource_delete", args=[source.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    lead.refresh_from_db()
    assert (lead.source, lead.version) == (source, 1)
    with pytest.raises(ProtectedError):
        source.delete()


def test_a_source_without_leads_is_deleted_as_before(admin_client):
    source = LeadSource.objects.create(slug="fax", label="Fax")
    url = reverse("admin:leads_leadsource_delete", args=[source.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not LeadSource.objects.filter(slug="fax").exists()


def test_a_loss_reason_with_leads_cannot_be_deleted_and_its_leads_stay_as_they_were(
    admin_client,
):
    reason = loss_reason("no-budget")
    lead = LeadFactory(stage=default_stage("Lost"), lost_reason=reason)
    url = reverse("admin:leads_lossreason_delete", args=[reason.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.version) == (reason, 1)
    with pytest.raises(ProtectedError):
        reason.delete()


def test_a_loss_reason_without_leads_is_deleted(admin_client):
    reason = LossReason.objects.create(name="Typo", slug="typo")
    url = reverse("admin:leads_lossreason_delete", args=[reason.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not LossReason.objects.filter(slug="typo").exists()


@pytest.mark.parametrize("role", ["assignee", "creator", "actor"])
def test_a_user_with_leads_or_history_cannot_be_deleted(admin_client, role):
    user = RepFactory(username="leaving")
    if role == "assignee":
        lead = LeadFactory(assignee=user)
    elif role == "creator":
        lead = LeadFactory(created_by=user)
    else:
        lead = LeadFactory(created_by=RepFactory(username="owner"), assignee=user)
        lead_add_note(lead_id=lead.pk, text="Handing over", by=user)
        Lead.objects.filter(pk=lead.pk).update(assignee=None)
    url = reverse("admin:auth_user_delete", args=[user.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert type(user).objects.filter(pk=user.pk).exists()
    with pytest.raises(ProtectedError):
        user.delete()


def test_a_user_without_leads_or_history_is_deleted_as_before(admin_client):
    user = UserFactory(username="typo")
    url = reverse("admin:auth_user_delete", args=[user.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not type(user).objects.filter(pk=user.pk).exists()


def test_the_user_source_and_loss_reason_lists_offer_no_bulk_delete(admin_client):
    for url in (
        reverse("admin:auth_user_changelist"),
        reverse("admin:leads_leadsource_changelist"),
        reverse("admin:leads_lossreason_changelist"),
    ):
        assert "delete_selected" not in admin_client.get(url).text


def test_an_import_cannot_be_deleted_in_the_admin(admin_client, admin_user):
    lead_import = LeadImport.objects.create(
        created_by=admin_user, file_name="x.csv", content=b"Title\nA\n", encoding="utf-8",
        delimiter=",", headers=["Title"],
    )  # fmt: skip
    url = reverse("admin:leads_leadimport_delete", args=[lead_import.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert LeadImport.objects.filter(pk=lead_import.pk).exists()
