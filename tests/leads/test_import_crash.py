"""An import whose worker dies is seen as interrupted, and can be resumed or undone.

A killed process runs no more code: its open transaction is rolled back and nothing
records the end. Here a ``Killed`` exception (a BaseException, which the import does not
catch) stops the run in the middle of a batch the way SIGKILL would; the last test kills
a real ``db_worker`` process on PostgreSQL.
"""

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from leads import imports, services
from leads.imports import lead_import_run
from leads.models import EventKind, Lead, LeadEvent, LeadImport
from leads.tasks import queue_lead_import
from tests.leads.test_import import csv_bytes, detail_url, mapping_data, text, undo, uploaded
from tests.leads.test_import_queue import reset_task_backends

pytestmark = pytest.mark.django_db

ROWS = 25


REAL_INSERT = services._insert


class Killed(BaseException):
    """The process is gone: nothing after this point runs."""


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)  # PostgreSQL: 10 rows a batch


def killed_in_second_batch(monkeypatch):
    lead_batches = []

    def insert(model, rows):
        if model is Lead:
            lead_batches.append(len(rows))
            if len(lead_batches) == 2:
                raise Killed
        return REAL_INSERT(model, rows)

    monkeypatch.setattr(services, "_insert", insert)
    return lead_batches


@pytest.fixture
def interrupted(rep_client, small_batches, monkeypatch, django_capture_on_commit_callbacks):
    """An import killed in its second batch: the first batch is written, no more."""
    raw = csv_bytes([["Title", "Value"], *([f"Deal {n}", str(n)] for n in range(ROWS))])
    lead_import = uploaded(rep_client, raw)
    rep_client.post(detail_url(lead_import), mapping_data(lead_import, "preview"))
    queue_lead_import(lead_import)
    lead_batches = killed_in_second_batch(monkeypatch)
    with pytest.raises(Killed):
        lead_import_run(lead_import=LeadImport.objects.get(pk=lead_import.pk))
    monkeypatch.setattr(services, "_insert", REAL_INSERT)  # the next run is not killed
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.RUNNING  # nobody said it ended
    first_batch = lead_batches[0]
    assert Lead.objects.count() == lead_import.created_count == first_batch
    return lead_import


def after_the_lease():
    return time_machine.travel(
        timezone.now() + datetime.timedelta(seconds=settings.IMPORT_LEASE_SECONDS + 1)
    )


def test_a_running_import_is_not_called_interrupted_while_its_lease_holds(rep_client, interrupted):
    page = text(rep_client.get(detail_url(interrupted)))
    assert "Importing…" in page
    assert "Interrupted" not in page
    response = rep_client.post(detail_url(interrupted), {"action": "resume"}, follow=True)
    assert "This import is not interrupted." in text(response)
    interrupted.refresh_from_db()
    assert interrupted.status == LeadImport.Status.RUNNING


def test_a_dead_run_shows_as_interrupted_with_what_it_wrote(rep_client, interrupted):
    with after_the_lease():
        page = text(rep_client.get(detail_url(interrupted)))
        history = text(rep_client.get(reverse("leads:import")))
    written = interrupted.created_count
    assert "Interrupted: the worker running this import stopped reporting after row" in page
    assert f"Imported {written} leads." in page
    assert "Resume import" in page
    assert "Undo import" in page
    assert "Interrupted" in history
    interrupted.refresh_from_db()
    assert interrupted.status == LeadImport.Status.INTERRUPTED


def test_resuming_imports_the_rest_once(
    rep_client, interrupted, django_capture_on_commit_callbacks
):
    with after_the_lease(), django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(detail_url(interrupted), {"action": "resume"}, follow=True)
    assert "The import goes on after row" in text(response)
    interrupted.refresh_from_db()
    assert interrupted.status == LeadImport.Status.DONE
    assert interrupted.summary == f"Imported {ROWS} leads."
    titles = sorted(Lead.objects.values_list("title", flat=True))
    assert titles == sorted(f"Deal {n}" for n in range(ROWS))  # each row once
    assert LeadEvent.objects.filter(kind=EventKind.IMPORTED).count() == ROWS
    assert set(Lead.objects.values_list("import_batch", flat=True)) == {interrupted.pk}


