"""Cursor pages for the API's lists: stable while others write.

A page ends with a cursor that names its last row by the sort's value and the row's id;
the next page is the rows after that pair in the same order (a keyset, as the lead
list's "Next" link seeks, ``leads.paging``). Rows added, removed or changed elsewhere in
the list meanwhile shift nothing: no row that stays where it was is skipped or listed
twice. A row whose sort value changes between two pages moves with it (sorted by
``-updated_at``, the default, a lead changed meanwhile goes to the front).

It works for any order of the form (expression, id) with empty values last, as the
lists' filter sets sort (``SortedFilterSet.filter_sort``): the expression may be a
related row's column, a computed one (the priority's rank) or one that can be empty.
The cursor is opaque to clients: base64 of the sort's name, the value and the id.
"""

import base64
import binascii
import datetime
import json
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import F, OrderBy, Q, QuerySet
from django.utils.translation import gettext, gettext_noop

from .errors import Invalid

#: The annotation that carries each row's sort value.
VALUE = "_cursor_value"
#: The largest id a database column holds: a cursor naming more was not made here.
MAX_ID = 2**63 - 1
UNREADABLE = gettext_noop("This cursor cannot be read: start again without it.")
OTHER_SORT = gettext_noop("This cursor belongs to another sort: start again without it.")


def page(
    queryset: QuerySet, *, sort: str, cursor: str | None, limit: int
) -> tuple[list, str | None]:
    """The ``limit`` rows of the sorted ``queryset`` after ``cursor`` (None: from the
    start), and the cursor after the last of them (None: no more rows)."""
    order = _order(queryset)
    rows = queryset.annotate(**{VALUE: order.expression})
    if cursor:
        value, pk = _read(cursor, sort, rows)
        rows = rows.filter(_after(order, value, pk))
    found = list(rows[: limit + 1])
    if len(found) <= limit:
        return found, None
    found = found[:limit]
    last = found[-1]
    return found, _write(sort, getattr(last, VALUE), last.pk)


def _order(queryset: QuerySet) -> OrderBy:
    """The sort expression, checked to be (expression, id) in the same direction."""
    ordering = queryset.query.order_by
    first, tie = ordering
    if not isinstance(first, OrderBy):
        first = OrderBy(_field(first), descending=first.startswith("-"))
    if tie != ("-id" if first.descending else "id"):
        raise ValueError(f"Cursor pages need the id to break ties, not {tie}.")
    return first


def _field(name: str) -> F:
    return F(name.removeprefix("-"))


def _after(order: OrderBy, value, pk: int) -> Q:
    """The rows after (``value``, ``pk``) in the order; empty values come last."""
    beyond = "lt" if order.descending else "gt"
    if value is None:
        return Q(**{f"{VALUE}__isnull": True, f"pk__{beyond}": pk})
    return (
        Q(**{f"{VALUE}__{beyond}": value})
        | Q(**{VALUE: value, f"pk__{beyond}": pk})
        | Q(**{f"{VALUE}__isnull": True})
    )


def _write(sort: str, value, pk: int) -> str:
    text = json.dumps({"s": sort, "v": _plain(value), "id": pk})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _plain(value):
    """A sort value as JSON holds it exactly: moments to the microsecond (Django's JSON
    encoder keeps milliseconds, which would put the row itself after its own cursor)."""
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _read(cursor: str, sort: str, rows: QuerySet) -> tuple:
    """(value, id) from a cursor this sort wrote; 422 for any other text."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        data = json.loads(text)
        pk, raw = data["id"], data["v"]
        written_for = data["s"]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError):
        raise Invalid({"cursor": [gettext(UNREADABLE)]}) from None
    if written_for != sort:
        raise Invalid({"cursor": [gettext(OTHER_SORT)]})
    if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk <= MAX_ID:
        raise Invalid({"cursor": [gettext(UNREADABLE)]})
    if raw is None:
        return None, pk
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise Invalid({"cursor": [gettext(UNREADABLE)]})
    field = rows.query.annotations[VALUE].output_field
    try:
        value = field.to_python(raw)
    except (ValidationError, ValueError, TypeError, OverflowError):
        raise Invalid({"cursor": [gettext(UNREADABLE)]}) from None
    if value is None or (isinstance(value, int) and not -MAX_ID <= value <= MAX_ID):
        raise Invalid({"cursor": [gettext(UNREADABLE)]})
    return value, pk
