"""Inserting many rows fast: PostgreSQL's COPY, or bulk_create on other databases."""

import itertools
import json
from collections.abc import Iterable, Sequence

from django.db import connection, models, transaction

COPY_BATCH = 50_000
BULK_BATCH = 5_000


def bulk_insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[tuple],
    *,
    count: int,
    want_ids: bool = False,
) -> list[int]:
    """Insert `count` rows (tuples of `columns`, given as attnames); with want_ids, return
    the new ids in order. Each batch is a transaction (a savepoint inside the caller's).

    On PostgreSQL, COPY is several times faster than INSERT; it cannot return ids, so
    they are reserved from the table's sequence first. Dicts and lists in JSON columns
    are written as JSON.
    """
    if connection.vendor != "postgresql":
        return _bulk_create(model, columns, rows, want_ids=want_ids)
    ids: list[int] = []
    table = model._meta.db_table
    if want_ids and count:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
        rows = ((pk, *row) for pk, row in zip(ids, rows, strict=True))
        columns = ["id", *columns]
    fields = {field.attname: field for field in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    sql = f"COPY {quote(table)} ({', '.join(quote(fields[c].column) for c in columns)}) FROM STDIN"
    # Only the JSON columns are looked at row by row: a lead has thirty columns and none.
    json_at = [i for i, c in enumerate(columns) if isinstance(fields[c], models.JSONField)]
    rows = iter(rows)
    while batch := list(itertools.islice(rows, COPY_BATCH)):
        with transaction.atomic(), connection.cursor() as cursor, cursor.copy(sql) as copy:
            write = copy.write_row
            if not json_at:
                for row in batch:
                    write(row)
                continue
            for row in batch:
                row = list(row)
                for i in json_at:
                    if isinstance(row[i], dict | list):
                        row[i] = json.dumps(row[i])
                write(row)
    return ids


def _bulk_create(model, columns, rows, *, want_ids: bool) -> list[int]:
    ids: list[int] = []
    rows = iter(rows)
    while batch := list(itertools.islice(rows, BULK_BATCH)):
        objects = [model(**dict(zip(columns, row, strict=True))) for row in batch]
        with transaction.atomic():
            model.objects.bulk_create(objects)
        if want_ids:
            ids += [obj.pk for obj in objects]
    return ids
