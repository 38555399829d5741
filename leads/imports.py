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
import difflib
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
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import (
    get_language,
    gettext,
    gettext_lazy,
    gettext_noop,
    ngettext,
    pgettext,
)

from crm.forms import ClientForm, ContactForm
from crm.models import Client, Contact
from crm.services import clients_create_bulk, contacts_create_bulk
from pipelines.models import Pipeline, PipelineStage

from . import events, import_columns
from .forms import LeadForm, normalise_amount
from .import_columns import GENERIC, normalise
from .models import (
    CLOSING_FIELDS,
    ImportTemplate,
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


def read_csv_upload(raw: bytes, kind: str = LeadImport.Kind.LEADS) -> CsvFile:
    """Decode and sniff an uploaded file, refusing what is not a usable CSV."""
    if len(raw) > MAX_FILE_BYTES:
        raise ImportFileError(
            gettext("The file is larger than 50 MB. Split it into smaller files.")
        )
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportFileError(gettext("The file is empty."))
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            gettext("The file is in UTF-16. Save it as “CSV UTF-8” (or plain CSV) and try again.")
        )
    if b"\x00" in raw[:65536]:
        raise ImportFileError(
            gettext(
                "This is not a CSV file: it contains binary data. "
                "Export your spreadsheet as CSV and try again."
            )
        )
    notice = ""
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise ImportFileError(
                gettext(
                    "The file's text encoding is not one we know (UTF-8 or Windows-1252). "
                    "Save it as “CSV UTF-8” and try again."
                )
            ) from None
        notice = gettext(
            "The file is not UTF-8, so it was read as Windows-1252 (Excel's default). "
            "Check that accented letters look right in the preview."
        )
    control = sum(1 for char in text[:65536] if ord(char) < 32 and char not in "\t\r\n")
    if control > len(text[:65536]) / 100:
        raise ImportFileError(
            gettext("This does not look like a CSV file: it contains binary data.")
        )
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter, headers = _sniff(header_line)
    if len(headers) < 2 and not _known_field(headers[0] if headers else "", kind):
        raise ImportFileError(
            gettext(
                "Could not find columns in the first row. Use a comma- or semicolon-separated "
                "file whose first row names the columns (for example Title;Value;Stage)."
            )
        )
    if len(headers) > MAX_COLUMNS:
        raise ImportFileError(
            ngettext(
                "The file has %(count)s column; at most %(most)s can be imported. "
                "Remove the columns you do not need and upload it again.",
                "The file has %(count)s columns; at most %(most)s can be imported. "
                "Remove the columns you do not need and upload it again.",
                len(headers),
            )
            % {"count": _grouped(len(headers)), "most": MAX_COLUMNS}
        )
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise ImportFileError(
                gettext(
                    "Line %(line)s is longer than %(most)s characters; "
                    "this does not look like a CSV file of leads."
                )
                % {"line": number, "most": _grouped(MAX_LINE_CHARS)}
            )
    if not any(_known_field(name, kind) for name in headers):
        raise ImportFileError(
            gettext(
                "The first row does not name any column we know, so there seems to be no "
                "header row. Add one that names the columns, for example Title, Value, "
                "Stage, Client."
            )
        )
    return CsvFile(
        text=text, encoding=encoding, delimiter=delimiter, headers=headers, notice=notice
    )


def _grouped(number: int) -> str:
    """A count with its thousands grouped as the reader's language does: 10,001; 10.001."""
    return number_format(number, force_grouping=True)


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
                        gettext(
                            "More than %(most)s rows could not be read; this does not look "
                            "like a CSV file. Check its quotes and separator."
                        )
                        % {"most": _grouped(MAX_UNREADABLE_ROWS)}
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
        return gettext(
            "A quote opens a value on line %(line)s that never closes; "
            "the row was not imported (check the quotes in that row)"
        ) % {"line": line}
    if "field larger than field limit" in reason:
        return gettext(
            "A value starting on line %(line)s is too long; the row was not imported"
        ) % {"line": line}
    return gettext("The row on line %(line)s could not be read (%(reason)s); check its quotes") % {
        "line": line,
        "reason": reason,
    }


# --- mapping columns to fields ----------------------------------------------------------------

#: Columns a file may have that are not lead fields: they say how to read the others.
EXTRA_COLUMNS = {
    "pipeline": gettext_lazy("Pipeline"),
    "currency": gettext_lazy("Currency (must be EUR)"),
    "status": gettext_lazy("Status (open, won or lost)"),
}


def importable_fields() -> list[str]:
    """The lead's fields a column can fill: the lead form's, so a new form field imports."""
    return list(LeadForm.Meta.fields)


#: The forms whose fields an address book's import fills (clients' and contacts' own
#: pages use them), and the columns it reads beside them.
RECORD_FORMS = {LeadImport.Kind.CLIENTS: ClientForm, LeadImport.Kind.CONTACTS: ContactForm}
RECORD_EXTRAS = {
    LeadImport.Kind.CLIENTS: {
        "postcode": gettext_lazy("Postcode (part of the address)"),
        "city": gettext_lazy("City (part of the address)"),
        "country": gettext_lazy("Country (part of the address)"),
    },
    LeadImport.Kind.CONTACTS: {
        "first_name": gettext_lazy("First name (part of the name)"),
        "last_name": gettext_lazy("Last name (part of the name)"),
    },
}