def test_undoing_an_interrupted_import_removes_what_it_wrote(rep_client, interrupted):
    with after_the_lease():
        response = undo(rep_client, interrupted)
    assert f"Import undone: {interrupted.created_count} leads reverted." in text(response)
    assert not Lead.objects.exists()
    interrupted.refresh_from_db()
    assert interrupted.status == LeadImport.Status.UNDONE


def test_a_run_that_lost_the_import_stops_at_its_next_batch(rep_client, small_batches, monkeypatch):
    """A worker thought dead but only slow must not write beside the run that resumed."""
    raw = csv_bytes([["Title"], *([f"Deal {n}"] for n in range(ROWS))])
    lead_import = uploaded(rep_client, raw)
    rep_client.post(detail_url(lead_import), mapping_data(lead_import, "preview"))
    queue_lead_import(lead_import)
    lead_batches = []

    def insert(model, rows):
        if model is Lead:
            lead_batches.append(len(rows))
            if len(lead_batches) == 1:  # meanwhile, someone resumes it elsewhere
                queue_lead_import(lead_import)
        return REAL_INSERT(model, rows)

    monkeypatch.setattr(services, "_insert", insert)
    lead_import_run(lead_import=LeadImport.objects.get(pk=lead_import.pk))
    assert len(lead_batches) == 1
    assert Lead.objects.count() == lead_batches[0]
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.QUEUED  # the new run has it now


def test_a_task_delivered_twice_runs_the_import_once(rep_client):
    lead_import = uploaded(rep_client, csv_bytes([["Title"], ["Once"]]))
    rep_client.post(detail_url(lead_import), mapping_data(lead_import, "preview"))
    queue_lead_import(lead_import)
    lead_import_run(lead_import=LeadImport.objects.get(pk=lead_import.pk))
    lead_import_run(lead_import=LeadImport.objects.get(pk=lead_import.pk))
    assert Lead.objects.count() == 1


