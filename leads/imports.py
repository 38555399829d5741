"""CSV import of leads: reading real-world files, mapping columns, checking rows, writing
them in bulk, and undoing an import.

The steps, each a plain function:
- `read_csv_upload(raw)`: bytes → a `CsvFile` (encoding, delimiter, headers) or ImportFileError;
- `auto_mapping(headers)`: which lead field each column holds, from English or Dutch names;
- `check_rows(lead_import)`: every row converted and checked, nothing written (the dry run);
- `lead_import_run(lead_import=...)`: the import itself, in batches;
- `lead_import_undo(lead_import=..., by=...)`: removes what an untouched import made.
"""

import bisect
import csv
import datetime
import functools
import io
import logging
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxLengthValidator
from django.db import connection, models, transaction
from django.db.models import F, Lookup, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import capfirst

from crm.models import Client, Contact
from crm.services import clients_create_bulk
from pipelines.models import Pipeline, PipelineStage

from . import events
from .forms import LeadForm, normalise_amount
from .models import (
    CLOSING_FIELDS,
    Lead,
    LeadEvent,
    LeadImport,
    LeadSource,
    LossReason,
    Priority,
)
from .services import (
    LeadConflict,
    leads_create_bulk,
    leads_delete_bulk,
    leads_restore_bulk,
    leads_update_bulk,
    may_change,
)

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_LINE_CHARS = 100_000
#: More columns than this is not a file of leads (and would make a page of thousands of
#: fields to map); the import refuses it at upload.
MAX_COLUMNS = 200
#: Past this many rows that cannot be read, the file is refused as a whole.
MAX_UNREADABLE_ROWS = 1000
BATCH_SIZE = 2000
PREVIEW_ROWS = 10

csv.field_size_limit(MAX_LINE_CHARS)


class ImportFileError(Exception):
    """The file cannot be imported at all; the message says why, for people."""


# --- reading the file -----------------------------------------------------------------------


@dataclass
class CsvFile:
    text: str
    encoding: str
    delimiter: str
    headers: list[str]
    notice: str = ""


def read_csv_upload(raw: bytes) -> CsvFile:
    """Decode and sniff an uploaded file, refusing what is not a usable CSV."""
    if len(raw) > MAX_FILE_BYTES:
        raise ImportFileError("The file is larger than 50 MB. Split it into smaller files.")
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportFileError("The file is empty.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            "The file is in UTF-16. Save it as “CSV UTF-8” (or plain CSV) and try again."
        )
    if b"\x00" in raw[:65536]:
        raise ImportFileError(
            "This is not a CSV file: it contains binary data. "
            "Export your spreadsheet as CSV and try again."
        )
    notice = ""
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise ImportFileError(
                "The file's text encoding is not one we know (UTF-8 or Windows-1252). "
                "Save it as “CSV UTF-8” and try again."
            ) from None
        notice = (
            "The file is not UTF-8, so it was read as Windows-1252 (Excel's default). "
            "Check that accented letters look right in the preview."
        )
    control = sum(1 for char in text[:65536] if ord(char) < 32 and char not in "\t\r\n")
    if control > len(text[:65536]) / 100:
        raise ImportFileError("This does not look like a CSV file: it contains binary data.")
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter, headers = _sniff(header_line)
    if len(headers) < 2 and not _known_field(headers[0] if headers else ""):
        raise ImportFileError(
            "Could not find columns in the first row. Use a comma- or semicolon-separated "
            "file whose first row names the columns (for example Title;Value;Stage)."
        )
    if len(headers) > MAX_COLUMNS:
        raise ImportFileError(
            f"The file has {len(headers):,} columns; at most {MAX_COLUMNS} can be imported. "
            "Remove the columns you do not need and upload it again."
        )
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise ImportFileError(
                f"Line {number} is longer than {MAX_LINE_CHARS:,} characters; "
                "this does not look like a CSV file of leads."
            )
    if not any(_known_field(name) for name in headers):
        raise ImportFileError(
            "The first row does not name any column we know, so there seems to be no header "
            "row. Add one that names the columns, for example Title, Value, Stage, Client."
        )
    return CsvFile(
        text=text, encoding=encoding, delimiter=delimiter, headers=headers, notice=notice
    )


