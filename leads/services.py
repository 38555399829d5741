"""Every write to a lead, in one place.

The lead pages, htmx actions, the board, the admin, the importer and its undo, and stage
deletion all write leads through these functions. Only the seed commands (``seed_demo``,
``seed_bulk``) write rows themselves: made-up data with made-up, backdated history (its
events made by ``leads.events``, as here), for demos and benchmarks. Each write, in one
transaction:

1. locks the lead's row and reads it afresh (``SELECT … FOR UPDATE`` on PostgreSQL; on
   SQLite the IMMEDIATE transaction already holds the database's write lock);
2. checks that ``by`` may make it (``PermissionDenied`` otherwise, nothing written);
3. applies the values and checks them with the model's rules (``clean_fields``, ``clean``);
4. bumps the version and records the history events (``leads.events`` makes them).

Because old values are read under the lock, racing writes queue up instead of
overwriting each other: the version counts every write, and the events form one
unbroken old → new chain.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.web.bulk import bulk_insert
from crm.web.fields import stored, unchanged
from pipelines.models import LAST_OPEN_STAGE_MESSAGE, PipelineStage

from . import events, scoring, webhooks
from .assignment import Assigner
from .models import CLOSING_FIELDS, LOST_FIELDS, WON_FIELDS, Lead, LeadEvent, LossReason

#: What ``touch`` and entering a stage set besides the typed values.
RECORD_FIELDS = ["stage_entered_at", "closed_at", "version", "updated_at", "last_activity_at"]
#: What a move to another stage may set besides the stage: how the lead closed (or
#: clearing it), the stage's probability, and the won value's amount as the value.
MOVE_FIELDS = [*CLOSING_FIELDS, "probability", "value"]
#: What ``closing_values`` reads and sets, by the column (attname) a bulk insert names.
CLOSING_ATTNAMES = {name: Lead._meta.get_field(name).attname for name in (*CLOSING_FIELDS, "value")}


class LeadConflict(Exception):
    """The lead was saved by someone else since the form was opened."""

    def __init__(self, lead_id: int, current_version: int):
        super().__init__(f"Lead {lead_id} is at version {current_version} now.")  # for logs
        self.lead_id = lead_id
        self.current_version = current_version


def lead_check_version(*, lead: Lead, expected_version: int | None) -> None:
    """LeadConflict when the lead moved on from the version the caller knew (None: any).

    The one check: the services run it on the locked lead, the admin's form on the lead
    it was opened at.
    """
    if expected_version is not None and lead.version != expected_version:
        raise LeadConflict(lead.pk, lead.version)


@dataclass
class BulkResult:
    """What a bulk write did: the leads it changed, and those it left alone and why."""

    changed: list[Lead] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)  # the user may not change them
    missing: list[int] = field(default_factory=list)  # deleted meanwhile
    # With ``keep_before``: what the changed fields held before, by lead id (``_snapshot``).
    before: dict[int, dict] = field(default_factory=dict)
    conflicted: list[int] = field(default_factory=list)  # changed since (an undo skips them)


def may_change(lead: Lead, fields: Iterable[str], user) -> bool:
    """Assigning alone needs the right to assign; any other change, the right to edit."""
    fields = set(fields)
    if fields and fields <= {"assignee"}:
        return lead.can_assign(user)
    return lead.can_edit(user)


def _empty(name: str):
    """What a cleared field holds: "" for text, None for the rest (the field's default)."""
    return Lead._meta.get_field(name).get_default()


def closing_values(stage: PipelineStage, values: dict, *, current: Lead | None, today) -> dict:
    """The values of a write into ``stage``, with how the lead closed made whole.

    Into an open stage, every closing field is cleared (reopening; the stage event keeps
    what they were). Into a won stage, the lost fields are cleared, the close date is
    today and the won value the lead's value unless given. Into a lost stage, the won
    value is cleared and the close date is today unless given; the reason is kept from
    ``current`` (a lead moved between lost stages) or must be given: the model's
    ``clean_closing`` refuses a lost lead without one.
    """
    values = dict(values)
    if stage.is_open:
        return values | {name: _empty(name) for name in CLOSING_FIELDS}
    cleared = LOST_FIELDS if stage.kind == PipelineStage.Kind.WON else WON_FIELDS
    values |= {name: _empty(name) for name in cleared}
    entering = current is None or current.stage.is_open or current.stage.kind != stage.kind
    if values.get("actual_close_date") is None and (
        entering or "actual_close_date" in values or current.actual_close_date is None
    ):
        values["actual_close_date"] = today
    won = stage.kind == PipelineStage.Kind.WON and values.get("won_value") is None
    if won and ("won_value" in values or entering or current.won_value is None):
        values["won_value"] = values.get("value", current.value if current else None)
    elif stage.kind == PipelineStage.Kind.WON and current is None:
        # A lead created won: its value is what it was won for (a write to a lead that
        # exists records that change: ``_follow_won_value``).
        values["value"] = values["won_value"]
    return values


def _apply(
    lead: Lead,
    values: dict,
    *,
    by,
    now: datetime.datetime,
    criteria: list,
    stage_deleted: bool = False,
) -> list[LeadEvent]:
    """Set the values that differ; return one unsaved event per change (old → new).

    A stage change takes the stage's probability unless a probability was typed in the
    same write; into a won or lost stage it says how the lead closed, into an open one
    it clears that (``closing_values``), and the stage's event records both. A won
    lead's value follows its won value. The changed fields are checked with the
    model's own rules.
    """
    stage = values.get("stage", lead.stage)
    moving = "stage" in values and not unchanged(lead, Lead._meta.get_field("stage"), stage)
    if moving or set(CLOSING_FIELDS) & set(values):
        values = closing_values(stage, values, current=lead, today=timezone.localdate(now))
    changed = [
        name for name, new in values.items() if not unchanged(lead, Lead._meta.get_field(name), new)
    ]
    recorded = []
    was = lead.closing_facts() if moving and not lead.stage.is_open else {}
    for name in changed:
        if name == "stage":
            continue
        if not (moving and name in CLOSING_FIELDS):  # a move's own event says these
            recorded.append(events.field_changed(lead, name, values[name], by=by, at=now))
        setattr(lead, name, values[name])
    if stage.kind == PipelineStage.Kind.WON and {"stage", "value", "won_value"} & set(changed):
        recorded += _follow_won_value(lead, changed, by=by, now=now)
    if "stage" in changed:
        old, entered_old, old_probability = lead.stage, lead.stage_entered_at, lead.probability
        lead.enter_stage(
            values["stage"],
            now=now,
            # An emptied probability is not an entered one: the stage's applies.
            keep_probability="probability" in changed and values["probability"] is not None,
        )
        recorded.append(
            events.stage_changed(
                lead,
                old,
                lead.stage,
                entered_old=entered_old,
                old_probability=old_probability,
                new_probability=lead.probability,
                by=by,
                at=now,
                stage_deleted=stage_deleted,
                was=was,
                closing=lead.closing_facts(),
            )
        )
    _check(lead, changed)
    # The score follows whatever it reads, by the criteria of now: the caller stores it
    # with the lead (``scoring.store_scores``).
    lead.score = scoring.score(lead, criteria, timezone.localdate(now))
    return recorded


def _follow_won_value(lead: Lead, changed: list[str], *, by, now) -> list[LeadEvent]:
    """A won lead's value is what it was won for: the value follows the won value (a
    recorded change), or the won value follows a value typed alone."""
    if lead.won_value is None or lead.won_value == lead.value:
        return []
    if "value" in changed and "won_value" not in changed and lead.value is not None:
        name, new = "won_value", lead.value
    else:
        name, new = "value", lead.won_value
    event = events.field_changed(lead, name, new, by=by, at=now)
    setattr(lead, name, new)
    changed.append(name)
    return [event]


def _check(lead: Lead, names: list[str]) -> None:
    """The model's rules for these fields (ValidationError), without a query.

    Related rows are not looked up again: they were read to be given here, and the
    database's foreign keys hold anyway.
    """
    if not names:
        return
    lead.clean_fields(
        exclude=[f.name for f in Lead._meta.concrete_fields if f.name not in names or f.is_relation]
    )
    if {"client", "contact"} & set(names):
        lead.clean()
    elif {"stage", *CLOSING_FIELDS} & set(names):
        lead.clean_closing()


# --- the history's writers: every event a write records goes through one of these three,
# which also hand it to the webhooks (sent once the transaction commits).


def _save(event: LeadEvent) -> LeadEvent:
    """Write one event that ``events`` made, as the manager creates any row."""
    saved = LeadEvent.objects.create(
        lead=event.lead, actor=event.actor, at=event.at, kind=event.kind, data=event.data
    )
    webhooks.emit([events.as_row(saved)])
    return saved


def _save_all(recorded: Iterable[LeadEvent], *, batch_size: int | None = None) -> None:
    """Write the events of a write (one INSERT for a few, in batches for many)."""
    recorded = list(recorded)
    LeadEvent.objects.bulk_create(recorded, batch_size=batch_size)
    webhooks.emit(map(events.as_row, recorded))


def _insert_rows(rows: list[tuple]) -> None:
    """Insert many events given as rows of ``events.COLUMNS`` (PostgreSQL's COPY: 10,000
    events of a bulk move in a fraction of the time ``bulk_create`` builds its
    statements in)."""
    bulk_insert(LeadEvent, events.COLUMNS, rows, count=len(rows))
    webhooks.emit(rows)


def _save_events(recorded: list[LeadEvent]) -> None:
    """Insert many events at once (``_insert_rows``)."""
    _insert_rows([events.as_row(event) for event in recorded])


def _lock(lead_id: int) -> Lead:
    """The lead's row, locked until the transaction ends, as it is now.

    No join: under concurrent writes PostgreSQL re-reads only the locked row, so a
    joined stage could be the one it had before.
    """
    return Lead.objects.select_for_update().get(pk=lead_id)


def new_lead_record(*, stage, probability, by_id: int | None, now) -> dict:
    """The bookkeeping of a new lead, whichever way it is created (form, admin, import)."""
    return {
        "created_by_id": by_id,
        "created_at": now,
        "updated_at": now,
        "stage_entered_at": now,
        "last_activity_at": now,
        # The stage's probability unless one was typed.
        "probability": stage.probability if probability is None else probability,
        "closed_at": None if stage.is_open else now,
        "version": 1,
    }


def _require_add(by) -> None:
    if by is None or not by.has_perm("leads.add_lead"):
        raise PermissionDenied(_("You may not add leads."))


@transaction.atomic
def lead_create(*, lead: Lead, by, captured: dict | None = None) -> Lead:
    """Save a new lead built by a form; record its creation. A lead without an assignee
    gets one from the assignment rules, which its history says.

    ``captured``: a website posted it to a capture form (``leads.capture``; what the
    history records of it, ``events.created``). Nobody is signed in then (``by`` is
    None): the form's key was the permission, and the history says "Captured from
    <form>" with no one as its actor.
    """
    if captured is None or by is not None:
        _require_add(by)
    now = timezone.now()
    today = timezone.localdate(now)
    by_id = by.pk if by is not None else None
    record = new_lead_record(stage=lead.stage, probability=lead.probability, by_id=by_id, now=now)
    given = {name: getattr(lead, name) for name in CLOSING_FIELDS}
    given["value"] = lead.value
    closing = closing_values(lead.stage, given, current=None, today=today)
    for name, value in (closing | record).items():
        setattr(lead, name, value)
    lead.score = scoring.score(lead, scoring.criteria_for_write(), today)
    _check(lead, [f.name for f in Lead._meta.concrete_fields])
    assignment = None
    if lead.assignee_id is None:
        [assignment] = Assigner(today=today).assign([lead])
        if assignment is not None:
            lead.assignee = assignment.user
    lead.save()
    scoring.store_scores({lead.pk: lead.score})
    _save(events.created(lead, by=by, at=now, captured=captured))
    if assignment is not None:
        _save(events.assigned_by_rule(lead, assignment, by=by, at=now))
    return lead


@transaction.atomic
def leads_create_bulk(
    *, rows: list[dict], by, lead_import, row_numbers: list[int], now=None
) -> list[int]:
    """Create many leads at once (an import): each row a dict of field attnames.

    The rows come checked by the caller (the importer checks every row before it
    writes); how each lead closed is made whole as ``lead_create`` makes it
    (``closing_values``: a won lead's close date and won value filled in, an open
    lead's cleared), the bookkeeping is ``new_lead_record``'s, and each lead gets an
    "imported" event naming ``lead_import`` and its row's number. Returns the new ids in
    order. The rows without an assignee get one from the assignment rules, in order
    (each with an "assigned" event saying by which rule).
    """
    _require_add(by)
    now = now or timezone.now()
    today = timezone.localdate(now)
    stages = PipelineStage.objects.in_bulk()  # a handful of rows
    criteria = scoring.criteria_for_write()
    leads = []
    for row in rows:
        stage = stages[row["stage_id"]]
        given = {name: row.get(attname) for name, attname in CLOSING_ATTNAMES.items()}
        closing = closing_values(stage, given, current=None, today=today)
        values = (
            row
            | {attname: closing[name] for name, attname in CLOSING_ATTNAMES.items()}
            | new_lead_record(stage=stage, probability=row.get("probability"), by_id=by.pk, now=now)
        )
        values.setdefault("assignee_id", None)  # every row's dict alike (``_insert``)
        leads.append(values)
    unsaved = _unsaved_leads(leads)
    scores = [scoring.score(lead, criteria, today) for lead in unsaved]
    unassigned = [(index, lead) for index, lead in enumerate(unsaved) if lead.assignee_id is None]
    assignments = Assigner(today=today).assign([lead for _, lead in unassigned])
    for (index, _lead), assignment in zip(unassigned, assignments, strict=True):
        if assignment is not None and assignment.user is not None:
            leads[index]["assignee_id"] = assignment.user.pk
    ids = _insert(Lead, leads)
    scoring.store_new_scores(dict(zip(ids, scores, strict=True)))
    _insert_rows(
        list(events.imported_rows(ids, lead_import=lead_import, rows=row_numbers, by=by, at=now))
    )
    by_rule = [
        events.as_row(events.assigned_by_rule(Lead(pk=ids[index]), assignment, by=by, at=now))
        for (index, _), assignment in zip(unassigned, assignments, strict=True)
        if assignment is not None
    ]
    _insert_rows(by_rule)
    return ids


@dataclass
class RulesResult:
    """What running the assignment rules did to unassigned leads."""

    assigned: list[Lead] = field(default_factory=list)
    unmatched: list[int] = field(default_factory=list)  # no rule applies to them
    nobody_free: list[int] = field(default_factory=list)  # a rule applied; all skipped


@transaction.atomic
def leads_assign_by_rules(*, lead_ids: Iterable[int], by, tags: dict | None = None) -> RulesResult:
    """Run the assignment rules on these leads (a manager's "Run rules"): each one still
    unassigned, in id order, gets the assignee of the first rule it meets, and an event
    that says so (or why the rule left it unassigned). Assigned leads are left alone;
    PermissionDenied, writing nothing, for a user who may not assign leads. ``tags`` go
    into each event's data (``events.BULK_KEYS``).
    """
    if not by.has_perm("leads.assign_lead"):
        raise PermissionDenied(_("You may not assign leads."))
    leads = _lock_many(lead_ids)
    unassigned = [lead for lead in leads.values() if lead.assignee_id is None]
    now = timezone.now()
    assignments = Assigner(today=timezone.localdate(now)).assign(unassigned)
    result, recorded = RulesResult(), []
    for lead, assignment in zip(unassigned, assignments, strict=True):
        if assignment is None:
            result.unmatched.append(lead.pk)
            continue
        recorded.append(events.assigned_by_rule(lead, assignment, by=by, at=now))
        if assignment.user is None:
            result.nobody_free.append(lead.pk)
            continue
        lead.assignee = assignment.user
        lead.touch(now)
        result.assigned.append(lead)
    if result.assigned:
        _save_many(result.assigned, ["assignee", *RECORD_FIELDS])
    _save_all(events.tagged(recorded, **(tags or {})))
    return result


def _unsaved_leads(rows: list[dict]) -> list[Lead]:
    """A Lead for each dict of attnames (built alike), for scoring and the assignment
    rules: built as the database builds them, by position in field order, which takes
    half the time keyword arguments take (an import builds 100,000). A field no row
    names holds its default."""
    if not rows:
        return []
    fields = Lead._meta.concrete_fields
    missing = [(f.attname, f.get_default()) for f in fields if f.attname not in rows[0]]
    names = [f.attname for f in fields]
    return [Lead(*map(dict(missing, **row).__getitem__, names)) for row in rows]


def _insert(model, rows: list[dict]) -> list[int]:
    """Insert rows given as dicts of attnames; their new ids, in order."""
    if not rows:
        return []
    columns = list(rows[0])  # every row's dict is built alike: same keys, same order
    values = (tuple(row.values()) for row in rows)
    return bulk_insert(model, columns, values, count=len(rows), want_ids=True)


@transaction.atomic
def lead_update(*, lead_id: int, values: dict, expected_version: int | None = None, by) -> Lead:
    """Apply typed values to a lead unless someone saved it since `expected_version`.

    Each changed field becomes a history event (old → new). Raises PermissionDenied or
    LeadConflict, writing nothing, when the user may not make the change or the
    version moved on; Lead.DoesNotExist when the lead was deleted meanwhile.
    """
    lead = _lock(lead_id)
    if not may_change(lead, values, by):
        raise PermissionDenied(_("You may not change this lead."))
    lead_check_version(lead=lead, expected_version=expected_version)
    now = timezone.now()
    recorded = _apply(lead, values, by=by, now=now, criteria=scoring.criteria_for_write())
    if not recorded:
        return lead
    lead.touch(now)
    lead.save()
    scoring.store_scores({lead.pk: lead.score})
    _save_all(recorded)
    return lead


def lead_move_stage(
    *,
    lead_id: int,
    stage,
    by,
    closing: dict | None = None,
    expected_version: int | None = None,
) -> Lead:
    """Move a lead to a stage (its probability follows); moving to its own stage is a no-op.

    ``closing`` says how it closed, for a won or lost stage: the close date and won
    value (defaults: today, the lead's value), or the loss reason (required: a
    ValidationError otherwise, nothing moved), competitor and note. With
    ``expected_version``, LeadConflict when the lead moved on from it (the API's move).
    """
    return lead_update(
        lead_id=lead_id,
        values={"stage": stage, **(closing or {})},
        expected_version=expected_version,
        by=by,
    )


def lead_assign(*, lead_id: int, assignee, by, expected_version: int | None = None) -> Lead:
    """Give a lead to a user, or to nobody (LeadConflict as ``lead_move_stage``)."""
    return lead_update(
        lead_id=lead_id,
        values={"assignee": assignee},
        expected_version=expected_version,
        by=by,
    )


@transaction.atomic
def lead_add_note(*, lead_id: int, text: str, by) -> LeadEvent:
    """Record a note: activity that changes no field (nor the version)."""
    lead = _lock(lead_id)
    if not lead.can_edit(by):
        raise PermissionDenied(_("You may not add notes to this lead."))
    now = timezone.now()
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=now)
    return _save(events.note(lead, text, by=by, at=now))


