"""Dutch dates as Dutch sales teams write them: "31 dec. 2026", "3 mei 2026".

``N`` is Django's abbreviated month with its full stop where Dutch abbreviates ("dec.",
"jan.") and the whole word where it does not ("mei", "juni"). Django's own Dutch formats
for everything not named here: day-month-year input, "," for decimals.
"""

DATE_FORMAT = "j N Y"
DATETIME_FORMAT = "j N Y H:i"
SHORT_DATETIME_FORMAT = "j N H:i"
MONTH_DAY_FORMAT = "j N"
