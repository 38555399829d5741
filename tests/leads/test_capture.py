"""A website's form posts to /capture/<key>/: a lead, or a clear refusal that saves nothing."""

import json

import pytest
from django.test import Client as BrowserClient

from crm.forms import ContactForm
from crm.models import Client, ClientEvent, Contact
from leads.capture_models import HONEYPOT_FIELD
from leads.forms import DESCRIPTION_ERROR, LeadForm
from leads.models import CaptureForm, Lead, LeadEvent, LeadSource
from tests.factories import (
    AssignmentRuleFactory,
    CaptureFormFactory,
    ClientFactory,
    ContactFactory,
    RepFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
JANE = {
    "name": "Jane Doe",
    "email": "jane@example.com",
    "phone": "+31 20 123 4567",
    "company": "Acme",
    "description": "We need a new website by spring.",
}


@pytest.fixture
def capture_form(db):
    return CaptureFormFactory(
        name="Contact form",
        stage=default_stage("Contacted"),
        source=LeadSource.objects.get(slug="website"),
    )


@pytest.fixture
def anonymous():
    """A visitor's browser: no session, and CSRF checked as for any browser."""
    return BrowserClient(enforce_csrf_checks=True)


def post_json(client, capture_form, data, **headers):
    return client.post(
        f"/capture/{capture_form.public_key}/",
        json.dumps(data),
        content_type="application/json",
        headers=headers,
    )


def post_form(client, capture_form, data, accept=BROWSER_ACCEPT, **headers):
    return client.post(
        f"/capture/{capture_form.public_key}/", data, headers={"Accept": accept, **headers}
    )


def test_a_json_post_creates_the_lead_where_the_form_says_and_answers_201_with_its_id(
    anonymous, capture_form
):
    response = post_json(anonymous, capture_form, JANE)

    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.stage == default_stage("Contacted")
    assert lead.source.slug == "website"
    assert lead.title == "Contact form: Jane Doe (Acme)"
    assert lead.description == JANE["description"]
    assert lead.created_by is None
    assert "sessionid" not in response.cookies
    assert "csrftoken" not in response.cookies


def test_the_history_says_captured_from_the_form_with_no_one_as_actor(anonymous, capture_form):
    lead_id = post_json(anonymous, capture_form, JANE).json()["id"]

    event = LeadEvent.objects.get(lead_id=lead_id, kind="created")
    assert event.actor is None
    assert event.data["capture"]["form_id"] == capture_form.pk
    assert event.describe() == (
        "Captured from Contact form (Jane Doe, jane@example.com, +31 20 123 4567, Acme)"
    )


def test_the_company_becomes_the_client_and_the_person_its_contact(anonymous, capture_form):
    lead = Lead.objects.get(pk=post_json(anonymous, capture_form, JANE).json()["id"])

    assert lead.client.name == "Acme"
    assert lead.client.kind == Client.Kind.ORGANIZATION
    assert (lead.contact.name, lead.contact.email, lead.contact.phone) == (
        "Jane Doe",
        "jane@example.com",
        "+31 20 123 4567",
    )
    assert lead.contact.client == lead.client
    created = ClientEvent.objects.get(client=lead.client)
    assert created.actor is None
    assert created.describe() == "Created the client from the website form Contact form"


def test_an_existing_client_and_contact_are_linked_not_changed(anonymous, capture_form):
    acme = ClientFactory(name="ACME", phone="+31 10 000 0000")
    jane = ContactFactory(client=acme, name="J. Doe", email="JANE@example.com", phone="")

    lead = Lead.objects.get(pk=post_json(anonymous, capture_form, JANE).json()["id"])

    assert (lead.client, lead.contact) == (acme, jane)
    jane.refresh_from_db()
    acme.refresh_from_db()
    assert (jane.name, jane.phone, acme.phone) == ("J. Doe", "", "+31 10 000 0000")
    assert Client.objects.count() == 1
    assert Contact.objects.count() == 1


def test_a_person_without_a_company_is_a_client_of_their_own(anonymous, capture_form):
    data = {"name": "Piet Jansen", "email": "piet@example.nl", "title": "Kitchen quote"}

    lead = Lead.objects.get(pk=post_json(anonymous, capture_form, data).json()["id"])

    assert lead.title == "Kitchen quote"
    assert (lead.client.name, lead.client.kind, lead.client.email) == (
        "Piet Jansen",
        Client.Kind.PERSON,
        "piet@example.nl",
    )
    assert lead.contact is None
    again = post_json(anonymous, capture_form, data | {"name": "P. Jansen"}).json()["id"]
    assert Lead.objects.get(pk=again).client == lead.client


def test_the_default_assignee_gets_the_lead(anonymous, capture_form):
    carol = RepFactory(username="carol")
    AssignmentRuleFactory(team=None, user=RepFactory(username="dave"))
    CaptureForm.objects.filter(pk=capture_form.pk).update(default_assignee=carol)

    lead = Lead.objects.get(pk=post_json(anonymous, capture_form, JANE).json()["id"])

    assert lead.assignee == carol


def test_without_a_default_assignee_the_assignment_rules_choose(anonymous, capture_form):
    dave = RepFactory(username="dave")
    AssignmentRuleFactory(name="Everything", team=None, user=dave)

    lead = Lead.objects.get(pk=post_json(anonymous, capture_form, JANE).json()["id"])

    assert lead.assignee == dave
    assigned = LeadEvent.objects.get(lead=lead, kind="assigned")
    assert assigned.actor is None
    assert "by rule ‘Everything’" in assigned.describe()


def test_a_plain_html_form_is_sent_to_the_thank_you_page(anonymous, capture_form):
    capture_form.thank_you_url = "https://www.example.com/thanks/"
    capture_form.save()

    response = post_form(anonymous, capture_form, JANE, Origin=ORIGIN)

    assert response.status_code == 303
    assert response["Location"] == "https://www.example.com/thanks/"
    assert Lead.objects.count() == 1


def test_a_plain_html_form_without_a_thank_you_page_gets_ours(anonymous, capture_form):
    response = post_form(anonymous, capture_form, JANE)

    assert response.status_code == 201
    assert "We received your message" in response.text
    assert Lead.objects.count() == 1


def test_a_script_posting_a_form_encoded_body_gets_json(anonymous, capture_form):
    response = post_form(anonymous, capture_form, JANE, accept="*/*")

    assert response.status_code == 201
    assert response.json()["id"] == Lead.objects.get().pk


@pytest.mark.parametrize("key", ["no-such-key", ""])
def test_an_unknown_key_answers_401(anonymous, capture_form, key):
    response = anonymous.post(f"/capture/{key}x/", JANE)

    assert response.status_code == 401
    assert Lead.objects.count() == 0


def test_a_revoked_key_answers_401(anonymous, capture_form):
    capture_form.active = False
    capture_form.save()

    assert post_json(anonymous, capture_form, JANE).status_code == 401
    assert Lead.objects.count() == 0


def test_a_new_key_makes_the_old_one_unknown(anonymous, capture_form):
    old = CaptureForm.objects.get(pk=capture_form.pk)
    capture_form.rotate_key()

    assert post_json(anonymous, old, JANE).status_code == 401
    assert post_json(anonymous, capture_form, JANE).status_code == 201


def test_bad_fields_answer_422_in_the_forms_words_and_save_nothing(anonymous, capture_form):
    data = {"title": "x" * 256, "description": "y" * 5001, "email": "jane@", "phone": "call me"}

    response = post_json(anonymous, capture_form, data)

    assert response.status_code == 422
    errors = response.json()["errors"]
    lead_form = LeadForm({"title": "x" * 256, "description": "y" * 5001, "stage": ""})
    lead_form.is_valid()
    assert errors["title"] == lead_form.errors["title"]
    assert errors["description"] == [DESCRIPTION_ERROR]
    contact_form = ContactForm({"name": "J", "email": "jane@"})
    contact_form.is_valid()
    assert errors["email"] == contact_form.errors["email"]
    assert errors["phone"] == [Contact._meta.get_field("phone").validators[0].message]
    assert (Lead.objects.count(), Client.objects.count(), Contact.objects.count()) == (0, 0, 0)


def test_a_plain_html_form_with_bad_fields_gets_a_page_saying_what_to_fix(anonymous, capture_form):
    response = post_form(anonymous, capture_form, JANE | {"email": "jane@"})

    assert response.status_code == 422
    assert "Please check your message" in response.text
    assert "Enter a valid email address" in response.text
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"name": ["a", "b"]}', "application/json", 422),
        ('{"email": true}', "application/json", 422),
        ("<lead/>", "application/xml", 415),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_without_a_5xx(
    anonymous, capture_form, body, content_type, status
):
    response = anonymous.post(
        f"/capture/{capture_form.public_key}/", body, content_type=content_type
    )

    assert response.status_code == status
    assert Lead.objects.count() == 0