def field_labels(kind: str = LeadImport.Kind.LEADS) -> dict[str, str]:
    """What the mapping step calls each field: the form's labels, then the extras."""
    if kind != LeadImport.Kind.LEADS:
        form = RECORD_FORMS[kind]
        labels = {
            name: capfirst(
                str(
                    form.base_fields[name].label
                    or form._meta.model._meta.get_field(name).verbose_name
                )
            )
            for name in form.Meta.fields
        }
        return labels | RECORD_EXTRAS[kind]
    labels = {}
    for name in importable_fields():
        # A field the form declares itself may leave its label to the model's name.
        label = LeadForm.base_fields[name].label or Lead._meta.get_field(name).verbose_name
        labels[name] = capfirst(str(label))
    return labels | EXTRA_COLUMNS


@functools.cache
def _header_names(kind: str = LeadImport.Kind.LEADS) -> dict[str, tuple[str, tuple]]:
    """{normalised header: (field, product)}, from the one alias table (``import_columns``)
    and the fields' labels in every language the site speaks: a file's header is read the
    same whoever uploads it (a Dutch export imports under English too)."""
    found: dict[str, tuple[str, tuple]] = {}
    for language, _ in settings.LANGUAGES:
        with translation.override(language):
            for name, match in import_columns.names(field_labels(kind), str(kind)).items():
                found.setdefault(name, match)
    return found


def _known_field(header: str, kind: str = LeadImport.Kind.LEADS) -> str | None:
    found = _header_names(kind).get(normalise(header))
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Recognised:
    """A column the importer recognised: the field it fills and the product whose name it
    bears (``GENERIC`` for our own and spreadsheets' names)."""

    field: str
    product: str


def recognise(headers: list[str], kind: str = LeadImport.Kind.LEADS) -> dict[str, Recognised]:
    """{column index: what it holds} for the headers we recognise; each field is used
    once (a column under one of our own names wins over a peer product's name, then the
    first column), and an unknown column is left out, so that it is ignored rather than
    read into a wrong field. A name several products share is said to be the file's
    product's: the one most of its columns name."""
    names = _header_names(kind)
    claims = [
        (str(index), *match)
        for index, header in enumerate(headers)
        if (match := names.get(normalise(header)))
    ]
    counts: dict[str, int] = {}
    for _, _, products in claims:
        for product in products:
            counts[product] = counts.get(product, 0) + (product != GENERIC)
    # Our own names first ("Titel" over Twenty's "Naam"), then from left to right.
    claims.sort(key=lambda claim: GENERIC not in claim[2])
    found, used = {}, set()
    for index, key, products in claims:
        if key not in used:
            product = max(products, key=lambda product: counts[product])
            found[index] = Recognised(key, product)
            used.add(key)
    return dict(sorted(found.items(), key=lambda item: int(item[0])))


def auto_mapping(headers: list[str], kind: str = LeadImport.Kind.LEADS) -> dict[str, str]:
    """{column index: field} for the headers we recognise; each field is used once."""
    return {index: seen.field for index, seen in recognise(headers, kind).items()}


def file_product(recognised: dict[str, Recognised]) -> str:
    """The product whose export the file looks like: the one most recognised columns were
    named by (at least two of them), else ""."""
    counts: dict[str, int] = {}
    for seen in recognised.values():
        if seen.product != GENERIC:
            counts[seen.product] = counts.get(seen.product, 0) + 1
    best = max(counts.items(), key=lambda item: item[1], default=("", 0))
    return best[0] if best[1] >= 2 else ""


# --- saved mappings --------------------------------------------------------------------------


def header_key(headers: list[str]) -> str:
    """A header as a saved mapping recognises it: its columns' names without case or
    punctuation, in order."""
    return "|".join(normalise(header) for header in headers)


def template_for(headers: list[str], kind: str) -> ImportTemplate | None:
    """The saved mapping of a file of this kind with this header (the latest saved)."""
    return (
        ImportTemplate.objects.filter(header_key=header_key(headers), kind=kind)
        .order_by("-updated_at", "-id")
        .first()
    )


def initial_mapping(
    headers: list[str], kind: str = LeadImport.Kind.LEADS
) -> tuple[dict[str, str], dict, ImportTemplate | None]:
    """How a new upload arrives mapped: as its saved mapping if its header has one (only
    fields that still import), else as its columns are recognised; and its stage map."""
    template = template_for(headers, kind)
    if template is None:
        return auto_mapping(headers, kind), {}, None
    known = set(field_labels(kind))
    mapping = {
        index: key
        for index, key in template.mapping.items()
        if key in known and int(index) < len(headers)
    }
    return mapping, dict(template.stage_map), template


def import_template_save(*, name: str, lead_import: LeadImport, by) -> ImportTemplate:
    """Save (or replace, by name among mappings of its kind) an import's confirmed
    mapping and stage map; saved mappings are the team's, as its pipelines are."""
    template, _ = ImportTemplate.objects.update_or_create(
        name=name,
        kind=lead_import.kind,
        defaults={
            "header_key": header_key(lead_import.headers),
            "headers": lead_import.headers,
            "mapping": lead_import.mapping,
            "stage_map": lead_import.stage_map,
            "created_by": by,
            "updated_at": timezone.now(),
        },
    )
    return template


# --- their stages to ours -------------------------------------------------------------------

#: The stage step lists at most this many names; a column with more is not a stage column.
MAX_STAGE_NAMES = 60


@dataclass(slots=True)
class StageSeen:
    """A stage name as the file writes it, how many rows have it, and their mean
    probability when the file has a probability column."""

    name: str
    rows: int = 0
    probability: float | None = None
    _sum: float = 0
    _counted: int = 0


