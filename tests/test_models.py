"""Model invariants, refused both by validation and by the database, and model behaviour."""

import datetime
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm.models import Client, Contact
from leads.models import Lead
from pipelines.models import Pipeline, PipelineStage
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    PipelineFactory,
    PipelineStageFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db


def messages_of(excinfo, field: str) -> list[str]:
    """The messages a ValidationError holds for one field (or '__all__')."""
    return excinfo.value.message_dict.get(field, [])


@contextmanager
def refused_by_database(*names: str):
    """Expect an IntegrityError naming one of names, in a savepoint so the test goes on.

    PostgreSQL names the violated constraint; SQLite names check constraints, but for a
    unique constraint it lists the columns instead.
    """
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert any(name in str(excinfo.value) for name in names), str(excinfo.value)


# --- Lead --------------------------------------------------------------------------------


def test_probability_above_100_is_refused():
    lead = LeadFactory.build(probability=101)
    with pytest.raises(ValidationError) as excinfo:
        lead.full_clean()
    assert messages_of(excinfo, "probability") == ["Probability must be between 0 and 100."]


def test_probability_below_0_is_refused():
    lead = LeadFactory.build(probability=-1)
    with pytest.raises(ValidationError) as excinfo:
        lead.full_clean()
    assert "Probability must be between 0 and 100." in messages_of(excinfo, "probability")


def test_probability_above_100_is_refused_by_the_database():
    with refused_by_database("lead_probability_0_100"):
        LeadFactory(probability=101)


def test_probability_of_0_and_100_and_none_are_accepted():
    for probability in (0, 100, None):
        LeadFactory.build(probability=probability).full_clean()


def test_negative_value_is_refused():
    lead = LeadFactory.build(value=Decimal("-0.01"))
    with pytest.raises(ValidationError) as excinfo:
        lead.full_clean()
    assert messages_of(excinfo, "value") == ["Value must be non-negative."]


def test_negative_value_is_refused_by_the_database():
    with refused_by_database("lead_value_non_negative"):
        LeadFactory(value=Decimal("-1"))


def test_lead_without_title_is_refused():
    lead = LeadFactory.build(title="")
    with pytest.raises(ValidationError) as excinfo:
        lead.full_clean()
    assert messages_of(excinfo, "title") == ["This field cannot be blank."]


def test_lead_without_title_is_refused_by_the_database():
    with refused_by_database("lead_title_not_empty"):
        LeadFactory(title="")


def test_unknown_priority_is_refused():
    lead = LeadFactory.build(priority="asap")
    with pytest.raises(ValidationError) as excinfo:
        lead.full_clean()
    assert messages_of(excinfo, "priority") == ["Value 'asap' is not a valid choice."]


def test_unknown_priority_is_refused_by_the_database():
    with refused_by_database("lead_priority_valid"):
        LeadFactory(priority="asap")


def test_description_over_5000_characters_is_refused():
    lead = LeadFactory.build(description="x" * 5001)
    with pytest.raises(ValidationError) as excinfo:
        lead.full_clean()
    assert messages_of(excinfo, "description") == [
        "Ensure this value has at most 5000 characters (it has 5001)."
    ]


def test_description_over_5000_characters_is_refused_by_the_database():
    with refused_by_database("lead_description_max_5000"):
        LeadFactory(description="x" * 5001)


def test_description_of_5000_characters_is_accepted():
    LeadFactory(description="x" * 5000).full_clean()


def test_contact_of_another_client_is_refused():
    acme = ClientFactory(name="Acme")
    globex = ClientFactory(name="Globex")
    contact = ContactFactory(client=globex, name="Hank Scorpio")
    lead = LeadFactory.build(client=acme, contact=contact)
    with pytest.raises(ValidationError) as excinfo:
        lead.full_clean()
    assert messages_of(excinfo, "contact") == ["Hank Scorpio is not a contact of Acme."]


def test_contact_of_the_lead_client_is_accepted():
    contact = ContactFactory()
    LeadFactory.build(client=contact.client, contact=contact).full_clean()


# --- Pipeline and stages ---------------------------------------------------------------------


def test_stage_probability_above_100_is_refused():
    stage = PipelineStageFactory.build(pipeline=PipelineFactory(), probability=101)
    with pytest.raises(ValidationError) as excinfo:
        stage.full_clean()
    assert messages_of(excinfo, "probability") == [
        "Ensure this value is less than or equal to 100."
    ]


def test_stage_probability_above_100_is_refused_by_the_database():
    with refused_by_database("stage_probability_0_100"):
        PipelineStageFactory(probability=101)


