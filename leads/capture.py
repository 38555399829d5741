"""A website's post to a capture form, made into a lead.

What the visitor may say: the lead's ``title`` and ``description`` (checked by the lead
form's rules, ``LeadCaptureForm``) and who they are: ``name``, ``email``, ``phone``,
``company`` (checked by the contact and client forms' rules). Every other field is
ignored. Where the lead lands and who gets it is the capture form's: its stage, source
and default assignee, or else the assignment rules, as for any new lead
(``lead_create``).

Who they are goes where a rep looks for it: a company is a client (an existing one of
the same name, else a new organisation) and the person its contact (an existing one with
the same email, else a new one); a person without a company is a client of their own
(kind "person"; an existing one with the same email, else new). Existing clients and
contacts are linked, never changed: a website's visitor does not overwrite what the
team keeps. Everything the visitor gave is in the lead's "captured" event too, so
nothing typed is lost even where an existing record holds something else.
"""

from dataclasses import dataclass, field

from django import forms
from django.db import transaction

from crm.forms import ClientForm, ContactForm
from crm.models import Client, Contact
from crm.services import client_create, contact_create

from .capture_models import HONEYPOT_FIELD, CaptureForm
from .forms import LeadCaptureForm
from .models import Lead
from .services import lead_create

#: The fields a post may carry (besides the honeypot), in the order the snippet shows them.
FIELDS = ("name", "email", "phone", "company", "title", "description")


class PersonForm(forms.Form):
    """Who the visitor is, by the contact and client forms' rules and messages."""

    name = ContactForm.base_fields["name"]
    email = ContactForm.base_fields["email"]
    phone = ContactForm.base_fields["phone"]
    company = ClientForm.base_fields["name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.fields:
            self.fields[name].required = False
        # The model checks a contact's phone number when it is saved: here, before.
        self.fields["phone"].validators = [
            *self.fields["phone"].validators,
            *Contact._meta.get_field("phone").validators,
        ]


@dataclass
class Submission:
    """A checked post: the lead to create and who the visitor said they are; or the
    errors, by field, in the forms' words."""

    lead: Lead | None
    person: dict = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)


def is_spam(data: dict) -> bool:
    """The hidden field was filled: a bot, since people never see it."""
    return bool(str(data.get(HONEYPOT_FIELD) or "").strip())


def check(capture_form: CaptureForm, data: dict) -> Submission:
    """Check a post's fields; the lead it makes is unsaved, its place the form's."""
    person_form = PersonForm(data)
    person_ok = person_form.is_valid()
    person = {name: value for name, value in person_form.cleaned_data.items() if value}
    lead = Lead(
        stage=capture_form.stage,
        source=capture_form.source,
        assignee=capture_form.default_assignee,
    )
    title = str(data.get("title") or "").strip() or default_title(capture_form, person)
    lead_form = LeadCaptureForm(
        {"title": title, "description": data.get("description") or ""}, instance=lead
    )
    if not (lead_form.is_valid() and person_ok):
        errors = {**person_form.errors, **lead_form.errors}
        return Submission(lead=None, errors={name: list(said) for name, said in errors.items()})
    return Submission(lead=lead_form.save(commit=False), person=person)


def default_title(capture_form: CaptureForm, person: dict) -> str:
    """A post without a title: "Jane Doe (Acme)" or the email, and the form's name."""
    who = person.get("name") or person.get("email") or ""
    if person.get("company"):
        who = f"{who} ({person['company']})" if who else person["company"]
    title = f"{capture_form.name}: {who}" if who else capture_form.name
    return title[: Lead._meta.get_field("title").max_length]


@transaction.atomic
def lead_capture(*, capture_form: CaptureForm, submission: Submission) -> Lead:
    """Create the checked lead, with its client and contact from who the visitor is."""
    lead, person = submission.lead, submission.person
    origin = {"capture": capture_form.name}
    lead.client, lead.contact = _client_and_contact(person, origin)
    captured = {"form_id": capture_form.pk, "form": capture_form.name} | person
    return lead_create(lead=lead, by=None, captured=captured)


def _client_and_contact(person: dict, origin: dict) -> tuple[Client | None, Contact | None]:
    name, email, phone = person.get("name", ""), person.get("email", ""), person.get("phone", "")
    company = person.get("company")
    if company:
        client = Client.objects.alive().filter(name__iexact=company).order_by("pk").first()
        if client is None:
            client = client_create(client=Client(name=company), by=None, origin=origin)
        if not (name or email):
            return client, None
        contacts = Contact.objects.alive().filter(client=client).order_by("pk")
        contact = (
            contacts.filter(email__iexact=email) if email else contacts.filter(name__iexact=name)
        ).first()
        if contact is None:
            contact = contact_create(
                contact=Contact(client=client, name=name or email, email=email, phone=phone),
                by=None,
                origin=origin,
            )
        return client, contact
    if not (name or email):
        return None, None
    client = None
    if email:
        client = (
            Client.objects.alive()
            .filter(kind=Client.Kind.PERSON, email__iexact=email)
            .order_by("pk")
            .first()
        )
    if client is None:
        client = client_create(
            client=Client(name=name or email, kind=Client.Kind.PERSON, email=email, phone=phone),
            by=None,
            origin=origin,
        )
    return client, None
