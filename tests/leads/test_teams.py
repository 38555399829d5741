"""Teams: their admin, and the managers' workload page (/teams/) with its actions."""

import datetime
import html
import re

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from leads.models import Absence, AssignmentRule, EventKind, Lead, LeadSource, Membership
from leads.services import lead_assign, lead_create
from tests.factories import (
    AbsenceFactory,
    AssignmentRuleFactory,
    LeadEventFactory,
    LeadFactory,
    ManagerFactory,
    MembershipFactory,
    RepFactory,
    TeamFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

# Wednesday 2 December 2026, 11:00 in Amsterdam: the week began on Monday 30 November at
# midnight in Amsterdam, which is 23:00 UTC on Sunday 29 November.
NOW = datetime.datetime(2026, 12, 2, 10, tzinfo=datetime.UTC)
TODAY = datetime.date(2026, 12, 2)
WEEK_START = datetime.datetime(2026, 11, 29, 23, tzinfo=datetime.UTC)
HTMX = {"HX-Request": "true"}


def day(offset: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=offset)


def teams_page(client, **headers):
    return client.get(reverse("leads:teams"), headers=headers)


def member_row(html: str, name: str) -> str:
    """The table row of the member of that name."""
    row = re.search(rf'<tr>\s*<th scope="row"[^>]*>{re.escape(name)}</th>.*?</tr>', html, re.S)
    assert row, f"no row for {name}"
    return row.group(0)


def cells(row: str) -> list[str]:
    """The row's cells as text, without the hidden words for screen readers."""
    row = re.sub(r'<span class="visually-hidden">.*?</span>', "", row, flags=re.S)
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


def assigned_event(user, at):
    """An "assigned" event giving some lead to ``user`` at that moment."""
    return LeadEventFactory(
        kind=EventKind.ASSIGNED,
        at=at,
        data={"field": "assignee", "old": "", "new": user.username, "old_id": None,
              "new_id": user.pk},
    )  # fmt: skip


@pytest.fixture
def team(db):
    """Inbound: Alice (capacity 3), Bob (paused) and Carol (absent until Friday)."""
    inbound = TeamFactory(name="Inbound")
    alice = MembershipFactory(
        team=inbound, user__first_name="Alice", user__last_name="Visser", capacity=3
    )
    MembershipFactory(team=inbound, user__first_name="Bob", user__last_name="Janssen", paused=True)
    carol = MembershipFactory(team=inbound, user__first_name="Carol", user__last_name="de Wit")
    AbsenceFactory(membership=carol, starts_on=day(-2), ends_on=day(2), note="Holiday")
    inbound.alice = alice
    inbound.carol = carol
    return inbound


# --- who may --------------------------------------------------------------------------------


def action_posts(team) -> dict:
    """Each action of the page: its URL and what a valid POST sends."""
    absence = AbsenceFactory(membership=team.alice, starts_on=day(10), ends_on=day(12))
    return {
        "pause": (reverse("leads:team_pause", args=[team.alice.pk]), {"paused": "1"}),
        "absence_add": (
            reverse("leads:team_absence_add", args=[team.pk]),
            {"membership": team.alice.pk, "starts_on": day(20), "ends_on": day(21)},
        ),
        "absence_remove": (reverse("leads:team_absence_remove", args=[absence.pk]), {}),
    }


def test_reps_may_not_see_the_page(rep_client, team):
    assert teams_page(rep_client).status_code == 403


@pytest.mark.parametrize("action", ["pause", "absence_add", "absence_remove"])
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_reps_may_not_change_teams_and_nothing_changes(rep_client, team, action, headers):
    url, data = action_posts(team)[action]
    response = rep_client.post(url, data, headers=headers)
    assert response.status_code == 403
    assert not Membership.objects.filter(paused=True).exclude(user__first_name="Bob").exists()
    assert Absence.objects.count() == 2  # Carol's and the one to remove


def test_managers_see_the_page_and_its_link_in_the_nav(manager_client, team):
    response = teams_page(manager_client)
    assert response.status_code == 200
    assert '<a href="/teams/" aria-current="page">Teams</a>' in response.text


def test_reps_get_no_link_to_the_page(rep_client):
    assert 'href="/teams/"' not in rep_client.get(reverse("leads:my_work")).text


def test_the_leads_link_is_not_current_on_the_teams_page(manager_client, team):
    html = teams_page(manager_client).text
    assert '<a href="/leads/" aria-current="page">' not in html


# --- the figures -----------------------------------------------------------------------------


@time_machine.travel(NOW)
def test_each_member_shows_state_open_leads_capacity_and_absences(manager_client, team):
    alice = team.alice.user
    LeadFactory.create_batch(2, assignee=alice)
    LeadFactory(assignee=alice, stage=default_stage("Won"))  # closed: not held
    LeadFactory(assignee=team.carol.user)
    AbsenceFactory(membership=team.alice, starts_on=day(10), ends_on=day(14), note="Course")
    AbsenceFactory(membership=team.alice, starts_on=day(-9), ends_on=day(-5))  # over

    html = teams_page(manager_client).text

    alice_row = cells(member_row(html, "Alice Visser"))
    assert alice_row[:5] == ["Alice Visser", "Active", "2", "2 of 3", "0"]
    assert "12 Dec 2026 – 16 Dec 2026 · Course Remove" in alice_row[5]
    assert "23 Nov 2026" not in alice_row[5]  # the absence that is over
    assert cells(member_row(html, "Bob Janssen"))[:6] == [
        "Bob Janssen", "Paused", "0", "—", "0", "None"
    ]  # fmt: skip
    carol_row = cells(member_row(html, "Carol de Wit"))
    assert carol_row[:4] == ["Carol de Wit", "Absent until 4 Dec", "1", "—"]
    assert "30 Nov 2026 – 4 Dec 2026 · Holiday" in carol_row[5]
    assert f'href="/leads/?assignee={alice.pk}&amp;status=open"' in html


@time_machine.travel(NOW)
def test_a_member_holding_their_capacity_is_full(manager_client, team):
    LeadFactory.create_batch(3, assignee=team.alice.user)
    row = cells(member_row(teams_page(manager_client).text, "Alice Visser"))
    assert row[3] == "3 of 3 Full"


@time_machine.travel(NOW)
def test_a_paused_and_absent_member_says_both(manager_client, team):
    Membership.objects.filter(pk=team.carol.pk).update(paused=True)
    row = cells(member_row(teams_page(manager_client).text, "Carol de Wit"))
    assert row[1] == "Paused Absent until 4 Dec"


@time_machine.travel(NOW)
def test_assigned_this_week_counts_assignments_to_the_member_since_monday_midnight(
    manager_client, manager, team
):
    alice, carol = team.alice.user, team.carol.user
    assigned_event(alice, WEEK_START)  # Monday 00:00 in Amsterdam: this week
    assigned_event(alice, WEEK_START - datetime.timedelta(minutes=1))  # Sunday: last week
    assigned_event(carol, WEEK_START + datetime.timedelta(days=1))
    LeadEventFactory(kind=EventKind.NOTE, at=WEEK_START + datetime.timedelta(hours=1))
    lead_assign(lead_id=LeadFactory().pk, assignee=alice, by=manager)  # now, by hand
    # A rule gives a new lead to the team in turn: Bob is paused, Carol absent.
    AssignmentRuleFactory(team=team)
    created = lead_create(lead=Lead(title="From the rules", stage=default_stage()), by=manager)
    assert created.assignee == alice

    html = teams_page(manager_client).text

    assert cells(member_row(html, "Alice Visser"))[4] == "3"
    assert cells(member_row(html, "Bob Janssen"))[4] == "0"
    assert cells(member_row(html, "Carol de Wit"))[4] == "1"


@time_machine.travel(NOW)
def test_the_page_reads_a_fixed_number_of_queries_however_many_teams_and_members(
    manager_client, team, django_assert_max_num_queries
):
    for number in range(4):
        other = TeamFactory(name=f"Outbound {number}")
        for member in MembershipFactory.create_batch(5, team=other, capacity=10):
            AbsenceFactory(membership=member, starts_on=day(3))
            LeadFactory(assignee=member.user)
            assigned_event(member.user, NOW)
    MembershipFactory(team=TeamFactory(name="Outbound 0"), user=team.alice.user)  # two teams
    # Session, user, their permissions (2), teams, members, absences, open leads, assignments.
    with django_assert_max_num_queries(9):
        response = teams_page(manager_client)
    assert response.status_code == 200
    assert response.text.count("<tr>") == 3 + 4 * 5 + 1 + 5  # rows of members and headers


def test_without_teams_the_page_says_what_belongs_here_and_staff_get_the_admin_link(
    client, manager_client
):
    html = teams_page(manager_client).text
    assert "No teams yet." in html
    assert reverse("admin:leads_team_add") not in html  # a manager who is not staff

    staff_manager = ManagerFactory(username="boss", is_staff=True)
    staff_manager.user_permissions.add(*team_admin_permissions())
    client.force_login(staff_manager)
    html = teams_page(client).text
    assert "No teams yet." in html
    assert f'<a class="btn btn-primary" href="{reverse("admin:leads_team_add")}">' in html


def team_admin_permissions():
    return Permission.objects.filter(
        content_type__app_label="leads", codename__in=["add_team", "change_team"]
    )


def test_a_team_without_members_says_so(manager_client):
    TeamFactory(name="Outbound")
    assert "No members yet" in teams_page(manager_client).text


# --- pause and resume ------------------------------------------------------------------------


def test_pausing_with_htmx_answers_the_team_region_with_a_toast(manager_client, manager, team):
    url = reverse("leads:team_pause", args=[team.alice.pk])
    response = manager_client.post(url, {"paused": "1"}, headers=HTMX)

    assert response.status_code == 200
    assert Membership.objects.get(pk=team.alice.pk).paused
    assert "<h1>" not in response.text  # the region, not the page
    assert cells(member_row(response.text, "Alice Visser"))[1] == "Paused"
    assert f'id="pause-{team.alice.pk}">Resume' in response.text
    assert "Alice Visser is paused" in response.headers["HX-Trigger"]
    entry = LogEntry.objects.get(object_id=str(team.alice.pk))
    assert (entry.user, entry.change_message) == (manager, "Paused on the Teams page.")


def test_resuming_without_javascript_redirects_back_to_the_team(manager_client, team):
    bob = Membership.objects.get(user__first_name="Bob")
    response = manager_client.post(reverse("leads:team_pause", args=[bob.pk]), {"paused": "0"})

    assert response.status_code == 302
    assert response["Location"] == f"/teams/#team-{team.pk}"
    assert not Membership.objects.get(pk=bob.pk).paused
    assert "Bob Janssen takes leads from Inbound" in manager_client.get(response["Location"]).text


def test_pausing_needs_a_clear_answer(manager_client, team):
    url = reverse("leads:team_pause", args=[team.alice.pk])
    assert manager_client.post(url, {"paused": "yes"}).status_code == 400
    assert not Membership.objects.get(pk=team.alice.pk).paused


def test_pausing_a_membership_that_is_gone_is_404(manager_client, team):
    url = reverse("leads:team_pause", args=[team.alice.pk + 100])
    assert manager_client.post(url, {"paused": "1"}).status_code == 404


# --- absences --------------------------------------------------------------------------------


def absence_url(team) -> str:
    return reverse("leads:team_absence_add", args=[team.pk])


@time_machine.travel(NOW)
def test_adding_an_absence_with_htmx_shows_it_in_the_members_row(manager_client, team):
    data = {"membership": team.alice.pk, "starts_on": "2026-12-21", "ends_on": "2026-12-31",
            "note": "Christmas"}  # fmt: skip
    response = manager_client.post(absence_url(team), data, headers=HTMX)

    assert response.status_code == 200
    absence = Absence.objects.get(membership=team.alice)
    assert (absence.starts_on, absence.ends_on, absence.note) == (
        datetime.date(2026, 12, 21), datetime.date(2026, 12, 31), "Christmas"
    )  # fmt: skip
    row = cells(member_row(response.text, "Alice Visser"))
    assert "21 Dec 2026 – 31 Dec 2026 · Christmas" in row[5]
    assert "Absence added: Alice Visser" in response.headers["HX-Trigger"]
    # The form is empty again for the next one.
    assert 'value="2026-12-21"' not in response.text


def test_adding_a_one_day_absence_without_javascript_redirects_back(manager_client, team):
    data = {"membership": team.alice.pk, "starts_on": "2026-12-21", "ends_on": "2026-12-21"}
    response = manager_client.post(absence_url(team), data)
    assert response.status_code == 302
    assert response["Location"] == f"/teams/#team-{team.pk}"
    assert Absence.objects.filter(membership=team.alice).count() == 1
    html = manager_client.get(response["Location"]).text
    assert "Absence added: Alice Visser, 21 Dec 2026." in html


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_an_absence_ending_before_it_starts_is_422_under_its_end_and_keeps_the_input(
    manager_client, team, headers
):
    data = {"membership": team.alice.pk, "starts_on": "2026-12-21", "ends_on": "2026-12-20",
            "note": "Skiing"}  # fmt: skip
    response = manager_client.post(absence_url(team), data, headers=headers)

    assert response.status_code == 422
    html = response.text
    error = re.search(rf'id="id_team{team.pk}_ends_on_error">(.*?)</div>', html, re.S)
    assert "An absence ends on or after the day it starts." in error.group(1)
    assert 'value="2026-12-21"' in html
    assert 'value="2026-12-20"' in html
    assert 'value="Skiing"' in html
    assert f'<option value="{team.alice.pk}" selected>' in html
    assert ("<h1>" in html) == (not headers)  # without htmx: the whole page
    assert not Absence.objects.filter(membership=team.alice).exists()


def test_an_absence_without_its_first_day_is_422_under_that_field(manager_client, team):
    data = {"membership": team.alice.pk, "starts_on": "", "ends_on": "2026-12-20"}
    response = manager_client.post(absence_url(team), data, headers=HTMX)

    assert response.status_code == 422
    error = re.search(rf'id="id_team{team.pk}_starts_on_error">(.*?)</div>', response.text, re.S)
    assert "Enter the first day of the absence." in error.group(1)
    assert 'value="2026-12-20"' in response.text
    assert 'aria-invalid="true"' in response.text


def test_an_absence_of_someone_outside_the_team_is_refused(manager_client, team):
    stranger = MembershipFactory(team__name="Outbound")
    data = {"membership": stranger.pk, "starts_on": "2026-12-21", "ends_on": "2026-12-22"}
    response = manager_client.post(absence_url(team), data, headers=HTMX)
    assert response.status_code == 422
    assert not stranger.absences.exists()


def test_removing_an_absence_asks_first(manager_client, team):
    absence = team.carol.absences.get()
    page = manager_client.get(reverse("leads:teams")).content.decode()

    form = page[page.index(reverse("leads:team_absence_remove", args=[absence.pk])) :]
    form = form[: form.index(">")]
    assert 'hx-confirm="Remove Carol de Wit' in html.unescape(form)
    assert "data-confirm-danger" in form


def test_removing_an_absence_takes_it_off_the_members_row(manager_client, manager, team):
    absence = team.carol.absences.get()
    response = manager_client.post(
        reverse("leads:team_absence_remove", args=[absence.pk]), headers=HTMX
    )

    assert response.status_code == 200
    assert not Absence.objects.filter(pk=absence.pk).exists()
    assert cells(member_row(response.text, "Carol de Wit"))[1] == "Active"
    assert "Absence removed: Carol de Wit" in response.headers["HX-Trigger"]
    entry = LogEntry.objects.get(object_id=str(team.carol.pk))
    assert entry.change_message.startswith("Removed the absence")


def test_removing_an_absence_without_javascript_redirects_back(manager_client, team):
    absence = team.carol.absences.get()
    response = manager_client.post(reverse("leads:team_absence_remove", args=[absence.pk]))
    assert response.status_code == 302
    assert not Absence.objects.exists()


def test_a_rep_made_manager_may_change_teams(client, team):
    promoted = RepFactory(username="promoted")
    promoted.groups.add(*ManagerFactory(username="boss").groups.all())
    client.force_login(promoted)
    response = client.post(reverse("leads:team_pause", args=[team.alice.pk]), {"paused": "1"})
    assert response.status_code == 302


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
