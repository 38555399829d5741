"""The import's choices have one home: the model's TextChoices, which the form offers."""

from leads.import_forms import ImportMappingForm
from leads.models import LeadImport


def test_the_mapping_form_offers_the_models_modes_and_duplicate_treatments():
    form = ImportMappingForm(headers=["Title"], samples=[])
    assert form.fields["mode"].choices == LeadImport.Mode.choices
    assert form.fields["duplicates"].choices == LeadImport.Duplicates.choices
