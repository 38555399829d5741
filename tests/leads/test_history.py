"""A lead's history: events for every change, the timeline on the detail page, and notes."""

import datetime
import html
import re
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import DatabaseError
from django.urls import reverse

from leads.models import Lead, LeadEvent
from leads.services import (
    lead_add_note,
    lead_assign,
    lead_create,
    lead_delete,
    lead_move_stage,
    lead_update,
)
from tests.factories import (
    LeadEventFactory,
    LeadFactory,
    ManagerFactory,
    PipelineStageFactory,
    RepFactory,
    UserFactory,
    default_stage,
    loss_reason,
)

pytestmark = pytest.mark.django_db

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# Tuesday 1 December 2026, 09:30 in Amsterdam.
START = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=AMSTERDAM)

HTMX_TIMELINE = {"HX-Request": "true", "HX-Target": "lead-timeline"}
HTMX_MORE = {"HX-Request": "true", "HX-Target": "timeline-more"}

ENTRY = re.compile(
    r'<li class="timeline-item timeline-(?P<kind>\w+)">\s*'
    r'<div class="timeline-meta">\s*<time datetime="[^"]+">(?P<date>[^<]+)</time>\s*'
    r"·\s*(?P<actor>[^<]*?)\s*</div>\s*"
    r'<div class="timeline-body">\s*(?P<body>.*?)\s*</div>\s*</li>',
    re.S,
)
NOTE_TEXT = re.compile(r'<div class="description">(?P<text>.*?)</div>', re.S)
LOAD_MORE = re.compile(
    r'<li id="timeline-more" class="timeline-more">\s*'
    r'<a class="btn btn-sm" href="\?events_page=(?P<href_page>\d+)#lead-timeline"\s*'
    r'hx-get="\?events_page=(?P<page>\d+)" hx-target="#timeline-more" hx-swap="outerHTML">'
    r"Load more</a>",
    re.S,
)
NOTE_TEXTAREA = re.compile(r'<textarea name="text"[^>]*>\n?(?P<value>.*?)</textarea>', re.S)


def detail(client, lead, query="", headers=None):
    return client.get(reverse("leads:detail", args=[lead.pk]) + query, headers=headers or {})


def timeline(response) -> list[dict]:
    """The rendered timeline entries, top to bottom: kind, date, actor, sentence, note."""
    entries = []
    for match in ENTRY.finditer(response.content.decode()):
        body = match["body"]
        note = NOTE_TEXT.search(body)
        entries.append(
            {
                "kind": match["kind"],
                "date": match["date"],
                "actor": html.unescape(match["actor"]),
                "sentence": html.unescape(body.split("<div", 1)[0].strip()),
                "note": html.unescape(note["text"]) if note else None,
            }
        )
    return entries


def sentences(response) -> list[str]:
    return [entry["sentence"] for entry in timeline(response)]


def load_more_page(response) -> int | None:
    match = LOAD_MORE.search(response.content.decode())
    if match is None:
        return None
    assert match["href_page"] == match["page"]  # the plain link and htmx ask for the same page
    return int(match["page"])


def name(user) -> str:
    return user.get_full_name() or user.get_username()


def edit_data(lead, **overrides):
    data = {
        "title": lead.title,
        "stage": lead.stage_id,
        "priority": lead.priority,
        "value": "" if lead.value is None else str(lead.value),
        "probability": "" if lead.probability is None else str(lead.probability),
        "expected_close_date": lead.expected_close_date or "",
        "assignee": lead.assignee_id or "",
        "source": lead.source_id or "",
        "client": lead.client_id or "",
        "contact": lead.contact_id or "",
        "category": lead.category,
        "description": lead.description,
        "version": lead.version,
    }
    data.update(overrides)
    return data


def edit(client, lead, **overrides):
    return client.post(reverse("leads:update", args=[lead.pk]), edit_data(lead, **overrides))


def add_note(client, lead, text, htmx=True):
    return client.post(
        reverse("leads:add_note", args=[lead.pk]),
        {"text": text},
        headers=HTMX_TIMELINE if htmx else {},
    )


