"""Closing a lead: how it was won or why it was lost, asked on every path, and reopening."""

import datetime
import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, LeadEvent, LossReason
from leads.services import lead_move_stage, lead_update, stage_delete
from tests.factories import (
    LeadFactory,
    LossReasonFactory,
    PipelineStageFactory,
    default_stage,
    loss_reason,
    lost,
)

pytestmark = pytest.mark.django_db

DIALOG = {"HX-Request": "true", "HX-Target": "closing-dialog-body"}


def today() -> datetime.date:
    return timezone.localdate()


def move_url(lead) -> str:
    return reverse("leads:move_stage", args=[lead.pk])


def close(client, lead, stage_name, headers=DIALOG, **fields):
    """Post the closing dialog's form for a move to ``stage_name``."""
    data = {"stage": default_stage(stage_name).pk, "origin": "detail", **fields}
    return client.post(move_url(lead), data, headers=headers)


def unchanged(lead) -> bool:
    """The lead is as it was: same stage and version, and no event was written."""
    fresh = Lead.objects.get(pk=lead.pk)
    return (
        fresh.stage_id == lead.stage_id
        and fresh.version == lead.version
        and not LeadEvent.objects.filter(lead=lead).exists()
    )


# --- The seeded reasons --------------------------------------------------------------------


def test_the_migration_seeds_the_six_reasons_in_order_with_other_needing_a_note():
    reasons = list(LossReason.objects.values_list("name", "note_required"))
    assert reasons == [
        ("Price too high", False),
        ("Chose competitor", False),
        ("No budget", False),
        ("Requirements changed", False),
        ("No response", False),
        ("Other", True),
    ]


def test_the_fallback_reason_is_made_again_when_an_admin_deleted_it():
    LossReason.objects.filter(slug="other").delete()
    reason = LossReason.objects.fallback()
    assert (reason.name, reason.note_required) == ("Other", True)


# --- The service: every path goes through it -------------------------------------------------


def test_moving_to_lost_without_a_reason_is_refused_and_moves_nothing(manager):
    lead = LeadFactory()
    with pytest.raises(ValidationError) as refused:
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Lost"), by=manager)
    assert refused.value.message_dict == {"lost_reason": ["Choose why the lead was lost."]}
    assert unchanged(lead)


def test_a_reason_that_needs_a_note_is_refused_without_one(manager):
    lead = LeadFactory()
    with pytest.raises(ValidationError) as refused:
        lead_move_stage(
            lead_id=lead.pk, stage=default_stage("Lost"), closing=lost("other"), by=manager
        )
    assert refused.value.message_dict == {
        "lost_note": ["Say what happened: the reason “Other” needs a note."]
    }
    assert unchanged(lead)


def test_an_admin_made_reason_can_ask_for_a_note_too(manager):
    reason = LossReasonFactory(name="Legal", slug="legal", note_required=True)
    lead = LeadFactory()
    closing = {"lost_reason": reason, "lost_note": "  "}
    with pytest.raises(ValidationError):
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Lost"), closing=closing, by=manager)


def test_losing_records_reason_competitor_note_and_the_day(manager):
    lead = LeadFactory()
    closing = lost("chose-competitor", competitor="Acme", lost_note="Cheaper by a third.")
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Lost"), closing=closing, by=manager)
    lead.refresh_from_db()
    assert lead.lost_reason == loss_reason("chose-competitor")
    assert (lead.competitor, lead.lost_note) == ("Acme", "Cheaper by a third.")
    assert lead.actual_close_date == today()
    assert lead.won_value is None
    event = lead.events.get()
    assert event.data["closing"] == {
        "actual_close_date": today().isoformat(),
        "lost_reason": "Chose competitor",
        "competitor": "Acme",
        "lost_note": "Cheaper by a third.",
    }
    assert event.describe().endswith("Lost: Chose competitor, to Acme (“Cheaper by a third.”)")


def test_winning_defaults_to_today_and_the_leads_value(manager):
    lead = LeadFactory(value=Decimal("12000"))
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), by=manager)
    lead.refresh_from_db()
    assert (lead.actual_close_date, lead.won_value, lead.value) == (
        today(),
        Decimal("12000"),
        Decimal("12000"),
    )
    assert (
        lead.events.get().describe().endswith(f"Won for €12,000 on {today().strftime('%-d %b %Y')}")
    )


