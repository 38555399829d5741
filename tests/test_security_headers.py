"""Every response carries the Content-Security-Policy and the Permissions-Policy.

The policies live in crm/settings.py (SECURE_CSP, PERMISSIONS_POLICY); the browser tests in
tests/e2e/test_security_headers.py show that the pages work under them and that an
injected inline script does not run.
"""

import re

import pytest
from django.test import Client

from tests.factories import LeadFactory, RepFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}

# The whole policy, directive by directive. style-src also names the response's nonce
# whenever the page rendered one (see test_a_nonce_is_new_for_every_response).
EXPECTED_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}
NONCE = re.compile(r"'nonce-[A-Za-z0-9_-]{16,}'")
DENIED_FEATURES = {"camera", "microphone", "geolocation", "payment", "usb", "serial", "midi"}


def csp_of(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_headers(response):
    directives = csp_of(response)
    style_nonces = [value for value in directives["style-src"] if NONCE.fullmatch(value)]
    assert len(style_nonces) <= 1
    directives["style-src"] = [v for v in directives["style-src"] if v not in style_nonces]
    assert directives == EXPECTED_CSP
    assert "unsafe" not in response.headers["Content-Security-Policy"]

    features = dict(
        item.strip().split("=", 1) for item in response.headers["Permissions-Policy"].split(",")
    )
    assert features.keys() >= DENIED_FEATURES
    assert set(features.values()) == {"()"}, "every listed feature is denied to every origin"


@pytest.fixture
def rep_client(client):
    client.force_login(RepFactory(username="rita"))
    return client


def test_a_page_has_the_security_headers(rep_client):
    response = rep_client.get("/leads/")

    assert response.status_code == 200
    assert_headers(response)


def test_an_htmx_fragment_has_the_security_headers(rep_client):
    response = rep_client.get("/leads/?q=chairs", HTTP_HX_TARGET="lead-results", **HTMX)

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert_headers(response)


def test_forbidden_and_not_found_have_the_security_headers(rep_client):
    someone_elses = LeadFactory(created_by=UserFactory(), assignee=None)

    forbidden = rep_client.get(f"/leads/{someone_elses.pk}/edit/")
    missing = rep_client.get("/leads/999999/")
    missing_htmx = rep_client.get("/leads/999999/", **HTMX)

    assert forbidden.status_code == 403
    assert missing.status_code == 404
    assert missing_htmx.status_code == 404
    for response in (forbidden, missing, missing_htmx):
        assert_headers(response)


def test_a_redirect_and_the_login_page_have_the_security_headers(client):
    redirect = client.get("/leads/")
    login = client.get("/accounts/login/")

    assert redirect.status_code == 302
    assert login.status_code == 200
    assert_headers(redirect)
    assert_headers(login)


def test_admin_pages_have_the_security_headers(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    index = client.get("/admin/")
    change_form = client.get("/admin/leads/lead/add/")

    assert index.status_code == 200
    assert change_form.status_code == 200
    assert_headers(index)
    assert_headers(change_form)


def test_a_csv_export_has_the_security_headers(rep_client):
    response = rep_client.get("/leads/export.csv")

    assert response.status_code == 200
    assert_headers(response)


def test_a_static_file_served_by_whitenoise_has_the_security_headers(settings):
    # Production serves collected files; finders stand in for collectstatic here.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True

    response = Client().get("/static/css/app.css")

    assert response.status_code == 200
    assert response.streaming  # WhiteNoise's own response, not a view's
    assert_headers(response)


def test_a_nonce_is_new_for_every_response(rep_client):
    first = rep_client.get("/leads/")
    second = rep_client.get("/leads/")

    first_nonce = NONCE.search(first.headers["Content-Security-Policy"]).group()
    second_nonce = NONCE.search(second.headers["Content-Security-Policy"]).group()
    assert first_nonce != second_nonce


def test_djangos_csrf_failure_page_styles_itself_with_the_nonce():
    """Why style-src has a nonce: Django's own inline <style nonce> (here, and in the
    admin's change list without actions) must still apply; an injected one has none."""
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    nonce = NONCE.search(response.headers["Content-Security-Policy"]).group()[len("'nonce-") : -1]
    assert f'<style nonce="{nonce}">' in response.content.decode()
    assert_headers(response)


def test_our_pages_have_no_inline_script_or_style(rep_client):
    lead = LeadFactory(title="Fleet renewal")

    for path in ("/leads/", f"/leads/{lead.pk}/", "/leads/new/", "/board/", "/my-work/"):
        html = rep_client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline <script> on {path}"
        assert "<style" not in html, f"inline <style> on {path}"
        assert not re.search(r"\sstyle\s*=", html), f"style attribute on {path}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler on {path}"
        assert "javascript:" not in html, f"javascript: URL on {path}"


def test_htmx_is_configured_to_stay_within_the_policy(rep_client):
    html = rep_client.get("/leads/").content.decode()

    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html).group(1)
    assert '"includeIndicatorStyles": false' in config
    assert '"allowEval": false' in config
    assert '"allowScriptTags": false' in config
    assert "Nonce" not in config  # htmx must never hand the nonce to swapped-in content
