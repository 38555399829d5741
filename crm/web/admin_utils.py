"""Helpers shared by the admin modules of every app."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """A paginator whose ``count`` stays cheap on tables with millions of rows.

    The admin asks the paginator for ``count`` on every changelist page, and a plain
    ``COUNT(*)`` reads the whole table (PostgreSQL has no stored row count). Instead:

    1. Count at most ``cap + 1`` rows through a sliced subquery
       (``SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1)``). Up to ``cap`` rows this is
       the exact count.
    2. Beyond that, on PostgreSQL and when the queryset has no WHERE clause (no filter, no
       search), use the planner's estimate ``pg_class.reltuples``, which ``ANALYZE`` and
       autovacuum keep roughly current. It is only taken when it is above ``cap``, so a
       table that was never analysed (reltuples -1 or 0) falls back to step 3.
    3. Otherwise report ``cap``: the last pages of a very large filtered result are then
       not linked, which is the price of never counting more than ``cap`` rows. Narrow the
       filter to reach them.

    Use it with ``show_full_result_count = False``, or the admin counts the whole table
    anyway for the "N total" line.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if not hasattr(object_list, "query"):
            return len(object_list)
        # order_by(): ordering inside a count subquery is wasted work.
        counted = object_list.order_by()[: self.cap + 1].count()
        if counted <= self.cap:
            return counted
        estimate = self.planner_estimate(object_list)
        if estimate is not None and estimate > self.cap:
            return estimate
        return self.cap

    @staticmethod
    def planner_estimate(queryset) -> int | None:
        """PostgreSQL's row estimate for the queryset's table, or None where it cannot apply."""
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where:
            return None
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else None


class NoBulkDeleteMixin:
    """Without Django's "Delete selected" action: its rows are deleted one at a time, on a
    page that checks each (``has_delete_permission``), or not at all."""

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the application writes and staff only read: no add, change or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditTrailAdmin(ReadOnlyAdmin):
    """An audit trail: readable by staff, written only by the application's services.

    Its changelist may hold millions of rows: counted with ``CappedCountPaginator``, and
    without facets.
    """

    ordering = ["-at", "-id"]
    list_filter = ["kind", "actor"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
