"""Numbers typed into URLs and forms, read without trusting them."""

import re

_DIGITS = re.compile(r"[0-9]{1,16}")
#: Larger than any page, offset or id the app will meet, and small enough that a page
#: number times a page size still fits any database's integers.
MAX_NUMBER = 10**15


def whole_number(value, *, default=None, minimum: int = 0, maximum: int = MAX_NUMBER):
    """``value`` as an int when it is plain ASCII digits within the bounds, else ``default``.

    ``str.isdigit()`` is not enough: it accepts "²" and "٣", which ``int()`` refuses or
    reads as other numbers, and it allows numbers no database column can hold.
    """
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
        if minimum <= number <= maximum:
            return number
    return default
