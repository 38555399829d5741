"""The API's lists read the pages' own filter sets: the same parameters, checked the same
way, the same search and the same sorts. ``query_of`` declares a filter set's
parameters as a query schema (for the OpenAPI schema and the docs); ``filtered`` runs
the filter set on them and refuses what it does not accept (422, its messages)."""

from django.http import QueryDict
from django_filters import ModelMultipleChoiceFilter, MultipleChoiceFilter
from ninja import Field, Schema

from .cursors import page
from .errors import Invalid

PAGE_SIZE = 25
PAGE_SIZE_MAX = 100
#: The parameters of every list beside its filters.
PAGING = ("cursor", "limit")


def _described(name: str, filter_) -> str:
    """A parameter's description: the filter's label, and its values where it lists them."""
    label = str(filter_.label or name)
    choices = filter_.extra.get("choices")
    if name == "sort":
        return f"{label}: one of {', '.join(key for key, _ in choices)}."
    if isinstance(choices, list | tuple):
        return f"{label}: {', '.join(str(key) for key, _ in choices)}."
    return f"{label}."


def query_of(filterset_class, name: str) -> type[Schema]:
    """A query schema with a parameter per filter of ``filterset_class`` (a list for one
    that takes several values; None: no filters), ``cursor`` and ``limit``."""
    annotations, fields = {}, {}
    filters = filterset_class.base_filters if filterset_class is not None else {}
    for key, filter_ in filters.items():
        several = isinstance(filter_, MultipleChoiceFilter | ModelMultipleChoiceFilter)
        annotations[key] = list[str] if several else str | None
        fields[key] = Field([] if several else None, description=_described(key, filter_))
    annotations["cursor"] = str | None
    fields["cursor"] = Field(None, description="The `next_cursor` of the page before.")
    annotations["limit"] = int
    fields["limit"] = Field(
        PAGE_SIZE, ge=1, le=PAGE_SIZE_MAX, description=f"Rows a page, at most {PAGE_SIZE_MAX}."
    )
    return type(name, (Schema,), {"__annotations__": annotations, **fields})


def filtered(filterset_class, params: Schema, queryset, request):
    """The filter set bound to the parameters given; 422 with its messages when it
    refuses one (the pages ignore such a value, an API says so)."""
    data = QueryDict(mutable=True)
    for key, value in params.model_dump(exclude_unset=True).items():
        if key in PAGING or key not in filterset_class.base_filters or value is None:
            continue
        if isinstance(value, list):
            data.setlist(key, value)
        else:
            data[key] = value
    filterset = filterset_class(data, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise Invalid.from_form(filterset.form)
    return filterset


def paged(queryset, *, sort: str, params: Schema) -> dict:
    rows, cursor = page(queryset, sort=sort, cursor=params.cursor, limit=params.limit)
    return {"results": rows, "next_cursor": cursor}
