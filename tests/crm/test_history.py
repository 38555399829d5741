"""The history of clients and contacts: what an event records and how it reads."""

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from crm.models import AuditKind, Client, ClientEvent, Contact, ContactEvent
from tests.factories import (
    ClientEventFactory,
    ClientFactory,
    ContactEventFactory,
)
from tests.test_models import refused_by_database


def client_change(field, old, new) -> ClientEvent:
    return ClientEvent(kind=AuditKind.CHANGED, data={"field": field, "old": old, "new": new})


def contact_change(field, old, new) -> ContactEvent:
    return ContactEvent(kind=AuditKind.CHANGED, data={"field": field, "old": old, "new": new})


# --- sentences -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "sentence"),
    [
        (client_change("email", "a@x.nl", "b@x.nl"), "Email: a@x.nl → b@x.nl"),
        (client_change("kind", "organization", "person"), "Kind: Organization → Person"),
        (client_change("phone", "", "+31 20 123 4567"), "Phone: — → +31 20 123 4567"),
        (client_change("website", "https://a.example", None), "Website: https://a.example → —"),
        (client_change("address", "Damrak 1\nAmsterdam", ""), "Address: “Damrak 1 Amsterdam” → —"),
        (client_change("shoe_size", "41", "42"), "Shoe size: 41 → 42"),
        (contact_change("job_title", "", "CTO"), "Job title: — → CTO"),
        (contact_change("client", "Acme", "Globex"), "Client: Acme → Globex"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.data["field"],
)
def test_a_change_reads_as_field_old_and_new_value_the_way_people_read_them(event, sentence):
    assert event.describe() == sentence


def test_long_text_is_shortened_in_the_sentence():
    notes = "Prefers calls in the morning. " * 5
    sentence = client_change("notes", "", notes).describe()
    assert sentence.startswith("Notes: — → “Prefers calls in the morning.")
    assert sentence.endswith("…”")
    assert len(sentence) < 100


@pytest.mark.parametrize(
    ("event", "sentence"),
    [
        (ClientEvent(kind=AuditKind.CREATED, data={"name": "Acme"}), "Created the client"),
        (ContactEvent(kind=AuditKind.CREATED, data={"name": "Ann"}), "Created the contact"),
        (
            ClientEvent(kind=AuditKind.CREATED, data={"name": "Acme", "file": "leads.csv"}),
            "Created the client by the import of leads.csv",
        ),
        (ClientEvent(kind=AuditKind.DELETED), "Deleted the client"),
        (ContactEvent(kind=AuditKind.DELETED), "Deleted the contact"),
        (ClientEvent(kind=AuditKind.RESTORED), "Restored the client"),
        (ContactEvent(kind=AuditKind.RESTORED), "Restored the contact"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_creation_deletion_and_restore_read_as_sentences(event, sentence):
    assert event.describe() == sentence


# --- the records ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_list_newest_first_per_record():
    client = ClientFactory()
    older = ClientEventFactory(client=client)
    newer = ClientEventFactory(client=client, at=older.at.replace(year=older.at.year + 1))
    ClientEventFactory()  # another client's
    assert list(client.events.all()) == [newer, older]


@pytest.mark.django_db
def test_the_history_survives_the_records_soft_delete():
    event = ClientEventFactory()
    event.client.soft_delete()
    assert event.client.events.get() == event


@pytest.mark.django_db
def test_a_client_or_contact_with_history_cannot_be_erased_for_good():
    client_event = ClientEventFactory()
    contact_event = ContactEventFactory()
    with pytest.raises(ProtectedError):
        client_event.client.delete()
    with pytest.raises(ProtectedError):
        contact_event.contact.delete()
    assert Client.objects.filter(pk=client_event.client_id).exists()


@pytest.mark.django_db
def test_unknown_event_kind_is_refused_by_the_database():
    with refused_by_database("clientevent_kind_valid"):
        ClientEventFactory(kind="renamed")
    with refused_by_database("contactevent_kind_valid"):
        ContactEventFactory(kind="renamed")


# --- the pages write through the services --------------------------------------------------


def history(record) -> list[tuple]:
    """(kind, actor's username, sentence) of the record's events, oldest first."""
    return [
        (event.kind, event.actor.username, event.describe())
        for event in record.events.select_related("actor").order_by("id")
    ]


CLIENT_FORM = {
    "name": "Acme",
    "kind": "organization",
    "email": "a@acme.example",
    "phone": "",
    "website": "",
    "address": "",
    "notes": "",
}


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_creating_a_client_on_its_page_records_who_did(rep_client, htmx):
    headers = {"HX-Request": "true", "HX-Target": "client-form"} if htmx else {}
    response = rep_client.post(reverse("crm:client_create"), CLIENT_FORM, headers=headers)
    assert response.status_code in (200, 302)
    assert history(Client.objects.get()) == [("created", "alice", "Created the client")]


@pytest.mark.django_db
def test_editing_a_client_on_its_page_records_each_changed_field_only(rep_client):
    client = ClientFactory(**CLIENT_FORM)
    data = CLIENT_FORM | {"kind": "person", "email": "b@acme.example", "phone": "+31 6 1234 5678"}
    response = rep_client.post(reverse("crm:client_update", args=[client.pk]), data)
    assert response.status_code == 302
    assert sorted(history(client)) == [
        ("changed", "alice", "Email: a@acme.example → b@acme.example"),
        ("changed", "alice", "Kind: Organization → Person"),
        ("changed", "alice", "Phone: — → +31 6 1234 5678"),
    ]


@pytest.mark.django_db
def test_an_invalid_edit_records_nothing(rep_client):
    client = ClientFactory(**CLIENT_FORM)
    data = CLIENT_FORM | {"name": "", "email": "b@acme.example"}
    response = rep_client.post(reverse("crm:client_update", args=[client.pk]), data)
    assert response.status_code == 422
    assert history(client) == []


@pytest.mark.django_db
def test_deleting_a_client_on_its_page_records_who_did(manager_client):
    client = ClientFactory()
    response = manager_client.post(reverse("crm:client_delete", args=[client.pk]))
    assert response.status_code == 302
    assert history(client) == [("deleted", "manager", "Deleted the client")]


@pytest.mark.django_db
def test_a_contacts_pages_record_its_creation_changes_and_deletion(client, rep, manager):
    acme, globex = ClientFactory(name="Acme"), ClientFactory(name="Globex")
    client.force_login(rep)
    data = {"name": "Ann", "client": acme.pk, "job_title": "", "email": "", "phone": ""}
    assert client.post(reverse("crm:contact_create"), data).status_code == 302
    contact = Contact.objects.get()
    data |= {"client": globex.pk, "job_title": "CTO"}
    update = client.post(reverse("crm:contact_update", args=[contact.pk]), data)
    assert update.status_code == 302
    client.force_login(manager)
    assert client.post(reverse("crm:contact_delete", args=[contact.pk])).status_code == 302
    assert history(contact) == [
        ("created", "alice", "Created the contact"),
        ("changed", "alice", "Client: Acme → Globex"),
        ("changed", "alice", "Job title: — → CTO"),
        ("deleted", "manager", "Deleted the contact"),
    ]
