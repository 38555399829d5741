"""Telling other systems what happened to leads: signed webhook deliveries.

Every lead write records its history through ``leads.services``, whose event writers
(``_save``, ``_save_all``, ``_insert_rows``) hand the events to ``emit``. ``emit`` keeps
them until the write's transaction commits (``transaction.on_commit``; a rolled-back
write sends nothing) and then ``dispatch`` turns them into webhook events — one per
lead and kind per write, so a bulk move of 50 leads is 50 "lead.stage_changed" — and
writes a ``WebhookDelivery`` for each endpoint listening to that kind.

Sending never happens in a user's request. Where tasks run in a worker
(``WEBHOOKS_QUEUED``: ``TASKS_BACKEND=database``), ``dispatch`` queues
``leads.tasks.send_webhook_deliveries``; otherwise (the immediate backend, which would
run the task inside the request) the deliveries wait for ``manage.py send_webhooks``.
A failed attempt is tried again later, each wait twice the one before
(``retry_delay``), up to ``WEBHOOK_MAX_ATTEMPTS``; the task backend defers the retry
(``run_after``) where it can, and ``send_webhooks`` sends whatever is due in any case.

Each attempt is signed: ``X-CRM-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with the endpoint's secret>`` (``signature``; docs/API.md shows the check).
"""

import datetime
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.tasks import task
from django.utils import timezone
from django.utils.translation import gettext

from pipelines.models import PipelineStage

from .assignment import person
from .events import EventKind
from .models import Lead
from .webhook_models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEventKind

logger = logging.getLogger(__name__)

Kind = WebhookEventKind

#: Header names, for senders and for the docs.
SIGNATURE_HEADER = "X-CRM-Signature"
EVENT_HEADER = "X-CRM-Event"
DELIVERY_HEADER = "X-CRM-Delivery"
#: How much of an endpoint's answer or error the log keeps.
ERROR_MAX = 500
#: Deliveries one task sends at most; one queued task per this many.
TASK_CHUNK = 100
#: Leads read at once for the events' snapshots.
READ_CHUNK = 2000

#: Event data that says which write made the change, passed on as the event's context.
CONTEXT_KEYS = ("bulk", "undo_bulk", "import_id", "file", "row", "undo_import", "merged_into")


# --- from history events to webhook events --------------------------------------------------


@dataclass
class Occurrence:
    """One webhook event about to be made: a kind, a lead, and the changes it stands for."""

    kind: str
    lead_id: int | None
    actor_id: int | None
    at: datetime.datetime
    changes: list[dict] = field(default_factory=list)
    context: dict = field(default_factory=dict)
    gone: dict | None = None  # a deleted lead: what its audit record says of it


#: The history event kinds that webhooks tell of (a note or a merge's own event do not).
WATCHED = {
    EventKind.CREATED,
    EventKind.IMPORTED,
    EventKind.CHANGED,
    EventKind.STAGE_CHANGED,
    EventKind.ASSIGNED,
    EventKind.DELETED,
}


def emit(rows: Iterable[tuple]) -> None:
    """Send webhooks for these history events (rows of ``events.COLUMNS``) once the
    transaction that writes them commits; nothing when it rolls back."""
    rows = [row for row in rows if row[3] in WATCHED]
    if rows:
        # robust: a failure here is logged, never the user's request's.
        transaction.on_commit(lambda: dispatch(rows), robust=True)


