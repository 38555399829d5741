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


def _holds(lookup, connection, value) -> bool:
    """Whether the lookup's column can hold ``value`` (anything not an int is left alone)."""
    if not isinstance(value, int):
        return True
    field = lookup.lhs.output_field
    if field.is_relation:
        field = field.target_field
    try:
        low, high = connection.ops.integer_field_range(field.get_internal_type())
    except KeyError:  # not an integer column
        return True
    return (low is None or value >= low) and (high is None or value <= high)


class _InRange:
    def process_rhs(self, compiler, connection):
        if self.rhs_is_direct_value():
            values = [value for value in self.rhs if _holds(self, connection, value)]
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
        if self.rhs_is_direct_value() and not _holds(self, connection, self.rhs):
            raise EmptyResultSet
        return super().process_rhs(compiler, connection)


def register() -> None:
    IntegerField.register_lookup(IntegerIn)
    ForeignObject.register_lookup(IntegerRelatedIn)
    ForeignObject.register_lookup(IntegerRelatedExact)
