"""The lists' shared filter set base: django-filter, with chips each filter declares, the
sort as a filter, model choices read once, and the id-first search of related rows."""

import django_filters as filters
from django.db.models import Q
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from django_filters import fields

from .memo import prime

#: Up to this many matching rows (clients, contacts) a search names their ids; beyond it,
#: a word common in names, it asks for them in a subquery instead. The lead, client and
#: contact searches share it (``among``, ``leads.filters.search_condition``).
SEARCH_ID_LIMIT = 1000


class FormChoiceIterator(fields.ModelChoiceIterator):
    """Model choices read once per form, with one plain query.

    Django reads them through ``QuerySet.iterator()`` each time they are drawn or looked
    up (on PostgreSQL a server-side cursor: three round trips), and counts them with a
    query of its own; a filter bar draws its choices and names the chosen ones in its
    chips. The field's queryset is the form's own copy, so the cache dies with the form.

    Why a subclass of a class whose inner workings Django and django-filter do not
    promise (``field.empty_label``, ``null_label``, ``choice()``): no public setting reads
    model choices once, and every draw and every chip paid the cursor and the count. An
    upgrade that changes them fails tests/crm/test_widget_templates.py, which pins what
    this gives (Django's choices, read once, without a cursor or a count).
    """

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        if self.field.null_label is not None:
            yield (self.field.null_value, self.field.null_label)
        for obj in self.rows():
            yield self.choice(obj)

    def rows(self):
        """The queryset, filled from where the field says its rows are known already
        (``known_objects``, a callable: the stages a request has read, crm/web/memo.py),
        asked only once the choices are drawn; else read as usual, once."""
        known = getattr(self.field, "known_objects", None)
        if known is not None and self.queryset._result_cache is None:
            prime(self.queryset, known())
        return self.queryset

    def __len__(self):
        return len(self.rows()) + sum(
            label is not None for label in (self.field.empty_label, self.field.null_label)
        )

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.rows())


class ModelChoiceField(fields.ModelChoiceField):
    """django-filter's, with its choices read once per form (FormChoiceIterator)."""

    iterator = FormChoiceIterator


class ModelMultipleChoiceField(fields.ModelMultipleChoiceField):
    """django-filter's, with its choices read once per form (FormChoiceIterator)."""

    iterator = FormChoiceIterator


# --- filters that say how their active value reads as a chip ---------------------------


