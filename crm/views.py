"""Client and contact pages: the lists, the details with their leads, the forms, deletion."""

import logging

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db import DatabaseError
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import CreateView, DeleteView, DetailView, ListView, UpdateView

from crm.web.htmx import HtmxPartialMixin, redirect, refuse
from crm.web.listing import sort_columns
from crm.web.params import whole_number
from leads.models import Lead
from pipelines.models import PipelineStage

from .filters import (
    CLIENT_DEFAULT_SORT,
    CONTACT_DEFAULT_SORT,
    ClientFilter,
    ContactFilter,
    with_open_leads,
)
from .forms import ClientForm, ContactForm
from .models import Client, Contact
from .services import (
    client_create,
    client_delete,
    client_update,
    contact_create,
    contact_delete,
    contact_update,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
#: A detail page lists at most this many leads; the rest are one click away.
DETAIL_LEADS = 50
#: A client's page lists at most this many contacts; the rest are one click away (the
#: largest client of the million-lead benchmark has 4,396: drawing them took 700 ms).
DETAIL_CONTACTS = 50


# --- lists ---------------------------------------------------------------------------------


class FilteredListMixin(HtmxPartialMixin):
    """A searchable, sortable list of living rows, 20 a page, with filter chips."""

    filterset_class = None
    default_sort = ""
    columns: list[tuple] = []
    paginate_by = PAGE_SIZE

    def base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        self.filterset = self.filterset_class(
            self.request.GET, queryset=self.base_queryset(), request=self.request
        )
        return self.filterset.qs

    def paginate_queryset(self, queryset, page_size):
        # A page number past the end shows the last page rather than a 404.
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get("page"))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sort = self.filterset.current_sort
        keep = QueryDict(mutable=True)
        if sort != self.default_sort:
            keep["sort"] = sort
        paginator = context["paginator"]
        context.update(
            filter=self.filterset,
            chips=self.filterset.chips(self.request.GET),
            sort=sort,
            columns=sort_columns(self.columns, sort),
            clear_url=f"?{keep.urlencode()}" if keep else "?",
            any_rows=paginator.count > 0 or self.model.objects.alive().exists(),
        )
        return context


class ClientListView(FilteredListMixin, ListView):
    """/clients/: search, filter by kind, sort and page through the living clients."""

    model = Client
    template_name = "crm/client_list.html"
    partials = {"client-results": "results", "client-list": "list"}
    filterset_class = ClientFilter
    default_sort = CLIENT_DEFAULT_SORT
    columns = [
        ("name", _("Name"), False, ""),
        ("kind", _("Kind"), False, ""),
        ("email", _("Email"), False, ""),
        ("phone", _("Phone"), False, ""),
        ("open_leads", _("Open leads"), True, "-"),
        ("created_at", _("Created"), False, "-"),
    ]

    def base_queryset(self):
        return with_open_leads(Client.objects.alive(), "client")


class ContactListView(FilteredListMixin, ListView):
    """/contacts/: search, filter by client, sort and page through the living contacts."""

    model = Contact
    template_name = "crm/contact_list.html"
    partials = {"contact-results": "results", "contact-list": "list"}
    filterset_class = ContactFilter
    default_sort = CONTACT_DEFAULT_SORT
    columns = [
        ("name", _("Name"), False, ""),
        ("client", _("Client"), False, ""),
        ("job_title", _("Job title"), False, ""),
        ("email", _("Email"), False, ""),
        ("phone", _("Phone"), False, ""),
        ("open_leads", _("Open leads"), True, "-"),
        ("created_at", _("Created"), False, "-"),
    ]

    def base_queryset(self):
        return with_open_leads(Contact.objects.alive().select_related("client"), "contact")


# --- details -------------------------------------------------------------------------------


class VisibleMixin:
    """Soft-deleted rows are gone for everyone but staff, who may look before restoring."""

    def get_queryset(self):
        queryset = self.model.objects.all()
        return queryset if self.request.user.is_staff else queryset.alive()


def lead_section(leads) -> dict:
    """A client's or contact's page on its leads: the summary and the newest changed."""
    summary = leads.summary()
    return {
        "summary": summary,
        "leads": leads.select_related("stage", "client", "contact", "assignee")[:DETAIL_LEADS],
        "more_leads": summary["total_count"] > DETAIL_LEADS,
    }


class ClientDetailView(VisibleMixin, DetailView):
    """/clients/<pk>/: contact details, a summary of its leads, its contacts and leads."""

    model = Client
    template_name = "crm/client_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        client = self.object
        context.update(
            lead_section(Lead.objects.filter(client=client)),
            contacts=client.contacts.alive().order_by("name", "id")[:DETAIL_CONTACTS],
            contact_count=client.contacts.alive().count(),
        )
        return context


class ContactDetailView(VisibleMixin, DetailView):
    """/contacts/<pk>/: the contact's details, its client and its leads."""

    model = Contact
    template_name = "crm/contact_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("client")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(lead_section(Lead.objects.filter(contact=self.object)))
        return context


# --- forms ---------------------------------------------------------------------------------


