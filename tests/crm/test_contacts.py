"""Contact pages: list, detail with its leads, create and edit, soft delete, permissions."""

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Contact
from tests.factories import ClientFactory, ContactFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "contact-results"}
HTMX_FORM = {"HX-Request": "true", "HX-Target": "contact-form"}

NAME = re.compile(r'<td class="cell-title"><a href="/contacts/(?P<pk>\d+)/">(?P<name>.*?)</a></td>')


def list_url():
    return reverse("crm:contact_list")


def names(response) -> list[str]:
    assert response.status_code == 200
    return [m["name"] for m in NAME.finditer(response.text)]


def detail(http, contact):
    return http.get(reverse("crm:contact_detail", args=[contact.pk]))


def valid_data(owner, **overrides):
    data = {
        "name": "Ada Lovelace",
        "client": owner.pk,
        "job_title": "Head of Engineering",
        "email": "ada@acme.example",
        "phone": "+44 20 7946 0958",
    }
    data.update(overrides)
    return data


def create(http, owner, htmx=False, **overrides):
    return http.post(
        reverse("crm:contact_create"),
        valid_data(owner, **overrides),
        headers=HTMX_FORM if htmx else {},
    )


# --- list ----------------------------------------------------------------------------------


def test_row_shows_the_contact_its_client_and_open_leads(rep_client):
    acme = ClientFactory(name="Acme")
    contact = ContactFactory(
        client=acme, name="Ada", job_title="CTO", email="ada@acme.example", phone="+1 555 0100"
    )
    LeadFactory.create_batch(2, client=acme, contact=contact)
    LeadFactory(client=acme, contact=contact, stage=default_stage("Won"))

    html = rep_client.get(list_url()).text

    row = re.search(r'<tr class="row-link" data-href="/contacts/\d+/">(.*?)</tr>', html, re.S)[1]
    assert f'<a href="{contact.get_absolute_url()}">Ada</a>' in row
    for text in ["Acme", "CTO", "ada@acme.example", "+1 555 0100", '<td class="num">2</td>']:
        assert text in row


def test_list_leaves_out_soft_deleted_contacts(rep_client):
    ContactFactory(name="Alive")
    ContactFactory(name="Gone").soft_delete()
    assert names(rep_client.get(list_url())) == ["Alive"]


def test_contact_of_a_deleted_client_shows_the_placeholder(rep_client):
    contact = ContactFactory(name="Orphan", client=ClientFactory(name="Closed shop"))
    contact.client.soft_delete()
    html = rep_client.get(list_url()).text
    assert names(rep_client.get(list_url())) == ["Orphan"]
    assert "Deleted client" in html
    assert "Closed shop" not in html


@pytest.mark.parametrize("query", ["ada", "ADA@", "0958", "engineer", "acme"])
def test_search_matches_name_email_phone_job_title_or_client(rep_client, query):
    ContactFactory(
        name="Ada Lovelace",
        email="ada@x.example",
        phone="+44 20 7946 0958",
        job_title="Engineer",
        client=ClientFactory(name="Acme"),
    )
    ContactFactory(
        name="Bob",
        email="bob@y.example",
        phone="+1 555",
        job_title="Buyer",
        client=ClientFactory(name="Other"),
    )
    assert names(rep_client.get(list_url(), {"q": query})) == ["Ada Lovelace"]


