"""CSV import of leads: reading real-world files, mapping columns, checking rows, writing
them in bulk, and undoing an import.

The steps, each a plain function:
- `read_csv_upload(raw)`: bytes → a `CsvFile` (encoding, delimiter, headers) or ImportFileError;
- `auto_mapping(headers)`: which lead field each column holds, from English or Dutch names;
- `check_rows(lead_import)`: every row converted and checked, nothing written (the dry run);
- `lead_import_run(lead_import=...)`: the import itself, in batches;
- `lead_import_undo(lead_import=..., by=...)`: removes what an untouched import made.
"""

import csv
import datetime
import io
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.bulk import bulk_insert
from crm.models import Client, Contact
from pipelines.models import Pipeline, PipelineStage

from .forms import normalise_amount
from .models import EventKind, Lead, LeadEvent, LeadImport, LeadSource, Priority

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_LINE_CHARS = 100_000
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
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise ImportFileError(
                f"Line {number} is longer than {MAX_LINE_CHARS:,} characters; "
                "this does not look like a CSV file of leads."
            )
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter, headers = _sniff(header_line)
    if len(headers) < 2 and not _known_field(headers[0] if headers else ""):
        raise ImportFileError(
            "Could not find columns in the first row. Use a comma- or semicolon-separated "
            "file whose first row names the columns (for example Title;Value;Stage)."
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


def iter_rows(lead_import: LeadImport):
    """(spreadsheet row number, cells) for each non-empty data row; the header is row 1."""
    text = bytes(lead_import.content).decode(
        "utf-8-sig" if lead_import.encoding == "utf-8" else lead_import.encoding
    )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=lead_import.delimiter)
    try:
        next(reader)  # the header
        for number, cells in enumerate(reader, start=2):
            if any(cell.strip() for cell in cells):
                yield number, cells
    except csv.Error as error:
        raise ImportFileError(f"Row {reader.line_num} could not be read: {error}.") from None


# --- mapping columns to fields ----------------------------------------------------------------

#: Lead fields a column can fill, with the English and Dutch names a header may use.
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
}
FIELD_LABELS = {
    "title": "Title",
    "description": "Description",
    "value": "Value (EUR)",
    "probability": "Probability (%)",
    "expected_close_date": "Expected close date",
    "source": "Source",
    "priority": "Priority",
    "stage": "Stage",
    "pipeline": "Pipeline",
    "assignee": "Assignee",
    "client": "Client",
    "contact": "Contact",
    "category": "Category",
    "currency": "Currency (must be EUR)",
}
_HEADER_TO_FIELD = {name: key for key, names in FIELDS.items() for name in (key, *names)}


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s_\-.:()]+", " ", name.strip().lower()).strip()


def _known_field(header: str) -> str | None:
    return _HEADER_TO_FIELD.get(_normalise_header(header))


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

