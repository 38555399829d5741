"""CSV import, the plain functions: reading the file, mapping headers, converting rows."""

import datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.import_columns import ALIASES
from leads.imports import (
    ImportFileError,
    Lookups,
    auto_mapping,
    convert_row,
    foreign_currency,
    parse_date,
    read_csv_upload,
)
from leads.models import Priority
from tests.factories import (
    ClientFactory,
    ContactFactory,
    PipelineFactory,
    PipelineStageFactory,
    RepFactory,
    default_stage,
)

# --- read_csv_upload ---------------------------------------------------------------------------


def test_comma_separated_utf8_without_bom():
    csv_file = read_csv_upload(b"Title,Value,Stage\r\nAcme deal,100,New\r\n")
    assert csv_file.delimiter == ","
    assert csv_file.encoding == "utf-8"
    assert csv_file.headers == ["Title", "Value", "Stage"]
    assert csv_file.notice == ""


def test_semicolon_separated_is_detected():
    csv_file = read_csv_upload(b"Titel;Waarde;Fase\nDeal;1.234,56;Nieuw\n")
    assert csv_file.delimiter == ";"
    assert csv_file.headers == ["Titel", "Waarde", "Fase"]


def test_semicolon_wins_when_values_hold_commas():
    # The header has no commas, the amounts do: the header decides, and it says ";".
    csv_file = read_csv_upload(b"Title;Value\nA;1,5\n")
    assert csv_file.delimiter == ";"


def test_tab_separated_is_detected():
    assert read_csv_upload(b"Title\tValue\nA\t1\n").delimiter == "\t"


def test_utf8_bom_is_dropped_from_the_first_header():
    csv_file = read_csv_upload("\ufeffTitle,Klant\nCafé deal,Noël BV\n".encode())
    assert csv_file.encoding == "utf-8"
    assert csv_file.headers == ["Title", "Klant"]
    assert csv_file.headers[0] == "Title"  # not "\ufeffTitle"
    assert csv_file.notice == ""
    assert "Café deal" in csv_file.text


def test_windows_1252_falls_back_with_a_notice():
    raw = "Titel;Klant\nCafé deal;Noël € BV\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    csv_file = read_csv_upload(raw)
    assert csv_file.encoding == "cp1252"
    assert "Windows-1252" in csv_file.notice
    assert "Noël € BV" in csv_file.text


def test_headers_are_stripped():
    assert read_csv_upload(b" Title , Value \nA,1\n").headers == ["Title", "Value"]


def test_blank_lines_before_the_header_are_skipped():
    assert read_csv_upload(b"\r\n\r\nTitle,Value\nA,1\n").headers == ["Title", "Value"]