def stage_names(lead_import: LeadImport, mapping: dict[str, str]) -> list[StageSeen]:
    """Every distinct stage name in the mapped stage column, the commonest first (names
    that differ only in case or punctuation are one); [] without a stage column."""
    columns = {key: int(index) for index, key in mapping.items() if key}
    if "stage" not in columns:
        return []
    stage_at, probability_at = columns["stage"], columns.get("probability")
    seen: dict[str, StageSeen] = {}
    for record in iter_rows(lead_import):
        cells = record.cells
        if stage_at >= len(cells) or not (name := cells[stage_at].strip()):
            continue
        entry = seen.get(key := name_key(name))
        if entry is None:
            if len(seen) >= MAX_STAGE_NAMES:
                continue
            entry = seen[key] = StageSeen(name)
        entry.rows += 1
        if probability_at is not None and probability_at < len(cells):
            number = _number(cells[probability_at].strip().rstrip("%").strip().replace(",", "."))
            if number is not None:
                entry._sum += float(number)
                entry._counted += 1
    for entry in seen.values():
        if entry._counted:
            entry.probability = entry._sum / entry._counted
    return sorted(seen.values(), key=lambda entry: (-entry.rows, entry.name.lower()))


def _similar_stage(name: str, stages: list[PipelineStage]) -> PipelineStage | None:
    """Our stage whose name is theirs misspelt ("Qualifed") or shares its first word's
    stem ("Proposal Made", "Negotiations started", "Contact made" → Contacted); not a
    mere likeness of letters ("Contract sent" is no "Contacted")."""
    words = normalise(name).split()
    if not words:
        return None
    for stage in stages:
        ours = normalise(stage.name)
        if difflib.SequenceMatcher(None, normalise(name), ours).ratio() >= 0.85:
            return stage
    for stage in stages:
        first = (normalise(stage.name).split() or [""])[0]
        shared = next(
            (n for n, (a, b) in enumerate(zip(words[0], first, strict=False)) if a != b),
            min(len(words[0]), len(first)),
        )
        if shared >= 5 and shared >= 0.75 * min(len(words[0]), len(first)):
            return stage
    return None


@dataclass(frozen=True, slots=True)
class StageProposal:
    stage: PipelineStage | None
    why: str


def stage_choices() -> list[PipelineStage]:
    """Our stages the stage step offers, the default pipeline's first, in order."""
    return list(
        PipelineStage.objects.select_related("pipeline").order_by(
            "-pipeline__is_default", "pipeline__name", "order"
        )
    )


def propose_stage(seen: StageSeen, stages: list[PipelineStage]) -> StageProposal:
    """Our stage for one of theirs: the same name (default pipeline first); a won or lost
    word to that kind of stage; a similar name; else the open stage nearest its
    probability (the file's mean, or the product's default stage's); else none."""
    key = name_key(seen.name)
    for stage in stages:
        if name_key(stage.name) == key:
            return StageProposal(stage, gettext("same name"))
    default = [stage for stage in stages if stage.pipeline.is_default] or stages
    status = import_columns.status_of(seen.name)
    if status in (PipelineStage.Kind.WON, PipelineStage.Kind.LOST):
        for stage in default:
            if stage.kind == status:
                why = gettext("a won stage") if status == "won" else gettext("a lost stage")
                return StageProposal(stage, why)
    if (similar := _similar_stage(seen.name, stages)) is not None:
        return StageProposal(similar, gettext("similar name"))
    probability = seen.probability
    if probability is None:
        probability = import_columns.KNOWN_STAGE_PROBABILITY.get(normalise(seen.name))
    open_stages = [s for s in default if s.is_open and s.probability is not None]
    if probability is not None and open_stages:
        nearest = min(open_stages, key=lambda stage: abs(stage.probability - probability))
        return StageProposal(
            nearest, gettext("probability %(value)s %%") % {"value": round(probability)}
        )
    return StageProposal(None, "")


# --- checking rows ---------------------------------------------------------------------------

#: Other words for a choice's value, as spreadsheets write them (the values and labels
#: themselves are always understood).
CHOICE_ALIASES = {
    "priority": {
        "laag": Priority.LOW,
        "normaal": Priority.NORMAL,
        "medium": Priority.NORMAL,
        "gemiddeld": Priority.NORMAL,  # Odoo's stars, in Dutch: Laag, Gemiddeld, Hoog, Zeer hoog
        "hoog": Priority.HIGH,
        "dringend": Priority.URGENT,
        "very high": Priority.URGENT,
        "zeer hoog": Priority.URGENT,
    },
}


@dataclass(slots=True)
class Row:
    """One data row: the values it will give the lead, or what is wrong with it."""

    number: int
    values: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    client_name: str = ""  # a client to create, when the user allows it
    client_ref: str = ""  # the client as the row names it (an address book's person)
    contact_ref: str = ""
    contact_name: str = ""  # a contact of the row's client to create, when allowed
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


@functools.lru_cache(maxsize=65536)  # a file names its clients and stages over and over
def name_key(name: str) -> str:
    """How a client's, contact's or owner's name is matched: without case, accents,
    punctuation or spaces ("Acme B.V." is "ACME BV"); a name of punctuation only, as
    typed."""
    return normalise(name).replace(" ", "") or name.strip().lower()