def move(client, lead, stage, **closing):
    """Move through the tracker; a lost stage is given a reason unless ``closing`` says."""
    if stage.kind == "lost" and not closing:
        closing = {"lost_reason": loss_reason("price-too-high").pk}
    return client.post(
        reverse("leads:move_stage", args=[lead.pk]),
        {"stage": stage.pk, **closing},
        headers={"HX-Request": "true", "HX-Target": "lead-stage"},
    )


def assign(client, lead, username):
    return client.post(
        reverse("leads:assign", args=[lead.pk]),
        {"assignee": username},
        headers={"HX-Request": "true", "HX-Target": "lead-stage"},
    )


# --- events -------------------------------------------------------------------------------


@time_machine.travel(START, tick=False)
def test_creating_a_lead_records_who_created_it_and_when(client, rep):
    client.force_login(rep)  # a session started now, in the travelled-to time
    response = client.post(
        reverse("leads:create"),
        {"title": "Fresh deal", "stage": default_stage().pk, "priority": "normal"},
    )
    assert response.status_code == 302
    lead = Lead.objects.get(title="Fresh deal")
    event = lead.events.get()
    assert (event.kind, event.actor, event.at) == (LeadEvent.Kind.CREATED, rep, START)
    assert timeline(detail(client, lead)) == [
        {
            "kind": "created",
            "date": "1 Dec 2026 09:30",
            "actor": name(rep),
            "sentence": "Created the lead",
            "note": None,
        }
    ]


def test_an_edit_records_one_event_per_changed_field_with_old_and_new(rep_client, rep):
    lead = LeadFactory(
        created_by=rep, title="Old title", value=Decimal("25000"), priority="normal", category=""
    )
    response = edit(
        rep_client,
        lead,
        title="New title",
        value="30000",
        priority="high",
        expected_close_date="2026-12-01",
    )
    assert response.status_code == 302
    changes = {
        e.data["field"]: (e.data["old"], e.data["new"], e.actor)
        for e in lead.events.filter(kind=LeadEvent.Kind.CHANGED)
    }
    assert changes == {
        "title": ("Old title", "New title", rep),
        "value": ("25000", "30000", rep),
        "priority": ("Normal", "High", rep),
        "expected_close_date": ("", "2026-12-01", rep),
    }
    shown = sentences(detail(rep_client, lead))
    assert len(shown) == 4  # one entry per field; the value's sentence has a test of its own
    assert {
        "Expected close: — → 1 Dec 2026",
        "Priority: Normal → High",
        "Title: Old title → New title",
    } <= set(shown)


def test_a_value_change_reads_as_money_under_the_label_value(rep_client, rep):
    lead = LeadFactory(created_by=rep, value=Decimal("25000"))
    edit(rep_client, lead, value="30000")
    assert sentences(detail(rep_client, lead)) == ["Value: €25,000 → €30,000"]


def test_a_value_that_becomes_unknown_reads_as_a_dash(rep):
    lead = LeadFactory(created_by=rep, value=Decimal("25000.50"))
    lead_update(lead_id=lead.pk, values={"value": None}, expected_version=1, by=rep)
    assert lead.events.get().describe().endswith(": €25,000.50 → —")


