"""/api/v1/clients/ and /api/v1/contacts/: the pages' lists and forms, soft deletes."""

import pytest

from crm.models import Client, ClientEvent, Contact
from tests.factories import ClientFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_clients_list_searches_filters_and_sorts_as_the_page(api, rep):
    ClientFactory(name="Acme", kind="organization", email="info@acme.test")
    ClientFactory(name="Bo", kind="person", email="bo@home.test")
    LeadFactory(client=Client.objects.get(name="Bo"))
    gone = ClientFactory(name="Gone")
    gone.soft_delete()
    client = api(rep)
    assert names(client.get("/api/v1/clients/")) == ["Acme", "Bo"]
    assert names(client.get("/api/v1/clients/", {"q": "home"})) == ["Bo"]
    assert names(client.get("/api/v1/clients/", {"kind": "person"})) == ["Bo"]
    rows = client.get("/api/v1/clients/", {"sort": "-open_leads"}).json()["results"]
    assert [(row["name"], row["open_leads"]) for row in rows] == [("Bo", 1), ("Acme", 0)]
    assert client.get("/api/v1/clients/", {"kind": "alien"}).status_code == 422


def test_clients_page_by_cursor(api, rep):
    for n in range(5):
        ClientFactory(name=f"Client {n}")
    client = api(rep)
    first = client.get("/api/v1/clients/", {"limit": 3}).json()
    rest = client.get("/api/v1/clients/", {"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [row["name"] for row in first["results"] + rest["results"]] == [
        f"Client {n}" for n in range(5)
    ]
    assert rest["next_cursor"] is None


def test_a_client_is_created_and_changed_as_the_form_does_with_its_history(api, rep):
    client = api(rep)
    created = client.post("/api/v1/clients/", {"name": "Newco", "website": "https://newco.test"})
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["kind"] == "organization"
    changed = client.patch(f"/api/v1/clients/{pk}/", {"email": "hi@newco.test"})
    assert changed.status_code == 200
    assert Client.objects.get(pk=pk).email == "hi@newco.test"
    assert list(ClientEvent.objects.filter(client_id=pk).values_list("kind", flat=True)) == [
        "changed",
        "created",
    ]


def test_a_client_with_bad_values_is_refused_with_the_forms_messages(api, rep):
    response = api(rep).post(
        "/api/v1/clients/", {"name": "", "email": "nope", "website": "nope", "phone": "call me"}
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors["name"] == ["Name is required."]
    assert errors["email"] == ["Enter a valid email address, for example name@example.com."]
    assert errors["website"] == ["Enter a valid web address, for example https://example.com."]
    assert errors["phone"][0].startswith("Enter a phone number")
    assert not Client.objects.exists()


def test_only_a_manager_deletes_a_client_and_it_stays_for_its_leads(api, rep, manager):
    acme = ClientFactory(name="Acme")
    lead = LeadFactory(client=acme)
    assert api(rep).delete(f"/api/v1/clients/{acme.pk}/").status_code == 403
    assert api(manager).delete(f"/api/v1/clients/{acme.pk}/").status_code == 204
    acme.refresh_from_db()
    assert acme.is_deleted
    assert api(rep).get(f"/api/v1/clients/{acme.pk}/").status_code == 404
    assert api(rep).get(f"/api/v1/leads/{lead.pk}/").json()["client"]["deleted"] is True


def test_contacts_list_and_write_as_the_pages(api, rep):
    acme = ClientFactory(name="Acme")
    ContactFactory(name="Ann", client=acme, job_title="CTO")
    ContactFactory(name="Bert", client=ClientFactory(name="Other"))
    client = api(rep)
    assert names(client.get("/api/v1/contacts/", {"client": acme.pk})) == ["Ann"]
    assert names(client.get("/api/v1/contacts/", {"q": "other"})) == ["Bert"]
    created = client.post("/api/v1/contacts/", {"name": "Cleo", "client": acme.pk})
    assert created.status_code == 201
    assert created.json()["client"] == {"id": acme.pk, "name": "Acme", "deleted": False}
    pk = created.json()["id"]
    assert (
        client.patch(f"/api/v1/contacts/{pk}/", {"job_title": "CEO"}).json()["job_title"] == "CEO"
    )


def test_a_contact_needs_a_living_client(api, rep):
    gone = ClientFactory()
    gone.soft_delete()
    client = api(rep)
    missing = client.post("/api/v1/contacts/", {"name": "Dora"})
    assert missing.json()["errors"] == {"client": ["Choose a client."]}
    refused = client.post("/api/v1/contacts/", {"name": "Dora", "client": gone.pk})
    assert refused.json()["errors"] == {"client": ["Choose a client from the list."]}
    assert not Contact.objects.exists()


def test_a_reader_reads_but_does_not_write(api, reader):
    acme = ClientFactory(name="Acme")
    client = api(reader)
    assert names(client.get("/api/v1/clients/")) == ["Acme"]
    assert client.post("/api/v1/clients/", {"name": "Nope"}).status_code == 403
    assert client.patch(f"/api/v1/clients/{acme.pk}/", {"name": "Nope"}).status_code == 403
    assert Client.objects.get().name == "Acme"


def test_a_page_of_clients_or_contacts_costs_the_same_queries_however_many(
    api, rep, django_assert_max_num_queries
):
    client = api(rep)
    client.get("/api/v1/sources/")  # the token's first use is recorded once
    ContactFactory.create_batch(2)
    counts = {}
    for path in ("/api/v1/clients/", "/api/v1/contacts/"):
        with django_assert_max_num_queries(6) as few:
            client.get(path, {"q": "a", "sort": "-open_leads"})
        counts[path] = len(few.captured_queries)
    for _ in range(30):
        LeadFactory(client=ContactFactory().client)
    for path, count in counts.items():
        with django_assert_max_num_queries(count):
            response = client.get(path, {"limit": 50, "sort": "-open_leads"})
        assert len(response.json()["results"]) >= 30
