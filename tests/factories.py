"""factory-boy factories for every model."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from crm.models import AuditKind, Client, ClientEvent, Contact, ContactEvent
from leads import scoring
from leads.models import (
    DefaultView,
    Lead,
    LeadEvent,
    LeadScore,
    LeadSource,
    LossReason,
    Priority,
    SavedView,
)
from leads.webhook_models import WebhookEventKind
from pipelines.models import Pipeline, PipelineStage


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        """UserFactory(groups=["Sales rep"]) puts the user in those groups."""
        if create and extracted:
            for name in extracted:
                self.groups.add(Group.objects.get(name=name))


class RepFactory(UserFactory):
    groups = factory.PostGeneration(
        lambda user, create, extracted, **kw: (
            create and user.groups.add(Group.objects.get(name="Sales rep"))
        )
    )


class ManagerFactory(UserFactory):
    groups = factory.PostGeneration(
        lambda user, create, extracted, **kw: (
            create and user.groups.add(Group.objects.get(name="Sales manager"))
        )
    )


class PipelineFactory(DjangoModelFactory):
    class Meta:
        model = Pipeline

    name = factory.Sequence(lambda n: f"Pipeline {n}")
    is_default = False


class PipelineStageFactory(DjangoModelFactory):
    class Meta:
        model = PipelineStage

    pipeline = factory.SubFactory(PipelineFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n)
    probability = 50
    kind = PipelineStage.Kind.OPEN


class ClientFactory(DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Faker("company")
    kind = Client.Kind.ORGANIZATION
    email = factory.Faker("company_email")
    phone = "+31 20 123 4567"


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    client = factory.SubFactory(ClientFactory)
    name = factory.Faker("name")
    email = factory.Faker("email")
    job_title = factory.Faker("job")


class ClientEventFactory(DjangoModelFactory):
    class Meta:
        model = ClientEvent

    client = factory.SubFactory(ClientFactory)
    kind = AuditKind.CHANGED
    data = factory.LazyFunction(
        lambda: {"field": "email", "old": "info@old.example", "new": "info@new.example"}
    )


class ContactEventFactory(DjangoModelFactory):
    class Meta:
        model = ContactEvent

    contact = factory.SubFactory(ContactFactory)
    kind = AuditKind.CHANGED
    data = factory.LazyFunction(lambda: {"field": "job_title", "old": "", "new": "CTO"})


class LeadSourceFactory(DjangoModelFactory):
    class Meta:
        model = LeadSource
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"source-{n}")
    label = factory.LazyAttribute(lambda s: s.slug.replace("-", " ").title())


def default_stage(name: str = "New") -> PipelineStage:
    return PipelineStage.objects.get(pipeline__is_default=True, name=name)


class LeadFactory(DjangoModelFactory):
    class Meta:
        model = Lead

    title = factory.Sequence(lambda n: f"Lead {n}")
    description = ""
    value = Decimal("1000.00")
    probability = 10
    priority = Priority.NORMAL
    stage = factory.LazyFunction(default_stage)
    source = factory.LazyFunction(lambda: LeadSource.objects.get(slug="website"))
    # A closed lead says how it closed, as the services make it.
    actual_close_date = factory.LazyAttribute(
        lambda lead: None if lead.stage.is_open else datetime.date.today()
    )
    won_value = factory.LazyAttribute(lambda lead: lead.value if lead.stage.kind == "won" else None)
    lost_reason = factory.LazyAttribute(
        lambda lead: loss_reason("price-too-high") if lead.stage.kind == "lost" else None
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Saved with its score row, as the services save a lead: the score they would
        give it, unless one is given (``score=None``: unscored)."""
        given = "score" in kwargs
        score = kwargs.pop("score", None)
        lead = model_class(*args, **kwargs)
        lead.score = score if given else scoring.score(lead, scoring.active_criteria())
        lead.save()
        scoring.store_scores({lead.pk: lead.score})
        return lead


def stored_score(lead) -> int | None:
    """The score stored for this lead (its ``LeadScore`` row), read afresh."""
    return LeadScore.objects.get(lead_id=lead.pk).score


def loss_reason(slug: str) -> LossReason:
    """One of the seeded loss reasons: price-too-high, chose-competitor, no-budget,
    requirements-changed, no-response, other."""
    return LossReason.objects.get(slug=slug)


def lost(slug: str = "price-too-high", **facts) -> dict:
    """How a lead was lost, as ``lead_move_stage`` takes it (``closing=lost()``)."""
    return {"lost_reason": loss_reason(slug), **facts}


class LossReasonFactory(DjangoModelFactory):
    class Meta:
        model = LossReason
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Reason {n}")
    slug = factory.Sequence(lambda n: f"reason-{n}")


class LeadEventFactory(DjangoModelFactory):
    class Meta:
        model = LeadEvent

    lead = factory.SubFactory(LeadFactory)
    kind = LeadEvent.Kind.NOTE
    data = factory.LazyFunction(lambda: {"text": "Called, left a message."})


# Teams and assignment rules; the models named by label, so this block needs no import.


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = "leads.Team"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = "leads.Membership"

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(RepFactory)


class AbsenceFactory(DjangoModelFactory):
    """Five days from today (both included), unless told otherwise."""

    class Meta:
        model = "leads.Absence"

    membership = factory.SubFactory(MembershipFactory)
    starts_on = factory.LazyFunction(datetime.date.today)
    ends_on = factory.LazyAttribute(lambda absence: absence.starts_on + datetime.timedelta(days=4))


class AssignmentRuleFactory(DjangoModelFactory):
    """A rule without conditions giving its leads to a team in turn (or ``user=…, team=None``)."""

    class Meta:
        model = "leads.AssignmentRule"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Rule {n}")
    order = factory.Sequence(lambda n: n)
    team = factory.SubFactory(TeamFactory)
    user = None

    @factory.post_generation
    def sources(self, create, extracted, **kwargs):
        """AssignmentRuleFactory(sources=[source, …]) sets the rule's sources."""
        if create and extracted:
            self.sources.set(extracted)


class SavedViewFactory(DjangoModelFactory):
    class Meta:
        model = SavedView

    name = factory.Sequence(lambda n: f"View {n}")
    owner = factory.SubFactory(RepFactory)
    query = "priority=high"


class DefaultViewFactory(DjangoModelFactory):
    class Meta:
        model = DefaultView

    view = factory.SubFactory(SavedViewFactory)
    user = factory.SelfAttribute("view.owner")


# Capture forms and webhooks.


class CaptureFormFactory(DjangoModelFactory):
    """A website form landing its leads in the default pipeline's first stage."""

    class Meta:
        model = "leads.CaptureForm"

    name = factory.Sequence(lambda n: f"Website form {n}")
    stage = factory.LazyFunction(lambda: default_stage("New"))
    allowed_origins = "https://www.example.com"


class WebhookFactory(DjangoModelFactory):
    """An endpoint listening to every kind of event (``events=[…]`` for fewer)."""

    class Meta:
        model = "leads.Webhook"

    name = factory.Sequence(lambda n: f"Endpoint {n}")
    url = "https://hooks.example.com/crm"
    events = factory.LazyFunction(lambda: [kind.value for kind in WebhookEventKind])
