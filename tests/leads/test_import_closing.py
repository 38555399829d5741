"""CSV import of how leads closed: loss reasons, competitor, loss note, won value, close date."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from leads.imports import Lookups, auto_mapping, convert_row
from leads.models import EventKind, Lead, LossReason
from tests.factories import (
    ClientFactory,
    LeadFactory,
    LossReasonFactory,
    default_stage,
    loss_reason,
)
from tests.leads.test_import import (
    csv_bytes,
    detail_url,
    mapping_data,
    preview,
    text,
    undo,
    uploaded,
)

pytestmark = pytest.mark.django_db

REASON_MAPPING = {"0": "title", "1": "stage", "2": "lost_reason"}
NOTE_WANTED = "Say what happened: the reason “Other” needs a note"


@pytest.fixture
def imported(django_capture_on_commit_callbacks):
    """Upload and run in one go, the task run as the commit would; the finished import."""

    def imported(client, raw: bytes, **options):
        lead_import = uploaded(client, raw)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(detail_url(lead_import), mapping_data(lead_import, "run", **options))
        lead_import.refresh_from_db()
        return lead_import

    return imported


def today() -> datetime.date:
    return timezone.localdate()


# --- reading the columns ------------------------------------------------------------------


def test_the_closing_columns_are_recognised_in_english_and_dutch():
    headers = ["Titel", "Verliesreden", "Concurrent", "Loss note", "Gewonnen waarde", "Closed on"]
    assert list(auto_mapping(headers).values()) == [
        "title",
        "lost_reason",
        "competitor",
        "lost_note",
        "won_value",
        "actual_close_date",
    ]


@pytest.mark.parametrize("cell", ["Price too high", "PRICE TOO HIGH", "price-too-high"])
def test_a_loss_reason_is_found_by_its_name_in_any_case_or_by_its_slug(cell):
    row = convert_row(2, ["A", "Lost", cell], REASON_MAPPING, Lookups())
    assert row.is_valid, row.errors
    assert row.values["lost_reason"] == loss_reason("price-too-high")


def test_an_unknown_loss_reason_is_a_row_error():
    row = convert_row(2, ["A", "Lost", "Too pricey"], REASON_MAPPING, Lookups())
    assert row.errors == ["Unknown loss reason “Too pricey”"]


def test_an_inactive_loss_reason_is_found_as_an_inactive_source_is():
    retired = LossReasonFactory(name="Reorganisation", slug="reorganisation", active=False)
    row = convert_row(2, ["A", "Lost", "reorganisation"], REASON_MAPPING, Lookups())
    assert row.is_valid, row.errors
    assert row.values["lost_reason"] == retired


# --- new leads ----------------------------------------------------------------------------


def test_a_lost_row_imports_its_reason_competitor_note_and_close_date(rep_client, imported):
    raw = csv_bytes(
        [
            ["Title", "Stage", "Loss reason", "Competitor", "Loss note", "Actual close date"],
            ["Told", "Lost", "Chose competitor", "Globex", "Cheaper", "15-01-2025"],
            ["Untimed", "Lost", "no-budget", "", "", ""],
        ]
    )
    lead_import = imported(rep_client, raw)
    assert lead_import.summary == "Imported 2 leads.", lead_import.error_report
    told, untimed = Lead.objects.order_by("title")
    assert told.stage == default_stage("Lost")
    assert told.lost_reason == loss_reason("chose-competitor")
    assert (told.competitor, told.lost_note) == ("Globex", "Cheaper")
    assert told.actual_close_date == datetime.date(2025, 1, 15)
    assert told.won_value is None
    assert untimed.lost_reason == loss_reason("no-budget")
    assert untimed.actual_close_date == today()  # the services' default


def test_a_lost_row_without_a_reason_is_imported_as_other_with_a_note(rep_client, imported):
    raw = csv_bytes(
        [
            ["Title", "Stage", "Loss note"],
            ["Silent", "Lost", ""],
            ["Explained", "Lost", "They went quiet"],
            ["Open", "New", ""],
        ]
    )
    lead_import = imported(rep_client, raw)
    assert lead_import.summary == "Imported 3 leads.", lead_import.error_report
    silent = Lead.objects.get(title="Silent")
    assert silent.lost_reason == LossReason.objects.fallback()
    assert silent.lost_note == "Imported without a reason"
    explained = Lead.objects.get(title="Explained")
    assert (explained.lost_reason.slug, explained.lost_note) == ("other", "They went quiet")
    assert Lead.objects.get(title="Open").lost_reason is None


def test_the_preview_says_which_lost_rows_will_be_imported_as_other(rep_client):
    raw = csv_bytes(
        [
            ["Title", "Stage", "Loss reason", "Loss note"],
            ["Silent", "Lost", "", ""],
            ["Told", "Lost", "No budget", ""],
            ["Explained", "Lost", "", "They went quiet"],
        ]
    )
    lead_import = uploaded(rep_client, raw)
    response = preview(rep_client, lead_import)
    page = text(response)
    assert "3 rows: 3 ready to import." in page
    assert "These rows will be imported, but not quite as the file says:" in page
    assert (
        "Row 2: No loss reason: imported as “Other” with the note “Imported without a reason”"
        in page
    )
    assert "Row 4: No loss reason: imported as “Other” with the note “They went quiet”" in page
    assert "Row 3:" not in page
    assert not Lead.objects.exists()  # a dry run


def test_a_file_of_open_leads_has_no_notices(rep_client):
    lead_import = uploaded(rep_client, csv_bytes([["Title", "Stage"], ["A", "New"]]))
    response = preview(rep_client, lead_import)
    assert response.context["preview"]["notices"] == []
    assert "not quite as the file says" not in text(response)


def test_an_unknown_reason_is_refused_not_replaced_by_other(rep_client, imported):
    raw = csv_bytes([["Title", "Stage", "Loss reason"], ["A", "Lost", "Too pricey"]])
    lead_import = imported(rep_client, raw)
    assert lead_import.summary == "Imported 0 leads. 1 row skipped (unknown loss reason)."
    assert lead_import.error_report.splitlines()[1:] == ["2,Unknown loss reason “Too pricey”"]


def test_a_won_row_gets_todays_date_and_its_value_as_won_value_unless_given(rep_client, imported):
    raw = csv_bytes(
        [
            ["Title", "Stage", "Value", "Won value", "Actual close date"],
            ["Plain win", "Won", "2.500", "", ""],
            ["Told win", "Won", "2.500", "2.400", "2025-01-31"],
        ]
    )
    lead_import = imported(rep_client, raw)
    assert lead_import.summary == "Imported 2 leads.", lead_import.error_report
    plain = Lead.objects.get(title="Plain win")
    assert (plain.actual_close_date, plain.won_value) == (today(), Decimal(2500))
    told = Lead.objects.get(title="Told win")
    assert (told.actual_close_date, told.won_value) == (datetime.date(2025, 1, 31), Decimal(2400))
    assert told.value == Decimal(2400)  # what it was won for, as on the form


def test_an_open_row_leaves_the_closing_columns_empty(rep_client, imported):
    raw = csv_bytes(
        [
            ["Title", "Stage", "Loss reason", "Competitor", "Won value", "Actual close date"],
            ["Still open", "New", "No budget", "Globex", "10", "2025-01-31"],
        ]
    )
    imported(rep_client, raw)
    lead = Lead.objects.get()
    assert (lead.lost_reason, lead.competitor, lead.won_value, lead.actual_close_date) == (
        None,
        "",
        None,
        None,
    )


def tomorrow() -> str:
    return (today() + datetime.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("stage", "cells", "message"),
    [
        ("Won", {"Won value": "-5"}, "Won value must be non-negative"),
        ("Won", {"Won value": "lots"}, "Won value “lots” is not an amount"),
        ("Won", {"Actual close date": "tomorrow"}, "The close date cannot be in the future"),
        ("Lost", {"Loss reason": "No budget", "Actual close date": "tomorrow"}, None),
        ("Lost", {"Loss reason": "No budget", "Loss note": "x" * 501}, None),
        ("Lost", {"Loss reason": "No budget", "Competitor": "x" * 101}, None),
        ("Lost", {"Loss reason": "Other"}, NOTE_WANTED),
        ("Lost", {"Loss reason": "other", "Loss note": "  "}, NOTE_WANTED),
    ],
)
def test_bad_closing_cells_are_row_errors_and_the_row_is_not_written(
    rep_client, imported, stage, cells, message
):
    cells = {name: tomorrow() if value == "tomorrow" else value for name, value in cells.items()}
    message = (
        message
        or {
            "Actual close date": "The close date cannot be in the future",
            "Loss note": "Loss note is longer than 500 characters",
            "Competitor": "Competitor is longer than 100 characters",
        }[list(cells)[-1]]
    )
    raw = csv_bytes(
        [
            ["Title", "Stage", *cells],
            ["Bad", stage, *cells.values()],
            ["Good", stage, *([""] * len(cells))],
        ]
    )
    lead_import = imported(rep_client, raw)
    why = {
        "Won value must be non-negative": "invalid won value",
        "Won value “lots” is not an amount": "invalid won value",
        "The close date cannot be in the future": "close date in the future",
        "Loss note is longer than 500 characters": "loss note too long",
        "Competitor is longer than 100 characters": "competitor too long",
        NOTE_WANTED: "missing loss note",
    }[message]
    assert lead_import.summary == f"Imported 1 lead. 1 row skipped ({why})."
    assert lead_import.error_report.splitlines()[1:] == [f"2,{message}"]
    assert list(Lead.objects.values_list("title", flat=True)) == ["Good"]


def test_a_rows_own_note_satisfies_other(rep_client, imported):
    raw = csv_bytes([["Title", "Stage", "Loss reason", "Loss note"], ["A", "Lost", "Other", "Why"]])
    assert imported(rep_client, raw).summary == "Imported 1 lead."


# --- updating existing leads ---------------------------------------------------------------


@pytest.fixture
def acme_deal(rep):
    return LeadFactory(
        title="Acme deal",
        client=ClientFactory(name="Acme"),
        value=Decimal(1000),
        stage=default_stage("Proposal"),
        created_by=rep,
    )


def test_an_update_that_loses_a_lead_records_how_and_undo_restores_everything(
    rep_client, acme_deal, imported
):
    before = Lead.objects.values().get(pk=acme_deal.pk)
    raw = csv_bytes(
        [
            ["Title", "Client", "Stage", "Loss reason", "Competitor", "Loss note", "Closed on"],
            ["Acme deal", "Acme", "Lost", "Chose competitor", "Globex", "Cheaper", "2025-01-15"],
        ]
    )
    lead_import = imported(rep_client, raw, duplicates="update")
    assert lead_import.summary == "Imported 0 leads. Updated 1 lead.", lead_import.error_report
    acme_deal.refresh_from_db()
    assert acme_deal.stage == default_stage("Lost")
    assert acme_deal.lost_reason == loss_reason("chose-competitor")
    assert (acme_deal.competitor, acme_deal.lost_note) == ("Globex", "Cheaper")
    assert acme_deal.actual_close_date == datetime.date(2025, 1, 15)
    recorded = acme_deal.events.get(kind=EventKind.IMPORTED).data["before"]
    assert {name: recorded[name] for name in ("lost_reason", "competitor", "lost_note")} == {
        "lost_reason": None,
        "competitor": "",
        "lost_note": "",
    }

    assert "Import undone: 1 lead reverted." in text(undo(rep_client, lead_import))
    after = Lead.objects.values().get(pk=acme_deal.pk)
    changed = {name for name in before if before[name] != after[name]}
    # An undo is a write of its own; everything else is as it was.
    assert changed == {"version", "updated_at", "last_activity_at"}


def test_an_update_that_loses_a_lead_without_a_reason_gives_it_other(
    rep_client, acme_deal, imported
):
    raw = csv_bytes([["Title", "Client", "Stage"], ["Acme deal", "Acme", "Lost"]])
    lead_import = imported(rep_client, raw, duplicates="update")
    assert lead_import.summary == "Imported 0 leads. Updated 1 lead.", lead_import.error_report
    acme_deal.refresh_from_db()
    assert (acme_deal.lost_reason.slug, acme_deal.lost_note) == (
        "other",
        "Imported without a reason",
    )
    undo(rep_client, lead_import)
    acme_deal.refresh_from_db()
    assert (acme_deal.stage, acme_deal.lost_reason, acme_deal.lost_note) == (
        default_stage("Proposal"),
        None,
        "",
    )


def test_an_update_of_a_lost_lead_keeps_its_reason_when_the_row_names_none(
    rep_client, rep, imported
):
    lead = LeadFactory(
        title="Gone", stage=default_stage("Lost"), lost_note="Too dear", created_by=rep
    )
    raw = csv_bytes(
        [["Title", "Stage", "Loss reason", "Competitor"], ["Gone", "Lost", "", "Globex"]]
    )
    lead_import = uploaded(rep_client, raw)
    assert preview(rep_client, lead_import, duplicates="update").context["preview"]["notices"] == []
    lead_import = imported(rep_client, raw, duplicates="update")
    assert lead_import.summary == "Imported 0 leads. Updated 1 lead.", lead_import.error_report
    lead.refresh_from_db()
    assert lead.lost_reason == loss_reason("price-too-high")
    assert (lead.lost_note, lead.competitor) == ("Too dear", "Globex")


def test_an_update_with_an_empty_stage_is_checked_in_the_leads_own_stage(rep_client, rep, imported):
    lead = LeadFactory(title="Gone", stage=default_stage("Lost"), created_by=rep)
    raw = csv_bytes([["Title", "Stage", "Loss reason"], ["Gone", "", "Other"]])
    lead_import = imported(rep_client, raw, duplicates="update")
    assert lead_import.summary == "Imported 0 leads. 1 row skipped (missing loss note)."
    assert lead_import.error_report.splitlines()[1:] == [f"2,{NOTE_WANTED}"]
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.version) == (loss_reason("price-too-high"), 1)


def test_an_update_of_other_fields_gives_a_lost_lead_without_a_reason_none(
    rep_client, rep, imported
):
    # Leads lost before loss reasons existed have none; an import of their values is
    # no reason to invent one.
    lead = LeadFactory(title="Old loss", stage=default_stage("Lost"), lost_reason=None)
    lead.created_by = rep
    lead.save()
    raw = csv_bytes([["Title", "Value"], ["Old loss", "10"]])
    lead_import = imported(rep_client, raw, duplicates="update")
    assert lead_import.summary == "Imported 0 leads. Updated 1 lead.", lead_import.error_report
    lead.refresh_from_db()
    assert (lead.value, lead.lost_reason, lead.lost_note) == (Decimal(10), None, "")
