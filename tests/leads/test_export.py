"""CSV export (/leads/export.csv): the list's filtered and sorted set, every page, streamed."""

import csv
import datetime
import html
import io
import re
import zoneinfo
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads import export
from leads.export import COLUMNS, export_rows, neutralise
from leads.models import Lead, Priority
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    LeadSourceFactory,
    LossReasonFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

HEADER = [
    "id",
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
    "status",
    "score",
    "assignee",
    "client",
    "contact",
    "category",
    "actual_close_date",
    "won_value",
    "lost_reason",
    "competitor",
    "lost_note",
    "created_at",
    "updated_at",
]
ROW_ID = re.compile(r'<tr class="row-link" data-href="/leads/(\d+)/">')
EXPORT_LINK = re.compile(r'<a class="btn btn-sm" href="(?P<href>[^"]*)" download>Export CSV</a>')


def export_url() -> str:
    return reverse("leads:export")


def content(response) -> bytes:
    return b"".join(response.streaming_content)


def read_csv(response) -> list[dict[str, str]]:
    """The exported rows as dicts by heading (the BOM is checked and dropped)."""
    data = content(response)
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def exported_ids(response) -> list[int]:
    return [int(row["id"]) for row in read_csv(response)]


def listed_ids(client, params: dict) -> list[int]:
    """Ids the list shows for these parameters, page after page."""
    ids, page = [], 1
    while True:
        response = client.get(reverse("leads:list"), {**params, "page": page})
        ids += [int(pk) for pk in ROW_ID.findall(response.text)]
        if 'rel="next"' not in response.text:
            return ids
        page += 1


# --- the file --------------------------------------------------------------------------


def test_header_row_names_the_columns_in_order(rep_client):
    data = content(rep_client.get(export_url())).decode("utf-8-sig")

    assert next(csv.reader(io.StringIO(data))) == HEADER
    assert list(COLUMNS) == HEADER


def test_file_starts_with_a_utf8_byte_order_mark_for_excel(rep_client):
    LeadFactory()

    assert content(rep_client.get(export_url())).startswith("\ufeffid,title,".encode())


def test_response_is_streamed_csv_with_a_dated_file_name(rep_client):
    # 23:30 UTC is already the next day in Amsterdam: the name uses the local date.
    with time_machine.travel(datetime.datetime(2026, 3, 1, 23, 30, tzinfo=datetime.UTC)):
        response = rep_client.get(export_url())

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == ('attachment; filename="leads-export-2026-03-02.csv"')


def test_row_holds_every_field_in_plain_machine_readable_form(rep_client):
    client = ClientFactory(name="Acme B.V.")
    lead = LeadFactory(
        title="Website redesign",
        description="Two pages\nand a form",
        value=Decimal("25000"),
        probability=40,
        expected_close_date=datetime.date(2026, 4, 30),
        source=LeadSourceFactory(slug="referral"),
        priority=Priority.HIGH,
        stage=default_stage("Qualified"),
        assignee=UserFactory(username="carol"),
        client=client,
        contact=ContactFactory(client=client, name="Jan de Vries"),
        category="Web",
        created_at=datetime.datetime(
            2025, 7, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam")
        ),
        updated_at=datetime.datetime(2026, 1, 31, 14, 5, 9, 123456, tzinfo=datetime.UTC),
    )

    [row] = read_csv(rep_client.get(export_url()))

    assert row == {
        "id": str(lead.pk),
        "title": "Website redesign",
        "description": "Two pages\nand a form",
        "value": "25000.00",
        "currency": "EUR",
        "probability": "40",
        "expected_close_date": "2026-04-30",
        "source": "referral",
        "priority": "high",
        "stage": "Qualified",
        "pipeline": "Sales",
        "status": "open",
        "score": "85",
        "assignee": "carol",
        "client": "Acme B.V.",
        "contact": "Jan de Vries",
        "category": "Web",
        "actual_close_date": "",
        "won_value": "",
        "lost_reason": "",
        "competitor": "",
        "lost_note": "",
        "created_at": "2025-07-01T10:00:00Z",
        "updated_at": "2026-01-31T14:05:09Z",
    }


