"""Our own words inside markup that Python builds with ``format_html``.

The list's rows, the board's cards and the badges are ``format_html`` templates (as
Django's admin builds its changelist rows), with the page's words translated once and put
into the template rather than passed in as values for every row.
"""

import html


def format_template(text: str, *, markup: bool = False, **fields: str) -> str:
    """Our own ``text`` (a translation) as a piece of a ``format_html`` template.

    Escaped, unless it is ``markup`` of ours; its braces doubled so that they stay literal;
    and each ``%(name)s`` placeholder made the template's ``{field}`` (``fields``: name →
    field), where ``format_html`` puts an escaped value in.
    """
    if not markup:
        text = html.escape(text)
    text = text.replace("{", "{{").replace("}", "}}")
    for name, field in fields.items():
        text = text.replace(f"%({name})s", f"{{{field}}}")
    return text
