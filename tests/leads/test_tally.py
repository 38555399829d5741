"""The running totals PostgreSQL keeps of the leads (``leads.tally``, issue 18).

After every kind of write (a lead created, edited, moved, assigned, deleted, imported,
an import undone, a bulk update, a client deleted with its leads, an
ORM save past the services, SQL by hand), each total equals a fresh count of the leads;
and the list, the board and the pipeline report read them and say what a count says.
"""

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads import services, tally
from leads.filters import LeadFilter
from leads.models import Lead, LeadCloseTally, LeadTally, Priority
from tests.factories import (
    ClientFactory,
    LeadFactory,
    LeadSourceFactory,
    RepFactory,
    default_stage,
)
from tests.leads.test_import import csv_bytes, imported, start, undo  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL's"),
]


def exact():
    """Every running total equals a fresh count of the leads (and there are some)."""
    assert tally.differences() == []
    return True


@pytest.fixture
def leads(rep, other_rep):
    web = LeadSourceFactory(slug="web", label="Web")
    made = [
        LeadFactory(value=Decimal("1000.00"), probability=10, assignee=rep, source=web),
        LeadFactory(value=Decimal("2500.50"), probability=40, assignee=other_rep),
        LeadFactory(value=None, assignee=rep, priority=Priority.HIGH),
        LeadFactory(
            value=Decimal("99.99"),
            stage=default_stage("Qualified"),
            expected_close_date=datetime.date(2027, 3, 14),
            source=web,
        ),
        LeadFactory(value=Decimal("700.00"), stage=default_stage("Won"), assignee=rep),
    ]
    assert LeadTally.objects.exists()
    assert LeadCloseTally.objects.exists()
    assert exact()
    return made


def test_the_service_writes_keep_the_totals_exact(leads, manager, rep, other_rep):
    lead = leads[0]
    services.lead_update(
        lead_id=lead.pk,
        values={"value": Decimal("1234.56"), "probability": 55, "priority": Priority.URGENT},
        by=manager,
    )
    assert exact()
    services.lead_update(
        lead_id=lead.pk, values={"expected_close_date": datetime.date(2027, 1, 2)}, by=manager
    )
    assert exact()
    services.lead_move_stage(lead_id=lead.pk, stage=default_stage("Proposal"), by=manager)
    assert exact()
    services.lead_assign(lead_id=lead.pk, assignee=other_rep, by=manager)
    assert exact()
    services.lead_assign(lead_id=leads[1].pk, assignee=None, by=manager)
    assert exact()
    services.lead_add_note(lead_id=lead.pk, text="Called", by=manager)
    assert exact()
    services.lead_create(lead=Lead(title="New one", value=Decimal("10.00")), by=rep)
    assert exact()
    services.lead_delete(lead_id=leads[2].pk, by=manager)
    assert exact()


def test_bulk_updates_restores_and_deletes_keep_the_totals_exact(leads, manager):
    ids = [lead.pk for lead in leads[:3]]
    result = services.leads_update_bulk(
        changes={pk: {"priority": Priority.LOW, "value": Decimal("5.00")} for pk in ids},
        by=manager,
    )
    assert len(result.changed) == 3
    assert exact()
    services.leads_delete_bulk(lead_ids=ids, by=manager)
    assert exact()


def test_writes_past_the_services_are_counted_too(leads, rep):
    lead = leads[1]
    lead.value = Decimal("1.00")
    lead.stage = default_stage("Lost")
    lead.save()  # an admin action or a shell session
    assert exact()
    Lead.objects.filter(pk__in=[leads[0].pk, leads[3].pk]).update(assignee=rep, probability=90)
    assert exact()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET source_id = NULL, stage_entered_at = now()")
    assert exact()
    ClientFactory._meta.model.objects.filter(pk=leads[3].client_id).delete()  # cascades
    assert exact()