def test_unknown_and_missing_values_are_empty_cells(rep_client):
    LeadFactory(value=None, probability=None, expected_close_date=None, source=None, assignee=None)

    [row] = read_csv(rep_client.get(export_url()))

    for column in ("value", "probability", "expected_close_date", "source"):
        assert row[column] == "", column
    assert (row["assignee"], row["client"], row["contact"], row["category"]) == ("", "", "", "")
    assert row["currency"] == "EUR"


def test_non_ascii_text_round_trips_in_utf8(rep_client):
    LeadFactory(
        title="Café crème €5 – Straße",
        client=ClientFactory(name="Société Générale"),
        category="Çà et là",
    )

    [row] = read_csv(rep_client.get(export_url()))

    assert row["title"] == "Café crème €5 – Straße"
    assert row["client"] == "Société Générale"
    assert row["category"] == "Çà et là"


# --- the same set as the list ----------------------------------------------------------


@pytest.fixture
def sixty_leads(db):
    """Leads with repeated values, priorities and clients, so that ties need the tie-break."""
    clients = [ClientFactory(name=name) for name in ("Acme", "Bolt", "Zeta")]
    for number in range(60):
        LeadFactory(
            title=f"Lead {number:02}" if number % 3 else f"Renewal {number:02}",
            value=None if number % 7 == 0 else Decimal(1000 * (number % 5)),
            priority=list(Priority)[number % 4],
            client=clients[number % 4] if number % 4 < 3 else None,
            stage=default_stage(
                ["New", "Contacted", "Won", "Lost"][number % 4 if number % 5 else 0]
            ),
        )


@pytest.mark.usefixtures("sixty_leads")
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "all", "sort": "-value"},
        {"status": "all", "sort": "value", "q": "lead"},
        {"status": "all", "sort": "-priority", "priority": ["high", "normal", "urgent"]},
        {"sort": "client", "value_min": "1000"},
        {"status": "all", "sort": "-stage", "per_page": "50"},
        {"status": "won"},
    ],
)
def test_export_holds_the_lists_rows_in_its_order_across_all_pages(rep_client, params):
    expected = listed_ids(rep_client, params)

    assert exported_ids(rep_client.get(export_url(), params)) == expected
    assert expected  # every case selects something


def test_export_ignores_the_page(rep_client, sixty_leads):
    everything = exported_ids(rep_client.get(export_url(), {"status": "all"}))

    assert exported_ids(rep_client.get(export_url(), {"status": "all", "page": "3"})) == everything
    assert len(everything) == 60


def test_export_defaults_to_open_leads_like_the_list(rep_client):
    LeadFactory(title="Open", stage=default_stage("New"))
    LeadFactory(title="Won", stage=default_stage("Won"))
    LeadFactory(title="Lost", stage=default_stage("Lost"))

    rows = read_csv(rep_client.get(export_url()))

    assert [(row["title"], row["status"]) for row in rows] == [("Open", "open")]


def test_status_all_exports_won_and_lost_leads_too(rep_client):
    LeadFactory(title="Open", stage=default_stage("New"))
    LeadFactory(title="Won", stage=default_stage("Won"))
    LeadFactory(title="Lost", stage=default_stage("Lost"))

    rows = read_csv(rep_client.get(export_url(), {"status": "all", "sort": "title"}))

    assert [(row["title"], row["status"]) for row in rows] == [
        ("Lost", "lost"),
        ("Open", "open"),
        ("Won", "won"),
    ]


def test_a_won_lead_says_when_and_for_how_much_it_was_won(rep_client):
    LeadFactory(
        stage=default_stage("Won"),
        value=Decimal("25000"),
        won_value=Decimal("24500.5"),
        actual_close_date=datetime.date(2026, 3, 31),
    )

    [row] = read_csv(rep_client.get(export_url(), {"status": "won"}))

    assert (row["actual_close_date"], row["won_value"]) == ("2026-03-31", "24500.50")
    assert (row["lost_reason"], row["competitor"], row["lost_note"]) == ("", "", "")