class Lookups:
    """Everything rows refer to, loaded once per import rather than once per row.

    ``stage_map`` is the stage step's answer: {a stage name in the file: our stage id}.
    """

    def __init__(self, *, stage_map: dict[str, int] | None = None):
        self.default_pipeline = Pipeline.objects.default()
        self.pipelines = {p.name.lower(): p for p in Pipeline.objects.all()}
        self.stages = {
            (stage.pipeline_id, stage.name.lower()): stage
            for stage in PipelineStage.objects.select_related("pipeline")
        }
        by_id = {stage.pk: stage for stage in self.stages.values()}
        self.stage_map = {
            name_key(name): by_id[pk] for name, pk in (stage_map or {}).items() if pk in by_id
        }
        self.first_open = {
            pipeline.pk: pipeline.first_open_stage() for pipeline in self.pipelines.values()
        }
        #: A pipeline's first won and first lost stage, where a status column sends a row.
        self.closing = {}
        for stage in sorted(self.stages.values(), key=lambda stage: stage.order):
            self.closing.setdefault((stage.pipeline_id, stage.kind), stage)
        self.sources = {}
        for source in LeadSource.objects.all():
            self.sources[source.slug.lower()] = source
            self.sources.setdefault(source.label.lower(), source)
        # The peers' own names for sources we have ("Phone Inquiry" is our phone).
        for name, slug in import_columns.SOURCE_VALUES.items():
            if slug in self.sources:
                self.sources.setdefault(name, self.sources[slug])
        # Inactive reasons too, as inactive sources: an export of leads lost for a reason
        # since retired imports again.
        self.loss_reasons = {}
        for reason in LossReason.objects.all():
            self.loss_reasons[reason.slug.lower()] = reason
            self.loss_reasons.setdefault(reason.name.lower(), reason)
            self.loss_reasons.setdefault(normalise(reason.name), reason)
        # Owners by email, username or full name ("Jan de Vries", as other CRMs export
        # them); an email or username wins over another user's full name.
        self.users = {}
        users = get_user_model().objects.filter(is_active=True).order_by("-pk")
        for user in users:
            if full_name := name_key(user.get_full_name()):
                self.users[full_name] = user
        for user in users:
            if user.email:
                self.users[user.email.lower()] = user
            self.users[user.get_username().lower()] = user
        self.clients = {}
        for pk, name in Client.objects.alive().order_by("-pk").values_list("pk", "name"):
            self.clients[name_key(name)] = pk

    @functools.cached_property
    def contacts(self) -> dict[tuple[int, str], int]:
        """Every contact by (client, name or email), read when a row first names one: a
        file without a contact column reads none of them."""
        contacts = {}
        for pk, client_id, name, email in (
            Contact.objects.alive().order_by("-pk").values_list("pk", "client_id", "name", "email")
        ):
            contacts[(client_id, name_key(name))] = pk
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


# The row errors a skipped row's reason is read from (``skip_reason``), as templates: a
# message is made from its template in the active language, and its reason is found by
# the same template, whatever language the import ran in.
REQUIRED = gettext_noop("%(field)s is required")
DUPLICATE = gettext_noop("Duplicate of lead #%(id)s; skipped")
NOT_YOURS = gettext_noop("You may not change this lead (#%(id)s)")
DELETED = gettext_noop("Lead #%(id)s was deleted meanwhile")
UPDATED_BEFORE = gettext_noop("Row %(row)s already updates lead #%(id)s")
NOT_EUR = gettext_noop("Currency “%(currency)s” is not EUR")
AMOUNT_NOT_EUR = gettext_noop("Currency “%(currency)s” is not EUR (%(field)s “%(value)s”)")
UNKNOWN_SOURCE = gettext_noop("Unknown source “%(value)s”")
UNKNOWN_LOSS_REASON = gettext_noop("Unknown loss reason “%(value)s”")
UNKNOWN_PIPELINE = gettext_noop("Unknown pipeline “%(value)s”")
UNKNOWN_STAGE = gettext_noop("Unknown stage “%(value)s” in pipeline %(pipeline)s")
UNKNOWN_CLIENT = gettext_noop("Unknown client “%(value)s” (choose to create missing clients)")
NOT_A_CHOICE = gettext_noop("%(field)s “%(value)s” is not %(choices)s")
NOT_AN_AMOUNT = gettext_noop("%(field)s “%(value)s” is not an amount")
NOT_A_NUMBER = gettext_noop("%(field)s “%(value)s” is not a number")
NOT_A_DATE = gettext_noop("Date “%(value)s” is not a date (use 31-12-2026 or 2026-12-31)")
TOO_MANY_DIGITS = gettext_noop("%(field)s “%(value)s” has too many digits")
BAD_STATUS = gettext_noop("Status “%(value)s” is not open, won or lost")
CONTACT_WITHOUT_CLIENT = gettext_noop("Contact “%(value)s” needs a client")
NOT_A_CONTACT = gettext_noop(
    "Contact “%(contact)s” is not a contact of %(client)s (choose to create missing contacts)"
)


def _too_long(limit: int) -> str:
    return ngettext(
        "%(field)s is longer than %(limit)s character",
        "%(field)s is longer than %(limit)s characters",
        limit,
    )


