"""CSV import of leads, through the pages: upload, map, preview, run, progress, history, undo."""

import csv
import datetime
import html
import io
import re
from decimal import Decimal
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.tasks import Task, TaskResultStatus
from django.urls import NoReverseMatch, reverse

from crm.models import Client, ClientEvent, Contact
from leads import imports, services, tasks
from leads.imports import PREVIEW_ROWS, skip_reason, skip_reasons
from leads.models import EventKind, Lead, LeadEvent, LeadImport, LeadSource, LossReason, Priority
from leads.tasks import run_lead_import
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

HTMX_PROGRESS = {"HX-Request": "true", "HX-Target": "import-progress"}
HTMX_UPLOAD = {"HX-Request": "true", "HX-Target": "import-upload"}
POLLING = re.compile(r'<div id="import-progress"[^>]*hx-trigger="every 1s"')
UNDO_BUTTON = '<button type="submit" name="action" value="undo"'


# --- helpers -----------------------------------------------------------------------------------


def csv_bytes(rows, *, delimiter=",", encoding="utf-8", bom=False) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode(encoding)


def text(response) -> str:
    """The page as people read it: tags dropped, entities decoded, whitespace collapsed."""
    content = response.content.decode()
    plain = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", content))).strip()
    return re.sub(r" ([:,.;])", r"\1", plain)


def import_url() -> str:
    return reverse("leads:import")


def detail_url(lead_import) -> str:
    return reverse("leads:import_detail", args=[lead_import.pk])


def errors_url(lead_import) -> str:
    return reverse("leads:import_errors", args=[lead_import.pk])


def upload(client, raw: bytes, name="leads.csv", headers=None):
    return client.post(
        import_url(),
        {"file": SimpleUploadedFile(name, raw, content_type="text/csv")},
        headers=headers or {},
    )


def uploaded(client, raw: bytes, name="leads.csv") -> LeadImport:
    before = set(LeadImport.objects.values_list("pk", flat=True))
    response = upload(client, raw, name)
    assert response.status_code == 302, text(response)
    (lead_import,) = LeadImport.objects.exclude(pk__in=before)
    assert response["Location"] == detail_url(lead_import)
    return lead_import


def mapping_data(
    lead_import,
    action,
    *,
    mode="skip_invalid",
    duplicates="skip",
    create_clients=False,
    create_contacts=False,
    mapping=None,
) -> dict:
    mapping = lead_import.mapping if mapping is None else mapping
    data = {
        f"column_{index}": mapping.get(str(index), "") for index in range(len(lead_import.headers))
    }
    data.update(action=action, mode=mode, duplicates=duplicates)
    if create_clients:
        data["create_clients"] = "on"
    if create_contacts:
        data["create_contacts"] = "on"
    return data


def preview(client, lead_import, **options):
    return client.post(detail_url(lead_import), mapping_data(lead_import, "preview", **options))


@pytest.fixture
def start(django_capture_on_commit_callbacks):
    """POST action=run, running the enqueued task as the commit would."""

    def start(client, lead_import, **options):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                detail_url(lead_import), mapping_data(lead_import, "run", **options)
            )
        lead_import.refresh_from_db()
        return response

    return start


@pytest.fixture
def imported(start):
    """Upload and run in one go; the finished LeadImport."""

    def imported(client, raw: bytes, name="leads.csv", **options) -> LeadImport:
        lead_import = uploaded(client, raw, name)
        response = start(client, lead_import, **options)
        assert response.status_code == 302, text(response)
        assert response["Location"] == detail_url(lead_import)
        return lead_import

    return imported


def undo(client, lead_import, follow=True):
    return client.post(detail_url(lead_import), {"action": "undo"}, follow=follow)


def counts() -> tuple[int, int, int, int, int]:
    return (
        Lead.objects.count(),
        LeadEvent.objects.count(),
        Client.objects.count(),
        Contact.objects.count(),
        LeadSource.objects.count(),
    )


# --- permissions -------------------------------------------------------------------------------


def test_reader_may_not_import(client, reader):
    client.force_login(reader)
    assert client.get(import_url()).status_code == 403
    response = upload(client, csv_bytes([["Title"], ["A deal"]]))
    assert response.status_code == 403
    assert not LeadImport.objects.exists()
    assert not Lead.objects.exists()


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(import_url())
    assert response.status_code == 302
    assert "login" in response["Location"]
    assert upload(client, csv_bytes([["Title"], ["A"]])).status_code == 302
    assert not LeadImport.objects.exists()


def test_rep_sees_only_their_own_imports(client, rep, other_rep, imported):
    client.force_login(other_rep)
    theirs = imported(client, csv_bytes([["Title"], ["Bob's deal"], [""]]), name="bob.csv")
    client.force_login(rep)
    mine = imported(client, csv_bytes([["Title"], ["Alice's deal"]]), name="alice.csv")
    assert client.get(detail_url(mine)).status_code == 200
    assert client.get(detail_url(theirs)).status_code == 404
    assert client.get(detail_url(theirs), headers=HTMX_PROGRESS).status_code == 404
    assert client.get(errors_url(theirs)).status_code == 404
    history = text(client.get(import_url()))
    assert "alice.csv" in history
    assert "bob.csv" not in history


def test_rep_may_not_run_or_undo_someone_elses_import(client, rep, other_rep, imported):
    client.force_login(other_rep)
    done = imported(client, csv_bytes([["Title"], ["Bob's deal"]]))
    waiting = uploaded(client, csv_bytes([["Title"], ["Bob's other deal"]]))
    client.force_login(rep)
    assert undo(client, done, follow=False).status_code == 404
    response = client.post(detail_url(waiting), mapping_data(waiting, "run"))
    assert response.status_code == 404
    assert client.post(detail_url(waiting), mapping_data(waiting, "preview")).status_code == 404
    done.refresh_from_db()
    waiting.refresh_from_db()
    assert done.status == LeadImport.Status.DONE
    assert waiting.status == LeadImport.Status.UPLOADED
    assert list(Lead.objects.values_list("title", flat=True)) == ["Bob's deal"]


def test_manager_sees_all_imports_and_may_run_and_undo_them(client, rep, manager, imported, start):
    client.force_login(rep)
    done = imported(client, csv_bytes([["Title"], ["Rep deal"]]), name="rep.csv")
    waiting = uploaded(client, csv_bytes([["Title"], ["Queued by rep"]]), name="rep2.csv")
    client.force_login(manager)
    history = text(client.get(import_url()))
    assert "rep.csv" in history
    assert "rep2.csv" in history
    assert client.get(detail_url(done)).status_code == 200
    assert client.get(errors_url(done)).status_code == 200
    assert start(client, waiting).status_code == 302
    assert waiting.status == LeadImport.Status.DONE
    assert Lead.objects.filter(title="Queued by rep").exists()
    response = undo(client, done)
    assert "Import undone: 1 lead reverted." in text(response)
    assert not Lead.objects.filter(title="Rep deal").exists()
    event = LeadEvent.objects.get(kind=EventKind.DELETED, data__title="Rep deal")
    assert event.actor == manager


# --- upload ------------------------------------------------------------------------------------


def test_upload_page(rep_client):
    response = rep_client.get(import_url())
    assert response.status_code == 200
    page = text(response)
    assert "Import leads from CSV" in page
    assert "No imports yet." in page


