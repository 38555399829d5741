"""Who may call the API: a token of an active user, or a signed-in browser with its CSRF
token; nobody else, and never a redirect to the sign-in page."""

import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from crm.models import API_TOKEN_PREFIX, ApiToken, api_token_digest
from leads.models import Lead
from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db


def test_without_credentials_every_operation_answers_401_json_not_a_redirect(client):
    for path in ("/api/v1/leads/", "/api/v1/leads/1/", "/api/v1/users/me/", "/api/v1/openapi.json"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response["Content-Type"].startswith("application/json")
        assert "Authorization: Bearer" in response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")
    response = client.post("/api/v1/leads/", "{}", content_type="application/json")
    assert response.status_code == 401  # not 403 for the missing CSRF token


def test_a_token_stands_for_its_user(api, rep):
    response = api(rep).get("/api/v1/users/me/")
    assert response.status_code == 200
    assert response.json()["username"] == rep.username
    assert response.json()["roles"] == ["Sales rep"]


def test_a_token_is_stored_only_as_its_hash(rep):
    token, secret = ApiToken.objects.issue(user=rep, name="Website")
    assert secret.startswith(API_TOKEN_PREFIX)
    assert len(secret) > 40
    token.refresh_from_db()
    assert token.digest == api_token_digest(secret) != secret
    stored = " ".join(str(value) for value in ApiToken.objects.values_list().get())
    assert secret not in stored
    assert secret[4:-4] not in stored
    assert token.hint == secret[-4:]


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("Bearer crm_not-a-token", "unknown or revoked"),
        ("Bearer ", "unknown or revoked"),
        ("Bearer nonsense", "unknown or revoked"),
        ("Basic dXNlcjpwdw==", "Authorization: Bearer <token>"),
        ("Token x", "Authorization: Bearer <token>"),
    ],
)
def test_a_wrong_token_answers_401_even_with_a_session(client, rep, header, says):
    client.force_login(rep)  # a wrong token is refused, not passed on to the session
    response = client.get("/api/v1/leads/", headers={"Authorization": header})
    assert response.status_code == 401
    assert says in response.json()["detail"]


def test_a_revoked_token_stops_working_at_once(rep):
    token, secret = ApiToken.objects.issue(user=rep, name="Old")
    headers = {"Authorization": f"Bearer {secret}"}
    assert Client().get("/api/v1/users/me/", headers=headers).status_code == 200
    token.revoke()
    assert Client().get("/api/v1/users/me/", headers=headers).status_code == 401


def test_an_inactive_users_token_stops_working(rep):
    _, secret = ApiToken.objects.issue(user=rep, name="Old")
    rep.is_active = False
    rep.save()
    response = Client().get("/api/v1/users/me/", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_a_use_is_recorded_at_most_once_a_minute(rep):
    token, secret = ApiToken.objects.issue(user=rep, name="Sync")
    headers = {"Authorization": f"Bearer {secret}"}
    Client().get("/api/v1/sources/", headers=headers)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    assert timezone.now() - first < timezone.timedelta(seconds=5)
    Client().get("/api/v1/sources/", headers=headers)
    token.refresh_from_db()
    assert token.last_used_at == first


def test_a_session_reads_without_a_csrf_token(client, rep):
    client.force_login(rep)
    assert client.get("/api/v1/leads/").status_code == 200


def test_a_session_must_send_the_csrf_token_to_write(rep):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rep)
    body = json.dumps({"title": "From the docs page"})
    refused = browser.post("/api/v1/leads/", body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not Lead.objects.filter(title="From the docs page").exists()

    page = browser.get("/settings/api-tokens/")  # any page hands out the token
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page.content.decode()).group(1)
    done = browser.post(
        "/api/v1/leads/", body, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert done.status_code == 201
    assert Lead.objects.filter(title="From the docs page").exists()


def test_a_token_needs_no_csrf_token(rep):
    _, secret = ApiToken.objects.issue(user=rep, name="Script")
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(
        "/api/v1/leads/",
        json.dumps({"title": "From a script"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 201


def test_a_token_has_exactly_its_users_rights(api, rep):
    """A rep's token cannot change another rep's lead (the permission matrix has the rest)."""
    theirs = LeadFactory(created_by=RepFactory(), title="Theirs")
    response = api(rep).patch(
        f"/api/v1/leads/{theirs.pk}/", {"title": "Mine now", "version": theirs.version}
    )
    assert response.status_code == 403
    assert Lead.objects.get(pk=theirs.pk).title == "Theirs"


def test_the_schema_is_for_callers_who_may_call(client, api, rep):
    assert client.get("/api/v1/openapi.json").status_code == 401
    schema = api(rep).get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Leadly CRM API"
    assert "/api/v1/leads/" in schema["paths"]


def test_the_docs_page_is_for_people_signed_in(client, rep):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    client.force_login(rep)
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    # Scripts only from files: the settings are data (application/json), not code.
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html) == []
