"""Webhooks: every lead write tells the endpoints listening, after it commits, signed,
retried with backoff, and never at the cost of a user's request."""

import datetime
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.checks import webhooks_are_sent_outside_requests
from leads import services, webhooks
from leads.capture import check, lead_capture
from leads.models import Lead, LeadImport, WebhookDelivery
from leads.webhook_models import WebhookEventKind as Kind
from tests.factories import (
    AssignmentRuleFactory,
    CaptureFormFactory,
    LeadFactory,
    ManagerFactory,
    WebhookFactory,
    default_stage,
    lost,
)
from tests.leads.test_import_queue import reset_task_backends

pytestmark = pytest.mark.django_db


def docs_verify():
    """The receiver's check exactly as docs/API.md shows it."""
    text = (settings.BASE_DIR / "docs" / "API.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    namespace = {}
    exec(code, namespace)
    return namespace["verify"]


def verify(secret: str, body: str, header: str) -> bool:
    return docs_verify()(secret, body.encode(), header)


class Receiver:
    """A local endpoint: what it was sent, and how it answers (status, a delay)."""

    def __init__(self):
        self.received: list[tuple[dict, str]] = []
        self.status = 200
        self.delay = 0.0
        self.headers: dict[str, str] = {}
        self.raw: bytes | None = None  # sent instead of an HTTP answer


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # it listens on 127.0.0.1
    settings.WEBHOOK_TIMEOUT = 0.5
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state.received.append((dict(self.headers), body))
            time.sleep(state.delay)
            if state.raw is not None:
                self.wfile.write(state.raw)
                return
            try:
                self.send_response(state.status)
                for name, value in state.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"thanks")
            except OSError:  # the sender gave up waiting
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook(receiver):
    return WebhookFactory(url=receiver.url)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a write as if its transaction committed (the test's own never does)."""

    def run(write):
        with django_capture_on_commit_callbacks(execute=True):
            return write()

    return run


def sent() -> list[dict]:
    return [json.loads(d.body) for d in WebhookDelivery.objects.order_by("id")]


def kinds() -> list[str]:
    return [payload["type"] for payload in sent()]


# --- signing and sending --------------------------------------------------------------------


def test_a_delivery_is_signed_and_the_receivers_check_verifies_it(
    receiver, hook, manager, committed
):
    lead = committed(
        lambda: services.lead_create(lead=Lead(title="Acme", stage=default_stage()), by=manager)
    )

    assert webhooks.send_due() == 1

    [(headers, body)] = receiver.received
    assert verify(hook.secret, body, headers["X-Crm-Signature"])
    assert not verify(hook.secret, body.replace("Acme", "Evil"), headers["X-Crm-Signature"])
    assert not verify("whsec_other", body, headers["X-Crm-Signature"])
    assert headers["X-Crm-Event"] == "lead.created"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["type"] == "lead.created"
    assert payload["lead"]["id"] == lead.pk
    assert payload["lead"]["title"] == "Acme"
    assert payload["lead"]["stage"]["name"] == "New"
    assert payload["actor"]["username"] == "manager"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert headers["X-Crm-Delivery"] == str(delivery.pk)


def test_a_stale_timestamp_fails_the_check():
    body = '{"id": 1}'
    old = int(time.time()) - 3600
    assert not verify("s", body, webhooks.signature("s", body, old))
    assert verify("s", body, webhooks.signature("s", body, int(time.time())))


def test_nothing_is_made_before_the_write_commits(
    hook, manager, django_capture_on_commit_callbacks
):
    lead = LeadFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        services.lead_update(lead_id=lead.pk, values={"title": "Renamed"}, by=manager)

    assert not WebhookDelivery.objects.exists()
    for callback in callbacks:
        callback()
    assert kinds() == ["lead.changed"]


def test_a_rolled_back_write_sends_nothing(hook, manager, committed):
    lead = LeadFactory()

    def write_then_fail():
        with transaction.atomic():
            services.lead_update(lead_id=lead.pk, values={"title": "Renamed"}, by=manager)
            raise RuntimeError("something after the write failed")

    with pytest.raises(RuntimeError):
        committed(write_then_fail)

    assert not WebhookDelivery.objects.exists()
    assert Lead.objects.get(pk=lead.pk).title == lead.title


def test_endpoints_get_only_the_kinds_they_listen_to_and_inactive_ones_nothing(manager, committed):
    stages = WebhookFactory(events=[Kind.STAGE_CHANGED])
    WebhookFactory(active=False)
    lead = LeadFactory()

    committed(lambda: services.lead_update(lead_id=lead.pk, values={"title": "X"}, by=manager))
    committed(
        lambda: services.lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), by=manager)
    )

    assert [(d.webhook, d.event) for d in WebhookDelivery.objects.all()] == [
        (stages, "lead.stage_changed")
    ]