def test_upload_stores_the_file_and_maps_dutch_headers(rep_client, rep):
    raw = csv_bytes(
        [
            ["TITEL", "Waarde", "Fase", "Klant", "Interne code"],
            ["Koffiemachines", "1.234,56", "Nieuw", "Acme", "X1"],
        ],
        delimiter=";",
    )
    lead_import = uploaded(rep_client, raw, name="klanten.csv")
    assert lead_import.created_by == rep
    assert lead_import.file_name == "klanten.csv"
    assert lead_import.status == LeadImport.Status.UPLOADED
    assert lead_import.delimiter == ";"
    assert lead_import.encoding == "utf-8"
    assert bytes(lead_import.content) == raw
    assert lead_import.headers == ["TITEL", "Waarde", "Fase", "Klant", "Interne code"]
    assert lead_import.mapping == {"0": "title", "1": "value", "2": "stage", "3": "client"}
    assert not Lead.objects.exists()

    response = rep_client.get(detail_url(lead_import))
    assert response.status_code == 200
    content = response.content.decode()
    page = text(response)
    assert "5 columns · semicolon-separated · UTF-8" in page
    assert re.search(r'name="column_0"[^>]*>.*?<option value="title" selected>', content, re.S)
    assert re.search(r'name="column_3"[^>]*>.*?<option value="client" selected>', content, re.S)
    column_4 = re.search(r'<select name="column_4".*?</select>', content, re.S)[0]
    assert " selected" not in column_4.replace('<option value="" selected>', "")
    assert "Koffiemachines" in page  # first values as examples
    assert "Preview (dry run)" in page


def test_upload_with_a_bom(rep_client):
    lead_import = uploaded(rep_client, csv_bytes([["Title", "Value"], ["A", "1"]], bom=True))
    assert lead_import.headers == ["Title", "Value"]
    assert lead_import.mapping == {"0": "title", "1": "value"}
    assert lead_import.notice == ""


def test_windows_1252_file_is_read_with_a_notice(rep_client, imported):
    raw = csv_bytes([["Titel", "Omschrijving"], ["Café Noël", "Crème brûlée €"]], encoding="cp1252")
    lead_import = uploaded(rep_client, raw)
    assert lead_import.encoding == "cp1252"
    page = text(rep_client.get(detail_url(lead_import)))
    assert "read as Windows-1252" in page
    assert "· Windows-1252" in page
    lead_import = imported(rep_client, raw)
    lead = Lead.objects.get(import_batch=lead_import)
    assert (lead.title, lead.description) == ("Café Noël", "Crème brûlée €")


BAD_FILES = {
    "empty": (b"", "The file is empty."),
    "blank lines": (b"\r\n  \r\n", "The file is empty."),
    "no header row": (b"Acme deal,25000,New\r\nOther,5,Won\r\n", "there seems to be no header row"),
    "binary": (bytes(range(256)) * 8, "it contains binary data"),
    "png": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
        + bytes(200),
        "This is not a CSV file",
    ),
    "pipe separated": (b"Title|Value|Stage\r\nA|1|New\r\n", "Could not find columns"),
    "long line": (
        b"Title,Description\r\nA," + b"y" * 150_000 + b"\r\n",
        "Line 2 is longer than 100,000 characters",
    ),
    "utf-16": ("Title,Value\r\nA,1\r\n".encode("utf-16"), "The file is in UTF-16."),
    "utf-16 without bom": ("Title,Value\r\nA,1\r\n".encode("utf-16-le"), "binary data"),
    "unknown encoding": (b"Title,Value\r\n\x81\x8d\x8f,1\r\n", "encoding is not one we know"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_get_a_clear_message(rep_client, case):
    raw, message = BAD_FILES[case]
    before = counts()
    name = "picture.png" if case == "png" else "leads.csv"
    response = upload(rep_client, raw, name=name)
    assert response.status_code == 422
    assert message in text(response)
    assert "Upload and map columns" in text(response)  # the form, again
    assert not LeadImport.objects.exists()
    assert counts() == before


def test_no_file_chosen(rep_client):
    response = rep_client.post(import_url(), {})
    assert response.status_code == 422
    assert "Choose a CSV file." in text(response)


def test_bad_file_over_htmx_returns_the_upload_fragment(rep_client):
    response = upload(rep_client, b"", headers=HTMX_UPLOAD)
    assert response.status_code == 422
    content = response.content.decode()
    assert "<html" not in content
    assert "The file is empty." in html.unescape(content)


def test_file_over_the_size_limit(rep_client):
    raw = csv_bytes([["Title"], *([f"Deal {n}"] for n in range(50))])
    with mock.patch.object(imports, "MAX_FILE_BYTES", 100):
        response = upload(rep_client, raw)
    assert response.status_code == 422
    assert "The file is larger than 50 MB." in text(response)
    assert not LeadImport.objects.exists()
    assert uploaded(rep_client, raw)  # the same file under the real limit


# --- mapping and preview -----------------------------------------------------------------------

PREVIEW_FILE = [
    ["Titel", "Waarde", "Sluitdatum", "Klant", "Kans"],  # row 1
    ["Koffie", "1.234,56", "31-12-2026", "Acme", "25%"],  # row 2
    ["Thee", "25.000", "31/12/2026", "", ""],  # row 3
    ["Negatief", "-5", "", "", ""],  # row 4
    ["Melk", "", "2026-06-30", "Brand New BV", ""],  # row 5
    ["", "", "", "", ""],  # an empty line: skipped, but counted as a row number
    ["", "10", "", "", ""],  # row 7
    ["Suiker", "0", "", "", ""],  # row 8
]


def test_preview_shows_rows_as_they_will_be_imported_and_every_error(rep_client):
    acme = ClientFactory(name="Acme")
    lead_import = uploaded(rep_client, csv_bytes(PREVIEW_FILE, delimiter=";"))
    before = counts()
    response = preview(rep_client, lead_import, create_clients=True)
    assert response.status_code == 200
    page = text(response)
    assert "Row 4: Value must be non-negative" in page
    assert "Row 7: Title is required" in page
    assert "6 rows: 4 ready to import, 2 with errors" in page
    assert "1 new client will be created: Brand New BV" in page
    assert "will be skipped" in page

    rows = response.context["preview"]["rows"]
    assert [row.number for row in rows] == [2, 3, 5, 8]
    first = rows[0].values
    assert first["title"] == "Koffie"
    assert first["value"] == Decimal("1234.56")
    assert first["expected_close_date"] == datetime.date(2026, 12, 31)
    assert first["client_id"] == acme.pk
    assert first["probability"] == 25
    assert first["stage"] == default_stage("New")
    assert rows[1].values["value"] == Decimal("25000")
    assert rows[1].values["expected_close_date"] == datetime.date(2026, 12, 31)
    assert rows[2].client_name == "Brand New BV"
    assert "Koffie" in page
    assert "Brand New BV new" in page

    # The dry run wrote nothing.
    assert counts() == before
    assert not Client.objects.filter(name="Brand New BV").exists()
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.UPLOADED
    assert lead_import.create_clients is True  # the choices are kept for the run


def test_preview_in_all_or_nothing_mode_says_nothing_will_be_imported(rep_client):
    lead_import = uploaded(rep_client, csv_bytes(PREVIEW_FILE, delimiter=";"))
    page = text(preview(rep_client, lead_import, mode="all_or_nothing", create_clients=True))
    assert "with “all or nothing”, nothing will be imported" in page
    assert not Lead.objects.exists()


def test_preview_shows_the_first_rows_only_but_counts_all(rep_client):
    rows = [["Title"], *([f"Deal {n}"] for n in range(PREVIEW_ROWS + 15))]
    lead_import = uploaded(rep_client, csv_bytes(rows))
    response = preview(rep_client, lead_import)
    assert len(response.context["preview"]["rows"]) == PREVIEW_ROWS
    assert f"{PREVIEW_ROWS + 15} rows: {PREVIEW_ROWS + 15} ready to import" in text(response)
    assert f"Deal {PREVIEW_ROWS - 1}" in text(response)
    assert f"Deal {PREVIEW_ROWS}<" not in response.content.decode()


def test_columns_can_be_mapped_by_hand_and_unknown_ones_ignored(rep_client, start):
    raw = csv_bytes([["Naam", "Titel", "Bedrag", "Intern"], ["Real title", "Code 1", "50", "x"]])
    lead_import = uploaded(rep_client, raw)
    assert lead_import.mapping == {"1": "title", "2": "value"}
    mapping = {"0": "title", "2": "value"}  # Titel holds a code here: ignored
    response = preview(rep_client, lead_import, mapping=mapping)
    assert response.status_code == 200
    lead_import.refresh_from_db()
    assert lead_import.mapping == mapping
    assert start(rep_client, lead_import, mapping=mapping).status_code == 302
    lead = Lead.objects.get()
    assert (lead.title, lead.value, lead.description) == ("Real title", Decimal(50), "")


def test_mapping_without_a_title_column(rep_client):
    lead_import = uploaded(rep_client, csv_bytes([["Title", "Value"], ["A", "1"]]))
    response = preview(rep_client, lead_import, mapping={"1": "value"})
    assert response.status_code == 422
    assert "Choose the column that holds the lead's title." in text(response)
    response = rep_client.post(
        detail_url(lead_import), mapping_data(lead_import, "run", mapping={"1": "value"})
    )
    assert response.status_code == 422
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.UPLOADED
    assert not Lead.objects.exists()


def test_mapping_one_field_from_two_columns(rep_client):
    lead_import = uploaded(rep_client, csv_bytes([["Title", "Titel"], ["A", "B"]]))
    response = preview(rep_client, lead_import, mapping={"0": "title", "1": "title"})
    assert response.status_code == 422
    assert "Each field can come from one column only: title." in text(response)


def test_bad_mode_choice_is_422_not_500(rep_client):
    lead_import = uploaded(rep_client, csv_bytes([["Title"], ["A"]]))
    response = preview(rep_client, lead_import, mode="whatever", duplicates="sometimes")
    assert response.status_code == 422
    assert not Lead.objects.exists()


# --- running: skip invalid rows, or all or nothing ---------------------------------------------


def twelve_good_three_bad() -> bytes:
    rows = [["Title", "Value", "Priority"]]
    for n in range(1, 16):
        if n == 3:
            rows.append(["Bad value", "-1", ""])  # row 4
        elif n == 6:
            rows.append(["", "10", ""])  # row 7
        elif n == 10:
            rows.append(["Bad priority", "", "whenever"])  # row 11
        else:
            rows.append([f"Deal {n}", f"{n}.000", "high"])
    return csv_bytes(rows)


#: The summary of twelve_good_three_bad(): why the rows were skipped (ties alphabetically).
SKIPPED_THREE = (
    "Imported 12 leads. 3 rows skipped (1 invalid priority, 1 invalid value, 1 missing title)."
)


def test_skip_invalid_rows_imports_the_rest_with_a_summary_and_error_report(
    rep_client, rep, imported
):
    lead_import = imported(rep_client, twelve_good_three_bad(), name="deals.csv")
    assert lead_import.status == LeadImport.Status.DONE
    assert (lead_import.created_count, lead_import.skipped_count) == (12, 3)
    assert lead_import.total_rows == 15
    assert lead_import.summary == SKIPPED_THREE
    leads = Lead.objects.filter(import_batch=lead_import)
    assert leads.count() == Lead.objects.count() == 12
    assert not Lead.objects.filter(title__in=["Bad value", "Bad priority"]).exists()
    deal = Lead.objects.get(title="Deal 2")
    assert deal.value == Decimal(2000)
    assert deal.priority == Priority.HIGH
    assert deal.stage == default_stage("New")
    assert deal.probability == default_stage("New").probability
    assert deal.created_by == rep
    assert deal.version == 1

    page = text(rep_client.get(detail_url(lead_import)))
    assert SKIPPED_THREE in page
    assert "Download the error report" in page
    assert SKIPPED_THREE in text(rep_client.get(import_url()))

    report = rep_client.get(errors_url(lead_import))
    assert report.status_code == 200
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert report["Content-Disposition"].startswith(
        f'attachment; filename="import-{lead_import.pk}-errors-'
    )
    body = report.content.decode("utf-8")
    assert body.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(body.lstrip("\ufeff")))) == [
        ["row", "message"],
        ["4", "Value must be non-negative"],
        ["7", "Title is required"],
        ["11", "Priority “whenever” is not low, normal, high or urgent"],
    ]


