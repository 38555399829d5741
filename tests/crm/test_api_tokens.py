"""/settings/api-tokens/: a user's tokens, a new one shown once, revoking one."""

import re

import pytest

from crm.models import ApiToken, api_token_digest
from tests.factories import RepFactory

pytestmark = pytest.mark.django_db


def test_the_page_lists_only_the_users_own_tokens(rep_client, rep):
    ApiToken.objects.issue(user=rep, name="Website sync")
    ApiToken.objects.issue(user=RepFactory(), name="Someone else's")
    page = rep_client.get("/settings/api-tokens/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Website sync" in html
    assert "Someone else" not in html
    assert 'href="/settings/api-tokens/"' in html  # the user menu links here


def test_a_new_token_is_shown_once_and_stored_as_its_hash(rep_client, rep):
    response = rep_client.post("/settings/api-tokens/new/", {"name": "Zapier"})
    assert response.status_code == 201
    secret = re.search(r'value="(crm_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get(user=rep)
    assert token.name == "Zapier"
    assert token.digest == api_token_digest(secret)
    assert secret not in rep_client.get("/settings/api-tokens/").content.decode()
    api = rep_client.get("/api/v1/users/me/", headers={"Authorization": f"Bearer {secret}"})
    assert api.json()["username"] == rep.username


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Name the token."), ("x" * 101, "A name can be at most 100 characters (it has 101).")],
)
def test_a_bad_name_answers_422_and_makes_nothing(rep_client, name, message):
    response = rep_client.post("/settings/api-tokens/new/", {"name": name})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_stops_the_token_and_keeps_the_row(rep_client, rep):
    token, secret = ApiToken.objects.issue(user=rep, name="Old")
    response = rep_client.post(f"/settings/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Revoked" in rep_client.get("/settings/api-tokens/").content.decode()
    api = rep_client.get("/api/v1/users/me/", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401


def test_nobody_revokes_someone_elses_token(rep_client):
    theirs, _ = ApiToken.objects.issue(user=RepFactory(), name="Theirs")
    assert rep_client.post(f"/settings/api-tokens/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active


def test_revoking_needs_a_post_with_csrf(rep):
    from django.test import Client

    token, _ = ApiToken.objects.issue(user=rep, name="Old")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rep)
    assert browser.get(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 405
    assert browser.post(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.is_active


def test_the_page_is_for_people_signed_in(client):
    response = client.get("/settings/api-tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
