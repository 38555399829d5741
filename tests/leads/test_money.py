"""Money and percentages as every page shows them (Babel, EUR, the active language)."""

import datetime
from decimal import Decimal

import pytest
from django.template import engines
from django.urls import reverse
from django.utils import translation

from crm.web.templatetags.formatting import (
    format_money,
    format_money_compact,
    money,
    money_compact,
    money_compact_text,
    percent,
)
from tests.factories import LeadFactory

NBSP = "\u00a0"


@pytest.fixture(autouse=True)
def english():
    """English unless a test says otherwise, and no language left active for the next test."""
    with translation.override("en"):
        yield


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def test_money_filter_renders_whole_euros_without_cents_in_english():
    assert render("{{ value|money }}", value=Decimal("25000")) == "€25,000"


def test_money_filter_renders_whole_euros_the_dutch_way():
    with translation.override("nl"):
        assert render("{{ value|money }}", value=Decimal("25000")) == f"€{NBSP}25.000"


@pytest.mark.parametrize("value", [Decimal("25000.00"), 25000, "25000"])
def test_money_leaves_out_zero_cents(value):
    assert money(value) == "€25,000"


def test_money_shows_cents_when_not_zero():
    assert money(Decimal("25000.50")) == "€25,000.50"


def test_money_shows_cents_the_dutch_way():
    with translation.override("nl"):
        assert money(Decimal("25000.50")) == f"€{NBSP}25.000,50"


@pytest.mark.parametrize("value", [None, ""])
def test_unknown_money_is_a_dash(value):
    assert money(value) == "—"
    assert render("{{ value|money }}", value=value) == "—"


def test_zero_money_is_zero_euros_not_unknown():
    assert money(Decimal("0")) == "€0"


def test_format_money_takes_an_explicit_locale():
    assert format_money(Decimal("1234.5"), locale="nl") == f"€{NBSP}1.234,50"


def test_percent_renders_probability():
    assert render("{{ value|percent }}", value=40) == "40%"


def test_percent_of_zero_is_zero_not_unknown():
    assert percent(0) == "0%"


def test_unknown_percent_is_a_dash():
    assert percent(None) == "—"
    assert render("{{ value|percent }}", value=None) == "—"


def test_money_compact_shortens_millions():
    assert format_money_compact(Decimal("1234567")) == "€1.2M"


def test_money_compact_keeps_small_amounts_whole():
    assert format_money_compact(Decimal("9000.40")) == "€9,000"


def test_money_compact_of_nothing_is_zero_euros():
    assert money_compact(None) == "€0"


def test_a_rounded_amount_shows_the_exact_one_on_hover_and_says_it_to_screen_readers():
    shown = money_compact(Decimal("1734250"))
    assert shown == (
        '<span class="money-compact" title="€1,734,250"><span aria-hidden="true">€1.7M</span>'
        '<span class="visually-hidden">€1,734,250</span></span>'
    )
    # Cents survive in the exact figure that rounding dropped.
    assert 'title="€9,000.40"' in money_compact(Decimal("9000.40"))


def test_an_amount_rounding_leaves_alone_is_plain_text():
    assert money_compact(Decimal(4800)) == "€4,800"
    assert money_compact_text(Decimal("1734250")) == "€1.7M"


@pytest.mark.django_db
def test_lead_list_shows_money_in_the_language_of_the_request(rep_client):
    LeadFactory(title="Dutch", value=Decimal("25000"), probability=40)

    in_english = rep_client.get(reverse("leads:list"), headers={"Accept-Language": "en"})
    in_dutch = rep_client.get(reverse("leads:list"), headers={"Accept-Language": "nl"})

    assert "€25,000" in in_english.text
    assert f"€{NBSP}25.000" in in_dutch.text
    assert "€25,000" not in in_dutch.text


def test_money_remembers_amounts_per_language_not_across_languages():
    amount = Decimal("1234567.5")
    assert money(amount) == "€1,234,567.50"
    with translation.override("nl"):
        assert money(amount) == f"€{NBSP}1.234.567,50"
    assert money(amount) == "€1,234,567.50"


def test_day_filter_shows_a_date_in_the_active_language():
    day = datetime.date(2026, 10, 3)
    assert render("{{ value|day }}", value=day) == "3 Oct 2026"
    with translation.override("nl"):
        assert render("{{ value|day }}", value=day) == "3 okt. 2026"  # as the Taalunie writes it
    assert render("{{ value|day }}", value=day) == "3 Oct 2026"


def test_day_filter_shows_a_datetimes_local_date():
    # 23:30 UTC on the 3rd is already the 4th in Amsterdam (the project's time zone).
    moment = datetime.datetime(2026, 10, 3, 23, 30, tzinfo=datetime.UTC)
    assert render("{{ value|day }}", value=moment) == "4 Oct 2026"


@pytest.mark.parametrize("value", [None, ""])
def test_day_filter_shows_nothing_for_no_date(value):
    assert render("{{ value|day }}", value=value) == ""