# --- every write path ----------------------------------------------------------------------


def test_a_change_of_several_fields_is_one_event_with_each_change(hook, manager, committed):
    lead = LeadFactory(title="Old", value=1000)
    committed(
        lambda: services.lead_update(
            lead_id=lead.pk, values={"title": "New", "value": 2500}, by=manager
        )
    )

    [payload] = sent()
    assert payload["type"] == "lead.changed"
    assert [(c["field"], c["old"], c["new"]) for c in payload["changes"]] == [
        ("title", "Old", "New"),
        ("value", "1000", "2500"),
    ]
    assert payload["lead"]["version"] == 2


def test_a_move_to_won_is_a_stage_change_and_a_win(hook, manager, committed):
    lead = LeadFactory()
    committed(
        lambda: services.lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), by=manager)
    )

    assert set(kinds()) == {"lead.stage_changed", "lead.won"}
    assert sent()[0]["changes"][0]["new"] == "Won"
    assert sent()[0]["lead"]["status"] == "won"


def test_a_move_to_lost_is_a_stage_change_and_a_loss(hook, manager, committed):
    lead = LeadFactory()
    committed(
        lambda: services.lead_move_stage(
            lead_id=lead.pk, stage=default_stage("Lost"), by=manager, closing=lost()
        )
    )

    assert set(kinds()) == {"lead.stage_changed", "lead.lost"}


def test_assigning_and_deleting(hook, manager, rep, committed):
    lead = LeadFactory(title="Going")
    committed(lambda: services.lead_assign(lead_id=lead.pk, assignee=rep, by=manager))
    committed(lambda: services.lead_delete(lead_id=lead.pk, by=manager))

    assigned, deleted = sent()
    assert assigned["type"] == "lead.assigned"
    assert assigned["changes"][0]["new_id"] == rep.pk
    assert assigned["lead"]["assignee"]["username"] == "alice"
    assert deleted["type"] == "lead.deleted"
    assert deleted["lead"] == {"id": lead.pk, "title": "Going", "deleted": True}


def test_a_bulk_move_is_one_delivery_per_lead(manager, committed):
    hook = WebhookFactory(events=[Kind.STAGE_CHANGED])
    leads = LeadFactory.create_batch(3)
    committed(
        lambda: services.leads_update_bulk(
            changes={lead.pk: {"stage": default_stage("Qualified")} for lead in leads},
            by=manager,
            tags={"bulk": 7},
        )
    )

    deliveries = list(WebhookDelivery.objects.filter(webhook=hook))
    assert sorted(d.lead_id for d in deliveries) == sorted(lead.pk for lead in leads)
    assert {d.event for d in deliveries} == {"lead.stage_changed"}
    assert len({d.event_id for d in deliveries}) == 3
    assert all(payload["context"] == {"bulk": 7} for payload in sent())


def test_a_bulk_delete_is_one_delivery_per_lead(hook, manager, committed):
    leads = LeadFactory.create_batch(2)
    committed(lambda: services.leads_delete_bulk(lead_ids=[lead.pk for lead in leads], by=manager))

    assert kinds() == ["lead.deleted", "lead.deleted"]
    assert {p["lead"]["id"] for p in sent()} == {lead.pk for lead in leads}