PRIORITY_NAMES = {
    "low": Priority.LOW,
    "laag": Priority.LOW,
    "normal": Priority.NORMAL,
    "normaal": Priority.NORMAL,
    "medium": Priority.NORMAL,
    "high": Priority.HIGH,
    "hoog": Priority.HIGH,
    "urgent": Priority.URGENT,
    "dringend": Priority.URGENT,
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
        self.users = {}
        for user in get_user_model().objects.filter(is_active=True).order_by("-pk"):
            if user.email:
                self.users[user.email.lower()] = user
            self.users[user.get_username().lower()] = user
        self.clients = {}
        for pk, name in Client.objects.alive().order_by("-pk").values_list("pk", "name"):
            self.clients[name.strip().lower()] = pk
        self.contacts: dict[tuple[int, str], int] = {}
        for pk, client_id, name, email in (
            Contact.objects.alive().order_by("-pk").values_list("pk", "client_id", "name", "email")
        ):
            self.contacts[(client_id, name.strip().lower())] = pk
            if email:
                self.contacts[(client_id, email.strip().lower())] = pk


def convert_row(number: int, cells: list[str], mapping: dict[str, str], lookups: Lookups) -> Row:
    """Turn a row's cells into lead values, collecting a clear message for each problem."""
    row = Row(number=number)
    raw = {
        key: _unneutralise(cells[int(index)].strip())
        for index, key in mapping.items()
        if int(index) < len(cells)
    }
    values, errors = row.values, row.errors

    title = raw.get("title", "")
    if not title:
        errors.append("Title is required")
    elif len(title) > 255:
        errors.append("Title is longer than 255 characters")
    values["title"] = title

    description = raw.get("description", "")
    if len(description) > 5000:
        errors.append("Description is longer than 5000 characters")
    values["description"] = description

    category = raw.get("category", "")
    if len(category) > 100:
        errors.append("Category is longer than 100 characters")
    values["category"] = category

    currency = raw.get("currency", "")
    if currency and currency.upper() not in ("EUR", "€"):
        errors.append(f"Currency “{currency}” is not EUR")

    values["value"] = None
    if text := raw.get("value", ""):
        try:
            amount = Decimal(normalise_amount(text))
        except InvalidOperation:
            errors.append(f"Value “{text}” is not an amount")
        else:
            if amount < 0:
                errors.append("Value must be non-negative")
            elif amount != amount.quantize(Decimal("0.01")) or amount >= Decimal("1e12"):
                errors.append(f"Value “{text}” has too many digits")
            else:
                values["value"] = amount

    values["probability"] = None
    if text := raw.get("probability", "").rstrip("%").strip():
        try:
            probability = int(Decimal(text.replace(",", ".")))
        except InvalidOperation:
            errors.append(f"Probability “{text}” is not a number")
        else:
            if 0 <= probability <= 100:
                values["probability"] = probability
            else:
                errors.append("Probability must be between 0 and 100")

    values["expected_close_date"] = None
    if text := raw.get("expected_close_date", ""):
        values["expected_close_date"] = parse_date(text)
        if values["expected_close_date"] is None:
            errors.append(f"Date “{text}” is not a date (use 31-12-2026 or 2026-12-31)")

    values["priority"] = Priority.NORMAL
    if text := raw.get("priority", ""):
        if text.lower() in PRIORITY_NAMES:
            values["priority"] = PRIORITY_NAMES[text.lower()]
        else:
            errors.append(f"Priority “{text}” is not low, normal, high or urgent")

    values["source"] = None
    if text := raw.get("source", ""):
        values["source"] = lookups.sources.get(text.lower())
        if values["source"] is None:
            errors.append(f"Unknown source “{text}”")

    pipeline = lookups.default_pipeline
    if text := raw.get("pipeline", ""):
        pipeline = lookups.pipelines.get(text.lower())
        if pipeline is None:
            errors.append(f"Unknown pipeline “{text}”")
            pipeline = lookups.default_pipeline
    if text := raw.get("stage", ""):
        values["stage"] = lookups.stages.get((pipeline.pk, text.lower()))
        if values["stage"] is None:
            errors.append(f"Unknown stage “{text}” in pipeline {pipeline.name}")
    else:
        values["stage"] = lookups.first_open.get(pipeline.pk)

    values["assignee"] = None
    if text := raw.get("assignee", ""):
        values["assignee"] = lookups.users.get(text.lower())
        if values["assignee"] is None:
            errors.append(f"Unknown user “{text}”")

    values["client_id"] = None
    if text := raw.get("client", ""):
        values["client_id"] = lookups.clients.get(text.lower())
        if values["client_id"] is None:
            row.client_name = text[:255]
    values["contact_id"] = None
    if text := raw.get("contact", ""):
        row.contact_ref = text
        if values["client_id"] is not None:
            values["contact_id"] = lookups.contacts.get((values["client_id"], text.lower()))
        if values["contact_id"] is None:
            client = raw.get("client", "")
            errors.append(
                f"Contact “{text}” is not a contact of {client}"
                if client
                else f"Contact “{text}” needs a client"
            )
    return row


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")


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
    rows = [convert_row(n, cells, mapping, lookups) for n, cells in iter_rows(lead_import)]
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
    _find_duplicates(rows)
    return CheckResult(
        rows=rows,
        total=len(rows),
        invalid=sum(1 for row in rows if not row.is_valid),
        duplicates=sum(1 for row in rows if row.duplicate_of),
        new_clients=new_clients if lead_import.create_clients else [],
    )


def _find_duplicates(rows: list[Row]) -> None:
    """Mark rows whose title and client match an existing lead (exact title)."""
    candidates = [row for row in rows if row.values.get("title") and not row.client_name]
    size = 5000
    for start in range(0, len(candidates), size):
        chunk = candidates[start : start + size]
        existing = {}
        for pk, title, client_id in _leads_titled({row.values["title"] for row in chunk}):
            existing.setdefault((title, client_id), pk)
        for row in chunk:
            row.duplicate_of = existing.get((row.values["title"], row.values["client_id"]))


def _leads_titled(titles: set[str]):
    """(id, title, client_id) of leads with one of these titles, oldest first."""
    if connection.vendor == "postgresql":  # one array parameter instead of thousands
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, title, client_id FROM leads_lead WHERE title = ANY(%s) ORDER BY id",
                [list(titles)],
            )
            return cursor.fetchall()
    found = []
    titles = list(titles)
    for start in range(0, len(titles), 500):  # SQLite's limit on query parameters
        found += (
            Lead.objects.filter(title__in=titles[start : start + 500])
            .order_by("id")
            .values_list("pk", "title", "client_id")
        )
    return found