# --- a real worker, really killed -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a worker process needs a database another process can reach",
)
def test_sigkill_of_the_worker_midway_then_resume(rep_client, django_capture_on_commit_callbacks):
    rows = 30_000
    raw = csv_bytes([["Title", "Value"], *([f"Deal {n}", str(n)] for n in range(rows))])
    lead_import = uploaded(rep_client, raw)
    rep_client.post(detail_url(lead_import), mapping_data(lead_import, "preview"))
    database = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "TASKS_BACKEND": "database",
        "IMPORT_LEASE_SECONDS": "2",
        "DEBUG": "1",
    }
    worker = subprocess.Popen(
        [
            *(sys.executable, "manage.py", "db_worker", "--no-startup-delay"),
            *("--no-reload", "--interval", "0.1"),
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches all of it
    )
    try:
        settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
        reset_task_backends()
        queue_lead_import(lead_import)  # autocommit: enqueued at once, for the worker
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lead_import.refresh_from_db()
            if lead_import.created_count:
                break
            time.sleep(0.02)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        settings.TASKS = {
            "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
        }
        reset_task_backends()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    lead_import.refresh_from_db()
    written = lead_import.created_count
    assert 0 < written < rows, "the kill should land midway"
    assert Lead.objects.count() == written  # what was committed, was counted
    time.sleep(3)  # the lease the worker took (2 s) runs out
    page = text(rep_client.get(detail_url(lead_import)))
    assert "Interrupted" in page
    assert f"Imported {written} leads." in page
    with django_capture_on_commit_callbacks(execute=True):
        rep_client.post(detail_url(lead_import), {"action": "resume"})
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.DONE
    assert lead_import.created_count == rows
    assert Lead.objects.count() == rows
    assert Lead.objects.values("title").distinct().count() == rows


# --- races the review found -------------------------------------------------------------------


def test_an_edit_landing_while_undo_runs_makes_the_undo_refuse(
    rep, rep_client, interrupted, monkeypatch
):
    """The "touched since" check runs before the leads are locked; the versions under the
    lock decide."""
    lead = Lead.objects.filter(import_batch=interrupted).first()
    real_check = imports.touched_since_import

    def edited_meanwhile(lead_import):
        touched = real_check(lead_import)
        services.lead_update(lead_id=lead.pk, values={"value": 777}, by=rep)
        return touched

    monkeypatch.setattr(imports, "touched_since_import", edited_meanwhile)
    with after_the_lease():
        response = undo(rep_client, interrupted)
    assert "can no longer be undone" in text(response)
    assert Lead.objects.filter(import_batch=interrupted).count() == interrupted.created_count
    interrupted.refresh_from_db()
    assert interrupted.status == LeadImport.Status.INTERRUPTED


def test_a_run_that_lost_its_import_does_not_write_how_it_ended(rep_client, monkeypatch):
    """Undone while its last batch was committing: it stays undone, not "done"."""
    lead_import = uploaded(rep_client, csv_bytes([["Title"], ["A"], ["B"]]))
    rep_client.post(detail_url(lead_import), mapping_data(lead_import, "preview"))
    queue_lead_import(lead_import)
    real_write = imports._write

    def undone_meanwhile(*args, **kwargs):
        refused = real_write(*args, **kwargs)
        LeadImport.objects.filter(pk=lead_import.pk).update(
            status=LeadImport.Status.UNDONE, run_token=None
        )
        return refused

    monkeypatch.setattr(imports, "_write", undone_meanwhile)
    lead_import_run(lead_import=LeadImport.objects.get(pk=lead_import.pk))
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.UNDONE
    assert lead_import.finished_at is None


def test_a_second_import_click_from_a_page_loaded_before_the_first_is_refused(
    rep_client, monkeypatch, django_capture_on_commit_callbacks
):
    from leads.import_views import LeadImportDetailView

    lead_import = uploaded(rep_client, csv_bytes([["Title"], *([f"Deal {n}"] for n in range(5))]))
    stale = LeadImport.objects.get(pk=lead_import.pk)  # what the second tab loaded
    data = mapping_data(lead_import, "run")
    with django_capture_on_commit_callbacks(execute=True):
        rep_client.post(detail_url(lead_import), data)
    monkeypatch.setattr(LeadImportDetailView, "get_object", lambda view: stale)
    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(detail_url(lead_import), data, follow=True)
    assert "This import has already run." in text(response)
    assert Lead.objects.count() == 5
    lead_import.refresh_from_db()
    assert lead_import.summary == "Imported 5 leads."


def test_a_queued_import_no_worker_starts_is_interrupted_and_can_be_resumed(
    rep_client, django_capture_on_commit_callbacks
):
    lead_import = uploaded(rep_client, csv_bytes([["Title"], ["Lost in the queue"]]))
    with django_capture_on_commit_callbacks(execute=False):  # the task never runs
        rep_client.post(detail_url(lead_import), mapping_data(lead_import, "run"))
    later = timezone.now() + datetime.timedelta(seconds=settings.IMPORT_QUEUE_SECONDS + 1)
    with time_machine.travel(later):
        page = text(rep_client.get(detail_url(lead_import)))
        assert "no worker started this import" in page
        with django_capture_on_commit_callbacks(execute=True):
            rep_client.post(detail_url(lead_import), {"action": "resume"})
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.DONE
    assert Lead.objects.get().title == "Lost in the queue"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a row lock held elsewhere")
def test_finding_dead_imports_never_waits_on_one_in_the_middle_of_a_batch(rep):
    import psycopg

    lead_import = LeadImport.objects.create(
        created_by=rep, file_name="x.csv", content=b"Title\nA\n", encoding="utf-8",
        delimiter=",", headers=["Title"], status=LeadImport.Status.RUNNING,
        lease_until=timezone.now() - datetime.timedelta(minutes=1),
    )  # fmt: skip
    params = connection.get_connection_params()
    with psycopg.connect(
        dbname=params["dbname"], user=params.get("user"), host=params.get("host"),
        port=params.get("port"),
    ) as batch:  # fmt: skip
        batch.execute("SELECT id FROM leads_leadimport WHERE id = %s FOR UPDATE", [lead_import.pk])
        started = time.monotonic()
        assert LeadImport.objects.mark_interrupted() == 0  # alive: it holds its row
        assert time.monotonic() - started < 1
    assert LeadImport.objects.mark_interrupted() == 1
