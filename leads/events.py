"""A lead's history: the event model and every kind of event, each defined once.

For each kind, ``KINDS`` says which keys its ``data`` holds and how it reads as a
sentence; a constructor below (``created``, ``field_changed``, ``stage_changed``, ...)
is how every writer makes one: the lead services, the importer through them, and the
seed commands. A constructor returns the event unsaved, so that a bulk writer can
insert many at once. Undo reads what an import changed through ``import_update``.

Values are recorded as the text people knew them by (labels, names, ISO dates:
``recorded_value``) and shown through one function (``show_value``).
"""

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import FloatField, Func, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext, pgettext_lazy

from crm.web.templatetags.formatting import format_money


class EventKind(models.TextChoices):
    CREATED = "created", pgettext_lazy("event kind", "Created")
    CHANGED = "changed", pgettext_lazy("event kind", "Changed")
    STAGE_CHANGED = "stage_changed", pgettext_lazy("event kind", "Stage changed")
    ASSIGNED = "assigned", pgettext_lazy("event kind", "Assigned")
    NOTE = "note", pgettext_lazy("event kind", "Note")
    IMPORTED = "imported", pgettext_lazy("event kind", "Imported")
    DELETED = "deleted", pgettext_lazy("event kind", "Deleted")
    MERGED = "merged", pgettext_lazy("event kind", "Merged")


class Epoch(Func):
    """A moment as seconds since 1970 (a float): moments and durations in seconds then
    add and compare alike on PostgreSQL and SQLite."""

    output_field = FloatField()
    arity = 1

    def as_postgresql(self, compiler, connection, **extra):
        # date_part, not EXTRACT: since PostgreSQL 14 EXTRACT gives a numeric, slower.
        return self.as_sql(compiler, connection, template="date_part('epoch', %(expressions)s)")

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        )


class LeadEventQuerySet(models.QuerySet):
    def stage_moves(self, since: float | None = None):
        """The stage changes of leads that still exist, each with the stage it left
        (``left_id``) and entered (``entered_id``), when it moved (``moved``) and when it
        had entered the stage it left (``left_entered``: the move's time less the seconds
        it spent there); moments in seconds (``Epoch``). ``since``: only the moves from
        then on.

        A lead's visits to its stages are these moves' left stages, from when it entered
        them, and the stage it is in now, from its ``stage_entered_at``: so a lead
        created in a stage shows it too, which its created event does not name. A move
        recorded without its seconds (none of ours) has no ``left_entered``.
        """
        moves = self.filter(kind=EventKind.STAGE_CHANGED, lead__isnull=False)
        if since is not None:
            moves = moves.filter(at__gte=datetime.datetime.fromtimestamp(since, tz=datetime.UTC))
        return moves.annotate(
            left_id=Cast(KT("data__old_id"), models.BigIntegerField()),
            entered_id=Cast(KT("data__new_id"), models.BigIntegerField()),
            moved=Epoch("at"),
            left_entered=Epoch("at") - Cast(KT("data__seconds_in_previous"), FloatField()),
        )


def visited(stage_id: int, start: float | None = None, end: float | None = None) -> Q:
    """Of ``stage_moves()``, the moves out of a stage that the lead had entered from
    ``start`` (included) to ``end`` (excluded), in seconds; either may be None."""
    condition = Q(left_id=stage_id)
    if start is not None:
        condition &= Q(left_entered__gte=start)
    if end is not None:
        condition &= Q(left_entered__lt=end)
    return condition


def epoch(moment: datetime.datetime | None) -> float | None:
    """An aware moment in seconds since 1970, as ``Epoch`` gives the database's."""
    return None if moment is None else moment.timestamp()


