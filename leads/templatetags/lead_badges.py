"""The small pieces a lead shows wherever it is drawn: badges, its client, its due date.

Simple tags rather than template includes, because the list, My Work and the board draw
hundreds of them a page: a tag is a function call, an include a whole template render.
At 25 rows the list spent 21 ms on its rows with includes and 5 ms with these
(docs/PERFORMANCE.md). The markup is built with ``format_html``, which escapes every value
it is given, and the labels are the model's choices.
"""

from django import template
from django.utils import timezone
from django.utils.html import format_html

from crm.web.templatetags.crm import deleted_placeholder
from crm.web.templatetags.formatting import format_day, format_money
from leads.models import Priority
from leads.scoring import Rating
from pipelines.models import PipelineStage

register = template.Library()

#: Normal is the default, so it goes without a badge.
BADGED_PRIORITIES = frozenset(Priority) - {Priority.NORMAL}
BADGED_KINDS = frozenset({PipelineStage.Kind.WON, PipelineStage.Kind.LOST})

# The aging badge by level: the colour shows it, the hidden note says it to screen readers.
# Whole format strings, so the notes stay our own markup rather than escaped values.
AGING_BADGES = {
    None: '<span class="badge badge-aging" title="{title}">{shown}</span>',
    "warn": (
        '<span class="badge badge-aging badge-aging-warn" title="{title}">{shown}'
        '<span class="visually-hidden"> (getting old)</span></span>'
    ),
    "alert": (
        '<span class="badge badge-aging badge-aging-alert" title="{title}">{shown}'
        '<span class="visually-hidden"> (long past the stage\'s limit)</span></span>'
    ),
}


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def badge(looks: str, text: str) -> str:
    """``<span class="badge badge-{looks}">{text}</span>``, both escaped."""
    return format_html('<span class="badge badge-{}">{}</span>', looks, text)


# Pieces without a value from the database, built once.
MUTED_DASH = format_html('<span class="muted">{}</span>', "—")
DUE_TODAY = badge("due-today", "Due today")
HIDDEN_IN_STAGE = format_html('<span class="visually-hidden">{}</span>', " in stage")
# A lead that entered its stage today: "Today", not "0d in stage".
IN_STAGE_TODAY = format_html('<span class="visually-hidden">{}</span>Today', "In the stage since ")


@register.simple_tag
def priority_badge(priority) -> str:
    """Urgent, High and Low as badges, labelled as the model's choices; Normal says nothing."""
    if priority not in BADGED_PRIORITIES:
        return ""
    priority = Priority(priority)
    return badge(priority.value, priority.label)


@register.simple_tag
def status_badge(kind) -> str:
    """Won or Lost as a badge, labelled as the stage kind's choices; open says nothing."""
    if kind not in BADGED_KINDS:
        return ""
    kind = PipelineStage.Kind(kind)
    return badge(kind.value, kind.label)


@register.simple_tag
def rating_badge(lead) -> str:
    """ "Hot 82", "Warm 55" or "Cold 20": the lead's score and its rating, which the
    query annotated (``LeadQuerySet.with_rating``); nothing for an unscored lead."""
    if lead.rating is None:
        return ""
    return format_html(
        '<span class="badge badge-rating badge-{}" title="Score {} of 100">{} {}</span>',
        lead.rating,
        lead.score,
        Rating(lead.rating).label,
        lead.score,
    )


@register.simple_tag
def stage_name(stage) -> str:
    """A stage's name; a won or lost stage as its badge (and its name too, when that says more)."""
    shown = status_badge(stage.kind)
    if not shown:
        return stage.name
    if stage.name == PipelineStage.Kind(stage.kind).label:
        return shown
    return format_html("{} {}", stage.name, shown)


@register.simple_tag
def client_name(lead) -> str:
    """The lead's client, the placeholder for a deleted one, or a dash."""
    client = lead.client
    if client is None:
        return MUTED_DASH
    if client.deleted_at is not None:
        return deleted_placeholder(client)
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
        return format_html("{} {}", shown, DUE_TODAY)
    if overdue:
        return format_html("{} {}", shown, badge("overdue", f"{plural(overdue, 'day')} overdue"))
    return shown


@register.simple_tag
def aging_badge(lead, compact=False) -> str:
    """Days in the current stage of an open lead; warning and alert looks from the stage.

    ``compact`` shows only "12d" and leaves "in stage" to screen readers; a lead that
    entered its stage today says "Today" either way.
    """
    if not lead.is_open:
        return ""
    now = timezone.now()
    days = lead.days_in_stage(now)
    if not days:
        shown = IN_STAGE_TODAY
    else:
        shown = format_html("{}d{}", days, HIDDEN_IN_STAGE if compact else " in stage")
    return format_html(
        AGING_BADGES[lead.aging(now)],
        title=f"In {lead.stage.name} since {format_day(lead.stage_entered_at)}",
        shown=shown,
    )


@register.simple_tag
def stale_badge(lead) -> str:
    """ "Stale · N days since last activity" for an open lead past its pipeline's threshold."""
    days = lead.stale_days()
    if days is None:
        return ""
    return badge("stale", f"Stale · {plural(days, 'day')} since last activity")


@register.simple_tag
def closing_note(lead) -> str:
    """How a closed lead closed, in a few words: its loss reason and competitor ("Price
    too high · Acme") or its won value ("Won €12,000"); nothing for an open lead.

    Plain text, escaped where it is drawn; the list shows it under the stage.
    """
    if lead.status == PipelineStage.Kind.LOST:
        reason = lead.lost_reason.name if lead.lost_reason_id else "No reason recorded"
        return " · ".join(part for part in (reason, lead.competitor) if part)
    if lead.status == PipelineStage.Kind.WON and lead.won_value is not None:
        return f"Won\N{NO-BREAK SPACE}{format_money(lead.won_value)}"  # one line
    return ""


@register.simple_tag
def close_date(lead) -> str:
    """The day a closed lead was won or lost, or a dash."""
    day = lead.actual_close_date
    if day is None:
        return MUTED_DASH
    return format_html('<time datetime="{}">{}</time>', day.isoformat(), format_day(day))
