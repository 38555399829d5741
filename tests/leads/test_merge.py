"""Merging two leads (issue 19): the service, and the pages that pick a lead and its values."""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from leads.models import Lead, LeadEvent, Priority
from leads.services import LeadConflict, lead_add_note, lead_update, leads_merge
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadFactory,
    RepFactory,
    default_stage,
    loss_reason,
    lost,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(rep):
    """Two of the rep's leads about one deal: the older one with a note and a change."""
    client = ClientFactory(name="Acme BV")
    keep = LeadFactory(
        title="Acme fleet",
        created_by=rep,
        client=client,
        value=None,
        priority=Priority.NORMAL,
        description="Twelve vans.",
    )
    other = LeadFactory(
        title="Acme fleet renewal",
        created_by=rep,
        assignee=rep,
        value=Decimal(25000),
        priority=Priority.HIGH,
        expected_close_date=datetime.date(2027, 3, 31),
        description="Lease or buy.",
    )
    lead_add_note(lead_id=other.pk, text="Called Ann: wants a quote.", by=rep)
    lead_update(lead_id=other.pk, values={"category": "Vehicles"}, by=rep)
    return Lead.objects.get(pk=keep.pk), Lead.objects.get(pk=other.pk)


def untouched(keep: Lead, other: Lead) -> None:
    """Nothing was written: both leads as they were, each with its own history."""
    kept = Lead.objects.get(pk=keep.pk)
    assert (kept.title, kept.value, kept.version) == (keep.title, keep.value, keep.version)
    assert Lead.objects.filter(pk=other.pk).exists()
    assert not LeadEvent.objects.filter(kind__in=["merged", "deleted"]).exists()
    assert not kept.events.exists()
    assert other.events.count() == 2


# --- the service -------------------------------------------------------------------------------


def test_merge_keeps_the_picked_values_both_histories_and_deletes_the_other(rep, pair):
    keep, other = pair
    leads_merge(
        keep_id=keep.pk,
        other_id=other.pk,
        values={"value": other.value, "priority": other.priority, "title": keep.title},
        by=rep,
    )

    merged = Lead.objects.get(pk=keep.pk)
    assert (merged.title, merged.value, merged.priority) == ("Acme fleet", 25000, "high")
    assert merged.version == keep.version + 1
    assert not Lead.objects.filter(pk=other.pk).exists()
    history = {event.kind: event for event in merged.events.all()}
    # The other lead's note and change are in the kept lead's history now.
    note = merged.events.get(kind=LeadEvent.Kind.NOTE)
    assert note.data["text"] == "Called Ann: wants a quote."
    assert merged.events.filter(kind="changed", data__field="category").exists()
    # The merge's own changes, each an event, and what was merged.
    changes = {e.data["field"] for e in merged.events.filter(kind="changed", at=merged.updated_at)}
    assert changes == {"value", "priority"}
    assert history["merged"].describe() == (
        f"Merged from #{other.pk} “Acme fleet renewal” (its 2 events are in this history)"
    )
    assert history["merged"].actor == rep
    assert merged.events.first().kind == "merged"  # the newest: on top of the timeline
    # The other lead's audit record, as every delete leaves one.
    [gone] = LeadEvent.objects.filter(kind=LeadEvent.Kind.DELETED)
    assert gone.lead is None
    assert gone.data["lead_id"] == other.pk
    assert gone.data["merged_into"] == keep.pk
    assert gone.describe() == f"Deleted the lead “Acme fleet renewal”: merged into #{keep.pk}"


def test_merging_a_lead_with_itself_is_refused(rep, pair):
    keep, other = pair
    with pytest.raises(ValidationError, match="cannot be merged with itself"):
        leads_merge(keep_id=keep.pk, other_id=keep.pk, values={"title": "X"}, by=rep)
    untouched(keep, other)


def test_a_lead_deleted_meanwhile_is_refused_and_nothing_is_written(rep, pair):
    keep, other = pair
    Lead.objects.filter(pk=other.pk).delete()
    with pytest.raises(Lead.DoesNotExist, match=f"#{other.pk} was deleted meanwhile"):
        leads_merge(keep_id=keep.pk, other_id=other.pk, values={"title": "X"}, by=rep)
    assert Lead.objects.get(pk=keep.pk).version == keep.version
    assert not LeadEvent.objects.filter(kind="merged").exists()


@pytest.mark.parametrize("whose", ["keep", "other"])
def test_a_rep_may_merge_only_leads_they_may_change_both_of(rep, other_rep, pair, whose):
    keep, other = pair
    theirs = keep if whose == "keep" else other
    Lead.objects.filter(pk=theirs.pk).update(created_by=other_rep, assignee=other_rep)
    with pytest.raises(PermissionDenied):
        leads_merge(keep_id=keep.pk, other_id=other.pk, values={"title": "Mine"}, by=rep)
    untouched(keep, other)


