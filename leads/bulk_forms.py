"""The lead list's bulk action: which leads, what to do with them, and with what."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.web.memo import prime
from crm.web.params import whole_number
from pipelines.models import PipelineStage, all_stages

from .assignees import active_user_list, listed_names
from .bulk_models import BulkChange
from .forms import CLOSING_MESSAGES, CLOSING_WIDGETS, GroupedStageField
from .models import Lead, LossReason, Priority

#: What "nobody" is in the assignee choice (an empty choice is "not chosen").
NOBODY = "none"
#: Ids a page can send: the largest page the list shows.
MAX_PAGE_IDS = 100


class LeadIdsField(forms.Field):
    """The ids of the leads ticked on the page (``<input name="lead">``, repeated)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        ids = [whole_number(str(item)) for item in (value or [])]
        if any(pk is None for pk in ids):
            raise ValidationError(
                gettext("A selected lead is not a lead: reload the page."), code="invalid"
            )
        if len(ids) > MAX_PAGE_IDS:
            raise ValidationError(
                gettext("Tick at most %(count)d leads, or select all matching.")
                % {"count": MAX_PAGE_IDS},
                code="too_many",
            )
        return list(dict.fromkeys(ids))


class BulkActionForm(forms.Form):
    """What to do with the selected leads: the leads ticked on the page (``lead``), or
    every lead matching the list's filters (``scope=all``, the filters read by the view
    from the URL, never a list of ids); the action (the submit button pressed) and what
    it needs. A move to a lost stage needs the loss reason, asked once for all."""

    SCOPE_ALL = "all"

    lead = LeadIdsField(required=False)
    scope = forms.ChoiceField(
        choices=[("", _("The leads ticked")), (SCOPE_ALL, _("All matching"))], required=False
    )
    action = forms.ChoiceField(
        choices=BulkChange.Action.choices,
        error_messages={
            "required": _("Choose what to do with the selected leads."),
            "invalid_choice": _("That is not something the list can do with leads."),
        },
    )
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    stage = GroupedStageField(
        label=_("Move to"), queryset=PipelineStage.objects.none(), required=False
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=[("", _("Choose…")), *Priority.choices], required=False
    )
    lost_reason = forms.ModelChoiceField(
        label=_("Reason"), queryset=LossReason.objects.none(), required=False
    )
    competitor = forms.CharField(
        label=_("Competitor"), max_length=100, required=False, widget=CLOSING_WIDGETS["competitor"]
    )
    lost_note = forms.CharField(
        label=_("Note"), max_length=500, required=False, widget=CLOSING_WIDGETS["lost_note"]
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.users = {str(user.pk): (name, user) for name, user in listed_names(active_user_list())}
        self.fields["assignee"].choices = [
            ("", gettext("Choose…")),
            (NOBODY, gettext("Nobody (unassigned)")),
            *((pk, name) for pk, (name, _) in self.users.items()),
        ]
        stage = self.fields["stage"]
        stage.queryset = PipelineStage.objects.select_related("pipeline").order_by(
            "-pipeline__is_default", "pipeline__name", "order"
        )
        prime(stage.queryset, all_stages())  # the stages the list's filters read this request
        stage.choices = [("", gettext("Choose…")), *stage.grouped_choices()]
        stage.error_messages["invalid_choice"] = gettext(
            "That stage no longer exists: reload the page."
        )
        reason = self.fields["lost_reason"]
        reason.queryset = LossReason.objects.offered()
        reason.empty_label = gettext("Choose a reason")
        reason.error_messages["invalid_choice"] = gettext(
            "That reason is no longer offered: choose another."
        )
        reason.widget.attrs["autofocus"] = True
        for name in ("competitor", "lost_note"):
            self.fields[name].error_messages |= CLOSING_MESSAGES[name]

    @property
    def all_matching(self) -> bool:
        return self.cleaned_data.get("scope") == self.SCOPE_ALL

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not cleaned.get("lead") and cleaned.get("scope") != self.SCOPE_ALL:
            raise ValidationError(
                gettext("Select at least one lead first."), code="nothing_selected"
            )
        action = cleaned.get("action")
        if action == BulkChange.Action.ASSIGN and not cleaned.get("assignee"):
            self.add_error("assignee", gettext("Choose who gets the leads (or nobody)."))
        if action == BulkChange.Action.PRIORITY and not cleaned.get("priority"):
            self.add_error("priority", gettext("Choose a priority."))
        if action == BulkChange.Action.STAGE:
            stage = cleaned.get("stage")
            if stage is None and "stage" not in self.errors:
                self.add_error("stage", gettext("Choose a stage to move the leads to."))
            elif stage is not None and stage.kind == PipelineStage.Kind.LOST:
                self._check_lost(stage, cleaned)
        return cleaned

    def _check_lost(self, stage, cleaned) -> None:
        """The model's own rule for a lost lead's reason and note, once for all."""
        lead = Lead(
            stage=stage,
            lost_reason=cleaned.get("lost_reason"),
            lost_note=cleaned.get("lost_note") or "",
            actual_close_date=timezone.localdate(),
        )
        try:
            lead.clean_closing()
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, messages)

    @property
    def needs_closing(self) -> bool:
        """A move to a lost stage that lacks what the stage asks: the dialog asks it."""
        return self.cleaned_data.get("stage") is not None and bool(
            {"lost_reason", "lost_note", "competitor"} & set(self.errors)
        )

    def values(self) -> dict:
        """What the action writes, as the lead services take it (a lost stage's
        closing fields included; a won stage's are each lead's own: today, its value)."""
        cleaned, action = self.cleaned_data, self.cleaned_data["action"]
        if action == BulkChange.Action.ASSIGN:
            return {"assignee": self.chosen_assignee()}
        if action == BulkChange.Action.PRIORITY:
            return {"priority": cleaned["priority"]}
        if action == BulkChange.Action.STAGE:
            stage = cleaned["stage"]
            values = {"stage": stage}
            if stage.kind == PipelineStage.Kind.LOST:
                values |= {name: cleaned[name] for name in ("lost_reason", "competitor")}
                values["lost_note"] = cleaned["lost_note"]
            return values
        return {}

    def chosen_assignee(self):
        chosen = self.cleaned_data["assignee"]
        return None if chosen == NOBODY else self.users[chosen][1]

    def describe(self) -> str:
        """The action as people read it: "Move to Lost (Price too high)"."""
        cleaned, action = self.cleaned_data, self.cleaned_data["action"]
        if action == BulkChange.Action.ASSIGN:
            chosen = cleaned["assignee"]
            if chosen == NOBODY:
                return gettext("Unassign")
            return gettext("Assign to %(name)s") % {"name": self.users[chosen][0]}
        if action == BulkChange.Action.PRIORITY:
            return gettext("Set priority to %(priority)s") % {
                "priority": Priority(cleaned["priority"]).label
            }
        if action == BulkChange.Action.STAGE:
            stage = cleaned["stage"]
            if cleaned.get("lost_reason"):
                return gettext("Move to %(stage)s (%(reason)s)") % {
                    "stage": stage.name,
                    "reason": cleaned["lost_reason"].name,
                }
            return gettext("Move to %(stage)s") % {"stage": stage.name}
        return BulkChange.Action(action).label
