"""crm.services: every write to a client or a contact records its history, in one
transaction, from the row as it is under its lock, and only for a user allowed to write."""

from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from crm import services
from crm.models import AuditKind, Client, ClientEvent, Contact, ContactEvent
from tests.factories import ClientFactory, ContactFactory

pytestmark = pytest.mark.django_db


def changes(record) -> set[tuple]:
    """(field, old, new) of the record's "changed" events."""
    return {
        (event.data["field"], event.data["old"], event.data["new"])
        for event in record.events.filter(kind=AuditKind.CHANGED)
    }


# --- clients -------------------------------------------------------------------------------


def test_creating_a_client_records_who_created_it(rep):
    client = services.client_create(client=Client(name="Acme", email="info@acme.example"), by=rep)
    event = client.events.get()
    assert (event.kind, event.actor, event.data) == (AuditKind.CREATED, rep, {"name": "Acme"})
    assert event.at == client.created_at
    assert event.describe() == "Created the client"


def test_a_change_records_one_event_per_changed_field_and_none_for_the_rest(rep):
    client = ClientFactory(name="Acme", kind="organization", email="a@acme.example", website="")
    services.client_update(
        client_id=client.pk,
        values={
            "name": "Acme",  # the same
            "kind": "person",
            "email": "b@acme.example",
            "website": "",  # empty before and after
            "notes": "Call first",
        },
        by=rep,
    )
    client.refresh_from_db()
    assert (client.kind, client.email, client.notes) == ("person", "b@acme.example", "Call first")
    assert changes(client) == {
        ("kind", "organization", "person"),
        ("email", "a@acme.example", "b@acme.example"),
        ("notes", "", "Call first"),
    }
    events = list(client.events.all())
    assert {(event.actor, event.at) for event in events} == {(rep, client.updated_at)}
    assert {event.describe() for event in events} == {
        "Kind: Organization → Person",
        "Email: a@acme.example → b@acme.example",
        "Notes: — → “Call first”",
    }


def test_a_change_that_changes_nothing_records_nothing(rep):
    client = ClientFactory(name="Acme", email="")
    updated_at = client.updated_at
    services.client_update(client_id=client.pk, values={"name": "Acme", "email": None}, by=rep)
    client.refresh_from_db()
    assert client.updated_at == updated_at
    assert not client.events.exists()


def test_old_values_are_read_from_the_row_as_it_is_not_from_the_callers_copy(rep):
    client = ClientFactory(email="a@acme.example")
    Client.objects.filter(pk=client.pk).update(email="meanwhile@acme.example")  # someone else
    services.client_update(client_id=client.pk, values={"email": "b@acme.example"}, by=rep)
    assert changes(client) == {("email", "meanwhile@acme.example", "b@acme.example")}


@pytest.mark.skipif(
    not connection.features.has_select_for_update, reason="SQLite locks the whole database"
)
def test_a_change_locks_the_row_before_reading_it(rep):
    client = ClientFactory()
    with CaptureQueriesContext(connection) as queries:
        services.client_update(client_id=client.pk, values={"name": "Renamed"}, by=rep)
    sql = [q["sql"] for q in queries.captured_queries]
    (read,) = [q for q in sql if q.startswith("SELECT") and 'FROM "crm_client"' in q]
    assert read.endswith("FOR UPDATE")
    assert sql.index(read) < next(i for i, q in enumerate(sql) if q.startswith("UPDATE"))


def test_a_change_is_checked_with_the_models_rules(rep):
    client = ClientFactory(email="a@acme.example")
    with pytest.raises(ValidationError) as excinfo:
        services.client_update(client_id=client.pk, values={"email": "not an email"}, by=rep)
    assert "email" in excinfo.value.message_dict
    client.refresh_from_db()
    assert client.email == "a@acme.example"
    assert not client.events.exists()


def test_only_fields_people_type_can_be_changed(manager):
    client = ClientFactory()
    with pytest.raises(ValueError, match="deleted_at"):
        services.client_update(client_id=client.pk, values={"deleted_at": None}, by=manager)