def test_a_won_value_that_differs_updates_the_value_as_a_recorded_change(manager):
    lead = LeadFactory(value=Decimal("12000"))
    closing = {"won_value": Decimal("10500"), "actual_close_date": datetime.date(2026, 1, 5)}
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), closing=closing, by=manager)
    lead.refresh_from_db()
    assert (lead.won_value, lead.value) == (Decimal("10500"), Decimal("10500"))
    assert lead.actual_close_date == datetime.date(2026, 1, 5)
    change = lead.events.get(kind=LeadEvent.Kind.CHANGED)
    assert (change.data["field"], change.data["old"], change.data["new"]) == (
        "value",
        "12000",
        "10500",
    )


@pytest.mark.parametrize(
    ("closing", "field"),
    [
        (
            {"actual_close_date": datetime.date.today() + datetime.timedelta(days=2)},
            "actual_close_date",
        ),
        ({"won_value": Decimal("-1")}, "won_value"),
    ],
)
def test_bad_won_details_are_refused_and_move_nothing(manager, closing, field):
    lead = LeadFactory()
    with pytest.raises(ValidationError) as refused:
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), closing=closing, by=manager)
    assert field in refused.value.message_dict
    assert unchanged(lead)


def test_a_loss_note_of_501_characters_is_refused(manager):
    lead = LeadFactory()
    closing = lost(lost_note="x" * 501)
    with pytest.raises(ValidationError) as refused:
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Lost"), closing=closing, by=manager)
    assert "lost_note" in refused.value.message_dict
    assert unchanged(lead)


def test_reopening_clears_how_it_closed_and_the_timeline_keeps_it(manager):
    lead = LeadFactory()
    closing = lost(competitor="Acme", lost_note="Too dear.")
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Lost"), closing=closing, by=manager)
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Qualified"), by=manager)
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.competitor, lead.lost_note) == (None, "", "")
    assert (lead.actual_close_date, lead.won_value, lead.closed_at) == (None, None, None)
    reopened = lead.events.first()
    assert reopened.describe().startswith(
        "Reopened; was Lost: Price too high, to Acme (“Too dear.”). Stage: Lost → Qualified"
    )
    assert reopened.data["was"]["lost_reason"] == "Price too high"


def test_reopening_a_won_lead_says_what_it_was_won_for(manager):
    lead = LeadFactory(value=Decimal("9000"))
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), by=manager)
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Negotiation"), by=manager)
    lead.refresh_from_db()
    assert (lead.won_value, lead.actual_close_date) == (None, None)
    assert lead.value == Decimal("9000")  # the value stays: it is still the deal's size
    assert lead.events.first().describe().startswith("Reopened; was Won for €9,000 on ")


def test_a_won_lead_lost_after_all_gives_up_its_won_value(manager):
    lead = LeadFactory(stage=default_stage("Won"))
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Lost"), closing=lost(), by=manager)
    lead.refresh_from_db()
    assert (lead.won_value, lead.lost_reason) == (None, loss_reason("price-too-high"))


def test_a_lost_lead_won_after_all_gives_up_its_reason(manager):
    lead = LeadFactory(stage=default_stage("Lost"), competitor="Acme")
    lead_move_stage(lead_id=lead.pk, stage=default_stage("Won"), by=manager)
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.competitor, lead.won_value) == (None, "", lead.value)


def test_a_lead_moved_between_lost_stages_keeps_its_reason(manager):
    lead = LeadFactory(stage=default_stage("Lost"))
    pipeline = lead.stage.pipeline
    dropped = PipelineStageFactory(pipeline=pipeline, name="Dropped", order=99, kind="lost")
    lead_move_stage(lead_id=lead.pk, stage=dropped, by=manager)
    lead.refresh_from_db()
    assert (lead.stage, lead.lost_reason) == (dropped, loss_reason("price-too-high"))


def test_a_rep_cannot_close_someone_elses_lead(rep, other_rep):
    lead = LeadFactory(created_by=other_rep, assignee=other_rep)
    with pytest.raises(PermissionDenied):
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Lost"), closing=lost(), by=rep)
    assert unchanged(lead)