def occurrences(rows: list[tuple], closing_kinds: dict[int, str]) -> list[Occurrence]:
    """The webhook events these history events make, one per lead and kind: a write that
    changes a lead's title and value is one "lead.changed" with two changes.
    ``closing_kinds``: the won and lost stages' kinds by id ("lead.won", "lead.lost")."""
    found: dict[tuple, Occurrence] = {}

    def add(kind, lead_id, actor_id, at, data, change=None, gone=None):
        key = (kind, lead_id if gone is None else ("gone", gone.get("lead_id")))
        occurrence = found.get(key)
        if occurrence is None:
            context = {k: data[k] for k in CONTEXT_KEYS if k in data}
            if "capture" in data:
                context["capture_form"] = data["capture"]
            occurrence = found[key] = Occurrence(kind, lead_id, actor_id, at, [], context, gone)
        if change is not None:
            occurrence.changes.append(change)

    def changed(lead_id, actor_id, at, data, change):
        name = change.get("field")
        if name == "stage":
            add(Kind.STAGE_CHANGED, lead_id, actor_id, at, data, change)
            closed = closing_kinds.get(change.get("new_id"))
            if closed:
                add(closed, lead_id, actor_id, at, data, change)
        elif name == "assignee":
            add(Kind.ASSIGNED, lead_id, actor_id, at, data, change)
        else:
            add(Kind.CHANGED, lead_id, actor_id, at, data, change)

    for lead_id, actor_id, at, kind, data in rows:
        if kind == EventKind.CREATED:
            add(Kind.CREATED, lead_id, actor_id, at, data)
        elif kind == EventKind.IMPORTED:
            if data.get("updated") or data.get("undo_import"):
                for change in data.get("changes", []):
                    changed(lead_id, actor_id, at, data, change)
            else:
                add(Kind.CREATED, lead_id, actor_id, at, data)
        elif kind == EventKind.DELETED:
            add(Kind.DELETED, None, actor_id, at, data, gone=data)
        else:
            changed(lead_id, actor_id, at, data, _change(data))
    return list(found.values())


def _change(data: dict) -> dict:
    """A change as the payload says it: the field, its old and new value (as the history
    records them: names, labels, ISO dates) and ids for a related row."""
    return {k: data[k] for k in ("field", "old", "new", "old_id", "new_id") if k in data}


# --- making the deliveries -------------------------------------------------------------------


def dispatch(rows: list[tuple]) -> list[WebhookDelivery]:
    """Make the deliveries of committed history events for every endpoint listening, and
    hand them to a worker (``WEBHOOKS_QUEUED``) or leave them to ``send_webhooks``."""
    hooks = list(Webhook.objects.listening())
    if not hooks:
        return []
    closing_kinds = {
        pk: Kind.WON if kind == PipelineStage.Kind.WON else Kind.LOST
        for pk, kind in PipelineStage.objects.exclude(kind=PipelineStage.Kind.OPEN).values_list(
            "pk", "kind"
        )
    }
    found = [
        occurrence
        for occurrence in occurrences(rows, closing_kinds)
        if any(occurrence.kind in hook.events for hook in hooks)
    ]
    if not found:
        return []
    leads = _snapshots({o.lead_id for o in found if o.lead_id is not None})
    actors = _actors({o.actor_id for o in found if o.actor_id is not None})
    deliveries = []
    for occurrence in found:
        event_id = uuid.uuid4()
        body = json.dumps(
            payload(occurrence, event_id=event_id, leads=leads, actors=actors),
            cls=DjangoJSONEncoder,
            separators=(",", ":"),
        )
        deliveries += [
            WebhookDelivery(
                webhook=hook,
                event_id=event_id,
                event=occurrence.kind,
                lead_id=occurrence.lead_id or (occurrence.gone or {}).get("lead_id"),
                body=body,
            )
            for hook in hooks
            if occurrence.kind in hook.events
        ]
    WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
    if settings.WEBHOOKS_QUEUED:
        queue([delivery.pk for delivery in deliveries])
    return deliveries


def queue(delivery_ids: list[int], *, run_after: datetime.datetime | None = None) -> None:
    """Hand deliveries to the task worker, a task per ``TASK_CHUNK``."""
    task = send_webhook_deliveries
    if run_after is not None and task.get_backend().supports_defer:
        task = task.using(run_after=run_after)
    elif run_after is not None:
        return  # left for ``send_webhooks``, which sends what is due
    for start in range(0, len(delivery_ids), TASK_CHUNK):
        task.enqueue(delivery_ids[start : start + TASK_CHUNK])