def test_each_imported_lead_gets_an_imported_event(rep_client, rep, imported):
    raw = csv_bytes([["Title"], ["First"], [""], ["Second"]])
    lead_import = imported(rep_client, raw, name="two.csv")
    events = LeadEvent.objects.filter(kind=EventKind.IMPORTED).select_related("lead")
    assert {(e.lead.title, e.data["row"]) for e in events} == {("First", 2), ("Second", 4)}
    for event in events:
        assert event.actor == rep
        assert event.data["import_id"] == lead_import.pk
        assert event.data["file"] == "two.csv"
    # No "created" events besides: the import is what happened.
    assert not LeadEvent.objects.exclude(kind=EventKind.IMPORTED).exists()
    lead = Lead.objects.get(title="First")
    assert "Imported from two.csv" in text(rep_client.get(lead.get_absolute_url()))


def test_a_file_without_errors_has_no_error_report(rep_client, imported):
    lead_import = imported(rep_client, csv_bytes([["Title"], ["A"]]))
    assert lead_import.summary == "Imported 1 lead."
    assert lead_import.error_report == ""
    assert "Download the error report" not in text(rep_client.get(detail_url(lead_import)))
    report = rep_client.get(errors_url(lead_import))
    assert report.status_code == 200
    assert report.content.decode() == "\ufeffrow,message\r\n"


def test_all_or_nothing_imports_nothing_when_one_row_is_bad(rep_client, imported):
    raw = csv_bytes(
        [
            ["Title", "Value", "Client"],
            ["Good 1", "10", "New Client BV"],
            ["Good 2", "20", ""],
            ["Bad", "-20", ""],
            ["Good 3", "30", ""],
        ]
    )
    before = counts()
    lead_import = imported(rep_client, raw, mode="all_or_nothing", create_clients=True)
    assert counts() == before  # no leads, no events, no new client
    assert lead_import.created_count == 0
    assert lead_import.failure.startswith("Nothing was imported: 1 of 4 rows have errors")
    page = text(rep_client.get(detail_url(lead_import)))
    assert "Nothing was imported: 1 of 4 rows have errors" in page
    report = rep_client.get(errors_url(lead_import)).content.decode()
    assert "4,Value must be non-negative" in report
    assert UNDO_BUTTON not in rep_client.get(detail_url(lead_import)).content.decode()


def test_all_or_nothing_imports_everything_when_all_rows_are_good(rep_client, imported):
    raw = csv_bytes([["Title", "Client"], ["Good 1", "New Client BV"], ["Good 2", ""]])
    lead_import = imported(rep_client, raw, mode="all_or_nothing", create_clients=True)
    assert lead_import.summary == "Imported 2 leads."
    assert lead_import.failure == ""
    assert Lead.objects.get(title="Good 1").client.name == "New Client BV"


def test_all_or_nothing_writes_nothing_when_a_later_batch_fails(rep_client, imported):
    real_insert = services._insert
    calls = []

    def failing_insert(model, rows):
        calls.append(model)
        if calls.count(Lead) == 2:
            raise RuntimeError("disk full")
        return real_insert(model, rows)

    # 25 rows in batches of BATCH_SIZE (or a multiple of it): at least two batches.
    raw = csv_bytes([["Title", "Client"], *([f"Deal {n}", "Fresh BV"] for n in range(25))])
    with (
        mock.patch.object(imports, "BATCH_SIZE", 2),
        mock.patch.object(services, "_insert", failing_insert),
    ):
        lead_import = imported(rep_client, raw, mode="all_or_nothing", create_clients=True)
    assert calls.count(Lead) == 2  # the first batch was written, then rolled back
    assert lead_import.status == LeadImport.Status.FAILED
    assert "unexpected error" in lead_import.failure
    assert not Lead.objects.exists()
    assert not LeadEvent.objects.exists()
    assert not Client.objects.filter(name="Fresh BV").exists()
    response = rep_client.get(detail_url(lead_import))
    assert response.status_code == 200
    assert "The import stopped because of an unexpected error" in text(response)


