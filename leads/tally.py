"""Running totals of the leads, kept by PostgreSQL itself: exact after every write, cheap to read.

Counting and summing a large set of leads costs what reading it costs (200–800 ms for the
open leads of a million), and any write makes a cached result stale. So on PostgreSQL
the leads' count and sums are kept per combination of the dimensions the lists, the board
and the reports filter by cheaply, in two narrow tables:

- ``LeadTally``: per stage, owner, source and priority (some 6,000 rows at a million
  leads): the list's totals and the board's columns for any filter of these alone (the
  status and the pipeline are the stage's), the pipeline report's stages now;
- ``LeadCloseTally``: per stage, owner, source and month of the expected close date
  (some 30,000 rows): the forecast.

Each holds, per combination, the number of leads, how many have a value, the sum of the
values, of value × probability, and of the moments they entered their stage (seconds;
the mean age in stage is now less their mean).

**Kept by triggers, not by the application.** Statement triggers with transition tables
(``tally_sql``) add a row of differences per combination a statement changed: the
services' writes, the importer's COPY, an admin edit, a deletion cascading from a client,
SQL typed by hand all alike, in the writing transaction. A reader sees the totals of
exactly the leads it would see: the same snapshot.

**Differences, not updates in place.** A trigger only inserts, so writers never wait for
each other on a total's row and cannot deadlock over them; a reader sums the rows of a
combination. ``compact`` folds them back into one row per combination: a reader calls it
when it summed twice as many rows as it knows the table to hold folded, and at least
``COMPACT_ROWS`` (``note_rows``); ``manage.py compact_tallies`` does it on demand.

SQLite has no such triggers here: its tables stay empty and the readers count the leads
(``available``); it serves one machine's data, which counts fast enough.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models, transaction

from pipelines.models import PipelineStage, stage_ids

#: A reader folds the differences (``compact``) once it sums at least this many rows.
COMPACT_ROWS = 20_000
#: The advisory lock a compaction takes: one at a time (a key of this project's own).
COMPACT_LOCK = 7_203_114
#: The cache key of a table's rows once folded (or as a reader first found them).
COMPACTED_KEY = "lead-tally:folded-rows:{table}"


class TallyQuerySet(models.QuerySet):
    def with_status(self, status: str):
        """Rows of the stages of that kind (as ``LeadQuerySet.with_status``)."""
        return self.filter(stage_id__in=stage_ids(status))

    def open(self):
        return self.with_status(PipelineStage.Kind.OPEN)

    def totals(self) -> dict:
        """What ``LeadQuerySet.totals`` says of the same leads: count, total value and
        weighted value (None where no lead has a value)."""
        row = self.order_by().aggregate(**SUMS)
        note_rows(self.model._meta.db_table, row.pop("rows"))
        row = as_read(row)
        weighted = row["weighted_x100"]
        return {
            "count": row["count"],
            "total_value": row["total_value"],
            "weighted_value": None if weighted is None else weighted / 100,
        }

    def grouped(self, *fields) -> list[dict]:
        """The totals per value of ``fields`` (a dict each, with those fields): ``count``,
        ``total_value`` and ``weighted_x100`` (None where no lead has a value) and
        ``entered``, the mean moment the leads entered their stage (seconds)."""
        rows = list(self.order_by().values(*fields).annotate(**SUMS))
        note_rows(self.model._meta.db_table, sum(row.pop("rows") for row in rows))
        # A combination every lead has left sums to nothing: not shown.
        return [as_read(row) for row in rows if row["count"]]


#: What a reader sums over the rows of its combinations (``rows``: how many it read).
SUMS = {
    "count": models.Sum("n"),
    "valued": models.Sum("valued"),
    "total_value": models.Sum("value_sum"),
    "weighted_x100": models.Sum("weighted_x100"),
    "entered_sum": models.Sum("entered_sum"),
    "rows": models.Count("*"),
}


def as_read(row: dict) -> dict:
    """Summed measures (``SUMS``) as readers take them: the count (0 for none), the
    sums of values None where no lead has a value, and ``entered``, the mean moment
    the leads entered their stage (None for no lead)."""
    count, valued, entered = row["count"] or 0, row.pop("valued"), row.pop("entered_sum")
    row["count"] = count
    if not valued:
        row["total_value"] = row["weighted_x100"] = None
    row["entered"] = entered / count if count else None
    return row


class Tally(models.Model):
    """The dimensions and measures both tallies share.

    No index but the key: a reader sums a few thousand narrow rows (a sequential scan of
    a few hundred kilobytes), and every write inserts, so each index would cost writes.
    No foreign key constraints either: the triggers write what the lead rows hold.
    """

    stage = models.ForeignKey(
        PipelineStage,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    source = models.ForeignKey(
        "leads.LeadSource",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    #: The number of leads (a difference row: how many came in, less those that left).
    n = models.BigIntegerField()
    #: Of them, those with a value; the sums leave the others out.
    valued = models.BigIntegerField()
    value_sum = models.DecimalField(max_digits=20, decimal_places=2)
    #: Σ value × probability (÷ 100 for the weighted value).
    weighted_x100 = models.DecimalField(max_digits=22, decimal_places=2)
    #: Σ of the moments the leads entered their stage, in whole seconds since 1970.
    entered_sum = models.BigIntegerField()

    objects = TallyQuerySet.as_manager()

    class Meta:
        abstract = True


class LeadTally(Tally):
    """The leads per stage, owner, source and priority (see the module's docstring)."""

    priority = models.CharField(max_length=6)

    class Meta:
        verbose_name_plural = "lead tallies"

    def __str__(self):
        return f"{self.n:+} leads in stage {self.stage_id} ({self.priority})"


class LeadCloseTally(Tally):
    """The leads per stage, owner, source and month of the expected close date (its
    first day; null: no close date)."""

    close_month = models.DateField(null=True)

    class Meta:
        verbose_name_plural = "lead close tallies"

    def __str__(self):
        return f"{self.n:+} leads in stage {self.stage_id} closing {self.close_month}"


# --- the triggers ----------------------------------------------------------------------------

#: (table, its own dimension as SQL over a lead row ``r``, its column)
TABLES = (
    ("leads_leadtally", "r.priority", "priority"),
    (
        "leads_leadclosetally",
        "date_trunc('month', r.expected_close_date::timestamp)::date",
        "close_month",
    ),
)
MEASURES = "n, valued, value_sum, weighted_x100, entered_sum"
#: What a lead row adds to the measures, signed by ``s`` (1 or -1).
ADDS = (
    "sum(s), sum(s * (r.value IS NOT NULL)::int), coalesce(sum(s * r.value), 0),"
    " coalesce(sum(s * r.value * r.probability), 0),"
    " sum(s * floor(date_part('epoch', r.stage_entered_at))::bigint)"
)
#: The columns whose change moves a total.
WATCHED = (
    "stage_id, assignee_id, source_id, priority, expected_close_date, value, probability,"
    " stage_entered_at"
)


def _insert(table: str, own: str, column: str, rows: str) -> str:
    """Add to ``table`` what ``rows`` (a lead row ``r`` and its sign ``s``) change."""
    return (
        f"INSERT INTO {table} (stage_id, assignee_id, source_id, {column}, {MEASURES})"
        f" SELECT r.stage_id, r.assignee_id, r.source_id, {own}, {ADDS} FROM ({rows}) r"
        f" GROUP BY 1, 2, 3, 4"
        # A statement that moved nothing (a note, an edit of the title) adds no row.
        f" HAVING sum(s) <> 0 OR coalesce(sum(s * r.value), 0) <> 0"
        f" OR coalesce(sum(s * r.value * r.probability), 0) <> 0"
        f" OR sum(s * floor(date_part('epoch', r.stage_entered_at))::bigint) <> 0;"
    )


def tally_sql() -> list[str]:
    """The trigger function and its three statement triggers on the lead table."""
    changed = (
        f"SELECT {{side}}.*, {{sign}} AS s FROM new_rows n JOIN old_rows o USING (id)"
        f" WHERE ({', '.join('o.' + c for c in WATCHED.split(', '))})"
        f" IS DISTINCT FROM ({', '.join('n.' + c for c in WATCHED.split(', '))})"
    )
    statements = {
        "INSERT": "SELECT *, 1 AS s FROM new_rows",
        "DELETE": "SELECT *, -1 AS s FROM old_rows",
        "UPDATE": (
            changed.format(side="n", sign=1) + " UNION ALL " + changed.format(side="o", sign=-1)
        ),
    }
    body = "\n".join(
        f"IF TG_OP = '{op}' THEN\n"
        + "\n".join(_insert(table, own, column, rows) for table, own, column in TABLES)
        + "\nEND IF;"
        for op, rows in statements.items()
    )
    sql = [
        "CREATE OR REPLACE FUNCTION leads_tally_apply() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}\nRETURN NULL;\nEND\n$$;"
    ]
    referencing = {
        "INSERT": "NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }
    for op, tables in referencing.items():
        sql.append(
            f"CREATE TRIGGER leads_tally_{op.lower()} AFTER {op} ON leads_lead"
            f" REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION leads_tally_apply();"
        )
    return sql


DROP_SQL = [
    *(
        f"DROP TRIGGER IF EXISTS leads_tally_{op} ON leads_lead;"
        for op in ("insert", "delete", "update")
    ),
    "DROP FUNCTION IF EXISTS leads_tally_apply();",
]


def rebuild_sql() -> list[str]:
    """Empty both tallies and count every lead into them afresh."""
    sql = []
    for table, own, column in TABLES:
        sql.append(f"DELETE FROM {table};")
        sql.append(_insert(table, own, column, "SELECT *, 1 AS s FROM leads_lead"))
    return sql


# --- reading ----------------------------------------------------------------------------------


def available() -> bool:
    """Whether the tallies are kept (PostgreSQL); elsewhere, count the leads."""
    return connection.vendor == "postgresql"


def note_rows(table: str, rows: int) -> None:
    """A reader summed ``rows`` rows of ``table``: fold its differences when they have
    piled up, past twice the size the last folding left (``COMPACT_ROWS`` at least). A
    process that has not folded yet (nothing cached) folds once when past
    ``COMPACT_ROWS``: after a bulk load its first reading may hold a million
    differences, which it must not take for the folded size."""
    folded = cache.get(COMPACTED_KEY.format(table=table))
    if rows > max(COMPACT_ROWS, 2 * (folded or 0)):
        compact([table])
    elif folded is None:
        cache.set(COMPACTED_KEY.format(table=table), rows, None)


def compact(tables=None) -> int:
    """Fold each tally's rows (or those of ``tables``) into one per combination,
    dropping empty ones; the rows left. Skipped (0) while another compaction runs.

    One statement per table deletes the rows its snapshot sees and inserts their sums:
    a concurrent reader sees either all the old rows or all the new ones, and rows that
    writers add meanwhile are not in the snapshot, so neither deleted nor counted twice.
    """
    if not available():
        return 0
    folded = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [COMPACT_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        for table, _own, column in TABLES:
            if tables is not None and table not in tables:
                continue
            dimensions = f"stage_id, assignee_id, source_id, {column}"
            sums = ", ".join(f"sum({m})" for m in MEASURES.split(", "))
            cursor.execute(
                f"WITH gone AS (DELETE FROM {table} RETURNING *)"
                f" INSERT INTO {table} ({dimensions}, {MEASURES})"
                f" SELECT {dimensions}, {sums} FROM gone GROUP BY {dimensions}"
                " HAVING sum(n) <> 0 OR sum(value_sum) <> 0 OR sum(weighted_x100) <> 0"
                " OR sum(entered_sum) <> 0"
            )
            folded[COMPACTED_KEY.format(table=table)] = cursor.rowcount
    cache.set_many(folded, None)
    return sum(folded.values())


def differences() -> list[tuple]:
    """The combinations whose running totals differ from a fresh count of the leads:
    none, unless a write went past the triggers (``manage.py compact_tallies --check``;
    the tests ask after every kind of write). Each as (table, stage, owner, source,
    own dimension, count, valued, value, value × probability, entered)."""
    if not available():
        return []
    found = []
    sums = ", ".join(f"sum({m})" for m in MEASURES.split(", "))
    with connection.cursor() as cursor:
        for table, own, column in TABLES:
            kept = (
                f"SELECT stage_id, assignee_id, source_id, {column}, {sums} FROM {table}"
                " GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 OR sum(value_sum) <> 0"
                " OR sum(weighted_x100) <> 0 OR sum(entered_sum) <> 0"
            )
            fresh = (
                f"SELECT r.stage_id, r.assignee_id, r.source_id, {own}, {ADDS}"
                " FROM (SELECT *, 1 AS s FROM leads_lead) r GROUP BY 1, 2, 3, 4"
            )
            cursor.execute(f"({kept} EXCEPT ALL {fresh}) UNION ALL ({fresh} EXCEPT ALL {kept})")
            found += [(table, *row) for row in cursor.fetchall()]
    return found


def rebuild() -> None:
    """Count every lead into the tallies afresh (after SQL that bypassed the triggers,
    such as a restore with triggers disabled); the lead table is locked meanwhile."""
    if not available():
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE leads_lead IN SHARE MODE")
        for statement in rebuild_sql():
            cursor.execute(statement)
    cache.delete_many([COMPACTED_KEY.format(table=table) for table, _own, _column in TABLES])