@pytest.mark.parametrize("raw", [b"", b"   \r\n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_empty_file(raw):
    with pytest.raises(ImportFileError, match="The file is empty"):
        read_csv_upload(raw)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_utf16_with_bom_is_refused_by_name(codec):
    raw = "Title,Value\nA,1\n".encode(codec)
    if codec == "utf-16-be":
        raw = b"\xfe\xff" + raw
    with pytest.raises(ImportFileError, match="UTF-16"):
        read_csv_upload(raw)


def test_utf16_without_bom_is_refused():
    with pytest.raises(ImportFileError, match="binary data"):
        read_csv_upload("Title,Value\nA,1\n".encode("utf-16-le"))


def test_bytes_that_are_neither_utf8_nor_windows_1252():
    # 0x81 and 0x8D are undefined in Windows-1252.
    with pytest.raises(ImportFileError, match="encoding is not one we know"):
        read_csv_upload(b"Title,Value\n\x81\x8d,1\n")


def test_binary_file_is_refused():
    with pytest.raises(ImportFileError, match="binary data"):
        read_csv_upload(bytes(range(256)) * 4)


def test_png_is_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    with pytest.raises(ImportFileError, match="not a CSV file"):
        read_csv_upload(png + b"\x00" * 64)


def test_control_characters_without_nul_are_refused():
    with pytest.raises(ImportFileError, match="does not look like a CSV file"):
        read_csv_upload(b"Title,Value\n" + b"\x01\x02\x03\x04" * 50)


def test_pipe_separated_file_has_no_columns():
    with pytest.raises(ImportFileError, match="Could not find columns in the first row"):
        read_csv_upload(b"Title|Value|Stage\nA|1|New\n")


def test_no_header_row():
    with pytest.raises(ImportFileError, match="no header row"):
        read_csv_upload(b"Acme deal,25000,New\nOther deal,100,Won\n")


def test_a_single_known_column_is_enough():
    assert read_csv_upload(b"Title\nA\nB\n").headers == ["Title"]


def test_absurdly_long_line_is_refused():
    raw = b"Title,Description\nA," + b"x" * 200_000 + b"\n"
    with pytest.raises(ImportFileError, match="Line 2 is longer than 100,000 characters"):
        read_csv_upload(raw)


def test_file_larger_than_the_limit_is_refused():
    raw = b"Title,Value\n" + b"A,1\n" * 100
    with (
        mock.patch("leads.imports.MAX_FILE_BYTES", 100),
        pytest.raises(ImportFileError, match="larger than 50 MB"),
    ):
        read_csv_upload(raw)
    assert read_csv_upload(raw).headers == ["Title", "Value"]  # under the real limit


# --- auto_mapping ------------------------------------------------------------------------------


def test_dutch_headers_in_any_case():
    headers = [
        "TITEL",
        "Waarde",
        "Fase",
        "Klant",
        "Sluitdatum",
        "Prioriteit",
        "Bron",
        "Eigenaar",
        "Contactpersoon",
        "Categorie",
        "Kans",
        "omschrijving",
    ]
    assert auto_mapping(headers) == {
        "0": "title",
        "1": "value",
        "2": "stage",
        "3": "client",
        "4": "expected_close_date",
        "5": "priority",
        "6": "source",
        "7": "assignee",
        "8": "contact",
        "9": "category",
        "10": "probability",
        "11": "description",
    }


def test_english_headers_and_spelling_variants():
    headers = [
        "title",
        "VALUE",
        "Stage",
        "Client",
        "expected_close_date",
        "Priority",
        "Lead source",
        "Owner",
        "Contact",
        "Category",
        "Probability (%)",
        "Description",
        "Pipeline",
        "Currency",
    ]
    assert auto_mapping(headers) == {
        "0": "title",
        "1": "value",
        "2": "stage",
        "3": "client",
        "4": "expected_close_date",
        "5": "priority",
        "6": "source",
        "7": "assignee",
        "8": "contact",
        "9": "category",
        "10": "probability",
        "11": "description",
        "12": "pipeline",
        "13": "currency",
    }


def test_every_name_in_the_alias_table_is_recognised():
    for key, by_product in ALIASES.items():
        for names in by_product.values():
            for name in (key, *names):
                assert auto_mapping([name.upper()]) == {"0": key}, name


def test_unknown_columns_are_left_out():
    assert auto_mapping(["Id", "Titel", "Interne notitie", "", "Waarde"]) == {
        "1": "title",
        "4": "value",
    }


def test_each_field_is_mapped_once_the_first_column_wins():
    assert auto_mapping(["Title", "Titel", "Company", "Klant"]) == {"0": "title", "2": "client"}


# --- parse_date --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-31", datetime.date(2026, 12, 31)),
        ("2026-1-5", datetime.date(2026, 1, 5)),
        ("31-12-2026", datetime.date(2026, 12, 31)),
        ("31/12/2026", datetime.date(2026, 12, 31)),
        ("31.12.2026", datetime.date(2026, 12, 31)),
        ("1-2-2026", datetime.date(2026, 2, 1)),  # day first: 1 February
        ("05/03/2026", datetime.date(2026, 3, 5)),
        ("31-12-26", datetime.date(2026, 12, 31)),
        ("29-02-2028", datetime.date(2028, 2, 29)),
        # With a time, as other CRMs export them.
        ("2027-02-15 00:00", datetime.date(2027, 2, 15)),  # HubSpot
        ("2027-02-15 10:30:00", datetime.date(2027, 2, 15)),  # Odoo, Pipedrive
        ("15/02/2027 09:15", datetime.date(2027, 2, 15)),
        ("2027-02-15T10:30:00Z", datetime.date(2027, 2, 15)),
        ("2027-02-15T10:30:00.000Z", datetime.date(2027, 2, 15)),  # Twenty
        # A zone gives the day it is here (Europe/Amsterdam): 23:30 in New York is
        # the next morning, 00:30 in Tokyo still the evening before.
        ("2027-02-15T23:30:00-05:00", datetime.date(2027, 2, 16)),
        ("2027-02-15T00:30:00+09:00", datetime.date(2027, 2, 14)),
        ("2027-02-15T00:30:00+0900", datetime.date(2027, 2, 14)),
    ],
)
def test_dates_people_write(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "12/31/2026",
        "31-02-2026",
        "2026-13-01",
        "29-02-2027",
        "2026/12/31x",
        "31",
        "2027-02-15 25:00",
        "2027-02-15T10:61",
        "10:30",
        "2027-02-15 soon",
    ],
)
def test_not_dates(text):
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("$1,200.00", "$"),
        ("1.200,00 USD", "USD"),
        ("GBP 12", "GBP"),
        ("£500", "£"),
        ("€ 1.200", None),
        ("EUR 5", None),
        ("12 eur", None),
        ("25.000,50", None),
        ("abc", None),  # not an amount at all: said so by the reader
    ],
)
def test_the_currency_an_amount_is_written_in(text, currency):
    assert foreign_currency(text) == currency


