"""Admin for leads, their sources and their history (read-only)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from crm.admin_utils import AuditTrailAdmin, CappedCountPaginator
from crm.models import ClientEvent, ContactEvent
from leads import events
from leads.filters import search_condition
from leads.models import Lead, LeadEvent, LeadImport, LeadSource, Status
from leads.services import (
    LeadConflict,
    lead_create,
    lead_delete,
    lead_update,
    leads_delete_bulk,
)
from pipelines.models import PipelineStage

LEAD_FIELDS = {field.name for field in Lead._meta.concrete_fields}


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin):
    list_display = ["label", "slug", "active", "order"]
    list_editable = ["active", "order"]
    list_filter = ["active"]
    search_fields = ["label", "slug"]
    ordering = ["order", "label"]
    prepopulated_fields = {"slug": ["label"]}

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        # One at a time, where has_delete_permission says which may go.
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        # A source with leads is made inactive: deleting it would change those leads.
        if obj is not None and obj.leads.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The lead form's autocomplete offers active sources only, as the app's forms do.
        if request.resolver_match and request.resolver_match.url_name == "autocomplete":
            queryset = queryset.filter(active=True)
        return queryset, may_have_duplicates


class StatusListFilter(admin.SimpleListFilter):
    """Open, won or lost, following the kind of the lead's stage."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Status.choices

    def queryset(self, request, queryset):
        if self.value() in Status.values:
            return queryset.with_status(self.value())
        return queryset


class StageListFilter(admin.RelatedFieldListFilter):
    """Stages named with their pipeline, loaded in one query instead of one per stage."""

    def field_choices(self, field, request, model_admin):
        stages = PipelineStage.objects.select_related("pipeline").order_by(
            "-pipeline__is_default", "pipeline__name", "order"
        )
        return [(stage.pk, str(stage)) for stage in stages]


