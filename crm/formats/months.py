"""The abbreviated months behind the date format ``N``, as Dutch writes them.

Django's Dutch catalogue drops the full stop ("31 dec 2026"); the Taalunie writes
"31 dec. 2026", and months of four letters or fewer whole ("mei"). Our catalogue comes first
in LOCALE_PATHS, so these entries override Django's. They are marked here, with Django's own
context and English, so that ``makemessages`` keeps them.
"""

from django.utils.translation import pgettext_lazy

MONTHS_AP = (
    pgettext_lazy("abbrev. month", "Jan."),
    pgettext_lazy("abbrev. month", "Feb."),
    pgettext_lazy("abbrev. month", "March"),
    pgettext_lazy("abbrev. month", "April"),
    pgettext_lazy("abbrev. month", "May"),
    pgettext_lazy("abbrev. month", "June"),
    pgettext_lazy("abbrev. month", "July"),
    pgettext_lazy("abbrev. month", "Aug."),
    pgettext_lazy("abbrev. month", "Sept."),
    pgettext_lazy("abbrev. month", "Oct."),
    pgettext_lazy("abbrev. month", "Nov."),
    pgettext_lazy("abbrev. month", "Dec."),
)