@transaction.atomic
def lead_delete(*, lead_id: int, by, merged_into: Lead | None = None) -> Lead:
    """Delete a lead, leaving an audit record of who deleted what and when (and, for a
    merge, which lead it was merged into)."""
    lead = _lock(lead_id)
    if not lead.can_delete(by):
        raise PermissionDenied(_("You may not delete this lead."))
    _save(events.deleted(lead, by=by, at=timezone.now(), merged_into=merged_into))
    lead.delete()
    return lead


@transaction.atomic
def leads_merge(
    *, keep_id: int, other_id: int, values: dict, by, versions: dict[int, int] | None = None
) -> Lead:
    """Merge the lead ``other_id`` into the lead ``keep_id``, which stays.

    The kept lead takes ``values`` (each field picked from either lead) as ``lead_update``
    writes them: the model's rules, an event per change, the version bumped. A stage
    picked from the other lead brings how that lead closed (its closing details) unless
    ``values`` says otherwise, and a probability picked stands even where the new stage
    has its own. Every event of the other lead (its history and notes) moves to the kept
    lead, which records a "merged" event; then the other lead is deleted as
    ``lead_delete`` deletes it, its audit record naming the kept lead.

    Both rows are locked in id order (as bulk writers lock them). Refused, writing
    nothing: the same lead twice (ValidationError); a lead gone meanwhile
    (Lead.DoesNotExist); ``by`` may not change both leads or delete the other
    (PermissionDenied); a lead no longer at its version in ``versions`` (LeadConflict);
    values the model's rules refuse (ValidationError).
    """
    if keep_id == other_id:
        raise ValidationError(
            _("A lead cannot be merged with itself: choose another lead."), code="same_lead"
        )
    leads = _lock_many([keep_id, other_id])
    for pk in (keep_id, other_id):
        if pk not in leads:
            raise Lead.DoesNotExist(
                _("The lead #%(id)s was deleted meanwhile: nothing was merged.") % {"id": pk}
            )
    keep, other = leads[keep_id], leads[other_id]
    if not (keep.can_edit(by) and other.can_edit(by) and other.can_delete(by)):
        raise PermissionDenied(_("You may not merge these leads: you can change only one of them."))
    _check_versions(leads, versions)
    stage = values.get("stage")
    if stage is not None and stage.pk == other.stage_id != keep.stage_id and not stage.is_open:
        values = {name: getattr(other, name) for name in CLOSING_FIELDS} | values
    now = timezone.now()
    criteria = scoring.criteria_for_write()
    recorded = _apply(keep, values, by=by, now=now, criteria=criteria)
    if "probability" in values and keep.probability != values["probability"]:
        # The new stage set its probability; the one picked stands (a change of its own).
        recorded += _apply(
            keep, {"probability": values["probability"]}, by=by, now=now, criteria=criteria
        )
    moved = LeadEvent.objects.filter(lead_id=other_id).update(lead_id=keep_id)
    recorded.append(events.merged(keep, other, events=moved, by=by, at=now))
    keep.touch(now)
    keep.save()
    scoring.store_scores({keep.pk: keep.score})
    _save_all(recorded)
    lead_delete(lead_id=other_id, by=by, merged_into=keep)
    return keep