def test_deleting_and_restoring_a_client_record_both(manager):
    client = ClientFactory()
    services.client_delete(client_id=client.pk, by=manager)
    client.refresh_from_db()
    assert client.is_deleted
    deleted = client.events.get()
    assert (deleted.kind, deleted.actor, deleted.at) == ("deleted", manager, client.deleted_at)
    services.client_restore(client_id=client.pk, by=manager)
    client.refresh_from_db()
    assert not client.is_deleted
    restored = client.events.first()
    assert (restored.kind, restored.actor, restored.at) == ("restored", manager, client.updated_at)
    assert [e.describe() for e in client.events.all()] == [
        "Restored the client",
        "Deleted the client",
    ]


def test_deleting_a_deleted_client_keeps_its_first_deletion_and_records_nothing(manager):
    client = ClientFactory()
    services.client_delete(client_id=client.pk, by=manager)
    client.refresh_from_db()
    first = client.deleted_at
    services.client_delete(client_id=client.pk, by=manager)
    services.client_restore(client_id=ClientFactory().pk, by=manager)  # a living one
    client.refresh_from_db()
    assert client.deleted_at == first
    assert ClientEvent.objects.count() == 1


def test_bulk_delete_and_restore_record_an_event_per_row_they_change(manager):
    living, also_living, gone = ClientFactory.create_batch(3)
    gone.soft_delete()
    ids = [living.pk, also_living.pk, gone.pk]
    assert services.clients_delete_bulk(client_ids=ids, by=manager) == 2
    assert set(ClientEvent.objects.values_list("client_id", "kind", "actor")) == {
        (living.pk, "deleted", manager.pk),
        (also_living.pk, "deleted", manager.pk),
    }
    assert services.clients_restore_bulk(client_ids=[living.pk, gone.pk], by=manager) == 2
    assert ClientEvent.objects.filter(kind="restored").count() == 2
    assert Client.objects.deleted().get() == also_living


def test_creating_clients_in_bulk_records_each_with_the_import_that_made_it(rep):
    ids = services.clients_create_bulk(
        names=["Newco", "Other New"], by=rep, event_data={"import_id": 7, "file": "leads.csv"}
    )
    assert list(Client.objects.filter(pk__in=ids).order_by("pk").values_list("name", "kind")) == [
        ("Newco", "organization"),
        ("Other New", "organization"),
    ]
    events = ClientEvent.objects.filter(client_id__in=ids).order_by("client_id")
    assert [(e.client_id, e.kind, e.actor, e.data) for e in events] == [
        (ids[0], "created", rep, {"name": "Newco", "import_id": 7, "file": "leads.csv"}),
        (ids[1], "created", rep, {"name": "Other New", "import_id": 7, "file": "leads.csv"}),
    ]
    assert events[0].describe() == "Created the client by the import of leads.csv"


def test_creating_clients_in_bulk_takes_as_many_queries_for_many_as_for_few(rep):
    def queries_for(count: int) -> int:
        names = [f"Client {count}-{number}" for number in range(count)]
        with CaptureQueriesContext(connection) as queries:
            services.clients_create_bulk(names=names, by=rep)
        return len(queries.captured_queries)

    rep.has_perm("crm.add_client")  # the permissions are read once a user
    assert queries_for(3) == queries_for(300)
    assert ClientEvent.objects.count() == 303


# --- contacts ------------------------------------------------------------------------------


def test_contact_history_records_creation_changes_deletion_and_restore(manager):
    acme, globex = ClientFactory(name="Acme"), ClientFactory(name="Globex")
    contact = services.contact_create(contact=Contact(client=acme, name="Ann"), by=manager)
    services.contact_update(
        contact_id=contact.pk,
        values={"name": "Ann", "client": globex, "job_title": "CTO"},
        by=manager,
    )
    services.contact_delete(contact_id=contact.pk, by=manager)
    services.contact_restore(contact_id=contact.pk, by=manager)
    events = list(contact.events.order_by("id"))
    assert [(e.kind, e.actor) for e in events] == [
        ("created", manager),
        ("changed", manager),
        ("changed", manager),
        ("deleted", manager),
        ("restored", manager),
    ]
    assert [e.describe() for e in events] == [
        "Created the contact",
        "Client: Acme → Globex",
        "Job title: — → CTO",
        "Deleted the contact",
        "Restored the contact",
    ]
    moved = events[1].data
    assert (moved["old_id"], moved["new_id"]) == (acme.pk, globex.pk)


