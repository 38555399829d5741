"""The lead's detail page and the stage tracker's moves."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from leads.models import LeadEvent
from tests.factories import ClientFactory, ContactFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "lead-stage"}


def detail(client, lead, **kwargs):
    return client.get(reverse("leads:detail", args=[lead.pk]), **kwargs)


def test_info_grid_shows_value_probability_weighted_value_and_source(rep_client):
    lead = LeadFactory(value=Decimal("25000"), probability=40, category="Software")
    html = detail(rep_client, lead).content.decode()
    assert "€25,000" in html
    assert "40%" in html
    assert "€10,000" in html  # weighted
    assert "Website" in html
    assert "Software" in html


def test_unknown_value_shows_a_dash(rep_client):
    lead = LeadFactory(value=None)
    html = detail(rep_client, lead).content.decode()
    assert "<dt>Value</dt><dd" in html
    assert "—" in html


@time_machine.travel(datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC))
def test_open_lead_past_its_close_date_says_how_many_days_overdue(rep_client):
    lead = LeadFactory(expected_close_date=datetime.date(2026, 11, 21))
    assert "5 days overdue" in detail(rep_client, lead).content.decode()


@time_machine.travel(datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC))
def test_open_lead_due_today_says_due_today(rep_client):
    lead = LeadFactory(expected_close_date=datetime.date(2026, 11, 26))
    assert "Due today" in detail(rep_client, lead).content.decode()


@time_machine.travel(datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC))
def test_won_lead_is_never_overdue(rep_client):
    lead = LeadFactory(expected_close_date=datetime.date(2026, 11, 1), stage=default_stage("Won"))
    assert "overdue" not in detail(rep_client, lead).content.decode()


def test_description_keeps_its_line_breaks_and_is_escaped(rep_client):
    lead = LeadFactory(description="First line\nSecond <b>line</b>")
    html = detail(rep_client, lead).content.decode()
    assert 'class="description">First line\nSecond &lt;b&gt;line&lt;/b&gt;' in html


def tracker_states(html: str) -> dict[str, str]:
    """{stage name: completed|current|future} read from the rendered tracker."""
    import re

    states = {}
    for state, name in re.findall(
        r'class="tracker-step is-(\w+)[^"]*".*?class="tracker-label">([^<]+)<', html, re.S
    ):
        states[name] = state
    return states


def test_tracker_marks_earlier_stages_completed_and_later_ones_future(rep_client):
    lead = LeadFactory(stage=default_stage("Qualified"))
    states = tracker_states(detail(rep_client, lead).content.decode())
    assert states == {
        "New": "completed",
        "Contacted": "completed",
        "Qualified": "current",
        "Proposal": "future",
        "Negotiation": "future",
        "Won": "future",
        "Lost": "future",
    }


def test_tracker_of_won_lead_shows_open_stages_completed_and_won_current(rep_client):
    lead = LeadFactory(stage=default_stage("Won"))
    html = detail(rep_client, lead).content.decode()
    states = tracker_states(html)
    assert states["Negotiation"] == "completed"
    assert states["Won"] == "current"
    assert states["Lost"] == "future"
    assert 'is-current is-won" aria-current="step"' in html


def test_tracker_shows_lost_distinctly(rep_client):
    lead = LeadFactory(stage=default_stage("Lost"))
    html = detail(rep_client, lead).content.decode()
    assert tracker_states(html)["Lost"] == "current"
    assert 'is-current is-lost" aria-current="step"' in html
    assert "badge-lost" in html


def test_tracker_asks_how_the_lead_closed_before_won_and_lost(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    html = detail(rep_client, lead).content.decode()
    url = reverse("leads:move_stage", args=[lead.pk])
    for name in ("Won", "Lost"):
        stage = default_stage(name)
        # A link to the closing form (a page without JavaScript), loaded into the dialog.
        assert f'href="{url}?stage={stage.pk}"' in html
        assert f'hx-get="{url}?stage={stage.pk}&amp;origin=detail"' in html
    assert 'id="closing-dialog"' in html
    assert 'hx-confirm="Mark' not in html


def test_reader_sees_the_tracker_without_move_buttons(client, reader):
    client.force_login(reader)
    lead = LeadFactory()
    html = detail(client, lead).content.decode()
    assert "tracker-step" in html
    assert reverse("leads:move_stage", args=[lead.pk]) not in html
    assert reverse("leads:update", args=[lead.pk]) not in html


def test_linked_client_and_contact_are_shown_with_details(rep_client):
    client = ClientFactory(name="Acme BV", email="info@acme.example", phone="+31 20 555 0101")
    contact = ContactFactory(client=client, name="Ann Smit", job_title="CFO")
    lead = LeadFactory(client=client, contact=contact)
    html = detail(rep_client, lead).content.decode()
    assert "Acme BV" in html
    assert "info@acme.example" in html
    assert "+31 20 555 0101" in html
    assert "Ann Smit" in html
    assert "CFO" in html


def test_soft_deleted_client_and_contact_show_placeholders_not_links(rep_client):
    client = ClientFactory(name="Gone BV")
    contact = ContactFactory(client=client, name="Gone Person")
    lead = LeadFactory(client=client, contact=contact)
    contact.soft_delete()
    client.soft_delete()
    html = detail(rep_client, lead).content.decode()
    assert "Deleted client" in html
    assert "Deleted contact" in html
    assert "Gone BV" not in html
    assert client.get_absolute_url() not in html


def test_lead_without_client_says_so_and_offers_to_link_one(rep_client, rep):
    lead = LeadFactory(client=None, created_by=rep)
    html = detail(rep_client, lead).content.decode()
    assert "No client linked." in html
    assert "Link a client" in html


def test_missing_lead_is_404(rep_client):
    assert rep_client.get(reverse("leads:detail", args=[999999])).status_code == 404


def test_detail_page_runs_a_constant_small_number_of_queries(
    rep_client, django_assert_max_num_queries
):
    client = ClientFactory()
    lead = LeadFactory(client=client, contact=ContactFactory(client=client))
    # Two of them for the score card: the active criteria, and the sources they name.
    with django_assert_max_num_queries(10):
        assert detail(rep_client, lead).status_code == 200


# --- moving between stages ----------------------------------------------------------------


def move(client, lead, stage, htmx=True):
    headers = HTMX if htmx else {}
    return client.post(
        reverse("leads:move_stage", args=[lead.pk]), {"stage": stage.pk}, headers=headers
    )


def test_htmx_move_swaps_tracker_and_info_grid_and_toasts(rep_client, rep):
    lead = LeadFactory(created_by=rep, probability=10)
    response = move(rep_client, lead, default_stage("Proposal"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert tracker_states(html)["Proposal"] == "current"
    assert "<dt>Probability</dt><dd>60%</dd>" in html
    assert "Moved to Proposal" in response.headers["HX-Trigger"]
    lead.refresh_from_db()
    assert lead.stage.name == "Proposal"
    assert lead.probability == 60
    event = LeadEvent.objects.get(lead=lead, kind=LeadEvent.Kind.STAGE_CHANGED)
    assert (event.data["old"], event.data["new"], event.actor) == ("New", "Proposal", rep)


def test_plain_post_move_redirects_to_the_lead(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = move(rep_client, lead, default_stage("Contacted"), htmx=False)
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()
    lead.refresh_from_db()
    assert lead.stage.name == "Contacted"


def test_moving_to_won_closes_the_lead(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    move(rep_client, lead, default_stage("Won"))
    lead.refresh_from_db()
    assert lead.status == "won"
    assert lead.probability == 100
    assert lead.closed_at is not None


def test_moving_to_a_stage_of_another_pipeline_is_refused(rep_client, rep):
    from tests.factories import PipelineStageFactory

    lead = LeadFactory(created_by=rep)
    foreign = PipelineStageFactory()
    response = move(rep_client, lead, foreign)
    assert response.status_code == 422
    assert "Stage no longer exists" in response.headers["HX-Trigger"]
    assert response.headers["HX-Reswap"] == "none"
    lead.refresh_from_db()
    assert lead.stage.name == "New"


def test_moving_someone_elses_lead_as_a_rep_is_forbidden(rep_client, other_rep):
    lead = LeadFactory(created_by=other_rep, assignee=other_rep)
    response = move(rep_client, lead, default_stage("Contacted"))
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.stage.name == "New"


def test_manager_may_move_any_lead(manager_client, other_rep):
    lead = LeadFactory(created_by=other_rep)
    assert move(manager_client, lead, default_stage("Contacted")).status_code == 200


def test_move_answers_get_with_the_closing_form_and_refuses_other_methods(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    url = reverse("leads:move_stage", args=[lead.pk])
    page = rep_client.get(url, {"stage": default_stage("Lost").pk})
    assert page.status_code == 200
    assert "Mark “Lead" in page.text
    assert 'name="lost_reason"' in page.text
    assert rep_client.put(url).status_code == 405


@pytest.mark.parametrize(
    ("priority", "shown"),
    [
        ("high", '<span class="badge badge-high">High</span>'),
        ("urgent", '<span class="badge badge-urgent">Urgent</span>'),
        ("normal", "Normal"),  # no badge: the word
    ],
)
def test_the_info_grid_names_the_priority_once(rep_client, priority, shown):
    lead = LeadFactory(priority=priority)
    html = detail(rep_client, lead).content.decode()
    assert f"<dt>Priority</dt><dd>{shown}</dd>" in html


def test_the_owner_and_the_creator_are_read_in_one_query(
    rep_client, rep, manager, django_assert_max_num_queries
):
    lead = LeadFactory(assignee=rep, created_by=manager)

    # Twelve, with what the owner's assignment picker reads; one query reads both people,
    # where a query each made thirteen.
    with django_assert_max_num_queries(12):
        html = detail(rep_client, lead).content.decode()

    assert f'<span id="lead-assignee">{rep.get_full_name() or rep.username}</span>' in html
    assert f"by {manager.get_full_name() or manager.username}" in html
