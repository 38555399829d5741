"""When the database fails: fail fast, keep what the user typed, recover by itself."""

import threading
import time
from unittest import mock

import psycopg
import pytest
from django.db import OperationalError, connection, connections
from django.db.backends.utils import CursorWrapper
from django.urls import reverse

from leads.models import Lead
from tests.factories import LeadFactory, default_stage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def answers_as_in_production(client):
    """The test client re-raises what a view raised; a browser gets the error page."""
    client.raise_request_exception = False


on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's pool, timeouts and backends"
)


def database_down():
    """Every query fails as it does when the server is gone."""
    return mock.patch.object(
        CursorWrapper, "execute", side_effect=OperationalError("server closed the connection")
    )


LEAD = {
    "title": "Städtische Werke – Rahmenvertrag",
    "description": "Call Ann back on Monday.\nShe wants the <b>premium</b> plan.",
    "priority": "high",
    "value": "25.000",
    "version": "3",
    "csrfmiddlewaretoken": "the-token-the-form-had",
}


def test_a_plain_form_post_while_the_database_is_down_keeps_every_typed_value(
    manager_client,
):
    with database_down():
        response = manager_client.post(reverse("leads:create"), LEAD)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "What you typed is kept" in page
    assert f'action="{reverse("leads:create")}"' in page
    assert 'value="Städtische Werke – Rahmenvertrag"' in page
    # Text comes back escaped, in a textarea that posts it again.
    assert (
        "Call Ann back on Monday.\nShe wants the &lt;b&gt;premium&lt;/b&gt; plan.</textarea>"
        in page
    )
    assert '<input type="hidden" name="version" value="3">' in page
    assert 'name="csrfmiddlewaretoken" value="the-token-the-form-had"' in page
    assert "Try again" in page


def test_try_again_posts_the_kept_input_and_saves_once_the_database_is_back(manager_client):
    with database_down():
        manager_client.post(reverse("leads:create"), LEAD)
    data = {**LEAD, "stage": default_stage().pk}
    response = manager_client.post(reverse("leads:create"), data)
    assert response.status_code == 302
    assert Lead.objects.get().title == LEAD["title"]


def test_a_password_is_never_written_back_into_the_page(client, manager):
    with database_down():
        response = client.post(reverse("login"), {"username": "manager", "password": "s3cret-Pa55"})
    assert response.status_code == 503
    page = response.content.decode()
    assert "s3cret-Pa55" not in page
    assert 'value="manager"' in page


def test_an_htmx_post_while_the_database_is_down_gets_a_toast_and_swaps_nothing(manager_client):
    with database_down():
        response = manager_client.post(
            reverse("leads:create"), LEAD, headers={"HX-Request": "true"}
        )
    assert response.status_code == 503
    assert response["HX-Reswap"] == "none"
    assert "Your input is kept" in response["HX-Trigger"]


def test_a_page_read_while_the_database_is_down_is_a_plain_503(manager_client):
    with database_down():
        response = manager_client.get(reverse("leads:list"))
    assert response.status_code == 503
    assert "What you typed is kept" not in response.content.decode()


# --- PostgreSQL: timeouts and a pool that heals ---------------------------------------------


@on_postgresql
def test_connect_statement_and_lock_timeouts_are_set():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "15s"
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "5s"
    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == 5
    assert connection.settings_dict["OPTIONS"]["pool"]["timeout"] == 5


def other_connection():
    params = connection.get_connection_params()
    return psycopg.connect(
        dbname=params["dbname"],
        user=params.get("user"),
        host=params.get("host"),
        port=params.get("port"),
        autocommit=True,
    )


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_locked_lead_answers_503_with_the_form_in_seconds_not_a_hang(manager_client):
    lead = LeadFactory(title="Busy")
    locker = other_connection()
    locker.autocommit = False
    locker.execute("SELECT id FROM leads_lead WHERE id = %s FOR UPDATE", [lead.pk])
    try:
        started = time.monotonic()
        response = manager_client.post(
            reverse("leads:update", args=[lead.pk]),
            {
                "title": "Mine now",
                "stage": lead.stage_id,
                "priority": "normal",
                "version": lead.version,
            },
        )
        waited = time.monotonic() - started
    finally:
        locker.rollback()
        locker.close()
    assert response.status_code == 503
    assert 4 <= waited < 10  # the lock timeout, not forever
    assert 'value="Mine now"' in response.content.decode()
    lead.refresh_from_db()
    assert lead.title == "Busy"


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_after_the_pools_connections_are_terminated_the_next_request_succeeds(manager_client):
    LeadFactory(title="Still here")
    pool = connection.pool
    # Fill the pool with idle connections, as a busy app server has.
    held = [pool.getconn() for _ in range(4)]
    for conn in held:
        pool.putconn(conn)
    connections.close_all()
    assert manager_client.get(reverse("leads:list")).status_code == 200
    connections.close_all()

    with other_connection() as admin:
        terminated = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert terminated >= 4

    started = time.monotonic()
    response = manager_client.get(reverse("leads:list"))
    waited = time.monotonic() - started
    assert response.status_code == 200
    assert "Still here" in response.content.decode()
    assert waited < 3  # not the pool's timeout, nor a minute of reconnect back-off
    assert manager_client.get(reverse("leads:list")).status_code == 200


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_requests_in_many_threads_recover_together_after_terminated_backends(manager):
    """Several app threads at once, as gunicorn runs them: none fails after the blip."""
    from django.test import Client

    LeadFactory(title="Shared")
    with other_connection() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    statuses = []

    def browse():
        try:
            browser = Client()
            browser.force_login(manager)
            statuses.append(browser.get(reverse("leads:list")).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=browse) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    connections.close_all()  # this thread's connection died too: back to the pool with it
    assert statuses == [200] * 6
