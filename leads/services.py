"""Lead workflows that write history alongside the change, in one transaction."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from .models import EventKind, Lead, LeadEvent


class LeadConflict(Exception):
    """The lead was saved by someone else since the form was opened."""

    def __init__(self, lead_id: int, current_version: int):
        super().__init__(f"Lead {lead_id} is at version {current_version} now.")
        self.lead_id = lead_id
        self.current_version = current_version


def display_value(lead: Lead, field: str, value) -> str:
    """A field's value as the history shows it: labels, not keys; "" for empty."""
    if value is None or value == "":
        return ""
    model_field = Lead._meta.get_field(field)
    if model_field.choices and not model_field.is_relation:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal(1))) if value == value.to_integral() else str(value)
    if hasattr(value, "get_username"):
        return value.get_username()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return getattr(value, "name", None) or str(value)


def _same(old, new) -> bool:
    if old in (None, "") and new in (None, ""):
        return True
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return old is not None and new is not None and Decimal(old) == Decimal(new)
    return old == new


@transaction.atomic
def lead_create(*, lead: Lead, by) -> Lead:
    """Save a new lead built by a form; record its creation."""
    now = timezone.now()
    lead.created_by = by
    lead.created_at = lead.updated_at = lead.stage_entered_at = lead.last_activity_at = now
    if lead.probability is None and lead.stage.probability is not None:
        lead.probability = lead.stage.probability
    lead.closed_at = None if lead.stage.is_open else now
    lead.save()
    LeadEvent.objects.create(
        lead=lead, actor=by, at=now, kind=EventKind.CREATED, data={"title": lead.title}
    )
    return lead


@transaction.atomic
def lead_update(*, lead_id: int, values: dict, expected_version: int | None, by) -> Lead:
    """Apply typed values to a lead unless someone saved it since `expected_version`.

    Each changed field becomes a history event (old → new). A stage change takes the
    stage's probability unless a probability was typed in the same save. Raises
    LeadConflict, writing nothing, when the version moved on.
    """
    lead = (
        Lead.objects.select_for_update(of=("self",))
        .select_related("stage", "source", "client", "contact", "assignee")
        .get(pk=lead_id)
    )
    if expected_version is not None and lead.version != expected_version:
        raise LeadConflict(lead.pk, lead.version)
    changes = {
        field: (display_value(lead, field, getattr(lead, field)), display_value(lead, field, new))
        for field, new in values.items()
        if not _same(getattr(lead, field), new)
    }
    if not changes:
        return lead
    now = timezone.now()
    events = []
    for field, (old, new) in changes.items():
        if field == "stage":
            continue
        setattr(lead, field, values[field])
        kind = EventKind.ASSIGNED if field == "assignee" else EventKind.CHANGED
        events.append(LeadEvent(kind=kind, data={"field": field, "old": old, "new": new}))
    if "stage" in changes:
        data = lead.enter_stage(
            values["stage"],
            now=now,
            # An emptied probability is not an entered one: the stage's applies.
            keep_probability="probability" in changes and values["probability"] is not None,
        )
        events.append(LeadEvent(kind=EventKind.STAGE_CHANGED, data=data))
    lead.touch(now)
    lead.save()
    for event in events:
        event.lead, event.actor, event.at = lead, by, now
    LeadEvent.objects.bulk_create(events)
    return lead


@transaction.atomic
def lead_delete(*, lead: Lead, by) -> None:
    """Delete a lead, leaving an audit record of who deleted what and when."""
    LeadEvent.objects.create(
        lead=None,
        actor=by,
        kind=EventKind.DELETED,
        data={"lead_id": lead.pk, "title": lead.title, "stage": lead.stage.name},
    )
    lead.delete()
