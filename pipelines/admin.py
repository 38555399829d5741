"""Admin for pipelines, with their stages edited inline."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from pipelines.models import Pipeline, PipelineStage

LAST_OPEN_STAGE_MESSAGE = "A pipeline must keep at least one open stage."


class PipelineStageFormSet(BaseInlineFormSet):
    """The stages of one pipeline, checked together: at least one must stay open."""

    def clean(self):
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
        if (
            obj is not None
            and obj.is_open
            and not obj.pipeline.stages.filter(kind=PipelineStage.Kind.OPEN)
            .exclude(pk=obj.pk)
            .exists()
        ):
            return False
        return super().has_delete_permission(request, obj)
