"""The export's header row: field names by default, headings in the reader's language on
request (``?headers=local``), and a Dutch export imports as the English one does."""

import csv
import io

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from leads import export
from leads.export import COLUMNS, LOCAL_HEADINGS, header_row
from leads.imports import auto_mapping
from leads.models import Lead
from tests.factories import LeadFactory
from tests.leads.test_import import (  # noqa: F401 - fixtures used by name
    imported,
    make_leads_for_round_trip,
    snapshot_leads,
    start,
    uploaded,
)

pytestmark = pytest.mark.django_db


DUTCH = {"Accept-Language": "nl"}

DUTCH_HEADER = [
    "ID",
    "Titel",
    "Beschrijving",
    "Waarde",
    "Valuta",
    "Kans",
    "Verwachte sluitdatum",
    "Bron",
    "Prioriteit",
    "Fase",
    "Pijplijn",
    "Status",
    "Score",
    "Eigenaar",
    "Klant",
    "Contactpersoon",
    "Categorie",
    "Werkelijke sluitdatum",
    "Gewonnen waarde",
    "Verliesreden",
    "Concurrent",
    "Verliesnotitie",
    "Aangemaakt op",
    "Bijgewerkt op",
]


def exported(client, params=None, headers=None) -> bytes:
    response = client.get(reverse("leads:export"), params or {}, headers=headers or {})
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def rows_of(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_every_column_has_a_heading_in_the_readers_language():
    assert set(LOCAL_HEADINGS) == set(COLUMNS)


def test_the_default_header_names_the_fields_even_for_a_dutch_reader(rep_client):
    LeadFactory(title="Koffie")

    header, row = rows_of(exported(rep_client, headers=DUTCH))

    assert header == list(COLUMNS)
    assert row[1] == "Koffie"


def test_headers_local_gives_dutch_headings_to_a_dutch_reader(rep_client):
    LeadFactory(title="Koffie")

    local = rows_of(exported(rep_client, {"headers": "local"}, headers=DUTCH))
    plain = rows_of(exported(rep_client))

    assert local[0] == DUTCH_HEADER
    assert local[1:] == plain[1:]


def test_headers_local_gives_english_headings_to_an_english_reader(rep_client):
    header, *_ = rows_of(exported(rep_client, {"headers": "local", "status": "all"}))

    assert header[:3] == ["ID", "Title", "Description"]
    assert "Expected close date" in header


def test_another_headers_value_keeps_the_field_names(rep_client):
    header, *_ = rows_of(exported(rep_client, {"headers": "fr"}, headers=DUTCH))

    assert header == list(COLUMNS)


def test_the_lists_export_url_leaves_the_header_choice_to_the_menu(rf):
    params = rf.get("/leads/", {"q": "koffie", "headers": "local", "page": "2"}).GET

    assert export.export_url(params) == "/leads/export.csv?q=koffie"


def test_every_dutch_heading_is_read_by_the_importer_as_its_field():
    with translation.override("nl"):
        dutch = header_row(local=True)

    assert dutch == DUTCH_HEADER
    # Read under either language: the file's header decides, not who uploads it.
    for language in ("en", "nl"):
        with translation.override(language):
            assert auto_mapping(dutch) == auto_mapping(list(COLUMNS))


def test_every_english_heading_is_read_by_the_importer_as_its_field():
    with translation.override("en"):
        english = header_row(local=True)

        assert auto_mapping(english) == auto_mapping(list(COLUMNS))


def test_round_trip_a_dutch_export_imports_every_column(rep_client, rep, imported):  # noqa: F811
    make_leads_for_round_trip(rep)
    before = snapshot_leads()
    data = exported(rep_client, {"status": "all", "headers": "local"}, headers=DUTCH)
    assert rows_of(data)[0] == DUTCH_HEADER
    english = uploaded(rep_client, exported(rep_client, {"status": "all"}))
    Lead.objects.all().delete()
    lead_import = imported(rep_client, data, name="export-nl.csv")

    assert lead_import.mapping == english.mapping
    assert lead_import.error_report == "", lead_import.error_report
    assert lead_import.failure == ""
    assert snapshot_leads() == before


def test_the_export_menu_offers_both_header_choices():
    html = render_to_string("leads/includes/export_menu.html", {"export_url": "/x.csv?q=a"})

    assert '<a class="btn btn-sm" href="/x.csv?q=a" download>Export CSV</a>' in html
    assert 'href="/x.csv?q=a&amp;headers=local"' in html
    assert "Field names, for scripts" in html
    with translation.override("nl"):
        dutch = render_to_string("leads/includes/export_menu.html", {"export_url": "/x.csv"})
    assert 'href="/x.csv?headers=local"' in dutch
    assert "In mijn taal" in dutch


on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY … TO STDOUT is PostgreSQL's"
)


@on_postgresql
def test_copy_writes_the_dutch_header_and_the_same_rows_as_python(rep_client, monkeypatch):
    LeadFactory(title="=Koffie", description="Twee\nregels")
    params = {"status": "all", "headers": "local"}

    copied = exported(rep_client, params, headers=DUTCH)
    monkeypatch.setattr(export, "copied_rows", export.written_rows)
    written = exported(rep_client, params, headers=DUTCH)

    assert copied == written
    assert rows_of(copied)[0] == DUTCH_HEADER
    assert rows_of(copied)[1][1] == "'=Koffie"