def test_an_undone_bulk_change_tells_of_the_stage_going_back(hook, manager, committed):
    lead = LeadFactory()
    result = services.leads_update_bulk(
        changes={lead.pk: {"stage": default_stage("Qualified")}}, by=manager, keep_before=True
    )
    moved = Lead.objects.get(pk=lead.pk)
    committed(
        lambda: services.leads_undo_bulk(
            items={lead.pk: (result.before[lead.pk], moved.version)},
            by=manager,
            tags={"undo_bulk": 1},
        )
    )

    assert kinds() == ["lead.stage_changed"]
    assert sent()[0]["changes"][0]["new"] == "New"


def test_the_assignment_rules_tell_of_the_assignment(hook, manager, rep, committed):
    AssignmentRuleFactory(team=None, user=rep)
    lead = LeadFactory(assignee=None)
    committed(lambda: services.leads_assign_by_rules(lead_ids=[lead.pk], by=manager))

    assert kinds() == ["lead.assigned"]


#: What the importer gives every row of a lead's text fields (COPY writes no defaults).
TEXT_DEFAULTS = {
    "description": "",
    "category": "",
    "priority": "normal",
    "competitor": "",
    "lost_note": "",
}


def test_an_import_tells_of_each_lead_it_created(hook, manager, committed):
    lead_import = LeadImport.objects.create(
        created_by=manager, file_name="leads.csv", content=b"", encoding="utf-8", delimiter=","
    )
    stage = default_stage()
    ids = committed(
        lambda: services.leads_create_bulk(
            rows=[{"title": f"Row {n}", "stage_id": stage.pk} | TEXT_DEFAULTS for n in (1, 2)],
            by=manager,
            lead_import=lead_import,
            row_numbers=[2, 3],
        )
    )

    assert kinds() == ["lead.created", "lead.created"]
    assert [p["lead"]["id"] for p in sent()] == ids
    assert sent()[1]["context"] == {"import_id": lead_import.pk, "file": "leads.csv", "row": 3}


def test_a_merge_tells_of_the_kept_leads_changes_and_the_others_deletion(hook, manager, committed):
    keep, other = LeadFactory(title="Keep"), LeadFactory(title="Other")
    committed(
        lambda: services.leads_merge(
            keep_id=keep.pk, other_id=other.pk, values={"title": "Other"}, by=manager
        )
    )

    assert kinds() == ["lead.changed", "lead.deleted"]
    assert sent()[1]["context"] == {"merged_into": keep.pk}


def test_a_captured_lead_names_its_form(hook, committed):
    form = CaptureFormFactory(name="Contact form")
    submission = check(form, {"name": "Jane", "email": "jane@example.com"})
    lead = committed(lambda: lead_capture(capture_form=form, submission=submission))

    [payload] = sent()
    assert payload["type"] == "lead.created"
    assert payload["lead"]["id"] == lead.pk
    assert payload["actor"] is None
    assert payload["context"]["capture_form"]["form"] == "Contact form"


def test_a_note_tells_no_one(hook, manager, committed):
    lead = LeadFactory()
    committed(lambda: services.lead_add_note(lead_id=lead.pk, text="Called", by=manager))

    assert not WebhookDelivery.objects.exists()


def test_every_event_the_services_write_goes_through_the_writers_that_tell_webhooks():
    """The writers (_save, _save_all, _insert_rows) are the only code in leads.services
    that inserts events: a new path that wrote its own would send no webhooks."""
    import inspect

    source = inspect.getsource(services)
    writers = {
        name: inspect.getsource(getattr(services, name))
        for name in ("_save", "_save_all", "_insert_rows")
    }
    rest = source
    for code in writers.values():
        rest = rest.replace(code, "")
    for insert in (
        "LeadEvent.objects.create",
        "LeadEvent.objects.bulk_create",
        "bulk_insert(LeadEvent",
    ):
        assert insert not in rest, insert
    assert all("webhooks.emit" in code for code in writers.values())


