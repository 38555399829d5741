"""Admin for clients and contacts, deleted ones included so they can be restored, and
their history (read-only). Every write goes through ``crm.services``."""

from axes.models import AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.forms.models import BaseInlineFormSet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client, ClientEvent, Contact, ContactEvent
from crm.services import (
    client_create,
    client_update,
    clients_delete_bulk,
    clients_restore_bulk,
    contact_create,
    contact_update,
    contacts_delete_bulk,
    contacts_restore_bulk,
)
from crm.web.admin_utils import AuditTrailAdmin, CappedCountPaginator, NoBulkDeleteMixin

#: Soft delete and restore are offered in the list and on a client's or contact's page.
BOTH_LOCATIONS = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


class DeletedListFilter(admin.SimpleListFilter):
    """Filter soft-deleted rows: yes, no, or all (the default)."""

    title = _("deleted")
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", gettext("Yes")), ("no", gettext("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.deleted()
        if self.value() == "no":
            return queryset.alive()
        return queryset


class SoftDeleteAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    """Shows deleted rows too, with actions to soft-delete and restore them, and the
    latest history on a row's page for those who may read it."""

    actions = ["soft_delete_selected", "restore_selected"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    #: The model of the history; its foreign key to the row is ``record_field``.
    event_model = None
    #: How many events a row's page shows; the rest are one click away.
    history_limit = 20

    def create_row(self, obj, by) -> None:
        """Save a new row through the services."""
        raise NotImplementedError

    def update_row(self, pk, values, by) -> None:
        """Apply changed values through the services."""
        raise NotImplementedError

    def soft_delete_rows(self, ids, by) -> int:
        """Soft-delete through the services; how many were living."""
        raise NotImplementedError

    def restore_rows(self, ids, by) -> int:
        """Restore through the services; how many were deleted."""
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        """Save through the services, so admin edits reach the history."""
        if not change:
            self.create_row(obj, request.user)
            return
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        self.update_row(obj.pk, values, request.user)
        obj.refresh_from_db()  # the admin goes on with obj (log entry, message)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        opts = self.event_model._meta
        if obj is None or not request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            return fieldsets
        return [*fieldsets, (gettext("Audit trail"), {"fields": ["history"]})]

    @admin.display(description=_("latest changes"))
    def history(self, obj):
        if obj.pk is None:
            return "—"
        opts = self.event_model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return render_to_string(
            "admin/crm/history.html",
            {
                "events": obj.events.select_related("actor")[: self.history_limit],
                "url": f"{url}?{self.event_model.record_field}__id__exact={obj.pk}",
            },
        )

    # No bulk "Delete selected" (NoBulkDeleteMixin): it would try to erase rows for good (and
    # fail on the leads that protect them); "Soft-delete selected" is the delete here.

    def has_delete_permission(self, request, obj=None):
        # A row's page offers the soft delete (an action), not the erasing "Delete": its
        # history protects it, and nothing users entered is lost for good. The actions ask
        # without a row, and get the model permission.
        if obj is not None:
            return False
        return super().has_delete_permission(request)

    @admin.display(boolean=True, description=_("deleted"), ordering="deleted_at")
    def is_deleted(self, obj) -> bool:
        return obj.is_deleted

    @admin.action(
        description=_("Soft-delete this %(verbose_name)s"),
        description_plural=_("Soft-delete selected %(verbose_name_plural)s"),
        permissions=["delete"],
        location=BOTH_LOCATIONS,
    )
    def soft_delete_selected(self, request, queryset):
        # Rows deleted before keep their original deletion time (and get no event).
        count = self.soft_delete_rows(queryset.values_list("pk", flat=True), by=request.user)
        self.message_user(
            request,
            gettext("Soft-deleted %(count)d %(items)s.")
            % {"count": count, "items": model_ngettext(self.opts, count)},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Restore this %(verbose_name)s"),
        description_plural=_("Restore selected %(verbose_name_plural)s"),
        permissions=["delete"],
        location=BOTH_LOCATIONS,
    )
    def restore_selected(self, request, queryset):
        count = self.restore_rows(queryset.values_list("pk", flat=True), by=request.user)
        self.message_user(
            request,
            gettext("Restored %(count)d %(items)s.")
            % {"count": count, "items": model_ngettext(self.opts, count)},
            messages.SUCCESS,
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # An autocomplete picks a client or contact for a lead: offer only living ones.
        # The form field itself still accepts a deleted one a lead already points at.
        if request.resolver_match and request.resolver_match.url_name == "autocomplete":
            queryset = queryset.alive()
        return queryset, may_have_duplicates


class ContactInlineFormSet(BaseInlineFormSet):
    """Contacts added or changed on their client's page go through the contact services."""

    #: The user saving the page (``ClientAdmin.save_formset`` sets it).
    by = None

    def save_new(self, form, commit=True):
        setattr(form.instance, self.fk.name, self.instance)  # the client, saved by now
        return contact_create(contact=form.instance, by=self.by)

    def save_existing(self, form, obj, commit=True):
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        return contact_update(contact_id=obj.pk, values=values, by=self.by)


class ContactInline(admin.TabularInline):
    """A client's contacts; deleting one goes through the contact's own soft delete."""

    model = Contact
    formset = ContactInlineFormSet
    fields = ["name", "job_title", "email", "phone", "deleted_at"]
    readonly_fields = ["deleted_at"]
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Client)
class ClientAdmin(SoftDeleteAdmin):
    list_display = ["name", "kind", "email", "phone", "website", "is_deleted", "updated_at"]
    list_filter = ["kind", DeletedListFilter]
    search_fields = ["name", "email", "phone"]
    ordering = ["name", "id"]
    readonly_fields = ["contact_list", "created_at", "updated_at", "deleted_at", "history"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "email", "phone", "website", "address", "notes"]}),
        (_("Record"), {"fields": ["contact_list", "created_at", "updated_at", "deleted_at"]}),
    ]
    inlines = [ContactInline]
    #: Up to this many contacts are edited inline; beyond it the page links to them (the
    #: largest client of the million-lead benchmark has 4,396: an inline of them took 18 s).
    inline_contacts_limit = 50
    event_model = ClientEvent

    def create_row(self, obj, by) -> None:
        client_create(client=obj, by=by)

    def update_row(self, pk, values, by) -> None:
        client_update(client_id=pk, values=values, by=by)

    def save_formset(self, request, form, formset, change):
        formset.by = request.user
        super().save_formset(request, form, formset, change)

    def soft_delete_rows(self, ids, by) -> int:
        return clients_delete_bulk(client_ids=ids, by=by)

    def restore_rows(self, ids, by) -> int:
        return clients_restore_bulk(client_ids=ids, by=by)

    def get_inlines(self, request, obj):
        if obj is not None and self.contact_count(obj) > self.inline_contacts_limit:
            return []
        return super().get_inlines(request, obj)

    @staticmethod
    def contact_count(obj) -> int:
        # Asked for by the inlines, more than once a request, and by the link: count once.
        if not hasattr(obj, "_contact_count"):
            obj._contact_count = obj.contacts.count()
        return obj._contact_count

    @admin.display(description=_("contacts"))
    def contact_list(self, obj):
        if obj.pk is None:
            return "—"
        url = reverse("admin:crm_contact_changelist")
        count = self.contact_count(obj)
        return format_html(
            ngettext(
                '<a href="{url}">{count} contact</a>', '<a href="{url}">{count} contacts</a>', count
            ),
            url=f"{url}?client__id__exact={obj.pk}",
            count=count,
        )


