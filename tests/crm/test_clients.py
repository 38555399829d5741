"""Client pages: list, detail with its summary, create and edit, soft delete, permissions."""

import datetime
import re
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.db import OperationalError, connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.filters import ClientFilter, ContactFilter, with_open_leads
from crm.models import Client, Contact
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "client-results"}
HTMX_FORM = {"HX-Request": "true", "HX-Target": "client-form"}

NAME = re.compile(r'<td class="cell-title"><a href="/clients/(?P<pk>\d+)/">(?P<name>.*?)</a></td>')


def list_url():
    return reverse("crm:client_list")


def names(response) -> list[str]:
    assert response.status_code == 200
    return [m["name"] for m in NAME.finditer(response.text)]


def detail(http, client):
    return http.get(reverse("crm:client_detail", args=[client.pk]))


def valid_data(**overrides):
    data = {
        "name": "Acme Corp",
        "kind": "organization",
        "email": "info@acme.example",
        "phone": "+31 20 123 4567",
        "website": "https://acme.example",
        "address": "Damrak 1\nAmsterdam",
        "notes": "",
    }
    data.update(overrides)
    return data


def create(http, htmx=False, **overrides):
    return http.post(
        reverse("crm:client_create"), valid_data(**overrides), headers=HTMX_FORM if htmx else {}
    )


# --- list ----------------------------------------------------------------------------------


def test_row_shows_name_link_kind_email_phone_open_leads_and_created(rep_client):
    client = ClientFactory(
        name="Globex", kind=Client.Kind.PERSON, email="hank@globex.example", phone="+1 555 0100"
    )
    LeadFactory.create_batch(2, client=client)
    LeadFactory(client=client, stage=default_stage("Won"))
    LeadFactory(client=client, stage=default_stage("Lost"))

    response = rep_client.get(list_url())

    html = response.text
    row = re.search(r'<tr class="row-link" data-href="/clients/\d+/">(.*?)</tr>', html, re.S)[1]
    assert f'<a href="{client.get_absolute_url()}">Globex</a>' in row
    assert "Person" in row
    assert "hank@globex.example" in row
    assert "+1 555 0100" in row
    assert '<td class="num">2</td>' in row
    assert timezone.localtime(client.created_at).strftime("%-d %b %Y") in row


def test_list_leaves_out_soft_deleted_clients(rep_client):
    ClientFactory(name="Alive")
    ClientFactory(name="Gone").soft_delete()
    assert names(rep_client.get(list_url())) == ["Alive"]


@pytest.mark.parametrize("query", ["acme", "ACME", "info@acme", "020 555", " acme "])
def test_search_matches_name_email_or_phone_case_insensitively(rep_client, query):
    ClientFactory(name="Acme Corp", email="info@acme.example", phone="+31 020 555 1234")
    ClientFactory(name="Globex", email="hello@globex.example", phone="+1 555 0100")
    assert names(rep_client.get(list_url(), {"q": query})) == ["Acme Corp"]


def test_kind_filter_shows_only_that_kind(rep_client):
    ClientFactory(name="Big Org", kind=Client.Kind.ORGANIZATION)
    ClientFactory(name="Jane Doe", kind=Client.Kind.PERSON)
    assert names(rep_client.get(list_url(), {"kind": "person"})) == ["Jane Doe"]
    assert names(rep_client.get(list_url(), {"kind": "organization"})) == ["Big Org"]


def test_active_filters_show_as_chips_that_remove_them(rep_client):
    ClientFactory(name="Jane Doe", kind=Client.Kind.PERSON)
    html = rep_client.get(list_url(), {"q": "jane", "kind": "person", "page": "1"}).text
    assert "Search: jane" in html
    assert "Kind: Person" in html
    assert 'aria-label="Remove filter Kind: Person"' in html
    assert 'href="?q=jane"' in html  # removing the kind keeps the search, drops the page


def test_default_sort_is_by_name_ignoring_case(rep_client):
    for name in ["beta", "Alpha", "gamma"]:
        ClientFactory(name=name)
    assert names(rep_client.get(list_url())) == ["Alpha", "beta", "gamma"]