class LeadAdminForm(forms.ModelForm):
    """The lead form, carrying the version it was opened at so a newer save is not lost."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Lead
        fields = [
            "title",
            "description",
            "stage",
            "priority",
            "category",
            "value",
            "probability",
            "expected_close_date",
            "source",
            "client",
            "contact",
            "assignee",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version

    def clean(self):
        cleaned_data = super().clean()
        expected = cleaned_data.get("expected_version")
        if self.instance.pk and expected is not None:
            current = Lead.objects.filter(pk=self.instance.pk).values_list("version", flat=True)
            if current.first() != expected:
                raise ValidationError(
                    "Someone else saved this lead after you opened it. Reload the page to "
                    "see their changes, then make yours again.",
                    code="conflict",
                )
        return cleaned_data


RECORD_FIELDS = [
    "created_by",
    "created_at",
    "updated_at",
    "version",
    "stage_entered_at",
    "last_activity_at",
    "closed_at",
    "history",
]


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = [
        "title",
        "stage",
        "client",
        "assignee",
        "value",
        "probability",
        "priority",
        "expected_close_date",
        "updated_at",
    ]
    list_select_related = ["stage__pipeline", "client", "assignee"]
    list_filter = [
        StatusListFilter,
        ("stage", StageListFilter),
        "priority",
        "source",
        "assignee",
    ]
    # What the search matches; get_search_results below does the searching.
    search_fields = ["title", "description", "client__name", "contact__name"]
    search_help_text = "Title, description, client or contact contains the text."
    autocomplete_fields = ["stage", "source", "client", "contact", "assignee"]
    ordering = ["-updated_at", "-id"]
    # What the application keeps up to date: shown, never edited here.
    readonly_fields = RECORD_FIELDS
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "title",
                    "description",
                    "stage",
                    "priority",
                    "category",
                    "expected_version",
                ]
            },
        ),
        ("Deal", {"fields": ["value", "probability", "expected_close_date", "source"]}),
        ("People", {"fields": ["client", "contact", "assignee"]}),
        (
            "Record",
            {"fields": RECORD_FIELDS},
        ),
    ]
    # Counting a large table on every page is what makes big changelists slow.
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_search_results(self, request, queryset, search_term):
        """The lead list's search, with its indexes (see ``search_condition``).

        The admin's own search ORs an icontains per field across the joined client and
        contact tables, which makes PostgreSQL read every lead of a million.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(search_condition(term)), False

    @admin.display(description="history")
    def history(self, obj) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:leads_leadevent_changelist")
        return format_html('<a href="{}?lead__id__exact={}">Show events</a>', url, obj.pk)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The change form; a save that lost a race answers with the form, not a 500.

        The form checks the version it was opened at, but someone may save between that
        check and the save (the service's own check, under the lock, then refuses): the
        form is then shown again, and its check now tells, with the typed values kept.
        """
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except LeadConflict:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:  # the lead changed under the form in another way
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        """Save through the lead services, so admin edits reach the history like any other."""
        if not change:
            lead_create(lead=obj, by=request.user)
            return
        values = {
            name: form.cleaned_data[name] for name in form.changed_data if name in LEAD_FIELDS
        }
        lead_update(
            lead_id=obj.pk,
            values=values,
            expected_version=form.cleaned_data["expected_version"],
            by=request.user,
        )
        # The admin goes on with obj (log entry, message); let it hold what was saved.
        obj.refresh_from_db()

    def has_change_permission(self, request, obj=None):
        # A staff member with a rep's rights changes the leads a rep may change.
        if obj is not None and not obj.can_edit(request.user):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.can_delete(request.user):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        lead_delete(lead_id=obj.pk, by=request.user)

    def delete_queryset(self, request, queryset):
        leads_delete_bulk(lead_ids=queryset.values_list("pk", flat=True), by=request.user)


@admin.register(LeadEvent)
class LeadEventAdmin(AuditTrailAdmin):
    """The audit trail: readable by staff, written only by the application."""

    list_display = ["at", "kind", "lead_title", "actor", "summary"]
    list_select_related = ["lead", "actor"]
    date_hierarchy = "at"
    search_fields = ["lead__title", "data__title"]
    fields = ["at", "kind", "lead", "lead_title", "actor", "data"]
    readonly_fields = ["lead_title"]

    @admin.display(description="lead", ordering="lead__title")
    def lead_title(self, obj) -> str:
        if obj.lead_id is not None:
            return obj.lead.title
        title = obj.data.get("title") if isinstance(obj.data, dict) else None
        return f"{title} (deleted)" if title else "(deleted lead)"

    @admin.display(description="details")
    def summary(self, obj) -> str:
        """The sentence the lead's timeline shows, and a note's text as it does too."""
        sentence = events.describe(obj)
        if obj.kind == LeadEvent.Kind.NOTE and isinstance(obj.data, dict):
            return f"{sentence}: {str(obj.data.get('text', ''))[:100]}"
        return sentence


@admin.register(LeadImport)
class LeadImportAdmin(admin.ModelAdmin):
    """Imports are made and undone on /leads/import/; here they can be looked at."""

    list_display = [
        "file_name",
        "created_by",
        "created_at",
        "status",
        "created_count",
        "updated_count",
        "skipped_count",
    ]
    list_filter = ["status", "mode", "duplicates"]
    search_fields = ["file_name", "created_by__username"]
    list_select_related = ["created_by"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    exclude = ["content"]  # the uploaded file: bytes, not for reading here
    readonly_fields = [
        field.name
        for field in LeadImport._meta.get_fields()
        if field.concrete and field.name not in ("id", "content")
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Its leads point at it (undo finds them so), and its history is the audit trail.
        return False


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin; someone who has leads or history is deactivated, not deleted.

    Deleting them would change their leads without a version or an event, and take their
    name off the audit trail (the database refuses it: PROTECT).
    """

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and has_crm_history(obj):
            return False
        return super().has_delete_permission(request, obj)


def has_crm_history(user) -> bool:
    """Whether the user has leads, or did anything the audit trails record."""
    return (
        Lead.objects.filter(Q(assignee=user) | Q(created_by=user)).exists()
        or LeadEvent.objects.filter(actor=user).exists()
        or ClientEvent.objects.filter(actor=user).exists()
        or ContactEvent.objects.filter(actor=user).exists()
    )
