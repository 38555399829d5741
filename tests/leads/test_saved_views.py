"""Saved views of the lead list: saving, sharing, opening (with what no longer exists
left out and named), the default view, and managing one's views."""

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import DefaultView, SavedView
from tests.factories import (
    DefaultViewFactory,
    LeadFactory,
    PipelineStageFactory,
    RepFactory,
    SavedViewFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "lead-results"}
MENU = re.compile(
    r'<nav class="filter-menu-body" aria-label="Saved views">(?P<body>.*?)</nav>', re.S
)


def list_url() -> str:
    return reverse("leads:list")


def save(client, **data):
    return client.post(reverse("leads:saved_view_create"), data)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def menu(response) -> str:
    match = MENU.search(response.text)
    assert match, "the list draws no views menu"
    return html.unescape(match["body"])


# --- saving ---------------------------------------------------------------------------


def test_saving_keeps_the_filters_and_sort_without_the_page_and_opens_the_view(rep_client, rep):
    query = "q=acme&priority=high&priority=urgent&sort=-value&page=3&after=12&count=1&assignee="

    response = save(rep_client, name="  Hot   deals ", query=query)

    view = SavedView.objects.get()
    assert (view.name, view.owner, view.shared) == ("Hot deals", rep, False)
    assert query_of("?" + view.query) == {
        "priority": ["high", "urgent"],
        "q": ["acme"],
        "sort": ["-value"],
    }
    assert response.status_code == 302
    assert query_of(response["Location"]) == {**query_of("?" + view.query), "view": [str(view.pk)]}
    assert messages_of(response) == ["View “Hot deals” saved."]
    # How its values read, to name them if they go.
    assert view.names == {
        "priority=high": "Priority: High",
        "priority=urgent": "Priority: Urgent",
        "q=acme": "Search: acme",
    }


def test_saving_leaves_out_what_the_list_does_not_understand(rep_client):
    save(rep_client, name="Mixed", query="priority=high&priority=bogus&value_min=abc&stage=999999")

    assert query_of("?" + SavedView.objects.get().query) == {"priority": ["high"]}


def test_saving_without_a_name_answers_422_and_keeps_what_was_typed(rep_client):
    response = save(rep_client, name="   ", query="priority=high", make_default="on")

    assert response.status_code == 422
    assert "Give the view a name." in response.text
    assert 'name="query" value="priority=high"' in response.text
    assert re.search(r'name="make_default"[^>]*checked', response.text)
    assert not SavedView.objects.exists()


def test_a_second_view_of_the_same_name_is_refused_and_the_first_kept(rep_client, rep):
    SavedViewFactory(owner=rep, name="Hot deals", query="priority=high")

    response = save(rep_client, name="hot DEALS", query="priority=low")

    assert response.status_code == 422
    assert "You have a view called “hot DEALS” already" in html.unescape(response.text)
    assert list(SavedView.objects.values_list("query", flat=True)) == ["priority=high"]


def test_filters_too_long_to_save_are_refused(rep_client):
    response = save(rep_client, name="Long", query="q=" + "x" * 5000)

    assert response.status_code == 422
    assert "too long to save" in response.text
    assert not SavedView.objects.exists()


def test_a_rep_may_not_share_a_view(rep_client):
    response = save(rep_client, name="Team view", query="priority=high", shared="on")

    assert response.status_code == 422
    assert "Only sales managers may share views." in response.text
    assert not SavedView.objects.exists()


def test_a_manager_shares_a_view_that_every_rep_then_sees(manager_client, manager, client):
    save(manager_client, name="Urgent for all", query="priority=urgent", shared="on")
    personal = SavedViewFactory(owner=manager, name="Mine alone")

    client.force_login(RepFactory())
    response = client.get(list_url())

    assert "Urgent for all" in menu(response)
    assert "Mine alone" not in menu(response)
    assert client.get(personal.get_absolute_url()).status_code == 404


# --- opening --------------------------------------------------------------------------


