"""Numbered pages of the lead list that never read the leads before a deep page.

A page reads its rows in one query in two steps: the page's ids alone from the filtered,
sorted leads (which PostgreSQL reads from the sort's index without touching the table),
then the leads with what a row shows (``rows``) with those ids, sorted again; the outer
query repeats no filter, so PostgreSQL starts from the page's ids.

Where the page's ids start:

- **After or before a lead** (``?page=41&after=<cursor>``): the "Next" and "Previous"
  links name the last (first) lead of the page they leave and its sort value, and the
  next page starts right after it, by the sort's index (a keyset, or seek). Page 40,000
  then costs what page 2 costs. The page number travels with the cursor, so the links
  and the back button show the page they showed. Only sorts over a column of the lead
  that is never empty can seek (``seek_field``); the others count rows off.
- **A page number alone** (a link typed or shared): the rows before it are counted off
  (``OFFSET``) from whichever end of the set is nearer, when its size is known; the last
  page thus costs what the first does.

The set's size may not be known yet (``count=None``: its totals come after the rows,
``leads.totals``): the page then reads one row more to know whether there is a next.
"""

import datetime
import math
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import F, OrderBy, Q, QuerySet
from django.utils.timezone import is_naive

from crm.web.params import whole_number

from .models import Lead

#: Between a cursor's lead id and its sort value (the value may hold anything after it).
SEPARATOR = "~"


def seek_field(leads: QuerySet) -> tuple[str, bool] | None:
    """The lead's column the leads are sorted by, and whether descending, if a page can
    seek in it: the leads' own column (not a related one), never empty (an empty value
    sorts apart), with the id breaking ties; else None."""
    order = leads.query.order_by
    if len(order) != 2 or not isinstance(order[0], OrderBy):
        return None
    expression = order[0].expression
    if not isinstance(expression, F) or "__" in expression.name:
        return None
    try:
        column = Lead._meta.get_field(expression.name)
    except LookupError:
        return None
    if column.null or column.is_relation:
        return None
    return column.name, order[0].descending


@dataclass
class LeadPage:
    """One page of the lead list: what Django's ``Page`` offers templates, and cursors."""

    object_list: list
    number: int
    paginator: "LeadPaginator"
    more: bool  # a next page exists
    #: The cursors of the links to the previous and next page (None: page number alone).
    previous_cursor: str | None = None
    next_cursor: str | None = None
    known_count: bool = field(init=False)

    def __post_init__(self):
        self.known_count = self.paginator.count is not None

    def __len__(self):
        return len(self.object_list)

    def has_next(self) -> bool:
        return self.more

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def start_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + 1 if self.object_list else 0

    def end_index(self) -> int:
        return self.start_index() + len(self.object_list) - 1 if self.object_list else 0


def page_count(count: int, per_page: int) -> int:
    """How many pages ``count`` leads fill, ``per_page`` a page: at least one, for the
    page that says there are none."""
    return max(1, math.ceil(count / per_page))


class LeadPaginator:
    """Pages of ``leads`` (filtered and sorted), ``per_page`` each, shown as ``rows``."""

    def __init__(self, leads: QuerySet, per_page: int, *, count: int | None, rows: QuerySet):
        self.leads = leads
        self.per_page = per_page
        self.count = count
        self.rows = rows
        self.seek = seek_field(leads)

    @property
    def num_pages(self) -> int | None:
        if self.count is None:
            return None
        return page_count(self.count, self.per_page)

    def get_page(self, number, *, after: str = "", before: str = "") -> LeadPage:
        """The page ``number`` (1 if not a page number; the last if past it), read after
        or before the cursor given, if any can be read."""
        number = whole_number(number, default=1, minimum=1)
        if self.num_pages is not None:
            number = min(number, self.num_pages)
        if number > 1 and (cursor := self.parse(after)) is not None:
            ids, more = self.seek_after(cursor)
        elif number > 1 and (cursor := self.parse(before)) is not None:
            ids, more = self.seek_before(cursor)
        else:
            ids, more = self.counted_off(number)
        ordering = self.leads.query.order_by
        rows = list(self.rows.filter(pk__in=ids).order_by(*ordering))
        if len(rows) > self.per_page:  # the one row more that says a next page exists
            rows, more = rows[: self.per_page], True
        if self.count is not None:
            more = number < self.num_pages
        page = LeadPage(rows, number, self, more)
        if self.seek and rows:
            page.previous_cursor = self.cursor(rows[0])
            page.next_cursor = self.cursor(rows[-1])
        return page

    def counted_off(self, number: int):
        """The page's ids by counting rows off from the nearer end of the set."""
        bottom = (number - 1) * self.per_page
        if self.count is not None and bottom > self.count // 2:
            top = min(bottom + self.per_page, self.count)
            ids = self.leads.reverse().values("pk")[self.count - top : self.count - bottom]
            return ids, False
        return self.leads.values("pk")[bottom : bottom + self.per_page + 1], False

    def seek_after(self, cursor):
        """The ids of the page after the lead ``cursor`` names, and one more."""
        name, descending = self.seek
        pk, value = cursor
        if descending:
            condition = Q(**{f"{name}__lte": value}) & (Q(**{f"{name}__lt": value}) | Q(pk__lt=pk))
        else:
            condition = Q(**{f"{name}__gte": value}) & (Q(**{f"{name}__gt": value}) | Q(pk__gt=pk))
        return self.leads.filter(condition).values("pk")[: self.per_page + 1], False

    def seek_before(self, cursor):
        """The ids of the page before the lead ``cursor`` names (read backwards)."""
        name, descending = self.seek
        pk, value = cursor
        if descending:
            condition = Q(**{f"{name}__gte": value}) & (Q(**{f"{name}__gt": value}) | Q(pk__gt=pk))
        else:
            condition = Q(**{f"{name}__lte": value}) & (Q(**{f"{name}__lt": value}) | Q(pk__lt=pk))
        return self.leads.filter(condition).reverse().values("pk")[: self.per_page], True

    def cursor(self, lead) -> str:
        """The text that names ``lead``'s place in the sort: its id and its sort value."""
        name, _ = self.seek
        value = Lead._meta.get_field(name).value_to_string(lead)
        return f"{lead.pk}{SEPARATOR}{value}"

    def parse(self, text: str) -> tuple[int, object] | None:
        """(id, sort value) from a cursor; None for none, or one this sort cannot read
        (a cursor of another sort, or mistyped): the page is then counted off."""
        if not self.seek or not text or SEPARATOR not in text:
            return None
        pk, value = text.split(SEPARATOR, 1)
        if (pk := whole_number(pk)) is None:
            return None
        try:
            value = Lead._meta.get_field(self.seek[0]).to_python(value)
        except ValidationError:
            return None
        # What a cursor names is a lead's value as it was: never empty, a moment with its
        # offset (a bare date would be read in no time zone).
        if value in (None, "") or (isinstance(value, datetime.datetime) and is_naive(value)):
            return None
        return pk, value
