"""My Work: the signed-in user's open leads grouped by when they are due."""

import datetime
import re

import pytest
import time_machine
from django.urls import reverse

from tests.factories import ClientFactory, LeadFactory, default_stage, loss_reason

pytestmark = pytest.mark.django_db

# Thursday 26 November 2026, noon in Amsterdam; that week ends on Sunday 29 November.
NOW = datetime.datetime(2026, 11, 26, 11, tzinfo=datetime.UTC)
TODAY = datetime.date(2026, 11, 26)


def days(n):
    return TODAY + datetime.timedelta(days=n)


def my_work(client, query=""):
    return client.get(reverse("leads:my_work") + query)


def group_titles(html):
    return re.findall(r'<h2 id="group-(\w+)">', html)


def titles_in_group(html, key):
    section = html.split(f'id="group-{key}"')[1].split("</section>")[0]
    return re.findall(r'class="work-title" href="[^"]+">([^<]+)<', section)


def test_root_redirects_to_my_work(rep_client):
    response = rep_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:my_work")


@time_machine.travel(NOW)
def test_groups_leads_by_due_date_and_hides_empty_groups(rep_client, rep):
    LeadFactory(assignee=rep, title="Late", expected_close_date=days(-3))
    LeadFactory(assignee=rep, title="Today", expected_close_date=TODAY)
    LeadFactory(assignee=rep, title="Sunday", expected_close_date=days(3))
    LeadFactory(assignee=rep, title="Monday", expected_close_date=days(4))
    html = my_work(rep_client).content.decode()
    assert group_titles(html) == ["overdue", "week", "upcoming"]  # no "No due date" group
    assert titles_in_group(html, "overdue") == ["Late"]
    assert titles_in_group(html, "week") == ["Today", "Sunday"]
    assert titles_in_group(html, "upcoming") == ["Monday"]
    assert "3 days overdue" in html
    assert "Due today" in html
    assert "is-overdue" in html


@time_machine.travel(NOW)
def test_header_counts_my_open_leads_only(rep_client, rep, other_rep):
    LeadFactory.create_batch(3, assignee=rep)
    LeadFactory(assignee=rep, stage=default_stage("Won"))
    LeadFactory(assignee=other_rep)
    LeadFactory(assignee=None)
    html = my_work(rep_client).content.decode()
    assert "Leads (3)" in html
    assert group_titles(html) == ["none"]


@time_machine.travel(NOW)
def test_within_a_group_priority_rank_comes_first_then_due_date(rep_client, rep):
    LeadFactory(assignee=rep, title="Normal soon", priority="normal", expected_close_date=days(10))
    LeadFactory(assignee=rep, title="Urgent late", priority="urgent", expected_close_date=days(30))
    LeadFactory(assignee=rep, title="Urgent soon", priority="urgent", expected_close_date=days(8))
    LeadFactory(assignee=rep, title="Low soonest", priority="low", expected_close_date=days(7))
    LeadFactory(assignee=rep, title="High", priority="high", expected_close_date=days(20))
    html = my_work(rep_client).content.decode()
    assert titles_in_group(html, "upcoming") == [
        "Urgent soon",
        "Urgent late",
        "High",
        "Normal soon",
        "Low soonest",
    ]


@time_machine.travel(NOW)
def test_show_completed_adds_won_and_lost_leads(rep_client, rep):
    LeadFactory(assignee=rep, title="Still open")
    LeadFactory(assignee=rep, title="Got it", stage=default_stage("Won"))
    LeadFactory(assignee=rep, title="Missed it", stage=default_stage("Lost"))
    hidden = my_work(rep_client).content.decode()
    assert "Got it" not in hidden
    assert "Show completed" in hidden
    shown = my_work(rep_client, "?completed=1").content.decode()
    assert set(titles_in_group(shown, "completed")) == {"Got it", "Missed it"}
    assert "Hide completed" in shown
    assert "Leads (1)" in shown


