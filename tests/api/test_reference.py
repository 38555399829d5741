"""/api/v1/pipelines/, /sources/, /loss-reasons/, /users/: what leads point at."""

import pytest

from tests.factories import PipelineFactory, PipelineStageFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_pipelines_come_with_their_stages_in_order_the_default_first(api, rep):
    other = PipelineFactory(name="Another")
    PipelineStageFactory(pipeline=other, name="Only", order=0)
    pipelines = api(rep).get("/api/v1/pipelines/").json()
    assert [p["name"] for p in pipelines] == ["Sales", "Another"]
    assert [stage["name"] for stage in pipelines[0]["stages"]] == [
        "New", "Contacted", "Qualified", "Proposal", "Negotiation", "Won", "Lost",
    ]  # fmt: skip
    assert pipelines[0]["stages"][5]["kind"] == "won"
    one = api(rep).get(f"/api/v1/pipelines/{other.pk}/").json()
    assert one["stages"][0]["name"] == "Only"


def test_the_lists_cost_a_fixed_number_of_queries(api, rep, django_assert_max_num_queries):
    client = api(rep)
    client.get("/api/v1/sources/")
    for _ in range(3):
        PipelineStageFactory(pipeline=PipelineFactory())
        UserFactory(groups=["Sales rep"])
    for path in ("/api/v1/pipelines/", "/api/v1/users/"):
        with django_assert_max_num_queries(6):
            assert client.get(path).status_code == 200


def test_sources_and_loss_reasons(api, rep):
    sources = api(rep).get("/api/v1/sources/").json()
    assert sources[0] == {
        "id": sources[0]["id"],
        "slug": "website",
        "label": "Website",
        "active": True,
    }
    reasons = api(rep).get("/api/v1/loss-reasons/").json()
    assert "other" in {reason["slug"] for reason in reasons}


def test_users_are_the_active_ones_with_their_roles(api, rep, manager):
    UserFactory(username="gone", is_active=False)
    users = {user["username"]: user for user in api(rep).get("/api/v1/users/").json()}
    assert "gone" not in users
    assert users["manager"]["roles"] == ["Sales manager"]
    assert api(rep).get(f"/api/v1/users/{manager.pk}/").json()["username"] == "manager"
    assert api(rep).get("/api/v1/users/999999/").status_code == 404
