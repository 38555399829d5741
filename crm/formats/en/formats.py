"""English dates as the app writes them: "31 Dec 2026", "31 Dec 2026 14:05".

Django's own formats for everything not named here (FORMAT_MODULE_PATH comes first).
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
SHORT_DATETIME_FORMAT = "j M H:i"
MONTH_DAY_FORMAT = "j M"