def test_second_stage_with_the_same_order_is_refused():
    first = PipelineStageFactory(order=3)
    stage = PipelineStageFactory.build(pipeline=first.pipeline, order=3)
    with pytest.raises(ValidationError) as excinfo:
        stage.full_clean()
    assert messages_of(excinfo, "__all__") == ["Another stage of this pipeline has this position."]


def test_second_stage_with_the_same_order_is_refused_by_the_database():
    first = PipelineStageFactory(order=3)
    with refused_by_database(
        "stage_unique_order_per_pipeline",
        "pipelinestage.pipeline_id, pipelines_pipelinestage.order",
    ):
        PipelineStageFactory(pipeline=first.pipeline, order=3)


def test_same_order_in_another_pipeline_is_accepted():
    PipelineStageFactory(order=3)
    PipelineStageFactory.build(pipeline=PipelineFactory(), order=3).full_clean()


def test_second_stage_with_the_same_name_is_refused():
    first = PipelineStageFactory(name="Demo")
    stage = PipelineStageFactory.build(pipeline=first.pipeline, name="Demo")
    with pytest.raises(ValidationError) as excinfo:
        stage.full_clean()
    assert messages_of(excinfo, "__all__") == ["Another stage of this pipeline has this name."]


def test_second_stage_with_the_same_name_is_refused_by_the_database():
    first = PipelineStageFactory(name="Demo")
    with refused_by_database(
        "stage_unique_name_per_pipeline", "pipelinestage.pipeline_id, pipelines_pipelinestage.name"
    ):
        PipelineStageFactory(pipeline=first.pipeline, name="Demo")


def test_second_default_pipeline_is_refused():
    pipeline = PipelineFactory.build(is_default=True)
    with pytest.raises(ValidationError) as excinfo:
        pipeline.full_clean()
    assert messages_of(excinfo, "__all__") == ["Another pipeline is already the default."]


def test_second_default_pipeline_is_refused_by_the_database():
    with refused_by_database("pipeline_single_default", "pipelines_pipeline.is_default"):
        PipelineFactory(is_default=True)


def test_unknown_stage_kind_is_refused():
    stage = PipelineStageFactory.build(pipeline=PipelineFactory(), kind="maybe")
    with pytest.raises(ValidationError) as excinfo:
        stage.full_clean()
    assert messages_of(excinfo, "kind") == ["Value 'maybe' is not a valid choice."]


def test_unknown_stage_kind_is_refused_by_the_database():
    with refused_by_database("stage_kind_valid"):
        PipelineStageFactory(kind="odd")


def test_last_open_stage_cannot_become_won():
    only_open = PipelineStageFactory(kind=PipelineStage.Kind.OPEN)
    PipelineStageFactory(pipeline=only_open.pipeline, kind=PipelineStage.Kind.LOST)
    only_open.kind = PipelineStage.Kind.WON
    with pytest.raises(ValidationError) as excinfo:
        only_open.full_clean()
    assert messages_of(excinfo, "kind") == ["A pipeline must keep at least one open stage."]


def test_open_stage_can_become_won_when_another_stays_open():
    stage = PipelineStageFactory(kind=PipelineStage.Kind.OPEN)
    PipelineStageFactory(pipeline=stage.pipeline, kind=PipelineStage.Kind.OPEN)
    stage.kind = PipelineStage.Kind.WON
    stage.full_clean()


# --- Clients and contacts ----------------------------------------------------------------


def test_client_without_name_is_refused():
    client = ClientFactory.build(name="")
    with pytest.raises(ValidationError) as excinfo:
        client.full_clean()
    assert messages_of(excinfo, "name") == ["This field cannot be blank."]


def test_client_without_name_is_refused_by_the_database():
    with refused_by_database("client_name_not_empty"):
        Client.objects.create(name="")


def test_unknown_client_kind_is_refused_by_the_database():
    with refused_by_database("client_kind_valid"):
        Client.objects.create(name="Acme", kind="robot")


def test_contact_without_name_is_refused():
    contact = ContactFactory.build(client=ClientFactory(), name="")
    with pytest.raises(ValidationError) as excinfo:
        contact.full_clean()
    assert messages_of(excinfo, "name") == ["This field cannot be blank."]


def test_contact_without_name_is_refused_by_the_database():
    client = ClientFactory()
    with refused_by_database("contact_name_not_empty"):
        Contact.objects.create(client=client, name="")


