"""Switching from another CRM, the address book first: organizations become clients and
people contacts, through the same wizard, checked with the clients' and contacts' own
rules and written through their services."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import Client, ClientEvent, Contact
from leads.imports import auto_mapping
from leads.models import LeadImport
from tests.factories import ClientFactory, ContactFactory, ManagerFactory
from tests.leads.test_import import detail_url, mapping_data, text

pytestmark = pytest.mark.django_db

PEERS = Path(__file__).parent / "fixtures" / "peers"


def upload(client, name: str, kind: str, raw: bytes | None = None) -> LeadImport:
    raw = raw if raw is not None else (PEERS / name).read_bytes()
    before = set(LeadImport.objects.values_list("pk", flat=True))
    response = client.post(
        reverse("leads:import"),
        {"kind": kind, "file": SimpleUploadedFile(name, raw, content_type="text/csv")},
    )
    assert response.status_code == 302, text(response)
    (lead_import,) = LeadImport.objects.exclude(pk__in=before)
    return lead_import


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def run(client, lead_import, **options):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                detail_url(lead_import), mapping_data(lead_import, "run", **options)
            )
        assert response.status_code == 302, text(response)
        lead_import.refresh_from_db()
        return lead_import

    return run


def mapped(lead_import) -> dict[str, str]:
    return {lead_import.headers[int(index)]: key for index, key in lead_import.mapping.items()}


def test_pipedrive_organizations_arrive_mapped(rep_client):
    lead_import = upload(rep_client, "pipedrive_organizations.csv", "clients")
    assert lead_import.kind == "clients"
    assert mapped(lead_import) == {
        "Organization - Name": "name",
        "Organization - Address": "address",
        "Organization - Website": "website",
    }
    page = text(rep_client.get(detail_url(lead_import)))
    assert "This looks like an export from Pipedrive" in page
    assert "Organization - Name → Name (Pipedrive)" in page
    assert "3. Match their stages to ours" not in page


def test_organizations_import_as_clients_with_their_details(rep_client, run):
    lead_import = run(rep_client, upload(rep_client, "pipedrive_organizations.csv", "clients"))
    # Initech's website ("initech") is no web address: the client model's own rule.
    assert lead_import.summary == "Imported 2 clients. 1 row skipped (invalid website)."
    assert lead_import.error_report.splitlines()[1:] == ["4,Website: Enter a valid URL"]
    acme = Client.objects.get(name="Acme B.V.")
    assert acme.website == "https://acme.example"  # a bare domain, as exports write it
    assert acme.address == "Herengracht 1, 1015 BA Amsterdam, Nederland"
    assert acme.kind == "organization"
    assert acme.events.get().describe() == (
        "Created the client by the import of pipedrive_organizations.csv"
    )


def test_hubspot_companies_make_the_address_of_its_parts(rep_client, run):
    lead_import = upload(rep_client, "hubspot_companies.csv", "clients")
    assert mapped(lead_import) == {
        "Company name": "name",
        "Company Domain Name": "website",
        "Phone Number": "phone",
        "Street Address": "address",
        "City": "city",
        "Postal Code": "postcode",
        "Country/Region": "country",
    }
    run(rep_client, lead_import)
    acme = Client.objects.get(name="Acme B.V.")
    assert acme.address == "Herengracht 1\n1015 BA Amsterdam\nNetherlands"
    assert acme.phone == "+31 20 123 4567"
    assert Client.objects.get(name="Umbrella Corp").address == "Raccoon City\nUnited States"


def test_an_organization_that_exists_is_a_duplicate_skipped_by_name_without_punctuation(
    rep_client, run
):
    ClientFactory(name="ACME BV")
    lead_import = run(rep_client, upload(rep_client, "pipedrive_organizations.csv", "clients"))
    assert lead_import.summary == (
        "Imported 1 client. 2 rows skipped (1 duplicate, 1 invalid website)."
    )
    assert Client.objects.filter(name__iexact="acme bv").count() == 1


def test_an_organization_that_exists_is_updated_when_asked(rep_client, run):
    acme = ClientFactory(name="ACME BV", website="")
    lead_import = run(
        rep_client,
        upload(rep_client, "pipedrive_organizations.csv", "clients"),
        duplicates="update",
    )
    assert lead_import.summary == (
        "Imported 1 client. Updated 1 client. 1 row skipped (invalid website)."
    )
    acme.refresh_from_db()
    assert acme.website == "https://acme.example"
    assert acme.name == "Acme B.V."
    assert ClientEvent.objects.filter(client=acme, kind="changed").exists()


def test_people_import_as_contacts_of_their_organizations(rep_client, run):
    acme = ClientFactory(name="Acme B.V.")
    lead_import = upload(rep_client, "pipedrive_people.csv", "contacts")
    assert mapped(lead_import) == {
        "Person - Name": "name",
        "Person - Organization": "client",
        "Person - Email - Work": "email",
        "Person - Phone - Work": "phone",
        "Person - Job title": "job_title",
    }
    preview = text(rep_client.post(detail_url(lead_import), mapping_data(lead_import, "preview")))
    # A bad email is the contact model's own message; a person needs an organization.
    assert "Row 4: Email: Enter a valid email address" in preview
    assert "Row 5: A person needs an organization: the row names none" in preview
    assert (
        "Row 3: Unknown client “Globex Corporation” (choose to create missing clients)" in preview
    )
    response = rep_client.post(
        detail_url(lead_import), mapping_data(lead_import, "preview", create_clients=True)
    )
    columns = [label for _, label in response.context["preview"]["columns"]]
    assert columns == ["Name", "Client", "Job title", "Email", "Phone"]
    rows = [cells for _, cells in response.context["preview"]["record_rows"]]
    assert rows[1] == ["Bob Baker", "Globex Corporation", "CTO", "bob@globex.example", ""]
    lead_import = run(rep_client, lead_import, create_clients=True)
    assert lead_import.summary.startswith("Imported 2 contacts. 2 rows skipped")
    ann = Contact.objects.get(name="Ann Jansen")
    assert (ann.client, ann.email, ann.phone, ann.job_title) == (
        acme,
        "ann@acme.example",
        "+31 20 123 4567",
        "Buyer",
    )
    bob = Contact.objects.get(name="Bob Baker")
    assert bob.client.name == "Globex Corporation"  # created, as asked
    assert not Contact.objects.filter(name__in=["Cees Vos", "Dana Lee"]).exists()


def test_first_and_last_name_columns_make_the_name(rep_client, run):
    acme = ClientFactory(name="Acme B.V.")
    ContactFactory(client=acme, name="Someone Else", email="ann@acme.example")
    lead_import = upload(rep_client, "twenty_people.csv", "contacts")
    assert mapped(lead_import) == {
        "Name First Name": "first_name",
        "Name Last Name": "last_name",
        "Emails Primary Email": "email",
        "Phones Primary Phone Number": "phone",
        "Company": "client",
        "Job Title": "job_title",
    }
    lead_import = run(rep_client, lead_import)
    # Ann's email is a contact of Acme's already: a duplicate, skipped.
    assert lead_import.summary == "Imported 1 contact. 1 row skipped (duplicate)."
    assert Contact.objects.get(name="Eve Smit").client == acme


def test_a_person_file_without_an_organization_column_is_a_422(rep_client):
    lead_import = upload(rep_client, "twenty_people.csv", "contacts")
    data = mapping_data(lead_import, "preview")
    company = lead_import.headers.index("Company")
    data[f"column_{company}"] = ""
    response = rep_client.post(detail_url(lead_import), data)
    assert response.status_code == 422
    assert "Choose the column that holds each person's organization." in text(response)


def test_an_organizations_file_uploaded_as_deals_is_refused_with_a_clear_message(rep_client):
    raw = (PEERS / "pipedrive_organizations.csv").read_bytes()
    response = rep_client.post(
        reverse("leads:import"),
        {"kind": "leads", "file": SimpleUploadedFile("orgs.csv", raw, content_type="text/csv")},
    )
    assert response.status_code == 422
    assert "The first row does not name any column we know" in text(response)
    assert not LeadImport.objects.exists()


def test_a_deals_file_without_a_title_column_is_a_422(rep_client):
    raw = b"Deal - Value,Deal - Stage\n100,Qualified\n"
    lead_import = upload(rep_client, "deals.csv", "leads", raw)
    response = rep_client.post(
        detail_url(lead_import), mapping_data(lead_import, "preview", mapping={"0": "value"})
    )
    assert response.status_code == 422
    assert "Choose the column that holds the lead's title." in text(response)


def test_undo_of_an_address_book_deletes_what_it_created(client, run):
    manager = ManagerFactory(username="boss")
    client.force_login(manager)
    lead_import = run(client, upload(client, "pipedrive_organizations.csv", "clients"))
    page = text(client.get(detail_url(lead_import)))
    assert "Undo import" in page
    response = client.post(detail_url(lead_import), {"action": "undo"}, follow=True)
    assert "Import undone: 2 clients reverted." in text(response)
    assert not Client.objects.alive().exists()
    assert Client.objects.deleted().count() == 2  # soft: an admin can restore them
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.UNDONE


def test_organization_and_person_names_of_the_peers_are_in_the_alias_table():
    assert auto_mapping(["Company name", "Website URL"], "clients") == {
        "0": "name",
        "1": "website",
    }
    assert auto_mapping(["First Name", "Last Name", "Associated Company"], "contacts") == {
        "0": "first_name",
        "1": "last_name",
        "2": "client",
    }
