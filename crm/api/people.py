"""/api/v1/clients/ and /api/v1/contacts/: the pages' lists (search, filters, sort), a
row, and the writes their pages offer, through ``crm.services`` after the pages' forms
checked the values. A delete is the pages' soft delete."""

from django.core.exceptions import PermissionDenied
from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from crm.filters import ClientFilter, ContactFilter, with_open_leads
from crm.forms import ClientForm, ContactForm
from crm.models import Client, Contact
from crm.services import (
    client_create,
    client_delete,
    client_update,
    contact_create,
    contact_delete,
    contact_update,
)

from . import schemas
from .errors import COMMON, READ_ONE, WRITE, WRITE_ONE, Invalid, InvalidOut
from .lists import filtered, paged, query_of

router = Router()

ClientQuery = query_of(ClientFilter, "ClientQuery")
ContactQuery = query_of(ContactFilter, "ContactQuery")


def require(request, permission: str, refusal: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(refusal)


def visible(request, model):
    """Soft-deleted rows are gone for everyone but staff (as on the pages)."""
    rows = model.objects.all()
    return rows if request.user.is_staff else rows.alive()


def bound(form_class, instance, changes: dict):
    """The form with the row's values and the changes over them; 422 when it refuses."""
    data = model_to_dict(instance, fields=form_class.Meta.fields) | changes
    form = form_class(data=data, instance=instance)
    if not form.is_valid():
        raise Invalid.from_form(form)
    return form


# --- clients -------------------------------------------------------------------------------


@router.get(
    "/clients/",
    response={200: schemas.ClientPage, 422: InvalidOut, **COMMON},
    tags=["Clients"],
)
def list_clients(request, params: Query[ClientQuery]):
    """The living clients: search (`q`: name, email or phone), kind and sort."""
    base = with_open_leads(Client.objects.alive(), "client")
    filterset = filtered(ClientFilter, params, base, request)
    return paged(filterset.qs, sort=filterset.current_sort, params=params)


@router.post("/clients/", response={201: schemas.ClientOut, **WRITE}, tags=["Clients"])
def create_client(request, payload: schemas.ClientCreate):
    require(request, "crm.add_client", "You may not add clients.")
    form = bound(ClientForm, Client(), payload.model_dump(exclude_unset=True))
    return Status(201, client_create(client=form.instance, by=request.user))


@router.get(
    "/clients/{int:client_id}/", response={200: schemas.ClientOut, **READ_ONE}, tags=["Clients"]
)
def get_client(request, client_id: int):
    return get_object_or_404(visible(request, Client), pk=client_id)


@router.patch(
    "/clients/{int:client_id}/", response={200: schemas.ClientOut, **WRITE_ONE}, tags=["Clients"]
)
def update_client(request, client_id: int, payload: schemas.ClientFields):
    """Change the fields sent; each change goes into the client's history."""
    client = get_object_or_404(visible(request, Client), pk=client_id)
    require(request, "crm.change_client", "You may not change clients.")
    changes = payload.model_dump(exclude_unset=True)
    form = bound(ClientForm, client, changes)
    values = {name: form.cleaned_data[name] for name in changes}
    return client_update(client_id=client.pk, values=values, by=request.user)


@router.delete("/clients/{int:client_id}/", response={204: None, **WRITE_ONE}, tags=["Clients"])
def delete_client(request, client_id: int):
    """Soft-delete the client: its leads keep it; an admin can restore it."""
    client = get_object_or_404(Client.objects.alive(), pk=client_id)
    require(request, "crm.delete_client", "You may not delete clients.")
    client_delete(client_id=client.pk, by=request.user)
    return Status(204, None)


# --- contacts ------------------------------------------------------------------------------


@router.get(
    "/contacts/",
    response={200: schemas.ContactPage, 422: InvalidOut, **COMMON},
    tags=["Contacts"],
)
def list_contacts(request, params: Query[ContactQuery]):
    """The living contacts: search (`q`: name, email, phone, job title, client), client
    and sort."""
    base = with_open_leads(Contact.objects.alive().select_related("client"), "contact")
    filterset = filtered(ContactFilter, params, base, request)
    return paged(filterset.qs, sort=filterset.current_sort, params=params)


@router.post("/contacts/", response={201: schemas.ContactOut, **WRITE}, tags=["Contacts"])
def create_contact(request, payload: schemas.ContactCreate):
    require(request, "crm.add_contact", "You may not add contacts.")
    form = bound(ContactForm, Contact(), payload.model_dump(exclude_unset=True))
    contact = contact_create(contact=form.instance, by=request.user)
    return Status(201, Contact.objects.select_related("client").get(pk=contact.pk))


@router.get(
    "/contacts/{int:contact_id}/", response={200: schemas.ContactOut, **READ_ONE}, tags=["Contacts"]
)
def get_contact(request, contact_id: int):
    return get_object_or_404(visible(request, Contact).select_related("client"), pk=contact_id)


@router.patch(
    "/contacts/{int:contact_id}/",
    response={200: schemas.ContactOut, **WRITE_ONE},
    tags=["Contacts"],
)
def update_contact(request, contact_id: int, payload: schemas.ContactFields):
    """Change the fields sent; each change goes into the contact's history."""
    contact = get_object_or_404(visible(request, Contact), pk=contact_id)
    require(request, "crm.change_contact", "You may not change contacts.")
    changes = payload.model_dump(exclude_unset=True)
    form = bound(ContactForm, contact, changes)
    values = {name: form.cleaned_data[name] for name in changes}
    contact_update(contact_id=contact.pk, values=values, by=request.user)
    return Contact.objects.select_related("client").get(pk=contact.pk)


@router.delete("/contacts/{int:contact_id}/", response={204: None, **WRITE_ONE}, tags=["Contacts"])
def delete_contact(request, contact_id: int):
    """Soft-delete the contact: its leads keep it; an admin can restore it."""
    contact = get_object_or_404(Contact.objects.alive(), pk=contact_id)
    require(request, "crm.delete_contact", "You may not delete contacts.")
    contact_delete(contact_id=contact.pk, by=request.user)
    return Status(204, None)