class LeadEvent(models.Model):
    """One thing that happened to a lead: the timeline and the audit trail."""

    Kind = EventKind

    # SET_NULL: the audit record of a deleted lead survives it (data keeps the title).
    lead = models.ForeignKey(
        "leads.Lead",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=gettext_lazy("lead"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("actor"),
        on_delete=models.PROTECT,  # the audit trail keeps who did it
        null=True,
        blank=True,
        related_name="lead_events",
    )
    at = models.DateTimeField(gettext_lazy("at"), default=timezone.now, db_index=True)
    kind = models.CharField(gettext_lazy("kind"), max_length=20, choices=EventKind.choices)
    data = models.JSONField(gettext_lazy("data"), default=dict, blank=True)

    objects = LeadEventQuerySet.as_manager()

    class Meta:
        app_label = "leads"
        verbose_name = gettext_lazy("lead event")
        verbose_name_plural = gettext_lazy("lead events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["lead", "-at", "-id"], name="leadevent_lead_at_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in EventKind]),
                name="leadevent_kind_valid",
                violation_error_message="Unknown event kind.",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.at:%Y-%m-%d %H:%M}"

    def describe(self) -> str:
        """The event as a sentence for the timeline ("Value: €25,000 → €30,000")."""
        return describe(self)


#: The columns a bulk insert of events writes, in the order of ``as_row``.
COLUMNS = ["lead_id", "actor_id", "at", "kind", "data"]


def as_row(event: LeadEvent) -> tuple:
    """An unsaved event as a row of ``COLUMNS``, for ``crm.web.bulk.bulk_insert``."""
    return (event.lead_id, event.actor_id, event.at, event.kind, event.data)


# --- values ----------------------------------------------------------------------------------


def _lead_field(name: str) -> models.Field:
    return LeadEvent._meta.get_field("lead").related_model._meta.get_field(name)


def _is_choice(field: str) -> bool:
    try:
        model_field = _lead_field(field)
    except FieldDoesNotExist:
        return False
    return bool(model_field.choices) and not model_field.is_relation


def recorded_value(field: str, value) -> str:
    """A lead field's value as an event records it: labels, not keys (in English, the
    language of the code, whoever wrote it: ``show_value`` says it in the reader's);
    "" for empty."""
    if value is None or value == "":
        return ""
    model_field = _lead_field(field)
    if model_field.choices and not model_field.is_relation:
        with translation.override(None):
            return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal(1))) if value == value.to_integral() else str(value)
    if hasattr(value, "get_username"):
        return value.get_username()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return getattr(value, "name", None) or str(value)


def shown_choice(field: str, recorded: str) -> str:
    """A choice's recorded label in the reader's language ("High" → "Hoog"); any other
    recorded value as it is."""
    if not recorded or not _is_choice(field):
        return recorded
    choices = _lead_field(field).flatchoices
    with translation.override(None):
        keys = {str(label): key for key, label in choices}
    if recorded not in keys:
        return recorded
    return str(dict(choices)[keys[recorded]])