def test_editing_how_a_lost_lead_was_lost_is_recorded_field_by_field(manager):
    lead = LeadFactory(stage=default_stage("Lost"))
    lead_update(lead_id=lead.pk, values={"lost_reason": loss_reason("no-budget")}, by=manager)
    event = lead.events.get()
    assert event.describe() == "Loss reason: Price too high → No budget"


def test_a_won_leads_won_value_follows_a_value_typed_alone(manager):
    lead = LeadFactory(stage=default_stage("Won"), value=Decimal("5000"))
    lead_update(lead_id=lead.pk, values={"value": Decimal("5500")}, by=manager)
    lead.refresh_from_db()
    assert (lead.value, lead.won_value) == (Decimal("5500"), Decimal("5500"))


def test_deleting_a_stage_into_lost_says_why_the_leads_were_lost(admin_user):
    proposal = default_stage("Proposal")
    leads = LeadFactory.create_batch(2, stage=proposal)
    stage_delete(stage=proposal, move_to=default_stage("Lost"), by=admin_user)
    for lead in leads:
        lead.refresh_from_db()
        assert lead.lost_reason == loss_reason("other")
        assert lead.lost_note == "Moved to Lost when the stage Proposal was deleted."
        assert lead.actual_close_date == today()


# --- The closing dialog and its page ----------------------------------------------------------


