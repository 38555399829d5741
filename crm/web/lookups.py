"""Integer lookups that match nothing for a number the column cannot hold.

Django already answers ``pk=<huge>`` with an empty result (``IntegerFieldOverflow``), but
not ``pk__in=[<huge>]`` or ``client=<huge>`` on a foreign key: SQLite then raises
``OverflowError`` while binding the number, a 500 for a mistyped or hostile URL or form.
These lookups leave such numbers out, as a number no row can have; registered for every
model in ``CrmConfig.ready()``.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import ForeignObject, IntegerField
from django.db.models.fields.related_lookups import RelatedExact, RelatedIn
from django.db.models.lookups import In


def _bounds(lookup, connection) -> tuple[int | None, int | None]:
    """The smallest and largest number the lookup's column holds (None: no limit)."""
    field = lookup.lhs.output_field
    if field.is_relation:
        field = field.target_field
    try:
        return connection.ops.integer_field_range(field.get_internal_type())
    except KeyError:  # not an integer column
        return None, None


def _holds(bounds, value) -> bool:
    """Whether a column with these bounds can hold ``value`` (what is not an int, can)."""
    low, high = bounds
    if not isinstance(value, int):
        return True
    return (low is None or value >= low) and (high is None or value <= high)


class _InRange:
    def process_rhs(self, compiler, connection):
        if self.rhs_is_direct_value():
            bounds = _bounds(self, connection)
            values = [value for value in self.rhs if _holds(bounds, value)]
            if not values:
                raise EmptyResultSet
            self.rhs = values
        return super().process_rhs(compiler, connection)


class IntegerIn(_InRange, In):
    pass


class IntegerRelatedIn(_InRange, RelatedIn):
    pass


class IntegerRelatedExact(RelatedExact):
    def process_rhs(self, compiler, connection):
        if self.rhs_is_direct_value() and not _holds(_bounds(self, connection), self.rhs):
            raise EmptyResultSet
        return super().process_rhs(compiler, connection)


def register() -> None:
    IntegerField.register_lookup(IntegerIn)
    ForeignObject.register_lookup(IntegerRelatedIn)
    ForeignObject.register_lookup(IntegerRelatedExact)