class SaveMixin(HtmxPartialMixin):
    """Shared by create and edit: 422 with every typed value kept, 503 on a DB failure."""

    permission_required = ""
    raise_exception = True
    noun = ""  # in the logs
    #: What the page says: the save failed; it saved "%(name)s".
    save_failed = ""
    saved_message = ""

    def save(self, form):
        """Write the form's values through the client or contact services."""
        raise NotImplementedError

    def form_invalid(self, form, status=422):
        return self.render_to_response(self.get_context_data(form=form), status=status)

    def form_valid(self, form):
        try:
            obj = self.save(form)
        except DatabaseError:
            logger.exception("Saving a %s failed", self.noun)
            form.add_error(None, self.save_failed)
            return self.form_invalid(form, status=503)
        messages.success(self.request, self.saved_message % {"name": obj})
        return redirect(self.request, obj.get_absolute_url())


class ClientCreateView(PermissionRequiredMixin, SaveMixin, CreateView):
    """/clients/new/."""

    model = Client
    form_class = ClientForm
    template_name = "crm/client_form.html"
    partials = {"client-form": "form"}
    permission_required = "crm.add_client"
    noun = "client"
    save_failed = _(
        "We could not save the client: the database did not answer. "
        "Your input is kept; please try again in a moment."
    )
    saved_message = _("Client “%(name)s” saved.")

    def save(self, form):
        return client_create(client=form.instance, by=self.request.user)


class ClientUpdateView(PermissionRequiredMixin, SaveMixin, VisibleMixin, UpdateView):
    """/clients/<pk>/edit/."""

    model = Client
    form_class = ClientForm
    template_name = "crm/client_form.html"
    partials = {"client-form": "form"}
    permission_required = "crm.change_client"
    noun = "client"
    save_failed = _(
        "We could not save the client: the database did not answer. "
        "Your input is kept; please try again in a moment."
    )
    saved_message = _("Client “%(name)s” saved.")

    def save(self, form):
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        return client_update(client_id=self.object.pk, values=values, by=self.request.user)


class ContactCreateView(PermissionRequiredMixin, SaveMixin, CreateView):
    """/contacts/new/ (?client=<id> pre-fills the client)."""

    model = Contact
    form_class = ContactForm
    template_name = "crm/contact_form.html"
    partials = {"contact-form": "form"}
    permission_required = "crm.add_contact"
    noun = "contact"
    save_failed = _(
        "We could not save the contact: the database did not answer. "
        "Your input is kept; please try again in a moment."
    )
    saved_message = _("Contact “%(name)s” saved.")

    def save(self, form):
        return contact_create(contact=form.instance, by=self.request.user)

    def get_initial(self):
        initial = super().get_initial()
        if client := whole_number(self.request.GET.get("client")):
            initial["client"] = client
        return initial


class ContactUpdateView(PermissionRequiredMixin, SaveMixin, VisibleMixin, UpdateView):
    """/contacts/<pk>/edit/."""

    model = Contact
    form_class = ContactForm
    template_name = "crm/contact_form.html"
    partials = {"contact-form": "form"}
    permission_required = "crm.change_contact"
    noun = "contact"
    save_failed = _(
        "We could not save the contact: the database did not answer. "
        "Your input is kept; please try again in a moment."
    )
    saved_message = _("Contact “%(name)s” saved.")

    def save(self, form):
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        return contact_update(contact_id=self.object.pk, values=values, by=self.request.user)


# --- deletion ------------------------------------------------------------------------------


class SoftDeleteMixin(PermissionRequiredMixin):
    """GET: a warning with the open leads that keep the reference; POST: the soft delete.

    Only living rows can be deleted: a deleted one answers 404 (admins restore it in the
    Django admin).
    """

    raise_exception = True
    template_name = "crm/confirm_delete.html"
    noun = ""  # the template's and the logs' key: "client" or "contact"
    list_url = ""
    #: What the page says: the deletion failed; it deleted "%(name)s".
    delete_failed = ""
    deleted_message = ""

    def soft_delete(self, obj):
        """Delete through the client or contact services."""
        raise NotImplementedError

    def get_queryset(self):
        return self.model.objects.alive()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        leads = self.object.leads.all()
        context["open_leads"] = leads.filter(stage__kind=PipelineStage.Kind.OPEN).count()
        context["noun"] = self.noun
        return context

    def form_valid(self, form):
        obj = self.object
        try:
            self.soft_delete(obj)
        except DatabaseError:
            logger.exception("Deleting %s %s failed", self.noun, obj.pk)
            message = str(self.delete_failed)
            return refuse(self.request, message, back=obj.get_absolute_url(), status=503)
        messages.success(self.request, self.deleted_message % {"name": obj})
        return redirect(self.request, reverse(self.list_url))


class ClientDeleteView(SoftDeleteMixin, DeleteView):
    """/clients/<pk>/delete/."""

    model = Client
    permission_required = "crm.delete_client"
    noun = "client"
    list_url = "crm:client_list"
    delete_failed = _("The client could not be deleted: the database did not answer. Try again.")
    deleted_message = _("Client “%(name)s” deleted.")

    def soft_delete(self, obj):
        return client_delete(client_id=obj.pk, by=self.request.user)


class ContactDeleteView(SoftDeleteMixin, DeleteView):
    """/contacts/<pk>/delete/."""

    model = Contact
    permission_required = "crm.delete_contact"
    noun = "contact"
    list_url = "crm:contact_list"
    delete_failed = _("The contact could not be deleted: the database did not answer. Try again.")
    deleted_message = _("Contact “%(name)s” deleted.")

    def soft_delete(self, obj):
        return contact_delete(contact_id=obj.pk, by=self.request.user)