# --- running ---------------------------------------------------------------------------------


def lead_import_run(*, lead_import: LeadImport) -> LeadImport:
    """Import the checked rows in batches; record progress, a summary and an error report."""
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.RUNNING, started_at=timezone.now(), processed_rows=0
    )
    lead_import.refresh_from_db()
    try:
        result = check_rows(lead_import)
        skipped = [row for row in result.rows if not row.is_valid]
        if lead_import.duplicates == LeadImport.Duplicates.SKIP:
            for row in result.rows:
                if row.is_valid and row.duplicate_of:
                    row.errors.append(f"Duplicate of lead #{row.duplicate_of}; skipped")
                    skipped.append(row)
        report = error_report(sorted(skipped, key=lambda row: row.number))
        LeadImport.objects.filter(pk=lead_import.pk).update(total_rows=result.total)
        if lead_import.mode == LeadImport.Mode.ALL_OR_NOTHING and result.invalid:
            return _finish(
                lead_import,
                skipped=result.total,
                report=report,
                failure=f"Nothing was imported: {result.invalid} of {result.total} rows have "
                "errors, and the import was set to all or nothing.",
            )
        valid = [row for row in result.rows if row.is_valid]
        atomic = lead_import.mode == LeadImport.Mode.ALL_OR_NOTHING
        with transaction.atomic() if atomic else _no_transaction():
            client_ids = _create_clients(result.new_clients)
            created, updated = _write(lead_import, valid, client_ids, atomic=atomic)
        return _finish(
            lead_import, created=created, updated=updated, skipped=len(skipped), report=report
        )
    except ImportFileError as error:
        return _finish(lead_import, failure=str(error))
    except Exception:
        logger.exception("Import %s failed", lead_import.pk)
        # Batches written before the error stay (skip mode commits each batch): count them,
        # so that the summary is true and the import can be undone.
        created = Lead.objects.filter(import_batch=lead_import).count()
        stopped = (
            f"The import stopped after {created} leads because of an unexpected error. "
            "Undo it and try again, or ask an admin to look at the server log."
            if created
            else "The import stopped because of an unexpected error; nothing was imported. "
            "Try again, or ask an admin to look at the server log."
        )
        return _finish(lead_import, created=created, failure=stopped)


class _no_transaction:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _create_clients(names: list[str]) -> dict[str, int]:
    clients = Client.objects.bulk_create([Client(name=name) for name in names], batch_size=1000)
    if clients and clients[0].pk is None:  # backends that do not return keys
        return {
            name.lower(): pk
            for name, pk in Client.objects.filter(name__in=names).values_list("name", "pk")
        }
    return {client.name.lower(): client.pk for client in clients}


