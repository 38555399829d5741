"""Every route of the app requires sign-in: found by walking the URL map, not listed by hand."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Django's login view (the admin has its own login/logout views), the icon a tab shows, and
# where websites post leads (its key is its credential: tests/leads/test_capture.py).
# The language switch, which the sign-in page offers too (tests/crm/test_language.py).
PUBLIC = {"login", "favicon", "leads:capture", "crm:language"}


def app_routes(patterns=None, prefix="", namespace=""):
    """(name, path) for every route, with 1 for each <int:...> argument."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # the admin guards itself (covered below)
            yield from app_routes(
                entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace
            )
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            route = re.sub(r"<int:\w+>", "1", route)
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, "/" + route


ROUTES = sorted(
    (name, path)
    for name, path in app_routes()
    if name not in PUBLIC and name != "logout" and not name.startswith("api:")
)
# The REST API answers for itself: 401 (JSON), never a redirect to the sign-in page; its
# docs are a page like the others. Its root (/api/v1/) is no operation: 404.
API_ROUTES = sorted(
    (name, path)
    for name, path in app_routes()
    if name.startswith("api:") and name not in ("api:openapi-view", "api:api-root")
)


def test_the_walk_finds_the_pages():
    names = {name for name, _ in ROUTES}
    assert {"leads:list", "leads:detail", "leads:my_work", "crm:client_list"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path"), ROUTES, ids=[name for name, _ in ROUTES])
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_requests_are_sent_to_sign_in(client, name, path, method):
    response = getattr(client, method)(path)
    assert response.status_code == 302, f"{name} answered {response.status_code}"
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path"), API_ROUTES, ids=[name for name, _ in API_ROUTES])
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_anonymous_api_requests_answer_401_not_a_redirect(client, name, path, method):
    response = getattr(client, method)(path)
    if response.status_code == 405:  # an operation of another method at this path
        return
    assert response.status_code == 401, f"{name} answered {response.status_code}"
    assert response.json()["detail"].startswith("Authentication required")


def test_the_walk_finds_the_api():
    names = {name for name, _ in API_ROUTES}
    assert {"api:list_leads", "api:openapi-json", "api:get_me"} <= names
    assert len(API_ROUTES) >= 15


@pytest.mark.django_db
def test_the_api_docs_are_a_page_for_people_signed_in(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_admin_requires_staff_sign_in(client):
    response = client.get("/admin/leads/lead/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/leads/lead/"


@pytest.mark.django_db
def test_the_favicon_is_public_and_every_page_links_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/img/favicon.svg")
    login_page = client.get("/accounts/login/").text
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in login_page