# --- many leads at once --------------------------------------------------------------------


#: Ids a locking query names at most (SQLite allows 32,766 parameters).
LOCK_CHUNK = 2000
#: Rows an UPDATE of many leads sets at once: its CASE has a branch per row and field.
BULK_UPDATE = 500


def _lock_many(ids: Iterable[int], related: Iterable[str] = (), only=()) -> dict[int, Lead]:
    """Leads by id, their rows locked; related rows read after, in queries of their own.

    Rows are locked in id order, the same for every writer, so that two bulk writes
    over the same leads wait for each other instead of deadlocking.
    """
    ids = sorted(set(ids))
    leads = {}
    for start in range(0, len(ids), LOCK_CHUNK):
        queryset = (
            Lead.objects.select_for_update()
            .filter(pk__in=ids[start : start + LOCK_CHUNK])
            .prefetch_related(*related)
            .order_by("pk")
        )
        if only:
            queryset = queryset.only(*only)
        leads.update((lead.pk, lead) for lead in queryset)
    return leads


@transaction.atomic
def leads_update_bulk(
    *,
    changes: dict[int, dict],
    by,
    lead_import=None,
    import_rows: dict[int, int] | None = None,
    stage_deleted: bool = False,
    keep_before: bool = False,
    tags: dict | None = None,
) -> BulkResult:
    """Apply values to many leads; a lead the user may not change is left alone.

    ``changes`` maps lead ids to values as ``lead_update`` takes them. Each changed lead
    gets one event per change (a stage change saying, with ``stage_deleted``, that its
    stage was deleted; ``tags`` added to their data), or for ``lead_import``
    (``import_rows``: lead id → row number) one "imported" event holding what the fields
    were before, which undo puts back. ``keep_before``: the result holds what the fields
    were before too (``leads_undo_bulk`` puts it back).
    """
    fields = {name for values in changes.values() for name in values}
    # The stage is read for every lead (its kind and probability): once, not per lead.
    related = {"stage", *(name for name in fields if Lead._meta.get_field(name).is_relation)}
    leads = _lock_many(changes, related)
    result = BulkResult(missing=[pk for pk in changes if pk not in leads])
    now = timezone.now()
    criteria = scoring.criteria_for_write()
    recorded: list[LeadEvent] = []
    attnames = {Lead._meta.get_field(name).attname for name in fields} | {"probability"}
    if {"stage", "value", *CLOSING_FIELDS} & fields:
        attnames |= {Lead._meta.get_field(name).attname for name in MOVE_FIELDS}
    written: set[str] = set()  # the fields some lead's values changed: only they are saved
    for pk, lead in leads.items():
        values = changes[pk]
        if not may_change(lead, values, by):
            result.refused.append(pk)
            continue
        before = _snapshot(lead, values) if lead_import is not None or keep_before else None
        held = {name: getattr(lead, name) for name in attnames}
        changed = _apply(
            lead, values, by=by, now=now, criteria=criteria, stage_deleted=stage_deleted
        )
        written |= {name for name, value in held.items() if getattr(lead, name) != value}
        if not changed and lead_import is None:
            continue
        lead.touch(now)
        result.changed.append(lead)
        if keep_before:
            result.before[pk] = before
        if lead_import is None:
            recorded += events.tagged(changed, **(tags or {}))
        else:
            recorded.append(
                events.import_updated(
                    lead,
                    lead_import=lead_import,
                    row=import_rows[pk],
                    before=before,
                    changes=changed,
                    by=by,
                    at=now,
                )
            )
    if result.changed:
        # Fields no lead changed stay out of the UPDATE: leads moved alike (their own
        # values untouched) are then written with one statement per chunk of ids.
        _save_many(result.changed, [*written, *RECORD_FIELDS])
        scoring.store_scores({lead.pk: lead.score for lead in result.changed})
        _save_events(recorded)
    return result