def _write(lead_import, rows: list[Row], client_ids: dict[str, int], *, atomic: bool):
    """Create (or update duplicates of) the leads, a batch of rows per transaction."""
    created = updated = 0
    now = timezone.now()
    actor_id = lead_import.created_by_id
    size = BATCH_SIZE * 5 if connection.vendor == "postgresql" else BATCH_SIZE  # COPY is cheap
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        with transaction.atomic():
            to_update = (
                [row for row in batch if row.duplicate_of]
                if lead_import.duplicates == LeadImport.Duplicates.UPDATE
                else []
            )
            updating = {id(row) for row in to_update}
            to_create = [row for row in batch if id(row) not in updating]
            leads = [
                _lead_columns(row, client_ids, lead_import, actor_id, now) for row in to_create
            ]
            lead_ids = _insert(Lead, leads)
            events = [
                {
                    "lead_id": lead_id,
                    "actor_id": actor_id,
                    "at": now,
                    "kind": EventKind.IMPORTED,
                    "data": {
                        "import_id": lead_import.pk,
                        "file": lead_import.file_name,
                        "row": row.number,
                    },
                }
                for lead_id, row in zip(lead_ids, to_create, strict=True)
            ]
            _insert(LeadEvent, events)
            LeadEvent.objects.bulk_create(
                _update_duplicates(lead_import, to_update, lead_import.created_by, now)
            )
            created += len(leads)
            updated += len(to_update)
        if not atomic:  # progress other requests can see while the import runs
            LeadImport.objects.filter(pk=lead_import.pk).update(processed_rows=start + len(batch))
    return created, updated


def _lead_columns(row: Row, client_ids, lead_import, actor_id, now) -> dict:
    values = row.values
    stage = values["stage"]
    probability = values["probability"]
    return {
        "title": values["title"],
        "description": values["description"],
        "value": values["value"],
        "probability": stage.probability if probability is None else probability,
        "source_id": values["source"].pk if values["source"] else None,
        "priority": values["priority"],
        "expected_close_date": values["expected_close_date"],
        "category": values["category"],
        "stage_id": stage.pk,
        "client_id": values["client_id"] or client_ids.get(row.client_name.lower()),
        "contact_id": values["contact_id"],
        "assignee_id": values["assignee"].pk if values["assignee"] else None,
        "created_by_id": actor_id,
        "import_batch_id": lead_import.pk,
        "created_at": now,
        "updated_at": now,
        "stage_entered_at": now,
        "last_activity_at": now,
        "closed_at": None if stage.is_open else now,
        "version": 1,
    }


def _insert(model, rows: list[dict]) -> list[int]:
    """Insert rows given as dicts of attnames; their new ids, in order."""
    if not rows:
        return []
    columns = list(rows[0])
    values = (tuple(row.values()) for row in rows)
    return bulk_insert(model, columns, values, count=len(rows), want_ids=True)


UPDATABLE = [
    "title",
    "description",
    "value",
    "probability",
    "source",
    "priority",
    "expected_close_date",
    "category",
    "stage",
    "assignee",
    "contact_id",
]


def _update_duplicates(lead_import, rows: list[Row], actor, now) -> list[LeadEvent]:
    """Overwrite existing leads with the mapped columns; remember what they held before."""
    if not rows:
        return []
    mapped = set(lead_import.mapping.values())
    fields = [f for f in UPDATABLE if f.removesuffix("_id") in mapped]
    leads = Lead.objects.select_for_update().in_bulk([row.duplicate_of for row in rows])
    events = []
    for row in rows:
        lead = leads[row.duplicate_of]
        before = {f: _jsonable(getattr(lead, _attname(f))) for f in fields}
        if "stage" in fields:  # entering a stage also moves these; undo puts them back
            before.update(
                probability=lead.probability,
                stage_entered_at=_jsonable(lead.stage_entered_at),
                closed_at=_jsonable(lead.closed_at),
            )
        for f in fields:
            if f != "stage":
                setattr(lead, f, row.values[f])
        if "stage" in fields and row.values["stage"].pk != lead.stage_id:
            lead.enter_stage(
                row.values["stage"],
                now=now,
                keep_probability="probability" in mapped and row.values["probability"] is not None,
            )
        lead.touch(now)
        events.append(
            LeadEvent(
                lead=lead,
                actor=actor,
                at=now,
                kind=EventKind.IMPORTED,
                data={
                    "import_id": lead_import.pk,
                    "file": lead_import.file_name,
                    "row": row.number,
                    "updated": True,
                    "before": before,
                    "version": lead.version,
                },
            )
        )
    Lead.objects.bulk_update(
        leads.values(),
        [
            *{_attname(f).removesuffix("_id") for f in fields},
            "probability",
            "stage_entered_at",
            "closed_at",
            "version",
            "updated_at",
            "last_activity_at",
        ],
    )
    return events


