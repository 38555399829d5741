"""Background work for leads, run by Django's Tasks framework."""

from django.tasks import task

from .imports import lead_import_run
from .models import LeadImport


@task
def run_lead_import(import_id: int) -> None:
    """Run a CSV import that the user started; progress and results land on the LeadImport."""
    lead_import_run(lead_import=LeadImport.objects.get(pk=import_id))