def _save_many(leads: list[Lead], fields: list[str]) -> None:
    """Write these fields of locked leads, whose ``touch`` added one to their version.

    Leads that end up alike (many moved to one stage) are written with one UPDATE per
    set of values: Django's ``bulk_update`` builds a CASE branch per lead and field, which
    costs seconds of Python for 2,000 leads. Leads that differ (an import's updates) keep
    ``bulk_update``, in statements of BULK_UPDATE leads.
    """
    attnames = [Lead._meta.get_field(name).attname for name in fields if name != "version"]
    alike = defaultdict(list)
    for lead in leads:
        alike[tuple(getattr(lead, attname) for attname in attnames)].append(lead.pk)
    if len(alike) * 10 > len(leads):
        Lead.objects.bulk_update(leads, fields, batch_size=BULK_UPDATE)
        return
    for values, ids in alike.items():
        for start in range(0, len(ids), LOCK_CHUNK):
            # The rows are locked since they were read: one more is what touch() counted.
            Lead.objects.filter(pk__in=ids[start : start + LOCK_CHUNK]).update(
                **dict(zip(attnames, values, strict=True)), version=F("version") + 1
            )


def _snapshot(lead: Lead, values: dict) -> dict:
    """What the fields about to change hold now, as JSON (keys for related rows)."""
    names = list(values)
    if "stage" in values:  # entering a stage also moves these
        names += ["probability", "stage_entered_at", "closed_at", *MOVE_FIELDS]
    names = list(dict.fromkeys(names))
    return {name: stored(getattr(lead, Lead._meta.get_field(name).attname)) for name in names}


