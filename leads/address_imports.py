"""The import of an address book: organizations (our clients) and people (our contacts)
from another CRM's export, through the same wizard as deals, before them.

Each row is read into the fields of the client's or contact's form (``RECORD_FORMS``),
checked with the model's own rules (``clean_fields``, as the pages' forms check them),
and written through ``crm.services`` with a "created" event naming the import. A person's
organization is found by name (without case or punctuation), or created when the user
allows it. A row naming an organization (or, for people, the same organization and name
or email) that exists already is a duplicate: skipped, updated through
``crm.services``, or created anyway, as the user chose.
"""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from crm.models import AuditKind, Client, ClientEvent, Contact, ContactEvent
from crm.services import (
    client_update,
    clients_create_bulk,
    clients_create_many,
    clients_delete_bulk,
    contact_update,
    contacts_create_many,
    contacts_delete_bulk,
)

from .imports import (
    BATCH_SIZE,
    EXISTS,
    NO_ORGANIZATION,
    NOT_ONE_OF,
    RECORD_FORMS,
    SAME_AS_ROW,
    UNDOABLE,
    UNKNOWN_CLIENT,
    CheckResult,
    ImportSuperseded,
    Row,
    UndoRefused,
    _finish,
    _finish_nothing_imported,
    _renew,
    error_report,
    iter_rows,
    lease_seconds,
    name_key,
)
from .models import LeadImport

#: Each kind's model and its audit trail.
MODELS = {
    LeadImport.Kind.CLIENTS: (Client, ClientEvent),
    LeadImport.Kind.CONTACTS: (Contact, ContactEvent),
}


def _read(field, text: str, label: str):
    """A cell as the field's value: a choice by value or label; a web address without
    its scheme (as exports write domains) gets https://; else the text."""
    if field.choices:
        if not text:
            return field.get_default()
        choices = {str(value).lower(): value for value, _ in field.flatchoices}
        choices |= {str(name).lower(): value for value, name in field.flatchoices}
        choices |= {"company": "organization", "true": "organization", "false": "person"}
        if (value := choices.get(text.lower())) is None:
            names = ", ".join(str(value) for value, _ in field.flatchoices)
            raise ValidationError(
                gettext(NOT_ONE_OF) % {"field": label, "value": text, "choices": names}
            )
        return value
    if field.name == "website" and text and "://" not in text:
        return f"https://{text}"
    return text


def _joined(*parts: str, separator: str = " ") -> str:
    return separator.join(part for part in parts if part)


def _values(kind: str, raw: dict[str, str]) -> dict[str, str]:
    """The form's fields from a row's cells: a name from its first and last name, an
    address from its street, postcode, city and country."""
    values = dict(raw)
    if kind == LeadImport.Kind.CONTACTS and not values.get("name"):
        values["name"] = _joined(raw.get("first_name", ""), raw.get("last_name", ""))
    if kind == LeadImport.Kind.CLIENTS:
        town = _joined(raw.get("postcode", ""), raw.get("city", ""))
        values["address"] = _joined(
            raw.get("address", ""), town, raw.get("country", ""), separator="\n"
        )
    return values


