"""The importer takes its fields from the lead form and its rules from the model.

Adding a field to a lead should mean the model, a migration, the form's field list and
the template, and nothing in the importer: these tests fail if the importer keeps a list
or a rule of its own.
"""

import pytest
from django.core.validators import RegexValidator

from leads import imports
from leads.forms import LeadForm
from leads.imports import Lookups, auto_mapping, convert_row, field_labels, importable_fields
from leads.models import Lead, Priority
from tests.factories import default_stage


@pytest.fixture(autouse=True)
def _fresh_header_names():
    imports._header_names.cache_clear()
    yield
    imports._header_names.cache_clear()


def convert(values: dict[str, str]):
    mapping = {str(index): key for index, key in enumerate(values)}
    return convert_row(2, list(values.values()), mapping, Lookups())


def test_every_field_of_the_lead_form_can_be_imported_under_its_label():
    assert importable_fields() == list(LeadForm.Meta.fields)
    labels = field_labels()
    for name in LeadForm.Meta.fields:
        assert auto_mapping([labels[name]]) == {"0": name}, name


def test_a_field_taken_out_of_the_lead_form_is_no_longer_imported(monkeypatch):
    fields = [name for name in LeadForm.Meta.fields if name != "category"]
    monkeypatch.setattr(LeadForm.Meta, "fields", fields)
    assert "category" not in field_labels()
    assert auto_mapping(["Title", "Category"]) == {"0": "title"}


@pytest.mark.django_db
def test_a_rule_added_to_the_models_field_refuses_the_row(monkeypatch):
    default_stage()
    field = Lead._meta.get_field("category")
    no_digits = RegexValidator(r"^\D*$", "Category may not hold digits")
    monkeypatch.setattr(field, "validators", [*field.validators, no_digits])

    assert convert({"title": "Deal", "category": "Software"}).errors == []
    assert convert({"title": "Deal", "category": "Software 2"}).errors == [
        "Category may not hold digits"
    ]


@pytest.mark.django_db
def test_a_models_length_limit_is_the_importers(monkeypatch):
    default_stage()
    limit = Lead._meta.get_field("category").max_length
    assert convert({"title": "Deal", "category": "x" * limit}).errors == []
    assert convert({"title": "Deal", "category": "x" * (limit + 1)}).errors == [
        f"Category is longer than {limit} characters"
    ]


@pytest.mark.django_db
def test_a_choice_is_read_by_its_value_its_label_or_an_alias():
    default_stage()
    for text in ("high", "High", "HOOG"):
        row = convert({"title": "Deal", "priority": text})
        assert (row.errors, row.values["priority"]) == ([], Priority.HIGH), text
    row = convert({"title": "Deal", "priority": "whenever"})
    assert row.errors == ["Priority “whenever” is not low, normal, high or urgent"]


def test_the_export_has_a_column_for_every_field_of_the_lead_form_that_imports_back():
    from leads.export import COLUMNS

    mapped = auto_mapping(list(COLUMNS)).values()

    assert set(LeadForm.Meta.fields) <= set(mapped)


def test_a_field_the_exports_order_does_not_name_still_has_its_column(monkeypatch):
    from leads import export

    monkeypatch.setattr(export, "ORDER", [name for name in export.ORDER if name != "category"])
    columns = list(export._columns())

    ordered = [columns.index(name) for name in export.ORDER]
    assert max(ordered) < columns.index("category") < columns.index("created_at")
