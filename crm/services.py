"""Every write to a client or a contact, in one place, with its audit trail.

The client and contact pages, the Django admin (its forms, the contacts inline on a
client's page, the soft-delete and restore actions) and the CSV import write clients and
contacts through these functions; only the seed commands write made-up rows themselves.
Each write, in one transaction:

1. checks that ``by`` may make it (``PermissionDenied`` otherwise, nothing written);
2. locks the row and reads it afresh (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite
   the transaction holds the database's write lock), so that the old values recorded
   are the ones the change replaces;
3. checks the changed values with the model's rules (``clean_fields``);
4. records the history beside the change: "created", one "changed" event per field that
   changed (old → new; nothing for a field that kept its value), "deleted", "restored".

An event's time is the record's: ``created_at``, ``updated_at``, or ``deleted_at``.
"""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.web.bulk import bulk_insert
from crm.web.fields import stored, unchanged

from .models import AuditEvent, AuditKind, Client, ClientEvent, Contact, ContactEvent

#: Ids a locking query names at most (SQLite allows 32,766 parameters).
LOCK_CHUNK = 2000


# --- clients -------------------------------------------------------------------------------


@transaction.atomic
def client_create(*, client: Client, by, origin: dict | None = None) -> Client:
    """Save a new client built by a form; record its creation.

    ``origin``: what made it when no one signed in did (``by`` None): a website's post
    to a capture form, ``{"capture": <form name>}``, which the event records.
    """
    return _create(client, ClientEvent, by=by, origin=origin)


@transaction.atomic
def client_update(*, client_id: int, values: dict, by) -> Client:
    """Apply typed values to a client: each field that changes is an event (old → new)."""
    return _update(Client, ClientEvent, client_id, values, by=by)


@transaction.atomic
def client_delete(*, client_id: int, by) -> Client:
    """Soft-delete a client (its leads keep it); a deleted one keeps its first deletion."""
    return _set_deleted(Client, ClientEvent, client_id, deleted=True, by=by)


@transaction.atomic
def client_restore(*, client_id: int, by) -> Client:
    """Bring back a soft-deleted client; a living one is left as it is."""
    return _set_deleted(Client, ClientEvent, client_id, deleted=False, by=by)


@transaction.atomic
def clients_delete_bulk(*, client_ids: Iterable[int], by) -> int:
    """Soft-delete many clients, an event each; returns how many were living."""
    return _set_deleted_many(Client, ClientEvent, client_ids, deleted=True, by=by)


@transaction.atomic
def clients_restore_bulk(*, client_ids: Iterable[int], by) -> int:
    """Restore many clients, an event each; returns how many were deleted."""
    return _set_deleted_many(Client, ClientEvent, client_ids, deleted=False, by=by)


@transaction.atomic
def clients_create_bulk(*, names: list[str], by, event_data: dict | None = None) -> list[int]:
    """Create many clients by name (a CSV import of leads), each with a "created" event
    holding ``event_data`` (which import made it); returns the new ids in order.

    A few queries whatever the number of clients (COPY on PostgreSQL, bulk_create in
    batches elsewhere). The names come checked by the caller; every other field takes
    its default.
    """
    return _create_many(
        Client, ClientEvent, [{"name": name} for name in names], by=by, event_data=event_data
    )


@transaction.atomic
def clients_create_many(*, rows: list[dict], by, event_data: dict | None = None) -> list[int]:
    """Create many clients from their values (an address book's import), each checked by
    the caller with the model's rules (``clean_fields``); returns the new ids in order."""
    return _create_many(Client, ClientEvent, rows, by=by, event_data=event_data)


# --- contacts ------------------------------------------------------------------------------


@transaction.atomic
def contacts_create_bulk(
    *, contacts: list[tuple[int, str]], by, event_data: dict | None = None
) -> list[int]:
    """Create many contacts, each (client id, name), for a CSV import of leads; a name
    that is an email address is its email too. Returns the new ids in order."""
    rows = [
        {"client_id": client_id, "name": name, "email": _email_or_blank(name)}
        for client_id, name in contacts
    ]
    return _create_many(Contact, ContactEvent, rows, by=by, event_data=event_data)


