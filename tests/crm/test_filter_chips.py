"""The lists' filter chips: every filter a list declares says how its active value reads."""

import pytest
from django.http import QueryDict

from crm.filters import ClientFilter, ContactFilter
from crm.models import Client, Contact
from crm.web.filters import SortedFilterSet
from leads.filters import LeadFilter
from leads.models import Lead
from pipelines.models import Pipeline
from tests.factories import (
    ClientFactory,
    ContactFactory,
    LeadSourceFactory,
    default_stage,
    loss_reason,
)

pytestmark = pytest.mark.django_db


def active_values(rows) -> dict:
    """An active value for each filter of each list: a filter added later needs one here."""
    return {
        LeadFilter: {
            "q": ["acme"],
            "status": ["won"],
            "pipeline": [str(rows["pipeline"].pk)],
            "stage": [str(rows["stage"].pk)],
            "source": [rows["source"].slug, "none"],
            "priority": ["high", "urgent"],
            "rating": ["hot", "cold"],
            "assignee": ["none"],
            "client": [str(rows["client"].pk)],
            "contact": [str(rows["contact"].pk)],
            "category": ["Hardware"],
            "value_min": ["1000"],
            "value_max": ["5000"],
            "due": ["overdue"],
            "due_from": ["2026-01-01"],
            "due_to": ["2026-03-31"],
            "stale": ["1"],
            "lost_reason": [str(rows["reason"].pk), "none"],
            "competitor": ["Acme"],
            "closed_from": ["2026-01-01"],
            "closed_to": ["2026-03-31"],
            "created_from": ["2026-01-01"],
            "created_to": ["2026-03-31"],
            "age_min": ["8"],
            "age_max": ["14"],
            "entered_stage": [str(rows["stage"].pk)],
            "entered_from": ["2026-01-01"],
            "entered_to": ["2026-03-31"],
            "moved_on": ["1"],
        },
        ClientFilter: {"q": ["acme"], "kind": [Client.Kind.PERSON]},
        ContactFilter: {"q": ["acme"], "client": [str(rows["client"].pk)]},
    }


#: What each list shows for the values above: one chip per value, each its own words.
EXPECTED = {
    LeadFilter: [
        "Search: acme",
        "Status: Won",
        "Pipeline: Sales",
        "Stage: New",
        "Source: Referral",
        "Source: No source",
        "Priority: High",
        "Priority: Urgent",
        "Rating: Hot",
        "Rating: Cold",
        "Assignee: Unassigned",
        "Client: Acme",
        "Contact: Ada",
        "Category: Hardware",
        "Value from €1,000",
        "Value to €5,000",
        "Due: Overdue",
        "Due from: 2026-01-01",
        "Due to: 2026-03-31",
        "Stale",
        "Loss reason: Price too high",
        "Loss reason: Not recorded",
        "Competitor: Acme",
        "Closed from: 2026-01-01",
        "Closed to: 2026-03-31",
        "Created from: 2026-01-01",
        "Created to: 2026-03-31",
        "In stage ≥ 8 days",
        "In stage ≤ 14 days",
        "Entered New (Sales)",
        "Entered from: 2026-01-01",
        "Entered to: 2026-03-31",
        "Moved on to a later stage",
    ],
    ClientFilter: ["Search: acme", "Kind: Person"],
    ContactFilter: ["Search: acme", "Client: Acme"],
}
QUERYSETS = {
    LeadFilter: Lead.objects.all,
    ClientFilter: Client.objects.all,
    ContactFilter: Contact.objects.all,
}


@pytest.fixture
def rows(rf, rep):
    client = ClientFactory(name="Acme")
    stage = default_stage("New")
    request = rf.get("/")
    request.user = rep
    return {
        "client": client,
        "contact": ContactFactory(client=client, name="Ada"),
        "stage": stage,
        "pipeline": Pipeline.objects.get(pk=stage.pipeline_id),
        "source": LeadSourceFactory(slug="referral", label="Referral"),
        "reason": loss_reason("price-too-high"),
        "request": request,
    }


def chips(filterset_class, data: dict, rows) -> list[dict]:
    params = QueryDict(mutable=True)
    for name, values in data.items():
        params.setlist(name, values)
    filterset = filterset_class(
        params, queryset=QUERYSETS[filterset_class](), request=rows["request"]
    )
    assert filterset.is_valid(), filterset.errors
    return filterset.chips(params)


@pytest.mark.parametrize("filterset_class", [LeadFilter, ClientFilter, ContactFilter])
def test_every_declared_filter_shows_its_active_value_as_a_chip(filterset_class, rows):
    active = active_values(rows)[filterset_class]
    # The sort shows in the column headers; every other filter is covered above.
    assert set(active) == set(filterset_class.base_filters) - {"sort"}

    found = chips(filterset_class, active, rows)

    assert [chip["label"] for chip in found] == EXPECTED[filterset_class]


@pytest.mark.parametrize("filterset_class", [LeadFilter, ClientFilter, ContactFilter])
def test_each_filter_alone_gives_chips_whose_links_remove_exactly_it(filterset_class, rows):
    for name, values in active_values(rows)[filterset_class].items():
        found = chips(filterset_class, {name: values, "page": ["2"]}, rows)
        assert found, f"{filterset_class.__name__}.{name} shows no chip"
        removed = [QueryDict(chip["remove"].removeprefix("?")) for chip in found]
        if len(values) == 1:
            assert [chip["remove"] for chip in found] == ["?"]
        else:  # one chip per value, each removing that value only
            assert [query.getlist(name) for query in removed] == [
                [v for v in values if v != value] for value in values
            ]


def test_the_lists_share_one_chip_builder():
    assert LeadFilter.chips is SortedFilterSet.chips
    assert ClientFilter.chips is ContactFilter.chips is SortedFilterSet.chips
