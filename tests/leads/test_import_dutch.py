"""An import run in Dutch: its messages are Dutch, and a skipped row's reason is found in
them as in English ones."""

from unittest import mock

import pytest
from django.utils import translation

from leads.imports import skip_reason
from leads.models import LeadImport
from tests.leads.test_import import (  # noqa: F401 - fixtures used by name
    csv_bytes,
    detail_url,
    mapping_data,
    start,
    uploaded,
)

pytestmark = pytest.mark.django_db


DUTCH = {"Accept-Language": "nl"}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("Titel is verplicht", "zonder titel"),
        ("Prioriteit “ooit” is niet low, normal, high of urgent", "ongeldige prioriteit"),
        ("Waarde “veel” is geen bedrag", "ongeldige waarde"),
        ("Datum “morgen” is geen datum (gebruik 31-12-2026 of 2026-12-31)", "ongeldige datum"),
        ("Onbekende bron “beurs”", "onbekende bron"),
        ("Onbekende fase “Klaar” in pijplijn Sales", "onbekende fase"),
        (
            "Onbekende klant “Nope BV” (kies ervoor ontbrekende klanten aan te maken)",
            "onbekende klant",
        ),
        ("Dubbel van lead #12; overgeslagen", "dubbel"),
        ("Je mag deze lead niet wijzigen (#4)", "niet aan jou om te wijzigen"),
        ("Lead #4 is intussen verwijderd", "lead intussen verwijderd"),
        ("Rij 3 werkt lead #4 al bij", "lead al bijgewerkt door een eerdere rij"),
        (
            "De rij heeft 5 waarden maar de kopregel noemt 1 kolom; een waarde bevat "
            "misschien het scheidingsteken zonder aanhalingstekens",
            "te veel waarden",
        ),
        ("Valuta “USD” is geen EUR", "niet in EUR"),
        ("Categorie is langer dan 100 tekens", "categorie te lang"),
        ("Kies waarom de lead verloren is", "zonder verliesreden"),
        ("De sluitdatum kan niet in de toekomst liggen", "sluitdatum in de toekomst"),
        ("Bestaat al (#3); overgeslagen", "dubbel"),
        ("Hetzelfde als rij 2", "herhaald in het bestand"),
        ("E-mail: Voer een geldig e-mailadres in", "ongeldige e-mail"),
        ("Iets wat niemand voorzag", "andere fouten"),
        # An English message (a run before the switch) still has its reason, in Dutch.
        ("Duplicate of lead #12; skipped", "dubbel"),
    ],
)
def test_a_dutch_row_errors_reason_is_said_in_dutch(message, reason):
    with translation.override("nl"):
        assert skip_reason(message) == reason


def test_english_reasons_stay_as_they_were():
    with translation.override("en"):
        assert skip_reason("Title is required") == "missing title"
        assert skip_reason("Unknown stage “Done” in pipeline Sales") == "unknown stage"


def test_an_import_run_in_dutch_reports_in_dutch(rep_client, start):  # noqa: F811
    raw = csv_bytes(
        [
            ["Titel", "Waarde", "Bron", "Valuta"],
            ["Goed", "100", "", "EUR"],
            ["", "200", "", ""],
            ["Duur", "veel", "", ""],
            ["Beurs", "300", "beurs", ""],
            ["Dollars", "400", "", "USD"],
        ]
    )
    lead_import = uploaded(rep_client, raw)
    with translation.override("nl"):
        response = rep_client.post(
            detail_url(lead_import), mapping_data(lead_import, "preview"), headers=DUTCH
        )
    assert "Onbekende bron “beurs”" in response.text
    assert "Valuta “USD” is geen EUR" in response.text

    start_in_dutch(rep_client, lead_import, start)

    assert lead_import.status == LeadImport.Status.DONE
    assert lead_import.created_count == 1
    assert lead_import.error_report.startswith("rij,melding")
    assert "Onbekende bron “beurs”" in lead_import.error_report
    reasons = lead_import.skip_reasons
    assert sum(reasons.values()) == 4
    assert "andere fouten" not in reasons
    assert {"onbekende bron", "niet in EUR"} <= set(reasons)


def test_a_worker_runs_the_import_in_the_language_it_was_started_in(
    rep_client, django_capture_on_commit_callbacks
):
    """With the database backend a worker runs the import, outside any request: it is told
    the language of the request that started it, and reports in that one."""
    from leads import tasks

    lead_import = uploaded(rep_client, csv_bytes([["Titel", "Bron"], ["Goed", "beurs"]]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rep_client.post(detail_url(lead_import), mapping_data(lead_import, "run"), headers=DUTCH)
    translation.activate("en")  # the worker's own thread
    run = tasks.run_lead_import
    with mock.patch.object(tasks, "run_lead_import") as task:
        for callback in callbacks:
            callback()
    (import_id, language), _ = task.enqueue.call_args
    assert (import_id, language) == (lead_import.pk, "nl")
    run.call(import_id, language)
    lead_import.refresh_from_db()
    assert "Onbekende bron “beurs”" in lead_import.error_report
    assert translation.get_language() == "en"


def start_in_dutch(client, lead_import, start):  # noqa: F811
    """Run the import from a Dutch request: the task runs in it (the immediate backend)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "nl"
    try:
        start(client, lead_import)
    finally:
        del client.defaults["HTTP_ACCEPT_LANGUAGE"]