def test_progress_is_recorded_after_each_batch(rep_client, imported):
    real_insert = services._insert
    seen = []

    def spying_insert(model, rows):
        if model is Lead:
            current = LeadImport.objects.latest("pk")
            seen.append((current.status, current.processed_rows, current.total_rows))
        return real_insert(model, rows)

    raw = csv_bytes([["Title"], *([f"Deal {n}"] for n in range(25))])
    with (
        mock.patch.object(imports, "BATCH_SIZE", 2),
        mock.patch.object(services, "_insert", spying_insert),
    ):
        lead_import = imported(rep_client, raw)
    # Batches of BATCH_SIZE rows (PostgreSQL may take a multiple): at least two of them.
    assert len(seen) >= 2
    size = seen[1][1]
    assert size % 2 == 0
    assert seen == [("running", done, 25) for done in range(0, 25, size)]
    assert (lead_import.processed_rows, lead_import.progress_percent) == (25, 100)
    assert Lead.objects.count() == 25


def test_running_twice_imports_once(rep_client, imported, start):
    lead_import = imported(rep_client, csv_bytes([["Title"], ["Only once"]]))
    response = start(rep_client, lead_import)
    assert response.status_code == 302
    assert Lead.objects.filter(title="Only once").count() == 1
    page = text(rep_client.get(response["Location"]))
    assert "This import has already run." in page


# --- references --------------------------------------------------------------------------------


def test_references_are_resolved(rep_client, rep, imported):
    carla = RepFactory(username="carla", email="carla@example.com")
    acme = ClientFactory(name="Acme BV")
    ann = ContactFactory(client=acme, name="Ann Jansen", email="ann@acme.example")
    bob = ContactFactory(client=acme, name="Bob Smit", email="bob@acme.example")
    renewals = PipelineFactory(name="Renewals")
    PipelineStageFactory(pipeline=renewals, name="Due", order=0, probability=70)
    raw = csv_bytes(
        [
            ["Titel", "Fase", "Bron", "Eigenaar", "Klant", "Contactpersoon", "Pipeline"],
            ["Default stage", "", "", "", "", "", ""],
            ["By name", "qualified", "referral", "carla", "acme bv", "Ann Jansen", ""],
            ["By label", "PROPOSAL", "Social media", "CARLA@example.com", "Acme BV", "", ""],
            ["Contact by email", "Won", "email", "", "Acme BV", "bob@acme.example", ""],
            ["Other pipeline", "", "", "", "", "", "Renewals"],
        ]
    )
    lead_import = imported(rep_client, raw)
    assert lead_import.summary == "Imported 5 leads."
    leads = {lead.title: lead for lead in Lead.objects.select_related("stage", "source")}
    assert leads["Default stage"].stage == default_stage("New")
    assert leads["Default stage"].source is None
    assert leads["Default stage"].assignee is None
    assert leads["By name"].stage == default_stage("Qualified")
    assert leads["By name"].probability == 40  # the stage's
    assert leads["By name"].source.slug == "referral"
    assert leads["By name"].assignee == carla
    assert (leads["By name"].client, leads["By name"].contact) == (acme, ann)
    assert leads["By label"].stage == default_stage("Proposal")
    assert leads["By label"].source.slug == "social_media"
    assert leads["By label"].assignee == carla
    assert leads["By label"].contact is None
    assert leads["Contact by email"].contact == bob
    assert leads["Contact by email"].stage == default_stage("Won")
    assert leads["Contact by email"].closed_at is not None
    assert leads["Default stage"].closed_at is None
    assert leads["Other pipeline"].stage.pipeline == renewals
    assert leads["Other pipeline"].stage.name == "Due"
    assert leads["Other pipeline"].probability == 70


def test_unresolved_references_are_row_errors(rep_client, imported):
    acme = ClientFactory(name="Acme")
    ContactFactory(client=ClientFactory(name="Other"), name="Zed")
    raw = csv_bytes(
        [
            ["Title", "Stage", "Source", "Assignee", "Client", "Contact"],
            ["Ok", "", "", "", "Acme", ""],
            ["Bad stage", "Dreaming", "", "", "", ""],
            ["Bad source", "", "pigeon", "", "", ""],
            ["Bad user", "", "", "nobody@example.com", "", ""],
            ["Bad client", "", "", "", "Nope BV", ""],
            ["Bad contact", "", "", "", "Acme", "Zed"],
        ]
    )
    lead_import = uploaded(rep_client, raw)
    page = text(preview(rep_client, lead_import))
    assert "Row 3: Unknown stage “Dreaming” in pipeline Sales" in page
    assert "Row 4: Unknown source “pigeon”" in page
    assert "Row 5: Owner “nobody@example.com” is not a user here: imported unassigned" in page
    assert "Row 6: Unknown client “Nope BV” (choose to create missing clients)" in page
    assert "Row 7: Contact “Zed” is not a contact of Acme" in page
    lead_import = imported(rep_client, raw)
    assert lead_import.summary == (
        "Imported 2 leads. 4 rows skipped "
        "(1 invalid contact, 1 unknown client, 1 unknown source, 1 for other reasons)."
    )
    assert Lead.objects.get(title="Ok").client == acme
    assert Lead.objects.get(title="Bad user").assignee is None
    assert not Client.objects.filter(name="Nope BV").exists()


def test_missing_clients_are_created_when_chosen(rep_client, imported):
    ClientFactory(name="Existing BV")
    raw = csv_bytes(
        [
            ["Title", "Client"],
            ["One", "Newco BV"],
            ["Two", "Newco BV"],
            ["Three", "Existing BV"],
            ["Four", "Other New"],
        ]
    )
    lead_import = uploaded(rep_client, raw)
    page = text(preview(rep_client, lead_import, create_clients=True))
    assert "2 new clients will be created: Newco BV, Other New" in page
    assert not Client.objects.filter(name="Newco BV").exists()
    lead_import = imported(rep_client, raw, create_clients=True)
    assert lead_import.summary == "Imported 4 leads."
    newco = Client.objects.get(name="Newco BV")
    assert set(newco.leads.values_list("title", flat=True)) == {"One", "Two"}
    assert Lead.objects.get(title="Three").client.name == "Existing BV"
    assert Client.objects.filter(name="Existing BV").count() == 1
    assert Lead.objects.get(title="Four").client.name == "Other New"


def test_clients_the_import_creates_record_the_import_and_its_user(rep_client, rep, imported):
    existing = ClientFactory(name="Existing BV")
    raw = csv_bytes(
        [["Title", "Client"], ["One", "Newco BV"], ["Two", "Existing BV"], ["Three", "Other New"]]
    )
    lead_import = imported(rep_client, raw, name="q3.csv", create_clients=True)
    events = ClientEvent.objects.select_related("client").order_by("client__name")
    assert [(e.client.name, e.kind, e.actor, e.data) for e in events] == [
        (name, "created", rep, {"name": name, "import_id": lead_import.pk, "file": "q3.csv"})
        for name in ("Newco BV", "Other New")
    ]
    assert events[0].describe() == "Created the client by the import of q3.csv"
    assert not existing.events.exists()


def test_a_new_client_written_in_two_cases_is_created_once(rep_client, imported):
    # Existing clients match "any case"; a client the import creates should too.
    raw = csv_bytes([["Title", "Client"], ["One", "Newco BV"], ["Two", "NEWCO BV"]])
    imported(rep_client, raw, create_clients=True)
    assert Lead.objects.count() == 2
    assert Client.objects.filter(name__iexact="newco bv").count() == 1
    assert Lead.objects.get(title="One").client == Lead.objects.get(title="Two").client


# --- duplicates --------------------------------------------------------------------------------


@pytest.fixture
def existing(rep):
    acme = ClientFactory(name="Acme")
    return LeadFactory(
        title="Acme deal",
        client=acme,
        value=Decimal(1000),
        probability=10,
        priority=Priority.NORMAL,
        description="Keep this",
        category="Hardware",
        created_by=rep,
    )