def test_saving_without_changes_records_nothing(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    assert edit(rep_client, lead).status_code == 302
    assert not lead.events.exists()


def test_a_stage_change_records_from_to_and_the_time_spent_in_the_previous_stage(rep_client, rep):
    with time_machine.travel(START, tick=False) as traveller:
        lead = LeadFactory(created_by=rep, stage=default_stage("Qualified"), probability=40)
        traveller.shift(datetime.timedelta(days=12, hours=3))
        rep_client.force_login(rep)  # sessions expire after two weeks
        assert move(rep_client, lead, default_stage("Proposal")).status_code == 200
    event = lead.events.get(kind=LeadEvent.Kind.STAGE_CHANGED)
    assert event.actor == rep
    assert (event.data["old"], event.data["new"]) == ("Qualified", "Proposal")
    assert event.data["seconds_in_previous"] == (12 * 24 + 3) * 3600
    assert event.describe() == (
        "Stage: Qualified → Proposal, after 12 days in Qualified. "
        "Probability: 40% → 60% (from the stage)"
    )


def test_a_stage_change_in_the_edit_form_records_the_time_in_the_previous_stage(rep_client, rep):
    with time_machine.travel(START, tick=False) as traveller:
        lead = LeadFactory(created_by=rep, stage=default_stage("Contacted"), probability=20)
        traveller.shift(datetime.timedelta(hours=5))
        rep_client.force_login(rep)  # a session started in the travelled-to time
        assert edit(rep_client, lead, stage=default_stage("Proposal").pk).status_code == 302
        entries = timeline(detail(rep_client, lead))
    assert [e["sentence"] for e in entries] == [
        "Stage: Contacted → Proposal, after 5 hours in Contacted. "
        "Probability: 20% → 60% (from the stage)"
    ]
    assert entries[0]["actor"] == name(rep)


def test_assignment_reassignment_and_unassignment_are_recorded(manager_client, manager, rep):
    bob = RepFactory(username="bob")
    lead = LeadFactory()
    with time_machine.travel(START, tick=False) as traveller:
        manager_client.force_login(manager)  # a session started in the travelled-to time
        assign(manager_client, lead, "alice")
        traveller.shift(datetime.timedelta(minutes=1))
        assign(manager_client, lead, "bob")
        traveller.shift(datetime.timedelta(minutes=1))
        assign(manager_client, lead, "")
        entries = timeline(detail(manager_client, lead))
    # People by name, as the pages name them; the data keeps the usernames too.
    assert [e["sentence"] for e in entries] == [
        f"Unassigned (was {name(bob)})",
        f"Reassigned from {name(rep)} to {name(bob)}",
        f"Assigned to {name(rep)}",
    ]
    assert {e["actor"] for e in entries} == {name(manager)}
    assert [(e.data["old"], e.data["new"]) for e in lead.events.order_by("at")] == [
        ("", "alice"),
        ("alice", "bob"),
        ("bob", ""),
    ]
    assert bob.assigned_leads.count() == 0


def test_changing_the_assignee_in_the_edit_form_records_an_assignment(manager_client, rep):
    bob = RepFactory(username="bob")
    lead = LeadFactory(assignee=rep)
    assert edit(manager_client, lead, assignee=bob.pk).status_code == 302
    event = lead.events.get()
    assert event.kind == LeadEvent.Kind.ASSIGNED
    assert event.describe() == f"Reassigned from {name(rep)} to {name(bob)}"

    lead.refresh_from_db()
    assert edit(manager_client, lead, assignee="").status_code == 302
    assert lead.events.first().describe() == f"Unassigned (was {name(bob)})"


def test_a_note_is_recorded_with_its_text_and_author(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    add_note(rep_client, lead, "Called, left a message.")
    event = lead.events.get()
    assert (event.kind, event.actor, event.data) == (
        LeadEvent.Kind.NOTE,
        rep,
        {"text": "Called, left a message."},
    )


# The history is written in the same transaction as the change: when writing the event fails,
# the change itself is rolled back.


def test_a_failed_history_write_rolls_back_the_edit(rep_client, rep):
    lead = LeadFactory(created_by=rep, title="Original", value=Decimal(1000))
    with mock.patch.object(
        LeadEvent.objects, "bulk_create", side_effect=DatabaseError("history down")
    ):
        response = edit(rep_client, lead, title="Changed", value="2000")
    assert response.status_code == 503
    lead.refresh_from_db()
    assert (lead.title, lead.value, lead.version) == ("Original", Decimal(1000), 1)
    assert not LeadEvent.objects.exists()


def test_a_failed_history_write_rolls_back_the_creation(rep_client):
    with mock.patch.object(LeadEvent.objects, "create", side_effect=DatabaseError("history down")):
        response = rep_client.post(
            reverse("leads:create"),
            {"title": "Never saved", "stage": default_stage().pk, "priority": "normal"},
        )
    assert response.status_code == 503
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            lambda lead, user: lead_move_stage(
                lead_id=lead.pk, stage=default_stage("Won"), by=user
            ),
            id="move",
        ),
        pytest.param(
            lambda lead, user: lead_assign(lead_id=lead.pk, assignee=user, by=user), id="assign"
        ),
        pytest.param(
            lambda lead, user: lead_add_note(lead_id=lead.pk, text="hi", by=user), id="note"
        ),
    ],
)
def test_a_failed_history_write_rolls_back_the_change(rep, write):
    with time_machine.travel(START, tick=False) as traveller:
        lead = LeadFactory(created_by=rep)
        traveller.shift(datetime.timedelta(days=3))
        down = DatabaseError("history down")
        with (
            mock.patch.object(LeadEvent.objects, "create", side_effect=down),
            mock.patch.object(LeadEvent.objects, "bulk_create", side_effect=down),
            pytest.raises(DatabaseError),
        ):
            write(lead, rep)
    saved = Lead.objects.get(pk=lead.pk)
    assert saved.stage.name == "New"
    assert saved.assignee is None
    assert (saved.version, saved.last_activity_at, saved.closed_at) == (1, START, None)


