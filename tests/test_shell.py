"""The shell every page shares: sign-in, base layout, error pages and htmx error toasts."""

import json
import re

import pytest
from django.db.utils import OperationalError
from django.template import Context, Template, engines
from django.test import override_settings
from django.urls import resolve

from crm.middleware import server_error
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

shell_urls = override_settings(ROOT_URLCONF="tests.urls_shell")
HTMX = {"HTTP_HX_REQUEST": "true"}


def toast_of(response) -> dict:
    return json.loads(response["HX-Trigger"])["showToast"]


@pytest.fixture
def user_client(client):
    client.force_login(UserFactory(username="carol", first_name="Carol", last_name="Jansen"))
    return client


# --- sign-in -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/admin/", "/leads/", "/my-work/"])
def test_anonymous_get_redirects_to_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert "/login/?next=" in response["Location"]  # /admin/ has its own login page


def test_login_page_renders_labelled_fields(client):
    response = client.get("/accounts/login/?next=/leads/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert re.search(r'<input[^>]*name="username"[^>]*autofocus', html)
    assert '<input type="hidden" name="next" value="/leads/">' in html
    assert 'class="topbar"' not in html  # No navigation before signing in.


def test_login_with_valid_credentials_redirects(client):
    UserFactory(username="dave")

    response = client.post("/accounts/login/", {"username": "dave", "password": "pw"})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_with_wrong_password_shows_error_and_keeps_username(client):
    UserFactory(username="dave")

    response = client.post("/accounts/login/", {"username": "dave", "password": "nope"})

    html = response.content.decode()
    assert "form-errors-summary" in html
    assert 'value="dave"' in html


def test_logout_is_post_only(user_client):
    assert user_client.get("/accounts/logout/").status_code == 405

    response = user_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert user_client.get("/leads/").status_code == 302


# --- base layout ---------------------------------------------------------------------


def test_signed_in_missing_page_renders_our_404(user_client):
    response = user_client.get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "Carol Jansen" in html
    assert 'action="/accounts/logout/"' in html
    assert 'method="post"' in html


def test_base_has_shell_landmarks_and_no_inline_script(user_client):
    html = user_client.get("/no-such-page/").content.decode()

    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert 'id="toasts"' in html
    assert 'role="status"' in html
    assert '<dialog class="confirm-dialog" id="confirm-dialog"' in html
    assert 'id="global-indicator"' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "django_htmx/htmx-2.min.js" in html
    assert "js/app.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler attribute"


def test_admin_link_only_for_staff(client):
    client.force_login(UserFactory(username="erin"))
    assert 'href="/admin/"' not in client.get("/no-such-page/").content.decode()

    client.force_login(UserFactory(username="frank", is_staff=True))
    assert 'href="/admin/"' in client.get("/no-such-page/").content.decode()


def test_nav_marks_the_current_section(rf):
    template = Template(
        '{% nav_link "leads:list" "Leads" active="leads:*" exclude="leads:my_work" %}'
        '{% nav_link "leads:my_work" "My Work" %}'
    )
    request = rf.get("/my-work/")
    request.resolver_match = resolve("/my-work/")

    html = template.render(Context({"request": request}))

    assert '<a href="/leads/">Leads</a>' in html
    assert '<a href="/my-work/" aria-current="page">My Work</a>' in html


@pytest.mark.django_db
def test_the_board_is_its_own_section_of_the_main_nav(rep_client):
    html = rep_client.get("/board/").content.decode()

    assert '<a href="/board/" aria-current="page">Board</a>' in html
    assert '<a href="/leads/">Leads</a>' in html


def test_nav_link_to_a_missing_route_renders_nothing():
    template = Template('{% nav_link "crm:no_such_page" "Nowhere" %}')

    assert template.render(Context({})) == ""


@shell_urls
def test_messages_render_as_toasts(user_client):
    html = user_client.get("/messages/").content.decode()

    assert re.search(r'class="toast toast-success"[^>]*data-autohide', html)
    assert re.search(r'class="toast toast-error" role="alert"', html)
    assert 'class="toast toast-info"' in html
    assert "Could not send the e-mail." in html
    assert html.count('class="toast-dismiss" aria-label="Dismiss"') == 3


def test_500_page_renders_without_request_or_context():
    template = engines["django"].get_template("500.html")

    html = template.render({})

    assert "Something went wrong" in html
    assert 'href="/"' in html


# --- htmx error toasts ---------------------------------------------------------------


@shell_urls
@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/403/", 403, "You don't have permission to do that."),
        ("/404/", 404, "Not found. It may have been deleted."),
        ("/no-such-url/", 404, "Not found. It may have been deleted."),
    ],
)
def test_htmx_client_errors_become_toasts_and_swap_nothing(user_client, path, status, message):
    response = user_client.get(path, **HTMX)

    assert response.status_code == status
    assert toast_of(response) == {"level": "error", "message": message}
    assert response["HX-Reswap"] == "none"