@time_machine.travel(NOW)
def test_each_item_shows_stage_pipeline_value_date_priority_and_client(rep_client, rep):
    LeadFactory(
        assignee=rep,
        title="Big one",
        value=25000,
        priority="urgent",
        expected_close_date=days(1),
        client=ClientFactory(name="Acme BV"),
        stage=default_stage("Proposal"),
    )
    html = my_work(rep_client).content.decode()
    for text in ["Big one", "Proposal", "Sales", "€25,000", "27 Nov 2026", "Urgent", "Acme BV"]:
        assert text in html


@time_machine.travel(NOW)
def test_a_completed_lead_shows_when_it_closed_and_why_a_lost_one_was_lost(rep_client, rep):
    LeadFactory(
        assignee=rep,
        title="Got it",
        stage=default_stage("Won"),
        expected_close_date=days(-30),
        actual_close_date=days(-2),
    )
    LeadFactory(
        assignee=rep,
        title="Missed it",
        stage=default_stage("Lost"),
        actual_close_date=days(-1),
        lost_reason=loss_reason("chose-competitor"),
        competitor="Acme & Co",
    )
    section = my_work(rep_client, "?completed=1").content.decode().split('id="group-completed"')[1]
    items = section.split('<li class="work-item')[1:]
    got_it = next(item for item in items if "Got it" in item)
    missed_it = next(item for item in items if "Missed it" in item)
    assert 'Closed <time datetime="2026-11-24">24 Nov 2026</time>' in got_it
    assert "27 Oct 2026" not in got_it  # the due date of a closed lead says nothing now
    assert 'Closed <time datetime="2026-11-25">25 Nov 2026</time>' in missed_it
    assert '<span class="muted">Chose competitor · Acme &amp; Co</span>' in missed_it


def test_empty_state_points_at_unassigned_leads(rep_client):
    html = my_work(rep_client).content.decode()
    assert "no open leads are assigned to you" in html
    assert "?assignee=none" in html


def test_htmx_toggle_returns_only_the_groups(rep_client, rep):
    LeadFactory(assignee=rep)
    response = rep_client.get(
        reverse("leads:my_work") + "?completed=1",
        headers={"HX-Request": "true", "HX-Target": "my-work"},
    )
    assert "<html" not in response.content.decode()
    assert "Hide completed" in response.content.decode()


@pytest.mark.parametrize("count", [3, 40])
def test_query_count_is_constant(rep_client, rep, count, django_assert_max_num_queries):
    for _ in range(count):
        LeadFactory(assignee=rep, client=ClientFactory())
    LeadFactory.create_batch(count, assignee=rep, stage=default_stage("Won"))
    LeadFactory.create_batch(count, assignee=rep, stage=default_stage("Lost"))  # with reasons
    # session, user, two for permissions, the ranking, the leads shown, the completed ones
    with django_assert_max_num_queries(7):
        my_work(rep_client, "?completed=1")


def test_an_item_escapes_what_users_typed_and_keeps_braces(rep_client, rep):
    LeadFactory(
        assignee=rep,
        title='<script>alert("x")</script> {title}',
        client=ClientFactory(name="Smith & <b>Sons</b> {client}"),
    )
    page = my_work(rep_client).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; {title}</a>" in page
    assert "Smith &amp; &lt;b&gt;Sons&lt;/b&gt; {client}" in page


def test_a_closed_item_says_when_it_closed_in_the_readers_language(rep_client, rep):
    LeadFactory(
        assignee=rep, stage=default_stage("Won"), actual_close_date=datetime.date(2026, 3, 2)
    )
    response = rep_client.get(reverse("leads:my_work") + "?completed=1", HTTP_ACCEPT_LANGUAGE="nl")
    assert 'Gesloten <time datetime="2026-03-02">2 mrt. 2026</time>' in response.content.decode()
