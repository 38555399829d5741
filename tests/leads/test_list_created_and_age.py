"""The lead list's created-date range and days-in-stage bounds (the source and aging
reports link to them), both counted in the site's local dates."""

import datetime
import zoneinfo

import pytest
import time_machine

from tests.factories import LeadFactory, default_stage
from tests.leads.test_aging import AGING, list_page, titles
from tests.leads.test_list import chips

pytestmark = pytest.mark.django_db

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")  # the site's TIME_ZONE
# Monday 30 November 2026, 10:00 in Amsterdam.
NOW = datetime.datetime(2026, 11, 30, 10, tzinfo=AMSTERDAM)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False):
        yield


def at(text: str) -> datetime.datetime:
    """A moment on Amsterdam's clock: "2026-09-01 00:30"."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM)


# --- created from / to -------------------------------------------------------------------


@pytest.fixture
def leads_by_creation(db):
    LeadFactory(title="Last moment of August", created_at=at("2026-08-31 23:59"))
    # 22:30 UTC on 31 August: already 1 September in Amsterdam (summer time).
    LeadFactory(title="First hour of September", created_at=at("2026-09-01 00:30"))
    LeadFactory(title="Mid September", created_at=at("2026-09-15 12:00"))
    LeadFactory(title="Last minute of September", created_at=at("2026-09-30 23:59"))
    LeadFactory(title="October", created_at=at("2026-10-01 00:00"))


@pytest.mark.usefixtures("leads_by_creation")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"created_from": "2026-09-01"},
            ["First hour of September", "Last minute of September", "Mid September", "October"],
        ),
        (
            {"created_to": "2026-09-30"},
            [
                "First hour of September",
                "Last minute of September",
                "Last moment of August",
                "Mid September",
            ],
        ),
        (
            {"created_from": "2026-09-01", "created_to": "2026-09-30"},
            ["First hour of September", "Last minute of September", "Mid September"],
        ),
        ({"created_from": "2026-09-15", "created_to": "2026-09-15"}, ["Mid September"]),
    ],
)
def test_created_range_is_inclusive_in_local_dates(rep_client, params, expected):
    assert sorted(titles(list_page(rep_client, params))) == expected


def test_created_range_counts_closed_leads_with_status_all(rep_client):
    LeadFactory(title="Won", stage=default_stage("Won"), created_at=at("2026-09-02 09:00"))
    LeadFactory(title="Open", created_at=at("2026-09-03 09:00"))
    params = {"created_from": "2026-09-01", "created_to": "2026-09-30"}

    assert titles(list_page(rep_client, params)) == ["Open"]  # open, unless asked
    assert sorted(titles(list_page(rep_client, {**params, "status": "all"}))) == ["Open", "Won"]


@pytest.mark.usefixtures("leads_by_creation")
def test_created_chips_remove_only_their_bound(rep_client):
    found = chips(list_page(rep_client, {"created_from": "2026-09-01", "created_to": "2026-09-30"}))

    assert found["Created from: 2026-09-01"] == {"created_to": ["2026-09-30"]}
    assert found["Created to: 2026-09-30"] == {"created_from": ["2026-09-01"]}


@pytest.mark.usefixtures("leads_by_creation")
@pytest.mark.parametrize(
    "params",
    [
        {"created_from": "0001-01-01"},
        {"created_to": "9999-12-31"},
        {"created_from": "0001-01-01", "created_to": "9999-12-31"},
    ],
)
def test_the_first_and_last_days_a_date_can_hold_leave_the_range_open(rep_client, params):
    assert len(titles(list_page(rep_client, params))) == 5


@pytest.mark.parametrize(
    "params", [{"created_from": "2026-02-30"}, {"created_to": "yesterday"}, {"age_min": "-1"}]
)
def test_bad_created_and_age_values_are_reported_and_ignored(rep_client, params):
    LeadFactory(title="Still here")

    response = list_page(rep_client, params)

    assert response.status_code == 200
    assert titles(response) == ["Still here"]
    assert "Some filters were not understood" in response.text


@pytest.mark.usefixtures("leads_by_creation")
def test_created_fields_keep_their_values_in_the_filter_bar(rep_client):
    text = list_page(rep_client, {"created_from": "2026-09-01", "age_max": "7"}).text

    assert 'name="created_from" value="2026-09-01"' in text
    assert 'name="age_max" value="7"' in text
    assert '<details class="filter-menu filter-more" open>' in text


# --- days in stage -------------------------------------------------------------------------


@pytest.fixture
def leads_by_stage_entry(db):
    # Days in stage in local dates: entered yesterday at 23:59 is 1 day, as is yesterday
    # at 00:00; today at 00:00 is 0.
    LeadFactory(title="Today", stage_entered_at=at("2026-11-30 00:00"))
    LeadFactory(title="1 day, late", stage_entered_at=at("2026-11-29 23:59"))
    LeadFactory(title="7 days", stage_entered_at=at("2026-11-23 00:00"))
    LeadFactory(title="8 days", stage_entered_at=at("2026-11-22 23:59"))
    LeadFactory(title="14 days", stage_entered_at=at("2026-11-16 08:00"))
    LeadFactory(title="15 days", stage_entered_at=at("2026-11-15 20:00"))
    LeadFactory(title="30 days", stage_entered_at=at("2026-10-31 00:00"))
    LeadFactory(title="31 days", stage_entered_at=at("2026-10-30 23:59"))


@pytest.mark.usefixtures("leads_by_stage_entry")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"age_max": "0"}, ["Today"]),
        ({"age_max": "7"}, ["1 day, late", "7 days", "Today"]),
        ({"age_min": "8", "age_max": "14"}, ["14 days", "8 days"]),
        ({"age_min": "15", "age_max": "30"}, ["15 days", "30 days"]),
        ({"age_min": "31"}, ["31 days"]),
        ({"age_min": "1", "age_max": "1"}, ["1 day, late"]),
    ],
)
def test_days_in_stage_bounds_are_inclusive_in_local_dates(rep_client, params, expected):
    assert sorted(titles(list_page(rep_client, params))) == expected


@pytest.mark.usefixtures("leads_by_stage_entry")
def test_days_in_stage_chips_say_the_bound_and_remove_only_it(rep_client):
    found = chips(list_page(rep_client, {"age_min": "8", "age_max": "14"}))

    assert found["In stage ≥ 8 days"] == {"age_max": ["14"]}
    assert found["In stage ≤ 14 days"] == {"age_min": ["8"]}


@pytest.mark.usefixtures("leads_by_stage_entry")
def test_the_age_badge_counts_the_days_the_filter_counts(rep_client):
    """Entered on 22 November at 23:59 is 8 days on 30 November at 10:00, though only
    7 days and 10 hours have passed: the badge, the filter and the aging report agree."""
    response = list_page(rep_client, {"age_min": "8", "age_max": "8"})

    assert titles(response) == ["8 days"]
    badge = AGING.search(response.text)
    assert (badge["days"], badge["level"]) == ("8", "warn")  # warns from 7 days