def check_records(lead_import: LeadImport) -> CheckResult:
    """The dry run of an address book: every row read and checked; nothing written."""
    kind = lead_import.kind
    model, _ = MODELS[kind]
    form = RECORD_FORMS[kind]
    fields = [name for name in form.Meta.fields if name != "client"]
    mapping = {index: key for index, key in lead_import.mapping.items() if key}
    mapped = set(mapping.values())
    clients = {}
    for pk, name in Client.objects.alive().order_by("-pk").values_list("pk", "name"):
        clients[name_key(name)] = pk
    existing = _existing(kind, clients)
    rows, seen, new_clients = [], {}, {}
    for record in iter_rows(lead_import):
        row = Row(number=record.number, errors=[record.error] if record.error else [])
        rows.append(row)
        if record.error:
            continue
        cells = record.cells
        raw = {
            key: cells[int(index)].strip()
            for index, key in mapping.items()
            if int(index) < len(cells)
        }
        row.blank = frozenset(key for key in mapped if not raw.get(key))
        values = _values(kind, raw)
        obj = model()
        for name in fields:
            field = model._meta.get_field(name)
            try:
                setattr(obj, name, _read(field, values.get(name, ""), _label(field)))
            except ValidationError as error:
                row.errors += error.messages
        try:
            obj.clean_fields(
                exclude=[f.name for f in model._meta.concrete_fields if f.name not in fields]
            )
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                label = _label(model._meta.get_field(name))
                row.errors += [_said(label, message) for message in messages]
        row.values = {name: getattr(obj, name) for name in fields}
        client_key = ""
        if kind == LeadImport.Kind.CONTACTS:
            organization = raw.get("client", "")
            if not organization:
                row.errors.append(gettext(NO_ORGANIZATION))
            else:
                row.client_ref = organization
                client_key = name_key(organization)
                row.values["client_id"] = clients.get(client_key)
                if row.values["client_id"] is None:
                    row.client_name = organization[:255]
                    new_clients.setdefault(client_key, row.client_name)
                    if not lead_import.create_clients:
                        row.errors.append(gettext(UNKNOWN_CLIENT) % {"value": organization})
        keys = _keys(kind, row.values, client_key)
        if earlier := next((seen[key] for key in keys if key in seen), None):
            row.errors.append(gettext(SAME_AS_ROW) % {"row": earlier})
            continue
        for key in keys:
            seen[key] = row.number
        row.duplicate_of = next((existing[key] for key in keys if key in existing), None)
    return CheckResult(
        rows=rows,
        total=len(rows),
        invalid=sum(1 for row in rows if not row.is_valid),
        duplicates=sum(1 for row in rows if row.duplicate_of),
        new_clients=sorted(new_clients.values(), key=str.lower)
        if lead_import.create_clients
        else [],
    )


def _label(field) -> str:
    return str(field.verbose_name).capitalize()


def _said(label: str, message: str) -> str:
    """A model's message as a row error: its field first ("Email: Enter a valid …")."""
    message = message.rstrip(".")
    return message if message.startswith(label) else f"{label}: {message}"


def _keys(kind: str, values: dict, client_key: str) -> list[tuple]:
    """What makes two rows (or a row and a record) the same organization or person."""
    if kind == LeadImport.Kind.CLIENTS:
        return [("name", name_key(values["name"]))] if values.get("name") else []
    keys = []
    if values.get("name"):
        keys.append((client_key, "name", name_key(values["name"])))
    if values.get("email"):
        keys.append((client_key, "email", values["email"].lower()))
    return keys


def _existing(kind: str, clients: dict[str, int]) -> dict[tuple, int]:
    """The living records by the keys ``_keys`` makes of a row."""
    if kind == LeadImport.Kind.CLIENTS:
        return {("name", key): pk for key, pk in clients.items()}
    names = {pk: key for key, pk in clients.items()}
    found = {}
    rows = Contact.objects.alive().order_by("-pk").values_list("pk", "client_id", "name", "email")
    for pk, client_id, name, email in rows:
        client_key = names.get(client_id)
        if client_key is None:
            continue
        found[(client_key, "name", name_key(name))] = pk
        if email:
            found[(client_key, "email", email.lower())] = pk
    return found


