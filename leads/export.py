"""CSV export of the lead list: the same filters and sort, every page, streamed."""

import csv
import datetime
import io
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from itertools import batched

from django.db import connections, models, transaction
from django.db.models import F, Func, QuerySet, Value
from django.http import QueryDict, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import pgettext_lazy
from django.views import View

from crm.web.templatetags.formatting import CURRENCY

from .filters import LeadFilter
from .forms import LeadForm
from .models import CLOSING_FIELDS, Lead

#: How an export names a related row: the name the importer finds it by again.
NAMED_BY = {
    "source": "slug",
    "stage": "name",
    "assignee": "username",
    "client": "name",
    "contact": "name",
    "lost_reason": "name",
}
#: The order of the columns people know; a field the lead form gains follows them.
ORDER = [
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
    # How it closed (empty while open): when, for how much, or why not.
    *CLOSING_FIELDS,
]
#: What the export adds to the lead form's fields, beside them: heading → lookup.
EXTRA = {
    "currency": None,  # a constant (CURRENCY)
    "pipeline": "stage__pipeline__name",
    "status": "stage__kind",
    # Computed by the lead services from the scoring criteria: the importer reads no
    # column of that name (it is not a form field), so a re-import scores afresh.
    "score": "stored_score__score",
}


def _lookup(name: str) -> str:
    if name in EXTRA:
        return EXTRA[name]
    field = Lead._meta.get_field(name)
    return f"{name}__{NAMED_BY[name]}" if field.is_relation else name


def _columns() -> dict[str, str | None]:
    """CSV heading → the lookup its value comes from (None: the currency), in order: the
    id, the lead form's fields (with the pipeline, status and currency beside them), the
    record's times. The headings are the importer's field names, so an export imports."""
    names = [*ORDER, *(name for name in LeadForm.Meta.fields if name not in ORDER)]
    return (
        {"id": "id"}
        | {name: _lookup(name) for name in names}
        | {
            "created_at": "created_at",
            "updated_at": "updated_at",
        }
    )


COLUMNS = _columns()

#: Each column's heading in the reader's language, for an export asked for with
#: ``headers=local``. The Dutch ones are names the importer knows (``import_columns``),
#: so that such a file imports as the English one does.
LOCAL_HEADINGS = {
    "id": pgettext_lazy("CSV column", "ID"),
    "title": pgettext_lazy("CSV column", "Title"),
    "description": pgettext_lazy("CSV column", "Description"),
    "value": pgettext_lazy("CSV column", "Value"),
    "currency": pgettext_lazy("CSV column", "Currency"),
    "probability": pgettext_lazy("CSV column", "Probability"),
    "expected_close_date": pgettext_lazy("CSV column", "Expected close date"),
    "source": pgettext_lazy("CSV column", "Source"),
    "priority": pgettext_lazy("CSV column", "Priority"),
    "stage": pgettext_lazy("CSV column", "Stage"),
    "pipeline": pgettext_lazy("CSV column", "Pipeline"),
    "status": pgettext_lazy("CSV column", "Status"),
    "score": pgettext_lazy("CSV column", "Score"),
    "assignee": pgettext_lazy("CSV column", "Assignee"),
    "client": pgettext_lazy("CSV column", "Client"),
    "contact": pgettext_lazy("CSV column", "Contact"),
    "category": pgettext_lazy("CSV column", "Category"),
    "actual_close_date": pgettext_lazy("CSV column", "Actual close date"),
    "won_value": pgettext_lazy("CSV column", "Won value"),
    "lost_reason": pgettext_lazy("CSV column", "Lost reason"),
    "competitor": pgettext_lazy("CSV column", "Competitor"),
    "lost_note": pgettext_lazy("CSV column", "Lost note"),
    "created_at": pgettext_lazy("CSV column", "Created at"),
    "updated_at": pgettext_lazy("CSV column", "Updated at"),
}


def header_row(*, local: bool = False) -> list[str]:
    """The first row: the field names (stable, what scripts and a re-import read), or,
    when ``local``, each column's heading in the active language. A column the lead form
    gains keeps its field name until it is given a heading here."""
    if not local:
        return list(COLUMNS)
    return [str(LOCAL_HEADINGS.get(name, name)) for name in COLUMNS]


LOOKUPS = [lookup for lookup in COLUMNS.values() if lookup]

#: Rows fetched from the database at a time (a server-side cursor on PostgreSQL).
CHUNK_SIZE = 2000
#: Rows per chunk of the response: big enough to send efficiently, small enough to stream.
ROWS_PER_WRITE = 500