def test_a_lost_lead_names_its_reason_as_the_import_finds_it(rep_client):
    reason = LossReasonFactory(name="Chose a cheaper tool", slug="cheaper-tool")
    LeadFactory(
        stage=default_stage("Lost"),
        lost_reason=reason,
        competitor="Globex",
        lost_note="Price, mostly",
        actual_close_date=datetime.date(2026, 2, 1),
    )

    [row] = read_csv(rep_client.get(export_url(), {"status": "lost"}))

    assert row["lost_reason"] == "Chose a cheaper tool"
    assert (row["competitor"], row["lost_note"]) == ("Globex", "Price, mostly")
    assert (row["actual_close_date"], row["won_value"]) == ("2026-02-01", "")


# --- safe to open in a spreadsheet -----------------------------------------------------


@pytest.mark.parametrize(
    ("title", "exported"),
    [
        (
            '=HYPERLINK("http://evil.example","Click")',
            '\'=HYPERLINK("http://evil.example","Click")',
        ),
        ("+31 20 123 4567", "'+31 20 123 4567"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Plain title", "Plain title"),
        ("Sum = 5", "Sum = 5"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(
    rep_client, title, exported
):
    LeadFactory(title=title)

    [row] = read_csv(rep_client.get(export_url()))

    assert row["title"] == exported


def test_every_text_column_is_neutralised(rep_client):
    client = ClientFactory(name="=client")
    LeadFactory(
        title="t",
        description="+description",
        assignee=UserFactory(username="@assignee"),
        client=client,
        contact=ContactFactory(client=client, name="-contact"),
        category="=category",
        source=LeadSourceFactory(slug="-source"),
        stage=default_stage("Lost"),
        lost_reason=LossReasonFactory(name="=reason", slug="formula-reason"),
        competitor="+competitor",
        lost_note="@note",
    )

    [row] = read_csv(rep_client.get(export_url(), {"status": "lost"}))

    assert row["description"] == "'+description"
    assert row["source"] == "'-source"
    assert row["assignee"] == "'@assignee"
    assert row["client"] == "'=client"
    assert row["contact"] == "'-contact"
    assert row["category"] == "'=category"
    assert row["lost_reason"] == "'=reason"
    assert row["competitor"] == "'+competitor"
    assert row["lost_note"] == "'@note"


@pytest.mark.parametrize("category", ["-5", "+5", "-12.50", "1234.50"])
def test_plain_numbers_stay_numbers(rep_client, category):
    LeadFactory(category=category, value=Decimal("1234.50"))

    [row] = read_csv(rep_client.get(export_url()))

    assert row["category"] == category
    assert row["value"] == "1234.50"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("", ""),
        ("-", "'-"),
        ("-5", "-5"),
        ("-5e3", "'-5e3"),
        ("--5", "'--5"),
        ("-5 ", "'-5 "),
        ("=1+2", "'=1+2"),
        ("a=1", "a=1"),
        # Only ASCII digits make a plain number, as PostgreSQL's COPY export reads them.
        ("-٣", "'-٣"),
    ],
)
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


# --- cost ------------------------------------------------------------------------------


def export_queries(client, expected_rows: int) -> list[str]:
    """The SQL of one export, consumed to the end inside the capture."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(export_url(), {"status": "all", "q": "lead", "sort": "client"})
        assert len(b"".join(response.streaming_content).splitlines()) == expected_rows + 1
    return [query["sql"] for query in queries]


def test_query_count_does_not_grow_with_the_rows(rep_client):
    client = ClientFactory()
    contact = ContactFactory(client=client)
    source = LeadSourceFactory()
    assignee = UserFactory()
    make = {"client": client, "contact": contact, "source": source, "assignee": assignee}
    LeadFactory.create_batch(10, **make)
    few = export_queries(rep_client, 10)
    LeadFactory.create_batch(190, **make)
    many = export_queries(rep_client, 200)

    # Session, user and the export itself (on PostgreSQL: its transaction, the statement
    # timeout lifted, the COPY): nothing per row.
    assert len(few) == len(many) <= 7, many


# --- access ----------------------------------------------------------------------------


def test_a_reader_in_no_group_may_export(client, reader):
    LeadFactory(title="Readable")
    client.force_login(reader)

    response = client.get(export_url())

    assert response.status_code == 200
    assert [row["title"] for row in read_csv(response)] == ["Readable"]


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(export_url())

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/leads/export.csv")


def test_only_get_is_allowed(rep_client):
    assert rep_client.post(export_url()).status_code == 405


# --- the link on the list --------------------------------------------------------------


def export_link(response) -> tuple[str, dict[str, list[str]]]:
    match = EXPORT_LINK.search(response.text)
    assert match, "no Export CSV link rendered"
    url = urlsplit(html.unescape(match["href"]))
    return url.path, parse_qs(url.query)


def test_list_links_to_the_export_of_its_filters_without_the_page(rep_client):
    LeadFactory.create_batch(30, priority=Priority.HIGH)

    response = rep_client.get(
        reverse("leads:list"),
        {"priority": ["high", "urgent"], "sort": "-value", "page": "2", "per_page": "25"},
    )

    assert export_link(response) == (
        "/leads/export.csv",
        {"priority": ["high", "urgent"], "sort": ["-value"]},
    )


def test_htmx_swapped_results_carry_an_export_link_for_the_new_filters(rep_client):
    LeadFactory(title="Renewal")

    response = rep_client.get(
        reverse("leads:list"),
        {"q": "renewal", "status": "all"},
        headers={"HX-Request": "true", "HX-Target": "lead-results"},
    )

    assert "<html" not in response.text
    assert export_link(response) == ("/leads/export.csv", {"q": ["renewal"], "status": ["all"]})


def test_unfiltered_list_links_to_the_plain_export(rep_client):
    LeadFactory()

    assert export_link(rep_client.get(reverse("leads:list"))) == ("/leads/export.csv", {})


# --- the same file from PostgreSQL's COPY ----------------------------------------------

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY … TO STDOUT is PostgreSQL's"
)

TRICKY_TEXTS = [
    '=HYPERLINK("http://evil.example","Click")',
    "+31 20 123 4567",
    "-cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\tTab first",
    "\rReturn first",
    "-5",
    "+5",
    "-12.50",
    "1234.50",
    "-5e3",
    "- 5",
    "-.5",
    "-",
    "'=already quoted",
    "-٣",  # an Arabic-Indic digit: no plain number to either path
    "Comma, inside",
    'A "quoted" word',
    "Two\nlines",
    "Windows\r\nlines",
    "Old Mac\rline",
    "\\.",
    "  padded  ",
    "😀 Café – Straße ✓ עברית e\u0301",
    "",
]


@pytest.fixture
def tricky_leads(db):
    """Leads whose every text column, number and date is one a CSV writer can get wrong."""
    amsterdam = zoneinfo.ZoneInfo("Europe/Amsterdam")
    for number, text in enumerate(TRICKY_TEXTS):
        client = ClientFactory(name=text or "Plain client")
        stage = default_stage(["New", "Won", "Lost", "Qualified"][number % 4])
        LeadFactory(
            title=text or "Untitled",
            description=text,
            category=text[:100],
            value=[None, Decimal("0"), Decimal("1234.5"), Decimal("999999999999.99")][number % 4],
            probability=[None, 0, 55, 100][number % 4],
            expected_close_date=[None, datetime.date(2, 3, 4), datetime.date(2026, 12, 31)][
                number % 3
            ],
            source=LeadSourceFactory(slug=f"-source-{number}") if number % 5 == 0 else None,
            assignee=UserFactory(username=f"@user{number}") if number % 2 else None,
            client=client if number % 6 else None,
            contact=ContactFactory(client=client, name=text or "x") if number % 3 == 1 else None,
            stage=stage,
            won_value=Decimal("24500.50") if stage.kind == "won" else None,
            actual_close_date=None if stage.is_open else datetime.date(2026, 3, 31),
            lost_reason=(
                LossReasonFactory(name=f"={number} reason", slug=f"formula-{number}")
                if stage.kind == "lost"
                else None
            ),
            competitor=text if stage.kind == "lost" else "",
            lost_note=text if stage.kind == "lost" else "",
            score=None if number % 7 == 0 else number,
            created_at=datetime.datetime(2025, 7, 1, 23, 59, 59, 999999, tzinfo=amsterdam),
            updated_at=datetime.datetime(2026, 1, 31, 14, 5, 9, 123456, tzinfo=datetime.UTC),
        )


def copied_and_written(client, monkeypatch, params) -> tuple[bytes, bytes]:
    """The view's file as PostgreSQL's COPY writes it, and as csv.writer writes it."""
    copied = content(client.get(export_url(), params))
    monkeypatch.setattr(export, "copied_rows", export.written_rows)
    written = content(client.get(export_url(), params))
    monkeypatch.undo()
    return copied, written


@on_postgresql
@pytest.mark.usefixtures("tricky_leads")
@pytest.mark.parametrize(
    ("params", "rows"),
    [
        ({"status": "all"}, len(TRICKY_TEXTS)),
        ({"status": "all", "sort": "client"}, len(TRICKY_TEXTS)),
        ({"status": "all", "sort": "-value"}, len(TRICKY_TEXTS)),
        ({"status": "all", "q": 'a "quoted" WORD'}, 1),
        ({"status": "all", "q": "100%_'"}, 0),  # quotes, % and _ reach COPY as values
        ({"status": "lost", "sort": "-expected_close_date"}, 6),
        ({"status": "won", "assignee": "none"}, 0),
        ({}, 13),
    ],
)
def test_copy_writes_the_same_file_as_python_byte_for_byte(rep_client, monkeypatch, params, rows):
    copied, written = copied_and_written(rep_client, monkeypatch, params)

    assert copied == written
    assert len(list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline="")))) == rows + 1


@on_postgresql
def test_copy_export_reads_back_as_the_leads_are(rep_client, tricky_leads):
    rows = sorted(
        read_csv(rep_client.get(export_url(), {"status": "all"})), key=lambda r: int(r["id"])
    )

    assert [row["description"] for row in rows] == [neutralise(text) for text in TRICKY_TEXTS]
    assert rows[1]["expected_close_date"] == "0002-03-04"
    assert rows[3]["value"] == "999999999999.99"
    assert rows[1]["won_value"] == "24500.50"
    assert rows[0]["created_at"] == "2025-07-01T21:59:59Z"


def test_a_field_the_sql_export_cannot_write_as_python_does_is_refused():
    # A boolean: PostgreSQL writes "t", csv.writer "True".
    with pytest.raises(TypeError, match="cannot write"):
        export._sql_cell("source__active")


@on_postgresql
def test_a_copied_export_is_not_cut_off_by_the_statement_timeout(db):
    LeadFactory(title="Slow to find")
    # A query that takes longer than the timeout: COPY is one statement for the whole
    # download, which may take minutes on a slow line.
    slow = Lead.objects.filter(
        RawSQL("pg_sleep(%s) IS NOT NULL", [0.3], output_field=BooleanField())
    )
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '100ms'")
    try:
        data = b"".join(export_rows(slow))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")

    assert b"Slow to find" in data


def test_rows_end_in_crlf_and_a_line_break_in_a_value_stays_in_its_quotes(rep_client):
    lead = LeadFactory(title="Two", description="line one\nline two", category="")
    lead.refresh_from_db()

    data = content(rep_client.get(export_url()))

    lines = data.split(b"\r\n")
    assert len(lines) == 3
    assert lines[2] == b""
    assert lines[1].startswith(f'{lead.pk},Two,"line one\nline two",1000.00,EUR,'.encode())


def test_a_download_stopped_halfway_leaves_the_connection_usable(db, monkeypatch):
    monkeypatch.setattr(export, "ROWS_PER_WRITE", 2)
    LeadFactory.create_batch(7)
    chunks = export_rows(Lead.objects.order_by("id"))

    next(chunks)  # the header
    assert next(chunks).count(b"\r\n") == 2
    chunks.close()

    assert Lead.objects.count() == 7