def test_an_import_and_its_undo_keep_the_totals_exact(
    leads,
    manager_client,
    imported,  # noqa: F811
):
    rows = [["Title", "Value", "Stage", "Expected close"]] + [
        [f"Imported {n}", f"{n}00", "Qualified" if n % 2 else "New", f"2027-0{n % 9 + 1}-15"]
        for n in range(1, 30)
    ]
    lead_import = imported(manager_client, csv_bytes(rows))
    assert lead_import.created_count == 29
    assert exact()
    undo(manager_client, lead_import)
    assert not Lead.objects.filter(title__startswith="Imported").exists()
    assert exact()


# --- folding the differences ---------------------------------------------------------------


def test_compaction_folds_the_differences_into_one_row_per_combination(leads, manager):
    for probability in range(10, 60, 5):
        services.lead_update(lead_id=leads[0].pk, values={"probability": probability}, by=manager)
    before = LeadTally.objects.count()
    combinations = LeadTally.objects.values("stage", "assignee", "source", "priority").distinct()
    assert before > combinations.count()
    totals = LeadTally.objects.totals()
    left = tally.compact()
    assert LeadTally.objects.count() == combinations.count()
    assert left == LeadTally.objects.count() + LeadCloseTally.objects.count()
    assert LeadTally.objects.totals() == totals
    assert exact()


def test_a_reader_folds_the_differences_once_they_pile_up(leads, manager, monkeypatch):
    monkeypatch.setattr(tally, "COMPACT_ROWS", 8)
    key = tally.COMPACTED_KEY.format(table="leads_leadtally")
    cache.delete(key)
    LeadTally.objects.totals()  # a first reading: taken as the folded size, never folded
    assert cache.get(key) == LeadTally.objects.count()
    folded = LeadTally.objects.count()
    for probability in range(10, 60, 5):
        services.lead_update(lead_id=leads[0].pk, values={"probability": probability}, by=manager)
    assert LeadTally.objects.count() > max(8, 2 * folded)
    before = LeadTally.objects.totals()
    assert LeadTally.objects.count() == folded  # that reading folded them
    assert cache.get(key) == folded
    assert LeadTally.objects.totals() == before
    assert exact()


def test_a_first_reading_past_the_threshold_folds_at_once(leads, manager, monkeypatch):
    # A new process after a bulk load: what it reads first is not the folded size.
    for probability in range(10, 60, 5):
        services.lead_update(lead_id=leads[0].pk, values={"probability": probability}, by=manager)
    combinations = LeadTally.objects.values("stage", "assignee", "source", "priority").distinct()
    folded = combinations.count()
    monkeypatch.setattr(tally, "COMPACT_ROWS", folded)
    key = tally.COMPACTED_KEY.format(table="leads_leadtally")
    cache.delete(key)
    assert LeadTally.objects.count() > folded
    before = LeadTally.objects.totals()
    assert LeadTally.objects.count() == folded
    assert cache.get(key) == folded
    assert LeadTally.objects.totals() == before
    assert exact()


def test_a_stage_left_empty_leaves_no_row_once_folded(leads, manager):
    services.lead_move_stage(lead_id=leads[3].pk, stage=default_stage("New"), by=manager)
    tally.compact()
    assert not LeadTally.objects.filter(stage=default_stage("Qualified")).exists()


# --- the readers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status=all",
        "status=won",
        "priority=high",
        "source=web&priority=normal",
        "source=none",
        "assignee=none",
        "assignee=me",
        "status=all&stage={qualified}",
        "pipeline={pipeline}",
    ],
)
def test_the_list_totals_from_the_tally_equal_a_count(leads, rep, rf, query):
    qualified = default_stage("Qualified")
    query = query.format(qualified=qualified.pk, pipeline=qualified.pipeline_id)
    request = rf.get("/leads/")
    request.user = rep
    filterset = LeadFilter(QueryDict(query), queryset=Lead.objects.all(), request=request)
    counted = filterset.qs.totals()
    kept = filterset.tally().totals()
    assert kept["count"] == counted["count"]
    assert kept["total_value"] == counted["total_value"]
    assert kept["weighted_value"] == counted["weighted_value"]


