"""Comparing a model's field with a value a write brings, as the services' history sees it."""

from decimal import Decimal

from django.db import models


def unchanged(obj: models.Model, field: models.Field, new) -> bool:
    """Whether ``new`` is what ``obj`` already holds in ``field``: related rows by key (no
    query), empty text and None alike, amounts by value (25000 is 25000.00)."""
    if field.is_relation:
        return getattr(obj, field.attname) == (new.pk if new is not None else None)
    old = getattr(obj, field.attname)
    if old in (None, "") and new in (None, ""):
        return True
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return old is not None and new is not None and Decimal(old) == Decimal(new)
    return old == new


def stored(value):
    """A field's value as a history keeps it in JSON: text, numbers and keys as they are,
    dates and times in ISO 8601, other values (amounts) as text."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