def test_opening_a_view_shows_the_list_with_its_filters(rep_client, rep):
    view = SavedViewFactory(owner=rep, name="High", query="priority=high&sort=-value")
    LeadFactory(title="Loud", priority="high")
    LeadFactory(title="Quiet", priority="low")

    response = rep_client.get(view.get_absolute_url(), follow=True)

    assert query_of(response.redirect_chain[-1][0]) == {
        "priority": ["high"],
        "sort": ["-value"],
        "view": [str(view.pk)],
    }
    assert "Loud" in response.text
    assert "Quiet" not in response.text
    assert "View: <strong>High</strong>" in response.text
    assert "filters changed" not in response.text


def test_a_view_whose_stage_was_deleted_opens_without_it_and_says_so(rep_client, rep):
    kept = default_stage("Proposal")
    gone = PipelineStageFactory(pipeline=kept.pipeline, name="Scoping", order=99)
    save(rep_client, name="Deals", query=f"stage={kept.pk}&stage={gone.pk}&priority=high")
    view = SavedView.objects.get()
    gone.delete()

    response = rep_client.get(view.get_absolute_url())

    assert query_of(response["Location"]) == {
        "stage": [str(kept.pk)],
        "priority": ["high"],
        "view": [str(view.pk)],
    }
    assert messages_of(response)[-1] == (
        "The view “Deals” opened without what no longer exists: Stage: Scoping."
    )


def test_a_view_whose_assignee_left_opens_without_them_and_names_them(rep_client, rep):
    bob = UserFactory(first_name="Bob", last_name="Janssen")
    save(rep_client, name="Bob's", query=f"assignee={bob.pk}&priority=high")
    view = SavedView.objects.get()
    bob.delete()

    response = rep_client.get(view.get_absolute_url())

    assert query_of(response["Location"]) == {"priority": ["high"], "view": [str(view.pk)]}
    assert messages_of(response)[-1] == (
        "The view “Bob's” opened without what no longer exists: Assignee: Bob Janssen."
    )


def test_a_dropped_value_the_view_did_not_name_is_called_by_its_filter(rep_client, rep):
    view = SavedViewFactory(owner=rep, name="Old", query="source=website&source=fax")

    response = rep_client.get(view.get_absolute_url())

    assert query_of(response["Location"]) == {"source": ["website"], "view": [str(view.pk)]}
    assert messages_of(response) == [
        "The view “Old” opened without what no longer exists: Source: fax."
    ]


def test_changing_the_filters_of_a_view_says_so_and_lets_its_owner_update_it(rep_client, rep):
    view = SavedViewFactory(owner=rep, name="High", query="priority=high")

    response = rep_client.get(list_url(), {"priority": ["high", "urgent"], "view": view.pk})

    assert "filters changed since it was saved" in response.text
    assert "Update “High”" in html.unescape(response.text)
    response = rep_client.post(
        reverse("leads:saved_view_update", args=[view.pk]),
        {"query": "priority=high&priority=urgent&page=2"},
    )
    view.refresh_from_db()
    assert query_of("?" + view.query) == {"priority": ["high", "urgent"]}
    assert messages_of(response) == ["View “High” updated."]


def test_the_filter_form_keeps_the_view_shown(rep_client, rep):
    view = SavedViewFactory(owner=rep, query="priority=high")

    response = rep_client.get(list_url(), {"priority": "high", "view": view.pk})

    assert f'<input type="hidden" name="view" value="{view.pk}">' in response.text


# --- the default view -----------------------------------------------------------------


def test_leads_asked_nothing_opens_the_users_default_view(rep_client, rep):
    view = SavedViewFactory(owner=rep, query="priority=high")
    DefaultViewFactory(user=rep, view=view)

    response = rep_client.get(list_url())

    assert response.status_code == 302
    assert response["Location"] == view.get_absolute_url()


def test_all_open_leads_and_clearing_the_filters_do_not_fall_back_to_the_default(rep_client, rep):
    DefaultViewFactory(user=rep, view=SavedViewFactory(owner=rep, query="priority=high"))
    LeadFactory(title="Quiet", priority="low")

    response = rep_client.get(list_url(), {"view": "all"})

    assert response.status_code == 200
    assert "Quiet" in response.text
    assert '<a href="?view=all">All open leads</a>' in response.text
    # The chips' links and "Clear all" lead to every open lead, not to the default.
    filtered = rep_client.get(list_url(), {"priority": "high"})
    assert 'href="?view=all"' in filtered.text
    assert 'href="?"' not in filtered.text