def _too_many_values(columns: int) -> str:
    return ngettext(
        "The row has %(values)s values but the header names %(columns)s column; "
        "a value may contain the separator without quotes",
        "The row has %(values)s values but the header names %(columns)s columns; "
        "a value may contain the separator without quotes",
        columns,
    )


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
        row.errors.append(_too_many_values(columns) % {"values": len(cells), "columns": columns})
    raw = {
        key: _unneutralise(cells[int(index)].strip())
        for index, key in mapping.items()
        if int(index) < len(cells)
    }
    row.blank = frozenset(key for key in mapping.values() if not raw.get(key))
    currency = raw.get("currency", "")
    if currency and currency.upper() not in ("EUR", "€"):
        row.errors.append(gettext(NOT_EUR) % {"currency": currency})
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

        def read(text):
            if not text:
                return empty
            if (value := choices.get(text.lower())) is None:
                either = gettext("%(some)s or %(last)s") % {
                    "some": ", ".join(names[:-1]),
                    "last": names[-1],
                }
                raise RowError(
                    gettext(NOT_A_CHOICE) % {"field": label, "value": text, "choices": either}
                )
            return value

    elif isinstance(field, models.DecimalField):

        def read(text):
            if not text:
                return empty
            if (currency := foreign_currency(text)) is not None:
                raise RowError(
                    gettext(AMOUNT_NOT_EUR)
                    % {"currency": currency, "field": label.lower(), "value": text}
                )
            if (amount := _number(normalise_amount(text))) is None:
                raise RowError(gettext(NOT_AN_AMOUNT) % {"field": label, "value": text})
            return amount

    elif isinstance(field, models.IntegerField):

        def read(text):
            text = text.rstrip("%").strip()
            if not text:
                return empty
            if (number := _number(text.replace(",", "."))) is None:
                raise RowError(gettext(NOT_A_NUMBER) % {"field": label, "value": text})
            return int(number)

    elif isinstance(field, models.DateField):

        def read(text):
            if not text:
                return empty
            if (day := parse_date(text)) is None:
                raise RowError(gettext(NOT_A_DATE) % {"value": text})
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
            return gettext(REQUIRED) % {"field": label} if required else None
        if limit is not None and len(value) > limit:
            return _too_long(limit) % {"field": label, "limit": limit}
        try:
            for validator in others:
                validator(value)
        except ValidationError as error:
            if error.code in ("max_digits", "max_decimal_places", "max_whole_digits"):
                return gettext(TOO_MANY_DIGITS) % {"field": label, "value": text}
            return error.messages[0].rstrip(".")
        return None

    return check


# --- related rows: found by name, each kind in its own way -----------------------------------


def _by_name(field: str, names: str, unknown: str):
    """A resolver of rows named in one of ``lookups``' dictionaries (lower-cased names);
    ``unknown`` is the message (a template) for a name that is not there."""

    def resolve(row, text, raw, lookups) -> None:
        row.values[field] = None
        if text:
            found = getattr(lookups, names)
            row.values[field] = found.get(text.lower()) or found.get(normalise(text))
            if row.values[field] is None:
                raise RowError(gettext(unknown) % {"value": text})

    return resolve


def _resolve_stage(row, text, raw, lookups) -> None:
    """A stage as the stage step matched the file's name to ours, else by name in the
    row's pipeline (the default one unless a column names it); a status column (won,
    lost) then moves the row to its pipeline's won or lost stage.

    A stage the stage step chose names its pipeline, so the file's pipeline column is
    not read for it (another CRM's pipelines have names of their own).
    """
    status = raw.get("status", "")
    said = import_columns.status_of(status) if status else None
    if status and said is None:
        row.errors.append(gettext(BAD_STATUS) % {"value": status})
    stage = lookups.stage_map.get(name_key(text)) if text else None
    if stage is None:
        pipeline = lookups.default_pipeline
        if name := raw.get("pipeline", ""):
            pipeline = lookups.pipelines.get(name.lower())
            if pipeline is None:
                row.errors.append(gettext(UNKNOWN_PIPELINE) % {"value": name})
                pipeline = lookups.default_pipeline
        if not text:
            stage = lookups.first_open.get(pipeline.pk)
        elif (stage := lookups.stages.get((pipeline.pk, text.lower()))) is None:
            row.values["stage"] = None
            raise RowError(gettext(UNKNOWN_STAGE) % {"value": text, "pipeline": pipeline.name})
    if said in ("won", "lost") and stage.kind != said:
        stage = lookups.closing.get((stage.pipeline_id, said), stage)
    row.values["stage"] = stage


def _resolve_assignee(row, text, raw, lookups) -> None:
    """An owner by email, username or full name; one who is not a user here leaves the
    lead unassigned, which the preview says (refusing the row would lose the deal)."""
    row.values["assignee"] = None
    if text:
        user = lookups.users.get(text.lower()) or lookups.users.get(name_key(text))
        if user is None:
            row.notices.append(
                gettext("Owner “%(value)s” is not a user here: imported unassigned")
                % {"value": text}
            )
        row.values["assignee"] = user


def _resolve_client(row, text, raw, lookups) -> None:
    """A client by name, without case or punctuation; an unknown one is created when the
    import allows it."""
    row.values["client_id"] = None
    if text:
        row.values["client_id"] = lookups.clients.get(name_key(text))
        if row.values["client_id"] is None:
            row.client_name = text[:255]


def _resolve_contact(row, text, raw, lookups) -> None:
    """A contact by name or email among the row's client's contacts; an unknown one of a
    named client is created when the import allows it (``check_rows``)."""
    row.values["contact_id"] = None
    if not text:
        return
    row.contact_ref = text
    if row.values.get("client_id") is not None:
        contacts = lookups.contacts
        client_id = row.values["client_id"]
        row.values["contact_id"] = contacts.get((client_id, text.lower())) or contacts.get(
            (client_id, name_key(text))
        )
    if row.values["contact_id"] is None:
        if not raw.get("client", ""):
            raise RowError(gettext(CONTACT_WITHOUT_CLIENT) % {"value": text})
        row.contact_name = text[:255]


#: How a cell names a related row, by the related model.
RESOLVERS = {
    LeadSource: _by_name("source", "sources", UNKNOWN_SOURCE),
    PipelineStage: _resolve_stage,
    get_user_model(): _resolve_assignee,
    Client: _resolve_client,
    Contact: _resolve_contact,
    LossReason: _by_name("lost_reason", "loss_reasons", UNKNOWN_LOSS_REASON),
}


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")
#: A time after a date, as exports write it: "00:00", "10:30:00", "T10:30:00.000Z",
#: "T10:30:00+01:00".
_TIME = re.compile(r"[T ]\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?")
#: An amount with a currency before or after it: "$ 1,200.00", "1.200,00 USD", "£500".
_AMOUNT_CURRENCY = re.compile(
    r"(?P<before>[A-Za-z]{3}|[$£¥₹₽]|US\$)?\s*[-+]?\d[\d.,\s\u00a0']*?\s*(?P<after>[A-Za-z]{3}|[$£¥₹₽])?"
)


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


