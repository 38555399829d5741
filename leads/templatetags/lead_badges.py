"""The small pieces a lead shows wherever it is drawn: badges, its client, its due date.

Simple tags rather than template includes, because the list, My Work and the board draw
hundreds of them a page: a tag is a function call, an include a whole template render.
At 25 rows the list spent 21 ms on its rows with includes and 5 ms with these
(docs/PERFORMANCE.md). For the same reason the markup is put together with f-strings:
every value from the database goes through ``escape``, and the rest is our own.
"""

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from crm.web.templatetags.formatting import format_day
from pipelines.models import PipelineStage

register = template.Library()

PRIORITY_BADGES = {
    priority: mark_safe(f'<span class="badge badge-{priority}">{label}</span>')
    for priority, label in (("urgent", "Urgent"), ("high", "High"), ("low", "Low"))
}
KIND_LABELS = {PipelineStage.Kind.WON: "Won", PipelineStage.Kind.LOST: "Lost"}
STATUS_BADGES = {
    kind: mark_safe(f'<span class="badge badge-{kind}">{label}</span>')
    for kind, label in KIND_LABELS.items()
}
MUTED_DASH = mark_safe('<span class="muted">—</span>')
DELETED_CLIENT = mark_safe('<span class="badge badge-deleted">Deleted client</span>')
DUE_TODAY = '<span class="badge badge-due-today">Due today</span>'
AGING_NOTES = {
    "alert": '<span class="visually-hidden"> (long past the stage\'s limit)</span>',
    "warn": '<span class="visually-hidden"> (getting old)</span>',
    None: "",
}


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@register.simple_tag
def priority_badge(priority) -> str:
    """Urgent, High and Low as badges; Normal says nothing."""
    return PRIORITY_BADGES.get(priority, "")


@register.simple_tag
def status_badge(kind) -> str:
    """Won or Lost as a badge; an open stage says nothing."""
    return STATUS_BADGES.get(kind, "")


@register.simple_tag
def stage_name(stage) -> str:
    """A stage's name; a won or lost stage as its badge (and its name too, when that says more)."""
    if stage.kind == PipelineStage.Kind.OPEN:
        return stage.name
    if stage.name == KIND_LABELS[stage.kind]:
        return STATUS_BADGES[stage.kind]
    return mark_safe(f"{escape(stage.name)} {STATUS_BADGES[stage.kind]}")


@register.simple_tag
def client_name(lead) -> str:
    """The lead's client, a badge for a deleted one, or a dash."""
    client = lead.client
    if client is None:
        return MUTED_DASH
    if client.deleted_at is not None:
        return DELETED_CLIENT
    return client.name


@register.simple_tag
def due_date(lead) -> str:
    """The expected close date, with "N days overdue" or "Due today" for open leads."""
    day = lead.expected_close_date
    if day is None:
        return MUTED_DASH
    shown = f'<time datetime="{day.isoformat()}">{escape(format_day(day))}</time>'
    overdue = lead.days_overdue()
    if overdue == 0:
        return mark_safe(f"{shown} {DUE_TODAY}")
    if overdue:
        badge = f'<span class="badge badge-overdue">{plural(overdue, "day")} overdue</span>'
        return mark_safe(f"{shown} {badge}")
    return mark_safe(shown)


@register.simple_tag
def aging_badge(lead, compact=False) -> str:
    """Days in the current stage of an open lead; warning and alert looks from the stage.

    ``compact`` shows only "12d" and leaves "in stage" to screen readers.
    """
    if not lead.is_open:
        return ""
    now = timezone.now()
    level = lead.aging(now)
    looks = f" badge-aging-{level}" if level else ""
    title = f"In {escape(lead.stage.name)} since {escape(format_day(lead.stage_entered_at))}"
    in_stage = '<span class="visually-hidden"> in stage</span>' if compact else " in stage"
    return mark_safe(
        f'<span class="badge badge-aging{looks}" title="{title}">'
        f"{lead.days_in_stage(now)}d{in_stage}{AGING_NOTES[level]}</span>"
    )


@register.simple_tag
def stale_badge(lead) -> str:
    """ "Stale · N days since last activity" for an open lead past its pipeline's threshold."""
    days = lead.stale_days()
    if days is None:
        return ""
    return mark_safe(
        f'<span class="badge badge-stale">Stale · {plural(days, "day")} since last activity</span>'
    )
