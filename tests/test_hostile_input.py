"""The finding's hostile numbers, one by one: a 404, a 422 or ignored, never a 500."""

import pytest
from django.urls import reverse

from crm.web.params import whole_number
from leads.models import Lead
from tests.factories import ClientFactory, LeadEventFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"


@pytest.fixture
def lead(manager):
    lead = LeadFactory(created_by=manager)
    LeadEventFactory(lead=lead)
    return lead


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/leads/{pk}/?events_page=" + HUGE, {}),
        ("/leads/{pk}/?events_page=" + HUGE, {"HX-Request": "true", "HX-Target": "timeline-more"}),
        ("/leads/{pk}/?events_page=²", {}),
        ("/board/?column=1&offset=" + HUGE, {"HX-Request": "true", "HX-Target": "cards-1"}),
        ("/board/?column=1&offset=" + HUGE, {}),
        ("/leads/new/?client=" + HUGE, {}),
        ("/leads/new/?contact=" + HUGE, {}),
        ("/leads/{pk}/edit/?client=" + HUGE, {"HX-Request": "true", "HX-Target": "field-contact"}),
        ("/leads/?stage=" + HUGE, {}),
        ("/leads/?stage=" + HUGE + "&stage=1", {"HX-Request": "true", "HX-Target": "lead-results"}),
        ("/leads/export.csv?stage=" + HUGE, {}),
        ("/leads/?client=" + HUGE, {}),
        ("/leads/?per_page=" + HUGE, {}),
        ("/leads/?value_min=1e28", {}),
        ("/leads/?value_max=" + "9" * 40, {"HX-Request": "true", "HX-Target": "lead-results"}),
        ("/leads/?value_min=1e-40&value_max=NaN", {}),
        ("/leads/export.csv?value_min=1e28", {}),
        ("/board/?value_min=1e28", {}),
        ("/contacts/new/?client=" + HUGE, {}),
        ("/contacts/?client=" + HUGE, {}),
    ],
)
def test_out_of_range_numbers_in_the_url_are_ignored_or_not_found(
    manager_client, lead, url, headers
):
    response = manager_client.get(url.format(pk=lead.pk), headers=headers)
    assert response.status_code in (200, 404)


def test_an_out_of_range_client_in_a_posted_form_is_a_field_error(manager_client):
    response = manager_client.post(
        reverse("leads:create"),
        {"title": "Hostile", "stage": default_stage().pk, "priority": "normal", "client": HUGE},
    )
    assert response.status_code == 422
    assert "Select a valid choice" in response.text
    assert not Lead.objects.exists()


def test_an_out_of_range_contact_for_a_real_client_is_a_field_error(manager_client):
    client = ClientFactory()
    response = manager_client.post(
        reverse("leads:create"),
        {
            "title": "Hostile",
            "stage": default_stage().pk,
            "priority": "normal",
            "client": client.pk,
            "contact": HUGE,
        },
    )
    assert response.status_code == 422
    assert not Lead.objects.exists()


def test_an_out_of_range_stage_move_is_refused_and_changes_nothing(manager_client, lead):
    response = manager_client.post(reverse("leads:move_stage", args=[lead.pk]), {"stage": HUGE})
    assert response.status_code == 302  # back to the lead, with "Stage no longer exists"
    lead.refresh_from_db()
    assert lead.version == 1


@pytest.mark.parametrize(
    ("text", "number"),
    [("12", 12), ("0", 0), ("", None), ("-1", None), ("²", None), ("٣", None), ("1.5", None),
     (" 1", None), (HUGE, None), (None, None), ("1" * 16, None)],
)  # fmt: skip
def test_whole_number_reads_plain_digits_within_bounds(text, number):
    assert whole_number(text) == number


def test_numbers_no_column_holds_match_nothing_in_any_integer_lookup(lead):
    """The mechanism under the URLs above: the ORM, on SQLite as on PostgreSQL."""
    huge, tiny = int(HUGE), -int(HUGE)
    assert list(Lead.objects.filter(stage__in=[huge, lead.stage_id])) == [lead]
    assert list(Lead.objects.filter(pk__in=[huge, tiny, lead.pk])) == [lead]
    assert not Lead.objects.filter(pk__in=[huge]).exists()
    assert not Lead.objects.filter(client=huge).exists()
    assert not Lead.objects.filter(stage_id=huge).exists()
    assert not Lead.objects.filter(assignee__in=[tiny]).exists()
    assert Lead.objects.exclude(stage__in=[huge]).count() == 1


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        (
            "get",
            "/admin/autocomplete/",
            {"term": "\x00", "app_label": "leads", "model_name": "lead", "field_name": "client"},
        ),
        ("get", "/leads/", {"q": "a\x00b"}),
        ("post", "/leads/{pk}/assign/", {"assignee": "\x00"}),
        ("post", "/leads/{pk}/notes/", {"text": "Hello\x00"}),
        ("post", "/leads/new/", {"title": "\x00", "stage": "1", "priority": "normal"}),
    ],
)
def test_a_nul_character_is_a_bad_request_before_any_query_sees_it(
    admin_client, lead, method, url, data
):
    """PostgreSQL cannot compare text with a NUL in it: it was a 500 in the assign picker."""
    before = Lead.objects.values_list("version", flat=True).get(pk=lead.pk)
    response = getattr(admin_client, method)(url.format(pk=lead.pk), data)
    assert response.status_code == 400
    assert Lead.objects.values_list("version", flat=True).get(pk=lead.pk) == before


def test_an_unknown_or_overlong_username_in_the_assign_picker_is_a_refusal(manager_client, lead):
    for wanted in ("nobody", "x" * 500):
        response = manager_client.post(
            reverse("leads:assign", args=[lead.pk]),
            {"assignee": wanted},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 422
        assert "User not found." in response.headers["HX-Trigger"]