def _check_versions(leads, versions: dict[int, int] | None) -> None:
    """LeadConflict when a locked lead moved on from the version the caller knew."""
    for pk, version in (versions or {}).items():
        if pk in leads:
            lead_check_version(lead=leads[pk], expected_version=version)


@transaction.atomic
def leads_restore_bulk(
    *,
    snapshots: dict[int, dict],
    by,
    lead_import,
    versions: dict[int, int] | None = None,
    changes: dict[int, list] | None = None,
) -> BulkResult:
    """Put back what ``leads_update_bulk`` recorded before an import changed the leads.

    All or nothing: PermissionDenied when the user may no longer change one of them,
    LeadConflict when one is no longer at its version in ``versions``. Each lead's event
    lists its ``changes`` (field, old and new), so its history stays one chain.
    """
    leads = _lock_many(snapshots)
    _check_versions(leads, versions)
    criteria = scoring.criteria_for_write()
    result = BulkResult(missing=[pk for pk in snapshots if pk not in leads])
    now = timezone.now()
    for pk, lead in leads.items():
        before = snapshots[pk]
        if not may_change(lead, before, by):
            raise PermissionDenied(
                _("You may no longer change the lead “%(title)s”.") % {"title": lead.title}
            )
        for name, value in before.items():
            field = Lead._meta.get_field(name)  # stored as JSON: read back as the field's type
            setattr(lead, field.attname, field.to_python(value))
        lead.score = scoring.score(lead, criteria, timezone.localdate(now))
        lead.touch(now)
        result.changed.append(lead)
    if result.changed:
        attnames = {Lead._meta.get_field(n).attname for s in snapshots.values() for n in s}
        Lead.objects.bulk_update(
            result.changed, [*attnames, *RECORD_FIELDS], batch_size=BULK_UPDATE
        )
        scoring.store_scores({lead.pk: lead.score for lead in result.changed})
        _save_all(
            events.import_undone(
                lead,
                lead_import=lead_import,
                changes=(changes or {}).get(lead.pk, []),
                by=by,
                at=now,
            )
            for lead in result.changed
        )
    return result