def test_the_dialog_asks_for_the_reason_competitor_and_note(rep_client, rep):
    LeadFactory(stage=default_stage("Lost"), competitor="Acme")
    lead = LeadFactory(created_by=rep)
    response = rep_client.get(
        move_url(lead), {"stage": default_stage("Lost").pk, "origin": "detail"}, headers=DIALOG
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # the dialog's content only
    assert 'name="lost_reason"' in html
    assert 'name="competitor"' in html
    assert 'name="lost_note"' in html
    assert 'maxlength="500"' in html
    assert '<option value="Acme">' in html  # earlier competitors are suggested
    assert 'name="won_value"' not in html
    assert 'name="origin" value="detail"' in html


def test_the_won_dialog_defaults_to_today_and_the_leads_value(rep_client, rep):
    lead = LeadFactory(created_by=rep, value=Decimal("25000"))
    response = rep_client.get(move_url(lead), {"stage": default_stage("Won").pk}, headers=DIALOG)
    html = response.content.decode()
    assert f'value="{today().isoformat()}"' in html
    assert 'name="won_value" value="25000.00"' in html
    assert 'name="lost_reason"' not in html


def test_without_javascript_the_closing_form_is_a_page(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.get(move_url(lead), {"stage": default_stage("Lost").pk})
    assert "<html" in response.content.decode()
    assert "Mark “" in response.content.decode()


def test_a_reader_gets_no_closing_form(client, reader):
    client.force_login(reader)
    lead = LeadFactory()
    assert client.get(move_url(lead), {"stage": default_stage("Lost").pk}).status_code == 403


def test_a_rep_gets_no_closing_form_for_someone_elses_lead(rep_client, other_rep):
    lead = LeadFactory(created_by=other_rep, assignee=other_rep)
    response = rep_client.get(move_url(lead), {"stage": default_stage("Lost").pk})
    assert response.status_code == 403
    response = close(rep_client, lead, "Lost", lost_reason=loss_reason("no-budget").pk)
    assert response.status_code == 403
    assert unchanged(lead)


def test_posting_without_a_reason_is_422_with_the_error_in_the_dialog(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = close(rep_client, lead, "Lost", competitor="Acme", lost_note="Kept.")
    html = response.content.decode()
    assert response.status_code == 422
    assert "<html" not in html
    assert "Choose why the lead was lost." in html
    assert 'value="Acme"' in html  # what was typed is kept
    assert ">\nKept.</textarea>" in html
    assert unchanged(lead)


@pytest.mark.parametrize(
    ("stage_name", "fields", "message"),
    [
        ("Lost", {"lost_note": "x" * 501}, "at most 500 characters (it has 501)"),
        ("Lost", {"competitor": "y" * 101}, "at most 100 characters (it has 101)"),
        ("Won", {"actual_close_date": "2999-01-01"}, "The close date cannot be in the future."),
        ("Won", {"won_value": "-5"}, "Won value must be non-negative."),
        ("Won", {"actual_close_date": "yesterday"}, "Enter a date"),
    ],
)
def test_bad_closing_input_is_422_and_moves_nothing(rep_client, rep, stage_name, fields, message):
    lead = LeadFactory(created_by=rep)
    if stage_name == "Lost":
        fields = {"lost_reason": loss_reason("no-budget").pk, **fields}
    response = close(rep_client, lead, stage_name, **fields)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert unchanged(lead)


def test_other_without_a_note_is_422(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = close(rep_client, lead, "Lost", lost_reason=loss_reason("other").pk)
    assert response.status_code == 422
    assert "needs a note" in response.content.decode()
    assert unchanged(lead)


def test_a_closed_move_from_the_dialog_updates_the_detail_and_closes_the_dialog(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = close(
        rep_client, lead, "Lost", lost_reason=loss_reason("no-budget").pk, competitor="Acme"
    )
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#lead-stage"
    triggers = json.loads(response.headers["HX-Trigger"])
    assert "closeDialog" in triggers
    assert "timelineChanged" in triggers  # the timeline shows the move without a reload
    assert triggers["showToast"]["message"] == "Moved to Lost."
    html = response.content.decode()
    assert "<dt>Loss reason</dt><dd>No budget</dd>" in html
    assert "<dt>Competitor</dt><dd>Acme</dd>" in html
    lead.refresh_from_db()
    assert (lead.stage.name, lead.lost_reason.name) == ("Lost", "No budget")


def test_a_closed_move_from_the_board_answers_with_the_board(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.post(
        move_url(lead),
        {"stage": default_stage("Won").pk, "origin": "board", "won_value": "800"},
        headers={**DIALOG, "HX-Current-URL": "http://testserver/board/"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#board"
    assert 'class="board-column' in response.content.decode()
    lead.refresh_from_db()
    assert (lead.stage.name, lead.won_value, lead.value) == ("Won", Decimal("800"), Decimal("800"))


def test_a_plain_post_without_a_reason_shows_the_form_page_with_the_error(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = close(rep_client, lead, "Lost", headers={})
    assert response.status_code == 422
    assert "<html" in response.content.decode()
    assert "Choose why the lead was lost." in response.content.decode()
    assert unchanged(lead)


def test_a_plain_post_with_a_reason_moves_and_redirects(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = close(rep_client, lead, "Lost", headers={}, lost_reason=loss_reason("no-budget").pk)
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.lost_reason.name == "No budget"


def test_an_inactive_reason_is_not_offered_nor_accepted(rep_client, rep):
    LossReason.objects.filter(slug="no-budget").update(active=False)
    lead = LeadFactory(created_by=rep)
    form = rep_client.get(move_url(lead), {"stage": default_stage("Lost").pk}, headers=DIALOG)
    assert "No budget" not in form.content.decode()
    response = close(rep_client, lead, "Lost", lost_reason=loss_reason("no-budget").pk)
    assert response.status_code == 422
    assert unchanged(lead)


# --- The detail page: the tracker's next step and the closing facts ---------------------------


def detail(client, lead):
    return client.get(reverse("leads:detail", args=[lead.pk])).content.decode()


def test_the_tracker_offers_the_next_open_stage(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    html = detail(rep_client, lead)
    assert "Move to Contacted" in html


def test_after_the_last_open_stage_the_next_step_is_won(rep_client, rep):
    lead = LeadFactory(created_by=rep, stage=default_stage("Negotiation"))
    html = detail(rep_client, lead)
    assert "Mark as Won" in html
    assert f"{move_url(lead)}?stage={default_stage('Won').pk}" in html


def test_a_closed_lead_has_no_next_step(rep_client, rep):
    lead = LeadFactory(created_by=rep, stage=default_stage("Lost"))
    html = detail(rep_client, lead)
    assert "Move to " not in html.split('id="info-title"')[0].split("tracker-head")[1]


def test_the_next_step_moves_the_lead(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.post(
        move_url(lead),
        {"stage": default_stage("Contacted").pk},
        headers={"HX-Request": "true", "HX-Target": "lead-stage"},
    )
    assert response.status_code == 200
    assert "Move to Qualified" in response.content.decode()


def test_the_info_grid_shows_how_a_lead_was_lost(rep_client):
    lead = LeadFactory(
        stage=default_stage("Lost"),
        competitor="Acme",
        lost_note="They chose the cheaper offer.",
        actual_close_date=datetime.date(2026, 3, 4),
    )
    html = detail(rep_client, lead)
    assert "<dt>Loss reason</dt><dd>Price too high</dd>" in html
    assert "<dt>Competitor</dt><dd>Acme</dd>" in html
    assert "They chose the cheaper offer." in html
    assert "4 Mar 2026" in html


def test_the_info_grid_shows_how_a_lead_was_won(rep_client):
    lead = LeadFactory(
        stage=default_stage("Won"),
        value=Decimal("7000"),
        actual_close_date=datetime.date(2026, 2, 1),
    )
    html = detail(rep_client, lead)
    assert "<dt>Won on</dt>" in html
    assert "1 Feb 2026" in html
    assert "<dt>Won value</dt>" in html


# --- The edit form -------------------------------------------------------------------------


def form_data(lead, **changes) -> dict:
    data = {
        "title": lead.title,
        "stage": lead.stage_id,
        "priority": lead.priority,
        "value": lead.value,
        "version": lead.version,
    }
    return {**data, **{k: v for k, v in changes.items() if v is not None}}


def test_choosing_a_lost_stage_in_the_form_shows_the_closing_fields(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.get(
        reverse("leads:update", args=[lead.pk]),
        {"stage": default_stage("Lost").pk},
        headers={"HX-Request": "true", "HX-Target": "closing-fields"},
    )
    html = response.content.decode()
    assert "<html" not in html
    assert "Why it was lost" in html
    assert 'name="lost_reason"' in html


def test_an_open_stage_shows_no_closing_fields(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    html = rep_client.get(reverse("leads:update", args=[lead.pk])).content.decode()
    assert 'name="lost_reason"' not in html
    assert 'id="closing-fields"' in html


def test_saving_the_form_as_lost_without_a_reason_is_422_and_keeps_the_input(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    data = form_data(lead, stage=default_stage("Lost").pk, title="Renamed", competitor="Acme")
    response = rep_client.post(reverse("leads:update", args=[lead.pk]), data)
    html = response.content.decode()
    assert response.status_code == 422
    assert "Choose why the lead was lost." in html
    assert 'value="Renamed"' in html
    assert 'value="Acme"' in html
    assert unchanged(lead)


def test_saving_the_form_as_lost_with_a_reason_closes_the_lead(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    data = form_data(
        lead, stage=default_stage("Lost").pk, lost_reason=loss_reason("no-response").pk
    )
    response = rep_client.post(reverse("leads:update", args=[lead.pk]), data)
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage.name, lead.lost_reason.name, lead.actual_close_date) == (
        "Lost",
        "No response",
        today(),
    )


def test_reopening_in_the_form_clears_the_closing_fields(rep_client, rep):
    lead = LeadFactory(created_by=rep, stage=default_stage("Lost"), competitor="Acme")
    # Without JavaScript the old closing fields are still in the form: they are cleared.
    data = form_data(
        lead,
        stage=default_stage("Contacted").pk,
        lost_reason=lead.lost_reason_id,
        competitor="Acme",
    )
    response = rep_client.post(reverse("leads:update", args=[lead.pk]), data)
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.competitor, lead.actual_close_date) == (None, "", None)


def test_creating_a_lead_as_won_fills_the_won_details(rep_client):
    data = {
        "title": "Signed",
        "stage": default_stage("Won").pk,
        "priority": "normal",
        "value": "300",
    }
    response = rep_client.post(reverse("leads:create"), data)
    assert response.status_code == 302
    lead = Lead.objects.get(title="Signed")
    assert (lead.won_value, lead.actual_close_date) == (Decimal("300"), today())


def test_a_lead_created_won_for_another_amount_takes_it_as_its_value(rep_client):
    data = {
        "title": "Signed lower",
        "stage": default_stage("Won").pk,
        "priority": "normal",
        "value": "1000",
        "won_value": "900",
    }
    response = rep_client.post(reverse("leads:create"), data)
    assert response.status_code == 302
    lead = Lead.objects.get(title="Signed lower")
    assert (lead.won_value, lead.value) == (Decimal("900"), Decimal("900"))
