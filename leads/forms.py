"""The lead form: every field, friendly messages, and what a typed value may look like."""

import re
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Client, Contact
from pipelines.models import PipelineStage

from .assignees import NOT_FOUND, find_assignee
from .assignment import person
from .events import recorded_value, show_value
from .filters import user_label
from .models import CLOSING_FIELDS, Absence, Lead, LeadSource, LossReason, Priority

PROBABILITY_ERROR = _("Probability must be between 0 and 100.")
DESCRIPTION_ERROR = _("Description must be at most 5000 characters.")


class MoneyField(forms.DecimalField):
    """A euro amount as people type it: "25000", "€ 25.000", "1,234.56" or "1.234,56"."""

    def to_python(self, value):
        if isinstance(value, str):
            value = normalise_amount(value)
        return super().to_python(value)


def normalise_amount(text: str) -> str:
    """Strip the currency and spaces; read the last of "," or "." as the decimal mark."""
    text = re.sub(r"[€\s\u00a0]|EUR", "", text.strip(), flags=re.IGNORECASE)
    if not text:
        return text
    last_comma, last_dot = text.rfind(","), text.rfind(".")
    if last_comma > last_dot:
        # "1.234,56" or "25,5": the comma is the decimal mark, dots group thousands.
        digits_after = len(text) - last_comma - 1
        if last_dot == -1 and digits_after == 3 and text.count(",") >= 1:
            return text.replace(",", "")  # "25,000" means twenty-five thousand
        return text.replace(".", "").replace(",", ".")
    if last_dot > last_comma and last_comma != -1:
        return text.replace(",", "")  # "1,234.56"
    if text.count(".") > 1:
        return text.replace(".", "")  # "1.234.567"
    if last_dot != -1 and len(text) - last_dot - 1 == 3 and text[0] != "0":
        return text.replace(".", "")  # "25.000" means twenty-five thousand
    return text


class GroupedStageField(forms.ModelChoiceField):
    """Stages offered in one <optgroup> per pipeline, the default pipeline first."""

    def label_from_instance(self, obj):
        return obj.name

    def grouped_choices(self):
        groups: dict[str, list] = {}
        for stage in self.queryset:
            groups.setdefault(stage.pipeline.name, []).append((stage.pk, stage.name))
        return list(groups.items())


CLOSING_WIDGETS = {
    "actual_close_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    "competitor": forms.TextInput(
        attrs={"list": "competitor-options", "maxlength": 100, "autocomplete": "off"}
    ),
    "lost_note": forms.Textarea(attrs={"rows": 3, "maxlength": 500}),
}
CLOSING_MESSAGES = {
    "actual_close_date": {"invalid": _("Enter a date, for example 2026-11-30.")},
    "lost_note": {
        "max_length": _("The note can be at most 500 characters (it has %(show_value)d).")
    },
    "competitor": {
        "max_length": _(
            "The competitor's name can be at most 100 characters (it has %(show_value)d)."
        )
    },
}


def won_value_field() -> MoneyField:
    return MoneyField(
        label=_("Won value (EUR)"),
        required=False,
        max_digits=14,
        decimal_places=2,
        min_value=0,
        localize=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text=_("What the deal was won for; the lead's value follows it."),
        error_messages={
            "invalid": _("Enter an amount, for example 25000 or 25.000,50."),
            "min_value": _("Won value must be non-negative."),
        },
    )


#: More clients than this, and the lead form offers a search for the client rather than
#: a list of every one (50,000 options made the form 3.8 MB and 2 s at a million leads).
CLIENT_CHOICES_MAX = 200
#: The clients a search offers at most, and the longest search it reads.
FOUND_CLIENTS_MAX = 50
CLIENT_QUERY_MAX = 100