@admin.register(Contact)
class ContactAdmin(SoftDeleteAdmin):
    list_display = ["name", "client", "job_title", "email", "phone", "is_deleted", "updated_at"]
    list_select_related = ["client"]
    list_filter = [DeletedListFilter]
    search_fields = ["name", "email", "phone", "client__name"]
    autocomplete_fields = ["client"]
    ordering = ["name", "id"]
    readonly_fields = ["created_at", "updated_at", "deleted_at", "history"]
    fieldsets = [
        (None, {"fields": ["client", "name", "job_title", "email", "phone"]}),
        (_("Record"), {"fields": ["created_at", "updated_at", "deleted_at"]}),
    ]
    event_model = ContactEvent

    def create_row(self, obj, by) -> None:
        contact_create(contact=obj, by=by)

    def update_row(self, pk, values, by) -> None:
        contact_update(contact_id=pk, values=values, by=by)

    def soft_delete_rows(self, ids, by) -> int:
        return contacts_delete_bulk(contact_ids=ids, by=by)

    def restore_rows(self, ids, by) -> int:
        return contacts_restore_bulk(contact_ids=ids, by=by)


class AuditEventAdmin(AuditTrailAdmin):
    """A client's or contact's history: readable by staff, written only by the services."""

    readonly_fields = ["sentence"]

    @admin.display(description=_("what happened"))
    def sentence(self, obj) -> str:
        return obj.describe()


@admin.register(ClientEvent)
class ClientEventAdmin(AuditEventAdmin):
    list_display = ["at", "kind", "client", "actor", "sentence"]
    list_select_related = ["client", "actor"]
    search_fields = ["client__name"]
    search_help_text = _("The client's name contains the text.")
    fields = ["at", "kind", "client", "actor", "sentence", "data"]


@admin.register(ContactEvent)
class ContactEventAdmin(AuditEventAdmin):
    list_display = ["at", "kind", "contact", "actor", "sentence"]
    list_select_related = ["contact", "actor"]
    search_fields = ["contact__name"]
    search_help_text = _("The contact's name contains the text.")
    fields = ["at", "kind", "contact", "actor", "sentence", "data"]


# Sign-in throttling: django-axes lists its "access attempts" (who is locked out; deleting one
# unlocks it) and two logs, which settings.py leaves off, so they would be empty lists.
admin.site.unregister([AccessLog, AccessFailureLog])
