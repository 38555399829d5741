"""Database connections that recover by themselves, and long work that may take its time.

Nothing here may import Django's models: the settings import this module.
"""

from contextlib import contextmanager

from psycopg_pool import ConnectionPool


def check_connection(conn) -> None:
    """The pool's check before handing out a connection, sweeping the pool on a dead one.

    When the server restarts or an admin terminates backends, every idle connection in
    the pool dies at once. Found one by one, each dead connection would cost the request
    a back-off pause (1 s, 2 s, 4 s…) until the pool's timeout; checking the others as
    soon as one is found dead costs a few milliseconds, and the pool reconnects them.
    """
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)
        if pool is not None:
            pool.check()
        raise


def prepared_statements(threshold: str) -> dict:
    """The database OPTIONS for psycopg to prepare the statements a connection runs
    ``threshold`` times (a whole number; 0 prepares at once), or none ("off").

    Preparing needs server-side binding: parameters travel apart from the SQL text, so
    that one text serves every lead's page. Django keeps both off by default, for
    connection poolers that cannot carry prepared statements from one transaction to
    the next.
    """
    if threshold.strip().lower() in {"off", "none", "no", ""}:
        return {}
    try:
        uses = int(threshold)
    except ValueError:
        raise ValueError(
            f"DB_PREPARE_THRESHOLD must be a whole number or 'off', not {threshold!r}"
        ) from None
    if uses < 0:
        raise ValueError(f"DB_PREPARE_THRESHOLD must not be negative, not {uses}")
    return {"server_side_binding": True, "prepare_threshold": uses}


@contextmanager
def without_statement_timeout(connection):
    """Lift the statement timeout while the block runs, for commands rather than requests.

    Building an index over a million leads or filling a database with them takes longer
    than any request may. The timeout is back when the block ends: the connection may
    go back to the pool (the test runner migrates on the connection its tests use).
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")


@contextmanager
def time_limit(connection, milliseconds: int):
    """Run the block in a transaction whose statements may each take ``milliseconds``:
    past that PostgreSQL cancels the statement (an ``OperationalError``) and the block
    rolls back. For work a request may skip when it would be slow.

    The limit is the transaction's own (``set_config(..., true)``), so nothing outlives it
    on a pooled connection; inside an outer transaction it is put back when the block
    ends. Elsewhere than PostgreSQL the block just runs.
    """
    if connection.vendor != "postgresql":
        yield
        return
    from django.db import transaction  # not at the top: the settings import this module

    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        (before,) = cursor.fetchone()
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{milliseconds}ms"])
        yield
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])