@transaction.atomic
def leads_undo_bulk(*, items: dict[int, tuple[dict, int]], by, tags: dict) -> BulkResult:
    """Put back what ``leads_update_bulk`` kept (``keep_before``) on the leads still as it
    left them: ``items`` maps lead ids to (the fields before, the version it left).

    A lead changed since (another version) is left alone (``conflicted``), and so is one
    the user may no longer change (``refused``); the others get their fields back, each
    change an event of its own kind (a stage a stage change, and so on) with ``tags``.
    """
    leads = _lock_many(items, ["stage"])
    result = BulkResult(missing=[pk for pk in items if pk not in leads])
    now = timezone.now()
    criteria = scoring.criteria_for_write()
    names = {name for before, _ in items.values() for name in before}
    # The rows the fields point back to, by key: a handful of stages and reasons.
    related = {
        "stage": PipelineStage.objects.in_bulk(),
        "lost_reason": LossReason.objects.in_bulk(),
    }
    if "assignee" in names:
        ids = {before.get("assignee") for before, _ in items.values()} - {None}
        related["assignee"] = Lead._meta.get_field("assignee").related_model.objects.in_bulk(ids)
    recorded: list[LeadEvent] = []
    attnames = {Lead._meta.get_field(name).attname for name in names}
    written: set[str] = set()  # as in leads_update_bulk: only fields some lead changed
    for pk, lead in leads.items():
        before, version = items[pk]
        if lead.version != version:
            result.conflicted.append(pk)
            continue
        if not may_change(lead, before, by):
            result.refused.append(pk)
            continue
        held = {name: getattr(lead, name) for name in attnames}
        try:
            put_back = _put_back(lead, before, related, by=by, now=now)
        except KeyError:  # a stage, reason or user it had is gone: it cannot go back
            result.conflicted.append(pk)
            continue
        recorded += events.tagged(put_back, **tags)
        written |= {name for name in attnames if getattr(lead, name) != held[name]}
        lead.score = scoring.score(lead, criteria, timezone.localdate(now))
        lead.touch(now)
        result.changed.append(lead)
    if result.changed:
        _save_many(result.changed, [*written, *RECORD_FIELDS])
        scoring.store_scores({lead.pk: lead.score for lead in result.changed})
        _save_events(recorded)
    return result