DUPLICATE_FILE = [
    ["Title", "Client", "Value", "Stage", "Priority"],
    ["Acme deal", "Acme", "2.500", "Proposal", "urgent"],  # a duplicate of `existing`
    ["Acme deal", "", "10", "", ""],  # same title, no client: not a duplicate
    ["Another deal", "Acme", "20", "", ""],
]


def test_preview_flags_duplicates(rep_client, existing):
    lead_import = uploaded(rep_client, csv_bytes(DUPLICATE_FILE))
    response = preview(rep_client, lead_import)
    page = text(response)
    assert "3 rows: 3 ready to import, 1 duplicate of existing leads" in page
    assert f"Acme deal Duplicate of #{existing.pk}" in page
    rows = response.context["preview"]["rows"]
    assert [row.duplicate_of for row in rows] == [existing.pk, None, None]


def test_duplicates_skip(rep_client, existing, imported):
    lead_import = imported(rep_client, csv_bytes(DUPLICATE_FILE), duplicates="skip")
    assert lead_import.summary == "Imported 2 leads. 1 row skipped (duplicate)."
    existing.refresh_from_db()
    assert (existing.value, existing.version, existing.priority) == (Decimal(1000), 1, "normal")
    assert Lead.objects.filter(title="Acme deal", client__name="Acme").count() == 1
    report = rep_client.get(errors_url(lead_import)).content.decode()
    assert f"2,Duplicate of lead #{existing.pk}; skipped" in report
    assert not existing.events.exists()


def test_duplicates_create_anyway(rep_client, existing, imported):
    lead_import = imported(rep_client, csv_bytes(DUPLICATE_FILE), duplicates="create")
    assert lead_import.summary == "Imported 3 leads."
    assert Lead.objects.filter(title="Acme deal", client__name="Acme").count() == 2
    existing.refresh_from_db()
    assert (existing.value, existing.version) == (Decimal(1000), 1)
    copy = Lead.objects.get(title="Acme deal", client__name="Acme", import_batch=lead_import)
    assert copy.value == Decimal(2500)


def test_duplicates_update_the_existing_lead_and_record_before_values(
    rep_client, rep, existing, imported
):
    old_stage = existing.stage
    lead_import = imported(rep_client, csv_bytes(DUPLICATE_FILE), duplicates="update")
    assert (lead_import.created_count, lead_import.updated_count) == (2, 1)
    assert lead_import.summary == "Imported 2 leads. Updated 1 lead."
    assert "Imported 2 leads. Updated 1 lead." in text(rep_client.get(detail_url(lead_import)))
    assert Lead.objects.filter(title="Acme deal", client__name="Acme").count() == 1
    existing.refresh_from_db()
    # Mapped fields take the file's values...
    assert existing.value == Decimal(2500)
    assert existing.stage == default_stage("Proposal")
    assert existing.priority == Priority.URGENT
    assert existing.version == 2
    assert existing.import_batch is None  # it was not created by the import
    # ...the others are left alone, but for the probability, which follows the new stage.
    assert (existing.description, existing.category) == ("Keep this", "Hardware")
    assert existing.probability == 60
    event = existing.events.get()
    assert event.kind == EventKind.IMPORTED
    assert event.actor == rep
    assert event.data["import_id"] == lead_import.pk
    assert event.data["row"] == 2
    assert event.data["updated"] is True
    before = event.data["before"]
    assert before | {"stage_entered_at": None} == {
        "title": "Acme deal",
        "value": "1000.00",
        "priority": "normal",
        "stage": old_stage.pk,
        # entering a stage also moves these, so undo needs them
        "probability": 10,
        "closed_at": None,
        "stage_entered_at": None,
        # and so does how the lead closed (here: it had not)
        "actual_close_date": None,
        "won_value": None,
        "lost_reason": None,
        "competitor": "",
        "lost_note": "",
    }
    assert before["stage_entered_at"]


def test_undo_restores_updated_leads(rep_client, existing, imported):
    lead_import = imported(rep_client, csv_bytes(DUPLICATE_FILE), duplicates="update")
    response = undo(rep_client, lead_import)
    assert "Import undone: 3 leads reverted." in text(response)
    existing.refresh_from_db()
    assert existing.value == Decimal(1000)
    assert existing.stage == default_stage("New")
    assert existing.priority == Priority.NORMAL
    assert (existing.description, existing.category) == ("Keep this", "Hardware")
    assert list(Lead.objects.all()) == [existing]


# --- background run and progress --------------------------------------------------------------


def test_run_is_a_task_enqueued_on_commit(rep_client, django_capture_on_commit_callbacks):
    assert isinstance(run_lead_import, Task)
    lead_import = uploaded(rep_client, csv_bytes([["Title"], ["A"], ["B"]]))
    with mock.patch.object(tasks, "run_lead_import") as task:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = rep_client.post(detail_url(lead_import), mapping_data(lead_import, "run"))
        assert response.status_code == 302
        task.enqueue.assert_not_called()  # not before the commit
        assert len(callbacks) == 1
        callbacks[0]()
    task.enqueue.assert_called_once_with(lead_import.pk, "en")  # the language it started in
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.QUEUED
    assert not Lead.objects.exists()
    result = run_lead_import.enqueue(lead_import.pk)  # the immediate backend: at once
    assert result.status == TaskResultStatus.SUCCESSFUL
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.DONE
    assert Lead.objects.count() == 2


def test_progress_polls_until_done_then_shows_the_summary(
    rep_client, django_capture_on_commit_callbacks
):
    lead_import = uploaded(rep_client, csv_bytes([["Title"], ["A"], ["B"], [""], ["C"]]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rep_client.post(detail_url(lead_import), mapping_data(lead_import, "run"))

    # Queued: the whole page polls.
    response = rep_client.get(detail_url(lead_import))
    content = response.content.decode()
    assert POLLING.search(content)
    assert f'hx-get="{detail_url(lead_import)}"' in content
    assert "Waiting to start…" in text(response)
    assert 'name="column_0"' not in content  # no mapping form any more

    # htmx asks for the fragment only.
    fragment = rep_client.get(detail_url(lead_import), headers=HTMX_PROGRESS)
    assert fragment.status_code == 200
    body = fragment.content.decode().strip()
    assert body.startswith('<div id="import-progress"')
    assert "<html" not in body
    assert "breadcrumbs" not in body
    assert POLLING.search(body)
    assert "HX-Target" in fragment["Vary"]

    # Running: rows done so far, and a bar.
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.RUNNING, total_rows=8, processed_rows=2
    )
    fragment = rep_client.get(detail_url(lead_import), headers=HTMX_PROGRESS)
    assert POLLING.search(fragment.content.decode())
    assert "Importing… 2 of 8 rows" in text(fragment)
    assert 'value="25"' in fragment.content.decode()
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.QUEUED, total_rows=0, processed_rows=0
    )

    # The worker runs it.
    for callback in callbacks:
        callback()
    fragment = rep_client.get(detail_url(lead_import), headers=HTMX_PROGRESS)
    body = fragment.content.decode()
    assert "hx-trigger" not in body
    assert "hx-get" not in body
    assert "Imported 3 leads." in text(fragment)
    page = rep_client.get(detail_url(lead_import)).content.decode()
    assert "every 1s" not in page
    assert UNDO_BUTTON in page


