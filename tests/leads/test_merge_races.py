"""Merges racing other writers on PostgreSQL: no deadlock, and nothing of either lead lost.

Each writer runs in a thread with a connection of its own, all starting together, as in
test_concurrency.py (SQLite has one writer at a time: these skip there).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from leads.models import Lead, LeadEvent
from leads.services import lead_add_note, leads_merge
from tests.factories import LeadFactory, ManagerFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)"
    ),
]


def together(*writes) -> list[str]:
    """Run each write in a thread of its own, all at once: "ok" or the refusal's name."""
    start = threading.Barrier(len(writes))

    def run(write):
        start.wait()
        try:
            write()
            return "ok"
        except Exception as refusal:
            return type(refusal).__name__
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(writes)) as pool:
        return list(pool.map(run, writes))


def test_two_leads_merged_into_each_other_at_once_merge_once_without_deadlock():
    boss = ManagerFactory(username="boss")
    for _ in range(5):
        first, second = LeadFactory(title="First"), LeadFactory(title="Second")
        lead_add_note(lead_id=first.pk, text="On the first", by=boss)
        lead_add_note(lead_id=second.pk, text="On the second", by=boss)

        outcomes = together(
            lambda a=first, b=second: leads_merge(keep_id=a.pk, other_id=b.pk, values={}, by=boss),
            lambda a=first, b=second: leads_merge(keep_id=b.pk, other_id=a.pk, values={}, by=boss),
        )

        assert sorted(outcomes) == ["DoesNotExist", "ok"]
        [survivor] = Lead.objects.filter(pk__in=[first.pk, second.pk])
        notes = survivor.events.filter(kind="note").values_list("data__text", flat=True)
        assert sorted(notes) == ["On the first", "On the second"]
        assert survivor.events.filter(kind="merged").count() == 1


def test_a_note_written_while_its_lead_is_merged_away_is_kept_or_refused_never_lost():
    boss = ManagerFactory(username="boss")
    for n in range(5):
        keep, other = LeadFactory(title="Keep"), LeadFactory(title="Other")
        text = f"Note {n}"

        outcomes = together(
            lambda k=keep, o=other: leads_merge(keep_id=k.pk, other_id=o.pk, values={}, by=boss),
            lambda o=other, t=text: lead_add_note(lead_id=o.pk, text=t, by=boss),
        )

        assert outcomes[0] == "ok"
        written = LeadEvent.objects.filter(kind="note", data__text=text)
        if outcomes[1] == "ok":  # before the merge: moved with the rest
            assert [event.lead_id for event in written] == [keep.pk]
        else:  # after: the lead was gone, and the writer was told
            assert outcomes[1] == "DoesNotExist"
            assert not written.exists()