# --- never at the cost of a request ---------------------------------------------------------


def test_a_slow_endpoint_does_not_hold_up_the_page(receiver, hook, rep_client, rep, committed):
    receiver.delay = 3
    lead = LeadFactory(created_by=rep, assignee=rep)

    started = time.monotonic()
    response = committed(
        lambda: rep_client.post(
            reverse("leads:move_stage", args=[lead.pk]), {"stage": default_stage("Contacted").pk}
        )
    )

    assert response.status_code in (200, 302)
    assert time.monotonic() - started < 1.5
    assert receiver.received == []
    assert WebhookDelivery.objects.get().status == "pending"


def test_a_failing_endpoint_does_not_break_the_page(settings, rep_client, rep, committed):
    WebhookFactory(url="http://127.0.0.1:9/")  # refused, and private: never called
    lead = LeadFactory(created_by=rep, assignee=rep)

    response = committed(
        lambda: rep_client.post(
            reverse("leads:move_stage", args=[lead.pk]), {"stage": default_stage("Contacted").pk}
        )
    )

    assert response.status_code in (200, 302)
    assert Lead.objects.get(pk=lead.pk).stage == default_stage("Contacted")


def test_a_dispatch_that_fails_is_logged_not_the_users_error(
    monkeypatch, hook, rep_client, rep, committed, caplog
):
    def broken(rows):
        raise RuntimeError("database gone")

    monkeypatch.setattr(webhooks, "dispatch", broken)
    lead = LeadFactory(created_by=rep, assignee=rep)

    response = committed(
        lambda: rep_client.post(
            reverse("leads:move_stage", args=[lead.pk]), {"stage": default_stage("Contacted").pk}
        )
    )

    assert response.status_code in (200, 302)
    assert "database gone" in caplog.text


def test_a_timeout_is_a_failed_attempt_tried_again_later(receiver, hook, manager, committed):
    receiver.delay = 2
    lead = LeadFactory()
    committed(lambda: services.lead_update(lead_id=lead.pk, values={"title": "X"}, by=manager))

    started = time.monotonic()
    webhooks.send_due()

    assert time.monotonic() - started < 1.5
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "timed out" in delivery.last_error
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert wait == pytest.approx(60, abs=1)


def test_failures_are_retried_with_a_doubling_wait_until_the_last_attempt(
    settings, receiver, hook, manager, committed
):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    receiver.status = 500
    lead = LeadFactory()
    committed(lambda: services.lead_update(lead_id=lead.pk, values={"title": "X"}, by=manager))
    waits = []
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(4):
            assert webhooks.send_due() == 1
            delivery = WebhookDelivery.objects.get()
            if delivery.next_attempt_at is None:
                break
            waits.append((delivery.next_attempt_at - timezone.now()).total_seconds())
            clock.shift(datetime.timedelta(seconds=waits[-1] - 1))
            assert webhooks.send_due() == 0  # not due yet
            clock.shift(datetime.timedelta(seconds=1))

    assert waits == [60, 120, 240]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 4, 500)
    assert delivery.last_error == "HTTP 500: thanks"
    assert len(receiver.received) == 4


def test_the_wait_stops_doubling_at_its_longest(settings):
    settings.WEBHOOK_RETRY_MAX = 3600
    assert webhooks.retry_delay(1) == datetime.timedelta(minutes=1)
    assert webhooks.retry_delay(5) == datetime.timedelta(minutes=16)
    assert webhooks.retry_delay(12) == datetime.timedelta(hours=1)


def test_an_answer_that_is_not_http_is_a_failed_attempt(receiver, hook, manager, committed):
    receiver.raw = b"SMTP ready\r\n\r\n"
    lead = LeadFactory()
    committed(lambda: services.lead_update(lead_id=lead.pk, values={"title": "X"}, by=manager))

    assert webhooks.send_due() == 1

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "BadStatusLine" in delivery.last_error