def show_value(field: str, value) -> str:
    """A recorded value as people read it: money, percentages, dates, choices in the
    reader's language; "—" when empty."""
    if value in (None, ""):
        return "—"
    if field in ("value", "won_value"):
        return format_money(value)
    if field == "probability":
        return f"{value}%"
    if field in ("expected_close_date", "actual_close_date"):
        try:
            return date_format(datetime.date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if field == "description":
        text = str(value)
        return f"“{text[:80]}…”" if len(text) > 80 else f"“{text}”"
    return shown_choice(field, str(value))


def describe_change(data: dict) -> str:
    """One field's change as people read it ("Value: €25,000 → €30,000")."""
    field = data.get("field", "")
    try:
        # "value (EUR)" reads as "Value": the unit is in the amounts.
        label = str(_lead_field(field).verbose_name).split(" (")[0]
    except FieldDoesNotExist:  # a field that no longer exists keeps its raw name
        label = field.replace("_", " ")
    if field in ("stage", "assignee"):  # recorded as the names people read already
        old, new = data.get("old") or "—", data.get("new") or "—"
    else:
        old, new = show_value(field, data.get("old")), show_value(field, data.get("new"))
    return _("%(field)s: %(old)s → %(new)s") % {
        "field": f"{label[:1].upper()}{label[1:]}",
        "old": old,
        "new": new,
    }


def describe_duration(seconds: int) -> str:
    """12 days, 3 hours, 5 minutes, or less than a minute."""
    if seconds >= 86400:
        count = seconds // 86400
        return ngettext("%(count)s day", "%(count)s days", count) % {"count": count}
    if seconds >= 3600:
        count = seconds // 3600
        return ngettext("%(count)s hour", "%(count)s hours", count) % {"count": count}
    if seconds >= 60:
        count = seconds // 60
        return ngettext("%(count)s minute", "%(count)s minutes", count) % {"count": count}
    return _("less than a minute")


# --- the kinds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of event: the keys its data may hold, and its sentence (made when the
    event is shown, in the reader's language, from what its data recorded)."""

    keys: frozenset[str]
    sentence: Callable[[dict], str]


#: A field's change: which field, its old and new recorded value (ids for related rows).
CHANGE_KEYS = ("field", "old", "new", "old_id", "new_id")
#: A change made by a bulk action on the list (its id), or by undoing one.
BULK_KEYS = ("bulk", "undo_bulk")


def _imported_sentence(data: dict) -> str:
    source = data.get("file")
    changes = "; ".join(describe_change(change) for change in data.get("changes", []))
    if data.get("undo_import"):
        sentence = _("Undid the import of %(file)s: the earlier values are back") % {"file": source}
    elif data.get("updated"):
        sentence = _("Updated by the import of %(file)s") % {"file": source}
    else:
        return _("Imported from %(file)s") % {"file": source} if source else _("Imported")
    return f"{sentence}. {changes}" if changes else sentence


def _assigned_sentence(data: dict) -> str:
    if rule := data.get("rule"):
        return _rule_sentence(data, rule)
    # By name since names were recorded; older events hold the usernames only.
    old = data.get("old_name") or data.get("old")
    new = data.get("new_name") or data.get("new")
    if not new:
        if old:
            return _("Unassigned (was %(name)s)") % {"name": old}
        return pgettext("timeline: the lead was unassigned", "Unassigned")
    if old:
        return _("Reassigned from %(old)s to %(new)s") % {"old": old, "new": new}
    return _("Assigned to %(name)s") % {"name": new}


def skip_reason(why) -> str:
    """Why the rules skipped a team member, in the reader's language: recorded as a word
    ("paused", "deactivated") or its facts ({"absent_until": "2026-12-04"},
    {"capacity": 3}); older events hold the English sentence, shown as it is."""
    if why == "paused":
        return pgettext("a team member skipped by the rules", "paused")
    if why == "deactivated":
        return pgettext("a team member skipped by the rules", "deactivated")
    if isinstance(why, dict) and "absent_until" in why:
        try:
            until = date_format(
                datetime.date.fromisoformat(why["absent_until"]), "MONTH_DAY_FORMAT"
            )
        except (TypeError, ValueError):
            until = str(why["absent_until"])
        return _("absent until %(date)s") % {"date": until}
    if isinstance(why, dict) and "capacity" in why:
        capacity = why["capacity"]
        # The English says "leads" for one too, as it always has.
        return ngettext(
            "at capacity (%(count)s open leads)", "at capacity (%(count)s open leads)", capacity
        ) % {"count": capacity}
    return str(why)


def _rule_sentence(data: dict, rule: dict) -> str:
    """ "Assigned to Alice de Vries by rule ‘Referrals’ (round-robin; skipped Bob Janssen:
    absent until 4 Dec)", or why the rule left the lead unassigned."""
    skipped = ", ".join(f"{who}: {skip_reason(why)}" for who, why in rule.get("skipped", []))
    words = {"rule": rule.get("name"), "team": rule.get("team"), "skipped": skipped}
    if not data.get("new"):
        if rule.get("team") and not skipped:
            return _("Left unassigned by rule ‘%(rule)s’: %(team)s has no active members") % words
        if rule.get("team"):
            return (
                _(
                    "Left unassigned by rule ‘%(rule)s’: no member of %(team)s was free "
                    "(%(skipped)s)"
                )
                % words
            )
        if skipped:
            return _("Left unassigned by rule ‘%(rule)s’: %(skipped)s") % words
        return _("Left unassigned by rule ‘%(rule)s’: its user cannot take leads") % words
    words["name"] = rule.get("to") or data["new"]
    if "team" not in rule:
        return _("Assigned to %(name)s by rule ‘%(rule)s’") % words
    if skipped:
        return (
            _("Assigned to %(name)s by rule ‘%(rule)s’ (round-robin; skipped %(skipped)s)") % words
        )
    return _("Assigned to %(name)s by rule ‘%(rule)s’ (round-robin)") % words


def _stage_sentence(data: dict) -> str:
    old, new = data.get("old"), data.get("new")
    seconds = data.get("seconds_in_previous")
    if seconds is not None and old:
        sentence = _("Stage: %(old)s → %(new)s, after %(duration)s in %(old)s") % {
            "old": old,
            "new": new,
            "duration": describe_duration(seconds),
        }
    else:
        sentence = _("Stage: %(old)s → %(new)s") % {"old": old, "new": new}
    sentences = [sentence]
    if probability := data.get("probability"):
        sentences.append(
            _("Probability: %(old)s → %(new)s (from the stage)")
            % {
                "old": show_value("probability", probability.get("old")),
                "new": show_value("probability", probability.get("new")),
            }
        )
    if data.get("stage_deleted"):
        sentences.append(_("Moved when the stage %(stage)s was deleted") % {"stage": old})
    if was := data.get("was"):
        sentences.insert(0, _("Reopened; was %(closing)s") % {"closing": _closing_words(old, was)})
    if closing := data.get("closing"):
        sentences.append(_closing_words(new, closing))
    return ". ".join(sentences)


def _closing_words(stage: str, facts: dict) -> str:
    """How a lead closed: "Lost: Price too high, to Acme (“…”)" or "Won for €9,000 on 3
    Nov 2026"."""
    if reason := facts.get("lost_reason"):
        words = {"stage": stage, "reason": reason, "competitor": facts.get("competitor")}
        if words["competitor"]:
            text = _("%(stage)s: %(reason)s, to %(competitor)s") % words
        else:
            text = _("%(stage)s: %(reason)s") % words
        if note := facts.get("lost_note"):
            text += f" ({show_value('description', note)})"
        return text
    words = {
        "stage": stage,
        "value": show_value("won_value", facts.get("won_value")),
        "date": show_value("actual_close_date", facts.get("actual_close_date")),
    }
    if facts.get("won_value") and facts.get("actual_close_date"):
        return _("%(stage)s for %(value)s on %(date)s") % words
    if facts.get("won_value"):
        return _("%(stage)s for %(value)s") % words
    if facts.get("actual_close_date"):
        return _("%(stage)s on %(date)s") % words
    return stage


def _created_sentence(data: dict) -> str:
    """ "Created the lead", or for a website's post "Captured from Contact form (Jane Doe,
    jane@example.com, Acme)"."""
    capture = data.get("capture")
    if not capture:
        return _("Created the lead")
    said = [capture[key] for key in ("name", "email", "phone", "company") if capture.get(key)]
    if said:
        return _("Captured from %(form)s (%(details)s)") % {
            "form": capture.get("form"),
            "details": ", ".join(said),
        }
    return _("Captured from %(form)s") % {"form": capture.get("form")}


def _deleted_sentence(data: dict) -> str:
    words = {"title": data.get("title", ""), "id": data.get("merged_into")}
    if words["id"]:
        return _("Deleted the lead “%(title)s”: merged into #%(id)s") % words
    return _("Deleted the lead “%(title)s”") % words


def _merged_sentence(data: dict) -> str:
    """ "Merged from #123 “Acme renewal” (its 4 events are in this history)"."""
    moved = data.get("events") or 0
    words = {"id": data.get("lead_id"), "title": data.get("title", ""), "count": moved}
    if not moved:
        return _("Merged from #%(id)s “%(title)s”") % words
    return (
        ngettext(
            "Merged from #%(id)s “%(title)s” (its one event is in this history)",
            "Merged from #%(id)s “%(title)s” (its %(count)s events are in this history)",
            moved,
        )
        % words
    )


KINDS: dict[str, Kind] = {
    EventKind.CREATED: Kind(frozenset({"title", "capture"}), _created_sentence),
    EventKind.CHANGED: Kind(frozenset({*CHANGE_KEYS, *BULK_KEYS}), describe_change),
    EventKind.STAGE_CHANGED: Kind(
        frozenset(
            {
                *CHANGE_KEYS,
                *BULK_KEYS,
                "seconds_in_previous",
                "probability",
                "stage_deleted",
                "was",
                "closing",
            }
        ),
        _stage_sentence,
    ),
    EventKind.ASSIGNED: Kind(
        frozenset({*CHANGE_KEYS, *BULK_KEYS, "old_name", "new_name", "rule"}), _assigned_sentence
    ),
    EventKind.NOTE: Kind(frozenset({"text"}), lambda data: _("Added a note")),
    # Three shapes: a lead the import created (import_id, file, row); one it updated
    # (also updated, before, version, changes); one its undo put back (undo_import,
    # file, changes).
    EventKind.IMPORTED: Kind(
        frozenset(
            {"import_id", "file", "row", "updated", "before", "version", "changes", "undo_import"}
        ),
        _imported_sentence,
    ),
    EventKind.DELETED: Kind(
        frozenset({"lead_id", "title", "stage", "undo_import", "merged_into"}),
        _deleted_sentence,
    ),
    EventKind.MERGED: Kind(frozenset({"lead_id", "title", "events"}), _merged_sentence),
}


def describe(event: LeadEvent) -> str:
    """The event as people read it, by its kind's sentence, in the active language."""
    data = event.data if isinstance(event.data, dict) else {}
    kind = KINDS.get(event.kind)
    sentence = kind.sentence(data) if kind else describe_change(data)
    if data.get("undo_bulk"):
        return _("Undid a bulk change: %(change)s") % {"change": sentence}
    return sentence


def tagged(recorded: list[LeadEvent], **tags) -> list[LeadEvent]:
    """The events with ``tags`` (``BULK_KEYS``) added to their data: which bulk change,
    or undo of one, made them."""
    for event in recorded:
        event.data = event.data | tags
    return recorded


# --- constructors: every writer makes its events with these ----------------------------------


def _event(kind: EventKind, lead, data: dict, *, by, at) -> LeadEvent:
    return LeadEvent(lead=lead, actor=by, at=at, kind=kind, data=data)


def created(lead, *, by, at, captured: dict | None = None) -> LeadEvent:
    """The lead was created (by a form, the admin, or a seed command), or captured from
    a website's post (``captured``: the capture form's ``form_id`` and ``form`` name, and
    the ``name``, ``email``, ``phone`` and ``company`` the visitor gave)."""
    data = {"title": lead.title}
    if captured:
        data["capture"] = captured
    return _event(EventKind.CREATED, lead, data, by=by, at=at)


def field_changed(lead, field: str, new, *, by, at) -> LeadEvent:
    """A field is about to change to ``new`` (the lead still holds the old value).

    A new assignee is an "assigned" event; every other field but the stage "changed".
    """
    data = {
        "field": field,
        "old": recorded_value(field, getattr(lead, field)),
        "new": recorded_value(field, new),
    }
    model_field = _lead_field(field)
    if model_field.is_relation:
        data.update(old_id=getattr(lead, model_field.attname), new_id=new.pk if new else None)
    if field == "assignee":  # the sentence names people as the pages do
        for key, user in (("old_name", getattr(lead, field)), ("new_name", new)):
            if user is not None:
                data[key] = user.get_full_name() or user.get_username()
    kind = EventKind.ASSIGNED if field == "assignee" else EventKind.CHANGED
    return _event(kind, lead, data, by=by, at=at)


def assigned_by_rule(lead, assignment, *, by, at) -> LeadEvent:
    """The assignment rules gave an unassigned lead to ``assignment.user``, or left it
    unassigned (everyone skipped): the rule, and who was skipped and why."""
    user = assignment.user
    data = {
        "field": "assignee",
        "old": "",
        "new": recorded_value("assignee", user),
        "old_id": None,
        "new_id": user.pk if user else None,
        "rule": assignment.reason(),
    }
    return _event(EventKind.ASSIGNED, lead, data, by=by, at=at)


def stage_changed(
    lead,
    old,
    new,
    *,
    entered_old: datetime.datetime,
    old_probability: int | None,
    new_probability: int | None,
    by,
    at,
    stage_deleted: bool = False,
    was: dict | None = None,
    closing: dict | None = None,
) -> LeadEvent:
    """The lead moved from stage ``old`` (entered at ``entered_old``) to ``new``.

    A probability that changed with the move (the stage's) is recorded with it; so is
    how the lead closed (``closing``, into a won or lost stage) and how it had closed
    (``was``, leaving one: the lead no longer holds it).
    """
    data = {
        "field": "stage",
        "old": old.name if old else None,
        "new": new.name,
        "old_id": old.pk if old else None,
        "new_id": new.pk,
        "seconds_in_previous": int((at - entered_old).total_seconds()),
    }
    if old_probability != new_probability:
        data["probability"] = {"old": old_probability, "new": new_probability}
    if stage_deleted:
        data["stage_deleted"] = True
    if was:
        data["was"] = was
    if closing:
        data["closing"] = closing
    return _event(EventKind.STAGE_CHANGED, lead, data, by=by, at=at)


def note(lead, text: str, *, by, at) -> LeadEvent:
    """A note: activity that changes no field."""
    return _event(EventKind.NOTE, lead, {"text": text}, by=by, at=at)


def deleted(lead, *, by, at, undoing=None, merged_into=None) -> LeadEvent:
    """The audit record of a deleted lead (kept without it: the title says which), and
    what it was merged into, when a merge deleted it."""
    data = {"lead_id": lead.pk, "title": lead.title, "stage": lead.stage.name}
    if undoing is not None:
        data["undo_import"] = undoing.pk
    if merged_into is not None:
        data["merged_into"] = merged_into.pk
    return _event(EventKind.DELETED, None, data, by=by, at=at)


def merged(lead, other, *, events: int, by, at) -> LeadEvent:
    """``other`` was merged into ``lead``: which lead it was, and how many of its events
    (history and notes) ``lead``'s history holds now."""
    data = {"lead_id": other.pk, "title": other.title, "events": events}
    return _event(EventKind.MERGED, lead, data, by=by, at=at)


def imported(lead, *, lead_import, row: int, by, at) -> LeadEvent:
    """The lead was created from row ``row`` of an import."""
    return _event(EventKind.IMPORTED, lead, _imported_data(lead_import, row), by=by, at=at)


def imported_rows(lead_ids, *, lead_import, rows: list[int], by, at) -> Iterator[tuple]:
    """``imported`` for each new lead of an import batch, as rows of ``COLUMNS``: no model
    instance per lead (a batch holds 10,000)."""
    for lead_id, row in zip(lead_ids, rows, strict=True):
        yield (lead_id, by.pk, at, EventKind.IMPORTED, _imported_data(lead_import, row))


def _imported_data(lead_import, row: int) -> dict:
    return {"import_id": lead_import.pk, "file": lead_import.file_name, "row": row}


def import_updated(
    lead, *, lead_import, row: int, before: dict, changes: list[LeadEvent], by, at
) -> LeadEvent:
    """An import updated the lead: what the fields held ``before`` (undo puts it back),
    the version it left, and the field changes (events from ``field_changed`` and
    ``stage_changed``) as one list."""
    data = _imported_data(lead_import, row) | {
        "updated": True,
        "before": before,
        "version": lead.version,
        "changes": [
            {key: change.data[key] for key in CHANGE_KEYS if key in change.data}
            for change in changes
        ],
    }
    return _event(EventKind.IMPORTED, lead, data, by=by, at=at)


def import_undone(lead, *, lead_import, changes: list[dict], by, at) -> LeadEvent:
    """Undoing an import put the lead's earlier values back (``changes``: as it lists them)."""
    data = {"undo_import": lead_import.pk, "file": lead_import.file_name, "changes": changes}
    return _event(EventKind.IMPORTED, lead, data, by=by, at=at)


# --- reading them back -----------------------------------------------------------------------


def of_import(import_id: int) -> Q:
    """The events an import wrote on its leads (not its undo's)."""
    return Q(kind=EventKind.IMPORTED, data__import_id=import_id)


def updated_by_import(import_id: int) -> Q:
    """The events of the leads an import updated (rather than created)."""
    return of_import(import_id) & Q(data__updated=True)


@dataclass(frozen=True)
class ImportUpdate:
    """What undoing an import's update of a lead needs, read from its event."""

    before: dict  # the fields as they were, to put back
    version: int  # the version the import left: undo refuses a lead changed since
    undo_changes: list[dict]  # the changes the undo makes: each field back, new → old


def import_update(data: dict) -> ImportUpdate:
    """How undo reads an ``import_updated`` event's data."""
    swap = {"old": "new", "new": "old", "old_id": "new_id", "new_id": "old_id"}
    return ImportUpdate(
        before=data["before"],
        version=data["version"],
        undo_changes=[
            {swap.get(key, key): value for key, value in change.items()}
            for change in data.get("changes", [])
        ],
    )