# --- convert_row -------------------------------------------------------------------------------

MAPPING = {
    "0": "title",
    "1": "value",
    "2": "probability",
    "3": "expected_close_date",
    "4": "source",
    "5": "priority",
    "6": "stage",
    "7": "assignee",
    "8": "client",
    "9": "contact",
    "10": "category",
    "11": "description",
}


def cells(**values) -> list[str]:
    """A row in MAPPING's column order; columns not given are empty."""
    by_key = {key: index for index, key in MAPPING.items()}
    row = [""] * len(MAPPING)
    for key, value in values.items():
        row[int(by_key[key])] = value
    return row


def convert(number=2, **values):
    return convert_row(number, cells(**values), MAPPING, Lookups())


@pytest.mark.django_db
def test_a_full_row_converts_every_field():
    rep = RepFactory(username="carla", email="carla@example.com")
    acme = ClientFactory(name="Acme BV")
    ann = ContactFactory(client=acme, name="Ann Jansen", email="ann@acme.example")
    row = convert(
        title="  Big deal  ",
        value="€ 1.234,56",
        probability="35%",
        expected_close_date="31-12-2026",
        source="referral",
        priority="Hoog",
        stage="qualified",
        assignee="CARLA",
        client="acme bv",
        contact="Ann Jansen",
        category="Hardware",
        description="Two lines,\nwith a comma",
    )
    assert row.is_valid, row.errors
    values = row.values
    assert values["title"] == "Big deal"
    assert values["value"] == Decimal("1234.56")
    assert values["probability"] == 35
    assert values["expected_close_date"] == datetime.date(2026, 12, 31)
    assert values["source"].slug == "referral"
    assert values["priority"] == Priority.HIGH
    assert values["stage"] == default_stage("Qualified")
    assert values["assignee"] == rep
    assert values["client_id"] == acme.pk
    assert values["contact_id"] == ann.pk
    assert values["category"] == "Hardware"
    assert values["description"] == "Two lines,\nwith a comma"
    assert row.client_name == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1.234,56", Decimal("1234.56")),
        ("1,234.56", Decimal("1234.56")),
        ("25.000", Decimal("25000")),
        ("25000", Decimal("25000")),
        ("25,5", Decimal("25.5")),
        ("€ 25.000,00", Decimal("25000")),
        ("1.234.567", Decimal("1234567")),
        ("EUR 99", Decimal("99")),
        ("0", Decimal("0")),
    ],
)
def test_european_and_english_amounts(text, amount):
    row = convert(title="A", value=text)
    assert row.is_valid, row.errors
    assert row.values["value"] == amount