def _attname(field_name: str) -> str:
    return {"source": "source_id", "stage": "stage_id", "assignee": "assignee_id"}.get(
        field_name, field_name
    )


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _finish(lead_import, *, created=0, updated=0, skipped=0, report="", failure=""):
    failed = bool(failure) and not (created or updated or skipped)
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.FAILED if failed else LeadImport.Status.DONE,
        created_count=created,
        updated_count=updated,
        skipped_count=skipped,
        error_report=report,
        failure=failure,
        processed_rows=F("total_rows") if not failed else 0,
        finished_at=timezone.now(),
    )
    lead_import.refresh_from_db()
    return lead_import


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
    imported = LeadEvent.objects.filter(kind=EventKind.IMPORTED, data__import_id=lead_import.pk)
    lead_ids = imported.values("lead_id")
    return (
        LeadEvent.objects.filter(lead_id__in=lead_ids)
        .exclude(kind=EventKind.IMPORTED, data__import_id=lead_import.pk)
        .filter(at__gte=lead_import.started_at or lead_import.created_at)
        .exists()
    )


def can_undo(lead_import: LeadImport) -> bool:
    return (
        lead_import.status == LeadImport.Status.DONE
        and (lead_import.created_count or lead_import.updated_count) > 0
        and not touched_since_import(lead_import)
    )


class UndoRefused(Exception):
    """The import cannot be undone any more; the message says why."""


@transaction.atomic
def lead_import_undo(*, lead_import: LeadImport, by) -> int:
    """Delete the leads an import created and restore those it updated; returns the count."""
    lead_import = LeadImport.objects.select_for_update().get(pk=lead_import.pk)
    if lead_import.status != LeadImport.Status.DONE:
        raise UndoRefused("Only a finished import can be undone.")
    if touched_since_import(lead_import):
        raise UndoRefused(
            "Some of this import's leads were changed since, so it can no longer be undone."
        )
    now = timezone.now()
    created = Lead.objects.filter(import_batch=lead_import)
    audit = [
        LeadEvent(
            lead=None,
            actor=by,
            at=now,
            kind=EventKind.DELETED,
            data={"lead_id": pk, "title": title, "undo_import": lead_import.pk},
        )
        for pk, title in created.values_list("pk", "title").iterator(chunk_size=BATCH_SIZE)
    ]
    count = len(audit)
    updates = LeadEvent.objects.filter(
        kind=EventKind.IMPORTED, data__import_id=lead_import.pk, data__updated=True
    ).select_related("lead")
    for event in updates:
        lead = event.lead
        for name, value in event.data["before"].items():
            setattr(lead, _attname(name), value)
        lead.touch(now)
        lead.save()
        audit.append(
            LeadEvent(
                lead=lead,
                actor=by,
                at=now,
                kind=EventKind.IMPORTED,
                data={"undo_import": lead_import.pk, "file": lead_import.file_name},
            )
        )
        count += 1
    # Events of deleted leads are kept (lead set to NULL) as the audit trail requires.
    created.delete()
    LeadEvent.objects.bulk_create(audit, batch_size=BATCH_SIZE)
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.UNDONE, undone_at=now
    )
    return count