def test_soft_deleted_client_is_kept_and_can_be_restored():
    client = ClientFactory()
    client.soft_delete()
    assert Client.objects.deleted().get() == client
    assert not Client.objects.alive().exists()
    client.restore()
    assert Client.objects.alive().get() == client


# --- Lead behaviour ------------------------------------------------------------------------


def test_new_lead_starts_in_the_first_open_stage_of_the_default_pipeline():
    lead = Lead.objects.create(title="Fresh")
    assert lead.stage == default_stage("New")


def test_new_lead_follows_a_reordered_default_pipeline():
    PipelineStage.objects.filter(pipeline__is_default=True, name="New").update(order=99)
    lead = Lead.objects.create(title="Fresh")
    assert lead.stage == default_stage("Contacted")


def test_new_lead_ignores_stages_of_other_pipelines():
    PipelineStageFactory(pipeline=PipelineFactory(), order=0, kind=PipelineStage.Kind.OPEN)
    assert Lead.objects.create(title="Fresh").stage.pipeline == Pipeline.objects.default()


def test_weighted_value_is_value_times_probability():
    assert LeadFactory.build(value=Decimal("1000"), probability=25).weighted_value == Decimal(
        "250.00"
    )


@pytest.mark.parametrize(("value", "probability"), [(None, 50), (Decimal("1000"), None)])
def test_weighted_value_is_unknown_without_value_or_probability(value, probability):
    assert LeadFactory.build(value=value, probability=probability).weighted_value is None


def test_days_overdue_counts_days_past_the_expected_close_date():
    today = datetime.date(2026, 3, 10)
    lead = LeadFactory.build(stage=default_stage("New"))
    lead.expected_close_date = datetime.date(2026, 3, 7)
    assert lead.days_overdue(today) == 3
    lead.expected_close_date = today
    assert lead.days_overdue(today) == 0
    lead.expected_close_date = datetime.date(2026, 3, 11)
    assert lead.days_overdue(today) is None


def test_days_overdue_is_none_for_closed_leads_and_leads_without_date():
    today = datetime.date(2026, 3, 10)
    won = LeadFactory.build(
        stage=default_stage("Won"), expected_close_date=datetime.date(2026, 1, 1)
    )
    assert won.days_overdue(today) is None
    assert LeadFactory.build(expected_close_date=None).days_overdue(today) is None


def test_totals_leave_out_unknown_values():
    LeadFactory(value=Decimal("100"), probability=50)
    LeadFactory(value=None, probability=50)
    LeadFactory(value=Decimal("300"), probability=50)
    totals = Lead.objects.totals()
    assert totals["count"] == 3
    assert totals["total_value"] == Decimal("400")
    assert totals["weighted_value"] == Decimal("200")


def test_totals_of_an_empty_set_are_none():
    assert Lead.objects.none().totals() == {
        "count": 0,
        "total_value": None,
        "weighted_value": None,
    }


def test_summary_counts_open_and_won_leads_apart_in_one_query(django_assert_num_queries):
    LeadFactory(value=Decimal("100"), stage=default_stage("New"))
    LeadFactory(value=None, stage=default_stage("Qualified"))
    LeadFactory(value=Decimal("300"), stage=default_stage("Won"))
    LeadFactory(value=Decimal("500"), stage=default_stage("Lost"))
    with django_assert_num_queries(1):
        summary = Lead.objects.summary()
    assert summary["total_count"] == 4
    assert (summary["open_count"], summary["open_value"]) == (2, Decimal("100"))
    assert (summary["won_count"], summary["won_value"]) == (1, Decimal("300"))
    assert summary["last_activity"] == Lead.objects.latest("last_activity_at").last_activity_at


# --- Who may edit ------------------------------------------------------------------------


def test_rep_may_edit_leads_they_created_or_are_assigned_only(rep, other_rep):
    created = LeadFactory(created_by=rep)
    assigned = LeadFactory(assignee=rep, created_by=other_rep)
    others = LeadFactory(created_by=other_rep, assignee=other_rep)
    assert set(Lead.objects.editable_by(rep)) == {created, assigned}
    assert created.can_edit(rep)
    assert assigned.can_edit(rep)
    assert not others.can_edit(rep)


def test_manager_may_edit_every_lead(manager, rep):
    leads = {LeadFactory(created_by=rep), LeadFactory()}
    assert set(Lead.objects.editable_by(manager)) == leads
    assert all(lead.can_edit(manager) for lead in leads)


def test_user_in_no_group_may_edit_no_lead(reader):
    lead = LeadFactory(created_by=reader, assignee=reader)
    assert not Lead.objects.editable_by(reader).exists()
    assert not lead.can_edit(reader)
