"""/api/v1/leads/: the lead list's filters and sorts, cursor pages that hold under writes,
and every write through the lead services with the lead form's rules and messages."""

import datetime
from decimal import Decimal

import pytest

from crm.models import Client
from leads.events import EventKind
from leads.filters import SORTS
from leads.models import Lead, LeadEvent
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    LeadSourceFactory,
    RepFactory,
    default_stage,
    loss_reason,
)

pytestmark = pytest.mark.django_db


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [lead["title"] for lead in response.json()["results"]]


def every_page(api, params: dict) -> list[int]:
    """The ids of every lead, page after page, following the cursors."""
    ids, cursor = [], None
    for _ in range(100):
        response = api.get("/api/v1/leads/", params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.content
        ids += [lead["id"] for lead in response.json()["results"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the pages never end")


# --- reading ---------------------------------------------------------------------------------


def test_list_shows_open_leads_newest_change_first(api, rep):
    LeadFactory(title="Older")
    LeadFactory(title="Newer")
    LeadFactory(title="Won", stage=default_stage("Won"))
    assert titles(api(rep).get("/api/v1/leads/")) == ["Newer", "Older"]


def test_list_takes_the_pages_filters_search_and_sort(api, rep):
    acme = ClientFactory(name="Acme")
    LeadFactory(title="Big", value=Decimal("90000"), client=acme, priority="urgent")
    LeadFactory(title="Small", value=Decimal("10"), assignee=rep)
    LeadFactory(title="Middle", value=Decimal("500"), stage=default_stage("Proposal"))
    client = api(rep)
    assert titles(client.get("/api/v1/leads/", {"sort": "-value"})) == ["Big", "Middle", "Small"]
    assert titles(client.get("/api/v1/leads/", {"q": "acme"})) == ["Big"]
    assert titles(client.get("/api/v1/leads/", {"assignee": "me"})) == ["Small"]
    assert titles(client.get("/api/v1/leads/", {"priority": ["urgent", "high"]})) == ["Big"]
    proposal = default_stage("Proposal").pk
    assert titles(client.get("/api/v1/leads/", {"stage": [proposal]})) == ["Middle"]
    assert titles(client.get("/api/v1/leads/", {"value_min": "400", "sort": "value"})) == [
        "Middle",
        "Big",
    ]


def test_list_refuses_a_filter_value_it_does_not_take_with_the_filters_message(api, rep):
    response = api(rep).get("/api/v1/leads/", {"priority": "whenever", "sort": "shoe_size"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "whenever is not one of the available choices" in errors["priority"][0]
    assert "shoe_size is not one of the available choices" in errors["sort"][0]


def test_list_refuses_an_unreadable_cursor_or_one_of_another_sort(api, rep):
    LeadFactory.create_batch(3)
    client = api(rep)
    cursor = client.get("/api/v1/leads/", {"limit": 1}).json()["next_cursor"]
    other = client.get("/api/v1/leads/", {"limit": 1, "sort": "title", "cursor": cursor})
    assert other.status_code == 422
    assert "another sort" in other.json()["errors"]["cursor"][0]
    for junk in ("nonsense", "eyJzIjogMX0", "e30", "!!!!"):
        response = client.get("/api/v1/leads/", {"cursor": junk})
        assert response.status_code == 422, junk
        assert "cannot be read" in response.json()["errors"]["cursor"][0]


@pytest.mark.parametrize("sort", [*SORTS, *(f"-{key}" for key in SORTS)])
def test_every_sort_pages_through_every_lead_once(api, rep, sort):
    """Values alike, values missing (no client, no value, unscored) and related rows: the
    cursor pages list each lead exactly once, in the order of one long page."""
    acme = ClientFactory(name="Acme")
    for n in range(7):
        LeadFactory(
            title=f"Lead {n % 3}",
            value=None if n % 3 == 0 else Decimal(n % 2),
            probability=None if n == 4 else 20,
            client=acme if n % 2 else None,
            priority=["low", "high"][n % 2],
            expected_close_date=None if n % 2 else datetime.date(2030, 1, 1 + n % 2),
            assignee=rep if n % 3 == 1 else None,
            source=None if n == 5 else LeadSourceFactory(slug="website"),
        )
    client = api(rep)
    whole = [
        lead["id"]
        for lead in client.get("/api/v1/leads/", {"sort": sort, "limit": 100}).json()["results"]
    ]
    assert len(whole) == 7
    assert every_page(client, {"sort": sort, "limit": 2}) == whole


def test_pages_hold_while_others_write(api, rep):
    """Leads added before the cursor or deleted after it shift nothing: no lead is
    listed twice or skipped."""
    leads = [LeadFactory(title=f"Lead {n:02}") for n in range(10)]
    client = api(rep)
    first = client.get("/api/v1/leads/", {"sort": "title", "limit": 4}).json()
    assert [lead["title"] for lead in first["results"]] == [f"Lead {n:02}" for n in range(4)]
    LeadFactory(title="Lead 00a")  # sorts among the page already read
    Lead.objects.filter(pk=leads[1].pk).delete()  # on the page already read
    rest = every_page(client, {"sort": "title", "limit": 4, "cursor": first["next_cursor"]})
    assert rest == [lead.pk for lead in leads[4:]]


def test_a_page_costs_the_same_queries_however_many_leads(api, rep, django_assert_max_num_queries):
    client = api(rep)
    LeadFactory.create_batch(3, client=ClientFactory(), assignee=rep)
    client.get("/api/v1/leads/")  # the token's first use is recorded once
    with django_assert_max_num_queries(8) as few:
        client.get("/api/v1/leads/", {"limit": 3, "q": "Lead", "source": "website"})
    count = len(few.captured_queries)  # read now: the next request clears the log
    LeadFactory.create_batch(40, client=ClientFactory(), contact=None, assignee=RepFactory())
    with django_assert_max_num_queries(count):
        response = client.get("/api/v1/leads/", {"limit": 40, "q": "Lead", "source": "website"})
    assert len(response.json()["results"]) == 40


def test_a_lead_reads_with_what_it_points_at(api, rep):
    contact = ContactFactory(name="Ann", client=ClientFactory(name="Acme"))
    lead = LeadFactory(title="Deal", client=contact.client, contact=contact, assignee=rep)
    data = api(rep).get(f"/api/v1/leads/{lead.pk}/").json()
    assert data["title"] == "Deal"
    assert data["client"] == {"id": contact.client.pk, "name": "Acme", "deleted": False}
    assert data["contact"]["name"] == "Ann"
    assert data["assignee"]["username"] == rep.username
    assert data["stage"]["name"] == "New"
    assert data["status"] == "open"
    assert data["value"] == "1000.00"
    assert data["version"] == lead.version
    assert data["url"] == f"/leads/{lead.pk}/"


def test_a_missing_lead_answers_404(api, rep):
    for path in ("/api/v1/leads/999999/", "/api/v1/leads/999999/timeline/"):
        response = api(rep).get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found. It may have been deleted."}


# --- creating --------------------------------------------------------------------------------


def test_create_makes_the_lead_as_the_form_does(api, rep):
    response = api(rep).post(
        "/api/v1/leads/", {"title": "  Website redesign ", "value": "25000.50", "priority": "high"}
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.title == "Website redesign"  # stripped, as the form strips it
    assert lead.value == Decimal("25000.50")
    assert lead.stage == default_stage("New")
    assert lead.probability == 10
    assert lead.created_by == rep
    assert lead.version == 1
    assert lead.events.get().kind == EventKind.CREATED
    assert response.json()["title"] == "Website redesign"


def test_a_number_is_an_amount_not_a_typed_string(api, rep):
    """25.125 in JSON is twenty-five and a bit: not the form's "25.125" (thousands)."""
    response = api(rep).post("/api/v1/leads/", {"title": "Exact", "value": 25.12})
    assert Lead.objects.get(pk=response.json()["id"]).value == Decimal("25.12")


def test_create_refuses_bad_values_with_the_forms_messages_and_saves_nothing(api, rep):
    contact = ContactFactory(client=ClientFactory(name="Other Co"), name="Ann")
    response = api(rep).post(
        "/api/v1/leads/",
        {
            "title": "   ",
            "probability": 150,
            "client": ClientFactory(name="Acme").pk,
            "contact": contact.pk,
            "description": "x" * 5001,
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "title": ["Title is required."],
        "probability": ["Probability must be between 0 and 100."],
        "contact": ["Ann is not a contact of Acme."],
        "description": ["Description must be at most 5000 characters."],
    }
    assert not Lead.objects.exists()


def test_a_missing_title_and_wrong_types_read_as_the_form_says_them(api, rep):
    missing = api(rep).post("/api/v1/leads/", {})
    assert missing.status_code == 422
    assert missing.json()["errors"] == {"title": ["Title is required."]}
    # A value of the wrong JSON type is refused before the form looks at the rest.
    response = api(rep).post("/api/v1/leads/", {"probability": "lots", "value": "a lot"})
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "probability": ["Enter a whole number between 0 and 100."],
        "value": ["Enter an amount, for example 25000 or 25.000,50."],
    }


def test_create_refuses_unknown_fields(api, rep):
    response = api(rep).post("/api/v1/leads/", {"title": "A", "colour": "red", "version": 3})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"colour", "version"}
    assert not Lead.objects.exists()


def test_a_reader_may_not_create(api, reader):
    response = api(reader).post("/api/v1/leads/", {"title": "Nope"})
    assert response.status_code == 403
    assert not Lead.objects.exists()


# --- changing --------------------------------------------------------------------------------


def test_update_changes_only_the_fields_sent(api, rep):
    lead = LeadFactory(created_by=rep, title="Old", description="Keep me", value=Decimal(5))
    response = api(rep).patch(
        f"/api/v1/leads/{lead.pk}/", {"title": "New", "value": None, "version": lead.version}
    )
    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert (lead.title, lead.value, lead.description) == ("New", None, "Keep me")
    assert response.json()["version"] == lead.version == 2
    changed = set(lead.events.filter(kind=EventKind.CHANGED).values_list("data__field", flat=True))
    assert changed == {"title", "value"}


def test_a_stale_version_answers_409_with_the_current_one_and_changes_nothing(api, rep):
    lead = LeadFactory(created_by=rep, title="Theirs")
    Lead.objects.filter(pk=lead.pk).update(version=4)
    response = api(rep).patch(f"/api/v1/leads/{lead.pk}/", {"title": "Mine", "version": 3})
    assert response.status_code == 409
    assert response.json()["current_version"] == 4
    assert Lead.objects.get(pk=lead.pk).title == "Theirs"


def test_update_needs_the_version_read(api, rep):
    lead = LeadFactory(created_by=rep)
    response = api(rep).patch(f"/api/v1/leads/{lead.pk}/", {"title": "Blind"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"version": ["This field is required."]}


def test_update_refuses_bad_values_with_the_forms_messages(api, rep):
    lead = LeadFactory(created_by=rep, title="Kept")
    response = api(rep).patch(
        f"/api/v1/leads/{lead.pk}/", {"title": "", "probability": -1, "version": lead.version}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "title": ["Title is required."],
        "probability": ["Probability must be between 0 and 100."],
    }
    lead.refresh_from_db()
    assert lead.title == "Kept"
    assert lead.version == 1


def test_a_contact_sent_alone_brings_its_client(api, rep):
    lead = LeadFactory(created_by=rep, client=None)
    contact = ContactFactory()
    api(rep).patch(f"/api/v1/leads/{lead.pk}/", {"contact": contact.pk, "version": 1})
    lead.refresh_from_db()
    assert (lead.contact, lead.client) == (contact, contact.client)


def test_delete_removes_the_lead_and_keeps_an_audit_record(api, rep):
    lead = LeadFactory(created_by=rep)
    response = api(rep).delete(f"/api/v1/leads/{lead.pk}/")
    assert response.status_code == 204
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert LeadEvent.objects.filter(kind=EventKind.DELETED, data__title=lead.title).exists()


def test_move_follows_the_stage_and_records_it(api, rep):
    lead = LeadFactory(created_by=rep, probability=10)
    proposal = default_stage("Proposal")
    response = api(rep).post(f"/api/v1/leads/{lead.pk}/move/", {"stage": proposal.pk})
    assert response.status_code == 200
    assert response.json()["stage"]["name"] == "Proposal"
    assert response.json()["probability"] == 60
    assert lead.events.filter(kind=EventKind.STAGE_CHANGED).exists()


def test_move_to_lost_needs_a_reason_as_the_dialog_does(api, rep):
    lead = LeadFactory(created_by=rep)
    lost = default_stage("Lost")
    refused = api(rep).post(f"/api/v1/leads/{lead.pk}/move/", {"stage": lost.pk})
    assert refused.status_code == 422
    assert "lost_reason" in refused.json()["errors"]
    assert Lead.objects.get(pk=lead.pk).stage == default_stage("New")
    reason = loss_reason("chose-competitor")
    done = api(rep).post(
        f"/api/v1/leads/{lead.pk}/move/",
        {"stage": lost.pk, "lost_reason": reason.pk, "competitor": "Acme"},
    )
    assert done.status_code == 200, done.content
    data = done.json()
    assert data["status"] == "lost"
    assert data["lost_reason"]["id"] == reason.pk
    assert data["competitor"] == "Acme"
    assert data["actual_close_date"] is not None


def test_move_to_won_closes_at_the_leads_value(api, rep):
    lead = LeadFactory(created_by=rep, value=Decimal("1200"))
    data = (
        api(rep).post(f"/api/v1/leads/{lead.pk}/move/", {"stage": default_stage("Won").pk}).json()
    )
    assert data["status"] == "won"
    assert data["won_value"] == "1200.00"


def test_move_refuses_a_stage_of_another_pipeline_and_a_stale_version(api, rep):
    from tests.factories import PipelineStageFactory

    lead = LeadFactory(created_by=rep)
    elsewhere = PipelineStageFactory()
    refused = api(rep).post(f"/api/v1/leads/{lead.pk}/move/", {"stage": elsewhere.pk})
    assert refused.status_code == 422
    assert "stage" in refused.json()["errors"]
    stale = api(rep).post(
        f"/api/v1/leads/{lead.pk}/move/", {"stage": default_stage("Proposal").pk, "version": 9}
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1
    assert Lead.objects.get(pk=lead.pk).stage == default_stage("New")


def test_assign_gives_the_lead_to_an_active_user_or_nobody(api, rep, manager):
    lead = LeadFactory(created_by=rep, assignee=rep)
    other = RepFactory(username="other")
    client = api(manager)
    response = client.post(f"/api/v1/leads/{lead.pk}/assign/", {"assignee": other.pk})
    assert response.status_code == 200
    assert response.json()["assignee"]["username"] == "other"
    response = client.post(f"/api/v1/leads/{lead.pk}/assign/", {"assignee": None})
    assert response.json()["assignee"] is None
    lead.refresh_from_db()
    assert lead.assignee is None
    missing = client.post(f"/api/v1/leads/{lead.pk}/assign/", {})  # not "nobody"
    assert missing.status_code == 422
    assert missing.json()["errors"] == {"assignee": ["This field is required."]}
    other.is_active = False
    other.save()
    refused = client.post(f"/api/v1/leads/{lead.pk}/assign/", {"assignee": other.pk})
    assert refused.status_code == 422
    assert refused.json()["errors"] == {
        "assignee": ["Select a valid choice. That choice is not one of the available choices."]
    }


def test_a_note_goes_on_the_timeline(api, rep):
    lead = LeadFactory(created_by=rep)
    response = api(rep).post(f"/api/v1/leads/{lead.pk}/notes/", {"text": "Called them."})
    assert response.status_code == 201
    assert response.json()["kind"] == "note"
    assert response.json()["data"] == {"text": "Called them."}
    empty = api(rep).post(f"/api/v1/leads/{lead.pk}/notes/", {"text": ""})
    assert empty.status_code == 422
    assert empty.json()["errors"] == {"text": ["A note cannot be empty."]}
    missing = api(rep).post(f"/api/v1/leads/{lead.pk}/notes/", {})
    assert missing.json()["errors"] == {"text": ["A note cannot be empty."]}


def test_the_timeline_pages_newest_first(api, rep):
    lead = LeadFactory(created_by=rep)
    client = api(rep)
    for n in range(5):
        client.post(f"/api/v1/leads/{lead.pk}/notes/", {"text": f"Note {n}"})
    first = client.get(f"/api/v1/leads/{lead.pk}/timeline/", {"limit": 3}).json()
    assert [event["data"]["text"] for event in first["results"]] == ["Note 4", "Note 3", "Note 2"]
    rest = client.get(
        f"/api/v1/leads/{lead.pk}/timeline/", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [event["data"]["text"] for event in rest["results"]] == ["Note 1", "Note 0"]
    assert rest["next_cursor"] is None
    assert all(event["text"] for event in first["results"])


def test_a_deleted_client_reads_as_deleted(api, rep):
    client = ClientFactory(name="Gone")
    lead = LeadFactory(client=client)
    Client.objects.filter(pk=client.pk).update(
        deleted_at=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    )
    assert api(rep).get(f"/api/v1/leads/{lead.pk}/").json()["client"]["deleted"] is True


def test_a_timeline_page_costs_the_same_queries_however_long(
    api, rep, django_assert_max_num_queries
):
    lead = LeadFactory(created_by=rep)
    client = api(rep)
    client.post(f"/api/v1/leads/{lead.pk}/notes/", {"text": "First"})
    with django_assert_max_num_queries(6) as few:
        client.get(f"/api/v1/leads/{lead.pk}/timeline/")
    count = len(few.captured_queries)  # read now: the next request clears the log
    for n in range(10):
        client.patch(f"/api/v1/leads/{lead.pk}/", {"title": f"Title {n}", "version": 2 * n + 1})
        client.post(
            f"/api/v1/leads/{lead.pk}/move/",
            {"stage": default_stage("Proposal" if n % 2 == 0 else "New").pk},
        )
    with django_assert_max_num_queries(count):
        response = client.get(f"/api/v1/leads/{lead.pk}/timeline/", {"limit": 100})
    assert len(response.json()["results"]) == 21  # the note, 10 changes, 10 moves