class Chips:
    """Mixed into each filter of our lists: its active value as chips, each removable.

    ``chips`` gives (label, value its remove link drops; None: the whole parameter). The
    label is "Label: value", the value as its choice's label where the filter has
    choices; ``chip`` (field label, value → label) says otherwise. ``no_chip`` holds the
    values a list has unasked (the lead list's open status), which show none.
    """

    def __init__(self, *args, chip=None, no_chip=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.chip = chip
        self.no_chip = no_chip

    def chip_text(self, value, field) -> str:
        return str(value)

    def chip_label(self, value, field) -> str:
        if self.chip is not None:
            return self.chip(field.label, value)
        return f"{field.label}: {self.chip_text(value, field)}"

    def chips(self, value, field) -> list[tuple[str, str | None]]:
        if value in self.no_chip:
            return []
        return [(self.chip_label(value, field), None)]


class ChoiceChips(Chips):
    """A value reads as its choice's label."""

    def chip_text(self, value, field) -> str:
        return str(dict(field.choices).get(value, value))


class EachChips(Chips):
    """One chip per chosen value, each removing that value only."""

    def chips(self, value, field):
        return [
            (self.chip_label(item, field), self.chip_key(item))
            for item in value
            if item not in self.no_chip
        ]

    def chip_key(self, item) -> str:
        return item


class CharFilter(Chips, filters.CharFilter):
    pass


class NumberFilter(Chips, filters.NumberFilter):
    pass


class DateFilter(Chips, filters.DateFilter):
    pass


class BooleanFilter(Chips, filters.BooleanFilter):
    pass


class ChoiceFilter(ChoiceChips, filters.ChoiceFilter):
    pass


class MultipleChoiceFilter(EachChips, ChoiceChips, filters.MultipleChoiceFilter):
    pass


class ModelChoiceFilter(Chips, filters.ModelChoiceFilter):
    """A model choice names itself in its chip: its choices stay unread.

    Its choices are read once per form (FormChoiceIterator).
    """

    field_class = ModelChoiceField


class ModelMultipleChoiceFilter(EachChips, filters.ModelMultipleChoiceFilter):
    """One chip per chosen row; its choices are read once per form (FormChoiceIterator)."""

    field_class = ModelMultipleChoiceField

    def chip_key(self, item) -> str:
        return str(item.pk)


def sort_choices(sorts: dict) -> list[tuple[str, str]]:
    return [(key, key) for name in sorts for key in (name, f"-{name}")]


class SortFilter(filters.ChoiceFilter):
    """?sort= over a FilterSet's sorts; the column headers show it, so no chip."""

    def __init__(self, sorts: dict, **kwargs):
        kwargs.setdefault("label", _("Sort"))
        super().__init__(
            method="filter_sort", choices=sort_choices(sorts), empty_label=None, **kwargs
        )

    def chips(self, value, field) -> list:
        return []


class SortedFilterSet(filters.FilterSet):
    """A FilterSet whose `sort` runs last and falls back to a default it does not know."""

    sorts: dict = {}
    default_sort = ""
    #: Sort keys whose column can be empty (empty values go last both ways); None: all.
    nullable_sorts: frozenset | None = None
    #: Sort keys whose column runs the other way round (an older entry is a larger age).
    reversed_sorts: frozenset = frozenset()

    def __init__(self, data=None, *args, **kwargs):
        data = data.copy() if data is not None else {}
        if not data.get("sort"):
            data["sort"] = self.default_sort
        super().__init__(data, *args, **kwargs)

    @property
    def qs(self):
        if not hasattr(self, "_qs"):
            queryset = super().qs
            if "sort" not in self.form.cleaned_data:  # an unknown sort falls back to default
                queryset = self.filter_sort(queryset, "sort", self.default_sort)
            self._qs = queryset
        return self._qs

    def filter_sort(self, queryset, name, value):
        key = value.removeprefix("-")
        expression = self.sorts[key]
        descending = value.startswith("-") != (key in self.reversed_sorts)
        # NULLS LAST only where a column can be empty: on a NOT NULL column it would stop
        # PostgreSQL from reading a (sort column, id) index in order.
        nullable = self.nullable_sorts is None or key in self.nullable_sorts
        nulls_last = True if nullable else None
        ordered = (
            expression.desc(nulls_last=nulls_last)
            if descending
            else expression.asc(nulls_last=nulls_last)
        )
        return queryset.order_by(ordered, "-id" if descending else "id")

    @property
    def current_sort(self) -> str:
        return self.form.cleaned_data.get("sort") or self.default_sort

    def chips(self, params: QueryDict) -> list[dict]:
        """One chip per active filter value, each with the URL that removes it.

        A filter is active when ``params`` (the request's query) names it with a value;
        each filter says how its value reads (``Chips``). Removing one drops the page.
        """
        cleaned = self.form.cleaned_data
        chips = []
        for name, field in self.form.fields.items():
            value = cleaned.get(name)
            if name not in params or value in (None, "", []) or value is False:
                continue
            for label, item in self.filters[name].chips(value, field):
                chips.append({"label": label, "remove": without(params, name, item)})
        return chips


#: What places a list's page, which a change of its filters drops (``leads.paging``).
PLACE = ("page", "after", "before", "count")


def without(params: QueryDict, name: str, value: str | None = None) -> str:
    """The query string without one value of ``name`` (None: all of them) and the page
    (its number, the lead it starts after or before, a count asked for: ``PLACE``)."""
    query = params.copy()
    for place in PLACE:
        query.pop(place, None)
    if value is None:
        query.pop(name, None)
    else:
        query.setlist(name, [v for v in query.getlist(name) if v != value])
    return f"?{query.urlencode()}"


def among(field: str, matches) -> Q:
    """The rows whose ``field`` points at one of ``matches``, the matches looked up first.

    Naming their ids keeps the condition on the searched table's own columns, so that
    PostgreSQL combines its indexes (a BitmapOr) instead of joining the other table for
    every row: counting the contacts that match "tech" in their own columns or their
    client's name (1,908 clients, measured when this limit was 5,000) took 300 ms with the join
    and 26 ms this way.
    """
    ids = list(matches.order_by().values_list("pk", flat=True)[: SEARCH_ID_LIMIT + 1])
    if len(ids) > SEARCH_ID_LIMIT:
        return Q(**{f"{field}__in": matches.values("pk")})
    return Q(**{f"{field}_id__in": ids})
