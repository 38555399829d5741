"""Teams: their admin, and the managers' workload page (/teams/) with its actions."""

import re

import pytest
from django.urls import reverse

from leads.models import AssignmentRule, LeadSource, Membership
from tests.factories import (
    AssignmentRuleFactory,
    MembershipFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db


# --- admin -----------------------------------------------------------------------------------


def rule_data(**fields) -> dict:
    return {"name": "Referrals", "order": "1", "active": "on", **fields}


def test_admin_refuses_a_rule_for_both_a_user_and_a_team_and_keeps_the_input(admin_client, rep):
    team = TeamFactory(name="Inbound")
    response = admin_client.post(
        reverse("admin:leads_assignmentrule_add"),
        rule_data(user=rep.pk, team=team.pk, category="Retail", priorities=["high"]),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.non_field_errors() == ["Choose a user or a team, not both."]
    assert 'value="Retail"' in response.text
    assert re.search(r'<input[^>]*name="priorities" value="high"[^>]*checked', response.text)
    assert not AssignmentRule.objects.exists()


def test_admin_refuses_a_rule_for_nobody(admin_client):
    response = admin_client.post(reverse("admin:leads_assignmentrule_add"), rule_data())
    assert response.context["adminform"].form.non_field_errors() == [
        "Choose a user or a team, not both."
    ]


def test_admin_refuses_a_value_range_that_ends_below_its_start(admin_client, rep):
    response = admin_client.post(
        reverse("admin:leads_assignmentrule_add"),
        rule_data(user=rep.pk, value_min="5000", value_max="1000"),
    )
    assert response.context["adminform"].form.non_field_errors() == [
        "The value range ends below where it starts."
    ]


def test_admin_saves_the_checked_priorities_as_a_list_and_the_checked_sources(admin_client):
    team = TeamFactory(name="Inbound")
    referral, partner = LeadSource.objects.filter(slug__in=["referral", "partner"])
    response = admin_client.post(
        reverse("admin:leads_assignmentrule_add"),
        rule_data(team=team.pk, priorities=["urgent", "high"], sources=[referral.pk, partner.pk]),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = AssignmentRule.objects.get()
    assert rule.priorities == ["high", "urgent"]  # in the choices' order
    assert set(rule.sources.all()) == {referral, partner}
    assert rule.team == team


def test_admin_rule_form_shows_priorities_and_sources_as_checkboxes(admin_client):
    html = admin_client.get(reverse("admin:leads_assignmentrule_add")).text
    assert 'type="checkbox" name="priorities" value="urgent"' in html
    assert "Urgent" in html
    assert 'type="checkbox" name="sources"' in html
    assert "None chosen: any priority." in html


def test_admin_rule_list_summarises_conditions_and_target_in_order(admin_client, rep):
    team = TeamFactory(name="Inbound")
    referral = LeadSource.objects.get(slug="referral")
    AssignmentRuleFactory(
        name="Big referrals",
        order=2,
        team=team,
        sources=[referral],
        priorities=["urgent", "high"],
        value_min="10000",
    )
    AssignmentRuleFactory(name="Catch-all", order=9, team=None, user=rep)
    AssignmentRuleFactory(name="First", order=1, team=team)
    response = admin_client.get(reverse("admin:leads_assignmentrule_changelist"))
    names = [rule.name for rule in response.context["cl"].result_list]
    assert names == ["First", "Big referrals", "Catch-all"]
    html = response.text
    assert "Source Referral; Priority High or Urgent; Value from €10,000" in html
    assert "Inbound (in turn)" in html
    assert "Every lead" in html


def test_admin_team_list_counts_members(admin_client):
    team = TeamFactory(name="Inbound")
    MembershipFactory.create_batch(3, team=team)
    response = admin_client.get(reverse("admin:leads_team_changelist"))
    assert response.context["cl"].result_list[0].member_count == 3


def test_admin_refuses_an_absence_that_ends_before_it_starts_under_its_end(admin_client):
    membership = MembershipFactory()
    response = admin_client.post(
        reverse("admin:leads_membership_change", args=[membership.pk]),
        {
            "team": membership.team_id,
            "user": membership.user_id,
            "capacity": "",
            "absences-TOTAL_FORMS": "1",
            "absences-INITIAL_FORMS": "0",
            "absences-0-starts_on": "2026-12-04",
            "absences-0-ends_on": "2026-12-01",
        },
    )
    assert response.status_code == 200
    [form] = response.context["inline_admin_formsets"][0].formset.forms
    assert form.errors == {"ends_on": ["An absence ends on or after the day it starts."]}
    assert not membership.absences.exists()


def test_admin_refuses_a_second_membership_of_one_user_in_a_team(admin_client):
    membership = MembershipFactory()
    response = admin_client.post(
        reverse("admin:leads_membership_add"),
        {
            "team": membership.team_id,
            "user": membership.user_id,
            "absences-TOTAL_FORMS": "0",
            "absences-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "This user is already a member of the team."
    ]
    assert Membership.objects.count() == 1