def test_a_filled_honeypot_pretends_success_and_saves_nothing(anonymous, capture_form):
    response = post_json(anonymous, capture_form, JANE | {HONEYPOT_FIELD: "http://spam.example"})

    assert response.status_code == 201
    assert response.json() == {"id": None}
    assert (Lead.objects.count(), Client.objects.count()) == (0, 0)
    capture_form.refresh_from_db()
    assert capture_form.spam_caught == 1


def test_a_filled_honeypot_in_a_plain_form_gets_the_same_redirect(anonymous, capture_form):
    capture_form.thank_you_url = "https://www.example.com/thanks/"
    capture_form.save()

    response = post_form(anonymous, capture_form, JANE | {HONEYPOT_FIELD: "x"})

    assert response.status_code == 303
    assert Lead.objects.count() == 0


def test_posts_past_the_forms_hourly_limit_answer_429_with_retry_after(anonymous, capture_form):
    capture_form.rate_limit = 2
    capture_form.save()

    answers = [post_json(anonymous, capture_form, JANE) for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert 0 < int(answers[2]["Retry-After"]) <= 3600
    assert Lead.objects.count() == 2


def test_the_limit_is_per_form(anonymous, capture_form):
    capture_form.rate_limit = 1
    capture_form.save()
    other = CaptureFormFactory(rate_limit=1)

    assert post_json(anonymous, capture_form, JANE).status_code == 201
    assert post_json(anonymous, capture_form, JANE).status_code == 429
    assert post_json(anonymous, other, JANE).status_code == 201


def test_the_preflight_of_an_allowed_origin_is_answered(anonymous, capture_form):
    response = anonymous.options(
        f"/capture/{capture_form.public_key}/",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Origin" in response["Vary"]


def test_a_post_from_an_allowed_origin_may_be_read_by_its_script(anonymous, capture_form):
    response = post_json(anonymous, capture_form, JANE, Origin=ORIGIN)

    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("method", ["post", "options"])
def test_another_origin_is_refused(anonymous, capture_form, method):
    response = getattr(anonymous, method)(
        f"/capture/{capture_form.public_key}/",
        json.dumps(JANE),
        content_type="application/json",
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert Lead.objects.count() == 0


def test_get_is_not_allowed(anonymous, capture_form):
    assert anonymous.get(f"/capture/{capture_form.public_key}/").status_code == 405


def test_a_capture_form_lands_its_leads_in_an_open_stage_only(capture_form):
    capture_form.stage = default_stage("Won")

    with pytest.raises(Exception, match="Choose an open stage"):
        capture_form.full_clean()


@pytest.mark.parametrize(
    ("origins", "ok"),
    [
        ("https://www.example.com\nhttp://localhost:8000", True),
        ("https://www.example.com/contact/", False),
        ("www.example.com", False),
    ],
)
def test_allowed_origins_are_origins(capture_form, origins, ok):
    capture_form.allowed_origins = origins
    if ok:
        capture_form.full_clean()
    else:
        with pytest.raises(Exception, match="is not an origin"):
            capture_form.full_clean()


def test_a_plain_html_form_refused_gets_a_page_saying_so(anonymous, capture_form):
    response = post_form(anonymous, capture_form, JANE, Origin="https://evil.example")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "Your message was not sent" in response.text
    assert "This website may not post to this form." in response.text
    assert Lead.objects.count() == 0


def test_the_capture_form_has_no_view_on_site_link(admin_client, capture_form):
    page = admin_client.get(f"/admin/leads/captureform/{capture_form.pk}/change/").text

    assert "View on site" not in page