def test_lead_update_service_writes_nothing_when_the_history_fails(rep):
    lead = LeadFactory(created_by=rep, stage=default_stage("New"))
    with (
        mock.patch.object(LeadEvent.objects, "bulk_create", side_effect=DatabaseError("down")),
        pytest.raises(DatabaseError),
    ):
        lead_update(
            lead_id=lead.pk,
            values={"stage": default_stage("Proposal"), "title": "Moved"},
            expected_version=1,
            by=rep,
        )
    saved = Lead.objects.get(pk=lead.pk)
    assert (saved.stage.name, saved.title, saved.probability, saved.version) == (
        "New",
        lead.title,
        10,
        1,
    )


def test_a_deleted_lead_leaves_an_audit_record_and_its_history(rep_client, rep):
    lead = lead_create(lead=Lead(title="Doomed", stage=default_stage("Qualified")), by=rep)
    lead_add_note(lead_id=lead.pk, text="Last words", by=rep)
    pk = lead.pk
    assert rep_client.post(reverse("leads:delete", args=[pk])).status_code == 302
    audit = LeadEvent.objects.get(kind=LeadEvent.Kind.DELETED)
    assert audit.actor == rep
    assert audit.data == {"lead_id": pk, "title": "Doomed", "stage": "Qualified"}
    assert audit.describe() == "Deleted the lead “Doomed”"
    # The earlier events outlive the lead, detached from it.
    assert set(LeadEvent.objects.values_list("kind", "lead")) == {
        ("created", None),
        ("note", None),
        ("deleted", None),
    }


def test_a_failed_delete_leaves_no_audit_record(rep):
    lead = LeadFactory(created_by=rep)
    with (
        mock.patch.object(Lead, "delete", side_effect=DatabaseError("down")),
        pytest.raises(DatabaseError),
    ):
        lead_delete(lead_id=lead.pk, by=rep)
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert not LeadEvent.objects.filter(kind=LeadEvent.Kind.DELETED).exists()


# --- the timeline -------------------------------------------------------------------------


