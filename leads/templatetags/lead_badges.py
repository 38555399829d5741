"""The small pieces a lead shows wherever it is drawn: badges, its client, its due date.

Simple tags rather than template includes, because the list, My Work and the board draw
hundreds of them a page: a tag is a function call, an include a whole template render.
At 25 rows the list spent 21 ms on its rows with includes and 5 ms with these
(docs/PERFORMANCE.md). The markup is built with ``format_html``, which escapes every value
it is given, and the labels are the model's choices.
"""

from django import template
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from crm.web.markup import format_template
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
AGING_BADGE = '<span class="badge badge-aging" title="{title}">{shown}</span>'
AGING_NOTE_BADGE = (
    '<span class="badge badge-aging badge-aging-{level}" title="{title}">{shown}'
    '<span class="visually-hidden"> ({note})</span></span>'
)


def aging_badge_format(level: str | None) -> str:
    """The aging badge's format string for a level, its note in the reader's language
    (our own text: escaped for an element's content, braces kept literal)."""
    notes = {
        "warn": _("getting old"),
        "alert": _("long past the stage's limit"),
    }
    if level not in notes:
        return AGING_BADGE
    note = format_template(notes[level])
    return AGING_NOTE_BADGE.replace("{level}", level).replace("{note}", note)


def badge(looks: str, text: str) -> str:
    """``<span class="badge badge-{looks}">{text}</span>``, both escaped."""
    return format_html('<span class="badge badge-{}">{}</span>', looks, text)


# Pieces without a value from the database, built once.
MUTED_DASH = format_html('<span class="muted">{}</span>', "—")


def in_stage_today() -> str:
    """A lead that entered its stage today: "Today", not "0d in stage"."""
    return format_html(
        '<span class="visually-hidden">{} </span>{}',
        _("In the stage since"),
        pgettext("entered the stage", "Today"),
    )


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
        '<span class="badge badge-rating badge-{}" title="{}">{} {}</span>',
        lead.rating,
        _("Score %(score)s of 100") % {"score": lead.score},
        Rating(lead.rating).label,
        lead.score,
    )


@register.simple_tag
def stage_name(stage) -> str:
    """A stage's name; a won or lost stage as its badge (and its name too, when that says more)."""
    shown = status_badge(stage.kind)
    if not shown:
        return stage.name
    label = PipelineStage.Kind(stage.kind).label
    with translation.override(None):
        english = str(label)
    if stage.name in (str(label), english):  # the badge says it, in the reader's language
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
        return format_html("{} {}", shown, badge("due-today", _("Due today")))
    if overdue:
        text = ngettext("%(count)s day overdue", "%(count)s days overdue", overdue)
        return format_html("{} {}", shown, badge("overdue", text % {"count": overdue}))
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
        shown = in_stage_today()
    elif compact:
        # Translators: days in the stage, abbreviated ("12d"); screen readers hear "in stage".
        short = pgettext("days in stage, abbreviated", "%(days)sd") % {"days": days}
        shown = format_html('{}<span class="visually-hidden"> {}</span>', short, _("in stage"))
    else:
        shown = _("%(days)sd in stage") % {"days": days}
    title = _("In %(stage)s since %(day)s") % {
        "stage": lead.stage.name,
        "day": format_day(lead.stage_entered_at),
    }
    return format_html(aging_badge_format(lead.aging(now)), title=title, shown=shown)


@register.simple_tag
def stale_badge(lead) -> str:
    """ "Stale · N days since last activity" for an open lead past its pipeline's threshold."""
    days = lead.stale_days()
    if days is None:
        return ""
    text = ngettext(
        "Stale · %(count)s day since last activity",
        "Stale · %(count)s days since last activity",
        days,
    )
    return badge("stale", text % {"count": days})


@register.simple_tag
def closing_note(lead) -> str:
    """How a closed lead closed, in a few words: its loss reason and competitor ("Price
    too high · Acme") or its won value ("Won €12,000"); nothing for an open lead.

    Plain text, escaped where it is drawn; the list shows it under the stage.
    """
    if lead.status == PipelineStage.Kind.LOST:
        reason = lead.lost_reason.name if lead.lost_reason_id else _("No reason recorded")
        return " · ".join(part for part in (reason, lead.competitor) if part)
    if lead.status == PipelineStage.Kind.WON and lead.won_value is not None:
        # One line: the spaces do not break.
        won = pgettext("a won lead's value", "Won %(value)s") % {
            "value": format_money(lead.won_value)
        }
        return won.replace(" ", "\N{NO-BREAK SPACE}")
    return ""


@register.simple_tag
def close_date(lead) -> str:
    """The day a closed lead was won or lost, or a dash."""
    day = lead.actual_close_date
    if day is None:
        return MUTED_DASH
    return format_html('<time datetime="{}">{}</time>', day.isoformat(), format_day(day))
