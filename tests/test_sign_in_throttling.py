"""Sign-in throttling (django-axes): a handful of wrong passwords for one username from one
address pauses that pair, with our 429 page; the cool-off, a success or an admin lifts it."""

import datetime
import re
from io import StringIO

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import RequestFactory

from crm.throttling import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
HOME = "192.0.2.10"  # Documentation addresses (RFC 5737): nothing is sent anywhere.
ELSEWHERE = "198.51.100.20"
LIMIT = 5  # settings.AXES_FAILURE_LIMIT
MESSAGE = (
    "Too many failed sign-ins for this account from your network. "
    "Try again in 15 minutes, or ask an administrator to unlock it."
)
NOW = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def sign_in(client, username, password, *, ip=HOME, path=LOGIN, **headers):
    return client.post(
        path, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers
    )


def fail(client, username, times=LIMIT, **kwargs):
    """``times`` wrong passwords; the answers' status codes."""
    return [sign_in(client, username, "wrong", **kwargs).status_code for _ in range(times)]


def text(response) -> str:
    """The page's words, tags dropped and white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def signed_in(client) -> bool:
    return client.get("/leads/").status_code == 200


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


def test_after_the_limit_the_right_password_is_refused_with_429_and_says_why(client, alice):
    assert fail(client, "alice") == [422] * (LIMIT - 1) + [429]

    response = sign_in(client, "alice", "pw")

    assert response.status_code == 429
    assert MESSAGE in text(response)
    assert response["Retry-After"] == "900"
    assert not signed_in(client)


def test_the_lock_holds_for_that_username_from_that_address_only(client, alice):
    UserFactory(username="bob")
    fail(client, "alice")
    assert sign_in(client, "alice", "pw").status_code == 429

    assert sign_in(client, "alice", "pw", ip=ELSEWHERE).status_code == 302
    client.logout()
    assert sign_in(client, "bob", "pw").status_code == 302


def test_an_unknown_username_is_locked_out_alike(client, alice):
    fail(client, "alice")
    fail(client, "nobody")

    known = sign_in(client, "alice", "pw")
    unknown = sign_in(client, "nobody", "pw")

    assert (unknown.status_code, unknown["Retry-After"]) == (429, known["Retry-After"])
    assert text(unknown) == text(known)


def test_the_right_password_works_once_the_cool_off_has_passed(client, alice):
    with time_machine.travel(NOW, tick=False) as clock:
        fail(client, "alice")

        clock.shift(datetime.timedelta(minutes=10))
        response = sign_in(client, "alice", "pw")
        assert response.status_code == 429
        assert "Try again in 5 minutes" in text(response)
        assert response["Retry-After"] == "300"

        clock.shift(datetime.timedelta(minutes=5, seconds=1))
        assert sign_in(client, "alice", "pw").status_code == 302
        assert signed_in(client)


def test_attempts_during_a_lockout_do_not_extend_it(client, alice):
    with time_machine.travel(NOW, tick=False) as clock:
        fail(client, "alice")
        for _ in range(14):
            clock.shift(datetime.timedelta(minutes=1))
            assert sign_in(client, "alice", "wrong").status_code == 429

        clock.shift(datetime.timedelta(minutes=1, seconds=1))
        assert sign_in(client, "alice", "pw").status_code == 302


def test_a_successful_sign_in_starts_the_count_again(client, alice):
    fail(client, "alice", times=LIMIT - 1)
    assert sign_in(client, "alice", "pw").status_code == 302
    client.logout()

    assert fail(client, "alice") == [422] * (LIMIT - 1) + [429]


def test_an_admin_sees_the_lockout_and_deleting_it_unlocks(client, admin_client, alice):
    fail(client, "alice")

    changelist = admin_client.get("/admin/axes/accessattempt/?locked_out=yes")
    assert changelist.status_code == 200
    assert "alice" in text(changelist)
    assert "Locked Out" in text(changelist)

    attempt = AccessAttempt.objects.get(username="alice")
    response = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert sign_in(client, "alice", "pw").status_code == 302


def test_the_admin_lists_lockouts_but_not_the_logs_we_do_not_keep(admin_client):
    index = admin_client.get("/admin/").content.decode()

    assert 'href="/admin/axes/accessattempt/"' in index
    assert "/admin/axes/accesslog/" not in index
    assert "/admin/axes/accessfailurelog/" not in index


def test_the_axes_reset_username_command_unlocks(client, alice):
    fail(client, "alice")
    assert sign_in(client, "alice", "pw").status_code == 429

    out = StringIO()
    call_command("axes_reset_username", "alice", stdout=out)

    assert out.getvalue().strip() == "1 attempts removed."

    assert sign_in(client, "alice", "pw").status_code == 302


def test_the_admin_login_is_throttled_too(client):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    path = "/admin/login/?next=/admin/"

    assert fail(client, "root", path=path)[-1] == 429
    response = sign_in(client, "root", "pw", path=path)

    assert response.status_code == 429
    assert MESSAGE in text(response)
    assert client.get("/admin/").status_code == 302


def test_failures_on_either_sign_in_page_count_together(client, alice):
    fail(client, "alice", times=LIMIT - 1, path="/admin/login/")

    assert sign_in(client, "alice", "wrong").status_code == 429


def test_the_lockout_page_is_a_proper_page(client, alice):
    fail(client, "alice")

    response = sign_in(client, "alice", "pw")

    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "<title>Too many sign-in attempts · CRM</title>" in html
    assert "<h1>Too many sign-in attempts</h1>" in html
    assert re.search(r'class="form-errors-summary[^"]*" role="alert"', html)
    assert '<a class="btn btn-primary" href="/accounts/login/">Back to sign in</a>' in html
    assert 'method="post"' not in html  # Nothing to submit while locked out.
    assert 'class="topbar"' not in html
    assert "alice" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler attribute"


# --- the client address -------------------------------------------------------------------


def test_a_forged_x_forwarded_for_does_not_escape_the_lock(client, alice):
    for n in range(LIMIT):
        sign_in(client, "alice", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    response = sign_in(client, "alice", "pw", HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert response.status_code == 429


def test_behind_a_trusted_proxy_each_client_is_locked_on_its_own(client, alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    fail(client, "alice", ip=proxy, HTTP_X_FORWARDED_FOR=f"{ELSEWHERE}, {HOME}")

    assert sign_in(client, "alice", "pw", ip=proxy, HTTP_X_FORWARDED_FOR=HOME).status_code == 429
    assert (
        sign_in(client, "alice", "pw", ip=proxy, HTTP_X_FORWARDED_FOR=ELSEWHERE).status_code == 302
    )


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.2"),  # No proxy trusted: the header is the client's word.
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # The client wrote the left entry.
        (2, "203.0.113.7, 10.0.0.1", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.2"),  # Fewer entries than proxies: not via the proxies.
        (1, "unknown", "10.0.0.2"),
        (1, "2001:db8::1", "2001:db8::1"),
        (1, None, "10.0.0.2"),
    ],
)
def test_client_ip_trusts_only_the_entries_the_proxies_added(
    settings, proxies, forwarded_for, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.0.0.2", **headers)

    assert client_ip(request) == expected


def test_the_deploy_check_warns_when_throttling_would_take_every_client_for_the_proxy(settings):
    from crm.checks import sign_in_throttling_sees_clients

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_COUNT = 0
    assert [w.id for w in sign_in_throttling_sees_clients(None)] == ["crm.W001"]
    settings.TRUSTED_PROXY_COUNT = 1
    assert sign_in_throttling_sees_clients(None) == []