def foreign_currency(text: str) -> str | None:
    """The currency an amount is written in when it is not EUR ("USD", "$"), else None."""
    match = _AMOUNT_CURRENCY.fullmatch(text.strip())
    if match is None:
        return None
    currency = match["before"] or match["after"]
    if currency is None or currency.upper() == "EUR":
        return None
    return currency


def parse_date(text: str) -> datetime.date | None:
    """ISO, or day first as Dutch and English spreadsheets write it (31-12-2026, 31/12/2026),
    with or without a time after it, as other CRMs export dates: "2027-02-15 00:00",
    "2027-02-15T10:30:00Z". A time with a zone gives the day it is here."""
    text = text.strip()
    date_part, time_part = text, ""
    if (split := _TIME.search(text)) and split.end() == len(text) and split.start() > 0:
        date_part, time_part = text[: split.start()], text[split.start() :]
    if match := _ISO_DATE.fullmatch(date_part):
        year, month, day = match.groups()
    elif match := _DAY_FIRST.fullmatch(date_part):
        day, month, year = match.groups()
        if len(year) == 2:
            year = f"20{year}"
    else:
        return None
    try:
        day = datetime.date(int(year), int(month), int(day))
    except ValueError:
        return None
    if time_part:
        hour, minute, second, zone = _TIME.fullmatch(time_part).groups()
        try:
            moment = datetime.datetime.combine(
                day, datetime.time(int(hour), int(minute), int(second or 0))
            )
        except ValueError:
            return None
        if zone:
            offset = datetime.UTC
            if zone != "Z":
                sign = -1 if zone[0] == "-" else 1
                hours, minutes = int(zone[1:3]), int(zone[-2:])
                offset = datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))
            day = timezone.localtime(moment.replace(tzinfo=offset)).date()
    return day


@dataclass
class CheckResult:
    rows: list[Row]
    total: int
    invalid: int
    duplicates: int
    new_clients: list[str]
    #: (client name, contact name) of the contacts the import will create.
    new_contacts: list[tuple[str, str]] = field(default_factory=list)


def check_rows(lead_import: LeadImport) -> CheckResult:
    """The dry run: every row converted and checked against the database; nothing written."""
    lookups = Lookups(stage_map=lead_import.stage_map)
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
            first_spelling.setdefault(name_key(row.client_name), row.client_name)
    new_clients = sorted(first_spelling.values(), key=str.lower)
    if not lead_import.create_clients:
        for row in rows:
            if row.client_name:
                row.errors.append(gettext(UNKNOWN_CLIENT) % {"value": row.client_name})
    new_contacts = _check_new_contacts(rows, lead_import, lookups)
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
        new_contacts=new_contacts,
    )


def _client_name_of(row: Row, client_names: dict[int, str]) -> str:
    return row.client_name or client_names.get(row.values.get("client_id"), "")


