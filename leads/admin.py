"""Admin for leads, their sources and their history (read-only), teams and assignment rules,
capture forms, webhooks and the webhooks' deliveries."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.models import ClientEvent, ContactEvent
from crm.web.admin_utils import (
    AuditTrailAdmin,
    CappedCountPaginator,
    NoBulkDeleteMixin,
    ReadOnlyAdmin,
)
from crm.web.templatetags.formatting import format_money
from leads import events, webhooks
from leads.assignment import person
from leads.capture_models import HONEYPOT_FIELD
from leads.filters import search_condition
from leads.forms import LeadForm
from leads.models import (
    CLOSING_FIELDS,
    Absence,
    AssignmentRule,
    CaptureForm,
    Lead,
    LeadEvent,
    LeadImport,
    LeadSource,
    LossReason,
    Membership,
    Priority,
    SavedView,
    ScoreRecompute,
    ScoringCriterion,
    ScoringSettings,
    Status,
    Team,
    Webhook,
    WebhookDelivery,
)
from leads.scoring import KINDS
from leads.services import (
    LeadConflict,
    lead_check_version,
    lead_create,
    lead_delete,
    lead_update,
    leads_delete_bulk,
    stage_delete,
)
from leads.tasks import queue_score_recompute
from leads.webhook_models import WebhookEventKind
from pipelines.admin import leads_url
from pipelines.models import PipelineStage

LEAD_FIELDS = {field.name for field in Lead._meta.concrete_fields}


class LeadChoiceAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    """A list that leads choose from (sources, loss reasons): ordered and switched off
    in place, and kept while leads use it.

    No bulk "Delete selected" (NoBulkDeleteMixin): one at a time, where
    has_delete_permission says which may go.
    """

    list_editable = ["active", "order"]
    list_filter = ["active"]

    def has_delete_permission(self, request, obj=None):
        # One that leads use is made inactive: deleting it would change those leads.
        if obj is not None and obj.leads.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The lead form's autocomplete offers active ones only, as the app's forms do.
        if request.resolver_match and request.resolver_match.url_name == "autocomplete":
            queryset = queryset.filter(active=True)
        return queryset, may_have_duplicates


@admin.register(LeadSource)
class LeadSourceAdmin(LeadChoiceAdmin):
    list_display = ["label", "slug", "active", "order"]
    search_fields = ["label", "slug"]
    ordering = ["order", "label"]
    prepopulated_fields = {"slug": ["label"]}


class ScoringCriterionForm(forms.ModelForm):
    """Sources and priorities as checkboxes, stored as the lists of slugs the kinds read."""

    sources = forms.MultipleChoiceField(
        label=ScoringCriterion._meta.get_field("sources").verbose_name,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=ScoringCriterion._meta.get_field("sources").help_text,
    )
    priorities = forms.MultipleChoiceField(
        label=ScoringCriterion._meta.get_field("priorities").verbose_name,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=Priority.choices,
        help_text=_("For “priority is one of”."),
    )

    class Meta:
        model = ScoringCriterion
        fields = ["kind", "points", "active", "order", "amount", "days", "sources", "priorities"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sources" in self.fields:
            sources = LeadSource.objects.order_by("order", "label")
            offered = list(sources.values_list("slug", "label"))
            # A slug it holds whose source is gone stays offered (and checked), not dropped.
            known = {slug for slug, _ in offered}
            offered += [(slug, slug) for slug in self.instance.sources or [] if slug not in known]
            self.fields["sources"].choices = offered


#: What a criterion's score reads: a change of anything else (its order) recomputes nothing.
SCORED_FIELDS = {"kind", "points", "active", "amount", "days", "sources", "priorities"}


@admin.register(ScoringCriterion)
class ScoringCriterionAdmin(admin.ModelAdmin):
    """The scoring criteria. A change that can change a score recomputes every lead's
    stored score in the background (``leads.tasks.queue_score_recompute``), and the list
    shows that run's progress.

    The admin is the only place criteria change, so it asks for the recompute here rather
    than in a signal: a signal would also fire for the migration's seeding and for test
    factories, and could not tell a reordering (which scores nothing) from a change.
    """

    form = ScoringCriterionForm
    list_display = ["label", "kind", "points", "active", "order"]
    list_display_links = ["label"]
    list_editable = ["points", "active", "order"]
    list_filter = ["active"]
    ordering = ["order", "id"]

    @admin.display(description=_("criterion"))
    def label(self, obj) -> str:
        return obj.label

    def get_fields(self, request, obj=None):
        if obj is None:  # a new one: every parameter, each saying which kind reads it
            return ScoringCriterionForm.Meta.fields
        needs = KINDS[obj.kind].needs
        return ["kind", "points", "active", "order", *([needs] if needs else [])]

    def get_readonly_fields(self, request, obj=None):
        # A criterion is its kind (one of each): another kind is another criterion.
        return ["kind"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or SCORED_FIELDS & set(form.changed_data):
            queue_score_recompute(by=request.user)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        queue_score_recompute(by=request.user)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        queue_score_recompute(by=request.user)

    def get_urls(self):
        status = path(
            "recompute/",
            self.admin_site.admin_view(self.recompute_status_view),
            name="leads_scoringcriterion_recompute",
        )
        return [status, *super().get_urls()]

    def recompute_status_view(self, request):
        """The latest recompute's progress: the fragment the list and the settings poll."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return TemplateResponse(
            request,
            "admin/leads/scoringcriterion/recompute_status.html",
            {"recompute": ScoreRecompute.objects.first()},
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {"recompute": ScoreRecompute.objects.first(), **(extra_context or {})}
        return super().changelist_view(request, extra_context)


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(admin.ModelAdmin):
    """The one row of scoring settings: none added, none deleted.

    Its thresholds and decay are read when a score is shown (a rating is the stored score
    compared with them), so saving them recomputes no score; the page still shows the
    latest recompute, where an admin who just changed the criteria looks next.
    """

    list_display = ["__str__", "hot_above", "cold_below", "decay_enabled"]

    def has_add_permission(self, request):
        # The migration creates the row (and ``ScoringSettings.current()`` would): never a
        # second. Asking the table instead would cost a query on every admin page.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: its list is its page.
        settings = ScoringSettings.current()
        return HttpResponseRedirect(
            reverse("admin:leads_scoringsettings_change", args=[settings.pk])
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {"recompute": ScoreRecompute.objects.first(), **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    """The lead list's saved views: an admin removes or unshares a view that misleads."""

    list_display = ["name", "owner", "shared", "updated_at"]
    list_filter = ["shared"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
    fields = ["name", "owner", "shared", "query"]
    readonly_fields = ["owner", "query"]

    def has_add_permission(self, request):
        return False  # saved from the list, with its filters


@admin.register(LossReason)
class LossReasonAdmin(LeadChoiceAdmin):
    list_display = ["name", "slug", "active", "order", "note_required"]
    search_fields = ["name", "slug"]
    ordering = ["order", "name"]
    prepopulated_fields = {"slug": ["name"]}


class StatusListFilter(admin.SimpleListFilter):
    """Open, won or lost, following the kind of the lead's stage."""

    title = _("status")
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

    expected_version = forms.IntegerField(
        label=_("Expected version"), widget=forms.HiddenInput, required=False
    )

    class Meta:
        model = Lead
        fields = LeadForm.Meta.fields  # what people may set on a lead: one list, the form's

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
        # As the lead form: the active reasons, and the one the lead holds.
        self.fields["lost_reason"].queryset = LossReason.objects.offered(
            self.instance.lost_reason_id
        )

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk:  # the lead as this request read it (the admin's get_object)
            try:
                lead_check_version(
                    lead=self.instance, expected_version=cleaned_data.get("expected_version")
                )
            except LeadConflict:
                raise ValidationError(
                    gettext(
                        "Someone else saved this lead after you opened it. Reload the page to "
                        "see their changes, then make yours again."
                    ),
                    code="conflict",
                ) from None
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
        "actual_close_date",
        "updated_at",
    ]
    list_select_related = ["stage__pipeline", "client", "assignee"]
    list_filter = [
        StatusListFilter,
        ("stage", StageListFilter),
        "priority",
        "source",
        "lost_reason",
        "assignee",
    ]
    # What the search matches; get_search_results below does the searching.
    search_fields = ["title", "description", "client__name", "contact__name"]
    search_help_text = _("Title, description, client or contact contains the text.")
    autocomplete_fields = ["stage", "source", "client", "contact", "assignee"]
    ordering = ["-updated_at", "-id"]
    # What the application keeps up to date: shown, never edited here.
    readonly_fields = RECORD_FIELDS
    #: How the form's fields are grouped; a field the lead form gains joins the first group.
    field_groups = {
        None: ["title", "description", "stage", "priority", "category"],
        _("Deal"): ["value", "probability", "expected_close_date", "source"],
        _("People"): ["client", "contact", "assignee"],
        _("Closing"): list(CLOSING_FIELDS),
    }
    # Counting a large table on every page is what makes big changelists slow.
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_fieldsets(self, request, obj=None):
        fields = list(LeadAdminForm.Meta.fields)
        groups = {
            name: [field for field in group if field in fields]
            for name, group in self.field_groups.items()
        }
        grouped = {field for group in groups.values() for field in group}
        groups[None] += [field for field in fields if field not in grouped]
        groups[None].append("expected_version")
        return [(name, {"fields": group}) for name, group in groups.items()] + [
            (gettext("Record"), {"fields": RECORD_FIELDS})
        ]

    def get_search_results(self, request, queryset, search_term):
        """The lead list's search, with its indexes (see ``search_condition``).

        The admin's own search ORs an icontains per field across the joined client and
        contact tables, which makes PostgreSQL read every lead of a million.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(search_condition(term)), False

    @admin.display(description=_("history"))
    def history(self, obj) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:leads_leadevent_changelist")
        return format_html(gettext('<a href="{}?lead__id__exact={}">Show events</a>'), url, obj.pk)

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

    @admin.display(description=_("lead"), ordering="lead__title")
    def lead_title(self, obj) -> str:
        if obj.lead_id is not None:
            return obj.lead.title
        title = obj.data.get("title") if isinstance(obj.data, dict) else None
        if title:
            return gettext("%(title)s (deleted)") % {"title": title}
        return gettext("(deleted lead)")

    @admin.display(description=_("details"))
    def summary(self, obj) -> str:
        """The sentence the lead's timeline shows, and a note's text as it does too."""
        sentence = events.describe(obj)
        if obj.kind == LeadEvent.Kind.NOTE and isinstance(obj.data, dict):
            return f"{sentence}: {str(obj.data.get('text', ''))[:100]}"
        return sentence


@admin.register(LeadImport)
class LeadImportAdmin(ReadOnlyAdmin):
    """Imports are made and undone on /leads/import/; here they can be looked at. Never
    deleted: its leads point at it (undo finds them so), and its history is the audit trail."""

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


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(NoBulkDeleteMixin, DjangoUserAdmin):
    """Django's user admin; someone who has leads or history is deactivated, not deleted.

    Deleting them would change their leads without a version or an event, and take their
    name off the audit trail (the database refuses it: PROTECT).
    """

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


# --- stages: deleting one moves its leads ---------------------------------------------------


class StageSelect(forms.Select):
    """Options that carry the bare stage name, for the confirmation button's label."""

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if getattr(value, "instance", None) is not None:
            option["attrs"]["data-name"] = value.instance.name
        return option


class StageChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        if obj.is_open:
            return obj.name
        return gettext("%(stage)s (closes them as %(kind)s)") % {
            "stage": obj.name,
            "kind": obj.get_kind_display().lower(),
        }


class StageMoveForm(forms.Form):
    """Where the leads of a stage about to be deleted go: another stage of its pipeline."""

    move_to = StageChoiceField(
        queryset=PipelineStage.objects.none(),
        empty_label=None,
        widget=StageSelect,
        label=_("Move the leads to"),
    )

    def __init__(self, *args, stage: PipelineStage, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["move_to"]
        field.queryset = stage.pipeline.stages.exclude(pk=stage.pk).order_by("order")
        field.initial = stage.neighbour()
        field.error_messages["invalid_choice"] = gettext(
            "Choose another stage of the pipeline %(pipeline)s."
        ) % {"pipeline": stage.pipeline.name}
        field.help_text = gettext(
            "Their probability follows the new stage; a won or lost stage closes them. "
            "Each lead's history records the move."
        )


@admin.register(PipelineStage)
class PipelineStageAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "pipeline", "order", "kind", "probability", "colour"]
    list_select_related = ["pipeline"]
    list_filter = ["pipeline", "kind"]
    search_fields = ["name", "pipeline__name"]
    ordering = ["pipeline", "order"]

    def get_queryset(self, request):
        # __str__ shows the pipeline name, in lists and in autocomplete results alike.
        return super().get_queryset(request).select_related("pipeline")

    # No bulk "Delete selected" (NoBulkDeleteMixin): deleting stages in bulk could remove a
    # pipeline's last open stage unchecked.

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_last_open():
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        # The service's checks, under its locks: the last open stage stays.
        stage_delete(stage=obj, move_to=None, by=request.user)

    @csrf_protect_m
    def delete_view(self, request, object_id, extra_context=None):
        """Django's confirmation for an empty stage; for one that holds leads, ours,
        which moves them to another stage of the pipeline and then deletes it."""
        stage = self.get_object(request, unquote(object_id))
        if stage is None or not stage.leads.exists():
            try:
                return super().delete_view(request, object_id, extra_context)
            except ValidationError as refusal:  # the service's checks, under its locks
                self.message_user(request, " ".join(refusal.messages), messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
        if not self.has_delete_permission(request, stage):
            raise PermissionDenied
        return self.delete_with_leads_view(request, stage)

    def delete_with_leads_view(self, request, stage: PipelineStage):
        form = StageMoveForm(request.POST if request.method == "POST" else None, stage=stage)
        target, status = form.fields["move_to"].initial, 200
        if form.is_bound and not form.is_valid():
            status = 422
        elif form.is_bound:
            target = form.cleaned_data["move_to"]
            try:
                with transaction.atomic():
                    self.log_deletions(request, [stage])
                    moved = stage_delete(stage=stage, move_to=target, by=request.user)
            except PipelineStage.DoesNotExist:  # deleted meanwhile
                return self._get_obj_does_not_exist_redirect(request, self.opts, str(stage.pk))
            except PermissionDenied as refusal:
                form.add_error(None, str(refusal))
                status = 403
            except ValidationError as invalid:
                form.add_error(None, invalid)
                status = 422
            else:
                self.message_user(
                    request,
                    ngettext(
                        "Moved %(count)d lead from %(from)s to %(to)s; each lead's history "
                        "records the move.",
                        "Moved %(count)d leads from %(from)s to %(to)s; each lead's history "
                        "records the move.",
                        moved,
                    )
                    % {"count": moved, "from": stage.name, "to": target.name},
                    messages.SUCCESS,
                )
                return self.response_delete(request, str(stage), stage.pk)
        count = stage.leads.count()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Delete the stage %(stage)s") % {"stage": stage.name},
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "object": stage,
            "form": form,
            "target": target,
            "lead_count": count,
            # Leads the user may not change: then the stage is not theirs to empty.
            "refused_count": count - stage.leads.editable_by(request.user).count(),
            "leads_url": leads_url(stage=stage.pk),
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/pipelines/pipelinestage/delete_with_leads.html",
            context,
            status=status,
        )


# --- teams and assignment rules --------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["user", "paused", "capacity", "last_turn"]
    readonly_fields = ["last_turn"]
    autocomplete_fields = ["user"]
    extra = 1


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """A team and its members; managers pause members and note absences on /teams/ too."""

    list_display = ["name", "member_count"]
    search_fields = ["name"]
    fields = ["name", "turns"]
    readonly_fields = ["turns"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj) -> int:
        return obj.member_count


class AbsenceInline(admin.TabularInline):
    model = Absence
    fields = ["starts_on", "ends_on", "note"]
    extra = 1


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["member", "team", "paused", "capacity"]
    list_filter = ["team", "paused"]
    list_select_related = ["user", "team"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    search_help_text = _("The member's username, name or email contains the text.")
    autocomplete_fields = ["team", "user"]
    fields = ["team", "user", "paused", "capacity", "last_turn"]
    readonly_fields = ["last_turn"]
    inlines = [AbsenceInline]

    @admin.display(description=_("member"), ordering="user__first_name")
    def member(self, obj) -> str:
        return person(obj.user)


class AssignmentRuleForm(forms.ModelForm):
    """Sources and priorities as checkboxes; the priorities stored as the list of values
    the rules compare a lead's priority with."""

    priorities = forms.MultipleChoiceField(
        label=AssignmentRule._meta.get_field("priorities").verbose_name,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=Priority.choices,
        help_text=AssignmentRule._meta.get_field("priorities").help_text,
    )

    class Meta:
        model = AssignmentRule
        fields = [
            "name",
            "order",
            "active",
            "pipeline",
            "sources",
            "category",
            "priorities",
            "value_min",
            "value_max",
            "user",
            "team",
        ]
        widgets = {"sources": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sources" in self.fields:
            self.fields["sources"].queryset = LeadSource.objects.order_by("order", "label")

    def clean_priorities(self) -> list[str]:
        chosen = set(self.cleaned_data["priorities"])
        return [priority for priority in Priority.values if priority in chosen]


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    """The rules a new unassigned lead is given an assignee by: the first active one it
    meets, lowest order first (``leads.assignment``)."""

    form = AssignmentRuleForm
    list_display = ["order", "name", "active", "conditions", "target"]
    list_display_links = ["name"]
    list_editable = ["order", "active"]
    list_filter = ["active", "team"]
    list_select_related = ["pipeline", "user", "team"]
    search_fields = ["name"]
    ordering = ["order", "id"]
    autocomplete_fields = ["user"]
    fieldsets = [
        (None, {"fields": ["name", "order", "active"]}),
        (
            _("Conditions"),
            {
                "fields": [
                    "pipeline",
                    "sources",
                    "category",
                    "priorities",
                    ("value_min", "value_max"),
                ],
                "description": _(
                    "A lead meets the rule when it meets every condition; a "
                    "condition left empty holds for every lead. A rule without conditions "
                    "at the end of the list catches every lead the rules before it left."
                ),
            },
        ),
        (
            _("Give the leads to"),
            {
                "fields": ["user", "team"],
                "description": _(
                    "One user, or a team whose members take turns (paused, "
                    "absent and full members are skipped)."
                ),
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("sources")

    @admin.display(description=_("conditions"))
    def conditions(self, obj) -> str:
        """The rule's conditions in a line: "Pipeline Sales; Source Referral or Partner"."""
        parts = []
        if obj.pipeline_id:
            parts.append(gettext("Pipeline %(pipeline)s") % {"pipeline": obj.pipeline.name})
        if sources := [source.label for source in obj.sources.all()]:
            parts.append(gettext("Source %(sources)s") % {"sources": either(sources)})
        if obj.category:
            parts.append(gettext("Category %(category)s") % {"category": obj.category})
        if obj.priorities:
            labels = [Priority(p).label for p in Priority.values if p in obj.priorities]
            parts.append(gettext("Priority %(priorities)s") % {"priorities": either(labels)})
        if obj.value_min is not None and obj.value_max is not None:
            parts.append(
                gettext("Value %(min)s – %(max)s")
                % {"min": format_money(obj.value_min), "max": format_money(obj.value_max)}
            )
        elif obj.value_min is not None:
            parts.append(gettext("Value from %(min)s") % {"min": format_money(obj.value_min)})
        elif obj.value_max is not None:
            parts.append(gettext("Value up to %(max)s") % {"max": format_money(obj.value_max)})
        return "; ".join(parts) or gettext("Every lead")

    @admin.display(description=_("gives leads to"))
    def target(self, obj) -> str:
        if obj.team_id:
            return gettext("%(team)s (in turn)") % {"team": obj.team.name}
        return person(obj.user) if obj.user_id else "—"


def either(names: list) -> str:
    """ "A", "A or B", "A or B or C": the names a condition accepts, in a line."""
    said = str(names[0])
    for name in names[1:]:
        said = gettext("%(names)s or %(name)s") % {"names": said, "name": name}
    return said


# --- capture forms and webhooks --------------------------------------------------------------


class CaptureFormAdminForm(forms.ModelForm):
    class Meta:
        model = CaptureForm
        fields = [
            "name",
            "active",
            "stage",
            "source",
            "default_assignee",
            "allowed_origins",
            "thank_you_url",
            "rate_limit",
        ]
        widgets = {"allowed_origins": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stage = self.fields["stage"]
        stage.queryset = (
            PipelineStage.objects.filter(kind=PipelineStage.Kind.OPEN)
            .select_related("pipeline")
            .order_by("-pipeline__is_default", "pipeline__name", "order")
        )
        stage.label_from_instance = lambda s: f"{s.pipeline.name} › {s.name}"
        self.fields["default_assignee"].queryset = User.objects.filter(is_active=True)


@admin.register(CaptureForm)
class CaptureFormAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    """Website forms that create leads; the page shows the HTML to put on the site."""

    form = CaptureFormAdminForm
    list_display = ["name", "active", "stage", "source", "default_assignee", "spam_caught"]
    list_filter = ["active"]
    list_select_related = ["stage__pipeline", "source", "default_assignee"]
    readonly_fields = ["public_key", "spam_caught", "created_at"]
    actions = ["issue_new_key"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if obj is not None:
            endpoint = request.build_absolute_uri(obj.endpoint())
            extra_context = {
                "capture_endpoint": endpoint,
                "capture_snippet": render_to_string(
                    "leads/capture_snippet.html",
                    {"action": endpoint, "honeypot": HONEYPOT_FIELD},
                ).strip(),
                "capture_curl": (
                    f"curl -X POST {endpoint} -H 'Content-Type: application/json' \\\n"
                    '  -d \'{"name": "Jane Doe", "email": "jane@example.com", '
                    '"company": "Acme", "description": "Please call me back."}\''
                ),
                **(extra_context or {}),
            }
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Issue a new key (the old one stops working)"))
    def issue_new_key(self, request, queryset):
        for capture_form in queryset:
            capture_form.rotate_key()
        self.message_user(
            request,
            ngettext(
                "Issued %(count)d new key: update the forms on your website.",
                "Issued %(count)d new keys: update the forms on your website.",
                len(queryset),
            )
            % {"count": len(queryset)},
            messages.SUCCESS,
        )


class WebhookAdminForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=Webhook._meta.get_field("events").verbose_name,
        choices=WebhookEventKind.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The kinds of events this endpoint is sent."),
        error_messages={"required": _("Choose at least one kind of event.")},
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "events", "active"]
        widgets = {"url": forms.URLInput(attrs={"size": 60})}

    def clean_url(self):
        url = self.cleaned_data["url"]
        webhooks.validate_url(url)
        return url


@admin.register(Webhook)
class WebhookAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    """Endpoints told of lead events. The secret that signs their deliveries is shown once,
    when made (and when rotated)."""

    form = WebhookAdminForm
    list_display = ["name", "url", "active", "event_kinds", "deliveries_link"]
    list_filter = ["active"]
    readonly_fields = ["secret_hint", "created_by", "created_at"]
    actions = ["rotate_secret"]

    @admin.display(description=_("events"))
    def event_kinds(self, obj) -> str:
        labels = dict(WebhookEventKind.choices)
        return ", ".join(str(labels.get(kind, kind)) for kind in obj.events)

    @admin.display(description=_("secret"))
    def secret_hint(self, obj) -> str:
        return obj.secret_hint() if obj.pk else gettext("Made when you save; shown once.")

    @admin.display(description=_("deliveries"))
    def deliveries_link(self, obj):
        url = reverse("admin:leads_webhookdelivery_changelist") + f"?webhook__id__exact={obj.pk}"
        return format_html(gettext('<a href="{}">Deliveries</a>'), url)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request,
                format_html(
                    gettext(
                        "The secret that signs this endpoint's deliveries, shown this once: "
                        "<code>{}</code>. Copy it into the receiving system now."
                    ),
                    obj.secret,
                ),
                messages.WARNING,
            )

    @admin.action(description=_("Rotate the secret (shown once)"))
    def rotate_secret(self, request, queryset):
        for hook in queryset:
            self.message_user(
                request,
                format_html(
                    gettext("New secret of {}, shown this once: <code>{}</code>"),
                    hook.name,
                    hook.rotate_secret(),
                ),
                messages.WARNING,
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The deliveries' log: what was sent where, how it went, and when it is tried again."""

    list_display = [
        "created_at",
        "webhook",
        "event",
        "lead_id",
        "status",
        "attempts",
        "last_status_code",
        "short_error",
        "next_attempt_at",
    ]
    list_filter = ["status", "event", "webhook"]
    list_select_related = ["webhook"]
    search_fields = ["=lead_id", "=event_id"]
    date_hierarchy = "created_at"
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["retry_now"]
    fields = [
        "webhook",
        "event",
        "event_id",
        "lead_id",
        "status",
        "attempts",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
        "body",
    ]

    @admin.display(description=_("last error"))
    def short_error(self, obj) -> str:
        return obj.last_error[:80]

    def has_retry_permission(self, request):
        return request.user.has_perm("leads.change_webhookdelivery")

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request, queryset):
        count = webhooks.retry_now(queryset.values_list("pk", flat=True))
        if settings.WEBHOOKS_QUEUED:
            said = ngettext(
                "%(count)d delivery queued to be sent now.",
                "%(count)d deliveries queued to be sent now.",
                count,
            )
        else:
            said = ngettext(
                "%(count)d delivery due now: the next run of manage.py send_webhooks sends it.",
                "%(count)d deliveries due now: the next run of manage.py send_webhooks sends them.",
                count,
            )
        self.message_user(request, said % {"count": count}, messages.SUCCESS)