def test_a_manager_may_merge_anyones_leads(manager, pair):
    keep, other = pair
    leads_merge(keep_id=keep.pk, other_id=other.pk, values={}, by=manager)
    assert not Lead.objects.filter(pk=other.pk).exists()


def test_a_lead_changed_since_the_page_was_drawn_is_a_conflict(rep, pair):
    keep, other = pair
    versions = {keep.pk: keep.version, other.pk: other.version}
    lead_update(lead_id=other.pk, values={"title": "Changed meanwhile"}, by=rep)
    with pytest.raises(LeadConflict):
        leads_merge(
            keep_id=keep.pk, other_id=other.pk, values={"title": "X"}, by=rep, versions=versions
        )
    assert Lead.objects.get(pk=keep.pk).title == "Acme fleet"
    assert Lead.objects.filter(pk=other.pk).exists()
    assert not LeadEvent.objects.filter(kind__in=["merged", "deleted"]).exists()


def test_values_the_models_rules_refuse_write_nothing(rep, pair):
    keep, other = pair
    stranger = ContactFactory(name="Ann", client=ClientFactory(name="Globex"))
    with pytest.raises(ValidationError) as refused:
        leads_merge(keep_id=keep.pk, other_id=other.pk, values={"contact": stranger}, by=rep)
    assert refused.value.message_dict == {"contact": ["Ann is not a contact of Acme BV."]}
    untouched(keep, other)


def test_the_other_leads_lost_stage_brings_how_it_was_lost(rep, pair):
    keep, other = pair
    lost_stage = default_stage("Lost")
    lead_update(
        lead_id=other.pk,
        values={"stage": lost_stage, **lost("chose-competitor", competitor="Globex")},
        by=rep,
    )
    other = Lead.objects.get(pk=other.pk)

    leads_merge(keep_id=keep.pk, other_id=other.pk, values={"stage": other.stage}, by=rep)

    merged = Lead.objects.get(pk=keep.pk)
    assert merged.stage == lost_stage
    assert merged.lost_reason == loss_reason("chose-competitor")
    assert merged.competitor == "Globex"
    assert merged.actual_close_date == other.actual_close_date
    assert merged.closed_at is not None
    move = merged.events.get(kind="stage_changed", at=merged.updated_at)
    assert "Lost: Chose competitor, to Globex" in move.describe()


def test_keeping_an_open_stage_over_a_lost_one_reopens_the_kept_lead(rep, pair):
    keep, other = pair
    lead_update(lead_id=keep.pk, values={"stage": default_stage("Lost"), **lost()}, by=rep)
    keep = Lead.objects.get(pk=keep.pk)
    leads_merge(keep_id=keep.pk, other_id=other.pk, values={"stage": other.stage}, by=rep)
    merged = Lead.objects.get(pk=keep.pk)
    assert merged.stage == default_stage("New")
    assert (merged.lost_reason, merged.closed_at, merged.actual_close_date) == (None, None, None)
    move = merged.events.get(kind="stage_changed", at=merged.updated_at)
    assert move.describe().startswith("Reopened; was Lost: Price too high")


def test_a_picked_probability_stands_against_the_new_stages(rep, pair):
    keep, other = pair
    Lead.objects.filter(pk=other.pk).update(stage=default_stage("Proposal"), probability=35)
    other = Lead.objects.get(pk=other.pk)
    leads_merge(
        keep_id=keep.pk,
        other_id=other.pk,
        values={"stage": other.stage, "probability": keep.probability},
        by=rep,
    )
    merged = Lead.objects.get(pk=keep.pk)
    assert (merged.stage.name, merged.probability) == ("Proposal", keep.probability)


def test_the_merged_lead_is_rescored(rep, pair):
    keep, other = pair
    before = Lead.objects.with_score().get(pk=keep.pk).score
    # A value, and one above €10,000: two of the default criteria met now.
    leads_merge(keep_id=keep.pk, other_id=other.pk, values={"value": other.value}, by=rep)
    assert Lead.objects.with_score().get(pk=keep.pk).score > before


def test_a_rep_in_no_group_may_not_merge(reader, pair):
    keep, other = pair
    with pytest.raises(PermissionDenied):
        leads_merge(keep_id=keep.pk, other_id=other.pk, values={}, by=reader)
    untouched(keep, other)


def test_merging_needs_the_right_to_delete_the_other_lead(pair):
    keep, other = pair
    editor = RepFactory()
    editor.groups.clear()
    editor.user_permissions.add(
        Permission.objects.get(codename="change_lead"),
        Permission.objects.get(codename="change_any_lead"),
    )
    with pytest.raises(PermissionDenied):
        leads_merge(keep_id=keep.pk, other_id=other.pk, values={}, by=editor)
    assert Lead.objects.filter(pk=other.pk).exists()