def _check_new_contacts(rows: list[Row], lead_import: LeadImport, lookups) -> list:
    """The contacts rows name that their client lacks: created when the import allows it
    (each once, under its client), else each such row is refused."""
    naming = [row for row in rows if row.contact_name]
    if not naming:
        return []
    client_names = dict(
        Client.objects.filter(pk__in={row.values.get("client_id") for row in naming}).values_list(
            "pk", "name"
        )
    )
    new = {}
    for row in naming:
        if row.client_name and not lead_import.create_clients:
            continue  # refused for its client already
        client = _client_name_of(row, client_names)
        if not lead_import.create_contacts:
            row.errors.append(
                gettext(NOT_A_CONTACT) % {"contact": row.contact_name, "client": client}
            )
        else:
            key = (name_key(client), name_key(row.contact_name))
            new.setdefault(key, (client, row.contact_name))
    return sorted(new.values(), key=lambda pair: (pair[0].lower(), pair[1].lower()))


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
            row.errors.append(gettext(NOT_YOURS) % {"id": row.duplicate_of})
        elif row.duplicate_of in updated_by:
            row.errors.append(
                gettext(UPDATED_BEFORE)
                % {"row": updated_by[row.duplicate_of], "id": row.duplicate_of}
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


#: The note of a lost row imported without a reason (with the reason "Other"), written
#: in the language of the run.
NO_REASON_NOTE = gettext_lazy("Imported without a reason")


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
                "lost_note": given["lost_note"] or str(NO_REASON_NOTE),
            }
            given |= row.filled_in
            row.values |= row.filled_in
            row.notices.append(
                gettext("No loss reason: imported as “%(reason)s” with the note “%(note)s”")
                % {"reason": reason.name, "note": row.filled_in["lost_note"]}
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


def lead_import_run(*, lead_import: LeadImport, write=None) -> LeadImport:
    """Import the checked rows in batches; record progress, a summary and an error report.

    Each batch commits with the progress it made, so a run that dies (a killed worker)
    leaves a true count and the last row written: ``queue_lead_import`` resumes it
    after that row, and undo removes what it wrote. Only the run holding the import's
    token writes: one that lost it stops at its next batch.

    ``write(lead_import, token)``, when given, checks and writes the rows of an import of
    another kind (an address book: ``leads.address_imports``) under the same lease.
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
                lead_import,
                token,
                failure=gettext("The user who uploaded this file was removed."),
            )
        if write is not None:
            return write(lead_import, token)
        result = check_rows(lead_import)
        skipped = [row for row in result.rows if not row.is_valid]
        if lead_import.duplicates == LeadImport.Duplicates.SKIP:
            for row in result.rows:
                if row.is_valid and row.duplicate_of:
                    row.errors.append(gettext(DUPLICATE) % {"id": row.duplicate_of})
                    skipped.append(row)
        if lead_import.mode == LeadImport.Mode.ALL_OR_NOTHING and result.invalid:
            return _finish_nothing_imported(lead_import, token, result, skipped)
        # Rows up to last_row were written by an earlier run of this import.
        valid = [row for row in result.rows if row.is_valid and row.number > lead_import.last_row]
        atomic = lead_import.mode == LeadImport.Mode.ALL_OR_NOTHING
        # All or nothing holds every batch in one transaction: its lease must cover them.
        _renew(lead_import, token, total=result.total, rows=len(valid) if atomic else 0)
        try:
            with transaction.atomic() if atomic else nullcontext():
                client_ids = _create_clients(lead_import, result.new_clients)
                contact_ids = _create_contacts(lead_import, result.new_contacts, client_ids)
                skipped += _write(
                    lead_import,
                    valid,
                    client_ids,
                    contact_ids,
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
                failure=gettext(
                    "Nothing was imported: some rows may not be written after all, "
                    "and the import was set to all or nothing."
                ),
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
            ngettext(
                "The import stopped after %(count)s lead because of an unexpected error. "
                "Undo it and try again, or ask an admin to look at the server log.",
                "The import stopped after %(count)s leads because of an unexpected error. "
                "Undo it and try again, or ask an admin to look at the server log.",
                written,
            )
            % {"count": written}
            if written
            else gettext(
                "The import stopped because of an unexpected error; nothing was imported. "
                "Try again, or ask an admin to look at the server log."
            )
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
    return {name_key(name): pk for name, pk in zip(names, ids, strict=True)}


def _create_contacts(lead_import, pairs, client_ids) -> dict:
    """The missing contacts, each under its client (one this import made, or one found by
    name), created as the import's user; {(client id, name key): contact id}."""
    if not pairs:
        return {}
    known_clients = {}
    for pk, name in Client.objects.alive().order_by("-pk").values_list("pk", "name"):
        known_clients[name_key(name)] = pk
    wanted = []
    for client, name in pairs:
        client_id = client_ids.get(name_key(client)) or known_clients.get(name_key(client))
        if client_id is not None:
            wanted.append((client_id, name))
    ids = contacts_create_bulk(
        contacts=wanted,
        by=lead_import.created_by,
        event_data={"import_id": lead_import.pk, "file": lead_import.file_name},
    )
    return {
        (client_id, name_key(name)): pk for (client_id, name), pk in zip(wanted, ids, strict=True)
    }


def _write(
    lead_import,
    rows: list[Row],
    client_ids,
    contact_ids,
    *,
    token,
    atomic: bool,
    numbers: list[int],
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
            for row in to_update:
                if row.contact_name:  # a contact this import created
                    row.values["contact_id"] = contact_ids.get(
                        (row.values["client_id"], name_key(row.contact_name))
                    )
            to_create = [row for row in batch if not (updating and row.duplicate_of)]
            leads_create_bulk(
                rows=[
                    _lead_columns(row, fields, client_ids, contact_ids, lead_import)
                    for row in to_create
                ],
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
                refusal = NOT_YOURS if row.duplicate_of in result.refused else DELETED
                row.errors.append(gettext(refusal) % {"id": row.duplicate_of})
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


def _lead_columns(row: Row, fields: list, client_ids, contact_ids, lead_import) -> dict:
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
        columns["client_id"] = client_ids.get(name_key(row.client_name))
    if columns.get("contact_id") is None and row.contact_name:  # created by this import
        columns["contact_id"] = contact_ids.get((columns["client_id"], name_key(row.contact_name)))
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


def _finish_nothing_imported(lead_import, token, result, skipped: list):
    """End an all-or-nothing import whose file has errors: nothing written, every row
    skipped, the report listing ``skipped``."""
    return _finish(
        lead_import,
        token,
        skipped=result.total,
        report=error_report(skipped),
        failure=ngettext(
            "Nothing was imported: %(invalid)s of %(total)s rows have errors, and the "
            "import was set to all or nothing.",
            "Nothing was imported: %(invalid)s of %(total)s rows have errors, and the "
            "import was set to all or nothing.",
            result.invalid,
        )
        % {"invalid": result.invalid, "total": result.total},
    )


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
#: These read English messages (an English run's, or one from before the importer spoke
#: Dutch); ``_reasons_by_template`` reads the importer's own in the active language.
SKIP_REASONS = [
    (re.compile(r"(?P<field>.+) is required$"), gettext_noop("missing %(field)s")),
    (re.compile(r"Duplicate of lead #"), gettext_noop("duplicate")),
    (re.compile(r"Unknown (?P<field>[^“]+?) “"), gettext_noop("unknown %(field)s")),
    (re.compile(r"You may not change this lead"), gettext_noop("not yours to change")),
    (re.compile(r"Lead #\d+ was deleted meanwhile"), gettext_noop("lead deleted meanwhile")),
    (
        re.compile(r"Row \d+ already updates lead"),
        gettext_noop("lead updated by an earlier row"),
    ),
    (re.compile(r"The row has \d+ values"), gettext_noop("too many values")),
    (re.compile(r"Currency “"), gettext_noop("not in EUR")),
    (re.compile(r"Choose why the lead was lost"), gettext_noop("missing loss reason")),
    (re.compile(r"Say what happened"), gettext_noop("missing loss note")),
    (
        re.compile(r"The close date cannot be in the future"),
        gettext_noop("close date in the future"),
    ),
    (re.compile(r"(?P<field>.+) is longer than"), gettext_noop("%(field)s too long")),
    (re.compile(r"Exists already"), gettext_noop("duplicate")),
    (re.compile(r"The same as row \d+"), gettext_noop("repeated in the file")),
    (re.compile(r"A person needs an organization"), gettext_noop("missing organization")),
]
#: Last, whatever the language: a model's message after its field ("Email: Enter a …"),
#: or a sentence about a field (English).
GENERIC_REASONS = [
    (re.compile(r"(?P<field>[\w-]+(?: [\w-]+){0,2}): "), gettext_noop("invalid %(field)s")),
    (
        re.compile(r"(?P<field>\w+(?: \w+){0,2}) (?:“|is |must |has |cannot |should )"),
        gettext_noop("invalid %(field)s"),
    ),
]

#: An address book's row errors (``leads.address_imports``), here for their reasons.
EXISTS = gettext_noop("Exists already (#%(id)s); skipped")
SAME_AS_ROW = gettext_noop("The same as row %(row)s")
NO_ORGANIZATION = gettext_noop("A person needs an organization: the row names none")
NOT_ONE_OF = gettext_noop("%(field)s “%(value)s” is not one of %(choices)s")


def _reasons_by_template() -> list[tuple[list[str], str]]:
    """Each row error's templates in the active language (both forms of a plural), and
    the reason it gives. The lead's closing rules are the model's messages."""
    return [
        ([gettext(REQUIRED)], gettext_noop("missing %(field)s")),
        ([gettext(DUPLICATE), gettext(EXISTS)], gettext_noop("duplicate")),
        ([gettext(UNKNOWN_SOURCE)], gettext_noop("unknown source")),
        ([gettext(UNKNOWN_LOSS_REASON)], gettext_noop("unknown loss reason")),
        ([gettext(UNKNOWN_PIPELINE)], gettext_noop("unknown pipeline")),
        ([gettext(UNKNOWN_STAGE)], gettext_noop("unknown stage")),
        ([gettext(UNKNOWN_CLIENT)], gettext_noop("unknown client")),
        ([gettext(NOT_YOURS)], gettext_noop("not yours to change")),
        ([gettext(DELETED)], gettext_noop("lead deleted meanwhile")),
        ([gettext(UPDATED_BEFORE)], gettext_noop("lead updated by an earlier row")),
        ([_too_many_values(1), _too_many_values(2)], gettext_noop("too many values")),
        ([gettext(NOT_EUR), gettext(AMOUNT_NOT_EUR)], gettext_noop("not in EUR")),
        ([gettext("Choose why the lead was lost.")], gettext_noop("missing loss reason")),
        (
            [gettext("Say what happened: the reason “%(reason)s” needs a note.")],
            gettext_noop("missing loss note"),
        ),
        (
            [gettext("The close date cannot be in the future.")],
            gettext_noop("close date in the future"),
        ),
        ([_too_long(1), _too_long(2)], gettext_noop("%(field)s too long")),
        ([gettext(SAME_AS_ROW)], gettext_noop("repeated in the file")),
        ([gettext(NO_ORGANIZATION)], gettext_noop("missing organization")),
        (
            [
                gettext(template)
                for template in (
                    NOT_A_CHOICE,
                    NOT_ONE_OF,
                    NOT_AN_AMOUNT,
                    NOT_A_NUMBER,
                    TOO_MANY_DIGITS,
                )
            ],
            gettext_noop("invalid %(field)s"),
        ),
        ([gettext(NOT_A_DATE)], gettext_noop("invalid date")),
        ([gettext(BAD_STATUS)], gettext_noop("invalid status")),
        (
            [gettext(CONTACT_WITHOUT_CLIENT), gettext(NOT_A_CONTACT)],
            gettext_noop("invalid contact"),
        ),
    ]


def _template_pattern(template: str) -> re.Pattern:
    """A message template as a pattern matching the start of its messages: the field's
    placeholder a group, every other placeholder anything."""
    parts = re.split(r"%\((\w+)\)s", template.removesuffix("."))
    pattern = "".join(
        (("(?P<field>.+?)" if part == "field" else ".+?") if index % 2 else re.escape(part))
        for index, part in enumerate(parts)
    )
    return re.compile(pattern)


@functools.lru_cache(maxsize=8)
def _skip_patterns(language: str | None) -> list[tuple[re.Pattern, str]]:
    """Every (pattern, reason) ``skip_reason`` tries, in order, for a language."""
    by_template = [
        (_template_pattern(template), reason)
        for templates, reason in _reasons_by_template()
        for template in templates
    ]
    return [*by_template, *SKIP_REASONS, *GENERIC_REASONS]


def skip_reason(message: str) -> str:
    """A row error's reason in a few words ("missing title"), or "other errors", in the
    active language."""
    for pattern, reason in _skip_patterns(get_language()):
        if match := pattern.match(message):
            return gettext(reason) % {"field": match.groupdict().get("field", "").lower()}
    return gettext("other errors")


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


def error_report_header() -> list[str]:
    """The error report's columns, in the language of the run."""
    return [pgettext("CSV column", "row"), pgettext("CSV column", "message")]


def error_report(rows: list[Row]) -> str:
    """The rows that were not imported, as CSV: row number and every message."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(error_report_header())
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
        raise UndoRefused(gettext("Only a finished or interrupted import can be undone."))
    changed_since = UndoRefused(
        gettext("Some of this import's leads were changed since, so it can no longer be undone.")
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