def test_contacts_in_bulk_record_an_event_per_row(manager):
    ann, bert = ContactFactory.create_batch(2)
    assert services.contacts_delete_bulk(contact_ids=[ann.pk, bert.pk], by=manager) == 2
    assert services.contacts_restore_bulk(contact_ids=[bert.pk], by=manager) == 1
    assert sorted(ContactEvent.objects.values_list("contact_id", "kind")) == sorted(
        [(ann.pk, "deleted"), (bert.pk, "deleted"), (bert.pk, "restored")]
    )


# --- one transaction -----------------------------------------------------------------------


WRITES = {
    "client_create": lambda by, client, contact: services.client_create(
        client=Client(name="Never saved"), by=by
    ),
    "client_update": lambda by, client, contact: services.client_update(
        client_id=client.pk, values={"name": "Never renamed"}, by=by
    ),
    "client_delete": lambda by, client, contact: services.client_delete(client_id=client.pk, by=by),
    "clients_delete_bulk": lambda by, client, contact: services.clients_delete_bulk(
        client_ids=[client.pk], by=by
    ),
    "contact_create": lambda by, client, contact: services.contact_create(
        contact=Contact(client=client, name="Never saved"), by=by
    ),
    "contact_update": lambda by, client, contact: services.contact_update(
        contact_id=contact.pk, values={"name": "Never renamed"}, by=by
    ),
    "contact_delete": lambda by, client, contact: services.contact_delete(
        contact_id=contact.pk, by=by
    ),
}


@pytest.mark.parametrize("write", WRITES)
def test_a_failing_event_write_rolls_the_change_back(manager, write):
    client = ClientFactory(name="Acme")
    contact = ContactFactory(client=client, name="Ann")
    event_model = ClientEvent if write.startswith("client") else ContactEvent
    with (
        mock.patch.object(event_model.objects, "bulk_create", side_effect=DatabaseError("full")),
        pytest.raises(DatabaseError),
    ):
        WRITES[write](manager, client, contact)
    assert list(Client.objects.values_list("name", "deleted_at")) == [("Acme", None)]
    assert list(Contact.objects.values_list("name", "deleted_at")) == [("Ann", None)]


def test_a_failing_bulk_event_write_rolls_the_new_clients_back(rep, monkeypatch):
    written = []

    def insert(model, *args, **kwargs):
        if model is ClientEvent:
            raise DatabaseError("full")
        written.append(model)
        return real_insert(model, *args, **kwargs)

    real_insert = services.bulk_insert
    monkeypatch.setattr(services, "bulk_insert", insert)
    with pytest.raises(DatabaseError):
        services.clients_create_bulk(names=["Newco"], by=rep)
    assert written == [Client]
    assert not Client.objects.exists()


# --- permissions ---------------------------------------------------------------------------


def test_a_user_without_the_permission_writes_nothing(reader, rep):
    client = ClientFactory(name="Acme")
    contact = ContactFactory(client=client)
    refused = [
        lambda: services.client_create(client=Client(name="New"), by=reader),
        lambda: services.client_update(client_id=client.pk, values={"name": "X"}, by=reader),
        lambda: services.clients_create_bulk(names=["New"], by=reader),
        lambda: services.contact_create(contact=Contact(client=client, name="N"), by=reader),
        lambda: services.contact_update(contact_id=contact.pk, values={"name": "X"}, by=reader),
        # Reps may create and change, not delete or restore.
        lambda: services.client_delete(client_id=client.pk, by=rep),
        lambda: services.client_restore(client_id=client.pk, by=rep),
        lambda: services.clients_delete_bulk(client_ids=[client.pk], by=rep),
        lambda: services.contact_delete(contact_id=contact.pk, by=rep),
        lambda: services.contacts_restore_bulk(contact_ids=[contact.pk], by=rep),
    ]
    for write in refused:
        with pytest.raises(PermissionDenied):
            write()
    assert list(Client.objects.values_list("name", "deleted_at")) == [("Acme", None)]
    assert not ClientEvent.objects.exists()
    assert not ContactEvent.objects.exists()
