"""Admin for pipelines, with their stages edited inline.

Like the board's views, these pages sit above the leads: deleting a stage that holds
leads moves them through the lead services.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from leads.services import stage_delete
from pipelines.models import LAST_OPEN_STAGE_MESSAGE, Pipeline, PipelineStage


def leads_url(**filters) -> str:
    """The lead list, every status, filtered by stage or pipeline."""
    return f"{reverse('leads:list')}?{urlencode(filters | {'status': 'all'})}"


def count_leads(count: int) -> str:
    return f"{count} lead{'' if count == 1 else 's'}"


class PipelineStageFormSet(BaseInlineFormSet):
    """The stages of one pipeline, checked together: at least one must stay open, and a
    stage that holds leads is deleted from its own page, where they can be moved."""

    def clean(self):
        # Before super().clean(): its uniqueness check validates every form, and the
        # admin's validation of a deleted form collects every lead of its stage to list
        # them as protected objects.
        self.refuse_deleting_stages_with_leads()
        super().clean()
        # With a bad form the set of kinds is unknown; that form's error is shown already.
        if any(self.errors):
            return
        kinds = [
            form.cleaned_data.get("kind")
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        if PipelineStage.Kind.OPEN not in kinds:
            raise ValidationError(LAST_OPEN_STAGE_MESSAGE, code="no_open_stage")

    def refuse_deleting_stages_with_leads(self):
        deleted = [
            form.instance.pk
            for form in self.forms
            if form.instance.pk and form.cleaned_data and self._should_delete_form(form)
        ]
        if not deleted:
            return
        holding = (
            PipelineStage.objects.filter(pk__in=deleted)
            .annotate(lead_count=Count("leads"))
            .filter(lead_count__gt=0)
            .order_by("order")
        )
        errors = [
            ValidationError(
                format_html(
                    'The stage {} holds {}; <a href="{}">delete it from its own page</a> '
                    "to move them first.",
                    stage.name,
                    count_leads(stage.lead_count),
                    reverse("admin:pipelines_pipelinestage_delete", args=[stage.pk]),
                ),
                code="stage_holds_leads",
            )
            for stage in holding
        ]
        if errors:
            raise ValidationError(errors)


class PipelineStageInline(admin.TabularInline):
    model = PipelineStage
    formset = PipelineStageFormSet
    fields = ["order", "name", "kind", "probability", "colour"]
    ordering = ["order"]

    def get_extra(self, request, obj=None, **kwargs):
        # A new pipeline needs rows to fill in; an existing one has its stages.
        return 3 if obj is None else 0


class PipelineForm(forms.ModelForm):
    """Keeps a default pipeline: it can be handed over, not switched off."""

    class Meta:
        model = Pipeline
        fields = ["name", "is_default", "stale_after_days"]

    def clean_is_default(self):
        is_default = self.cleaned_data["is_default"]
        if self.instance.pk and self.initial.get("is_default") and not is_default:
            raise ValidationError(
                "New leads need a default pipeline. To change it, open the pipeline that "
                'should be the default and use the action "Make this pipeline the default".',
                code="default_required",
            )
        return is_default


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    form = PipelineForm
    list_display = ["name", "is_default", "stage_count", "stale_after_days", "created_at"]
    search_fields = ["name"]
    ordering = ["-is_default", "name"]
    readonly_fields = ["created_at"]
    actions = ["make_default"]
    inlines = [PipelineStageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(stage_count=Count("stages"))

    @admin.display(description="stages", ordering="stage_count")
    def stage_count(self, obj) -> int:
        return obj.stage_count

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        # Pipelines are few; deleting one at a time shows what it would take with it.
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Keeping the last open stage guards a pipeline that stays; a deleted pipeline's
        # stages go with it, for whoever may delete stages.
        if request.user.has_perm("pipelines.delete_pipelinestage"):
            perms_needed.discard(PipelineStage._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    @csrf_protect_m
    def delete_view(self, request, object_id, extra_context=None):
        """Django's confirmation, unless the pipeline's stages hold leads: then say so.

        Django's page would list every lead as a protected object (thousands of them).
        """
        pipeline = self.get_object(request, unquote(object_id))
        if pipeline is None or not self.has_delete_permission(request, pipeline):
            return super().delete_view(request, object_id, extra_context)
        held = pipeline.stages.aggregate(count=Count("leads"))["count"]
        if not held:
            return super().delete_view(request, object_id, extra_context)
        context = {
            **self.admin_site.each_context(request),
            "title": "Cannot delete pipeline",
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "object": pipeline,
            "lead_count": held,
            "leads_url": leads_url(pipeline=pipeline.pk),
            "stages_url": reverse("admin:pipelines_pipelinestage_changelist")
            + f"?pipeline__id__exact={pipeline.pk}",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/pipelines/pipeline/delete_with_leads.html",
            context,
            # Nothing is deleted: a confirmation posted anyway conflicts with the leads.
            status=409 if request.method == "POST" else 200,
        )

    @admin.action(
        description="Make this pipeline the default",
        description_plural="Make the selected pipeline the default",
        permissions=["change"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    def make_default(self, request, queryset):
        pipelines = list(queryset[:2])
        if len(pipelines) != 1:
            self.message_user(request, "Select exactly one pipeline.", messages.ERROR)
            return
        pipeline = pipelines[0]
        if pipeline.first_open_stage() is None:
            self.message_user(
                request, f"{pipeline} has no open stage for new leads to start in.", messages.ERROR
            )
            return
        # Both updates in one transaction: the single-default constraint holds throughout.
        with transaction.atomic():
            Pipeline.objects.filter(is_default=True).exclude(pk=pipeline.pk).update(
                is_default=False
            )
            Pipeline.objects.filter(pk=pipeline.pk).update(is_default=True)
        self.message_user(request, f"{pipeline} is now the default pipeline.", messages.SUCCESS)


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
        return f"{obj.name} (closes them as {obj.get_kind_display().lower()})"


class StageMoveForm(forms.Form):
    """Where the leads of a stage about to be deleted go: another stage of its pipeline."""

    move_to = StageChoiceField(
        queryset=PipelineStage.objects.none(),
        empty_label=None,
        widget=StageSelect,
        label="Move the leads to",
    )

    def __init__(self, *args, stage: PipelineStage, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["move_to"]
        field.queryset = stage.pipeline.stages.exclude(pk=stage.pk).order_by("order")
        field.initial = stage.neighbour()
        field.error_messages["invalid_choice"] = (
            f"Choose another stage of the pipeline {stage.pipeline.name}."
        )
        field.help_text = (
            "Their probability follows the new stage; a won or lost stage closes them. "
            "Each lead's history records the move."
        )


@admin.register(PipelineStage)
class PipelineStageAdmin(admin.ModelAdmin):
    list_display = ["name", "pipeline", "order", "kind", "probability", "colour"]
    list_select_related = ["pipeline"]
    list_filter = ["pipeline", "kind"]
    search_fields = ["name", "pipeline__name"]
    ordering = ["pipeline", "order"]

    def get_queryset(self, request):
        # __str__ shows the pipeline name, in lists and in autocomplete results alike.
        return super().get_queryset(request).select_related("pipeline")

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        # Deleting stages in bulk could remove a pipeline's last open stage unchecked.
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

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
                    f"Moved {count_leads(moved)} from {stage.name} to {target.name}; "
                    "each lead's history records the move.",
                    messages.SUCCESS,
                )
                return self.response_delete(request, str(stage), stage.pk)
        count = stage.leads.count()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Delete the stage {stage.name}",
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
