"""The small pieces a lead shows wherever it is drawn: badges, its client, its due date.

Simple tags rather than template includes, because the list, My Work and the board draw
hundreds of them a page: a tag is a function call, an include a whole template render.
At 25 rows the list spent 21 ms on its rows with includes and 5 ms with these
(docs/PERFORMANCE.md).
"""

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from crm.templatetags.formatting import format_day
from pipelines.models import PipelineStage

register = template.Library()

PRIORITY_LABELS = {"urgent": "Urgent", "high": "High", "low": "Low"}
KIND_LABELS = {PipelineStage.Kind.WON: "Won", PipelineStage.Kind.LOST: "Lost"}
MUTED_DASH = mark_safe('<span class="muted">—</span>')


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@register.simple_tag
def priority_badge(priority) -> str:
    """Urgent, High and Low as badges; Normal says nothing."""
    label = PRIORITY_LABELS.get(priority)
    return format_html('<span class="badge badge-{}">{}</span>', priority, label) if label else ""


@register.simple_tag
def status_badge(kind) -> str:
    """Won or Lost as a badge; an open stage says nothing."""
    label = KIND_LABELS.get(kind)
    return format_html('<span class="badge badge-{}">{}</span>', kind, label) if label else ""


@register.simple_tag
def stage_name(stage) -> str:
    """A stage's name; a won or lost stage as its badge (and its name too, when that says more)."""
    if stage.kind == PipelineStage.Kind.OPEN:
        return stage.name
    if stage.name == KIND_LABELS[stage.kind]:
        return status_badge(stage.kind)
    return format_html("{} {}", stage.name, status_badge(stage.kind))


@register.simple_tag
def client_name(lead) -> str:
    """The lead's client, a badge for a deleted one, or a dash."""
    client = lead.client
    if client is None:
        return MUTED_DASH
    if client.deleted_at is not None:
        return mark_safe('<span class="badge badge-deleted">Deleted client</span>')
    return client.name


@register.simple_tag
def due_date(lead) -> str:
    """The expected close date, with "N days overdue" or "Due today" for open leads."""
    day = lead.expected_close_date
    if day is None:
        return MUTED_DASH
    shown = format_html('<time datetime="{}">{}</time>', day.isoformat(), format_day(day))
    overdue = lead.days_overdue()
    if overdue == 0:
        return format_html('{} <span class="badge badge-due-today">Due today</span>', shown)
    if overdue:
        return format_html(
            '{} <span class="badge badge-overdue">{} overdue</span>', shown, plural(overdue, "day")
        )
    return shown


AGING_NOTES = {
    "alert": mark_safe('<span class="visually-hidden"> (long past the stage\'s limit)</span>'),
    "warn": mark_safe('<span class="visually-hidden"> (getting old)</span>'),
    None: "",
}


@register.simple_tag
def aging_badge(lead, compact=False) -> str:
    """Days in the current stage of an open lead; warning and alert looks from the stage.

    ``compact`` shows only "12d" and leaves "in stage" to screen readers.
    """
    if not lead.is_open:
        return ""
    now = timezone.now()
    level = lead.aging(now)
    in_stage = (
        mark_safe('<span class="visually-hidden"> in stage</span>') if compact else " in stage"
    )
    return format_html(
        '<span class="badge badge-aging{}" title="In {} since {}">{}d{}{}</span>',
        f" badge-aging-{level}" if level else "",
        lead.stage.name,
        format_day(lead.stage_entered_at),
        lead.days_in_stage(now),
        in_stage,
        AGING_NOTES[level],
    )


@register.simple_tag
def stale_badge(lead) -> str:
    """ "Stale · N days since last activity" for an open lead past its pipeline's threshold."""
    days = lead.stale_days()
    if days is None:
        return ""
    return format_html(
        '<span class="badge badge-stale">Stale · {} since last activity</span>',
        plural(days, "day"),
    )
