"""Lead scoring: each criterion, the cap, the rating bands, and the score kept on writes."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from leads import scoring
from leads.models import Lead, LeadSource, Priority, ScoringCriterion, ScoringSettings
from leads.services import lead_update
from tests.factories import ClientFactory, ContactFactory, LeadFactory, default_stage, stored_score

pytestmark = pytest.mark.django_db


def today() -> datetime.date:
    return timezone.localdate()


def criterion(kind) -> ScoringCriterion:
    return ScoringCriterion.objects.get(kind=kind)


def only(kind) -> list[ScoringCriterion]:
    """The one criterion, as the list ``score`` takes."""
    return [criterion(kind)]


def bare(**fields) -> Lead:
    """A lead that meets no default criterion unless ``fields`` say so."""
    defaults = {"value": None, "source": None, "priority": Priority.NORMAL, "description": ""}
    return LeadFactory(**(defaults | fields))


def test_the_migration_seeds_the_eight_defaults():
    rows = [(c.kind, c.points, c.label) for c in ScoringCriterion.objects.all()]
    assert rows == [
        ("value_present", 10, "value present"),
        ("value_above", 20, "value above €10,000"),
        ("client_linked", 15, "client linked"),
        ("contact_linked", 10, "contact linked"),
        ("source_in", 15, "source is referral or partner"),
        ("close_within", 10, "expected close within 30 days"),
        ("priority_in", 10, "priority high or urgent"),
        ("description_present", 5, "description present"),
    ]
    settings = ScoringSettings.current()
    assert (settings.hot_above, settings.cold_below, settings.decay_enabled) == (70, 40, False)


@pytest.mark.parametrize(
    ("kind", "meets", "misses"),
    [
        ("value_present", {"value": Decimal(0)}, {}),
        ("value_above", {"value": Decimal("10000.01")}, {"value": Decimal(10000)}),
        ("client_linked", {"client": "client"}, {}),
        ("contact_linked", {"contact": "contact"}, {}),
        ("source_in", {"source": "partner"}, {"source": "website"}),
        ("close_within", {"expected_close_date": 30}, {"expected_close_date": 31}),
        ("close_within", {"expected_close_date": 0}, {"expected_close_date": -1}),
        ("priority_in", {"priority": Priority.URGENT}, {"priority": Priority.NORMAL}),
        ("description_present", {"description": "Fleet of 40"}, {"description": "  \n "}),
    ],
)
def test_each_criterion_in_memory_and_in_sql(kind, meets, misses):
    def made(fields):
        fields = dict(fields)
        if fields.get("client") == "client":
            fields["client"] = ClientFactory()
        if fields.get("contact") == "contact":
            fields["contact"] = ContactFactory()
            fields["client"] = fields["contact"].client
        if "source" in fields:
            fields["source"] = LeadSource.objects.get(slug=fields["source"])
        if "expected_close_date" in fields:
            days = fields["expected_close_date"]
            fields["expected_close_date"] = today() + datetime.timedelta(days=days)
        return bare(**fields)

    criteria = only(kind)
    points = criteria[0].points
    yes, no = made(meets), made(misses)
    assert scoring.score(yes, criteria) == points
    assert scoring.score(no, criteria) == 0
    # The database's rule is the same rule.
    in_sql = dict(
        Lead.objects.filter(pk__in=[yes.pk, no.pk])
        .annotate(sql=scoring.score_expression(criteria, today()))
        .values_list("pk", "sql")
    )
    assert in_sql == {yes.pk: points, no.pk: 0}


def test_the_score_is_the_sum_capped_at_100():
    lead = bare(value=Decimal(50000), client=ClientFactory(), priority=Priority.HIGH)
    criteria = scoring.active_criteria()
    assert scoring.score(lead, criteria) == 10 + 20 + 15 + 10
    ScoringCriterion.objects.filter(kind="value_above").update(points=90)
    assert scoring.score(lead, scoring.active_criteria()) == 100


def test_an_inactive_criterion_gives_nothing_and_no_criteria_leave_leads_unscored():
    lead = bare(value=Decimal(5))
    ScoringCriterion.objects.filter(kind="value_present").update(active=False)
    assert scoring.score(lead, scoring.active_criteria()) == 0
    ScoringCriterion.objects.update(active=False)
    assert scoring.score(lead, scoring.active_criteria()) is None


def test_the_admin_changes_thresholds_without_a_deploy():
    lead = bare(value=Decimal(20000))
    ScoringCriterion.objects.filter(kind="value_above").update(amount=Decimal(30000))
    assert scoring.score(lead, scoring.active_criteria()) == 10
    ScoringCriterion.objects.filter(kind="source_in").update(sources=["website"])
    lead.source = LeadSource.objects.get(slug="website")
    assert scoring.score(lead, scoring.active_criteria()) == 25


def test_criteria_read_with_the_sources_a_page_has_read_name_the_same_sources(
    django_assert_num_queries,
):
    ScoringCriterion.objects.filter(kind="source_in").update(sources=["website", "partner"])
    read = scoring.active_criteria()
    sources = list(LeadSource.objects.all())

    with django_assert_num_queries(1):  # the criteria; their sources came with the page
        given = scoring.active_criteria(sources)

    assert [c.source_ids for c in given] == [c.source_ids for c in read]
    named = next(c.source_ids for c in given if c.kind == "source_in")
    assert set(LeadSource.objects.filter(pk__in=named).values_list("slug", flat=True)) == {
        "website",
        "partner",
    }


@pytest.mark.parametrize(
    ("score", "rating"),
    [
        (None, None),
        (0, "cold"),
        (39, "cold"),
        (40, "warm"),
        (70, "warm"),
        (71, "hot"),
        (100, "hot"),
    ],
)
def test_the_rating_bands(score, rating):
    assert ScoringSettings.current().rating(score) == rating


def test_the_rating_bands_follow_the_settings():
    settings = ScoringSettings.current()
    settings.hot_above, settings.cold_below = 50, 20
    assert [settings.rating(s) for s in (19, 20, 50, 51)] == ["cold", "warm", "warm", "hot"]
    leads = {s: LeadFactory(score=s) for s in (19, 20, 50, 51)}
    for rating, scores in (("cold", [19]), ("warm", [20, 50]), ("hot", [51])):
        found = Lead.objects.filter(settings.rating_range(rating)).order_by("stored_score__score")
        assert list(found) == [leads[s] for s in scores]


def test_a_criterion_missing_its_parameter_is_refused():
    rule = criterion("value_above")
    rule.amount = None
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert "amount" in refused.value.message_dict


def test_an_unknown_priority_is_refused():
    rule = criterion("priority_in")
    rule.priorities = ["high", "sky-high"]
    with pytest.raises(ValidationError):
        rule.full_clean()


def test_the_breakdown_says_what_is_met_and_what_would_raise_it():
    lead = bare(value=Decimal(500), client=ClientFactory())
    lines = scoring.breakdown(lead, scoring.active_criteria())
    met = [line.criterion.label for line in lines if line.met]
    assert met == ["value present", "client linked"]
    hints = {line.criterion.hint: line.criterion.points for line in lines if not line.met}
    assert hints["Link a contact"] == 10
    assert hints["A value above €10,000"] == 20


# --- kept current by the one write path ------------------------------------------------------


def test_an_edit_recomputes_the_score_in_the_same_write(manager):
    lead = bare()
    assert lead.score == 0
    updated = lead_update(lead_id=lead.pk, values={"value": Decimal(25000)}, by=manager)
    assert updated.score == 30
    lead.refresh_from_db()
    assert (stored_score(lead), lead.version) == (30, 2)


def test_the_form_saves_the_score(rep_client, rep):
    lead = bare(created_by=rep)
    data = {
        "title": lead.title,
        "stage": lead.stage_id,
        "priority": "urgent",
        "value": "12000",
        "version": lead.version,
    }
    response = rep_client.post(reverse("leads:update", args=[lead.pk]), data)
    assert response.status_code == 302
    assert stored_score(lead) == 10 + 20 + 10


def test_a_new_lead_is_scored_when_it_is_created(rep_client):
    data = {"title": "Scored", "stage": "", "priority": "high", "value": "100"}
    data["stage"] = Lead._meta.get_field("stage").get_default()
    response = rep_client.post(reverse("leads:create"), data)
    assert response.status_code == 302
    assert stored_score(Lead.objects.get(title="Scored")) == 10 + 10


def test_the_score_is_never_taken_from_the_form(rep_client, rep):
    lead = bare(created_by=rep)
    data = {"title": lead.title, "stage": lead.stage_id, "priority": "normal", "score": "99"}
    data["version"] = lead.version
    rep_client.post(reverse("leads:update", args=[lead.pk]), data)
    assert stored_score(lead) == 0


# --- probability decay (off by default) ------------------------------------------------------


@pytest.mark.parametrize(
    ("days_past", "share"), [(-3, 100), (14, 100), (15, 80), (30, 80), (31, 50), (60, 50), (61, 25)]
)
def test_decay_steps(days_past, share):
    settings = ScoringSettings(decay_enabled=True)
    assert settings.decay(days_past) == share
    assert ScoringSettings(decay_enabled=False).decay(days_past) == 100


def aged_lead(days_in_stage: int) -> Lead:
    lead = LeadFactory(value=Decimal(10000), probability=50)
    entered = timezone.now() - datetime.timedelta(days=days_in_stage, hours=1)
    Lead.objects.filter(pk=lead.pk).update(stage_entered_at=entered)
    return lead


def test_the_detail_page_explains_an_aged_weighted_value_when_decay_is_on(rep_client):
    lead = aged_lead(days_in_stage=14 + 20)  # New's alert comes after 14 days: 20 past it
    url = reverse("leads:detail", args=[lead.pk])
    assert "Weighted (aged)" not in rep_client.get(url).content.decode()  # off by default
    ScoringSettings.objects.filter(pk=1).update(decay_enabled=True)
    html = rep_client.get(url).content.decode()
    assert "<dt>Weighted (aged)</dt><dd>€4,000" in html
    assert "80 % of it: 20 days past the New stage's 14-day aging alert" in html


def test_a_closed_lead_is_never_discounted():
    lead = aged_lead(days_in_stage=100)
    Lead.objects.filter(pk=lead.pk).update(stage=default_stage("Won"))
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.aged_weighting(ScoringSettings(decay_enabled=True)) is None