def records_import_run(lead_import: LeadImport, token) -> LeadImport:
    """Write an address book's checked rows through the clients' and contacts' services,
    in one transaction (an address book is small beside a deal history, and a person's
    organization may come from the same run); the counts and the error report as for
    leads. Run by ``lead_import_run``, which holds the import's lease."""
    result = check_records(lead_import)
    skipped = [row for row in result.rows if not row.is_valid]
    if lead_import.duplicates == LeadImport.Duplicates.SKIP:
        for row in result.rows:
            if row.is_valid and row.duplicate_of:
                row.errors.append(gettext(EXISTS) % {"id": row.duplicate_of})
                skipped.append(row)
    if lead_import.mode == LeadImport.Mode.ALL_OR_NOTHING and result.invalid:
        return _finish_nothing_imported(lead_import, token, result, skipped)
    valid = [row for row in result.rows if row.is_valid and row.number > lead_import.last_row]
    _renew(lead_import, token, total=result.total, rows=len(valid))
    by = lead_import.created_by
    event_data = {"import_id": lead_import.pk, "file": lead_import.file_name}
    kind = lead_import.kind
    updating = lead_import.duplicates == LeadImport.Duplicates.UPDATE
    mapped = set(lead_import.mapping.values())
    try:
        with transaction.atomic():
            client_ids = {}
            if result.new_clients:
                ids = clients_create_bulk(names=result.new_clients, by=by, event_data=event_data)
                client_ids = {
                    name_key(n): pk for n, pk in zip(result.new_clients, ids, strict=True)
                }
            for start in range(0, len(valid), BATCH_SIZE):
                batch = valid[start : start + BATCH_SIZE]
                held = LeadImport.objects.select_for_update().filter(pk=lead_import.pk)
                if not held.filter(run_token=token).exists():
                    raise ImportSuperseded
                to_update = [row for row in batch if updating and row.duplicate_of]
                to_create = [row for row in batch if not (updating and row.duplicate_of)]
                rows = []
                for row in to_create:
                    values = dict(row.values)
                    if row.client_name:
                        values["client_id"] = client_ids[name_key(row.client_name)]
                    rows.append(values)
                create = (
                    clients_create_many if kind == LeadImport.Kind.CLIENTS else contacts_create_many
                )
                create(rows=rows, by=by, event_data=event_data)
                update = client_update if kind == LeadImport.Kind.CLIENTS else contact_update
                for row in to_update:
                    changes = {
                        name: value
                        for name, value in row.values.items()
                        if name in mapped and name not in row.blank and name != "client_id"
                    }
                    update(**{f"{kind[:-1]}_id": row.duplicate_of}, values=changes, by=by)
                held.update(
                    created_count=F("created_count") + len(to_create),
                    updated_count=F("updated_count") + len(to_update),
                    last_row=batch[-1].number,
                    processed_rows=F("processed_rows") + len(batch),
                    lease_until=timezone.now() + datetime.timedelta(seconds=lease_seconds()),
                )
    except PermissionDenied as refusal:
        return _finish(lead_import, token, failure=str(refusal))
    return _finish(
        lead_import,
        token,
        skipped=len(skipped),
        report=error_report(sorted(skipped, key=lambda row: row.number)),
    )


def created_by_import(lead_import: LeadImport) -> list[int]:
    """The clients or contacts an address book's import created."""
    _, event_model = MODELS[lead_import.kind]
    return list(
        event_model.objects.filter(
            kind=AuditKind.CREATED, data__import_id=lead_import.pk
        ).values_list(f"{event_model.record_field}_id", flat=True)
    )


def can_undo_records(lead_import: LeadImport) -> bool:
    return (
        lead_import.status in UNDOABLE
        and lead_import.created_count > 0
        and not lead_import.updated_count
        and not records_touched_since(lead_import)
    )


def records_touched_since(lead_import: LeadImport) -> bool:
    """Whether anyone changed or deleted a record of the import since it ran."""
    _, event_model = MODELS[lead_import.kind]
    ids = created_by_import(lead_import)
    return (
        event_model.objects.filter(**{f"{event_model.record_field}_id__in": ids})
        .exclude(kind=AuditKind.CREATED)
        .exists()
    )


@transaction.atomic
def records_import_undo(*, lead_import: LeadImport, by) -> int:
    """Delete (softly: an admin can restore them) what an address book's import created.

    Refused when it updated records (their old values are in their history, not undone
    here) or when anyone changed one since."""
    lead_import = LeadImport.objects.select_for_update().get(pk=lead_import.pk)
    if lead_import.updated_count:
        raise UndoRefused(
            gettext("This import updated existing records; their history shows what it changed.")
        )
    if records_touched_since(lead_import):
        raise UndoRefused(
            gettext(
                "Some of this import's records were changed since, so it can no longer be undone."
            )
        )
    ids = created_by_import(lead_import)
    delete = (
        clients_delete_bulk if lead_import.kind == LeadImport.Kind.CLIENTS else contacts_delete_bulk
    )
    try:
        count = delete(**{f"{lead_import.kind[:-1]}_ids": ids}, by=by)
    except PermissionDenied as refusal:
        raise UndoRefused(str(refusal)) from None
    LeadImport.objects.filter(pk=lead_import.pk).update(
        status=LeadImport.Status.UNDONE, undone_at=timezone.now(), run_token=None
    )
    return count