BOM = "\ufeff".encode()

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
# ASCII digits only, as PostgreSQL's regular expressions read them (``Inert``).
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def neutralise(cell: str) -> str:
    """Make a text cell inert in a spreadsheet: "'=SUM(A1)"; plain numbers like -5 stay."""
    if cell and cell[0] in FORMULA_TRIGGERS and not PLAIN_NUMBER.fullmatch(cell):
        return f"'{cell}"
    return cell


def utc_iso(moment: datetime.datetime) -> str:
    """2025-01-31T14:05:00Z: ISO 8601 in UTC, whatever the site's time zone."""
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _field(lookup: str) -> models.Field:
    """The model field a lookup (``client__name``) reads."""
    model, *path, name = [Lead, *lookup.split("__")]
    for step in path:
        model = model._meta.get_field(step).related_model
    return model._meta.get_field(name)


def _cell(lookup: str):
    """How a value of ``lookup`` becomes a cell, by the field it reads: free text made inert
    (``neutralise``; csv writes None as ""), times in UTC, the rest as csv writes it
    (dates and decimals with str(), choice keys as they are)."""
    field = _field(lookup)
    if isinstance(field, models.DateTimeField):
        return utc_iso
    if isinstance(field, models.CharField | models.TextField) and not field.choices:
        return neutralise
    return None


CELLS = [(index, cell) for index, lookup in enumerate(LOOKUPS) if (cell := _cell(lookup))]
CURRENCY_AT = list(COLUMNS).index("currency")


def format_row(row: tuple) -> list:
    """One values_list() row (of LOOKUPS) as CSV cells, in the order of COLUMNS."""
    cells = list(row)
    for index, cell in CELLS:
        cells[index] = cell(cells[index])
    cells.insert(CURRENCY_AT, CURRENCY)
    return cells


class Inert(Func):
    """``neutralise`` in SQL: the text with a quote before a formula, NULL for nothing.

    The first character is tested by its code: ascii() reads it in place, where left()
    copied it out, which cost five times as much over a million leads.
    """

    output_field = models.TextField()

    def as_sql(self, compiler, connection):
        text, params = compiler.compile(self.source_expressions[0])
        codes = sorted(map(ord, FORMULA_TRIGGERS))
        sql = (
            f"CASE WHEN ascii({text}) IN ({', '.join(['%s'] * len(codes))}) "
            f"AND {text} !~ %s THEN '''' || {text} ELSE NULLIF({text}, '') END"
        )
        number = f"^(?:{PLAIN_NUMBER.pattern})$"
        return sql, (*params, *codes, *params, number, *params, *params)


#: ``utc_iso`` in PostgreSQL's to_char(): 2025-01-31T14:05:00Z.
UTC_ISO = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'


def _sql_cell(lookup: str | None):
    """``_cell`` as a SQL expression, so that COPY writes what format_row would: free text
    made inert, times in UTC to the second, dates in ISO, the rest as PostgreSQL writes
    them (decimals with their cents, as str() does). Text is NULL when empty: COPY quotes
    an empty string (""), csv.writer writes it as nothing, as it writes None."""
    if lookup is None:
        return Value(CURRENCY)
    field = _field(lookup)
    if isinstance(field, models.DateTimeField):
        in_utc = Func(F(lookup), template="(%(expressions)s AT TIME ZONE 'UTC')")
        return Func(in_utc, Value(UTC_ISO), function="to_char", output_field=models.TextField())
    if isinstance(field, models.DateField):
        return Func(
            F(lookup), Value("YYYY-MM-DD"), function="to_char", output_field=models.TextField()
        )
    if isinstance(field, models.CharField | models.TextField):
        if field.choices:
            return Func(F(lookup), Value(""), function="NULLIF", output_field=field)
        return Inert(F(lookup))
    if isinstance(field, models.IntegerField | models.DecimalField):
        return F(lookup)
    # PostgreSQL writes true as "t", csv.writer as "True": say how a new type is written.
    raise TypeError(f"The export cannot write {field!r} in SQL as csv.writer writes it")


#: The cells in SQL, in the order of COLUMNS: made once, so that a field the export cannot
#: write stops this module from loading rather than an export halfway.
SQL_CELLS = [_sql_cell(lookup) for lookup in COLUMNS.values()]