#: Fields a stage change sets along with the stage: its own event says what they were.
ENTERING_FIELDS = ("probability", "stage_entered_at", "closed_at")


def _put_back(lead: Lead, before: dict, related: dict, *, by, now) -> list[LeadEvent]:
    """Set the fields of ``before`` (JSON, as ``_snapshot`` kept them) on the lead; return
    the events that say so, as any change of those fields records it."""
    values = {}
    for name, value in before.items():
        model_field = Lead._meta.get_field(name)
        if value is None or not model_field.is_relation:
            values[name] = model_field.to_python(value)
        else:
            values[name] = related[name][value]
    moving = "stage" in values and values["stage"].pk != lead.stage_id
    old_stage, entered_old, old_probability = lead.stage, lead.stage_entered_at, lead.probability
    was = lead.closing_facts() if moving and not old_stage.is_open else {}
    recorded = []
    for name, value in values.items():
        if unchanged(lead, Lead._meta.get_field(name), value):
            continue
        said_by_move = moving and name in (*ENTERING_FIELDS, *CLOSING_FIELDS)
        if name != "stage" and not said_by_move and name not in ENTERING_FIELDS[1:]:
            recorded.append(events.field_changed(lead, name, value, by=by, at=now))
        setattr(lead, name, value)
    if moving:
        recorded.append(
            events.stage_changed(
                lead,
                old_stage,
                lead.stage,
                entered_old=entered_old,
                old_probability=old_probability,
                new_probability=lead.probability,
                by=by,
                at=now,
                was=was,
                closing=lead.closing_facts(),
            )
        )
    return recorded


