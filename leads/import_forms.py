"""The import's two forms: the file, then how its columns map to lead fields."""

from django import forms
from django.core.exceptions import ValidationError

from .imports import MAX_FILE_BYTES, ImportFileError, field_labels, read_csv_upload
from .models import LeadImport


class ImportUploadForm(forms.Form):
    """Step 1 of an import: the CSV file."""

    file = forms.FileField(
        label="CSV file",
        help_text="Comma- or semicolon-separated, with a header row; at most 50 MB. "
        "Excel: File › Save as › CSV UTF-8.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
        error_messages={"required": "Choose a CSV file.", "empty": "The file is empty."},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise ValidationError("The file is larger than 50 MB. Split it into smaller files.")
        raw = upload.read()
        try:
            self.csv_file = read_csv_upload(raw)
        except ImportFileError as error:
            raise ValidationError(str(error)) from None
        self.raw = raw
        return upload


class ImportMappingForm(forms.Form):
    """Step 2: which lead field each column fills, and how to treat bad rows and duplicates."""

    mode = forms.ChoiceField(
        label="Rows with errors",
        choices=LeadImport.Mode.choices,
        widget=forms.RadioSelect,
    )
    duplicates = forms.ChoiceField(
        label="A row whose title and client match an existing lead",
        choices=LeadImport.Duplicates.choices,
        widget=forms.RadioSelect,
    )
    create_clients = forms.BooleanField(
        label="Create clients that do not exist yet", required=False
    )

    def __init__(self, *args, headers: list[str], samples: list[list[str]], **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.columns = []
        choices = [("", "— Ignore this column —"), *field_labels().items()]
        for index, header in enumerate(headers):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header or f"Column {index + 1}", choices=choices, required=False
            )
            example = next((row[index] for row in samples if index < len(row) and row[index]), "")
            self.columns.append({"field": name, "example": example[:60]})

    def bound_columns(self):
        return [(self[column["field"]], column["example"]) for column in self.columns]

    def clean(self):
        cleaned = super().clean()
        chosen = [cleaned.get(column["field"]) for column in self.columns]
        used = [key for key in chosen if key]
        if "title" not in used:
            raise ValidationError("Choose the column that holds the lead's title.")
        twice = sorted({key for key in used if used.count(key) > 1})
        if twice:
            raise ValidationError(
                "Each field can come from one column only: " + ", ".join(twice) + "."
            )
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {
            str(index): self.cleaned_data[column["field"]]
            for index, column in enumerate(self.columns)
            if self.cleaned_data.get(column["field"])
        }
