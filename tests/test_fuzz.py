"""Property-based fuzzing: whatever comes in, never a 5xx and never half a write.

Hypothesis throws generated values (huge and negative numbers, "NaN", "1e309", "²",
NUL characters, dates that do not exist, any text) at every list parameter, every form
field and the importer's reading and value parsing. CI runs a fixed, reproducible set
of examples (``derandomize``); ``FUZZ_SCALE=10`` runs ten times as many, at random.
"""

import json
import os
import string

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.filters import ClientFilter, ContactFilter
from crm.forms import ClientForm, ContactForm
from crm.models import Client, Contact
from leads import capture
from leads.board import BOARD_FILTERS
from leads.capture_models import HONEYPOT_FIELD
from leads.filters import LeadFilter
from leads.forms import LeadForm
from leads.imports import ImportFileError, Lookups, convert_row, iter_rows, read_csv_upload
from leads.models import Lead, LeadEvent, LeadImport
from tests.factories import (
    CaptureFormFactory,
    ClientFactory,
    ContactFactory,
    LeadEventFactory,
    LeadFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))


def fuzz(examples: int):
    return settings(
        max_examples=examples * SCALE,
        derandomize=SCALE == 1,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


#: Values people and scripts have typed where a number, a date or a choice belongs.
NASTY = st.sampled_from(
    [
        "", "0", "-1", "1", "2", "-0", "1.5", "1,5", " 7 ", "0x10", "1_000",
        "99999999999999999999", "9" * 400, "-9223372036854775809", "9223372036854775808",
        "1e309", "-1e309", "1e-999999", "1e28", "1e15", "9" * 29,
        "NaN", "nan", "sNaN", "Infinity", "-Infinity",
        "²", "٣", "１２", "\x00", "a\x00b", "me", "none", "all", "open", "won", "lost",
        "2026-02-30", "99999-01-01", "0000-00-00", "31-12-2026", "€ 1.234,56",
        "'; DROP TABLE leads_lead; --", "<script>alert(1)</script>", "{{ 7*7 }}", "%s",
    ]
)  # fmt: skip
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
VALUE = st.one_of(
    NASTY,
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(str),
    TEXT,
)


def query(names):
    """A query string's worth of parameters: up to five names, each with 1–3 values."""
    values = st.lists(VALUE, min_size=1, max_size=3)
    return st.dictionaries(st.sampled_from(sorted(names)), values, max_size=5)


@pytest.fixture
def world(db, manager):
    client = ClientFactory(name="Acme")
    contact = ContactFactory(client=client, name="Ann")
    lead = LeadFactory(client=client, contact=contact, created_by=manager)
    LeadEventFactory(lead=lead)
    return {"lead": lead, "client": client, "contact": contact}


def assert_no_server_error(response):
    assert response.status_code < 500, (response.status_code, response.content[:300])


# --- every list parameter ---------------------------------------------------------------------

PAGING = {"page", "per_page"}
LISTS = {
    "lead list": (lambda w: reverse("leads:list"), set(LeadFilter.base_filters) | PAGING),
    "lead export": (lambda w: reverse("leads:export"), set(LeadFilter.base_filters)),
    "client list": (lambda w: reverse("crm:client_list"), set(ClientFilter.base_filters) | PAGING),
    "contact list": (
        lambda w: reverse("crm:contact_list"),
        set(ContactFilter.base_filters) | PAGING,
    ),
    "board": (
        lambda w: reverse("leads:board_default"),
        {*BOARD_FILTERS, "open", "column", "offset"},
    ),
    "my work": (lambda w: reverse("leads:my_work"), {"completed", "all"}),
    "lead detail": (lambda w: w["lead"].get_absolute_url(), {"events_page"}),
    "new lead": (lambda w: reverse("leads:create"), {"client", "contact"}),
    "edit lead": (lambda w: reverse("leads:update", args=[w["lead"].pk]), {"client"}),
    "new contact": (lambda w: reverse("crm:contact_create"), {"client"}),
    "client detail": (lambda w: w["client"].get_absolute_url(), {"page"}),
    "import page": (lambda w: reverse("leads:import"), {"page"}),
    "forecast": (
        lambda w: reverse("leads:forecast"),
        {"months", "pipeline", "assignee", "source", "from", "to", "format"},
    ),
    "pipeline report": (
        lambda w: reverse("leads:pipeline"),
        {"from", "to", "pipeline", "assignee", "source", "format"},
    ),
}
#: The regions htmx asks for: the same parameters reach the partials too.
HTMX_TARGETS = [
    None, "lead-results", "lead-list", "board", "cards-1", "more-1", "timeline-more",
    "field-contact", "my-work", "client-results", "forecast", "pipeline-report",
]  # fmt: skip


@pytest.mark.parametrize("page", LISTS)
@fuzz(40)
@given(params=st.data())
def test_list_parameters_never_give_a_server_error(manager_client, world, page, params):
    url, names = LISTS[page]
    data = params.draw(query(names))
    target = params.draw(st.sampled_from(HTMX_TARGETS))
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}
    response = manager_client.get(url(world), data, headers=headers)
    assert_no_server_error(response)


