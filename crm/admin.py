"""Admin for clients and contacts, deleted ones included so they can be restored."""

from axes.models import AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from crm.admin_utils import CappedCountPaginator
from crm.models import Client, Contact

#: Soft delete and restore are offered in the list and on a client's or contact's page.
BOTH_LOCATIONS = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


class DeletedListFilter(admin.SimpleListFilter):
    """Filter soft-deleted rows: yes, no, or all (the default)."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.deleted()
        if self.value() == "no":
            return queryset.alive()
        return queryset


class SoftDeleteAdmin(admin.ModelAdmin):
    """Shows deleted rows too, with actions to soft-delete and restore them."""

    actions = ["soft_delete_selected", "restore_selected"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        # The bulk "Delete selected" would try to erase rows for good (and fail on the
        # leads that protect them); "Soft-delete selected" is the delete here.
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(boolean=True, description="deleted", ordering="deleted_at")
    def is_deleted(self, obj) -> bool:
        return obj.is_deleted

    @admin.action(
        description="Soft-delete this %(verbose_name)s",
        description_plural="Soft-delete selected %(verbose_name_plural)s",
        permissions=["delete"],
        location=BOTH_LOCATIONS,
    )
    def soft_delete_selected(self, request, queryset):
        now = timezone.now()
        # Rows deleted before keep their original deletion time.
        count = queryset.alive().update(deleted_at=now, updated_at=now)
        self.message_user(
            request, f"Soft-deleted {count} {model_ngettext(self.opts, count)}.", messages.SUCCESS
        )

    @admin.action(
        description="Restore this %(verbose_name)s",
        description_plural="Restore selected %(verbose_name_plural)s",
        permissions=["delete"],
        location=BOTH_LOCATIONS,
    )
    def restore_selected(self, request, queryset):
        count = queryset.deleted().update(deleted_at=None, updated_at=timezone.now())
        self.message_user(
            request, f"Restored {count} {model_ngettext(self.opts, count)}.", messages.SUCCESS
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # An autocomplete picks a client or contact for a lead: offer only living ones.
        # The form field itself still accepts a deleted one a lead already points at.
        if request.resolver_match and request.resolver_match.url_name == "autocomplete":
            queryset = queryset.alive()
        return queryset, may_have_duplicates


class ContactInline(admin.TabularInline):
    """A client's contacts; deleting one goes through the contact's own soft delete."""

    model = Contact
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
    readonly_fields = ["contact_list", "created_at", "updated_at", "deleted_at"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "email", "phone", "website", "address", "notes"]}),
        ("Record", {"fields": ["contact_list", "created_at", "updated_at", "deleted_at"]}),
    ]
    inlines = [ContactInline]
    #: Up to this many contacts are edited inline; beyond it the page links to them (the
    #: largest client of the million-lead benchmark has 4,396: an inline of them took 18 s).
    inline_contacts_limit = 50

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

    @admin.display(description="contacts")
    def contact_list(self, obj):
        if obj.pk is None:
            return "—"
        url = reverse("admin:crm_contact_changelist")
        count = self.contact_count(obj)
        return format_html(
            '<a href="{}?client__id__exact={}">{} contact{}</a>',
            url,
            obj.pk,
            count,
            "" if count == 1 else "s",
        )


@admin.register(Contact)
class ContactAdmin(SoftDeleteAdmin):
    list_display = ["name", "client", "job_title", "email", "phone", "is_deleted", "updated_at"]
    list_select_related = ["client"]
    list_filter = [DeletedListFilter]
    search_fields = ["name", "email", "phone", "client__name"]
    autocomplete_fields = ["client"]
    ordering = ["name", "id"]
    readonly_fields = ["created_at", "updated_at", "deleted_at"]
    fieldsets = [
        (None, {"fields": ["client", "name", "job_title", "email", "phone"]}),
        ("Record", {"fields": ["created_at", "updated_at", "deleted_at"]}),
    ]


# Sign-in throttling: django-axes lists its "access attempts" (who is locked out; deleting one
# unlocks it) and two logs, which settings.py leaves off, so they would be empty lists.
admin.site.unregister([AccessLog, AccessFailureLog])
