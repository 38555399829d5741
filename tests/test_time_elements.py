"""``<time datetime>`` holds what the HTML standard allows (issue 21, item 7): a date, or a
date and time in whole seconds with its offset, never microseconds (which the Nu checker
rejects). Every page the Dutch test reads, read here in English with the demo data."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.test_dutch_pages import PAGES, demo, rows  # noqa: F401 - the fixture by name

VALID = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z))?")
DATETIME = re.compile(r'<time datetime="([^"]*)"')


@pytest.mark.django_db
def test_every_time_element_says_a_valid_date_or_moment(demo):  # noqa: F811
    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    ids = rows()
    seen, invalid = 0, []
    for urls in PAGES.values():
        for url in (template.format(**ids) for template in urls):
            for value in DATETIME.findall(client.get(url).content.decode()):
                seen += 1
                if not VALID.fullmatch(value):
                    invalid.append(f"{url}: {value!r}")
    assert seen > 100  # the lists, details and timelines say when
    assert not invalid, invalid[:10]