@pytest.mark.parametrize("limit", [5000, 1], ids=["client ids named", "clients in a subquery"])
def test_search_by_client_name_finds_their_contacts_however_many_clients_match(
    rep_client, monkeypatch, limit
):
    monkeypatch.setattr("crm.web.filters.SEARCH_ID_LIMIT", limit)
    ContactFactory(name="Ada", client=ClientFactory(name="Acme North"))
    ContactFactory(name="Bea", client=ClientFactory(name="Acme South"))
    ContactFactory(name="Cy", client=ClientFactory(name="Other"))
    with CaptureQueriesContext(connection) as queries:
        found = names(rep_client.get(list_url(), {"q": "acme"}))
    assert sorted(found) == ["Ada", "Bea"]
    count = next(q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"])
    # Either way the count reads no join to the clients.
    assert "JOIN" not in count


def test_client_filter_shows_that_clients_contacts_and_a_chip(rep_client):
    acme = ClientFactory(name="Acme")
    ContactFactory(client=acme, name="Ada")
    ContactFactory(name="Bob")
    response = rep_client.get(list_url(), {"client": acme.pk})
    assert names(response) == ["Ada"]
    assert "Client: Acme" in response.text
    # The filter stays while searching.
    assert f'<input type="hidden" name="client" value="{acme.pk}">' in response.text


def test_sort_by_client_name_and_descending_name(rep_client):
    ContactFactory(name="Ada", client=ClientFactory(name="Zeta"))
    ContactFactory(name="bob", client=ClientFactory(name="alpha"))
    assert names(rep_client.get(list_url())) == ["Ada", "bob"]
    assert names(rep_client.get(list_url(), {"sort": "-name"})) == ["bob", "Ada"]
    assert names(rep_client.get(list_url(), {"sort": "client"})) == ["bob", "Ada"]


def test_pages_hold_20_contacts(rep_client):
    client = ClientFactory()
    for i in range(23):
        ContactFactory(client=client, name=f"Contact {i:02}")
    assert len(names(rep_client.get(list_url()))) == 20
    assert names(rep_client.get(list_url(), {"page": "2"})) == [
        "Contact 20",
        "Contact 21",
        "Contact 22",
    ]


def test_empty_states(rep_client):
    html = rep_client.get(list_url()).text
    assert "No contacts yet" in html
    assert f'href="{reverse("crm:contact_create")}">New contact</a>' in html
    ContactFactory(name="Ada")
    html = rep_client.get(list_url(), {"q": "zzz"}).text
    assert "No contacts match" in html
    assert "Clear filters" in html


def test_htmx_results_request_returns_only_the_results_fragment(rep_client):
    ContactFactory(name="Ada")
    fragment = rep_client.get(list_url(), {"q": "ada"}, headers=HTMX_RESULTS)
    assert names(fragment) == ["Ada"]
    assert "<html" not in fragment.text


def test_list_runs_a_constant_number_of_queries(rep_client, django_assert_max_num_queries):
    ContactFactory()

    def count():
        with CaptureQueriesContext(connection) as context:
            rep_client.get(list_url())
        return len(context.captured_queries)

    one = count()
    for contact in ContactFactory.create_batch(25):
        LeadFactory(client=contact.client, contact=contact)
    # session, user, permissions (2), the open stages' ids, the count, the page
    with django_assert_max_num_queries(7):
        assert len(names(rep_client.get(list_url()))) == 20
    assert count() == one


# --- detail --------------------------------------------------------------------------------


def test_detail_links_to_its_client_and_lists_its_leads(rep_client):
    acme = ClientFactory(name="Acme")
    contact = ContactFactory(client=acme, job_title="CTO")
    lead = LeadFactory(client=acme, contact=contact, title="Robots", value=Decimal("5000"))
    LeadFactory(client=acme, title="Someone else's")

    html = detail(rep_client, contact).text

    assert f'<a href="{acme.get_absolute_url()}">Acme</a>' in html
    assert f'<a href="{lead.get_absolute_url()}">Robots</a>' in html
    assert "€5,000" in html
    assert "Someone else&#x27;s" not in html
    assert f'href="{reverse("leads:create")}?client={acme.pk}"' in html


def test_navigation_goes_from_lead_to_contact_to_client_and_back(rep_client):
    acme = ClientFactory(name="Acme")
    contact = ContactFactory(client=acme, name="Ada")
    lead = LeadFactory(client=acme, contact=contact)

    lead_html = rep_client.get(lead.get_absolute_url()).text
    assert f'<a href="{contact.get_absolute_url()}">Ada</a>' in lead_html
    contact_html = detail(rep_client, contact).text
    assert f'href="{acme.get_absolute_url()}"' in contact_html
    assert f'href="{lead.get_absolute_url()}"' in contact_html
    client_html = rep_client.get(acme.get_absolute_url()).text
    assert f'href="{contact.get_absolute_url()}"' in client_html


def test_detail_of_a_contact_whose_client_was_deleted_shows_the_placeholder(rep_client):
    acme = ClientFactory(name="Acme")
    contact = ContactFactory(client=acme)
    acme.soft_delete()
    html = detail(rep_client, contact).text
    assert "Deleted client" in html
    assert acme.get_absolute_url() not in html


def test_summary_counts_the_contacts_open_and_won_leads(rep_client):
    contact = ContactFactory()
    LeadFactory.create_batch(2, client=contact.client, contact=contact, value=Decimal("100"))
    LeadFactory(client=contact.client, contact=contact, stage=default_stage("Won"))
    summary = detail(rep_client, contact).context["summary"]
    assert (summary["open_count"], summary["open_value"]) == (2, Decimal("200"))
    assert summary["won_count"] == 1


def test_missing_and_soft_deleted_contacts_are_404(manager_client):
    assert manager_client.get(reverse("crm:contact_detail", args=[999999])).status_code == 404
    contact = ContactFactory()
    contact.soft_delete()
    for name in ["crm:contact_detail", "crm:contact_update", "crm:contact_delete"]:
        assert manager_client.get(reverse(name, args=[contact.pk])).status_code == 404


def test_detail_runs_a_constant_number_of_queries(rep_client, django_assert_max_num_queries):
    contact = ContactFactory()
    LeadFactory.create_batch(10, client=contact.client, contact=contact)
    with django_assert_max_num_queries(8):
        assert detail(rep_client, contact).status_code == 200


# --- create and edit -----------------------------------------------------------------------


def test_create_saves_and_redirects_to_the_contact(rep_client):
    acme = ClientFactory()
    response = create(rep_client, acme)
    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response["Location"] == contact.get_absolute_url()
    assert contact.client == acme
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Contact “Ada Lovelace” saved."
    ]