def test_timeline_lists_events_newest_first_with_date_actor_and_a_sentence(rep_client, rep):
    bob = RepFactory(username="bob")
    with time_machine.travel(START, tick=False) as traveller:
        lead = lead_create(lead=Lead(title="Deal", stage=default_stage("Contacted")), by=rep)
        traveller.shift(datetime.timedelta(days=1))
        lead_update(
            lead_id=lead.pk,
            values={"expected_close_date": datetime.date(2026, 12, 24)},
            expected_version=1,
            by=rep,
        )
        traveller.shift(datetime.timedelta(days=1))
        lead.refresh_from_db()
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Qualified"), by=rep)
        traveller.shift(datetime.timedelta(days=12))
        lead_move_stage(lead_id=lead.pk, stage=default_stage("Proposal"), by=rep)
        traveller.shift(datetime.timedelta(hours=2))
        lead_assign(lead_id=lead.pk, assignee=bob, by=rep)
        traveller.shift(datetime.timedelta(minutes=30))
        lead_add_note(lead_id=lead.pk, text="Sent the proposal.", by=bob)
        rep_client.force_login(rep)  # sessions expire after two weeks
        entries = timeline(detail(rep_client, lead))
    assert [(e["date"], e["actor"], e["sentence"]) for e in entries] == [
        ("15 Dec 2026 12:00", name(bob), "Added a note"),
        ("15 Dec 2026 11:30", name(rep), f"Assigned to {name(bob)}"),
        (
            "15 Dec 2026 09:30",
            name(rep),
            "Stage: Qualified → Proposal, after 12 days in Qualified. "
            "Probability: 40% → 60% (from the stage)",
        ),
        (
            "3 Dec 2026 09:30",
            name(rep),
            "Stage: Contacted → Qualified, after 2 days in Contacted. "
            "Probability: 20% → 40% (from the stage)",
        ),
        ("2 Dec 2026 09:30", name(rep), "Expected close: — → 24 Dec 2026"),
        ("1 Dec 2026 09:30", name(rep), "Created the lead"),
    ]
    assert entries[0]["note"] == "Sent the proposal."


def test_an_event_without_an_actor_shows_system(rep_client):
    lead = LeadFactory()
    LeadEventFactory(lead=lead, actor=None, kind=LeadEvent.Kind.CREATED, data={})
    assert timeline(detail(rep_client, lead))[0]["actor"] == "System"


def test_a_lead_without_history_says_nothing_has_happened_yet(rep_client):
    assert "Nothing has happened yet." in detail(rep_client, LeadFactory()).content.decode()


def test_probability_changes_read_as_percentages(rep_client, rep):
    lead = LeadFactory(created_by=rep, probability=20)
    edit(rep_client, lead, probability="60")
    assert sentences(detail(rep_client, lead)) == ["Probability: 20% → 60%"]


@pytest.fixture
def lead_with_history(rep):
    """A function making a lead with `count` notes, "Note 0" oldest, a minute apart."""

    def make(count):
        lead = LeadFactory(created_by=rep)
        for number in range(count):
            LeadEventFactory(
                lead=lead,
                actor=rep,
                at=START + datetime.timedelta(minutes=number),
                data={"text": f"Note {number}"},
            )
        return lead

    return make


def notes(response) -> list[str]:
    return [entry["note"] for entry in timeline(response)]


def test_timeline_shows_the_20_newest_events_and_a_load_more_button(rep_client, lead_with_history):
    lead = lead_with_history(45)
    response = detail(rep_client, lead)
    assert notes(response) == [f"Note {n}" for n in range(44, 24, -1)]
    assert load_more_page(response) == 2


