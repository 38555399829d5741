"""Bad input is refused with a 4xx and a JSON answer, never a 5xx, and changes nothing."""

import json

import pytest

from leads.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

HUGE = 10**40


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        "[1, 2]",
        '"a string"',
        "null",
        b"\xff\xfe\x00",
        json.dumps({"title": "A", "value": 1e308 * 10}),  # Infinity
        '{"title": "A", "value": NaN}',
        json.dumps({"title": "A", "value": "1" * 400}),
        json.dumps({"title": "A", "probability": HUGE}),
        json.dumps({"title": "A", "stage": HUGE}),
        json.dumps({"title": "A", "client": -HUGE}),
        json.dumps({"title": "A", "assignee": HUGE}),
        json.dumps({"title": "A", "source": 0}),
        json.dumps({"title": "A\x00B"}),
        json.dumps({"title": "A", "description": "\x00"}),
        json.dumps({"title": ["A"]}),
        json.dumps({"title": {"$gt": ""}}),
        json.dumps({"title": "A", "expected_close_date": "99999-01-01"}),
        json.dumps({"title": "A", "expected_close_date": "0000-00-00"}),
        json.dumps({"title": "A", "priority": "urgent\x00"}),
        json.dumps({"title": "A", "unknown": 1}),
        json.dumps({"title": "x" * 100_000}),
    ],
)
def test_a_bad_body_is_refused_with_4xx_and_nothing_is_saved(api, rep, body):
    response = api(rep).post("/api/v1/leads/", body)
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/leads/{HUGE}/",
        f"/api/v1/leads/{HUGE}/timeline/",
        f"/api/v1/clients/{HUGE}/",
        f"/api/v1/users/{HUGE}/",
        "/api/v1/leads/-1/",
        "/api/v1/leads/abc/",
        "/api/v1/leads/?limit=0",
        "/api/v1/leads/?limit=abc",
        f"/api/v1/leads/?limit={HUGE}",
        f"/api/v1/leads/?client={HUGE}",
        f"/api/v1/leads/?stage={HUGE}",
        f"/api/v1/leads/?value_min={HUGE}",
        "/api/v1/leads/?due_from=2026-13-45",
        "/api/v1/leads/?q=%00",
        "/api/v1/leads/?cursor=%00",
        f"/api/v1/leads/?assignee={HUGE}",
        "/api/v1/nothing-here/",
    ],
)
def test_a_bad_url_is_refused_with_4xx_json(api, rep, path):
    LeadFactory()
    response = api(rep).get(path)
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


def test_a_huge_version_or_id_in_a_write_is_refused(api, rep):
    lead = LeadFactory(created_by=rep, title="Kept")
    client = api(rep)
    assert (
        client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "X", "version": HUGE}).status_code
        == 409
    )
    assert client.post(f"/api/v1/leads/{lead.pk}/move/", {"stage": HUGE}).status_code == 422
    assert client.post(f"/api/v1/leads/{lead.pk}/assign/", {"assignee": HUGE}).status_code == 422
    assert Lead.objects.get(pk=lead.pk).title == "Kept"