@transaction.atomic
def contacts_create_many(*, rows: list[dict], by, event_data: dict | None = None) -> list[int]:
    """Create many contacts from their values (``client_id`` among them), each checked by
    the caller with the model's rules; returns the new ids in order."""
    return _create_many(Contact, ContactEvent, rows, by=by, event_data=event_data)


def _email_or_blank(text: str) -> str:
    try:
        validate_email(text)
    except ValidationError:
        return ""
    return text


@transaction.atomic
def contact_create(*, contact: Contact, by, origin: dict | None = None) -> Contact:
    """Save a new contact built by a form; record its creation (``origin``: as for
    ``client_create``)."""
    return _create(contact, ContactEvent, by=by, origin=origin)


@transaction.atomic
def contact_update(*, contact_id: int, values: dict, by) -> Contact:
    """Apply typed values to a contact: each field that changes is an event (old → new)."""
    return _update(Contact, ContactEvent, contact_id, values, by=by)


@transaction.atomic
def contact_delete(*, contact_id: int, by) -> Contact:
    """Soft-delete a contact (its leads keep it); a deleted one keeps its first deletion."""
    return _set_deleted(Contact, ContactEvent, contact_id, deleted=True, by=by)


@transaction.atomic
def contact_restore(*, contact_id: int, by) -> Contact:
    """Bring back a soft-deleted contact; a living one is left as it is."""
    return _set_deleted(Contact, ContactEvent, contact_id, deleted=False, by=by)


@transaction.atomic
def contacts_delete_bulk(*, contact_ids: Iterable[int], by) -> int:
    """Soft-delete many contacts, an event each; returns how many were living."""
    return _set_deleted_many(Contact, ContactEvent, contact_ids, deleted=True, by=by)


@transaction.atomic
def contacts_restore_bulk(*, contact_ids: Iterable[int], by) -> int:
    """Restore many contacts, an event each; returns how many were deleted."""
    return _set_deleted_many(Contact, ContactEvent, contact_ids, deleted=False, by=by)


# --- shared by both ------------------------------------------------------------------------


def _create_many(model, event_model, rows: list[dict], *, by, event_data) -> list[int]:
    """Insert rows of values (attnames; the rest take their defaults) and a "created"
    event for each holding ``event_data``; a few queries however many rows."""
    if not rows:
        return []
    _require(by, "add", model)
    now = timezone.now()
    defaults = {
        field.attname: field.get_default()
        for field in model._meta.concrete_fields
        if not field.primary_key
    }
    defaults.update(created_at=now, updated_at=now)
    unknown = {name for row in rows for name in row} - set(defaults)
    if unknown:
        raise ValueError(f"Not columns of {model.__name__}: {', '.join(sorted(unknown))}")
    values = (tuple(row.get(column, value) for column, value in defaults.items()) for row in rows)
    ids = bulk_insert(model, list(defaults), values, count=len(rows), want_ids=True)
    bulk_insert(
        event_model,
        [f"{event_model.record_field}_id", "actor_id", "at", "kind", "data"],
        (
            (pk, by.pk, now, AuditKind.CREATED, {"name": row["name"], **(event_data or {})})
            for pk, row in zip(ids, rows, strict=True)
        ),
        count=len(ids),
    )
    return ids


#: Why a write is refused, by the action and the model.
REFUSALS = {
    ("add", "client"): gettext_lazy("You may not add clients."),
    ("change", "client"): gettext_lazy("You may not change clients."),
    ("delete", "client"): gettext_lazy("You may not delete clients."),
    ("add", "contact"): gettext_lazy("You may not add contacts."),
    ("change", "contact"): gettext_lazy("You may not change contacts."),
    ("delete", "contact"): gettext_lazy("You may not delete contacts."),
}


def refusal(action: str, model_name: str) -> str:
    """Why ``action`` on the model is refused, in the reader's language."""
    return str(REFUSALS.get((action, model_name)) or _("You don't have permission to do that."))


def _require(by, action: str, model: type[models.Model]) -> None:
    """``by`` holds the model permission for the action (restoring needs "delete")."""
    opts = model._meta
    if by is None or not by.has_perm(f"{opts.app_label}.{action}_{opts.model_name}"):
        raise PermissionDenied(refusal(action, opts.model_name))


def _editable(model: type[models.Model]) -> dict[str, models.Field]:
    """The fields people type: not the id, the timestamps or the deletion."""
    return {
        field.name: field
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key
    }