def test_sort_by_name_descending(rep_client):
    for name in ["beta", "Alpha", "gamma"]:
        ClientFactory(name=name)
    assert names(rep_client.get(list_url(), {"sort": "-name"})) == ["gamma", "beta", "Alpha"]


def test_sort_by_open_leads(rep_client):
    busy, quiet, idle = (ClientFactory(name=n) for n in ["Busy", "Quiet", "Idle"])
    LeadFactory.create_batch(3, client=busy)
    LeadFactory(client=quiet)
    LeadFactory.create_batch(5, client=idle, stage=default_stage("Won"))
    assert names(rep_client.get(list_url(), {"sort": "-open_leads"})) == ["Busy", "Quiet", "Idle"]
    assert names(rep_client.get(list_url(), {"sort": "open_leads"})) == ["Idle", "Quiet", "Busy"]


@pytest.mark.parametrize("key", ["name", "kind", "email", "phone", "open_leads", "created_at"])
def test_every_column_sorts_both_ways(rep_client, key):
    ClientFactory(name="A", kind="organization", email="a@x.example", phone="+1 1111")
    ClientFactory(name="B", kind="person", email="b@x.example", phone="+1 2222")
    ascending = names(rep_client.get(list_url(), {"sort": key}))
    descending = names(rep_client.get(list_url(), {"sort": f"-{key}"}))
    assert sorted(ascending) == ["A", "B"]
    if key != "open_leads":  # equal counts: the id breaks the tie both ways
        assert descending == ascending[::-1]


def test_unknown_sort_falls_back_to_name(rep_client):
    ClientFactory(name="b")
    ClientFactory(name="A")
    assert names(rep_client.get(list_url(), {"sort": "password"})) == ["A", "b"]


def test_column_headings_link_to_the_other_direction_and_show_the_current_one(rep_client):
    ClientFactory()
    html = rep_client.get(list_url(), {"sort": "name"}).text
    name_heading = r'aria-sort="ascending">\s*<a class="sort-link" href="\?sort=-name"'
    open_heading = r'aria-sort="none" class="num">\s*<a class="sort-link" href="\?sort=-open_leads"'
    assert re.search(name_heading, html)
    assert re.search(open_heading, html)


def test_pages_hold_20_clients_and_do_not_overlap(rep_client):
    for i in range(45):
        ClientFactory(name=f"Client {i:02}")
    first = names(rep_client.get(list_url()))
    second = names(rep_client.get(list_url(), {"page": "2"}))
    third = rep_client.get(list_url(), {"page": "3"})
    assert len(first) == len(second) == 20
    assert len(names(third)) == 5
    assert "Showing 41–45 of 45" in third.text
    assert set(first).isdisjoint(second)


def test_page_past_the_end_shows_the_last_page(rep_client):
    for i in range(21):
        ClientFactory(name=f"Client {i:02}")
    assert names(rep_client.get(list_url(), {"page": "99"})) == ["Client 20"]


def test_empty_list_invites_to_create_the_first_client(rep_client):
    html = rep_client.get(list_url()).text
    assert "No clients yet" in html
    assert f'href="{reverse("crm:client_create")}">New client</a>' in html


def test_no_match_offers_to_clear_the_filters(rep_client):
    ClientFactory(name="Acme")
    html = rep_client.get(list_url(), {"q": "zzz"}).text
    assert "No clients match" in html
    assert "Clear filters" in html
    assert "No clients yet" not in html


def test_reader_sees_the_list_without_a_new_client_button(client, reader):
    client.force_login(reader)
    ClientFactory(name="Acme")
    response = client.get(list_url())
    assert names(response) == ["Acme"]
    assert reverse("crm:client_create") not in response.text


def test_htmx_results_request_returns_only_the_results_fragment(rep_client):
    ClientFactory(name="Acme")
    fragment = rep_client.get(list_url(), {"q": "acme"}, headers=HTMX_RESULTS)
    assert names(fragment) == ["Acme"]
    assert "<html" not in fragment.text
    assert '<form id="client-filters"' not in fragment.text
    assert "HX-Request" in fragment["Vary"]


