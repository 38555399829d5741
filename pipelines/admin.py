"""Admin for pipelines, with their stages edited inline.

Deleting a stage that holds leads is the leads' business (leads/admin.py).
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.web.admin_utils import NoBulkDeleteMixin
from pipelines.models import LAST_OPEN_STAGE_MESSAGE, Pipeline, PipelineStage


def leads_url(**filters) -> str:
    """The lead list, every status, filtered by stage or pipeline."""
    return f"{reverse('leads:list')}?{urlencode(filters | {'status': 'all'})}"


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
                    ngettext(
                        'The stage {stage} holds {count} lead; <a href="{url}">delete it from '
                        "its own page</a> to move them first.",
                        'The stage {stage} holds {count} leads; <a href="{url}">delete it from '
                        "its own page</a> to move them first.",
                        stage.lead_count,
                    ),
                    stage=stage.name,
                    count=stage.lead_count,
                    url=reverse("admin:pipelines_pipelinestage_delete", args=[stage.pk]),
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
                gettext(
                    "New leads need a default pipeline. To change it, open the pipeline that "
                    'should be the default and use the action "Make this pipeline the default".'
                ),
                code="default_required",
            )
        return is_default


@admin.register(Pipeline)
class PipelineAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    form = PipelineForm
    list_display = ["name", "is_default", "stage_count", "stale_after_days", "created_at"]
    search_fields = ["name"]
    ordering = ["-is_default", "name"]
    readonly_fields = ["created_at"]
    actions = ["make_default"]
    inlines = [PipelineStageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(stage_count=Count("stages"))

    @admin.display(description=_("stages"), ordering="stage_count")
    def stage_count(self, obj) -> int:
        return obj.stage_count

    # No bulk "Delete selected" (NoBulkDeleteMixin): pipelines are few; deleting one at a
    # time shows what it would take with it.

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
            "title": gettext("Cannot delete pipeline"),
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
        description=_("Make this pipeline the default"),
        description_plural=_("Make the selected pipeline the default"),
        permissions=["change"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    def make_default(self, request, queryset):
        pipelines = list(queryset[:2])
        if len(pipelines) != 1:
            self.message_user(request, gettext("Select exactly one pipeline."), messages.ERROR)
            return
        pipeline = pipelines[0]
        if pipeline.first_open_stage() is None:
            self.message_user(
                request,
                gettext("%(pipeline)s has no open stage for new leads to start in.")
                % {"pipeline": pipeline},
                messages.ERROR,
            )
            return
        # Both updates in one transaction: the single-default constraint holds throughout.
        with transaction.atomic():
            Pipeline.objects.filter(is_default=True).exclude(pk=pipeline.pk).update(
                is_default=False
            )
            Pipeline.objects.filter(pk=pipeline.pk).update(is_default=True)
        self.message_user(
            request,
            gettext("%(pipeline)s is now the default pipeline.") % {"pipeline": pipeline},
            messages.SUCCESS,
        )


# The stages' own admin (PipelineStageAdmin) is in leads/admin.py: deleting a stage moves
# its leads through the lead services, and the layers keep pipelines below leads.