def lead_url(name, lead, query=""):
    return reverse(f"leads:{name}", args=[lead.pk]) + query


# --- the pages ---------------------------------------------------------------------------------


def merge_url(keep, other=None):
    url = reverse("leads:merge", args=[keep.pk])
    return f"{url}?with={other.pk}" if other else url


def picks(form_html: str) -> dict[str, str]:
    """The radio buttons checked on the page: {field name: "keep" | "other" | "both"}."""
    checked = {}
    for tag in re.findall(r"<input[^>]*type=\"radio\"[^>]*>", form_html):
        if " checked" in tag:
            name = re.search(r'name="([^"]+)"', tag).group(1)
            checked[name] = re.search(r'value="([^"]+)"', tag).group(1)
    return checked


def post_merge(http, keep, other, defaults=True, **chosen):
    """Post the page's picks as a browser would: those it checked, changed by ``chosen``."""
    data = {"with": other.pk, "keep_version": keep.version, "other_version": other.version}
    if defaults and keep.pk != other.pk:
        data |= picks(http.get(merge_url(keep, other)).content.decode())
    data |= {f"pick_{name}": pick for name, pick in chosen.items()}
    return http.post(merge_url(keep), data)


def test_the_lead_page_offers_merge_to_those_who_may_change_it(client, rep, other_rep, pair):
    keep, _ = pair
    client.force_login(rep)
    assert merge_url(keep) in client.get(keep.get_absolute_url()).content.decode()
    client.force_login(other_rep)
    assert merge_url(keep) not in client.get(keep.get_absolute_url()).content.decode()
    assert client.get(merge_url(keep)).status_code == 403


def test_the_search_offers_the_clients_other_leads_and_finds_by_title_or_number(
    rep_client, rep, other_rep, pair
):
    keep, other = pair
    Lead.objects.filter(pk=other.pk).update(client=keep.client)
    theirs = LeadFactory(title="Acme trucks", client=keep.client, created_by=other_rep)
    page = rep_client.get(merge_url(keep)).content.decode()
    assert f"?with={other.pk}" in page
    assert f"?with={theirs.pk}" not in page  # not the rep's to change
    assert f"?with={keep.pk}" not in page

    found = rep_client.get(merge_url(keep), {"q": "renewal"})
    assert f"?with={other.pk}" in found.content.decode()
    by_number = rep_client.get(merge_url(keep), {"q": f"#{other.pk}"})
    assert f"?with={other.pk}" in by_number.content.decode()
    nothing = rep_client.get(merge_url(keep), {"q": "zeppelin"}).content.decode()
    assert "No lead you may change matches “zeppelin”." in nothing


def test_the_search_answers_htmx_with_the_results_alone(rep_client, pair):
    keep, other = pair
    response = rep_client.get(
        merge_url(keep),
        {"q": "renewal"},
        headers={"HX-Request": "true", "HX-Target": "merge-candidates"},
    )
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="merge-q"' not in html
    assert f"?with={other.pk}" in html


def test_the_comparison_shows_both_values_and_picks_the_filled_in_one(rep_client, pair):
    keep, other = pair
    response = rep_client.get(merge_url(keep, other))
    assert response.status_code == 200
    html = response.content.decode()
    checked = picks(html)
    # The kept lead's unless only the other lead has a value.
    assert checked["pick_title"] == "keep"
    assert checked["pick_priority"] == "keep"
    assert checked["pick_value"] == "other"
    assert checked["pick_expected_close_date"] == "other"
    assert checked["pick_description"] == "keep"
    assert "pick_stage" not in checked  # both in New at 10 %
    assert "€25,000" in html
    assert "31 Mar 2027" in html
    assert "Both: this lead’s, then the other’s" in html
    assert "(the same in both)" in html
    assert "2 events" in html


def test_posting_the_picks_merges_and_goes_to_the_kept_lead(rep_client, pair):
    keep, other = pair
    response = post_merge(
        rep_client,
        keep,
        other,
        title="other",
        value="other",
        priority="keep",
        description="both",
        client="keep",
        assignee="other",
        expected_close_date="other",
        category="other",
    )
    assert response.status_code == 302
    assert response["Location"] == keep.get_absolute_url()
    merged = Lead.objects.get(pk=keep.pk)
    assert merged.title == "Acme fleet renewal"
    assert merged.value == 25000
    assert merged.priority == "normal"
    assert merged.description == "Twelve vans.\n\nLease or buy."
    assert merged.client == keep.client
    assert merged.category == "Vehicles"
    assert not Lead.objects.filter(pk=other.pk).exists()
    page = rep_client.get(response["Location"]).content.decode()
    assert f"Merged “Acme fleet renewal” (#{other.pk}) into this lead" in page
    assert f"Merged from #{other.pk} “Acme fleet renewal”" in page
    assert "Called Ann: wants a quote." in page