def payload(
    occurrence: Occurrence, *, event_id: uuid.UUID, leads: dict[int, dict], actors: dict
) -> dict:
    """What an endpoint is sent: the event, who made it, the lead as it is now (as its
    audit record had it, for a deleted lead), the changes and which write made them."""
    if occurrence.gone is not None:
        gone = occurrence.gone
        lead = {"id": gone.get("lead_id"), "title": gone.get("title"), "deleted": True}
    else:
        lead = leads.get(occurrence.lead_id) or {"id": occurrence.lead_id, "deleted": True}
    return {
        "id": str(event_id),
        "type": occurrence.kind,
        "occurred_at": occurrence.at,
        "actor": actors.get(occurrence.actor_id),
        "lead": lead,
        "changes": occurrence.changes,
        "context": occurrence.context,
    }


def _named(obj, *names) -> dict | None:
    return None if obj is None else {name: getattr(obj, name) for name in ("id", *names)}


def lead_snapshot(lead: Lead) -> dict:
    """A lead as webhooks describe it."""
    stage = lead.stage
    return {
        "id": lead.pk,
        "title": lead.title,
        "description": lead.description,
        "status": stage.kind,
        "stage": {"id": stage.pk, "name": stage.name, "kind": stage.kind},
        "pipeline": _named(stage.pipeline, "name"),
        "value": lead.value,
        "currency": "EUR",
        "probability": lead.probability,
        "priority": lead.priority,
        "expected_close_date": lead.expected_close_date,
        "category": lead.category,
        "source": _named(lead.source, "slug", "label"),
        "client": _named(lead.client, "name"),
        "contact": _named(lead.contact, "name", "email"),
        "assignee": None if lead.assignee is None else _actor(lead.assignee),
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
        "version": lead.version,
        "path": lead.get_absolute_url(),
    }


def _snapshots(ids: set[int]) -> dict[int, dict]:
    ids = sorted(ids)
    found = {}
    for start in range(0, len(ids), READ_CHUNK):
        leads = Lead.objects.filter(pk__in=ids[start : start + READ_CHUNK]).select_related(
            "stage__pipeline", "source", "client", "contact", "assignee"
        )
        found |= {lead.pk: lead_snapshot(lead) for lead in leads}
    return found


def _actor(user) -> dict:
    return {"id": user.pk, "username": user.get_username(), "name": person(user)}


def _actors(ids: set[int]) -> dict[int, dict]:
    users = get_user_model().objects.filter(pk__in=ids) if ids else []
    return {user.pk: _actor(user) for user in users}


# --- signing and sending ---------------------------------------------------------------------


def signature(secret: str, body: str, timestamp: int) -> str:
    """The signature header's value: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "t.body">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_delay(attempts: int) -> datetime.timedelta:
    """The wait after the ``attempts``-th failed attempt: the first wait, doubled each
    time, at most ``WEBHOOK_RETRY_MAX`` (1, 2, 4, 8 … minutes by default)."""
    seconds = settings.WEBHOOK_RETRY_FIRST * 2 ** (attempts - 1)
    return datetime.timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX))


class UnsafeAddress(ValueError):
    """A webhook URL this server will not call."""


def check_url(url: str, *, resolve: bool = True) -> None:
    """Refuse (``UnsafeAddress``) what is not http or https, and, unless
    ``WEBHOOK_ALLOW_PRIVATE``, a host that is or resolves to a loopback, private,
    link-local or otherwise internal address: a webhook must not make this server reach
    into its own network (the database, a cloud's metadata service)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeAddress(gettext("Only http and https addresses can receive webhooks."))
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        addresses = [ipaddress.ip_address(parts.hostname)]
    except ValueError:
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as error:
            raise UnsafeAddress(
                gettext("The host %(host)s cannot be found (%(error)s).")
                % {"host": parts.hostname, "error": error}
            ) from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise UnsafeAddress(
                gettext(
                    "%(host)s is an internal address (%(address)s): webhooks go to "
                    "public addresses only."
                )
                % {"host": parts.hostname, "address": address}
            )


def validate_url(url: str) -> None:
    """The URL check for the admin's form (no look-up of the name: it may not resolve
    yet; every attempt checks again)."""
    try:
        check_url(url, resolve=False)
    except UnsafeAddress as error:
        raise ValidationError(str(error), code="unsafe") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: it could lead to an internal address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@dataclass
class Attempt:
    ok: bool
    status_code: int | None = None
    error: str = ""


def post(url: str, body: str, headers: dict[str, str]) -> Attempt:
    """POST the body; a 2xx answer within ``WEBHOOK_TIMEOUT`` seconds is a delivery,
    anything else (another status, a timeout, a refused connection) a failure."""
    try:
        check_url(url)
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT) as response:
            return Attempt(ok=200 <= response.status < 300, status_code=response.status)
    except urllib.error.HTTPError as error:
        reason = error.read(ERROR_MAX).decode(errors="replace").strip() or str(error.reason)
        return Attempt(ok=False, status_code=error.code, error=f"HTTP {error.code}: {reason}")
    except UnsafeAddress as error:
        return Attempt(ok=False, error=str(error))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Attempt(ok=False, error=f"{type(reason).__name__}: {reason}"[:ERROR_MAX])


