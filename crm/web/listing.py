"""What every sortable list shares."""


def sort_columns(columns, sort: str) -> list[dict]:
    """Column headings with their aria-sort state and the sort a click asks for.

    ``columns`` holds (sort key, heading, numeric, first direction) tuples.
    """
    headings = []
    for key, label, numeric, first in columns:
        if sort == key:
            state, next_sort = "ascending", f"-{key}"
        elif sort == f"-{key}":
            state, next_sort = "descending", key
        else:
            state, next_sort = "none", f"{first}{key}"
        headings.append(
            {"key": key, "label": label, "numeric": numeric, "state": state, "next": next_sort}
        )
    return headings
