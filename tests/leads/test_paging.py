"""The lead list's pages (``leads.paging``, issue 18): "Next" and "Previous" seek from the
lead the page ends (starts) with instead of counting off the leads before it, a page
number alone counts off from the nearer end, and every way gives the same rows.
"""

import datetime
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

TITLE = re.compile(r'<td class="cell-title"><a href="/leads/\d+/">(?P<title>.*?)</a>')
NEXT = re.compile(r'<a href="(?P<href>[^"]*)"[^>]*rel="next"')
PREVIOUS = re.compile(r'<a href="(?P<href>[^"]*)"[^>]*rel="prev"')
POSITION = re.compile(r'<span id="page-position" aria-current="page">(?P<text>.*?)</span>')
HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "lead-results"}
LEADS = 60  # three pages of 25: 25, 25, 10


@pytest.fixture
def leads():
    """60 leads whose sort values tie in runs of seven (the id breaks the ties), so that a
    page's edge falls inside a run of equal values."""
    made = [LeadFactory(title=f"Lead {n // 7:02d}") for n in range(LEADS)]
    base = timezone.now() - datetime.timedelta(days=30)
    for n, lead in enumerate(made):
        moment = base + datetime.timedelta(hours=n // 7)
        Lead.objects.filter(pk=lead.pk).update(
            updated_at=moment, created_at=moment, stage_entered_at=moment
        )
    return made


def titles(response) -> list[str]:
    return [html.unescape(m["title"]) for m in TITLE.finditer(response.text)]


def link(pattern, response) -> str | None:
    match = pattern.search(response.text)
    return html.unescape(match["href"]) if match else None


def query(url: str) -> dict:
    return parse_qs(urlsplit(url).query)


def ordered(sort: str) -> list[str]:
    """The titles in the list's order, by the ORM (the sort, then the id, alike)."""
    key = sort.removeprefix("-")
    field = {"age": "stage_entered_at"}.get(key, key)
    # Age in stage runs the other way round: the longest (earliest entry) first.
    descending = sort.startswith("-") != (key == "age")
    order = [f"-{field}", "-id"] if descending else [field, "id"]
    return list(Lead.objects.order_by(*order).values_list("title", flat=True))


SEEKING = ["-updated_at", "updated_at", "title", "-title", "created_at", "age", "-age"]


@pytest.mark.parametrize("sort", SEEKING)
def test_next_and_previous_seek_and_show_every_lead_once_in_order(rep_client, leads, sort):
    url = f"{reverse('leads:list')}?sort={sort}"
    seen, pages = [], []
    while url:
        response = rep_client.get(url, headers=HTMX_RESULTS)
        assert response.status_code == 200
        pages.append(titles(response))
        seen += pages[-1]
        url = link(NEXT, response)
        if url:
            assert query(url)["after"], "a page that can seek names where it ends"
            url = reverse("leads:list") + url
    assert [len(page) for page in pages] == [25, 25, 10]
    assert seen == ordered(sort)

    # Back from the last page by "Previous": the same pages, from the lead each started with.
    back = []
    for _ in range(2):
        url = reverse("leads:list") + link(PREVIOUS, response)
        assert query(url)["before"]
        response = rep_client.get(url, headers=HTMX_RESULTS)
        back.append(titles(response))
    assert back == [pages[1], pages[0]]
    assert POSITION.search(response.text)["text"] == "Page 1 of 3"


@pytest.mark.parametrize("sort", [*SEEKING, "-value", "client", "stage", "priority"])
def test_a_page_number_alone_shows_the_same_rows_from_either_end(rep_client, leads, sort):
    by_number = [
        titles(rep_client.get(reverse("leads:list"), {"sort": sort, "page": page}))
        for page in (1, 2, 3)
    ]
    # Page 3 lies past the middle of the set: it is counted off from its end.
    assert [len(page) for page in by_number] == [25, 25, 10]
    shown = [title for page in by_number for title in page]
    if sort in SEEKING:
        assert shown == ordered(sort)
    else:  # the same leads, each once, whatever the order of their ties
        assert sorted(shown) == sorted(ordered("title"))


def test_a_sort_that_cannot_seek_pages_by_number_alone(rep_client, leads):
    response = rep_client.get(reverse("leads:list"), {"sort": "-value"})

    assert query(link(NEXT, response)) == {"sort": ["-value"], "page": ["2"]}


def test_a_page_past_the_last_shows_the_last(rep_client, leads):
    response = rep_client.get(reverse("leads:list"), {"page": "99"})

    assert len(titles(response)) == 10
    assert POSITION.search(response.text)["text"] == "Page 3 of 3"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "~",
        "12~not a date",
        "x~2026-01-01T00:00:00+00:00",
        "99999999~2026-01-01T00:00:00+00:00~",
        "-5~2026-01-01T00:00:00+00:00",
        "5~2026-01-01",
        "1" * 400 + "~2026-01-01T00:00:00+00:00",
    ],
)
def test_a_mistyped_cursor_counts_the_page_off_instead(rep_client, leads, cursor):
    expected = titles(rep_client.get(reverse("leads:list"), {"page": "2"}))

    response = rep_client.get(reverse("leads:list"), {"page": "2", "after": cursor})

    assert response.status_code == 200
    assert titles(response) == expected


def test_a_cursor_of_another_sort_is_not_read_as_this_one(rep_client, leads):
    # "Next" under the title sort names a title; a date sort cannot seek from it.
    first = rep_client.get(reverse("leads:list"), {"sort": "title"})
    cursor = query(link(NEXT, first))["after"][0]
    expected = titles(rep_client.get(reverse("leads:list"), {"page": "2"}))

    response = rep_client.get(reverse("leads:list"), {"page": "2", "after": cursor})

    assert titles(response) == expected


def test_a_lead_written_meanwhile_does_not_move_the_next_page(rep_client, leads):
    first = rep_client.get(reverse("leads:list"))
    next_url = reverse("leads:list") + link(NEXT, first)
    expected = titles(rep_client.get(next_url))
    # A teammate writes the last lead of page 1: it jumps to the top of the list.
    last_of_first = query(next_url)["after"][0].split("~")[0]
    Lead.objects.filter(pk=last_of_first).update(updated_at=timezone.now())

    # Page 2 still starts after where page 1 ended: counted off, it would repeat a lead.
    assert titles(rep_client.get(next_url)) == expected


def test_sort_links_drop_the_cursor_with_the_page(rep_client, leads):
    first = rep_client.get(reverse("leads:list"))
    page_two = rep_client.get(reverse("leads:list") + link(NEXT, first))

    sort_link = re.search(r'<a class="sort-link" href="([^"]*)"', page_two.text)[1]

    assert set(query(html.unescape(sort_link))) == {"sort"}


def test_removing_a_filter_chip_drops_the_cursor_with_the_page(rep_client, leads):
    first = rep_client.get(reverse("leads:list"), {"q": "Lead"})
    page_two = rep_client.get(reverse("leads:list") + link(NEXT, first))

    chip = re.search(r'<a class="chip-remove" href="([^"]*)"', page_two.text)[1]

    # Nothing but "every open lead" (not the user's default view): no page, no cursor.
    assert query(html.unescape(chip)) == {"view": ["all"]}