# --- every form field ------------------------------------------------------------------------


def snapshot():
    return (
        list(Lead.objects.order_by("pk").values_list("pk", "version", "title", "value")),
        LeadEvent.objects.count(),
        list(Client.objects.order_by("pk").values_list("pk", "name", "email")),
        list(Contact.objects.order_by("pk").values_list("pk", "name", "client_id")),
    )


def form_data(names, world):
    """Values for a form's fields: hostile ones, or real ids and good values at times."""
    real = st.sampled_from(
        [
            str(world["lead"].stage_id),
            str(default_stage("Won").pk),
            str(world["client"].pk),
            str(world["contact"].pk),
            "Acme deal",
            "normal",
            "urgent",
            "organization",
            "1000",
            "50",
            "2026-12-31",
            "ann@example.com",
        ]
    )
    values = st.one_of(VALUE, real)
    return st.dictionaries(st.sampled_from(sorted(names)), values, max_size=len(names))


FORMS = {
    "new lead": (lambda w: reverse("leads:create"), [*LeadForm.Meta.fields]),
    "edit lead": (
        lambda w: reverse("leads:update", args=[w["lead"].pk]),
        [*LeadForm.Meta.fields, "version"],
    ),
    "move stage": (lambda w: reverse("leads:move_stage", args=[w["lead"].pk]), ["stage"]),
    "assign": (lambda w: reverse("leads:assign", args=[w["lead"].pk]), ["assignee"]),
    "note": (lambda w: reverse("leads:add_note", args=[w["lead"].pk]), ["text"]),
    "new client": (lambda w: reverse("crm:client_create"), ClientForm.Meta.fields),
    "edit client": (
        lambda w: reverse("crm:client_update", args=[w["client"].pk]),
        ClientForm.Meta.fields,
    ),
    "new contact": (lambda w: reverse("crm:contact_create"), ContactForm.Meta.fields),
    "edit contact": (
        lambda w: reverse("crm:contact_update", args=[w["contact"].pk]),
        ContactForm.Meta.fields,
    ),
    "import upload": (lambda w: reverse("leads:import"), ["file"]),
}


@pytest.mark.parametrize("form", FORMS)
@fuzz(40)
@given(params=st.data())
def test_form_fields_never_give_a_server_error_nor_half_a_write(
    manager_client, world, form, params
):
    url, names = FORMS[form]
    data = params.draw(form_data(names, world))
    htmx = params.draw(st.booleans())
    before = snapshot()
    response = manager_client.post(url(world), data, headers={"HX-Request": "true"} if htmx else {})
    assert_no_server_error(response)
    if response.status_code >= 400:
        assert snapshot() == before, "a refused write changed something"