@pytest.mark.django_db
def test_defaults_when_columns_are_empty():
    row = convert(title="Only a title")
    assert row.is_valid, row.errors
    values = row.values
    assert values["stage"] == default_stage("New")  # the default pipeline's first open stage
    assert values["priority"] == Priority.NORMAL
    assert values["value"] is None
    assert values["probability"] is None
    assert values["expected_close_date"] is None
    assert values["source"] is None
    assert values["assignee"] is None
    assert values["client_id"] is None
    assert values["contact_id"] is None


@pytest.mark.django_db
def test_row_with_fewer_cells_than_the_mapping():
    row = convert_row(5, ["Short row"], MAPPING, Lookups())
    assert row.is_valid, row.errors
    assert row.values["title"] == "Short row"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"title": ""}, "Title is required"),
        ({"title": "   "}, "Title is required"),
        ({"title": "x" * 256}, "Title is longer than 255 characters"),
        ({"value": "-5"}, "Value must be non-negative"),
        ({"value": "-1.234,56"}, "Value must be non-negative"),
        ({"value": "lots"}, "Value “lots” is not an amount"),
        ({"value": "1,234"}, None),  # 1234: a thousands separator, valid
        ({"value": "1.2345,6"}, None),  # 12345.6, valid
        ({"value": "0,0015"}, "Value “0,0015” has too many digits"),
        ({"value": "1000000000000"}, "has too many digits"),
        ({"probability": "150"}, "Probability must be between 0 and 100"),
        ({"probability": "-1"}, "Probability must be between 0 and 100"),
        ({"probability": "half"}, "Probability “half” is not a number"),
        # Numbers Python's Decimal reads but no amount is: refused, never a crash.
        ({"value": "NaN"}, "Value “NaN” is not an amount"),
        ({"value": "sNaN"}, "Value “sNaN” is not an amount"),
        ({"value": "Infinity"}, "Value “Infinity” is not an amount"),
        ({"value": "-Infinity"}, "Value “-Infinity” is not an amount"),
        ({"value": "1e309"}, "Value “1e309” has too many digits"),
        ({"value": "1e-999999"}, "Value “1e-999999” has too many digits"),
        ({"value": "1e15"}, "Value “1e15” has too many digits"),
        ({"probability": "NaN"}, "Probability “NaN” is not a number"),
        ({"probability": "Infinity"}, "Probability “Infinity” is not a number"),
        ({"probability": "1e309"}, "Probability must be between 0 and 100"),
        ({"probability": "1e-999999"}, None),  # a number: zero, to the hundredth
        ({"expected_close_date": "12/31/2026"}, "Date “12/31/2026” is not a date"),
        ({"priority": "asap"}, "Priority “asap” is not low, normal, high or urgent"),
        ({"source": "carrier pigeon"}, "Unknown source “carrier pigeon”"),
        ({"stage": "Dreaming"}, "Unknown stage “Dreaming” in pipeline Sales"),
        ({"contact": "Someone"}, "Contact “Someone” needs a client"),
        ({"category": "c" * 101}, "Category is longer than 100 characters"),
        ({"description": "d" * 5001}, "Description is longer than 5000 characters"),
    ],
)
def test_row_errors(values, message):
    values.setdefault("title", "A deal")
    row = convert(**values)
    if message is None:
        assert row.is_valid, row.errors
    else:
        assert not row.is_valid
        assert any(message in error for error in row.errors), row.errors


@pytest.mark.django_db
def test_all_problems_of_a_row_are_reported_together():
    row = convert(title="", value="-1", probability="200", priority="asap")
    assert row.errors == [
        "Title is required",
        "Value must be non-negative",
        "Probability must be between 0 and 100",
        "Priority “asap” is not low, normal, high or urgent",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("low", Priority.LOW),
        ("Laag", Priority.LOW),
        ("NORMAAL", Priority.NORMAL),
        ("medium", Priority.NORMAL),
        ("high", Priority.HIGH),
        ("Urgent", Priority.URGENT),
        ("dringend", Priority.URGENT),
    ],
)
def test_priorities_in_english_and_dutch(text, priority):
    assert convert(title="A", priority=text).values["priority"] == priority


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["social_media", "Social media", "SOCIAL MEDIA", "Social_Media"])
def test_source_by_slug_or_label(text):
    row = convert(title="A", source=text)
    assert row.is_valid, row.errors
    assert row.values["source"].slug == "social_media"


