"""No lost update: many writers at one lead, at the same moment, on PostgreSQL.

Each writer runs in a thread of its own, with a database connection of its own, and
all start together. SQLite has one writer at a time by design (and the in-memory test
database cannot be shared between threads' transactions), so this runs where the
races are real: CI runs it on PostgreSQL.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from leads.models import EventKind, Lead, LeadEvent, LossReason
from leads.services import LeadConflict, lead_assign, lead_move_stage, lead_update
from tests.factories import LeadFactory, ManagerFactory, RepFactory, default_stage

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)"
    ),
]

WRITERS = 10  # threads; the connection pool holds 10


def race(writes) -> list:
    """Run the writes from WRITERS threads that start at the same moment."""
    start = threading.Barrier(WRITERS)

    def run(batch):
        start.wait()
        outcomes = []
        try:
            for write in batch:
                try:
                    write()
                    outcomes.append("ok")
                except LeadConflict:
                    outcomes.append("conflict")
        finally:
            connections.close_all()  # back to the pool
        return outcomes

    batches = [writes[i::WRITERS] for i in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        return [outcome for outcomes in pool.map(run, batches) for outcome in outcomes]


def chain(events, field: str, first: str) -> list[str]:
    """The values a field went through according to its events, checking each link."""
    values = [first]
    for event in events:
        assert event.data["old"] == values[-1], f"{field}: broken chain at event {event.pk}"
        values.append(event.data["new"])
    return values


def test_racing_moves_assigns_and_edits_lose_nothing():
    manager = ManagerFactory(username="boss")
    reps = [RepFactory(username=f"rep{n}") for n in range(5)]
    stages = [default_stage(name) for name in ("Contacted", "Qualified", "Proposal", "Won")]
    lead = LeadFactory(title="Contested", created_by=manager)
    rng = random.Random(12)
    writes = []
    for n in range(60):
        match n % 3:
            case 0:
                stage = rng.choice(stages)
                writes.append(lambda s=stage: lead_move_stage(lead_id=lead.pk, stage=s, by=manager))
            case 1:
                rep = rng.choice(reps)
                writes.append(lambda r=rep: lead_assign(lead_id=lead.pk, assignee=r, by=manager))
            case 2:
                # An edit from a form opened at version 1: only the first can win; the
                # others must answer 409, not overwrite what came between.
                writes.append(
                    lambda n=n: lead_update(
                        lead_id=lead.pk,
                        values={"title": f"Edit {n}"},
                        expected_version=1,
                        by=manager,
                    )
                )

    outcomes = race(writes)

    lead = Lead.objects.select_related("stage", "assignee").get(pk=lead.pk)
    events = list(LeadEvent.objects.filter(lead=lead).order_by("id"))
    # Every write that changed something bumped the version once and left one event.
    assert lead.version == 1 + len(events)
    conflicts = outcomes.count("conflict")
    assert conflicts >= 19  # at most one of the 20 stale edits can have gone through
    assert len(outcomes) == 60
    stage_events = [e for e in events if e.kind == EventKind.STAGE_CHANGED]
    assert chain(stage_events, "stage", "New")[-1] == lead.stage.name
    assignments = [e for e in events if e.kind == EventKind.ASSIGNED]
    assert chain(assignments, "assignee", "")[-1] == lead.assignee.username
    edits = [e for e in events if e.kind == EventKind.CHANGED]
    assert len(edits) <= 1
    assert lead.title == (edits[0].data["new"] if edits else "Contested")
    # Many writes really happened at once: stage moves and assignments both landed.
    assert len(stage_events) > 5
    assert len(assignments) > 5


def test_racing_moves_each_record_the_stage_they_really_left():
    """The finding: six moves at once all said they came from the same stage."""
    manager = ManagerFactory(username="boss")
    lead = LeadFactory(title="Busy", created_by=manager, stage=default_stage("Qualified"))
    targets = ["Contacted", "Proposal", "Negotiation", "New", "Won", "Lost"] * 5
    stages = {name: default_stage(name) for name in set(targets)}
    reason = LossReason.objects.get(slug="no-budget")
    race(
        [
            lambda s=stages[name]: lead_move_stage(
                lead_id=lead.pk,
                stage=s,
                by=manager,
                closing={"lost_reason": reason} if s.kind == "lost" else None,
            )
            for name in targets
        ]
    )
    lead.refresh_from_db()
    events = list(LeadEvent.objects.filter(lead=lead).order_by("id"))
    assert chain(events, "stage", "Qualified")[-1] == lead.stage.name
    assert lead.version == 1 + len(events)