def test_a_missing_pick_is_refused_with_422_and_the_other_picks_kept(rep_client, pair):
    keep, other = pair
    response = post_merge(rep_client, keep, other, title="other", value="sideways")
    assert response.status_code == 422
    response = post_merge(rep_client, keep, other, defaults=False, title="other")
    assert response.status_code == 422
    html = response.content.decode()
    assert "Choose which value the merged lead keeps." in html
    assert picks(html)["pick_title"] == "other"
    assert Lead.objects.filter(pk=other.pk).exists()
    assert Lead.objects.get(pk=keep.pk).title == "Acme fleet"


def test_values_the_model_refuses_are_shown_by_their_row_and_nothing_is_merged(
    rep_client, rep, pair
):
    keep, other = pair
    ann = ContactFactory(name="Ann", client=ClientFactory(name="Globex"))
    Lead.objects.filter(pk=other.pk).update(contact=ann)
    other = Lead.objects.get(pk=other.pk)
    response = post_merge(rep_client, keep, other, contact="other", title="other", client="keep")
    assert response.status_code == 422
    html = response.content.decode()
    assert "Ann is not a contact of Acme BV." in html
    assert 'id="row-pick_contact"' in html
    assert picks(html)["pick_title"] == "other"
    untouched(keep, other)


def test_a_lead_changed_meanwhile_answers_409_with_the_leads_as_they_are_now(rep_client, rep, pair):
    keep, other = pair
    lead_update(lead_id=other.pk, values={"value": Decimal(30000)}, by=rep)
    response = post_merge(rep_client, keep, other, value="other", title="other")
    assert response.status_code == 409
    html = response.content.decode()
    assert "changed by someone else since you opened this page" in html
    assert "€30,000" in html
    assert f'name="other_version" value="{other.version + 1}"' in html
    assert picks(html)["pick_title"] == "other"
    assert Lead.objects.filter(pk=other.pk).exists()
    assert Lead.objects.get(pk=keep.pk).value is None


def test_the_other_lead_deleted_meanwhile_answers_404_and_offers_the_search(rep_client, pair):
    keep, other = pair
    Lead.objects.filter(pk=other.pk).delete()
    response = post_merge(rep_client, keep, other, title="other")
    assert response.status_code == 404
    html = response.content.decode()
    assert f"The lead #{other.pk} no longer exists: nothing was merged." in html
    assert 'id="merge-q"' in html
    assert Lead.objects.get(pk=keep.pk).version == keep.version


def test_merging_a_lead_with_itself_is_refused_on_the_page(rep_client, pair):
    keep, _ = pair
    response = rep_client.get(merge_url(keep, keep))
    assert response.status_code == 422
    assert "A lead cannot be merged with itself" in response.content.decode()
    response = post_merge(rep_client, keep, keep)
    assert response.status_code == 422
    assert Lead.objects.get(pk=keep.pk).version == keep.version


def test_a_rep_may_not_merge_a_lead_that_is_not_theirs(rep_client, other_rep, pair):
    keep, other = pair
    Lead.objects.filter(pk=other.pk).update(created_by=other_rep, assignee=other_rep)
    other = Lead.objects.get(pk=other.pk)
    assert rep_client.get(merge_url(keep, other)).status_code == 403
    assert post_merge(rep_client, keep, other, title="other").status_code == 403
    untouched(keep, other)


def test_keeping_the_other_lead_instead_links_to_its_merge_page(rep_client, pair):
    keep, other = pair
    html = rep_client.get(merge_url(keep, other)).content.decode()
    assert f'href="{merge_url(other, keep)}"' in html


def test_picking_the_other_leads_lost_stage_on_the_page_brings_why_it_was_lost(
    rep_client, rep, pair
):
    keep, other = pair
    lead_update(
        lead_id=other.pk,
        values={"stage": default_stage("Lost"), **lost("chose-competitor", competitor="Globex")},
        by=rep,
    )
    other = Lead.objects.get(pk=other.pk)
    html = rep_client.get(merge_url(keep, other)).content.decode()
    assert "Lost (Sales), 0%; lost: Chose competitor, to Globex" in html
    assert picks(html)["pick_stage"] == "keep"

    response = post_merge(rep_client, keep, other, stage="other")

    assert response.status_code == 302
    merged = Lead.objects.get(pk=keep.pk)
    assert (merged.stage.name, merged.probability) == ("Lost", 0)
    assert (merged.lost_reason.slug, merged.competitor) == ("chose-competitor", "Globex")