@transaction.atomic
def leads_delete_bulk(
    *,
    lead_ids: Iterable[int],
    by,
    undoing=None,
    versions: dict[int, int] | None = None,
    refused: list[int] | None = None,
) -> int:
    """Delete many leads with an audit record each (saying when ``undoing`` an import);
    all or nothing (PermissionDenied, or LeadConflict when one is no longer at its
    version in ``versions``). Given a ``refused`` list, the leads the user may not
    delete are added to it and left alone instead (a bulk action skips them)."""
    leads = _lock_many(
        lead_ids, ["stage"], only=["title", "stage", "created_by", "assignee", "version"]
    )
    _check_versions(leads, versions)
    for lead in list(leads.values()):
        if lead.can_delete(by):
            continue
        if refused is None:
            raise PermissionDenied(
                _("You may not delete the lead “%(title)s”.") % {"title": lead.title}
            )
        refused.append(lead.pk)
        del leads[lead.pk]
    now = timezone.now()
    _save_all(
        (events.deleted(lead, by=by, at=now, undoing=undoing) for lead in leads.values()),
        batch_size=LOCK_CHUNK,
    )
    ids = list(leads)
    for start in range(0, len(ids), LOCK_CHUNK):
        # Their events stay, the lead set to NULL: the audit trail keeps them.
        Lead.objects.filter(pk__in=ids[start : start + LOCK_CHUNK]).delete()
    return len(ids)


# --- stages --------------------------------------------------------------------------------


#: Leads a stage's deletion moves at a time: memory stays flat however many it holds.
MOVE_CHUNK = LOCK_CHUNK


@transaction.atomic
def stage_delete(*, stage: PipelineStage, move_to: PipelineStage | None, by) -> int:
    """Delete a stage, first moving every lead it holds to ``move_to``; all or nothing.

    Each lead moves as on any move (its probability follows the new stage, a won or lost
    stage closes it), with a "stage changed" event that says the stage was deleted. The
    leads go through ``leads_update_bulk`` a chunk of ids at a time, all in this one
    transaction. Raises PermissionDenied when ``by`` may not delete stages or may not
    change one of the leads, ValidationError when ``move_to`` is not another stage of
    the same pipeline or the stage is its pipeline's last open one; nothing changes
    then. Returns how many leads moved.
    """
    if not by.has_perm("pipelines.delete_pipelinestage"):
        raise PermissionDenied(_("You may not delete stages."))
    # The stage and its pipeline, locked: two deletions in one pipeline wait for each
    # other (so it keeps an open stage), and on PostgreSQL a lead being moved into the
    # stage meanwhile waits until it is gone.
    stage = PipelineStage.objects.select_for_update().select_related("pipeline").get(pk=stage.pk)
    if stage.is_last_open():
        raise ValidationError(_(str(LAST_OPEN_STAGE_MESSAGE)), code="last_open")
    if forms := list(stage.capture_forms.values_list("name", flat=True)):
        raise ValidationError(
            _(
                "Websites' leads land in %(stage)s (capture form %(forms)s): give "
                "the form another stage first. Nothing was changed."
            )
            % {"stage": stage.name, "forms": ", ".join(forms)},
            code="capture_form",
        )
    if move_to is not None and (move_to.pipeline_id != stage.pipeline_id or move_to == stage):
        raise ValidationError(
            _("Choose another stage of the pipeline %(pipeline)s.")
            % {"pipeline": stage.pipeline.name},
            code="invalid_target",
        )
    closing = _closing_on_delete(stage, move_to)
    # Locked with the condition checked again: a lead moved out meanwhile is left alone.
    held = stage.leads.select_for_update().order_by("pk").values_list("pk", flat=True)
    moved = last = 0
    while True:
        ids = list(held.filter(pk__gt=last)[:MOVE_CHUNK])
        if not ids:
            # PostgreSQL's LIMIT … FOR UPDATE may pass over rows moved meanwhile and come
            # back short: done only when the stage is really empty.
            if not stage.leads.exists():
                break
            last = 0
            continue
        if move_to is None:
            raise ValidationError(
                _("The stage %(stage)s holds leads: choose a stage to move them to.")
                % {"stage": stage.name},
                code="target_required",
            )
        result = leads_update_bulk(
            changes={pk: {"stage": move_to, **closing} for pk in ids},
            by=by,
            stage_deleted=True,
        )
        if result.refused:
            raise PermissionDenied(
                _(
                    "You may not change every lead in %(stage)s, so they cannot be moved; "
                    "someone who may change any lead can. Nothing was changed."
                )
                % {"stage": stage.name}
            )
        moved += len(result.changed)
        last = ids[-1]
    try:
        stage.delete()
    except ProtectedError:  # a lead came in between the last look and the delete
        raise ValidationError(
            _("Leads were moved into %(stage)s meanwhile; nothing was changed. Try again.")
            % {"stage": stage.name},
            code="leads_moved_in",
        ) from None
    return moved


def _closing_on_delete(stage: PipelineStage, move_to: PipelineStage | None) -> dict:
    """Leads moved into a lost stage when their own stage goes did not say why they were
    lost: "Other", with a note saying so. (Leads of a lost stage keep their reasons.)"""
    if move_to is None or move_to.kind != PipelineStage.Kind.LOST or stage.kind == move_to.kind:
        return {}
    return {
        "lost_reason": LossReason.objects.fallback(),
        "lost_note": _("Moved to %(stage)s when the stage %(deleted)s was deleted.")
        % {"stage": move_to.name, "deleted": stage.name},
    }