def test_htmx_create_redirects_the_browser(rep_client):
    response = create(rep_client, ClientFactory(), htmx=True)
    assert response["HX-Redirect"] == Contact.objects.get().get_absolute_url()


@pytest.mark.parametrize("htmx", [False, True])
def test_missing_client_and_name_answer_422_and_keep_the_input(rep_client, htmx):
    response = create(rep_client, ClientFactory(), htmx=htmx, client="", name="")
    assert response.status_code == 422
    html = response.text
    assert "Choose a client." in html
    assert "Name is required." in html
    assert 'value="Head of Engineering"' in html
    assert ("<html" in html) is not htmx
    assert not Contact.objects.exists()


def test_a_deleted_client_is_not_offered_nor_accepted(rep_client):
    gone = ClientFactory(name="Gone BV")
    gone.soft_delete()
    ClientFactory(name="Here BV")
    form_html = rep_client.get(reverse("crm:contact_create")).text
    assert "Here BV" in form_html
    assert "Gone BV" not in form_html
    response = create(rep_client, gone)
    assert response.status_code == 422
    assert "Choose a client from the list." in response.text


def test_client_in_the_url_preselects_it(rep_client):
    acme = ClientFactory(name="Acme")
    html = rep_client.get(reverse("crm:contact_create"), {"client": acme.pk}).text
    assert f'<option value="{acme.pk}" selected>Acme</option>' in html


def test_invalid_email_and_phone_are_refused(rep_client):
    response = create(rep_client, ClientFactory(), email="nope", phone="ring ring")
    assert response.status_code == 422
    assert "Enter a valid email address" in response.text
    assert "Enter a phone number" in response.text


def test_international_phone_is_accepted(rep_client):
    assert create(rep_client, ClientFactory(), phone="+1 (555) 010-9999").status_code == 302


def test_editing_a_contact_of_a_deleted_client_keeps_that_client(rep_client):
    gone = ClientFactory()
    contact = ContactFactory(client=gone, name="Old")
    gone.soft_delete()
    response = rep_client.post(
        reverse("crm:contact_update", args=[contact.pk]), valid_data(gone, name="New")
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.name == "New"


# --- soft delete and permissions -----------------------------------------------------------


def delete_url(contact):
    return reverse("crm:contact_delete", args=[contact.pk])


def test_delete_page_warns_with_the_number_of_open_leads(manager_client):
    contact = ContactFactory()
    LeadFactory(client=contact.client, contact=contact)
    html = manager_client.get(delete_url(contact)).text
    assert (
        "This contact has 1 open lead. It keeps the reference and will show “Deleted contact”."
        in html
    )


def test_soft_delete_leaves_a_placeholder_on_its_leads(manager_client):
    contact = ContactFactory(name="Vanishing Vera")
    lead = LeadFactory(client=contact.client, contact=contact)
    response = manager_client.post(delete_url(contact), follow=True)
    assert response.redirect_chain == [(list_url(), 302)]
    contact.refresh_from_db()
    assert contact.is_deleted
    lead.refresh_from_db()
    assert lead.contact_id == contact.pk
    html = manager_client.get(lead.get_absolute_url()).text
    assert "Deleted contact" in html
    assert contact.get_absolute_url() not in html
    assert names(manager_client.get(list_url())) == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_reader_may_not_open_or_post_any_write_page(client, reader, method):
    client.force_login(reader)
    contact = ContactFactory(name="Untouched")
    urls = [
        reverse("crm:contact_create"),
        reverse("crm:contact_update", args=[contact.pk]),
        delete_url(contact),
    ]
    for url in urls:
        response = getattr(client, method)(url, valid_data(contact.client, name="Changed"))
        assert response.status_code == 403
    contact.refresh_from_db()
    assert (contact.name, contact.is_deleted) == ("Untouched", False)
    assert Contact.objects.count() == 1


def test_rep_may_create_and_edit_but_not_delete(rep_client):
    contact = ContactFactory()
    assert rep_client.get(reverse("crm:contact_create")).status_code == 200
    assert rep_client.get(reverse("crm:contact_update", args=[contact.pk])).status_code == 200
    assert rep_client.get(delete_url(contact)).status_code == 403
    assert rep_client.post(delete_url(contact)).status_code == 403
    html = detail(rep_client, contact).text
    assert reverse("crm:contact_update", args=[contact.pk]) in html
    assert delete_url(contact) not in html


def test_manager_may_delete(manager_client):
    contact = ContactFactory()
    assert delete_url(contact) in detail(manager_client, contact).text
    assert manager_client.post(delete_url(contact)).status_code == 302