def test_load_more_returns_just_the_next_events_and_a_new_button(rep_client, lead_with_history):
    lead = lead_with_history(45)
    response = detail(rep_client, lead, "?events_page=2", headers=HTMX_MORE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert 'class="note-form"' not in page
    assert 'class="timeline"' not in page
    assert notes(response) == [f"Note {n}" for n in range(24, 4, -1)]
    assert load_more_page(response) == 3


def test_load_more_of_the_last_page_has_no_button(rep_client, lead_with_history):
    lead = lead_with_history(45)
    response = detail(rep_client, lead, "?events_page=3", headers=HTMX_MORE)
    assert notes(response) == [f"Note {n}" for n in range(4, -1, -1)]
    assert load_more_page(response) is None
    assert "Load more" not in response.content.decode()


def test_no_load_more_when_the_events_fill_the_pages_exactly(rep_client, lead_with_history):
    lead = lead_with_history(40)
    assert load_more_page(detail(rep_client, lead)) == 2
    last = detail(rep_client, lead, "?events_page=2", headers=HTMX_MORE)
    assert len(timeline(last)) == 20
    assert load_more_page(last) is None


def test_no_load_more_for_a_short_history(rep_client, lead_with_history):
    lead = lead_with_history(20)
    response = detail(rep_client, lead)
    assert len(timeline(response)) == 20
    assert load_more_page(response) is None


def test_without_htmx_a_later_page_shows_everything_up_to_it(rep_client, lead_with_history):
    lead = lead_with_history(45)
    response = detail(rep_client, lead, "?events_page=2")
    assert "<html" in response.content.decode()
    assert notes(response) == [f"Note {n}" for n in range(44, 4, -1)]
    assert load_more_page(response) == 3


def test_the_timeline_region_alone_renders_the_note_form_and_the_first_page(
    rep_client, lead_with_history
):
    lead = lead_with_history(25)
    response = detail(rep_client, lead, headers=HTMX_TIMELINE)
    page = response.content.decode()
    assert "<html" not in page
    assert 'class="note-form"' in page
    assert len(timeline(response)) == 20
    assert load_more_page(response) == 2


# --- notes --------------------------------------------------------------------------------


def test_add_note_form_sits_above_the_timeline(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    LeadEventFactory(lead=lead, actor=rep)
    page = detail(rep_client, lead).content.decode()
    form = page.index(f'hx-post="{reverse("leads:add_note", args=[lead.pk])}"')
    assert 'hx-target="#lead-timeline"' in page[form : page.index("</form>", form)]
    assert form < page.index('class="timeline-item')


def test_adding_a_note_shows_it_in_the_timeline_toasts_and_empties_the_form(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = add_note(rep_client, lead, "Called Ann, she wants a demo.")
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert "Note added." in response.headers["HX-Trigger"]
    entries = timeline(response)
    assert [(e["kind"], e["sentence"], e["note"]) for e in entries] == [
        ("note", "Added a note", "Called Ann, she wants a demo.")
    ]
    assert entries[0]["actor"] == name(rep)
    assert NOTE_TEXTAREA.search(response.content.decode())["value"] == ""


def test_the_new_note_is_on_top_of_the_timeline(rep_client, rep):
    with time_machine.travel(START, tick=False) as traveller:
        lead = lead_create(lead=Lead(title="Deal", stage=default_stage()), by=rep)
        traveller.shift(datetime.timedelta(hours=1))
        rep_client.force_login(rep)  # a session started in the travelled-to time
        response = add_note(rep_client, lead, "Newest")
    assert sentences(response) == ["Added a note", "Created the lead"]


@pytest.mark.parametrize("text", ["", "   \n  "], ids=["empty", "blank"])
def test_an_empty_note_is_refused_with_422(rep_client, rep, text):
    lead = LeadFactory(created_by=rep)
    response = add_note(rep_client, lead, text)
    assert response.status_code == 422
    assert "A note cannot be empty." in response.content.decode()
    assert not lead.events.exists()


def test_a_note_of_more_than_5000_characters_is_refused_and_kept(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    text = "x" * 5001
    response = add_note(rep_client, lead, text)
    assert response.status_code == 422
    page = response.content.decode()
    assert "A note can be at most 5000 characters (it has 5001)." in page
    assert NOTE_TEXTAREA.search(page)["value"] == text
    assert not lead.events.exists()


def test_a_note_of_exactly_5000_characters_is_accepted(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    assert add_note(rep_client, lead, "y" * 5000).status_code == 200
    assert lead.events.get().data["text"] == "y" * 5000


def test_a_note_counts_as_activity_but_does_not_change_the_version(rep_client, rep):
    with time_machine.travel(START, tick=False) as traveller:
        lead = LeadFactory(created_by=rep)
        traveller.shift(datetime.timedelta(days=3))
        rep_client.force_login(rep)  # a session started in the travelled-to time
        add_note(rep_client, lead, "Still interested.")
    lead.refresh_from_db()
    assert lead.last_activity_at == START + datetime.timedelta(days=3)
    assert (lead.version, lead.updated_at) == (1, START)


def test_a_note_never_causes_an_edit_conflict(client, rep, manager):
    lead = LeadFactory(created_by=rep, title="Original")
    client.force_login(rep)
    form = client.get(reverse("leads:update", args=[lead.pk])).content.decode()
    assert 'name="version" value="1"' in form
    # While the form is open, a manager adds a note.
    lead_add_note(lead_id=lead.pk, text="Pinged them.", by=manager)
    response = edit(client, lead, title="Edited", version=1)
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.title, lead.version) == ("Edited", 2)


def test_notes_are_escaped_and_keep_their_line_breaks(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = add_note(rep_client, lead, "Called <b>Ann</b>\n<script>alert(1)</script>\nBye")
    page = response.content.decode()
    assert (
        '<div class="description">Called &lt;b&gt;Ann&lt;/b&gt;\n'
        "&lt;script&gt;alert(1)&lt;/script&gt;\nBye</div>"
    ) in page
    assert "<script>alert(1)" not in page


def test_a_note_without_htmx_redirects_back_to_the_lead(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = add_note(rep_client, lead, "Plain post", htmx=False)
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()
    assert lead.events.get().data["text"] == "Plain post"


@pytest.mark.parametrize(
    ("role", "status"),
    [("rep_own", 200), ("rep_other", 403), ("reader", 403), ("manager", 200)],
)
def test_who_may_add_notes(client, role, status):
    owner = RepFactory(username="owner")
    lead = LeadFactory(created_by=owner, assignee=owner)
    user = {
        "rep_own": owner,
        "rep_other": RepFactory(username="other"),
        "reader": UserFactory(username="reader"),
        "manager": ManagerFactory(username="boss"),
    }[role]
    client.force_login(user)
    response = add_note(client, lead, "Mine")
    assert response.status_code == status
    assert lead.events.filter(kind=LeadEvent.Kind.NOTE).exists() == (status == 200)
    note_url = reverse("leads:add_note", args=[lead.pk])
    assert (note_url in detail(client, lead).content.decode()) == (status == 200)


def test_a_rep_may_add_notes_to_a_lead_assigned_to_them(rep_client, rep, other_rep):
    lead = LeadFactory(created_by=other_rep, assignee=rep)
    assert add_note(rep_client, lead, "Mine now").status_code == 200


# --- stage → probability ------------------------------------------------------------------


def test_moving_to_won_sets_100_and_to_lost_sets_0(rep_client, rep):
    won = LeadFactory(created_by=rep, probability=60)
    lost = LeadFactory(created_by=rep, probability=60)
    move(rep_client, won, default_stage("Won"))
    move(rep_client, lost, default_stage("Lost"))
    won.refresh_from_db()
    lost.refresh_from_db()
    assert (won.probability, lost.probability) == (100, 0)
    assert won.events.get().data["probability"] == {"old": 60, "new": 100}
    assert lost.events.get().data["probability"] == {"old": 60, "new": 0}
    assert sentences(detail(rep_client, lost))[0].endswith(
        "Probability: 60% → 0% (from the stage). Lost: Price too high"
    )


def test_reopening_a_lost_lead_takes_the_new_stages_probability(rep_client, rep):
    lead = LeadFactory(created_by=rep, stage=default_stage("Lost"), probability=0)
    move(rep_client, lead, default_stage("Qualified"))
    lead.refresh_from_db()
    assert (lead.status, lead.probability, lead.closed_at) == ("open", 40, None)
    assert sentences(detail(rep_client, lead))[0].startswith(
        "Reopened; was Lost: Price too high. Stage: Lost → Qualified"
    )
    assert sentences(detail(rep_client, lead))[0].endswith("Probability: 0% → 40% (from the stage)")


def test_a_stage_without_a_probability_leaves_the_leads_alone(rep_client, rep):
    parked = PipelineStageFactory(
        pipeline=default_stage().pipeline, name="Parked", order=20, probability=None
    )
    lead = LeadFactory(created_by=rep, probability=35)
    assert move(rep_client, lead, parked).status_code == 200
    lead.refresh_from_db()
    assert (lead.stage, lead.probability) == (parked, 35)
    event = lead.events.get()
    assert "probability" not in event.data
    assert "Probability" not in event.describe()


@time_machine.travel(START, tick=False)
def test_a_stage_with_the_leads_own_probability_mentions_no_probability_change(rep_client, rep):
    rep_client.force_login(rep)  # a session started in the travelled-to time
    lead = LeadFactory(created_by=rep, probability=60)
    move(rep_client, lead, default_stage("Proposal"))
    event = lead.events.get()
    assert "probability" not in event.data
    assert event.describe() == "Stage: New → Proposal, after less than a minute in New"


def test_a_stage_change_in_the_form_takes_the_stages_probability_from_the_stage(rep_client, rep):
    lead = LeadFactory(created_by=rep, stage=default_stage("Contacted"), probability=20)
    edit(rep_client, lead, stage=default_stage("Proposal").pk)
    lead.refresh_from_db()
    assert lead.probability == 60
    assert [e.kind for e in lead.events.all()] == [LeadEvent.Kind.STAGE_CHANGED]
    assert sentences(detail(rep_client, lead))[0].endswith(
        "Probability: 20% → 60% (from the stage)"
    )


@time_machine.travel(START, tick=False)
def test_a_probability_typed_in_the_same_save_wins_over_the_stages(rep_client, rep):
    rep_client.force_login(rep)  # a session started in the travelled-to time
    lead = LeadFactory(created_by=rep, stage=default_stage("Contacted"), probability=20)
    edit(rep_client, lead, stage=default_stage("Proposal").pk, probability="35")
    lead.refresh_from_db()
    assert (lead.stage.name, lead.probability) == ("Proposal", 35)
    stage_event = lead.events.get(kind=LeadEvent.Kind.STAGE_CHANGED)
    assert "probability" not in stage_event.data
    assert sorted(sentences(detail(rep_client, lead))) == [
        "Probability: 20% → 35%",
        "Stage: Contacted → Proposal, after less than a minute in Contacted",
    ]


def test_emptying_the_probability_while_changing_stage_takes_the_stages(rep_client, rep):
    lead = LeadFactory(created_by=rep, probability=20)
    rep_client.post(
        reverse("leads:update", args=[lead.pk]),
        {
            "title": lead.title,
            "stage": default_stage("Proposal").pk,
            "priority": "normal",
            "value": "1000",
            "probability": "",
            "version": lead.version,
        },
    )
    lead.refresh_from_db()
    assert lead.probability == 60


def test_conflict_names_who_changed_the_lead_not_who_noted_it(manager, rep, other_rep):
    from django.test import Client

    lead = LeadFactory(created_by=rep, title="Original")
    noter = ManagerFactory(username="carla")
    boss, alice = Client(), Client()
    boss.force_login(manager)
    alice.force_login(rep)
    data = {"title": "Boss title", "stage": lead.stage_id, "priority": "normal", "version": 1}
    assert boss.post(reverse("leads:update", args=[lead.pk]), data).status_code == 302
    lead_add_note(lead_id=lead.pk, text="Just a note", by=noter)
    data["title"] = "Alice title"
    response = alice.post(reverse("leads:update", args=[lead.pk]), data)
    assert response.status_code == 409
    assert f"changed by {manager.get_full_name()}" in response.text
    assert f"changed by {noter.get_full_name()}" not in response.text


def test_a_note_asks_the_page_to_refresh_the_lead_header(rep_client, rep):
    lead = LeadFactory(created_by=rep)
    response = rep_client.post(
        reverse("leads:add_note", args=[lead.pk]),
        {"text": "Called"},
        headers={"HX-Request": "true", "HX-Target": "lead-timeline"},
    )
    assert "leadChanged" in response.headers["HX-Trigger"]
    page = rep_client.get(lead.get_absolute_url()).text
    assert 'hx-trigger="leadChanged from:body"' in page


def test_an_assignment_recorded_before_names_were_kept_reads_with_usernames(rep):
    """Events from before the names were recorded still read (by username)."""
    lead = LeadFactory()
    old = LeadEvent.objects.create(
        lead=lead,
        actor=rep,
        kind=LeadEvent.Kind.ASSIGNED,
        data={"field": "assignee", "old": "alice", "new": "bob", "old_id": 1, "new_id": 2},
    )

    assert old.describe() == "Reassigned from alice to bob"