def test_without_a_default_leads_shows_every_open_lead(rep_client, rep):
    SavedViewFactory(owner=rep, query="priority=high")

    assert rep_client.get(list_url()).status_code == 200


def test_saving_as_default_makes_it_the_default(rep_client, rep):
    save(rep_client, name="Mine", query="priority=high", make_default="on")

    assert DefaultView.objects.get(user=rep).view.name == "Mine"


def test_a_shared_default_that_stops_being_shared_stops_being_others_default(
    manager, rep, rep_client
):
    manager_client = Client()
    manager_client.force_login(manager)
    view = SavedViewFactory(owner=manager, shared=True, query="priority=high")
    rep_client.post(reverse("leads:saved_view_default", args=[view.pk]))
    assert rep_client.get(list_url())["Location"] == view.get_absolute_url()

    manager_client.post(reverse("leads:saved_view_unshare", args=[view.pk]))

    assert not DefaultView.objects.filter(user=rep).exists()
    assert rep_client.get(list_url()).status_code == 200


# --- managing views -------------------------------------------------------------------


def test_only_its_owner_deletes_or_shares_a_shared_view(manager, rep_client, rep):
    view = SavedViewFactory(owner=manager, shared=True)

    for action in ("delete", "unshare", "update"):
        url = reverse(f"leads:saved_view_{action}", args=[view.pk])
        assert rep_client.post(url, {"query": "priority=low"}).status_code == 403
    assert SavedView.objects.get().shared


def test_a_rep_may_not_share_their_view_afterwards(rep_client, rep):
    view = SavedViewFactory(owner=rep)

    response = rep_client.post(reverse("leads:saved_view_share", args=[view.pk]))

    assert response.status_code == 403
    view.refresh_from_db()
    assert not view.shared


def test_the_owner_deletes_a_view(rep_client, rep):
    view = SavedViewFactory(owner=rep, name="Old")

    response = rep_client.post(reverse("leads:saved_view_delete", args=[view.pk]))

    assert response["Location"] == reverse("leads:saved_views")
    assert messages_of(response) == ["View “Old” deleted."]
    assert not SavedView.objects.exists()


def test_views_are_changed_by_post_only(rep_client, rep):
    view = SavedViewFactory(owner=rep)

    url = reverse("leads:saved_view_delete", args=[view.pk])
    assert rep_client.get(url).status_code == 405
    assert SavedView.objects.exists()


def test_the_views_page_lists_what_the_user_may_open_in_a_fixed_number_of_queries(
    rep_client, rep, manager
):
    def page_queries():
        with CaptureQueriesContext(connection) as context:
            response = rep_client.get(reverse("leads:saved_views"))
        assert response.status_code == 200
        return len(context.captured_queries), response

    SavedViewFactory(owner=rep, name="Mine")
    few, _ = page_queries()
    SavedViewFactory.create_batch(3, owner=rep)
    SavedViewFactory.create_batch(3, owner=manager, shared=True)
    SavedViewFactory(owner=manager, name="Manager's own")
    many, response = page_queries()

    assert few == many
    assert "Mine" in response.text
    assert "Manager&#x27;s own" not in response.text


def test_the_list_reads_the_views_once_whatever_the_page_size(rep_client, rep):
    view = SavedViewFactory(owner=rep, query="priority=normal")
    SavedViewFactory.create_batch(5, owner=rep)
    LeadFactory.create_batch(30)

    def queries(per_page, headers=None):
        with CaptureQueriesContext(connection) as context:
            params = {"priority": "normal", "view": view.pk, "per_page": per_page}
            rep_client.get(list_url(), params, headers=headers or {})
        return len(context.captured_queries)

    assert queries(25) == queries(100)
    assert queries(25, HTMX_RESULTS) == queries(100, HTMX_RESULTS)