@pytest.mark.parametrize(
    "query", ["q=acme", "due=overdue", "rating=hot", "value_min=10", "value_min=0", "value_max=0"]
)
def test_filters_the_tally_cannot_answer_are_counted(leads, rep, rf, query):
    request = rf.get("/leads/")
    request.user = rep
    filterset = LeadFilter(QueryDict(query), queryset=Lead.objects.all(), request=request)
    assert filterset.tally() is None


def test_the_list_reads_its_totals_from_the_tally_right_after_a_write(
    leads, manager, manager_client
):
    manager_client.get(reverse("leads:list"))
    services.lead_update(lead_id=leads[0].pk, values={"value": Decimal("3000")}, by=manager)
    with CaptureQueriesContext(connection) as queries:
        response = manager_client.get(reverse("leads:list"))
    sql = [q["sql"] for q in queries.captured_queries]
    assert any('"leads_leadtally"' in statement for statement in sql)
    assert not any('FROM "leads_lead"' in statement and "SUM(" in statement for statement in sql)
    # 3 open leads: 3,000 + 2,500.50 (the third has no value) and the Qualified one.
    assert response.context["totals"]["count"] == 4
    assert response.context["totals"]["total_value"] == Decimal("5600.49")


def test_the_board_columns_come_from_the_tally_and_match_a_count(leads, manager_client):
    response = manager_client.get(reverse("leads:board_default"))
    columns = {column["stage"].name: column for column in response.context["columns"]}
    for name, column in columns.items():
        counted = Lead.objects.filter(stage__name=name, stage=column["stage"]).totals()
        assert column["count"] == counted["count"]
        assert column["total"] == counted["total_value"]
        weighted = counted["weighted_value"]
        assert column["weighted"] == weighted
    assert columns["New"]["count"] == 3
    assert columns["New"]["total"] == Decimal("3500.50")


def test_a_rep_with_no_leads_sees_zero_not_an_error(db, rf):
    request = rf.get("/leads/")
    request.user = RepFactory()
    filterset = LeadFilter(QueryDict("assignee=me"), queryset=Lead.objects.all(), request=request)
    assert filterset.tally().totals() == {"count": 0, "total_value": None, "weighted_value": None}


def test_the_board_counts_a_write_past_the_app_at_once(leads, manager_client):
    def new_column():
        response = manager_client.get(reverse("leads:board_default"))
        return next(c for c in response.context["columns"] if c["stage"].name == "New")

    assert new_column()["count"] == 3
    LeadFactory(title="Written behind the app's back", value=Decimal("10.00"))  # no event
    assert new_column()["count"] == 4
    assert new_column()["total"] == Decimal("3510.50")


# --- writers at once (PostgreSQL, real transactions) -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_writers_at_once_neither_wait_for_nor_deadlock_over_a_total_and_lose_nothing():
    """Four transactions at once, each moving two leads of the same stages, owners and
    sources in opposite orders (which, with totals updated in place, would wait on each
    other's row and deadlock), while a fifth folds the differences: all commit, and
    every total still equals a fresh count."""
    new, qualified = default_stage("New"), default_stage("Qualified")
    pairs = [
        (LeadFactory(stage=new, value=Decimal("10.00")), LeadFactory(stage=qualified))
        for _ in range(4)
    ]
    together = threading.Barrier(5)

    def move(n: int) -> None:
        first, second = pairs[n]
        try:
            together.wait()
            for round_ in range(15):
                with transaction.atomic():
                    ordered = [(first, qualified), (second, new)]
                    if (n + round_) % 2:
                        ordered.reverse()  # the other transactions' order
                    for lead, stage in ordered:
                        Lead.objects.filter(pk=lead.pk).update(
                            stage=stage, value=Decimal(n * 100 + round_)
                        )
                    time.sleep(0.005)  # hold the transaction open a moment
                first, second = second, first
        finally:
            connections.close_all()

    def fold() -> None:
        try:
            together.wait()
            for _ in range(10):
                tally.compact()
                time.sleep(0.01)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(5) as pool:
        jobs = [pool.submit(move, n) for n in range(4)] + [pool.submit(fold)]
        for job in jobs:
            job.result()  # re-raises a deadlock or any other error
    assert exact()