def test_list_needs_sign_in(client):
    response = client.get(list_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def count_queries(http, params=None, headers=None) -> int:
    with CaptureQueriesContext(connection) as context:
        assert http.get(list_url(), params or {}, headers=headers or {}).status_code == 200
    return len(context.captured_queries)


def test_list_runs_a_constant_number_of_queries_whatever_the_page_holds(
    rep_client, django_assert_max_num_queries
):
    client = ClientFactory()
    LeadFactory(client=client)
    one = count_queries(rep_client)
    for _ in range(25):
        LeadFactory.create_batch(2, client=ClientFactory())
    # session, user, permissions (2), the open stages' ids, the count, the page
    with django_assert_max_num_queries(7):
        assert len(names(rep_client.get(list_url()))) == 20
    assert count_queries(rep_client) == one
    assert count_queries(rep_client, {"q": "a", "kind": "organization"}, HTMX_RESULTS) <= one


# --- detail --------------------------------------------------------------------------------


def test_summary_counts_and_sums_open_and_won_leads_and_shows_last_activity(rep_client):
    client = ClientFactory()
    latest = timezone.make_aware(datetime.datetime(2031, 5, 6, 14, 30))
    LeadFactory(client=client, value=Decimal("1000"), last_activity_at=latest)
    LeadFactory(client=client, value=Decimal("2500.50"), stage=default_stage("Proposal"))
    LeadFactory(client=client, value=None)  # unknown values are left out of the sums
    LeadFactory(client=client, value=Decimal("4000"), stage=default_stage("Won"))
    LeadFactory(client=client, value=Decimal("9999"), stage=default_stage("Lost"))
    LeadFactory(value=Decimal("77777"))  # another client's lead

    response = detail(rep_client, client)

    summary = response.context["summary"]
    assert summary["open_count"] == 3
    assert summary["open_value"] == Decimal("3500.50")
    assert summary["won_count"] == 1
    assert summary["won_value"] == Decimal("4000")
    assert summary["last_activity"] == latest
    html = response.text
    assert "3 · €3,500.50" in html
    assert "1 · €4,000" in html
    assert "6 May 2031 14:30" in html
    assert timezone.localtime(client.created_at).strftime("%-d %b %Y") in html


def test_summary_of_a_client_without_leads(rep_client):
    html = detail(rep_client, ClientFactory()).text
    assert "0 · —" in html
    assert "None yet" in html
    assert "No leads for this client yet." in html


def test_detail_shows_contact_details(rep_client):
    client = ClientFactory(
        email="info@acme.example",
        phone="+31 20 123 4567",
        website="https://acme.example",
        address="Damrak 1",
        notes="Prefers email.",
    )
    html = detail(rep_client, client).text
    assert 'href="mailto:info@acme.example"' in html
    assert 'href="tel:+31 20 123 4567"' in html
    assert 'href="https://acme.example"' in html
    assert "Damrak 1" in html
    assert "Prefers email." in html


def test_detail_lists_its_leads_linking_to_them_and_its_living_contacts(rep_client):
    client = ClientFactory()
    lead = LeadFactory(client=client, title="Forklift fleet", value=Decimal("25000"))
    won = LeadFactory(client=client, title="Old deal", stage=default_stage("Won"))
    LeadFactory(title="Not theirs")
    alive = ContactFactory(client=client, name="Ada Alive")
    ContactFactory(client=client, name="Gus Gone").soft_delete()

    html = detail(rep_client, client).text

    assert f'<a href="{lead.get_absolute_url()}">Forklift fleet</a>' in html
    assert f'<a href="{won.get_absolute_url()}">Old deal</a>' in html
    assert "€25,000" in html
    assert "Not theirs" not in html
    assert f'<a href="{alive.get_absolute_url()}">Ada Alive</a>' in html
    assert "Gus Gone" not in html


def test_detail_lists_the_first_50_living_contacts_and_links_to_all_of_them(rep_client):
    client = ClientFactory()
    for n in range(52):
        ContactFactory(client=client, name=f"Person {n:02d}")
    ContactFactory(client=client, name="Gus Gone").soft_delete()

    html = detail(rep_client, client).text

    assert 'Contacts <span class="muted">(52)</span>' in html
    assert "Person 49" in html
    assert "Person 50" not in html
    contacts = reverse("crm:contact_list")
    assert f'<a class="small" href="{contacts}?client={client.pk}">All 52 contacts</a>' in html


def test_detail_links_to_all_its_leads_in_the_list_when_it_shows_only_some(rep_client):
    client = ClientFactory()
    LeadFactory.create_batch(51, client=client)
    html = detail(rep_client, client).text
    assert (
        f'href="{reverse("leads:list")}?client={client.pk}&amp;status=all">All 51 leads</a>' in html
    )


def test_detail_with_few_contacts_has_no_link_to_all_of_them(rep_client):
    client = ClientFactory()
    ContactFactory(client=client)
    assert "All 1 contacts" not in detail(rep_client, client).text


def test_new_lead_and_new_contact_are_prefilled_for_this_client(rep_client):
    client = ClientFactory()
    html = detail(rep_client, client).text
    assert f'href="{reverse("leads:create")}?client={client.pk}"' in html
    assert f'href="{reverse("crm:contact_create")}?client={client.pk}"' in html


def test_new_lead_form_preselects_the_client_from_the_url(rep_client):
    client = ClientFactory(name="Preselected BV")
    response = rep_client.get(reverse("leads:create"), {"client": client.pk})
    assert f'<option value="{client.pk}" selected>Preselected BV</option>' in response.text


def test_rep_sees_edit_but_not_delete(rep_client):
    client = ClientFactory()
    html = detail(rep_client, client).text
    assert reverse("crm:client_update", args=[client.pk]) in html
    assert reverse("crm:client_delete", args=[client.pk]) not in html


def test_manager_sees_delete_with_the_open_lead_count_in_the_confirmation(manager_client):
    client = ClientFactory(name="Acme")
    LeadFactory.create_batch(2, client=client)
    html = detail(manager_client, client).text
    assert reverse("crm:client_delete", args=[client.pk]) in html
    assert "Delete the client “Acme”? This client has 2 open leads." in html


def test_reader_sees_no_write_buttons(client, reader):
    client.force_login(reader)
    acme = ClientFactory()
    html = detail(client, acme).text
    for name in ["crm:client_update", "crm:client_delete"]:
        assert reverse(name, args=[acme.pk]) not in html
    assert reverse("leads:create") not in html
    assert reverse("crm:contact_create") not in html


def test_lead_detail_links_to_its_client_and_the_client_back_to_the_lead(rep_client):
    client = ClientFactory(name="Initech")
    lead = LeadFactory(client=client)
    lead_html = rep_client.get(lead.get_absolute_url()).text
    assert f'<a href="{reverse("crm:client_detail", args=[client.pk])}">Initech</a>' in lead_html
    assert f'href="{lead.get_absolute_url()}"' in detail(rep_client, client).text


def test_missing_client_is_404(rep_client):
    assert rep_client.get(reverse("crm:client_detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("name", ["crm:client_detail", "crm:client_update", "crm:client_delete"])
def test_soft_deleted_client_pages_are_404(manager_client, name):
    client = ClientFactory()
    client.soft_delete()
    assert manager_client.get(reverse(name, args=[client.pk])).status_code == 404


def test_staff_see_a_soft_deleted_client_with_a_way_to_restore_it(client, admin_user):
    client.force_login(admin_user)
    acme = ClientFactory()
    acme.soft_delete()
    html = detail(client, acme).text
    assert "This client was deleted" in html
    assert reverse("admin:crm_client_change", args=[acme.pk]) in html
    assert reverse("crm:client_delete", args=[acme.pk]) not in html


def test_detail_runs_a_constant_number_of_queries(rep_client, django_assert_max_num_queries):
    client = ClientFactory()
    contacts = ContactFactory.create_batch(3, client=client)
    for contact in contacts:
        LeadFactory.create_batch(4, client=client, contact=contact, assignee=UserFactory())
    with django_assert_max_num_queries(9):
        assert detail(rep_client, client).status_code == 200


# --- create and edit -----------------------------------------------------------------------


def test_create_saves_and_redirects_to_the_client(rep_client):
    response = create(rep_client)
    client = Client.objects.get()
    assert response.status_code == 302
    assert response["Location"] == client.get_absolute_url()
    assert client.name == "Acme Corp"
    assert client.website == "https://acme.example"
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Client “Acme Corp” saved."]


def test_htmx_create_redirects_the_browser(rep_client):
    response = create(rep_client, htmx=True)
    assert response.status_code == 200
    assert response["HX-Redirect"] == Client.objects.get().get_absolute_url()


@pytest.mark.parametrize("htmx", [False, True])
def test_missing_name_answers_422_and_keeps_the_input(rep_client, htmx):
    response = create(rep_client, htmx=htmx, name="  ", notes="Typed notes survive")
    assert response.status_code == 422
    html = response.text
    assert "Name is required." in html
    assert 'id="id_name_error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="info@acme.example"' in html
    assert "Typed notes survive" in html
    assert ("<html" in html) is not htmx
    assert not Client.objects.exists()


def test_invalid_email_is_refused(rep_client):
    response = create(rep_client, email="not-an-email")
    assert response.status_code == 422
    assert "Enter a valid email address" in response.text
    assert 'value="not-an-email"' in response.text


def test_invalid_website_is_refused(rep_client):
    response = create(rep_client, website="http://exa mple")
    assert response.status_code == 422
    assert "Enter a valid web address" in response.text
    assert not Client.objects.exists()


@pytest.mark.parametrize(
    "phone", ["+31 20 123 4567", "+1 (555) 010-9999", "+44 20 7946 0958", "020-1234567", ""]
)
def test_international_phone_numbers_are_accepted(rep_client, phone):
    assert create(rep_client, phone=phone).status_code == 302
    assert Client.objects.get().phone == phone


@pytest.mark.parametrize("phone", ["call me", "12", "+31 20 123 4567 ext. 5", "+" + "1" * 40])
def test_bad_phone_numbers_are_refused(rep_client, phone):
    response = create(rep_client, phone=phone)
    assert response.status_code == 422
    assert "Enter a phone number" in response.text or "at most 30 characters" in response.text
    assert not Client.objects.exists()


def test_form_has_labels_without_a_colon(rep_client):
    html = rep_client.get(reverse("crm:client_create")).text
    assert '<label for="id_name">Name</label>' in html


def test_edit_saves_changes(rep_client):
    client = ClientFactory(name="Old name")
    response = rep_client.post(
        reverse("crm:client_update", args=[client.pk]), valid_data(name="New name")
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.name == "New name"


def test_edit_form_shows_current_values(rep_client):
    client = ClientFactory(name="Shown here")
    html = rep_client.get(reverse("crm:client_update", args=[client.pk])).text
    assert 'value="Shown here"' in html


def test_database_failure_answers_503_and_keeps_the_input(rep_client):
    with mock.patch.object(Client, "save", side_effect=OperationalError("down")):
        response = create(rep_client, name="Kept name")
    assert response.status_code == 503
    assert "the database did not answer" in response.text
    assert 'value="Kept name"' in response.text


# --- soft delete ---------------------------------------------------------------------------


def delete_url(client):
    return reverse("crm:client_delete", args=[client.pk])


def test_delete_page_warns_with_the_number_of_open_leads(manager_client):
    client = ClientFactory(name="Acme")
    LeadFactory.create_batch(2, client=client)
    LeadFactory(client=client, stage=default_stage("Won"))
    response = manager_client.get(delete_url(client))
    assert response.status_code == 200
    assert (
        "This client has 2 open leads. They keep the reference and will show “Deleted client”."
        in response.text
    )
    client.refresh_from_db()
    assert not client.is_deleted


def test_delete_page_of_a_client_without_open_leads(manager_client):
    html = manager_client.get(delete_url(ClientFactory())).text
    assert "This client has no open leads." in html


def test_post_soft_deletes_and_redirects_to_the_list(manager_client):
    client = ClientFactory(name="Acme")
    response = manager_client.post(delete_url(client))
    assert response.status_code == 302
    assert response["Location"] == list_url()
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Client “Acme” deleted."]
    client.refresh_from_db()
    assert client.deleted_at is not None
    assert names(manager_client.get(list_url())) == []


def test_htmx_delete_redirects_the_browser_to_the_list(manager_client):
    client = ClientFactory()
    response = manager_client.post(delete_url(client), headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == list_url()
    assert Client.objects.deleted().filter(pk=client.pk).exists()


def test_leads_of_a_deleted_client_keep_it_and_show_a_placeholder(manager_client):
    client = ClientFactory(name="Vanishing Ltd")
    lead = LeadFactory(client=client)
    manager_client.post(delete_url(client), follow=True)  # the toast names it once
    lead.refresh_from_db()
    assert lead.client_id == client.pk
    html = manager_client.get(lead.get_absolute_url()).text
    assert "Deleted client" in html
    assert client.get_absolute_url() not in html
    assert "Vanishing Ltd" not in html


def test_database_failure_on_delete_keeps_the_client(manager_client):
    client = ClientFactory()
    with mock.patch.object(Client, "save", side_effect=OperationalError("down")):
        response = manager_client.post(delete_url(client), headers={"HX-Request": "true"})
    assert response.status_code == 503
    assert "could not be deleted" in response["HX-Trigger"]
    client.refresh_from_db()
    assert not client.is_deleted


# --- permissions ---------------------------------------------------------------------------


def write_urls(client):
    return [
        reverse("crm:client_create"),
        reverse("crm:client_update", args=[client.pk]),
        reverse("crm:client_delete", args=[client.pk]),
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_reader_may_not_open_or_post_any_write_page(client, reader, method):
    client.force_login(reader)
    acme = ClientFactory(name="Untouched")
    for url in write_urls(acme):
        assert getattr(client, method)(url, valid_data(name="Changed")).status_code == 403
    acme.refresh_from_db()
    assert acme.name == "Untouched"
    assert not acme.is_deleted
    assert Client.objects.count() == 1


def test_rep_may_create_and_edit_but_not_delete(rep_client):
    acme = ClientFactory()
    assert rep_client.get(reverse("crm:client_create")).status_code == 200
    assert rep_client.get(reverse("crm:client_update", args=[acme.pk])).status_code == 200
    assert rep_client.get(delete_url(acme)).status_code == 403
    assert rep_client.post(delete_url(acme)).status_code == 403
    acme.refresh_from_db()
    assert not acme.is_deleted


def test_manager_may_delete(manager_client):
    acme = ClientFactory()
    assert manager_client.get(delete_url(acme)).status_code == 200
    assert manager_client.post(delete_url(acme)).status_code == 302


@pytest.mark.parametrize("sort", ["name", "-name", "email", "-open_leads"])
def test_client_sorts_leave_out_nulls_last_so_an_index_can_serve_them(sort):
    # Every client column is NOT NULL: NULLS LAST would only stop PostgreSQL from reading
    # client_lower_name_idx in order.
    qs = ClientFilter(
        QueryDict(f"sort={sort}"), queryset=with_open_leads(Client.objects.all(), "client")
    ).qs
    assert "NULLS LAST" not in str(qs.query)


def test_contacts_without_a_client_still_sort_last_by_client():
    qs = ContactFilter(QueryDict("sort=client"), queryset=Contact.objects.all()).qs
    assert "NULLS LAST" in str(qs.query)
    assert "NULLS LAST" not in str(
        ContactFilter(QueryDict("sort=name"), queryset=Contact.objects.all()).qs.query
    )