@pytest.mark.django_db
def test_assignee_by_username_or_email():
    rep = RepFactory(username="dirk", email="Dirk.Vos@Example.com")
    assert convert(title="A", assignee="dirk").values["assignee"] == rep
    assert convert(title="A", assignee="dirk.vos@example.com").values["assignee"] == rep
    assert convert(title="A", assignee="DIRK.VOS@EXAMPLE.COM").values["assignee"] == rep


@pytest.mark.django_db
def test_inactive_users_are_not_assignees_and_their_rows_import_unassigned():
    RepFactory(username="gone", is_active=False)
    row = convert(title="A", assignee="gone")
    assert (row.errors, row.values["assignee"]) == ([], None)
    assert row.notices == ["Owner “gone” is not a user here: imported unassigned"]


@pytest.mark.django_db
def test_stage_within_another_pipeline():
    renewals = PipelineFactory(name="Renewals")
    PipelineStageFactory(pipeline=renewals, name="Due", order=0)
    signed = PipelineStageFactory(pipeline=renewals, name="Signed", order=1)
    mapping = {"0": "title", "1": "pipeline", "2": "stage"}
    row = convert_row(2, ["A", "renewals", "SIGNED"], mapping, Lookups())
    assert row.is_valid, row.errors
    assert row.values["stage"] == signed
    # A stage name that exists only in another pipeline is an error.
    row = convert_row(2, ["A", "Renewals", "Qualified"], mapping, Lookups())
    assert row.errors == ["Unknown stage “Qualified” in pipeline Renewals"]
    # Without a stage, the pipeline's own first open stage.
    row = convert_row(2, ["A", "Renewals", ""], mapping, Lookups())
    assert row.values["stage"].name == "Due"


@pytest.mark.django_db
def test_unknown_pipeline():
    row = convert_row(2, ["A", "Nope"], {"0": "title", "1": "pipeline"}, Lookups())
    assert row.errors == ["Unknown pipeline “Nope”"]


@pytest.mark.django_db
def test_unknown_client_is_remembered_for_creating():
    row = convert(title="A", client="  Brand New BV ")
    assert row.is_valid  # check_rows decides whether a missing client is an error
    assert row.values["client_id"] is None
    assert row.client_name == "Brand New BV"


@pytest.mark.django_db
def test_soft_deleted_clients_are_not_matched():
    gone = ClientFactory(name="Gone BV")
    gone.soft_delete()
    row = convert(title="A", client="Gone BV")
    assert row.values["client_id"] is None
    assert row.client_name == "Gone BV"


@pytest.mark.django_db
def test_contact_by_email_or_name_within_the_client():
    acme = ClientFactory(name="Acme")
    other = ClientFactory(name="Other")
    ann = ContactFactory(client=acme, name="Ann Jansen", email="ann@acme.example")
    ContactFactory(client=other, name="Bob Smit", email="bob@other.example")
    assert convert(title="A", client="Acme", contact="ann jansen").values["contact_id"] == ann.pk
    assert (
        convert(title="A", client="Acme", contact="ANN@acme.example").values["contact_id"] == ann.pk
    )
    row = convert(title="A", client="Acme", contact="Bob Smit")
    # Not Acme's: a contact to create, if the import is told to (check_rows says so).
    assert (row.errors, row.values["contact_id"], row.contact_name) == ([], None, "Bob Smit")
    row = convert(title="A", client="Acme", contact="bob@other.example")
    assert (row.values["contact_id"], row.contact_name) == (None, "bob@other.example")


@pytest.mark.django_db
def test_contacts_are_read_only_once_a_row_names_one():
    acme = ClientFactory(name="Acme")
    ann = ContactFactory(client=acme, name="Ann Jansen")

    with CaptureQueriesContext(connection) as queries:
        lookups = Lookups()
        without = convert_row(2, cells(title="A", client="Acme"), MAPPING, lookups)
    with CaptureQueriesContext(connection) as later:
        named = convert_row(
            3, cells(title="B", client="Acme", contact="Ann Jansen"), MAPPING, lookups
        )
        again = convert_row(
            4, cells(title="C", client="Acme", contact="Ann Jansen"), MAPPING, lookups
        )

    assert not [query for query in queries if "crm_contact" in query["sql"]]
    assert without.values["contact_id"] is None
    assert (named.values["contact_id"], again.values["contact_id"]) == (ann.pk, ann.pk)
    assert len([query for query in later if "crm_contact" in query["sql"]]) == 1