def claim(delivery_id: int, now: datetime.datetime) -> bool:
    """Take a due delivery for one attempt: its next attempt is moved past the attempt's
    longest time, so a second sender (the task and ``send_webhooks`` at once) leaves it."""
    lease = now + datetime.timedelta(seconds=settings.WEBHOOK_TIMEOUT * 2 + 30)
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=lease)
    )


def deliver(delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt at a due delivery and log it; a failure is tried again after
    ``retry_delay`` until ``WEBHOOK_MAX_ATTEMPTS``. None when it was not due (sent, or
    taken by another sender)."""
    if not claim(delivery_id, timezone.now()):
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    hook = delivery.webhook
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LeadlyCRM-Webhooks/1",
        SIGNATURE_HEADER: signature(hook.secret, delivery.body, timestamp),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
    }
    attempt = post(hook.url, delivery.body, headers)
    now = timezone.now()
    values = {
        "attempts": F("attempts") + 1,
        "last_attempt_at": now,
        "last_status_code": attempt.status_code,
        "last_error": attempt.error[:ERROR_MAX],
    }
    attempts = delivery.attempts + 1
    retry_at = None
    if attempt.ok:
        values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        values |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    else:
        retry_at = now + retry_delay(attempts)
        values["next_attempt_at"] = retry_at
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**values)
    if not attempt.ok:
        logger.info("Webhook delivery %s failed (attempt %s): %s", delivery.pk, attempts, attempt)
    if retry_at is not None and settings.WEBHOOKS_QUEUED:
        queue([delivery.pk], run_after=retry_at)
    delivery.refresh_from_db()
    return delivery


@task
def send_webhook_deliveries(delivery_ids: list[int]) -> None:
    """Attempt these deliveries (those still due: another sender may have sent one)."""
    for pk in delivery_ids:
        deliver(pk)


def send_due(*, batch: int = 500) -> int:
    """Attempt every due delivery, one after another; returns how many were attempted.
    (Each attempt moves its delivery's next attempt on, so this ends.)"""
    attempted = 0
    while ids := list(WebhookDelivery.objects.due().values_list("pk", flat=True)[:batch]):
        attempted += sum(deliver(pk) is not None for pk in ids)
    return attempted


def retry_now(delivery_ids: Iterable[int]) -> int:
    """The admin's "Retry now": the deliveries not yet delivered are due at once; one
    that had given up gets one more attempt. Returns how many."""
    delivery_ids = list(delivery_ids)
    now = timezone.now()
    count = (
        WebhookDelivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=DeliveryStatus.DELIVERED)
        .update(status=DeliveryStatus.PENDING, next_attempt_at=now)
    )
    if count and settings.WEBHOOKS_QUEUED:
        queue(delivery_ids)
    return count
