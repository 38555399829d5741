"""Every way to write a lead, tried by a sales rep on someone else's lead: all refused.

The pages, the htmx actions, the board, the CSV import (its dry run, its run in both
modes, and its write path on its own) and the Django admin all write through
``leads.services``, which decides on the lead as it is when it is locked.
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from leads import imports
from leads.forms import MERGE_FIELDS
from leads.models import Lead, LeadEvent, LeadImport
from tests.factories import ClientFactory, LeadFactory, RepFactory, default_stage
from tests.leads.test_import import csv_bytes, detail_url, mapping_data, text, uploaded

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alices_lead(rep):
    return LeadFactory(
        title="Acme deal", client=ClientFactory(name="Acme"), created_by=rep, assignee=rep
    )


@pytest.fixture
def bob(client, other_rep):
    client.force_login(other_rep)
    return client


def unchanged(lead):
    """The lead as it was: same values, same version, no history written."""
    saved = Lead.objects.get(pk=lead.pk)
    assert (saved.title, saved.value, saved.version, saved.assignee_id, saved.stage_id) == (
        lead.title,
        lead.value,
        lead.version,
        lead.assignee_id,
        lead.stage_id,
    )
    assert not LeadEvent.objects.filter(lead=lead).exists()
    return True


PAGE_WRITES = {
    "edit form": lambda lead: (
        reverse("leads:update", args=[lead.pk]),
        {"title": "Bob's now", "stage": lead.stage_id, "priority": "normal", "version": 1},
        {},
    ),
    "stage tracker": lambda lead: (
        reverse("leads:move_stage", args=[lead.pk]),
        {"stage": default_stage("Won").pk},
        HTMX | {"HX-Target": "lead-stage"},
    ),
    "board drag": lambda lead: (
        reverse("leads:move_stage", args=[lead.pk]),
        {"stage": default_stage("Won").pk},
        HTMX | {"HX-Target": "board"},
    ),
    "assign picker": lambda lead: (
        reverse("leads:assign", args=[lead.pk]),
        {"assignee": "bob"},
        HTMX,
    ),
    "note": lambda lead: (reverse("leads:add_note", args=[lead.pk]), {"text": "Mine"}, HTMX),
    "board assign to me": lambda lead: (
        reverse("leads:assign", args=[lead.pk]),
        {"me": "1", "origin": "board"},
        HTMX | {"HX-Target": f"card-{lead.pk}"},
    ),
    "board priority": lambda lead: (
        reverse("leads:set_priority", args=[lead.pk]),
        {"priority": "urgent", "origin": "board"},
        HTMX | {"HX-Target": f"card-{lead.pk}"},
    ),
    "merge": lambda lead: (
        reverse("leads:merge", args=[lead.pk]),
        {
            "with": LeadFactory(created_by=lead.created_by).pk,
            "keep_version": lead.version,
            "other_version": 1,
        }
        | {f"pick_{name}": "keep" for name in MERGE_FIELDS},
        {},
    ),
    "delete": lambda lead: (reverse("leads:delete", args=[lead.pk]), {}, {}),
}


@pytest.mark.parametrize("path", PAGE_WRITES)
def test_pages_and_htmx_actions_refuse(bob, alices_lead, path):
    url, data, headers = PAGE_WRITES[path](alices_lead)
    response = bob.post(url, data, headers=headers)
    assert response.status_code == 403
    assert unchanged(alices_lead)


OVERWRITE = [
    ["Title", "Client", "Value", "Probability", "Owner"],
    ["Acme deal", "Acme", "999999", "99", "bob"],
]


def run_import(client, capture, **options):
    lead_import = uploaded(client, csv_bytes(OVERWRITE))
    with capture(execute=True):
        client.post(detail_url(lead_import), mapping_data(lead_import, "run", **options))
    lead_import.refresh_from_db()
    return lead_import


def test_import_dry_run_says_the_row_may_not_change_the_lead(bob, alices_lead):
    lead_import = uploaded(bob, csv_bytes(OVERWRITE))
    page = bob.post(
        detail_url(lead_import), mapping_data(lead_import, "preview", duplicates="update")
    )
    assert f"Row 2: You may not change this lead (#{alices_lead.pk})" in text(page)
    assert unchanged(alices_lead)


def test_import_update_skips_the_row_and_reports_it(
    bob, alices_lead, django_capture_on_commit_callbacks
):
    lead_import = run_import(bob, django_capture_on_commit_callbacks, duplicates="update")
    assert lead_import.status == LeadImport.Status.DONE
    assert (lead_import.updated_count, lead_import.skipped_count) == (0, 1)
    assert f"2,You may not change this lead (#{alices_lead.pk})" in lead_import.error_report
    assert unchanged(alices_lead)


def test_import_update_all_or_nothing_imports_nothing(
    bob, alices_lead, django_capture_on_commit_callbacks
):
    lead_import = run_import(
        bob, django_capture_on_commit_callbacks, duplicates="update", mode="all_or_nothing"
    )
    assert lead_import.failure.startswith("Nothing was imported")
    assert (lead_import.created_count, lead_import.updated_count) == (0, 0)
    assert unchanged(alices_lead)
    assert Lead.objects.count() == 1


@pytest.mark.parametrize("mode", ["skip_invalid", "all_or_nothing"])
def test_import_write_path_refuses_even_when_the_dry_runs_check_is_skipped(
    bob, alices_lead, django_capture_on_commit_callbacks, monkeypatch, mode
):
    """The check before the run is a courtesy; the lead services decide, row by row."""
    monkeypatch.setattr(imports, "_check_updates", lambda rows, user: None)
    lead_import = run_import(
        bob, django_capture_on_commit_callbacks, duplicates="update", mode=mode
    )
    assert lead_import.updated_count == 0
    assert f"You may not change this lead (#{alices_lead.pk})" in lead_import.error_report
    assert unchanged(alices_lead)


@pytest.fixture
def staff_bob(client, other_rep):
    """A rep who may also use the Django admin, with a rep's rights there."""
    other_rep.is_staff = True
    other_rep.save()
    assert other_rep.groups.filter(name="Sales rep").exists()
    client.force_login(other_rep)
    return client