@pytest.mark.django_db
def test_currency_must_be_euro():
    mapping = {"0": "title", "1": "value", "2": "currency"}
    assert convert_row(2, ["A", "10", "eur"], mapping, Lookups()).is_valid
    assert convert_row(2, ["A", "10", "€"], mapping, Lookups()).is_valid
    row = convert_row(2, ["A", "10", "USD"], mapping, Lookups())
    assert row.errors == ["Currency “USD” is not EUR"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("$ 1,200.00", "Currency “$” is not EUR (value “$ 1,200.00”)"),
        ("1.200,00 USD", "Currency “USD” is not EUR (value “1.200,00 USD”)"),
    ],
)
def test_an_amount_in_another_currency_is_refused_with_its_currency(value, message):
    default_stage()
    assert convert(title="A", value=value).errors == [message]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "expected"),
    [("€ 12.500,00", Decimal("12500.00")), ("12,500.00 EUR", Decimal("12500.00"))],
)
def test_amounts_with_euro_signs_and_thousands_separators(amount, expected):
    default_stage()
    assert convert(title="A", value=amount).values["value"] == expected


def status_row(stage: str, status: str):
    mapping = {"0": "title", "1": "stage", "2": "status"}
    return convert_row(2, ["A", stage, status], mapping, Lookups())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("Open", "Proposal"),
        ("won", "Won"),
        ("Won", "Won"),
        ("Closed Won", "Won"),
        ("closedwon", "Won"),
        ("Lost", "Lost"),
        ("closed lost", "Lost"),
        ("gewonnen", "Won"),
        ("", "Proposal"),
    ],
)
def test_a_status_column_closes_the_row_in_its_pipelines_won_or_lost_stage(status, stage):
    default_stage()
    row = status_row("Proposal", status)
    assert row.values["stage"] == default_stage(stage)


@pytest.mark.django_db
def test_an_unknown_status_is_a_row_error():
    default_stage()
    assert status_row("Proposal", "maybe").errors == ["Status “maybe” is not open, won or lost"]


@pytest.mark.django_db
def test_assignee_by_full_name_without_case_or_punctuation():
    rep = RepFactory(username="jdv", first_name="Jan", last_name="de Vries")
    assert convert(title="A", assignee="Jan de Vries").values["assignee"] == rep
    assert convert(title="A", assignee="jan  DE vries").values["assignee"] == rep


@pytest.mark.django_db
def test_an_owners_username_wins_over_another_users_full_name():
    named = RepFactory(username="someone", first_name="Carla", last_name="")
    carla = RepFactory(username="carla", first_name="Carla", last_name="Smit")
    assert convert(title="A", assignee="carla").values["assignee"] == carla
    assert convert(title="A", assignee="Carla").values["assignee"] == carla
    assert named != carla


@pytest.mark.django_db
def test_clients_match_without_case_or_punctuation():
    acme = ClientFactory(name="Acme B.V.")
    assert convert(title="A", client="ACME BV").values["client_id"] == acme.pk
    assert convert(title="A", client="acme b.v").values["client_id"] == acme.pk
    assert convert(title="A", client="Acme Holding").values["client_id"] is None


@pytest.mark.django_db
def test_a_loss_reason_matches_without_case_or_punctuation():
    mapping = {"0": "title", "1": "stage", "2": "lost_reason"}
    row = convert_row(2, ["A", "Lost", "price too high!"], mapping, Lookups())
    assert row.values["lost_reason"].name == "Price too high"


@pytest.mark.django_db
def test_the_peers_default_sources_are_ours():
    row = convert(title="A", source="Phone Inquiry")
    assert row.values["source"].slug == "phone"
    assert convert(title="A", source="Web").values["source"].slug == "website"
