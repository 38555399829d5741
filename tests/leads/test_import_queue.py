"""With the database task backend (production), an import waits for a worker."""

import pytest
from asgiref.local import Local
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.tasks import task_backends

from leads.models import Lead, LeadImport

pytestmark = pytest.mark.django_db(transaction=True)

CSV = b"Title,Value\nQueued deal,1000\nAnother deal,2000\n"


def reset_task_backends():
    """Django caches the task backends; make it read TASKS again."""
    task_backends.__dict__.pop("settings", None)
    task_backends._settings = None
    task_backends._connections = Local(task_backends.thread_critical)


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    reset_task_backends()
    yield
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    reset_task_backends()


def test_import_is_queued_shows_progress_and_runs_in_the_worker(database_tasks, rep_client):
    response = rep_client.post("/leads/import/", {"file": SimpleUploadedFile("q.csv", CSV)})
    lead_import = LeadImport.objects.get()
    rep_client.post(
        response["Location"],
        {"column_0": "title", "column_1": "value", "mode": "skip_invalid",
         "duplicates": "skip", "action": "run"},
    )  # fmt: skip
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.QUEUED
    assert not Lead.objects.exists()
    waiting = rep_client.get(
        lead_import.get_absolute_url(),
        headers={"HX-Request": "true", "HX-Target": "import-progress"},
    ).text
    assert 'hx-trigger="every 1s"' in waiting
    assert "Waiting to start" in waiting

    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)

    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.DONE
    assert lead_import.summary == "Imported 2 leads."
    assert Lead.objects.count() == 2
    done = rep_client.get(
        lead_import.get_absolute_url(),
        headers={"HX-Request": "true", "HX-Target": "import-progress"},
    ).text
    assert "every 1s" not in done
    assert "Imported 2 leads." in done
