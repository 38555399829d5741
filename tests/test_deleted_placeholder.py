"""A deleted client or contact shows one placeholder, the same badge on every page."""

import pytest
from django.template import engines
from django.urls import reverse

from crm.models import Client, Contact
from tests.factories import ClientFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db

DELETED_CLIENT = '<span class="badge badge-deleted">Deleted client</span>'
DELETED_CONTACT = '<span class="badge badge-deleted">Deleted contact</span>'


@pytest.fixture
def records(admin_user):
    """Gone Ltd is deleted, with a living and a deleted contact; Acme lives, its Vera is gone.

    Assigned to the admin, who as staff may open deleted rows' pages too.
    """
    gone = ClientFactory(name="Gone Ltd")
    orphan = ContactFactory(client=gone, name="Olga Orphan")
    vanished = ContactFactory(client=gone, name="Vince Vanished")
    lead = LeadFactory(client=gone, contact=vanished, assignee=admin_user, title="Left behind")
    acme = ClientFactory(name="Acme")
    vera = ContactFactory(client=acme, name="Vera Gone")
    LeadFactory(client=acme, contact=vera, assignee=admin_user)
    for record in (vanished, vera, gone):
        record.soft_delete()
    return {
        "lead": lead, "gone": gone, "orphan": orphan, "vanished": vanished, "acme": acme,
    }  # fmt: skip


PAGES = [
    ("lead list", lambda r: reverse("leads:list"), [DELETED_CLIENT]),
    ("my work", lambda r: reverse("leads:my_work"), [DELETED_CLIENT]),
    ("lead detail", lambda r: r["lead"].get_absolute_url(), [DELETED_CLIENT, DELETED_CONTACT]),
    ("board", lambda r: reverse("leads:board_default"), [DELETED_CLIENT]),
    ("deleted client", lambda r: r["gone"].get_absolute_url(), [DELETED_CLIENT]),
    ("client's leads", lambda r: r["acme"].get_absolute_url(), [DELETED_CONTACT]),
    ("contact list", lambda r: reverse("crm:contact_list"), [DELETED_CLIENT]),
    ("contact of a deleted client", lambda r: r["orphan"].get_absolute_url(), [DELETED_CLIENT]),
    ("deleted contact", lambda r: r["vanished"].get_absolute_url(), [DELETED_CONTACT]),
]


@pytest.mark.parametrize(("page", "url", "badges"), PAGES, ids=[p[0] for p in PAGES])
def test_every_page_shows_a_deleted_client_or_contact_as_the_one_placeholder(
    admin_client, records, page, url, badges
):
    html = admin_client.get(url(records)).text
    for badge in badges:
        assert badge in html
    assert "Gone Ltd" not in html or page == "deleted client"


@pytest.mark.parametrize(
    ("model", "label"), [(Client, "Deleted client"), (Contact, "Deleted contact")]
)
def test_the_placeholder_is_named_after_the_model(model, label):
    record = model()
    assert record.deleted_label == label
    html = engines["django"].from_string("{% deleted_placeholder r %}").render({"r": record})
    assert html == f'<span class="badge badge-deleted">{label}</span>'


@pytest.mark.parametrize("kind", ["client", "contact"])
def test_the_delete_warnings_quote_the_placeholder_the_leads_will_show(manager_client, kind):
    record = ClientFactory() if kind == "client" else ContactFactory()
    LeadFactory(client=record if kind == "client" else record.client)
    html = manager_client.get(reverse(f"crm:{kind}_delete", args=[record.pk])).text
    assert f"will show “{record.deleted_label}”" in html