@shell_urls
def test_htmx_crash_is_a_500_toast_with_a_logged_reference(user_client, caplog):
    response = user_client.post("/500/", {"title": "typed"}, **HTMX)

    assert response.status_code == 500
    toast = toast_of(response)
    assert toast["level"] == "error"
    ref = re.fullmatch(
        r"Something went wrong\. Your input is kept; please try again\. \(ref ([0-9A-F]{8})\)",
        toast["message"],
    ).group(1)
    assert response["HX-Reswap"] == "none"
    assert b"secret internals" not in response.content
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


@shell_urls
def test_htmx_database_down_is_a_503_toast(user_client):
    response = user_client.post("/503/", **HTMX)

    assert response.status_code == 503
    message = toast_of(response)["message"]
    assert message.startswith(
        "The database is unavailable right now. Your input is kept; please try again in a moment."
    )
    assert response["HX-Reswap"] == "none"


@shell_urls
def test_htmx_view_with_its_own_toast_is_left_alone(user_client):
    response = user_client.get("/own-toast/", **HTMX)

    assert response.status_code == 403
    assert toast_of(response)["message"] == "Only managers may assign."
    assert "HX-Reswap" not in response


@shell_urls
def test_htmx_success_gets_no_toast(user_client):
    response = user_client.get("/ok/", **HTMX)

    assert response.status_code == 200
    assert "HX-Trigger" not in response
    assert "HX-Reswap" not in response


@shell_urls
def test_htmx_request_after_session_expired_gets_a_toast_not_the_login_page(client):
    response = client.post("/ok/", **HTMX)

    assert response.status_code == 401
    assert "session has expired" in toast_of(response)["message"]
    assert response["HX-Reswap"] == "none"


@shell_urls
def test_boosted_navigation_after_session_expired_goes_to_login(client):
    response = client.get("/ok/", HTTP_HX_BOOSTED="true", **HTMX)

    assert response["HX-Redirect"].startswith("/accounts/login/?next=/ok/")


# --- plain error pages ---------------------------------------------------------------


@shell_urls
def test_plain_crash_renders_500_page_with_reference(user_client, caplog):
    user_client.raise_request_exception = False

    response = user_client.get("/500/")

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    ref = re.search(r'<span class="error-ref">([0-9A-F]{8})</span>', html).group(1)
    assert "secret internals" not in html
    assert "HX-Trigger" not in response
    assert any(ref in r.getMessage() for r in caplog.records)


@shell_urls
def test_plain_database_down_renders_503_page(user_client):
    response = user_client.get("/503/")

    assert response.status_code == 503
    assert "The database is unavailable right now" in response.content.decode()


@shell_urls
def test_plain_permission_denied_renders_403_page(user_client):
    response = user_client.get("/403/")

    assert response.status_code == 403
    assert "have permission to do that" in response.content.decode()
    assert "HX-Trigger" not in response


def test_server_error_handler_turns_a_database_failure_into_503(rf):
    request = rf.get("/leads/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(request)

    assert response.status_code == 503
    html = response.content.decode()
    assert "The database is unavailable right now" in html
    assert re.search(r'<span class="error-ref">[0-9A-F]{8}</span>', html)


@pytest.mark.django_db
def test_failed_sign_in_answers_422_and_keeps_the_username(client):
    UserFactory(username="someone")
    response = client.post("/accounts/login/", {"username": "someone", "password": "wrong"})
    assert response.status_code == 422
    assert 'value="someone"' in response.content.decode()
