"""The import's forms: the file, how its columns map to lead fields, and which of our
stages each of the file's stages becomes."""

import hashlib

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_lazy

from .import_columns import GENERIC
from .imports import (
    MAX_FILE_BYTES,
    ImportFileError,
    Recognised,
    StageSeen,
    field_labels,
    name_key,
    propose_stage,
    read_csv_upload,
    stage_choices,
)
from .models import LeadImport


class ImportUploadForm(forms.Form):
    """Step 1 of an import: what the file holds, and the CSV file."""

    kind = forms.ChoiceField(
        label=gettext_lazy("The file holds"),
        choices=LeadImport.Kind.choices,
        initial=LeadImport.Kind.LEADS,
        required=False,  # a plain upload (an older page, a script) holds deals
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "Switching from another CRM? Import its organizations and people first, then "
            "its deals: they find their clients and contacts by name."
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "Comma- or semicolon-separated, with a header row; at most 50 MB. "
            "Excel: File › Save as › CSV UTF-8."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
        error_messages={
            "required": gettext_lazy("Choose a CSV file."),
            "empty": gettext_lazy("The file is empty."),
        },
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_kind(self):
        return self.cleaned_data["kind"] or LeadImport.Kind.LEADS

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise ValidationError(
                gettext("The file is larger than 50 MB. Split it into smaller files.")
            )
        raw = upload.read()
        try:
            self.csv_file = read_csv_upload(raw, self.cleaned_data.get("kind", "leads"))
        except ImportFileError as error:
            raise ValidationError(str(error)) from None
        self.raw = raw
        return upload


class ImportMappingForm(forms.Form):
    """Step 2: which lead field each column fills, and how to treat bad rows and duplicates."""

    mode = forms.ChoiceField(
        label=gettext_lazy("Rows with errors"),
        choices=LeadImport.Mode.choices,
        widget=forms.RadioSelect,
    )
    duplicates = forms.ChoiceField(
        label=gettext_lazy("A row whose title and client match an existing lead"),
        choices=LeadImport.Duplicates.choices,
        widget=forms.RadioSelect,
    )
    create_clients = forms.BooleanField(
        label=gettext_lazy("Create clients that do not exist yet"), required=False
    )
    create_contacts = forms.BooleanField(
        label=gettext_lazy("Create contacts that their client does not have yet"),
        required=False,
    )
    template_name = forms.CharField(
        label=gettext_lazy("Save this mapping as"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "Optional, for example “Pipedrive export”: the next file with the same columns "
            "arrives mapped like this one, stages included."
        ),
    )

    def __init__(
        self,
        *args,
        headers: list[str],
        samples: list[list[str]],
        recognised: dict[str, Recognised] | None = None,
        template=None,
        kind: str = LeadImport.Kind.LEADS,
        **kwargs,
    ):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.kind = kind
        if kind != LeadImport.Kind.LEADS:
            del self.fields["create_contacts"]
            self.fields["create_clients"].required = False
            self.fields["duplicates"].label = gettext(
                "A row naming an organization or person that exists already"
            )
            self.fields["duplicates"].choices = [
                (LeadImport.Duplicates.SKIP, gettext("Skip the row")),
                (LeadImport.Duplicates.UPDATE, gettext("Update the existing record")),
                (LeadImport.Duplicates.CREATE, gettext("Create a new record anyway")),
            ]
        self.columns = []
        labels = field_labels(kind)
        choices = [("", gettext("— Ignore this column —")), *labels.items()]
        recognised = recognised or {}
        for index, header in enumerate(headers):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header or gettext("Column %(number)d") % {"number": index + 1},
                choices=choices,
                required=False,
            )
            example = next((row[index] for row in samples if index < len(row) and row[index]), "")
            self.columns.append(
                {
                    "field": name,
                    "example": example[:60],
                    "why": self._why(str(index), labels, recognised, template),
                }
            )

    @staticmethod
    def _why(index, labels, recognised, template) -> str:
        """Why a column arrived mapped as it did: "Title (Pipedrive)", or the template's
        name; "" for a column nothing recognised."""
        if template is not None:
            key = template.mapping.get(index)
            if key in labels:
                return gettext("%(field)s (saved mapping “%(name)s”)") % {
                    "field": labels[key],
                    "name": template.name,
                }
            return ""
        if (seen := recognised.get(index)) is None:
            return ""
        if seen.product == GENERIC:
            return str(labels[seen.field])
        return gettext("%(field)s (%(product)s)") % {
            "field": labels[seen.field],
            "product": seen.product,
        }

    def bound_columns(self):
        return [
            (self[column["field"]], column["example"], column["why"]) for column in self.columns
        ]

    def clean(self):
        cleaned = super().clean()
        chosen = [cleaned.get(column["field"]) for column in self.columns]
        used = [key for key in chosen if key]
        if self.kind == LeadImport.Kind.LEADS and "title" not in used:
            raise ValidationError(gettext("Choose the column that holds the lead's title."))
        if self.kind != LeadImport.Kind.LEADS and not {"name", "first_name", "last_name"} & set(
            used
        ):
            raise ValidationError(gettext("Choose the column that holds the name."))
        if self.kind == LeadImport.Kind.CONTACTS and "client" not in used:
            raise ValidationError(
                gettext("Choose the column that holds each person's organization.")
            )
        twice = sorted({key for key in used if used.count(key) > 1})
        if twice:
            raise ValidationError(
                gettext("Each field can come from one column only: %(fields)s.")
                % {"fields": ", ".join(twice)}
            )
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {
            str(index): self.cleaned_data[column["field"]]
            for index, column in enumerate(self.columns)
            if self.cleaned_data.get(column["field"])
        }


class ImportStageForm(forms.Form):
    """Step 3: for each stage name in the file, our stage it becomes (proposed, confirmed
    or changed by the user)."""

    def __init__(self, *args, seen: list[StageSeen], stage_map: dict[str, int], **kwargs):
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("prefix", "stage")
        super().__init__(*args, **kwargs)
        stages = stage_choices()
        groups: dict[str, list] = {}
        for stage in stages:
            groups.setdefault(stage.pipeline.name, []).append((str(stage.pk), stage.name))
        choices = [("", gettext("— Not matched: its rows are refused —")), *groups.items()]
        self.rows = []
        matched = {name_key(name): pk for name, pk in stage_map.items()}
        for entry in seen:
            name = "s" + hashlib.sha1(entry.name.casefold().encode()).hexdigest()[:12]
            proposal = propose_stage(entry, stages)
            chosen = matched.get(name_key(entry.name))
            self.fields[name] = forms.ChoiceField(
                label=entry.name,
                choices=choices,
                required=False,
                initial=str(chosen if chosen is not None else getattr(proposal.stage, "pk", "")),
            )
            self.rows.append({"field": name, "seen": entry, "proposal": proposal})
        if self.is_bound:
            # A stage column chosen just now has names the page did not show yet: those
            # start at their proposals rather than at "not matched".
            data = self.data.copy()
            for row in self.rows:
                key = self.add_prefix(row["field"])
                if key not in data:
                    data[key] = self.fields[row["field"]].initial
            self.data = data

    def bound_rows(self):
        return [(self[row["field"]], row["seen"], row["proposal"]) for row in self.rows]

    def stage_map(self) -> dict[str, int]:
        """{their stage name: our stage id} for every name the user matched."""
        return {
            row["seen"].name: int(self.cleaned_data[row["field"]])
            for row in self.rows
            if self.cleaned_data.get(row["field"])
        }
