"""The project's widget templates (templates/django/forms/) draw what Django's draw, faster."""

import pathlib
import re

import pytest
from django import forms
from django.conf import settings
from django.db import connection
from django.forms.renderers import DjangoTemplates, TemplatesSetting, get_default_renderer
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django_filters import fields

from crm.web.filters import ModelChoiceField, ModelMultipleChoiceField
from leads.filters import LeadFilter
from leads.models import Lead
from pipelines.models import Pipeline, PipelineStage
from tests.factories import PipelineFactory

CHOICES = [
    ("", "Anyone"),
    ("a", "Alpha & <beta>"),
    ("Group", [("b", "Bravo"), ("c", "Charlie")]),
    ("d", "Delta"),
]


class Sample(forms.Form):
    one = forms.ChoiceField(choices=CHOICES, required=False)
    many = forms.MultipleChoiceField(
        choices=CHOICES[1:], required=False, widget=forms.CheckboxSelectMultiple
    )
    listed = forms.MultipleChoiceField(choices=CHOICES[1:], required=False)
    off = forms.ChoiceField(
        choices=CHOICES, required=False, widget=forms.Select(attrs={"disabled": True, "class": "x"})
    )


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html)).strip()


def test_the_project_renders_widgets_through_its_own_templates():
    assert isinstance(get_default_renderer(), TemplatesSetting)


CHOSEN = {"one": "b", "many": ["a", "c"], "listed": ["d"], "off": "a"}


@pytest.mark.parametrize("data", [{}, CHOSEN])
@pytest.mark.parametrize("name", ["one", "many", "listed", "off"])
def test_select_and_checkbox_widgets_draw_what_djangos_own_templates_draw(name, data):
    ours = Sample(data=data or None)[name]
    django = Sample(data=data or None, renderer=DjangoTemplates())[name]
    assert squeeze(str(ours)) == squeeze(str(django))
    # and each option of a checkbox list, as a filter menu draws it
    assert [squeeze(c.tag()) for c in ours] == [squeeze(c.tag()) for c in django]


@pytest.mark.django_db
def test_a_filter_bar_reads_its_model_choices_once_with_plain_queries():
    stages = PipelineStage.objects.count()
    with CaptureQueriesContext(connection) as queries:
        form = LeadFilter(QueryDict(), queryset=Lead.objects.all()).form
        for _ in range(2):
            str(form["stage"])
            str(form["pipeline"])
            assert len(form.fields["stage"].choices) == stages
            assert next(c.data["label"] for c in form["stage"]).endswith("New")
    sql = [q["sql"] for q in queries.captured_queries]
    assert not any("DECLARE" in s or "COUNT(" in s for s in sql)
    assert len(sql) == 2  # the stages once (pipelines.models.all_stages), the pipelines once


def test_every_overridden_widget_template_is_one_the_comparison_draws():
    # A template added to templates/django/forms/ needs a widget above that draws it.
    overridden = {
        path.name
        for path in (pathlib.Path(settings.BASE_DIR) / "templates/django/forms").rglob("*.html")
    }
    assert overridden == {"select.html", "checkbox_option.html"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ours", "djangos", "options"),
    [
        (ModelChoiceField, fields.ModelChoiceField, {"empty_label": "All pipelines"}),
        (ModelChoiceField, fields.ModelChoiceField, {"null_label": "No pipeline"}),
        (ModelChoiceField, fields.ModelChoiceField, {"empty_label": None}),
        (ModelMultipleChoiceField, fields.ModelMultipleChoiceField, {}),
    ],
)
def test_choices_read_once_are_the_choices_django_filter_gives(ours, djangos, options):
    """FormChoiceIterator subclasses a class whose inner workings are not promised."""
    PipelineFactory(name="Renewals")

    def drawn(field_class):
        field = field_class(queryset=Pipeline.objects.order_by("name"), **options)
        choices = [(str(value), label) for value, label in field.choices]
        return choices, len(field.choices), bool(field.choices)

    assert drawn(ours) == drawn(djangos)
    assert drawn(ours)[0][-1] == (str(Pipeline.objects.get(name="Sales").pk), "Sales")
