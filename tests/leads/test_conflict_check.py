"""One version-conflict check: the admin's form answers as the lead services do."""

from unittest import mock

import pytest

from leads import admin as leads_admin
from leads import services
from leads.admin import LeadAdminForm
from leads.models import Lead
from leads.services import LeadConflict, lead_update
from tests.factories import LeadFactory, ManagerFactory, default_stage

pytestmark = pytest.mark.django_db


def admin_form(lead: Lead, expected_version) -> LeadAdminForm:
    data = {
        "title": "Mine",
        "stage": lead.stage_id,
        "priority": lead.priority,
        "expected_version": "" if expected_version is None else expected_version,
    }
    return LeadAdminForm(data, instance=Lead.objects.get(pk=lead.pk))


@pytest.mark.parametrize("expected_version", [None, 1, 2, 3])
def test_the_admin_form_refuses_exactly_the_versions_the_service_refuses(expected_version):
    lead = LeadFactory(title="Contested")
    lead_update(lead_id=lead.pk, values={"stage": default_stage("Contacted")}, by=ManagerFactory())

    form = admin_form(lead, expected_version)
    admin_refuses = not form.is_valid() and form.has_error("__all__", code="conflict")
    try:
        lead_update(
            lead_id=lead.pk,
            values={"title": "Mine"},
            expected_version=expected_version,
            by=ManagerFactory(),
        )
        service_refuses = False
    except LeadConflict:
        service_refuses = True

    assert admin_refuses == service_refuses == (expected_version not in (None, 2))


def test_the_admin_form_asks_the_service_for_its_answer():
    lead = LeadFactory()
    with mock.patch.object(
        leads_admin, "lead_check_version", side_effect=services.lead_check_version
    ) as check:
        assert admin_form(lead, 1).is_valid()
    check.assert_called_once()
    assert check.call_args.kwargs["expected_version"] == 1