def admin_change_data(lead):
    return {
        "title": "Bob's now",
        "stage": lead.stage_id,
        "priority": "normal",
        "value": "999999",
        "expected_version": lead.version,
    }


def test_admin_change_refuses(staff_bob, alices_lead):
    url = reverse("admin:leads_lead_change", args=[alices_lead.pk])
    assert staff_bob.post(url, admin_change_data(alices_lead)).status_code == 403
    assert unchanged(alices_lead)


def test_admin_delete_refuses(staff_bob, alices_lead):
    url = reverse("admin:leads_lead_delete", args=[alices_lead.pk])
    assert staff_bob.post(url, {"post": "yes"}).status_code == 403
    assert unchanged(alices_lead)


def test_admin_bulk_delete_refuses(staff_bob, alices_lead, other_rep):
    bobs = LeadFactory(title="Bob's", created_by=other_rep)
    url = reverse("admin:leads_lead_changelist")
    data = {"action": "delete_selected", "_selected_action": [alices_lead.pk, bobs.pk]}
    response = staff_bob.post(url, data | {"post": "yes"})
    assert response.status_code == 403
    assert Lead.objects.count() == 2  # all or nothing
    assert unchanged(alices_lead)


def test_the_same_rep_may_change_their_own_lead_through_each_path(rep, client):
    """The refusals above are about whose lead it is, not about the paths."""
    lead = LeadFactory(title="Mine", created_by=rep, assignee=rep)
    client.force_login(rep)
    for path, write in PAGE_WRITES.items():
        if path == "delete":
            continue
        url, data, headers = write(lead)
        if path == "assign picker":
            RepFactory(username="bob")
        response = client.post(url, data, headers=headers)
        assert response.status_code in (200, 302), path
        lead.refresh_from_db()
    assert Group.objects.get(name="Sales rep") in rep.groups.all()


# --- the service decides, whatever the page thought -----------------------------------------


@pytest.fixture
def pages_see_a_stale_lead(monkeypatch, other_rep):
    """The pages load the lead as it was a moment ago, when it was bob's: their own early
    checks pass. The service locks the row as it is now (alice's) and must refuse."""
    from django.views.generic.detail import SingleObjectMixin

    from leads import views

    def as_it_was(lead):
        lead.assignee, lead.assignee_id = other_rep, other_rep.pk
        return lead

    real_get_object_or_404 = views.get_object_or_404
    real_get_object = SingleObjectMixin.get_object
    monkeypatch.setattr(
        views, "get_object_or_404", lambda *a, **k: as_it_was(real_get_object_or_404(*a, **k))
    )
    monkeypatch.setattr(
        SingleObjectMixin, "get_object", lambda self, qs=None: as_it_was(real_get_object(self, qs))
    )


@pytest.mark.parametrize("path", PAGE_WRITES)
def test_the_service_refuses_even_when_the_page_let_the_write_through(
    bob, alices_lead, pages_see_a_stale_lead, path
):
    url, data, headers = PAGE_WRITES[path](alices_lead)
    response = bob.post(url, data, headers=headers)
    assert response.status_code == 403
    assert unchanged(alices_lead)


def test_the_service_refuses_an_admin_change_the_admin_let_through(
    staff_bob, alices_lead, monkeypatch
):
    from leads.admin import LeadAdmin

    monkeypatch.setattr(LeadAdmin, "has_change_permission", lambda self, request, obj=None: True)
    monkeypatch.setattr(LeadAdmin, "has_delete_permission", lambda self, request, obj=None: True)
    change = reverse("admin:leads_lead_change", args=[alices_lead.pk])
    assert staff_bob.post(change, admin_change_data(alices_lead)).status_code == 403
    delete = reverse("admin:leads_lead_delete", args=[alices_lead.pk])
    assert staff_bob.post(delete, {"post": "yes"}).status_code == 403
    assert unchanged(alices_lead)