def export_rows(queryset: QuerySet[Lead], *, local_headers: bool = False) -> Iterator[bytes]:
    """The leads of `queryset`, in its order, as UTF-8 CSV chunks (BOM and header first).

    The header is yielded before the query runs, so the first bytes leave at once, and
    is written here for both ways of writing the rows (``header_row``: field names, or
    headings in the active language when ``local_headers``). The rows come from
    ``copied_rows`` on PostgreSQL (the database writes the CSV) and from
    ``written_rows`` elsewhere: the same file, byte for byte.
    """
    buffer = io.StringIO()
    csv.writer(buffer).writerow(header_row(local=local_headers))
    yield BOM + buffer.getvalue().encode()
    if connections[queryset.db].vendor == "postgresql":
        yield from copied_rows(queryset)
    else:
        yield from written_rows(queryset)


def written_rows(queryset: QuerySet[Lead]) -> Iterator[bytes]:
    """The rows as csv.writer writes them from tuples of the joined columns (no model
    instances, no query per row), read through a cursor in chunks: memory stays flat
    however many rows there are."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with reading_transaction(queryset.db):
        rows = queryset.values_list(*LOOKUPS).iterator(chunk_size=CHUNK_SIZE)
        # closing(): a download stopped halfway closes its cursor before the transaction.
        with closing(rows):
            for batch in batched(rows, ROWS_PER_WRITE, strict=False):
                writer.writerows(map(format_row, batch))
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()


def copied_rows(queryset: QuerySet[Lead]) -> Iterator[bytes]:
    """The rows as PostgreSQL writes them: ``COPY (the queryset's SELECT) TO STDOUT`` in
    CSV, each cell made by ``_sql_cell``, so that Python only passes the bytes on.

    The queryset's parameters (a search, a filter's values) are quoted in by psycopg,
    never formatted into the statement by us. The COPY is one statement that lasts as
    long as the download: the request's statement timeout is lifted for it, in a
    transaction of its own. A download stopped halfway cancels the COPY (psycopg does,
    on leaving it).
    """
    using, connection = queryset.db, connections[queryset.db]
    query = queryset.values_list(*SQL_CELLS).query
    select, params = query.get_compiler(using=using).as_sql()
    # compose_sql: psycopg quotes the parameters into the statement, as a client-side
    # cursor does (COPY takes no bound parameters).
    statement = connection.ops.compose_sql(f"COPY ({select}) TO STDOUT (FORMAT csv)", params)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 0")
        with cursor.copy(statement) as copy:
            rows = []
            # PostgreSQL sends each row as one message ending in "\n"; csv.writer, and so
            # the file, ends a row with "\r\n" (a line break inside a quoted value stays).
            for row in copy:
                rows.append(row[:-1])
                if len(rows) == ROWS_PER_WRITE:
                    rows.append(b"")
                    yield b"\r\n".join(rows)
                    rows.clear()
            if rows:
                rows.append(b"")
                yield b"\r\n".join(rows)


def reading_transaction(using: str) -> AbstractContextManager:
    """A transaction around a long read on PostgreSQL, a no-op elsewhere.

    In autocommit, Django declares PostgreSQL's server-side cursor WITH HOLD, and the
    server then computes and stores the whole result before the first row comes back:
    seconds for a million leads. Inside a transaction the rows stream as they are
    found. SQLite is left alone: our settings begin its transactions IMMEDIATE, which
    would lock out every writer for as long as the download takes.
    """
    if connections[using].vendor == "postgresql":
        return transaction.atomic(using=using)
    return nullcontext()


def export_filename(today: datetime.date | None = None) -> str:
    return f"leads-export-{today or timezone.localdate():%Y-%m-%d}.csv"


#: The query parameter that asks for the headings in the reader's language.
HEADERS_PARAM = "headers"
LOCAL = "local"


def export_url(params: QueryDict) -> str:
    """The export of the list that `params` (the list's query string) shows, all pages."""
    query = params.copy()
    for name in ("page", "per_page", HEADERS_PARAM):
        query.pop(name, None)
    url = reverse("leads:export")
    return f"{url}?{query.urlencode()}" if query else url


class LeadExportView(View):
    """GET /leads/export.csv: the list's filtered and sorted leads, every page, as CSV.

    The header names the fields, as the importer and scripts read them; ``?headers=local``
    asks for the headings in the user's language instead (Dutch under Dutch), which the
    importer recognises too. Anyone signed in may export what they may read, which is
    every lead.
    """

    http_method_names = ["get"]

    def get(self, request):
        filterset = LeadFilter(request.GET, queryset=Lead.objects.all(), request=request)
        local = request.GET.get(HEADERS_PARAM) == LOCAL
        response = StreamingHttpResponse(
            export_rows(filterset.qs, local_headers=local), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=export_filename()
        )
        # Let a buffering reverse proxy (nginx) pass the rows on as they come.
        response["X-Accel-Buffering"] = "no"
        response["Cache-Control"] = "no-store"
        return response
