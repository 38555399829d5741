"""Each token, and each signed-in user's session, has API_RATE_LIMIT requests per
API_RATE_PERIOD seconds; past that, 429 with Retry-After, until the window ends."""

import pytest
import time_machine
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.API_RATE_LIMIT = 3
    settings.API_RATE_PERIOD = 60


def test_every_answer_says_what_is_left_and_past_the_limit_429_with_retry_after(api, rep):
    with time_machine.travel(timezone.datetime(2030, 1, 7, 9, 0, 10, tzinfo=timezone.UTC)):
        client = api(rep)
        remaining = []
        for _ in range(3):
            response = client.get("/api/v1/sources/")
            assert response.status_code == 200
            assert response["RateLimit-Limit"] == "3"
            remaining.append(response["RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        refused = client.get("/api/v1/sources/")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "50"  # the window ends at 09:01:00
        assert "Too many requests" in refused.json()["detail"]
        # Writes count alike, and are refused before anything is written.
        assert client.post("/api/v1/leads/", {"title": "Later"}).status_code == 429
    with time_machine.travel(timezone.datetime(2030, 1, 7, 9, 1, 0, tzinfo=timezone.UTC)):
        assert client.get("/api/v1/sources/").status_code == 200


def test_each_token_has_its_own_count(api, rep):
    first, second = api(rep), api(rep)
    for _ in range(3):
        first.get("/api/v1/sources/")
    assert first.get("/api/v1/sources/").status_code == 429
    assert second.get("/api/v1/sources/").status_code == 200


def test_a_session_is_counted_by_its_user(client, rep):
    client.force_login(rep)
    statuses = [client.get("/api/v1/sources/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_delete_says_what_is_left_too(api, rep):
    from tests.factories import LeadFactory

    lead = LeadFactory(created_by=rep)
    response = api(rep).delete(f"/api/v1/leads/{lead.pk}/")
    assert response.status_code == 204
    assert response["RateLimit-Remaining"] == "2"