@fuzz(60)
@given(params=st.data())
def test_import_mapping_fields_never_give_a_server_error(manager_client, manager, params):
    lead_import = LeadImport.objects.create(
        created_by=manager,
        file_name="x.csv",
        content=b"Title,Value,Stage\nA,1,New\n",
        encoding="utf-8",
        delimiter=",",
        headers=["Title", "Value", "Stage"],
    )
    names = ["column_0", "column_1", "column_2", "column_9", "mode", "duplicates", "action"]
    nothing = {"lead": Lead(stage_id=0), "client": Client(pk=0), "contact": Contact(pk=0)}
    data = params.draw(form_data(names, nothing))
    before = snapshot()
    response = manager_client.post(lead_import.get_absolute_url(), data)
    assert_no_server_error(response)
    if response.status_code >= 400:
        assert snapshot() == before


# --- the importer's reading and value parsing -----------------------------------------------

MAPPING = {
    "0": "title",
    "1": "value",
    "2": "probability",
    "3": "expected_close_date",
    "4": "priority",
    "5": "stage",
    "6": "source",
    "7": "assignee",
    "8": "currency",
    "9": "client",
    "10": "contact",
}


@fuzz(400)
@given(cells=st.lists(st.one_of(VALUE, TEXT), min_size=0, max_size=12))
def test_row_values_are_parsed_or_refused_with_a_message_never_raised(cells):
    row = convert_row(2, cells, MAPPING, Lookups(), columns=11)
    if row.is_valid:
        value, probability = row.values["value"], row.values["probability"]
        assert value is None or (0 <= value < 10**12 and value == round(value, 2))
        assert probability is None or 0 <= probability <= 100
    else:
        assert all(isinstance(message, str) and message for message in row.errors)


CSV_PIECES = st.sampled_from(['"', '""', ",", ";", "\t", "\n", "\r\n", "\r", "a", "1", " ", "é"])


@fuzz(400)
@given(body=st.lists(CSV_PIECES, max_size=60).map("".join))
def test_any_file_body_reads_as_rows_or_row_errors(body):
    lead_import = LeadImport(
        content=("Title,Value\n" + body).encode(), encoding="utf-8", delimiter=",", headers=[]
    )
    try:
        records = list(iter_rows(lead_import))
    except ImportFileError:
        return
    numbers = [record.number for record in records]
    assert numbers == sorted(set(numbers))
    assert all(number >= 2 for number in numbers)
    assert all(record.cells or record.error for record in records)


@fuzz(300)
@given(raw=st.one_of(st.binary(max_size=300), TEXT.map(str.encode)))
def test_any_upload_is_read_or_refused_with_a_message(raw):
    try:
        outcome = read_csv_upload(b"Title;Value\n" + raw).headers
    except ImportFileError as error:
        outcome = str(error)
    assert outcome


@fuzz(100)
@given(header=st.text(alphabet=string.printable, max_size=200))
def test_any_header_row_is_read_or_refused_with_a_message(header):
    try:
        outcome = read_csv_upload(header.encode() + b"\nA,1\n").headers
    except ImportFileError as error:
        outcome = str(error)
    assert outcome


# --- a website's post to a capture form -------------------------------------------------------

#: What a JSON body may hold where text belongs: text, numbers, and what is not text.
JSON_VALUE = st.one_of(
    VALUE,
    TEXT,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(TEXT, max_size=2),
    st.dictionaries(TEXT, TEXT, max_size=2),
)


@fuzz(80)
@given(params=st.data())
def test_capture_posts_never_give_a_server_error_nor_half_a_write(client, params):
    capture_form = CaptureFormFactory(rate_limit=100_000)
    names = st.sampled_from([*capture.FIELDS, HONEYPOT_FIELD, "other"])
    as_json = params.draw(st.booleans())
    data = params.draw(
        st.dictionaries(names, JSON_VALUE if as_json else VALUE, max_size=len(capture.FIELDS))
    )
    before = snapshot()
    url = f"/capture/{capture_form.public_key}/"
    if as_json:
        response = client.post(url, json.dumps(data), content_type="application/json")
    else:
        response = client.post(url, data)
    assert_no_server_error(response)
    if response.status_code >= 400 or response.json()["id"] is None:
        assert snapshot() == before, "a refused post changed something"
    else:
        assert Lead.objects.filter(pk=response.json()["id"]).exists()