def test_history_lists_each_import_with_its_summary(rep_client, rep, imported):
    imported(rep_client, twelve_good_three_bad(), name="first.csv")
    imported(rep_client, csv_bytes([["Title"], ["One more"]]), name="second.csv")
    imported(rep_client, csv_bytes([["Title"], ["-"], [""]]), name="third.csv")
    uploaded(rep_client, csv_bytes([["Title"], ["Not run"]]), name="fourth.csv")
    response = rep_client.get(import_url())
    rows = re.findall(r"<tr>\s*<td class=\"cell-title\">.*?</tr>", response.content.decode(), re.S)
    rows = [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", row))) for row in rows]
    assert len(rows) == 4
    assert "fourth.csv" in rows[0]
    assert "Uploaded" in rows[0]
    assert "third.csv" in rows[1]
    assert "Imported 1 lead." in rows[1]
    assert "second.csv" in rows[2]
    assert "Imported 1 lead." in rows[2]
    assert "first.csv" in rows[3]
    assert SKIPPED_THREE in rows[3]
    assert rep.get_full_name() in rows[3]


# --- undo --------------------------------------------------------------------------------------


def test_undo_deletes_the_created_leads_with_audit_events(rep_client, rep, imported):
    keep = LeadFactory(title="Not imported")
    raw = csv_bytes([["Title", "Client"], ["One", "Fresh BV"], ["Two", ""], ["Three", ""]])
    lead_import = imported(rep_client, raw, create_clients=True)
    ids = set(Lead.objects.filter(import_batch=lead_import).values_list("pk", flat=True))
    assert len(ids) == 3
    assert UNDO_BUTTON in rep_client.get(detail_url(lead_import)).content.decode()

    response = undo(rep_client, lead_import, follow=False)
    assert response.status_code == 302
    assert response["Location"] == import_url()
    page = text(rep_client.get(response["Location"]))
    assert "Import undone: 3 leads reverted." in page
    assert "Undone" in page

    assert list(Lead.objects.all()) == [keep]
    deleted = LeadEvent.objects.filter(kind=EventKind.DELETED)
    assert {e.data["lead_id"] for e in deleted} == ids
    assert {e.data["title"] for e in deleted} == {"One", "Two", "Three"}
    for event in deleted:
        assert event.lead is None
        assert event.actor == rep
        assert event.data["undo_import"] == lead_import.pk
    # The "imported" events survive as the audit trail, detached from the deleted leads.
    assert LeadEvent.objects.filter(kind=EventKind.IMPORTED, lead__isnull=True).count() == 3
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.UNDONE
    assert lead_import.undone_at is not None
    detail = text(rep_client.get(detail_url(lead_import)))
    assert "This import was undone on" in detail
    assert UNDO_BUTTON not in rep_client.get(detail_url(lead_import)).content.decode()


def test_undo_twice_is_refused(rep_client, imported):
    lead_import = imported(rep_client, csv_bytes([["Title"], ["One"]]))
    undo(rep_client, lead_import)
    LeadFactory(title="Later")
    response = undo(rep_client, lead_import)
    assert response.status_code == 200
    assert "Only a finished or interrupted import can be undone." in text(response)
    assert list(Lead.objects.values_list("title", flat=True)) == ["Later"]
    assert LeadEvent.objects.filter(kind=EventKind.DELETED).count() == 1


def test_undo_of_an_import_still_being_mapped_is_refused(rep_client):
    lead_import = uploaded(rep_client, csv_bytes([["Title"], ["One"]]))
    response = undo(rep_client, lead_import)
    assert "Only a finished or interrupted import can be undone." in text(response)
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.UPLOADED


def edit_lead(client, lead):
    return client.post(
        reverse("leads:update", args=[lead.pk]),
        {
            "title": lead.title + " (edited)",
            "stage": lead.stage_id,
            "priority": lead.priority,
            "value": "",
            "probability": str(lead.probability or ""),
            "description": "",
            "category": "",
            "version": lead.version,
        },
    )


def note_lead(client, lead):
    return client.post(reverse("leads:add_note", args=[lead.pk]), {"text": "Called them."})


def move_lead(client, lead):
    stage = default_stage("Contacted")
    return client.post(reverse("leads:move_stage", args=[lead.pk]), {"stage": stage.pk})


@pytest.mark.parametrize("touch", [edit_lead, note_lead, move_lead], ids=["edit", "note", "move"])
def test_undo_is_refused_once_a_lead_was_touched(rep_client, imported, touch):
    raw = csv_bytes([["Title"], ["One"], ["Two"]])
    lead_import = imported(rep_client, raw)
    lead = Lead.objects.get(title="Two")
    response = touch(rep_client, lead)
    assert response.status_code == 302, text(response)
    assert lead.events.exclude(kind=EventKind.IMPORTED).exists()
    snapshot = sorted(
        Lead.objects.values_list("pk", "title", "version", "stage_id", "last_activity_at")
    )
    events = LeadEvent.objects.count()

    content = rep_client.get(detail_url(lead_import)).content.decode()
    assert UNDO_BUTTON not in content
    assert "This import can no longer be undone: some of its leads were changed since." in (
        html.unescape(content)
    )

    response = undo(rep_client, lead_import)
    assert response.status_code == 200
    assert "Some of this import's leads were changed since, so it can no longer be undone." in text(
        response
    )
    assert (
        sorted(Lead.objects.values_list("pk", "title", "version", "stage_id", "last_activity_at"))
        == snapshot
    )
    assert LeadEvent.objects.count() == events
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.DONE


def test_undo_is_refused_when_an_updated_lead_was_touched(rep_client, existing, imported):
    lead_import = imported(rep_client, csv_bytes(DUPLICATE_FILE), duplicates="update")
    existing.refresh_from_db()
    note_lead(rep_client, existing)
    response = undo(rep_client, lead_import)
    assert "can no longer be undone" in text(response)
    existing.refresh_from_db()
    assert existing.value == Decimal(2500)
    assert Lead.objects.count() == 3


def test_changes_to_other_leads_do_not_block_undo(rep_client, rep, imported):
    other = LeadFactory(title="Other", created_by=rep)
    lead_import = imported(rep_client, csv_bytes([["Title"], ["One"]]))
    note_lead(rep_client, other)
    assert "Import undone: 1 lead reverted." in text(undo(rep_client, lead_import))
    assert list(Lead.objects.all()) == [other]


# --- round trip: export, then import ------------------------------------------------------------

COMPARED = [
    "title",
    "description",
    "value",
    "probability",
    "expected_close_date",
    "source__slug",
    "priority",
    "stage__pipeline__name",
    "stage__name",
    "assignee__username",
    "client__name",
    "contact__name",
    "category",
    "actual_close_date",
    "won_value",
    "lost_reason__name",
    "competitor",
    "lost_note",
]


def snapshot_leads() -> list[tuple]:
    return sorted(Lead.objects.values_list(*COMPARED), key=lambda row: row[0])


def export_csv(client) -> bytes:
    try:
        url = reverse("leads:export")
    except NoReverseMatch:  # pragma: no cover - until the export lands
        pytest.fail("leads:export does not exist yet: the round trip waits on the CSV export")
    response = client.get(url, {"status": "all"})
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def make_leads_for_round_trip(rep) -> None:
    carla = RepFactory(username="carla")
    acme = ClientFactory(name="Acme BV")
    ann = ContactFactory(client=acme, name="Ann Jansen", email="ann@acme.example")
    globex = ClientFactory(name="Globex; Inc.")
    renewals = PipelineFactory(name="Renewals")
    PipelineStageFactory(pipeline=renewals, name="Due", order=0, probability=70)
    PipelineStageFactory(pipeline=renewals, name="Renewed", order=1, probability=100, kind="won")
    LeadFactory(
        title="Koffiemachines",
        description='Two lines,\nwith "quotes"; and a semicolon',
        value=Decimal("1234.56"),
        probability=35,
        expected_close_date=datetime.date(2026, 12, 31),
        source=LeadSource.objects.get(slug="referral"),
        priority=Priority.HIGH,
        stage=default_stage("Qualified"),
        assignee=carla,
        client=acme,
        contact=ann,
        category="Hardware",
        created_by=rep,
    )
    LeadFactory(
        title="Café Noël — ünïcödé",
        value=None,
        probability=0,
        expected_close_date=None,
        source=None,
        priority=Priority.LOW,
        stage=default_stage("Lost"),
        client=globex,
        category="",
        lost_reason=LossReason.objects.get(slug="chose-competitor"),
        competitor="Initech",
        lost_note="Cheaper; and faster",
        actual_close_date=datetime.date(2025, 2, 27),
    )
    LeadFactory(
        title="Big, renewal",
        value=Decimal("25000.00"),
        probability=100,
        expected_close_date=datetime.date(2027, 1, 5),
        source=LeadSource.objects.get(slug="social_media"),
        priority=Priority.URGENT,
        stage=renewals.stages.get(name="Renewed"),
        assignee=rep,
        category="Service contracts",
        won_value=Decimal("25000.00"),
        actual_close_date=datetime.date(2025, 11, 2),
    )
    LeadFactory(
        title="Plain",
        value=Decimal("0.50"),
        probability=10,
        stage=default_stage("New"),
    )


def test_round_trip_export_then_import_into_an_empty_database(rep_client, rep, imported):
    make_leads_for_round_trip(rep)
    before = snapshot_leads()
    assert len(before) == 4
    exported = export_csv(rep_client)
    Lead.objects.all().delete()
    lead_import = imported(rep_client, exported, name="export.csv")
    assert lead_import.failure == ""
    assert lead_import.error_report == "", lead_import.error_report
    assert lead_import.summary == "Imported 4 leads."
    assert snapshot_leads() == before


def test_round_trip_recreates_deleted_clients_when_chosen(rep_client, rep, imported):
    make_leads_for_round_trip(rep)
    Lead.objects.filter(contact__isnull=False).update(contact=None)
    Contact.objects.all().delete()
    before = snapshot_leads()
    exported = export_csv(rep_client)
    Lead.objects.all().delete()
    Client.objects.all().delete()
    lead_import = imported(rep_client, exported, create_clients=True)
    assert lead_import.summary == "Imported 4 leads.", lead_import.error_report
    assert snapshot_leads() == before
    assert sorted(Client.objects.values_list("name", flat=True)) == ["Acme BV", "Globex; Inc."]


def test_round_trip_preview_maps_every_exported_field(rep_client, rep):
    make_leads_for_round_trip(rep)
    lead_import = uploaded(rep_client, export_csv(rep_client))
    mapped = set(lead_import.mapping.values())
    assert mapped == {
        "status",
        "title",
        "description",
        "value",
        "currency",
        "probability",
        "expected_close_date",
        "source",
        "priority",
        "stage",
        "pipeline",
        "assignee",
        "client",
        "contact",
        "category",
        "actual_close_date",
        "won_value",
        "lost_reason",
        "competitor",
        "lost_note",
    }
    # The export's own columns (id, score, timestamps) are ignored; its status is read
    # as other CRMs' status columns are, and agrees with the stage.
    headers = dict(enumerate(lead_import.headers))
    ignored = {headers[i] for i in range(len(headers)) if str(i) not in lead_import.mapping}
    assert ignored == {"id", "score", "created_at", "updated_at"}
    # Re-importing next to the originals: every row is a duplicate.
    page = text(preview(rep_client, lead_import))
    assert "4 rows: 4 ready to import, 4 duplicates of existing leads" in page


def test_update_and_undo_of_references(rep_client, rep, imported):
    carla = RepFactory(username="carla")
    acme = ClientFactory(name="Acme")
    ann = ContactFactory(client=acme, name="Ann")
    bob = ContactFactory(client=acme, name="Bob")
    lead = LeadFactory(
        title="Acme deal",
        client=acme,
        contact=ann,
        assignee=rep,
        source=LeadSource.objects.get(slug="website"),
        expected_close_date=datetime.date(2026, 3, 1),
        created_by=rep,
    )
    raw = csv_bytes(
        [
            ["Title", "Client", "Contact", "Owner", "Source", "Close date", "Category"],
            ["Acme deal", "Acme", "Bob", "carla", "referral", "15-04-2026", "Upsell"],
        ]
    )
    lead_import = imported(rep_client, raw, duplicates="update")
    assert lead_import.updated_count == 1
    lead.refresh_from_db()
    assert (lead.contact, lead.assignee, lead.source.slug) == (bob, carla, "referral")
    assert lead.expected_close_date == datetime.date(2026, 4, 15)
    assert lead.category == "Upsell"
    assert lead.client == acme
    before = lead.events.get(kind=EventKind.IMPORTED).data["before"]
    assert before["contact"] == ann.pk
    assert before["assignee"] == rep.pk
    assert before["expected_close_date"] == "2026-03-01"

    assert "Import undone: 1 lead reverted." in text(undo(rep_client, lead_import))
    lead.refresh_from_db()
    assert (lead.contact, lead.assignee, lead.source.slug) == (ann, rep, "website")
    assert lead.expected_close_date == datetime.date(2026, 3, 1)
    assert lead.category == ""


def test_undo_of_an_update_that_closed_a_lead_reopens_it(rep_client, rep, imported):
    lead = LeadFactory(title="Open deal", created_by=rep)
    assert lead.closed_at is None
    raw = csv_bytes([["Title", "Stage"], ["Open deal", "Won"]])
    lead_import = imported(rep_client, raw, duplicates="update")
    lead.refresh_from_db()
    assert lead.stage == default_stage("Won")
    assert lead.closed_at is not None
    undo(rep_client, lead_import)
    lead.refresh_from_db()
    assert lead.stage == default_stage("New")
    assert lead.is_open
    assert lead.closed_at is None  # an open lead is not closed


# --- what a second look found -------------------------------------------------------------


def test_text_the_export_guarded_against_formulas_comes_back_as_it_was(rep_client, imported):
    rows = [["Title", "Category"], ["'=Big deal", "'+tag"], ["'plain quote", "x"]]
    imported(rep_client, csv_bytes(rows))
    assert set(Lead.objects.values_list("title", "category")) == {
        ("=Big deal", "+tag"),
        ("'plain quote", "x"),
    }


def test_an_error_after_some_batches_keeps_a_true_summary_and_can_be_undone(
    rep_client, imported, monkeypatch
):
    from leads import imports

    monkeypatch.setattr(imports, "BATCH_SIZE", 1)  # PostgreSQL copies 5 rows a batch
    original, calls = services._insert, []

    def failing_on_the_second_lead_batch(model, rows):
        if model is Lead:
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("disk full")
        return original(model, rows)

    monkeypatch.setattr(services, "_insert", failing_on_the_second_lead_batch)
    rows = [["Title"], *([f"Deal {n}"] for n in range(12))]
    lead_import = imported(rep_client, csv_bytes(rows))
    assert lead_import.status == LeadImport.Status.DONE
    assert lead_import.created_count == Lead.objects.count() > 0
    assert "stopped after" in lead_import.failure
    assert "Undo import" in text(rep_client.get(detail_url(lead_import)))
    undo(rep_client, lead_import)
    assert not Lead.objects.exists()


def test_undoing_an_update_leaves_an_entry_on_the_leads_timeline(rep_client, existing, imported):
    lead_import = imported(rep_client, csv_bytes(DUPLICATE_FILE), duplicates="update")
    undo(rep_client, lead_import)
    page = text(rep_client.get(existing.get_absolute_url()))
    assert f"Undid the import of {lead_import.file_name}" in page
    assert f"Updated by the import of {lead_import.file_name}" in page


def test_the_lead_list_offers_import_to_those_who_may_add_leads(rep_client, client, reader):
    assert 'href="/leads/import/"' in rep_client.get("/leads/").text
    client.force_login(reader)
    assert 'href="/leads/import/"' not in client.get("/leads/").text


# --- files that are not quite CSV ----------------------------------------------------------------


def test_an_unterminated_quote_is_an_error_on_its_row_and_the_next_rows_still_import(
    rep_client, imported
):
    raw = b'Title,Value\r\n"unterminated,5\r\nline two,6\r\nline three,7\r\n'
    lead_import = uploaded(rep_client, raw)
    page = text(preview(rep_client, lead_import))
    assert "3 rows: 2 ready to import, 1 with errors" in page
    assert "Row 2: A quote opens a value on line 2 that never closes" in page
    lead_import = imported(rep_client, raw)
    assert sorted(Lead.objects.values_list("title", flat=True)) == ["line three", "line two"]
    assert lead_import.skipped_count == 1
    assert "never closes" in lead_import.error_report


def test_text_after_a_closing_quote_is_an_error_on_its_row(rep_client):
    raw = b'Title,Value\r\n"Acme"deal,5\r\nGood,6\r\n'
    page = text(preview(rep_client, uploaded(rep_client, raw)))
    assert "2 rows: 1 ready to import, 1 with errors" in page
    assert "Row 2: The row on line 2 could not be read" in page


def test_errors_name_the_spreadsheet_row_not_the_line(rep_client):
    """A value over several lines is one row, as a spreadsheet shows it."""
    raw = b'Title,Value,Description\r\nA,1,"three\r\nline\r\nnote"\r\nB,-5,x\r\n'
    page = text(preview(rep_client, uploaded(rep_client, raw)))
    assert "Row 3: Value must be non-negative" in page


def test_an_oversized_value_is_an_error_on_the_row_where_it_starts(rep_client):
    long_lines = b"\r\n".join([b"y" * 60_000] * 3)
    raw = b'Title,Description\r\nFine,ok\r\nHuge,"' + long_lines + b'"\r\nAfter,ok\r\n'
    page = text(preview(rep_client, uploaded(rep_client, raw)))
    assert "Row 3: A value starting on line 3 is too long" in page
    assert "Row 50002" not in page


def test_a_row_with_more_values_than_the_header_is_refused_not_shifted(rep_client):
    raw = b"Title,Value\r\nAcme,1,234\r\nFine,5\r\n"
    page = text(preview(rep_client, uploaded(rep_client, raw)))
    assert "Row 2: The row has 3 values but the header names 2 columns" in page
    assert "2 rows: 1 ready to import, 1 with errors" in page


def test_a_file_with_thousands_of_columns_is_refused_at_upload(rep_client):
    header = ",".join(["Title", *(f"Extra {n}" for n in range(10_000))])
    response = upload(rep_client, (header + "\r\nA" + "," * 10_000 + "\r\n").encode())
    assert response.status_code == 422
    assert "The file has 10,001 columns; at most 200 can be imported" in text(response)
    assert not LeadImport.objects.exists()


def test_the_mapping_of_the_widest_file_allowed_posts_well_under_djangos_field_limit(
    rep_client, settings
):
    header = ",".join(["Title", *(f"Extra {n}" for n in range(199))])
    lead_import = uploaded(rep_client, (header + "\r\nA\r\n").encode())
    data = mapping_data(lead_import, "preview")
    assert len(data) < settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    response = rep_client.post(detail_url(lead_import), data)
    assert response.status_code == 200
    assert "1 row: 1 ready to import" in text(response)


def test_unreadable_values_skip_their_rows_and_import_the_rest(rep_client, imported):
    rows = [
        ["Title", "Value", "Probability"],
        ["Good", "10", "20"],
        ["Not a number", "NaN", ""],
        ["Infinite", "Infinity", ""],
        ["Huge", "1e309", ""],
        ["Signalling", "sNaN", ""],
        ["Bad chance", "5", "Infinity"],
        ["Also good", "20", "30"],
    ]
    lead_import = imported(rep_client, csv_bytes(rows))
    assert lead_import.status == LeadImport.Status.DONE
    assert lead_import.failure == ""
    assert (lead_import.created_count, lead_import.skipped_count) == (2, 5)
    assert sorted(Lead.objects.values_list("title", flat=True)) == ["Also good", "Good"]


def test_an_update_keeps_what_the_rows_empty_cells_leave_out(rep_client, existing, imported):
    """A blank Stage cell must not move the lead back to the first stage (nor a blank
    Value wipe its value): only filled-in cells overwrite."""
    from leads.services import lead_move_stage

    lead_move_stage(lead_id=existing.pk, stage=default_stage("Negotiation"), by=existing.created_by)
    rows = [
        ["Title", "Client", "Value", "Stage", "Priority"],
        ["Acme deal", "Acme", "", "", "urgent"],
    ]
    lead_import = imported(rep_client, csv_bytes(rows), duplicates="update")
    assert lead_import.updated_count == 1
    existing.refresh_from_db()
    assert existing.stage == default_stage("Negotiation")
    assert existing.value == Decimal(1000)
    assert existing.priority == Priority.URGENT
    undo(rep_client, lead_import)
    existing.refresh_from_db()
    assert (existing.priority, existing.stage) == (Priority.NORMAL, default_stage("Negotiation"))


def test_an_import_update_and_its_undo_say_what_changed_so_the_history_stays_one_chain(
    rep_client, existing, imported
):
    lead_import = imported(rep_client, csv_bytes(DUPLICATE_FILE), duplicates="update")
    undo(rep_client, lead_import)
    events = list(existing.events.order_by("id"))
    stage_steps = [
        (change["old"], change["new"])
        for event in events
        for change in event.data.get("changes", [])
        if change["field"] == "stage"
    ]
    assert stage_steps == [("New", "Proposal"), ("Proposal", "New")]
    page = text(rep_client.get(existing.get_absolute_url()))
    assert f"Updated by the import of {lead_import.file_name}. Value: €1,000 → €2,500" in page
    assert "Stage: New → Proposal" in page
    assert "Stage: Proposal → New" in page


def test_the_summary_says_why_rows_were_skipped(rep_client, imported):
    raw = csv_bytes([["Title", "Value"], ["Ok", "1"], ["", "2"], ["", "3"], ["", "4"]])
    lead_import = imported(rep_client, raw)
    assert lead_import.summary == "Imported 1 lead. 3 rows skipped (missing title)."
    assert lead_import.skip_reasons == {"missing title": 3}
    assert "3 rows skipped (missing title)." in text(rep_client.get(detail_url(lead_import)))


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("Title is required", "missing title"),
        ("Value must be non-negative", "invalid value"),
        ("Priority “whenever” is not low, normal, high or urgent", "invalid priority"),
        ("Expected close date “soon” is not a date", "invalid expected close date"),
        ("Duplicate of lead #12; skipped", "duplicate"),
        ("Unknown client “Nope BV” (choose to create missing clients)", "unknown client"),
        ("Unknown loss reason “Too pricey”", "unknown loss reason"),
        ("You may not change this lead (#4)", "not yours to change"),
        ("Lead #4 was deleted meanwhile", "lead deleted meanwhile"),
        ("The row has 5 values but the header names 3 columns; …", "too many values"),
        ("Currency “USD” is not EUR", "not in EUR"),
        ("Description is longer than 5000 characters", "description too long"),
        ("Something nobody foresaw happened to this row", "other errors"),
    ],
)
def test_a_skipped_rows_reason_is_its_first_error_in_a_few_words(message, reason):
    assert skip_reason(message) == reason


def test_the_commonest_reasons_are_named_and_the_rest_counted():
    report = (
        "row,message\n2,Title is required\n2,Value must be non-negative\n3,Title is required\n"
        "4,Duplicate of lead #1; skipped\n5,Currency “USD” is not EUR\n"
        "6,Lead #9 was deleted meanwhile\n"
    )
    reasons = skip_reasons(report)
    assert reasons == {
        "missing title": 2,  # row 2 counts once, by its first error
        "duplicate": 1,
        "not in EUR": 1,
        "lead deleted meanwhile": 1,
    }
    lead_import = LeadImport(skipped_count=5, skip_reasons=reasons, created_count=3)
    assert lead_import.summary == (
        "Imported 3 leads. 5 rows skipped (2 missing title, 1 duplicate, "
        "1 lead deleted meanwhile, 1 for other reasons)."
    )


def test_an_import_from_before_reasons_were_kept_says_only_how_many(rep_client):
    lead_import = LeadImport(skipped_count=2, created_count=1)
    assert lead_import.summary == "Imported 1 lead. 2 rows skipped."