def _check(obj: models.Model, names: Iterable[str]) -> None:
    """The model's rules for these fields (ValidationError), without a query.

    Related rows are not looked up again: they were read to be given here, and the
    database's foreign keys hold anyway.
    """
    names = set(names)
    obj.clean_fields(
        exclude=[f.name for f in obj._meta.concrete_fields if f.name not in names or f.is_relation]
    )
    obj.clean()


def _record(
    event_model: type[AuditEvent], obj, *, by, kind: AuditKind, at, data: list[dict]
) -> None:
    event_model.objects.bulk_create(
        event_model(**{event_model.record_field: obj}, actor=by, at=at, kind=kind, data=item)
        for item in data
    )


def _create(obj, event_model: type[AuditEvent], *, by, origin: dict | None = None):
    model = type(obj)
    if by is not None or not origin:  # no one signed in: only for a named origin
        _require(by, "add", model)
    _check(obj, _editable(model))
    obj.save()
    created = [{"name": obj.name, **(origin or {})}]
    _record(event_model, obj, by=by, kind=AuditKind.CREATED, at=obj.created_at, data=created)
    return obj


def _change(obj, field: models.Field, new) -> dict:
    """What a "changed" event records of one field: old → new, and ids for a related row."""
    if field.is_relation:
        old = getattr(obj, field.name)  # the row as it was: one query, for its name
        return {
            "field": field.name,
            "old": str(old) if old is not None else None,
            "new": str(new) if new is not None else None,
            "old_id": old.pk if old is not None else None,
            "new_id": new.pk if new is not None else None,
        }
    return {"field": field.name, "old": stored(getattr(obj, field.name)), "new": stored(new)}


def _update(model, event_model: type[AuditEvent], pk: int, values: dict, *, by):
    _require(by, "change", model)
    fields = _editable(model)
    if unknown := set(values) - set(fields):
        raise ValueError(f"Not fields people type: {', '.join(sorted(unknown))}")
    obj = model.objects.select_for_update().get(pk=pk)
    changes = []
    for name, new in values.items():
        field = fields[name]
        if unchanged(obj, field, new):
            continue
        changes.append(_change(obj, field, new))
        setattr(obj, name, new)
    if not changes:
        return obj
    changed = [change["field"] for change in changes]
    _check(obj, changed)
    obj.save(update_fields=[*changed, "updated_at"])
    _record(event_model, obj, by=by, kind=AuditKind.CHANGED, at=obj.updated_at, data=changes)
    return obj


def _set_deleted(model, event_model: type[AuditEvent], pk: int, *, deleted: bool, by):
    _require(by, "delete", model)
    obj = model.objects.select_for_update().get(pk=pk)
    if obj.is_deleted == deleted:
        return obj
    if deleted:
        obj.soft_delete()
    else:
        obj.restore()
    kind = AuditKind.DELETED if deleted else AuditKind.RESTORED
    _record(event_model, obj, by=by, kind=kind, at=obj.deleted_at or obj.updated_at, data=[{}])
    return obj


def _set_deleted_many(
    model, event_model: type[AuditEvent], ids: Iterable[int], *, deleted: bool, by
) -> int:
    """Soft-delete (or restore) the rows that are not so already; an event for each.

    Rows are locked in id order, the same for every writer, so that two bulk writes over
    the same rows wait for each other instead of deadlocking.
    """
    _require(by, "delete", model)
    ids = sorted(set(ids))
    now = timezone.now()
    done: list[int] = []
    for start in range(0, len(ids), LOCK_CHUNK):
        rows = model.objects.select_for_update().filter(pk__in=ids[start : start + LOCK_CHUNK])
        rows = rows.alive() if deleted else rows.deleted()
        locked = list(rows.order_by("pk").values_list("pk", flat=True))
        model.objects.filter(pk__in=locked).update(
            deleted_at=now if deleted else None, updated_at=now
        )
        done += locked
    kind = AuditKind.DELETED if deleted else AuditKind.RESTORED
    event_model.objects.bulk_create(
        (
            event_model(**{f"{event_model.record_field}_id": pk}, actor=by, at=now, kind=kind)
            for pk in done
        ),
        batch_size=LOCK_CHUNK,
    )
    return len(done)