def test_a_redirect_is_not_followed(receiver, hook, manager, committed):
    receiver.status = 302
    receiver.headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
    lead = LeadFactory()
    committed(lambda: services.lead_update(lead_id=lead.pk, values={"title": "X"}, by=manager))

    webhooks.send_due()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert len(receiver.received) == 1


def test_one_delivery_is_taken_by_one_sender():
    delivery = WebhookDelivery.objects.create(
        webhook=WebhookFactory(), event="lead.created", body="{}"
    )
    now = timezone.now()

    assert webhooks.claim(delivery.pk, now)
    assert not webhooks.claim(delivery.pk, now)


def test_retry_now_makes_a_given_up_delivery_due_for_one_more_attempt(settings, receiver, hook):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    delivery = WebhookDelivery.objects.create(
        webhook=hook, event="lead.created", body="{}", status="failed", attempts=2,
        next_attempt_at=None,
    )  # fmt: skip

    assert webhooks.retry_now([delivery.pk]) == 1
    webhooks.send_due()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)


# --- where webhooks may go ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://localhost/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "ftp://example.com/",
        "file:///etc/passwd",
    ],
)
def test_internal_addresses_and_other_schemes_are_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE = False

    with pytest.raises(webhooks.UnsafeAddress):
        webhooks.check_url(url)


def test_a_public_address_is_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    webhooks.check_url("https://93.184.216.34/hook")


def test_an_attempt_at_an_internal_address_is_refused_without_a_request(
    settings, receiver, manager, committed
):
    WebhookFactory(url=receiver.url)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    lead = LeadFactory()
    committed(lambda: services.lead_update(lead_id=lead.pk, values={"title": "X"}, by=manager))

    webhooks.send_due()

    assert receiver.received == []
    assert "internal address" in WebhookDelivery.objects.get().last_error


# --- with a worker (the database backend, as in production) ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_a_worker_deliveries_are_tasks_and_a_retry_waits_its_turn(settings, receiver):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.WEBHOOKS_QUEUED = True
    reset_task_backends()
    try:
        WebhookFactory(url=receiver.url)
        receiver.status = 503
        manager = ManagerFactory(username="boss")
        lead = LeadFactory()
        services.lead_update(lead_id=lead.pk, values={"title": "Queued"}, by=manager)
        assert receiver.received == []  # nothing sent by the write itself

        call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)

        delivery = WebhookDelivery.objects.get()
        assert (delivery.attempts, delivery.last_status_code) == (1, 503)
        retry = DBTaskResult.objects.filter(status="READY").get()
        assert retry.run_after == delivery.next_attempt_at
        assert len(receiver.received) == 1
    finally:
        settings.TASKS = {
            "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
        }
        reset_task_backends()


def test_queued_webhooks_with_the_immediate_backend_are_warned_of(settings):
    settings.WEBHOOKS_QUEUED = True
    assert [w.id for w in webhooks_are_sent_outside_requests(None)] == ["crm.W002"]
    settings.WEBHOOKS_QUEUED = False
    assert webhooks_are_sent_outside_requests(None) == []
    settings.WEBHOOKS_QUEUED = True
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert webhooks_are_sent_outside_requests(None) == []


def test_making_the_deliveries_of_a_bulk_change_reads_a_few_queries_however_many_leads(
    manager, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    WebhookFactory.create_batch(2)
    leads = LeadFactory.create_batch(30)
    with django_capture_on_commit_callbacks() as callbacks:
        services.leads_update_bulk(
            changes={lead.pk: {"stage": default_stage("Won"), "title": "Done"} for lead in leads},
            by=manager,
        )

    # The endpoints, the closing stages, the leads, the actors, one INSERT.
    with django_assert_max_num_queries(5):
        for callback in callbacks:
            callback()

    assert WebhookDelivery.objects.count() == 30 * 3 * 2  # changed, stage changed, won