class LeadForm(forms.ModelForm):
    """Create and edit a lead; the version field detects edits made meanwhile."""

    value = MoneyField(
        label=_("Value (EUR)"),
        required=False,
        max_digits=14,
        decimal_places=2,
        localize=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text=_("Leave empty when unknown."),
        error_messages={"invalid": _("Enter an amount, for example 25000 or 25.000,50.")},
    )
    probability = forms.IntegerField(
        label=_("Probability (%)"),
        required=False,
        min_value=0,
        max_value=100,
        error_messages={
            "min_value": PROBABILITY_ERROR,
            "max_value": PROBABILITY_ERROR,
            "invalid": _("Enter a whole number between 0 and 100."),
        },
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 1}),
        help_text=_("Set from the stage when you leave it empty."),
    )
    stage = GroupedStageField(
        label=_("Stage"), queryset=PipelineStage.objects.none(), empty_label=None
    )
    won_value = won_value_field()
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Lead
        fields = [
            "title",
            "client",
            "contact",
            "stage",
            "value",
            "probability",
            "priority",
            "expected_close_date",
            "source",
            "assignee",
            "category",
            "description",
            # How it closed: asked when the stage is won or lost (``closing_kind``).
            "lost_reason",
            "competitor",
            "lost_note",
            "won_value",
            "actual_close_date",
        ]
        widgets = {
            "expected_close_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "description": forms.Textarea(attrs={"rows": 6, "maxlength": 5000}),
            "category": forms.TextInput(attrs={"list": "category-options"}),
            **CLOSING_WIDGETS,
        }
        error_messages = {
            "title": {"required": _("Title is required.")},
            "stage": {"required": _("Choose a stage.")},
            **CLOSING_MESSAGES,
        }
        help_texts = {"description": _("At most 5000 characters.")}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["title"].widget.attrs.update({"autofocus": True, "maxlength": 255})
        self.fields["description"].error_messages["max_length"] = DESCRIPTION_ERROR
        instance = self.instance

        stage = self.fields["stage"]
        stage.queryset = PipelineStage.objects.select_related("pipeline").order_by(
            "-pipeline__is_default", "pipeline__name", "order"
        )
        stage.choices = stage.grouped_choices()
        if not instance.pk and not self.initial.get("stage"):
            self.initial["stage"] = instance.stage_id

        self.fields["source"].queryset = LeadSource.objects.filter(
            Q(active=True) | Q(pk=instance.source_id)
        )
        self.fields["source"].empty_label = gettext("No source")
        reason = self.fields["lost_reason"]
        reason.queryset = LossReason.objects.offered(instance.lost_reason_id)
        reason.empty_label = gettext("Choose a reason")
        reason.error_messages["invalid_choice"] = gettext(
            "That reason is not offered: choose another."
        )

        users = get_user_model().objects.filter(Q(is_active=True) | Q(pk=instance.assignee_id))
        assignee = self.fields["assignee"]
        assignee.queryset = users.order_by("first_name", "username")
        assignee.label_from_instance = user_label
        assignee.empty_label = gettext("Unassigned")

        self.fields["client"].queryset = Client.objects.filter(
            Q(deleted_at__isnull=True) | Q(pk=instance.client_id)
        )
        query = self.data.get("client_q") if self.is_bound else self.initial.get("client_q")
        self.offer_clients(str(query or "")[:CLIENT_QUERY_MAX].strip())
        client_id = self.selected_client_id()
        contacts = Contact.objects.filter(Q(deleted_at__isnull=True) | Q(pk=instance.contact_id))
        # Any contact validates (clean() says clearly when it is not the client's); only
        # the chosen client's contacts are offered.
        contact = self.fields["contact"]
        contact.queryset = contacts
        offered = contacts.filter(client_id=client_id) if client_id else contacts.none()
        contact.choices = [
            ("", gettext("No contact") if client_id else gettext("Choose a client first")),
            *((c.pk, c.name) for c in offered),
        ]
        if instance.pk:
            self.initial.setdefault("version", instance.version)
        if not self.is_bound and self.closing_kind():  # what closing it would default to
            if self.initial.get("actual_close_date") is None:
                self.initial["actual_close_date"] = timezone.localdate()
            if self.closing_kind() == "won" and self.initial.get("won_value") is None:
                self.initial["won_value"] = instance.value

    def offer_clients(self, query: str) -> None:
        """The client choices: every client while there are few; past
        ``CLIENT_CHOICES_MAX`` the form offers a search instead (``client_search``), and
        the clients whose name holds ``query`` (at most ``FOUND_CLIENTS_MAX``) beside the
        one chosen. Any live client still validates: only what is drawn is narrowed."""
        field = self.fields["client"]
        clients = field.queryset.order_by("name", "pk")
        offered = list(clients.values_list("pk", "name")[: CLIENT_CHOICES_MAX + 1])
        self.client_search = len(offered) > CLIENT_CHOICES_MAX
        self.client_query = query
        self.found_max = FOUND_CLIENTS_MAX
        if self.client_search:
            found = clients.filter(name__icontains=query) if query else clients.none()
            offered = list(found.values_list("pk", "name")[:FOUND_CLIENTS_MAX])
            self.clients_found = len(offered)
            chosen = self.selected_client_id()
            if chosen and chosen not in {pk for pk, _ in offered}:
                offered[:0] = clients.filter(pk=chosen).values_list("pk", "name")
        field.choices = [("", gettext("No client")), *offered]

    def selected_client_id(self) -> int | None:
        """The client the contact choices follow: typed, pre-filled, or the lead's own."""
        raw = (
            self.data.get(self.add_prefix("client"))
            if self.is_bound
            else self.initial.get("client", self.instance.client_id)
        )
        if isinstance(raw, Client):
            return raw.pk
        try:
            return int(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            return None

    def selected_stage(self) -> PipelineStage | None:
        """The stage chosen (typed, pre-filled or the lead's own): it says whether the
        form asks how the lead closed."""
        raw = (
            self.data.get(self.add_prefix("stage"))
            if self.is_bound
            else self.initial.get("stage", self.instance.stage_id)
        )
        if isinstance(raw, PipelineStage):
            return raw
        try:
            return self.fields["stage"].queryset.filter(pk=int(raw)).first() if raw else None
        except (TypeError, ValueError):
            return None

    def closing_kind(self) -> str | None:
        """ "won" or "lost" when the chosen stage closes the lead (the form asks how)."""
        stage = self.selected_stage()
        return None if stage is None or stage.is_open else stage.kind

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise ValidationError(gettext("Title is required."), code="required")
        return title

    def clean_value(self):
        value = self.cleaned_data.get("value")
        if value is not None and value < Decimal(0):
            raise ValidationError(gettext("Value must be non-negative."), code="min_value")
        return value

    def clean(self):
        cleaned = super().clean()
        client, contact = cleaned.get("client"), cleaned.get("contact")
        if contact and not client:
            # Choosing only a contact implies its client.
            cleaned["client"] = contact.client
        elif contact and client and contact.client_id != client.pk:
            self.add_error(
                "contact",
                gettext("%(contact)s is not a contact of %(client)s.")
                % {"contact": contact.name, "client": client.name},
            )
        return cleaned

    def values(self) -> dict:
        """The typed values of the lead's fields, for the services."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    @property
    def warnings(self) -> dict[str, str]:
        """Things worth saying that do not stop a save."""
        warnings = {}
        close = (
            self.cleaned_data.get("expected_close_date") if hasattr(self, "cleaned_data") else None
        )
        if close and not self.instance.pk and close < timezone.localdate():
            warnings["expected_close_date"] = gettext("Expected close date is in the past.")
        return warnings


class LeadCaptureForm(forms.ModelForm):
    """What a website's post says of a new lead (``leads.capture``): its title and
    description, by the lead form's rules and in its words. Where it lands and who gets
    it are the capture form's, set on the instance before validation."""

    clean_title = LeadForm.clean_title

    class Meta:
        model = Lead
        fields = ["title", "description"]
        error_messages = {"title": LeadForm.Meta.error_messages["title"]}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["description"].error_messages["max_length"] = DESCRIPTION_ERROR


class StageMoveForm(forms.ModelForm):
    """A move to another stage of the lead's pipeline; into a won or lost stage, how the
    lead closed. The model's ``clean_closing`` says what a closed lead needs."""

    won_value = won_value_field()

    class Meta:
        model = Lead
        fields = ["stage", *CLOSING_FIELDS]
        widgets = CLOSING_WIDGETS
        error_messages = CLOSING_MESSAGES
        labels = {"actual_close_date": _("Close date")}

    def __init__(self, *args, lead: Lead, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, instance=lead, **kwargs)
        self.fields["stage"].queryset = PipelineStage.objects.filter(
            pipeline_id=lead.stage.pipeline_id
        )
        reason = self.fields["lost_reason"]
        reason.queryset = LossReason.objects.offered(lead.lost_reason_id)
        reason.empty_label = gettext("Choose a reason")
        reason.label = gettext("Reason")
        reason.error_messages["invalid_choice"] = gettext(
            "That reason is no longer offered: choose another."
        )
        self.fields["lost_note"].label = gettext("Note")
        # The first field of either kind's form (a lost one shows the reason first).
        reason.widget.attrs["autofocus"] = True
        self.fields["actual_close_date"].widget.attrs["autofocus"] = True
        if self.initial.get("actual_close_date") is None:
            self.initial["actual_close_date"] = timezone.localdate()
        if self.initial.get("won_value") is None:
            self.initial["won_value"] = lead.value

    def closing(self) -> dict:
        """How the lead closed, for ``lead_move_stage``: what the target stage asks."""
        stage = self.cleaned_data["stage"]
        if stage.is_open:
            return {}
        names = ["actual_close_date"]
        if stage.kind == PipelineStage.Kind.WON:
            names.append("won_value")
        else:
            names += ["lost_reason", "competitor", "lost_note"]
        return {name: self.cleaned_data[name] for name in names}


class NoteForm(forms.Form):
    """A note on a lead's timeline."""

    text = forms.CharField(
        label=_("Add note"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 5000}),
        error_messages={
            "required": _("A note cannot be empty."),
            "max_length": _("A note can be at most 5000 characters (it has %(show_value)d)."),
        },
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class AssignForm(forms.Form):
    """The assign picker: who was typed (``find_assignee``), as an active user; empty
    unassigns (None). "Assign to me" (``me``) gives the lead to ``user``, whatever was
    typed."""

    # Room for the longest name the picker lists, "first last (username)" (150 each).
    assignee = forms.CharField(
        required=False, max_length=500, error_messages={"max_length": NOT_FOUND}
    )
    me = forms.BooleanField(required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_assignee(self):
        if self.data.get("me") and self.user is not None:
            return self.user
        typed = self.cleaned_data["assignee"]
        return find_assignee(typed) if typed else None


class PriorityForm(forms.Form):
    """A lead's priority alone (a board card's quick action)."""

    priority = forms.ChoiceField(
        choices=Priority.choices,
        error_messages={
            "required": _("Choose a priority."),
            "invalid_choice": _("Choose a priority: urgent, high, normal or low."),
        },
    )


class AbsenceForm(forms.ModelForm):
    """An absence of one of a team's members (the Teams page): the model's rules, each
    error under its field. The members offered are the team's, as the page loaded them."""

    membership = forms.TypedChoiceField(label=_("Member"), coerce=int)

    class Meta:
        model = Absence
        fields = ["membership", "starts_on", "ends_on", "note"]
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "ends_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }
        error_messages = {
            "starts_on": {"required": _("Enter the first day of the absence.")},
            "ends_on": {"required": _("Enter the last day of the absence.")},
        }

    def __init__(self, *args, team, **kwargs):
        # Each team's form on the page has ids of its own.
        kwargs.setdefault("auto_id", f"id_team{team.pk}_%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.team = team
        self.members = {member.pk: member for member in team.members}
        self.fields["membership"].choices = [
            ("", gettext("Choose a member")),
            *((member.pk, person(member.user)) for member in team.members),
        ]
        self.fields["membership"].error_messages["required"] = gettext(
            "Choose whose absence it is."
        )

    def clean_membership(self):
        return self.members[self.cleaned_data["membership"]]


#: The fields a merge takes from either lead: the lead form's. A lead's stage comes with
#: its probability and how it closed (the model's rules tie them).
MERGE_FIELDS = (
    "title",
    "client",
    "contact",
    "stage",
    "value",
    "priority",
    "expected_close_date",
    "source",
    "assignee",
    "category",
    "description",
)


def merge_shown(lead: Lead, name: str) -> str:
    """A field of a lead as the merge page shows it: labels, names, money, dates; a
    closed lead's stage with how it closed; "—" for nothing."""
    value = getattr(lead, name)
    if name == "assignee":
        return user_label(value) if value else "—"
    if name == "description":
        return value or "—"
    if name == "stage":
        stage = (
            f"{value.name} ({value.pipeline.name}), {show_value('probability', lead.probability)}"
        )
        facts = lead.closing_facts()
        if reason := facts.get("lost_reason"):
            if competitor := facts.get("competitor"):
                return gettext("%(stage)s; lost: %(reason)s, to %(competitor)s") % {
                    "stage": stage,
                    "reason": reason,
                    "competitor": competitor,
                }
            return gettext("%(stage)s; lost: %(reason)s") % {"stage": stage, "reason": reason}
        if won := facts.get("won_value"):
            return gettext("%(stage)s; won for %(value)s") % {
                "stage": stage,
                "value": show_value("won_value", won),
            }
        return stage
    return show_value(name, recorded_value(name, value))


def merge_compared(lead: Lead, name: str):
    """What of a field two leads must share to be alike: a stage's probability and how
    the lead closed too."""
    if name == "stage":
        return (lead.stage_id, lead.probability, lead.closing_facts())
    return getattr(lead, Lead._meta.get_field(name).attname)


class LeadMergeForm(forms.Form):
    """Which of two leads each field of the merged lead comes from ("keep": the lead that
    stays; "other": the one merged into it, and deleted), for the fields where they
    differ; the description may take both. The versions say which state of the leads the
    picks were made on: ``leads_merge`` refuses leads changed since."""

    KEEP, OTHER, BOTH = "keep", "other", "both"

    keep_version = forms.IntegerField(widget=forms.HiddenInput)
    other_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, keep: Lead, other: Lead, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.keep, self.other = keep, other
        self.initial.setdefault("keep_version", keep.version)
        self.initial.setdefault("other_version", other.version)
        #: Every field, in order: its label, and its field name here where the leads
        #: differ, else the value they share.
        self.rows = []
        for name in MERGE_FIELDS:
            model_field = Lead._meta.get_field(name)
            label = str(model_field.verbose_name).split(" (")[0]
            label = label[:1].upper() + label[1:]
            mine, theirs = merge_compared(keep, name), merge_compared(other, name)
            if mine == theirs:
                self.rows.append({"label": label, "same": merge_shown(keep, name)})
                continue
            choices = [(self.KEEP, merge_shown(keep, name)), (self.OTHER, merge_shown(other, name))]
            if name == "description" and mine and theirs:
                choices.append((self.BOTH, gettext("Both: this lead’s, then the other’s")))
            choose = gettext("Choose which %(field)s the merged lead keeps.") % {
                "field": label.lower()
            }
            self.fields[f"pick_{name}"] = forms.ChoiceField(
                label=label,
                choices=choices,
                widget=forms.RadioSelect,
                # A field only one lead has filled in keeps it.
                initial=self.OTHER if mine in (None, "") else self.KEEP,
                error_messages={
                    "required": choose,
                    "invalid_choice": choose,
                },
            )
            self.rows.append({"label": label, "field": f"pick_{name}"})

    def comparison(self) -> list[dict]:
        """The rows of the page: each field's label, and its choice (``bound``) or the
        value both leads share (``same``)."""
        return [row | {"bound": self[row["field"]]} if "field" in row else row for row in self.rows]

    def values(self) -> dict:
        """The picked values, for ``leads_merge``: only those taken from the other lead
        (or joined), since the kept lead holds its own already. The other's stage comes
        with its probability and how it closed."""
        values = {}
        for name in MERGE_FIELDS:
            pick = self.cleaned_data.get(f"pick_{name}")
            if pick == self.OTHER and name == "stage":
                names = ["stage", "probability", *CLOSING_FIELDS]
                values |= {field: getattr(self.other, field) for field in names}
            elif pick == self.OTHER:
                values[name] = getattr(self.other, name)
            elif pick == self.BOTH:
                values[name] = f"{self.keep.description}\n\n{self.other.description}"
        return values

    def versions(self) -> dict[int, int]:
        return {
            self.keep.pk: self.cleaned_data["keep_version"],
            self.other.pk: self.cleaned_data["other_version"],
        }
