"""What the benchmarks do to the database before they measure."""

from django.db import connection

from crm.web.db import without_statement_timeout


def vacuum() -> None:
    """What autovacuum would have done after the last runs' writes (this machine's
    PostgreSQL runs without it), for every table: statistics and visibility maps.

    Not the lead table alone: without its visibility map My Work's index-only reading of a
    rep's leads reads the table instead (80 ms → 480 ms), and the 600,000 dead score rows
    the import benchmark leaves behind made each of the board's card queries plan for
    1.6 ms instead of 0.5 (the planner reads an index's true ends, dead entries too).
    """
    if connection.vendor != "postgresql":
        return
    with without_statement_timeout(connection), connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
