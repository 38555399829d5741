"""Choosing the language (issue 21, item 2) and writing numbers, money and dates in it
(item 3)."""

import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from crm.language import SESSION_KEY
from crm.models import LanguagePreference
from crm.web.templatetags.formatting import day, iso, moment, money

LANGUAGE_URL = reverse("crm:language")


def _html_lang(response) -> str:
    text = response.content.decode()
    start = text.index('<html lang="') + len('<html lang="')
    return text[start : text.index('"', start)]


@pytest.mark.django_db
class TestChoosingTheLanguage:
    def test_the_browser_decides_until_the_user_chooses(self, rep_client):
        page = reverse("leads:list")
        assert _html_lang(rep_client.get(page)) == "en"
        dutch = rep_client.get(page, HTTP_ACCEPT_LANGUAGE="nl-NL,nl;q=0.9,en;q=0.5")
        assert _html_lang(dutch) == "nl"
        assert dutch["Content-Language"] == "nl"

    def test_the_choice_beats_the_browser_and_keeps_the_url(self, rep, rep_client):
        page = reverse("leads:list")
        response = rep_client.post(LANGUAGE_URL, {"language": "nl", "next": page})
        assert response.status_code == 303
        assert response["Location"] == page
        assert LanguagePreference.objects.get(user=rep).language == "nl"
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"
        english_browser = rep_client.get(page, HTTP_ACCEPT_LANGUAGE="en")
        assert _html_lang(english_browser) == "nl"
        assert english_browser.request["PATH_INFO"] == page

    def test_the_choice_follows_the_user_to_another_device(self, rep):
        first = Client()
        first.force_login(rep)
        first.post(LANGUAGE_URL, {"language": "nl"})
        other_device = Client()  # no cookie, no session
        other_device.force_login(rep)
        response = other_device.get(reverse("leads:list"), HTTP_ACCEPT_LANGUAGE="en")
        assert _html_lang(response) == "nl"

    def test_switching_back_to_english(self, rep, rep_client):
        rep_client.post(LANGUAGE_URL, {"language": "nl"})
        rep_client.post(LANGUAGE_URL, {"language": "en"})
        assert LanguagePreference.objects.get(user=rep).language == "en"
        assert _html_lang(rep_client.get(reverse("leads:list"), HTTP_ACCEPT_LANGUAGE="nl")) == "en"

    def test_an_unknown_language_changes_nothing(self, rep, rep_client):
        response = rep_client.post(LANGUAGE_URL, {"language": "fr", "next": "/leads/"})
        assert response.status_code == 303
        assert not LanguagePreference.objects.filter(user=rep).exists()
        assert settings.LANGUAGE_COOKIE_NAME not in response.cookies

    def test_a_language_no_longer_offered_falls_back_in_sessions_and_tasks(self, rep, rep_client):
        from leads.tasks import _language

        session = rep_client.session
        session[SESSION_KEY] = "fr"  # chosen once, since taken out of LANGUAGES
        session.save()
        assert _html_lang(rep_client.get(reverse("leads:list"))) == settings.LANGUAGE_CODE
        assert _language("fr") == _language(None) == settings.LANGUAGE_CODE
        assert _language("nl") == "nl"

    @pytest.mark.parametrize(
        "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
    )
    def test_it_never_sends_the_user_to_another_site(self, rep_client, target):
        response = rep_client.post(LANGUAGE_URL, {"language": "nl", "next": target})
        assert response["Location"] == "/"

    def test_without_next_it_goes_back_where_it_came_from(self, rep_client):
        response = rep_client.post(
            LANGUAGE_URL, {"language": "nl"}, HTTP_REFERER="http://testserver/clients/"
        )
        assert response["Location"] == "http://testserver/clients/"

    def test_a_get_changes_nothing(self, rep, rep_client):
        assert rep_client.get(LANGUAGE_URL + "?language=nl").status_code == 405
        assert not LanguagePreference.objects.filter(user=rep).exists()

    def test_it_needs_the_csrf_token(self, rep):
        client = Client(enforce_csrf_checks=True)
        client.force_login(rep)
        assert client.post(LANGUAGE_URL, {"language": "nl"}).status_code == 403
        assert not LanguagePreference.objects.filter(user=rep).exists()

    def test_signed_out_the_browser_keeps_it_for_the_sign_in_page(self, client):
        response = client.post(LANGUAGE_URL, {"language": "nl", "next": reverse("login")})
        assert response.status_code == 303
        assert not LanguagePreference.objects.exists()
        assert _html_lang(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")) == "nl"

    def test_the_choice_costs_a_request_no_query(self, rep_client):
        page = reverse("crm:api_tokens")
        rep_client.post(LANGUAGE_URL, {"language": "nl"})
        with CaptureQueriesContext(connection) as dutch:
            assert _html_lang(rep_client.get(page)) == "nl"
        rep_client.post(LANGUAGE_URL, {"language": "en"})
        with CaptureQueriesContext(connection) as english:
            assert _html_lang(rep_client.get(page)) == "en"
        assert len(dutch.captured_queries) == len(english.captured_queries)


class TestFormatsPerLanguage:
    """Babel for money, Django's formats (crm/formats) for dates."""

    @pytest.mark.parametrize(
        ("language", "amount", "expected"),
        [
            ("en", Decimal("1234.56"), "€1,234.56"),
            ("nl", Decimal("1234.56"), "€\xa01.234,56"),
            ("en", Decimal("25000"), "€25,000"),
            ("nl", Decimal("25000"), "€\xa025.000"),
        ],
    )
    def test_money(self, language, amount, expected):
        with translation.override(language):
            assert money(amount) == expected

    @pytest.mark.parametrize(
        ("language", "date", "expected"),
        [
            ("en", datetime.date(2026, 12, 31), "31 Dec 2026"),
            ("nl", datetime.date(2026, 12, 31), "31 dec. 2026"),
            ("nl", datetime.date(2026, 5, 3), "3 mei 2026"),
            ("nl", datetime.date(2026, 3, 3), "3 mrt. 2026"),
        ],
    )
    def test_days(self, language, date, expected):
        with translation.override(language):
            assert day(date) == expected

    def test_moments_in_local_time(self, settings):
        settings.TIME_ZONE = "Europe/Amsterdam"
        at = datetime.datetime(2026, 12, 31, 13, 5, 7, 123456, tzinfo=datetime.UTC)
        with translation.override("en"):
            assert moment(at) == "31 Dec 2026 14:05"
        with translation.override("nl"):
            assert moment(at) == "31 dec. 2026 14:05"

    def test_time_elements_get_whole_seconds(self, settings):
        settings.TIME_ZONE = "Europe/Amsterdam"
        at = datetime.datetime(2026, 12, 31, 13, 5, 7, 123456, tzinfo=datetime.UTC)
        assert iso(at) == "2026-12-31T14:05:07+01:00"
        assert iso(datetime.date(2026, 12, 31)) == "2026-12-31"
        assert iso(None) == ""
        assert "." not in iso(timezone.now())


@pytest.mark.django_db
class TestFormsInDutch:
    """The forms read what a Dutch user types, and answer in Dutch keeping it."""

    def test_a_dutch_amount_is_read_as_dutch(self, rep_client):
        from leads.models import Lead
        from tests.leads.test_form import valid_data

        response = rep_client.post(
            reverse("leads:create"),
            valid_data(value="€ 1.234,56"),
            HTTP_ACCEPT_LANGUAGE="nl",
        )
        assert response.status_code == 302
        assert Lead.objects.get().value == Decimal("1234.56")

    def test_an_error_is_said_in_dutch_and_loses_nothing(self, rep_client):
        from tests.leads.test_form import valid_data

        response = rep_client.post(
            reverse("leads:create"),
            valid_data(value="veel geld", description="Alles wat ik typte"),
            HTTP_ACCEPT_LANGUAGE="nl",
        )
        assert response.status_code == 422
        html = response.content.decode()
        english = "Enter an amount, for example 25000 or 25.000,50."
        with translation.override("nl"):
            dutch = translation.gettext(english)
        assert dutch != english
        assert escape(dutch) in html
        assert 'value="veel geld"' in html
        assert "Alles wat ik typte" in html
