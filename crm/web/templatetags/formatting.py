"""Formatting used on every page: money, days and percentages."""

import datetime
import math
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_compact_currency, format_currency, format_decimal
from django import template
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import format_html

register = template.Library()

CURRENCY = "EUR"
UNKNOWN = "—"


def _babel_locale() -> str:
    return translation.to_locale(translation.get_language() or "en")


@lru_cache(maxsize=32)
def _whole_pattern(locale: str) -> str:
    """The locale's currency pattern without decimals, for amounts with no cents."""
    pattern = Locale.parse(locale).currency_formats["standard"].pattern
    return pattern.replace(".00", "")


def format_money(value, *, locale: str | None = None) -> str:
    """EUR for the active locale: cents only when not zero; None is unknown ("—")."""
    if value is None or value == "":
        return UNKNOWN
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return UNKNOWN
    if not amount.is_finite():
        return UNKNOWN
    try:
        return _format_amount(amount, locale or _babel_locale())
    except InvalidOperation:  # more digits than Babel formats: still the amount
        return f"€{amount:,}"


@lru_cache(maxsize=4096)
def _format_amount(amount: Decimal, locale: str) -> str:
    # Babel takes some 40 µs an amount, and a list repeats its amounts page after page.
    if amount == amount.to_integral_value():
        return format_currency(
            amount, CURRENCY, locale=locale, format=_whole_pattern(locale), currency_digits=False
        )
    return format_currency(amount, CURRENCY, locale=locale)


@register.filter
def money(value) -> str:
    """{{ lead.value|money }} → €25,000 (en), € 25.000 (nl), — when unknown."""
    return format_money(value)


def format_money_compact(value) -> str:
    """€1.2M, €617.3K, €9,000: an amount rounded to fit where space is short; None is €0."""
    if value is None:
        return format_money(0)
    amount = Decimal(value)
    if abs(amount) < 10000:
        return format_money(amount.quantize(Decimal(1)))
    return format_compact_currency(amount, CURRENCY, locale=_babel_locale(), fraction_digits=1)


@register.filter
def money_compact(value) -> str:
    """{{ total|money_compact }} → €1.7M, with the exact amount (€1,734,250) on hover and
    for screen readers, who hear it instead of the rounded one; an amount that rounding
    leaves alone is just itself. For totals lines where space is short."""
    compact = format_money_compact(value)
    exact = format_money(0 if value is None else value)
    if compact == exact:
        return compact
    return format_html(
        '<span class="money-compact" title="{}"><span aria-hidden="true">{}</span>'
        '<span class="visually-hidden">{}</span></span>',
        exact,
        compact,
        exact,
    )


@register.filter
def money_compact_text(value) -> str:
    """{{ total|money_compact_text }} → €1.7M as plain text, for SVG labels (a chart says
    its exact figures in its description)."""
    return format_money_compact(value)


def format_day(value) -> str:
    """A date, or a datetime's local date, as "20 Nov 2026" (en) or "20 nov. 2026" (nl):
    the active language's DATE_FORMAT (crm/formats)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date()
    return _format_day(value, translation.get_language())


@lru_cache(maxsize=4096)
def _format_day(day: datetime.date, language: str | None) -> str:
    # The same few hundred days recur down every list; date_format costs some 20 µs each.
    return date_format(day)


@register.filter
def day(value) -> str:
    """{{ lead.updated_at|day }} → 20 Nov 2026 (a datetime shows its local date)."""
    return format_day(value)


@register.filter
def moment(value) -> str:
    """{{ event.at|moment }} → 20 Nov 2026 14:05 (en), 20 nov. 2026 14:05 (nl): a datetime
    in local time, in the active language's DATETIME_FORMAT."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, "DATETIME_FORMAT")


@register.filter
def iso(value) -> str:
    """{{ lead.updated_at|iso }} → 2026-11-20T14:05:09+01:00, for ``<time datetime>``:
    whole seconds, since the HTML standard's checker rejects microseconds; a date is
    2026-11-20."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return ""


@register.filter
def month_abbr(value, year: str = "") -> str:
    """{{ month|month_abbr }} → Dec (en), dec (nl); {{ month|month_abbr:"y" }} → Dec 2026:
    the short month names of charts and tables, as the language abbreviates them (Babel)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return format_date(value, "MMM y" if year else "MMM", locale=_babel_locale())


@register.filter
def percent(value) -> str:
    """{{ lead.probability|percent }} → 40%; — when unknown."""
    if value is None or value == "":
        return UNKNOWN
    return f"{value}%"


@register.filter
def about(value) -> str:
    """{{ 251234|about }} → 250,000: an estimate to two significant digits, which is all
    it knows; grouped as the language groups digits."""
    if value is None or value == "":
        return UNKNOWN
    number = int(value)
    if number >= 100:
        magnitude = 10 ** (len(str(number)) - 2)
        number = (number + magnitude // 2) // magnitude * magnitude
    return format_decimal(number, locale=_babel_locale())


@register.filter
def share(value) -> str:
    """{{ 0.125|share }} → 13%: a fraction as a whole percentage; "<1%" for a small one
    that is not nothing, and — when unknown (a rate of nothing)."""
    if value is None or value == "":
        return UNKNOWN
    if 0 < value < 0.005:
        return "<1%"
    return f"{math.floor(float(value) * 100 + 0.5)}%"  # half up, as people round