def _sniff(header_line: str) -> tuple[str, list[str]]:
    """The delimiter that splits the header row into the most columns."""
    best = (",", [header_line])
    for delimiter in (";", ",", "\t"):
        try:
            cells = next(csv.reader([header_line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        if len(cells) > len(best[1]):
            best = (delimiter, cells)
    return best[0], [cell.strip() for cell in best[1]]


@dataclass(slots=True)
class Record:
    """One row of the file as read: its spreadsheet row number, its cells, or why not."""

    number: int
    cells: list[str]
    error: str = ""


def iter_rows(lead_import: LeadImport):
    """A Record for each non-empty data row; the header is row 1.

    Rows are counted as a spreadsheet counts them, whatever lines their values span. A
    row that cannot be read (a quote that never closes, text after a closing quote) is a
    Record with an error, and reading goes on with the next line, so one stray quote
    cannot swallow the rest of the file into one value.
    """
    text = bytes(lead_import.content).decode(
        "utf-8-sig" if lead_import.encoding == "utf-8" else lead_import.encoding
    )
    lines = list(io.StringIO(text, newline=""))  # split as csv splits: \n, \r\n or \r
    unreadable = 0
    position, number = 0, 0
    while position < len(lines):
        # line_num counts the lines the reader took: where each row starts.
        reader = csv.reader(iter(lines[position:]), delimiter=lead_import.delimiter, strict=True)
        while True:
            start = position + reader.line_num
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                number += 1
                unreadable += 1
                if unreadable > MAX_UNREADABLE_ROWS:
                    raise ImportFileError(
                        f"More than {MAX_UNREADABLE_ROWS:,} rows could not be read; "
                        "this does not look like a CSV file. Check its quotes and separator."
                    ) from None
                if number > 1:
                    yield Record(number, [], _unreadable(error, line=start + 1))
                position = start + 1  # read on from the line after the row's first
                break
            number += 1
            if number > 1 and any(cell.strip() for cell in cells):
                yield Record(number, cells)


def _unreadable(error: csv.Error, *, line: int) -> str:
    reason = str(error)
    if "unexpected end of data" in reason:
        return (
            f"A quote opens a value on line {line} that never closes; "
            "the row was not imported (check the quotes in that row)"
        )
    if "field larger than field limit" in reason:
        return f"A value starting on line {line} is too long; the row was not imported"
    return f"The row on line {line} could not be read ({reason}); check its quotes"


# --- mapping columns to fields ----------------------------------------------------------------

#: The other names (English and Dutch) a header may give a column; a column named after a
#: field, or after its label, is recognised without being listed here.
FIELDS = {
    "title": ["title", "titel", "lead", "lead title", "onderwerp", "deal", "opportunity"],
    "description": [
        "description",
        "omschrijving",
        "beschrijving",
        "notes",
        "notities",
        "notitie",
        "opmerking",
        "opmerkingen",
    ],
    "value": ["value", "waarde", "amount", "bedrag", "deal value", "value eur", "waarde eur"],
    "probability": ["probability", "kans", "waarschijnlijkheid", "probability %", "kans %"],
    "expected_close_date": [
        "expected close date",
        "expected close",
        "close date",
        "due",
        "verwachte sluitdatum",
        "sluitdatum",
        "deadline",
    ],
    "source": ["source", "bron", "lead source", "herkomst"],
    "priority": ["priority", "prioriteit"],
    "stage": ["stage", "fase", "stadium"],
    "pipeline": ["pipeline", "trechter"],
    "assignee": ["assignee", "owner", "eigenaar", "toegewezen aan", "verantwoordelijke"],
    "client": ["client", "klant", "company", "bedrijf", "organisation", "organization", "account"],
    "contact": ["contact", "contactpersoon", "contact person", "contact email"],
    "category": ["category", "categorie"],
    "currency": ["currency", "valuta", "munteenheid"],
    "lost_reason": ["reason lost", "lost because", "verliesreden", "reden verlies"],
    "competitor": ["concurrent", "won by", "gewonnen door"],
    "lost_note": ["verliesnotitie", "toelichting verlies"],
    "won_value": ["won amount", "gewonnen waarde", "gewonnen bedrag"],
    "actual_close_date": ["closed on", "date closed", "gesloten op", "werkelijke sluitdatum"],
}
#: Columns a file may have that are not lead fields: they say how to read the others.
EXTRA_COLUMNS = {"pipeline": "Pipeline", "currency": "Currency (must be EUR)"}


def importable_fields() -> list[str]:
    """The lead's fields a column can fill: the lead form's, so a new form field imports."""
    return list(LeadForm.Meta.fields)


def field_labels() -> dict[str, str]:
    """What the mapping step calls each field: the lead form's labels, then the extras."""
    labels = {}
    for name in importable_fields():
        # A field the form declares itself may leave its label to the model's name.
        label = LeadForm.base_fields[name].label or Lead._meta.get_field(name).verbose_name
        labels[name] = capfirst(str(label))
    return labels | EXTRA_COLUMNS


@functools.cache
def _header_names() -> dict[str, str]:
    names = {}
    for key, label in field_labels().items():
        for name in (key, key.replace("_", " "), label, *FIELDS.get(key, ())):
            if normalised := _normalise_header(name):
                names.setdefault(normalised, key)
    return names


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s_\-.:()]+", " ", name.strip().lower()).strip()


def _known_field(header: str) -> str | None:
    return _header_names().get(_normalise_header(header))


def auto_mapping(headers: list[str]) -> dict[str, str]:
    """{column index: field} for the headers we recognise; each field is used once."""
    mapping, used = {}, set()
    for index, header in enumerate(headers):
        key = _known_field(header)
        if key and key not in used:
            mapping[str(index)] = key
            used.add(key)
    return mapping


# --- checking rows ---------------------------------------------------------------------------

#: Other words for a choice's value, as spreadsheets write them (the values and labels
#: themselves are always understood).
CHOICE_ALIASES = {
    "priority": {
        "laag": Priority.LOW,
        "normaal": Priority.NORMAL,
        "medium": Priority.NORMAL,
        "hoog": Priority.HIGH,
        "dringend": Priority.URGENT,
    },
}


@dataclass(slots=True)
class Row:
    """One data row: the values it will give the lead, or what is wrong with it."""

    number: int
    values: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    client_name: str = ""  # a client to create, when the user allows it
    contact_ref: str = ""
    duplicate_of: int | None = None
    #: Mapped columns this row leaves empty: updating an existing lead keeps its value.
    blank: frozenset = frozenset()
    #: Values the import supplies where the row gave none (the loss reason of a lost row
    #: without one), written whether or not their columns are mapped.
    filled_in: dict = field(default_factory=dict)
    #: What the preview should say about a row that imports, though not as it reads.
    notices: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


class Lookups:
    """Everything rows refer to, loaded once per import rather than once per row."""

    def __init__(self):
        self.default_pipeline = Pipeline.objects.default()
        self.pipelines = {p.name.lower(): p for p in Pipeline.objects.all()}
        self.stages = {
            (stage.pipeline_id, stage.name.lower()): stage
            for stage in PipelineStage.objects.select_related("pipeline")
        }
        self.first_open = {
            pipeline.pk: pipeline.first_open_stage() for pipeline in self.pipelines.values()
        }
        self.sources = {}
        for source in LeadSource.objects.all():
            self.sources[source.slug.lower()] = source
            self.sources.setdefault(source.label.lower(), source)
        # Inactive reasons too, as inactive sources: an export of leads lost for a reason
        # since retired imports again.
        self.loss_reasons = {}
        for reason in LossReason.objects.all():
            self.loss_reasons[reason.slug.lower()] = reason
            self.loss_reasons.setdefault(reason.name.lower(), reason)
        self.users = {}
        for user in get_user_model().objects.filter(is_active=True).order_by("-pk"):
            if user.email:
                self.users[user.email.lower()] = user
            self.users[user.get_username().lower()] = user
        self.clients = {}
        for pk, name in Client.objects.alive().order_by("-pk").values_list("pk", "name"):
            self.clients[name.strip().lower()] = pk

    @functools.cached_property
    def contacts(self) -> dict[tuple[int, str], int]:
        """Every contact by (client, name or email), read when a row first names one: a
        file without a contact column reads none of them."""
        contacts = {}
        for pk, client_id, name, email in (
            Contact.objects.alive().order_by("-pk").values_list("pk", "client_id", "name", "email")
        ):
            contacts[(client_id, name.strip().lower())] = pk
            if email:
                contacts[(client_id, email.strip().lower())] = pk
        return contacts

    @functools.cached_property
    def fallback_reason(self) -> LossReason:
        """ "Other", asked for only when a lost row names no reason (``_check_closing``)."""
        return LossReason.objects.fallback()

    @functools.cached_property
    def steps(self) -> list:
        """How each field is read from a row (``field_steps``), made once per import."""
        return field_steps(self)


class RowError(Exception):
    """A cell that cannot become a field's value; the message is for people."""


def convert_row(
    number: int,
    cells: list[str],
    mapping: dict[str, str],
    lookups: Lookups,
    *,
    columns: int | None = None,
) -> Row:
    """Turn a row's cells into lead values, collecting a clear message for each problem.

    Each field is read by its model field's type (text, a choice, an amount, a number, a
    date, a related row) and then checked with the model's own rules, the ones the lead
    form and the services check: the importer knows how spreadsheets write values, not
    what a lead allows (``field_steps``). ``columns`` is the header's width: a row with
    values beyond it has them shifted (a separator inside an unquoted value) and is
    refused, not misread.
    """
    row = Row(number=number)
    if columns is not None and len(cells) > columns and any(c.strip() for c in cells[columns:]):
        row.errors.append(
            f"The row has {len(cells)} values but the header names {columns} columns; "
            "a value may contain the separator without quotes"
        )
    raw = {
        key: _unneutralise(cells[int(index)].strip())
        for index, key in mapping.items()
        if int(index) < len(cells)
    }
    row.blank = frozenset(key for key in mapping.values() if not raw.get(key))
    currency = raw.get("currency", "")
    if currency and currency.upper() not in ("EUR", "€"):
        row.errors.append(f"Currency “{currency}” is not EUR")
    for step in lookups.steps:
        step(row, raw)
    return row


def field_steps(lookups: "Lookups") -> list:
    """For each importable field, a function that puts its value on a row, or an error.

    Made once per import from the model: a relation is found by name
    (``RESOLVERS``); any other field is read by its type (``_reader``) and checked with
    the model field's own rules (``_rules``).
    """
    steps = []
    for name in importable_fields():
        field = Lead._meta.get_field(name)
        if field.is_relation:
            steps.append(_resolve_step(name, RESOLVERS[field.related_model], lookups))
        else:
            steps.append(_read_step(name, _reader(field), _rules(field)))
    return steps


def _resolve_step(name, resolve, lookups):
    def step(row, raw):
        try:
            resolve(row, raw.get(name, ""), raw, lookups)
        except RowError as error:
            row.errors.append(str(error))

    return step


def _read_step(name, read, check):
    def step(row, raw):
        text = raw.get(name, "")
        try:
            value = read(text)
        except RowError as error:
            row.errors.append(str(error))
            return
        row.values[name] = value
        if message := check(value, text):
            row.errors.append(message)

    return step


def _label(field) -> str:
    """A field as the row errors name it: "Value", not "Value (EUR)"."""
    return str(field.verbose_name).split(" (")[0].capitalize()


def _reader(field):
    """How a cell becomes the field's value, the way Dutch and English spreadsheets write it;
    an empty cell gives the field's default, or nothing."""
    if field.has_default():
        empty = field.get_default()
    else:
        empty = "" if field.empty_strings_allowed and not field.null else None
    label = _label(field)
    if field.choices:
        choices = {str(value).lower(): value for value, _ in field.flatchoices}
        choices |= {str(name).lower(): value for value, name in field.flatchoices}
        choices |= CHOICE_ALIASES.get(field.name, {})
        names = [str(value) for value, _ in field.flatchoices]
        refusal = f"is not {', '.join(names[:-1])} or {names[-1]}"

        def read(text):
            if not text:
                return empty
            if (value := choices.get(text.lower())) is None:
                raise RowError(f"{label} “{text}” {refusal}")
            return value

    elif isinstance(field, models.DecimalField):

        def read(text):
            if not text:
                return empty
            if (amount := _number(normalise_amount(text))) is None:
                raise RowError(f"{label} “{text}” is not an amount")
            return amount

    elif isinstance(field, models.IntegerField):

        def read(text):
            text = text.rstrip("%").strip()
            if not text:
                return empty
            if (number := _number(text.replace(",", "."))) is None:
                raise RowError(f"{label} “{text}” is not a number")
            return int(number)

    elif isinstance(field, models.DateField):

        def read(text):
            if not text:
                return empty
            if (day := parse_date(text)) is None:
                raise RowError(f"Date “{text}” is not a date (use 31-12-2026 or 2026-12-31)")
            return day

    else:

        def read(text):
            return text or empty

    return read


def _rules(field):
    """The model field's rules for a value: required unless blank may be, and its
    validators (length, range, digits), each refusal as a row error."""
    label, required = _label(field), not field.blank
    # A length limit is read from its validator and checked inline: rows by the hundred
    # thousand, and most fields are text.
    limits = [v.limit_value for v in field.validators if isinstance(v, MaxLengthValidator)]
    limit = min(limits) if limits else None
    others = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]

    def check(value, text):
        if value is None or value == "":
            return f"{label} is required" if required else None
        if limit is not None and len(value) > limit:
            return f"{label} is longer than {limit} characters"
        try:
            for validator in others:
                validator(value)
        except ValidationError as error:
            if error.code in ("max_digits", "max_decimal_places", "max_whole_digits"):
                return f"{label} “{text}” has too many digits"
            return error.messages[0].rstrip(".")
        return None

    return check


# --- related rows: found by name, each kind in its own way -----------------------------------


def _by_name(field: str, names: str, kind: str):
    """A resolver of rows named in one of ``lookups``' dictionaries (lower-cased names)."""

    def resolve(row, text, raw, lookups) -> None:
        row.values[field] = None
        if text:
            row.values[field] = getattr(lookups, names).get(text.lower())
            if row.values[field] is None:
                raise RowError(f"Unknown {kind} “{text}”")

    return resolve


def _resolve_stage(row, text, raw, lookups) -> None:
    """A stage by name in the row's pipeline (the default one unless a column names it)."""
    pipeline = lookups.default_pipeline
    if name := raw.get("pipeline", ""):
        pipeline = lookups.pipelines.get(name.lower())
        if pipeline is None:
            row.errors.append(f"Unknown pipeline “{name}”")
            pipeline = lookups.default_pipeline
    if not text:
        row.values["stage"] = lookups.first_open.get(pipeline.pk)
        return
    row.values["stage"] = lookups.stages.get((pipeline.pk, text.lower()))
    if row.values["stage"] is None:
        raise RowError(f"Unknown stage “{text}” in pipeline {pipeline.name}")


def _resolve_client(row, text, raw, lookups) -> None:
    """A client by name; an unknown one is created when the import allows it."""
    row.values["client_id"] = None
    if text:
        row.values["client_id"] = lookups.clients.get(text.lower())
        if row.values["client_id"] is None:
            row.client_name = text[:255]


def _resolve_contact(row, text, raw, lookups) -> None:
    """A contact by name or email, among the row's client's contacts."""
    row.values["contact_id"] = None
    if not text:
        return
    row.contact_ref = text
    if row.values.get("client_id") is not None:
        row.values["contact_id"] = lookups.contacts.get((row.values["client_id"], text.lower()))
    if row.values["contact_id"] is None:
        client = raw.get("client", "")
        raise RowError(
            f"Contact “{text}” is not a contact of {client}"
            if client
            else f"Contact “{text}” needs a client"
        )


#: How a cell names a related row, by the related model.
RESOLVERS = {
    LeadSource: _by_name("source", "sources", "source"),
    PipelineStage: _resolve_stage,
    get_user_model(): _by_name("assignee", "users", "user"),
    Client: _resolve_client,
    Contact: _resolve_contact,
    LossReason: _by_name("lost_reason", "loss_reasons", "loss reason"),
}


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")


def _number(text: str) -> Decimal | None:
    """A finite decimal number, or None ("NaN", "Infinity" are not amounts)."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _unneutralise(text: str) -> str:
    """Undo the export's guard against spreadsheet formulas ("'=SUM" was "=SUM")."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def parse_date(text: str) -> datetime.date | None:
    """ISO, or day first as Dutch and English spreadsheets write it (31-12-2026, 31/12/2026)."""
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
    elif match := _DAY_FIRST.fullmatch(text):
        day, month, year = match.groups()
        if len(year) == 2:
            year = f"20{year}"
    else:
        return None
    try:
        return datetime.date(int(year), int(month), int(day))
    except ValueError:
        return None


@dataclass
class CheckResult:
    rows: list[Row]
    total: int
    invalid: int
    duplicates: int
    new_clients: list[str]


def check_rows(lead_import: LeadImport) -> CheckResult:
    """The dry run: every row converted and checked against the database; nothing written."""
    lookups = Lookups()
    mapping = {index: key for index, key in lead_import.mapping.items() if key}
    columns = len(lead_import.headers)
    rows = [
        Row(number=record.number, errors=[record.error])
        if record.error
        else convert_row(record.number, record.cells, mapping, lookups, columns=columns)
        for record in iter_rows(lead_import)
    ]
    first_spelling = {}
    for row in rows:
        if row.client_name:
            first_spelling.setdefault(row.client_name.lower(), row.client_name)
    new_clients = sorted(first_spelling.values(), key=str.lower)
    if not lead_import.create_clients:
        for row in rows:
            if row.client_name:
                row.errors.append(
                    f"Unknown client “{row.client_name}” (choose to create missing clients)"
                )
    _find_duplicates(rows, lead_import)
    updated = {}
    if lead_import.duplicates == LeadImport.Duplicates.UPDATE:
        _check_updates(rows, lead_import.created_by)
        updated = _closing_of_leads(rows)
    _check_closing(rows, lookups, mapped=set(mapping.values()), updated=updated)
    return CheckResult(
        rows=rows,
        total=len(rows),
        invalid=sum(1 for row in rows if not row.is_valid),
        duplicates=sum(1 for row in rows if row.duplicate_of),
        new_clients=new_clients if lead_import.create_clients else [],
    )


def _find_duplicates(rows: list[Row], lead_import: LeadImport) -> None:
    """Mark rows whose title and client match an existing lead (exact title).

    Leads this import wrote itself are not existing leads: a resumed import sees the
    file as its first run did.
    """
    candidates = [row for row in rows if row.values.get("title") and not row.client_name]
    size = 5000
    for start in range(0, len(candidates), size):
        chunk = candidates[start : start + size]
        existing = {}
        for pk, title, client_id in _leads_titled(
            {row.values["title"] for row in chunk}, lead_import
        ):
            existing.setdefault((title, client_id), pk)
        for row in chunk:
            row.duplicate_of = existing.get((row.values["title"], row.values["client_id"]))


def _check_updates(rows: list[Row], user) -> None:
    """A row may update only a lead its user may change, and each lead once."""
    updating = [row for row in rows if row.duplicate_of and row.is_valid]
    # Who owns each lead decides: read those two columns of the leads to update.
    leads = Lead.objects.only("created_by", "assignee").in_bulk(
        {row.duplicate_of for row in updating}
    )
    updated_by = {}
    for row in updating:
        if user is None or not may_change(leads[row.duplicate_of], ["title"], user):
            row.errors.append(f"You may not change this lead (#{row.duplicate_of})")
        elif row.duplicate_of in updated_by:
            row.errors.append(
                f"Row {updated_by[row.duplicate_of]} already updates lead #{row.duplicate_of}"
            )
        else:
            updated_by[row.duplicate_of] = row.number


def _closing_of_leads(rows: list[Row]) -> dict[int, Lead]:
    """The leads rows would update, with their stage and how they closed."""
    return (
        Lead.objects.select_related("stage", "lost_reason")
        .only("stage", *CLOSING_FIELDS)
        .in_bulk({row.duplicate_of for row in rows if row.duplicate_of})
    )


#: The note of a lost row imported without a reason (with the reason "Other").
NO_REASON_NOTE = "Imported without a reason"


def _check_closing(
    rows: list[Row], lookups: Lookups, *, mapped: set[str], updated: dict[int, Lead]
) -> None:
    """Each closed row's lead as it will have closed, checked with the model's rules
    (``Lead.clean_closing``: a lost lead's reason and note, a close date not ahead).

    A lost row that names no reason is imported as "Other", with a note saying so
    unless it has one (a notice in the preview): a file from another system seldom
    says why, and refusing those rows would leave the lost leads out. A row that
    updates a lead (``updated``, by id) is judged as the lead will be: its empty cells
    keep the lead's stage and how it closed, so a lost lead keeps its reason. Into an
    open stage the services clear the closing fields, so there is nothing to check.
    """
    today = timezone.localdate()
    kept_unmapped = set(importable_fields()) - mapped
    for row in rows:
        stage = row.values.get("stage")
        given = {name: row.values.get(name) for name in CLOSING_FIELDS}
        lead = updated.get(row.duplicate_of)
        if lead is not None:
            kept = row.blank | kept_unmapped
            given = {name: value for name, value in given.items() if name not in kept}
            if "stage" in kept:
                stage = lead.stage
            if stage == lead.stage and not given:
                continue  # the update leaves how the lead closed alone
            given = {name: getattr(lead, name) for name in CLOSING_FIELDS} | given
        if stage is None or stage.is_open:
            continue
        named = "lost_reason" in mapped and "lost_reason" not in row.blank
        if stage.kind == PipelineStage.Kind.LOST and given["lost_reason"] is None and not named:
            reason = lookups.fallback_reason
            row.filled_in = {
                "lost_reason": reason,
                "lost_note": given["lost_note"] or NO_REASON_NOTE,
            }
            given |= row.filled_in
            row.values |= row.filled_in
            row.notices.append(
                f"No loss reason: imported as “{reason.name}” with the note "
                f"“{row.filled_in['lost_note']}”"
            )
        try:
            Lead(stage=stage, **given).clean_closing(today=today)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                if not (name == "lost_reason" and named):  # an unknown reason, said already
                    row.errors += [message.rstrip(".") for message in messages]


class EqualsAny(Lookup):
    """``column = ANY(%s)`` with the values as one PostgreSQL array parameter."""

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


def _leads_titled(titles: set[str], lead_import: LeadImport):
    """(id, title, client_id) of leads with one of these titles that this import did not
    create, oldest first."""
    leads = Lead.objects.order_by("id")
    columns = ("pk", "title", "client_id", "import_batch_id")
    if connection.vendor == "postgresql":  # one array parameter instead of thousands
        found = leads.filter(EqualsAny(F("title"), list(titles))).values_list(*columns)
    else:
        found, titles = [], list(titles)
        for start in range(0, len(titles), 500):  # SQLite's limit on query parameters
            found += leads.filter(title__in=titles[start : start + 500]).values_list(*columns)
    # Left out here rather than in SQL, where the condition would keep PostgreSQL from
    # reading the title index.
    return [row[:3] for row in found if row[3] != lead_import.pk]


# --- running ---------------------------------------------------------------------------------


class ImportSuperseded(Exception):
    """This run lost the import: it was resumed by another run, or undone, meanwhile."""


class RowsRefused(Exception):
    """All or nothing, and some rows may not be written after all."""

    def __init__(self, rows: list[Row]):
        super().__init__(f"{len(rows)} rows refused")
        self.rows = rows


def lease_seconds() -> int:
    """How long a worker may go without reporting before its run counts as interrupted."""
    return settings.IMPORT_LEASE_SECONDS


def lead_import_run(*, lead_import: LeadImport) -> LeadImport:
    """Import the checked rows in batches; record progress, a summary and an error report.

    Each batch commits with the progress it made, so a run that dies (a killed worker)
    leaves a true count and the last row written: ``queue_lead_import`` resumes it
    after that row, and undo removes what it wrote. Only the run holding the import's
    token writes: one that lost it stops at its next batch.
    """
    now = timezone.now()
    claimed = LeadImport.objects.filter(pk=lead_import.pk, status=LeadImport.Status.QUEUED)
    if not claimed.update(
        status=LeadImport.Status.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        lease_until=now + datetime.timedelta(seconds=lease_seconds()),
    ):
        lead_import.refresh_from_db()
        return lead_import  # already running, finished, or undone: another run has it
    lead_import.refresh_from_db()
    token = lead_import.run_token
    # About a hundred bytes a row, until the file is read and the rows are counted.
    _renew(lead_import, token, rows=len(lead_import.content) // 100)
    try:
        if lead_import.created_by is None:
            return _finish(
                lead_import, token, failure="The user who uploaded this file was removed."
            )
        result = check_rows(lead_import)
        skipped = [row for row in result.rows if not row.is_valid]
        if lead_import.duplicates == LeadImport.Duplicates.SKIP:
            for row in result.rows:
                if row.is_valid and row.duplicate_of:
                    row.errors.append(f"Duplicate of lead #{row.duplicate_of}; skipped")
                    skipped.append(row)
        if lead_import.mode == LeadImport.Mode.ALL_OR_NOTHING and result.invalid:
            return _finish(
                lead_import,
                token,
                skipped=result.total,
                report=error_report(skipped),
                failure=f"Nothing was imported: {result.invalid} of {result.total} rows have "
                "errors, and the import was set to all or nothing.",
            )
        # Rows up to last_row were written by an earlier run of this import.
        valid = [row for row in result.rows if row.is_valid and row.number > lead_import.last_row]
        atomic = lead_import.mode == LeadImport.Mode.ALL_OR_NOTHING
        # All or nothing holds every batch in one transaction: its lease must cover them.
        _renew(lead_import, token, total=result.total, rows=len(valid) if atomic else 0)
        try:
            with transaction.atomic() if atomic else nullcontext():
                client_ids = _create_clients(lead_import, result.new_clients)
                skipped += _write(
                    lead_import,
                    valid,
                    client_ids,
                    token=token,
                    atomic=atomic,
                    numbers=[row.number for row in result.rows],
                )
        except RowsRefused as refused:
            return _finish(
                lead_import,
                token,
                skipped=result.total,
                report=error_report(refused.rows),
                failure="Nothing was imported: some rows may not be written after all, "
                "and the import was set to all or nothing.",
            )
        return _finish(
            lead_import,
            token,
            skipped=len(skipped),
            report=error_report(sorted(skipped, key=lambda row: row.number)),
        )
    except ImportSuperseded:
        lead_import.refresh_from_db()
        return lead_import
    except ImportFileError as error:
        return _finish(lead_import, token, failure=str(error))
    except Exception:
        logger.exception("Import %s failed", lead_import.pk)
        # Batches written before the error stay (skip mode commits each batch) and are
        # counted, so that the summary is true and the import can be undone.
        lead_import.refresh_from_db()
        written = lead_import.created_count + lead_import.updated_count
        stopped = (
            f"The import stopped after {written} leads because of an unexpected error. "
            "Undo it and try again, or ask an admin to look at the server log."
            if written
            else "The import stopped because of an unexpected error; nothing was imported. "
            "Try again, or ask an admin to look at the server log."
        )
        return _finish(lead_import, token, failure=stopped)


def _renew(lead_import, token, *, total: int = 0, rows: int = 0) -> None:
    """Report that the run is alive, for the time its next step may take.

    Reading and checking a file, or writing all of it in one transaction (all or
    nothing), reports nothing until it is done: the lease then grows with the rows.
    """
    # A millisecond a row is many times what checking or writing a row takes.
    seconds = lease_seconds() + rows // 1000
    updates = {"lease_until": timezone.now() + datetime.timedelta(seconds=seconds)}
    if total:
        updates["total_rows"] = total
    LeadImport.objects.filter(pk=lead_import.pk, run_token=token).update(
        status=LeadImport.Status.RUNNING, **updates
    )


def _create_clients(lead_import, names: list[str]) -> dict[str, int]:
    """The missing clients, created as the import's user, each recording this import."""
    ids = clients_create_bulk(
        names=names,
        by=lead_import.created_by,
        event_data={"import_id": lead_import.pk, "file": lead_import.file_name},
    )
    return {name.lower(): pk for name, pk in zip(names, ids, strict=True)}


def _write(
    lead_import, rows: list[Row], client_ids, *, token, atomic: bool, numbers: list[int]
) -> list[Row]:
    """Create (or update duplicates of) the leads, a batch of rows per transaction.

    Every lead is written through the lead services, as the import's user: a row whose
    lead that user may not change (any more) is refused. Each batch holds the import's
    row and checks the run's token first, and commits its progress with its leads
    (``numbers``: every row's number, to count how far into the file a batch got).
    Returns the refused rows.
    """
    by = lead_import.created_by
    updating = lead_import.duplicates == LeadImport.Duplicates.UPDATE
    mapped = set(lead_import.mapping.values())
    fields = _lead_fields()
    refused_rows = []
    size = BATCH_SIZE * 5 if connection.vendor == "postgresql" else BATCH_SIZE  # COPY is cheap
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        with transaction.atomic():
            held = LeadImport.objects.select_for_update().filter(pk=lead_import.pk)
            if not held.filter(run_token=token).exists():
                raise ImportSuperseded
            to_update = [row for row in batch if updating and row.duplicate_of]
            to_create = [row for row in batch if not (updating and row.duplicate_of)]
            leads_create_bulk(
                rows=[_lead_columns(row, fields, client_ids, lead_import) for row in to_create],
                by=by,
                lead_import=lead_import,
                row_numbers=[row.number for row in to_create],
            )
            result = leads_update_bulk(
                changes=_update_values(to_update, mapped),
                by=by,
                lead_import=lead_import,
                import_rows={row.duplicate_of: row.number for row in to_update},
            )
            refused = {*result.refused, *result.missing}
            failed = [row for row in to_update if row.duplicate_of in refused]
            for row in failed:
                row.errors.append(
                    f"You may not change this lead (#{row.duplicate_of})"
                    if row.duplicate_of in result.refused
                    else f"Lead #{row.duplicate_of} was deleted meanwhile"
                )
            if failed and atomic:
                raise RowsRefused(failed)
            held.update(
                created_count=F("created_count") + len(to_create),
                updated_count=F("updated_count") + len(to_update) - len(failed),
                last_row=batch[-1].number,
                processed_rows=bisect.bisect_right(numbers, batch[-1].number),
                lease_until=timezone.now() + datetime.timedelta(seconds=lease_seconds()),
            )
        refused_rows += failed
    return refused_rows


def _lead_fields() -> list:
    """The model fields of ``importable_fields``, read once per batch, not once per row."""
    return [Lead._meta.get_field(name) for name in importable_fields()]


def _lead_columns(row: Row, fields: list, client_ids, lead_import) -> dict:
    """The row's new lead as columns (attnames) for the bulk insert."""
    columns = {}
    for model_field in fields:
        if model_field.is_relation:
            # Clients and contacts are looked up by id, the others as rows.
            related = row.values.get(model_field.name)
            columns[model_field.attname] = row.values.get(
                model_field.attname, related and related.pk
            )
        else:
            columns[model_field.name] = row.values[model_field.name]
    if columns["client_id"] is None and row.client_name:  # created by this import
        columns["client_id"] = client_ids.get(row.client_name.lower())
    columns["import_batch_id"] = lead_import.pk
    return columns


def updatable_fields() -> list[str]:
    """What an import may overwrite on an existing lead: every field but the client, which
    (with the title) is how the row found that lead."""
    return [name for name in importable_fields() if name != "client"]


def _update_values(rows: list[Row], mapped: set[str]) -> dict[int, dict]:
    """{lead id: the values of its row's mapped, filled-in columns} for rows that update
    an existing lead.

    An empty cell keeps the lead's value, as in other CRMs' imports: a file that leaves a
    column blank (no stage, no value) does not move the lead back to the first stage or
    wipe what someone typed.
    """
    fields = [name for name in updatable_fields() if name in mapped]
    # Related rows looked up by id (a contact) are read, a query per kind, for the services.
    by_id = {}
    for name in fields:
        field = Lead._meta.get_field(name)
        if field.is_relation and any(field.attname in row.values for row in rows):
            ids = [row.values[field.attname] for row in rows]
            by_id[name] = (field.attname, field.related_model.objects.in_bulk(ids))
    changes = {}
    for row in rows:
        values = {}
        for name in fields:
            if name in row.blank:
                continue
            if name in by_id:
                attname, found = by_id[name]
                values[name] = found.get(row.values[attname])
            else:
                values[name] = row.values.get(name)
        changes[row.duplicate_of] = values | row.filled_in
    return changes


def _finish(lead_import, token, *, skipped=0, report="", failure=""):
    """Record how the run ended, unless it lost the import meanwhile (resumed elsewhere, or
    undone); the counts of what it wrote are kept up by each batch."""
    lead_import.refresh_from_db()
    written = lead_import.created_count or lead_import.updated_count
    failed = bool(failure) and not (written or skipped)
    LeadImport.objects.filter(pk=lead_import.pk, run_token=token).update(
        status=LeadImport.Status.FAILED if failed else LeadImport.Status.DONE,
        skipped_count=skipped,
        skip_reasons=skip_reasons(report),
        error_report=report,
        failure=failure,
        processed_rows=F("total_rows") if not failed else 0,
        finished_at=timezone.now(),
        lease_until=None,
    )
    lead_import.refresh_from_db()
    return lead_import


#: Why a row was skipped, in a few words, from the first of its errors: the summary's
#: "3 rows skipped (missing title)". Most errors name their field first ("Value must be
#: non-negative", "Priority “x” is not …"): those read "invalid value", "invalid priority".
SKIP_REASONS = [
    (re.compile(r"(?P<field>.+) is required$"), "missing {field}"),
    (re.compile(r"Duplicate of lead #"), "duplicate"),
    (re.compile(r"Unknown (?P<field>[^“]+?) “"), "unknown {field}"),
    (re.compile(r"You may not change this lead"), "not yours to change"),
    (re.compile(r"Lead #\d+ was deleted meanwhile"), "lead deleted meanwhile"),
    (re.compile(r"Row \d+ already updates lead"), "lead updated by an earlier row"),
    (re.compile(r"The row has \d+ values"), "too many values"),
    (re.compile(r"Currency “"), "not in EUR"),
    (re.compile(r"Choose why the lead was lost"), "missing loss reason"),
    (re.compile(r"Say what happened"), "missing loss note"),
    (re.compile(r"The close date cannot be in the future"), "close date in the future"),
    (re.compile(r"(?P<field>.+) is longer than"), "{field} too long"),
    (
        re.compile(r"(?P<field>\w+(?: \w+){0,2}) (?:“|is |must |has |cannot |should )"),
        "invalid {field}",
    ),
]


def skip_reason(message: str) -> str:
    """A row error's reason in a few words ("missing title"), or "other errors"."""
    for pattern, reason in SKIP_REASONS:
        if match := pattern.match(message):
            return reason.format(field=match.groupdict().get("field", "").lower())
    return "other errors"


def skip_reasons(report: str) -> dict[str, int]:
    """{reason: rows} of an error report, each row by its first error, most rows first
    (then alphabetically)."""
    first_errors = {}
    for number, message in list(csv.reader(io.StringIO(report)))[1:]:
        first_errors.setdefault(number, message)
    counts = {}
    for message in first_errors.values():
        reason = skip_reason(message)
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def error_report(rows: list[Row]) -> str:
    """The rows that were not imported, as CSV: row number and every message."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "message"])
    for row in rows:
        for message in row.errors:
            writer.writerow([row.number, message])
    return out.getvalue() if rows else ""


# --- undoing ---------------------------------------------------------------------------------


def touched_since_import(lead_import: LeadImport) -> bool:
    """Whether anyone changed, moved, assigned or noted a lead of the import since."""
    imported = LeadEvent.objects.filter(events.of_import(lead_import.pk))
    lead_ids = imported.values("lead_id")
    return (
        LeadEvent.objects.filter(lead_id__in=lead_ids)
        .exclude(events.of_import(lead_import.pk))
        .filter(at__gte=lead_import.started_at or lead_import.created_at)
        .exists()
    )


#: What an import must be in to be undone: finished, or stopped halfway by a dead worker.
UNDOABLE = (LeadImport.Status.DONE, LeadImport.Status.INTERRUPTED)


def can_undo(lead_import: LeadImport) -> bool:
    return (
        lead_import.status in UNDOABLE
        and (lead_import.created_count or lead_import.updated_count) > 0
        and not touched_since_import(lead_import)
    )


class UndoRefused(Exception):
    """The import cannot be undone any more; the message says why."""


@transaction.atomic
def lead_import_undo(*, lead_import: LeadImport, by) -> int:
    """Delete the leads an import created and restore those it updated; returns the count.

    Through the lead services, as ``by``, all or nothing. Every lead must still be at the
    version the import left it at, checked under the lead's lock: an edit that lands
    while the undo runs makes the undo refuse, never vanish under it.
    """
    lead_import = LeadImport.objects.select_for_update().get(pk=lead_import.pk)
    if lead_import.status not in UNDOABLE:
        raise UndoRefused("Only a finished or interrupted import can be undone.")
    changed_since = UndoRefused(
        "Some of this import's leads were changed since, so it can no longer be undone."
    )
    if touched_since_import(lead_import):
        raise changed_since
    updates = LeadEvent.objects.filter(events.updated_by_import(lead_import.pk))
    updated = {
        lead_id: events.import_update(data)
        for lead_id, data in updates.values_list("lead_id", "data")
        if lead_id
    }
    created = list(Lead.objects.filter(import_batch=lead_import).values_list("pk", flat=True))
    try:
        restored = leads_restore_bulk(
            snapshots={pk: update.before for pk, update in updated.items()},
            versions={pk: update.version for pk, update in updated.items()},
            changes={pk: update.undo_changes for pk, update in updated.items()},
            by=by,
            lead_import=lead_import,
        )
        deleted = leads_delete_bulk(
            lead_ids=created,
            versions=dict.fromkeys(created, 1),
            by=by,
            undoing=lead_import,
        )
    except PermissionDenied as refusal:
        raise UndoRefused(str(refusal)) from None
    except LeadConflict:
        raise changed_since from None
    # A run still going (the import was interrupted only by its silence) stops here.
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.UNDONE, undone_at=timezone.now(), run_token=None
    )
    return deleted + len(restored.changed)
