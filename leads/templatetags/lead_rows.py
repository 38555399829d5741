"""A lead as a row of the list, a card of the board and an item of My Work, each built by one
``format_html``.

The list draws up to a hundred rows a page and the board a hundred cards; as templates
they cost 0.4 ms a row and about 1 ms a card in Django's template engine, most of it
spent resolving variables and rendering translations again for every row. Built here as
Django's admin builds its changelist's rows (``items_for_result``), with the words of a
page translated once (docs/PERFORMANCE.md). ``format_html`` escapes every value it is
given; the markup and our own translated words are the only text it does not escape.
"""

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils.html import format_html
from django.utils.translation import gettext as _

from crm.web.markup import format_template
from crm.web.templatetags.formatting import format_day, format_money, iso, percent

from .lead_badges import (
    aging_badge,
    client_name,
    close_date,
    closing_note,
    due_date,
    priority_badge,
    rating_badge,
    stage_name,
    stale_badge,
)

register = template.Library()


# --- the lead list's row ---------------------------------------------------------------


def row_markup(*, bulk: bool, closed: bool, open_: bool) -> str:
    """The ``format_html`` template of a lead list's row, with the page's columns and its
    words in the reader's language: made once a page, filled once a row (``lead_row``)."""
    cells = ['<tr class="row-link" data-href="{href}">']
    if bulk:
        cells.append(
            '<td class="cell-check"><input type="checkbox" name="lead" value="{pk}" '
            'form="bulk-form" aria-label="{select}"></td>'
        )
    cells += [
        '<td class="cell-title"><a href="{href}">{title}</a>{stale}</td>',
        f'<td data-label="{format_template(_("Client"))}">{{client}}</td>',
        f'<td data-label="{format_template(_("Stage"))}">{{stage}}{{note}}</td>',
        f'<td class="num" data-label="{format_template(_("Value"))}">{{value}}</td>',
        '<td class="num">{probability}</td>',
        f'<td data-label="{format_template(_("Priority"))}">{{priority}}</td>',
        '<td class="num">{rating}</td>',
        "<td>{source}</td>",
        "<td>{assignee}</td>",
        f'<td class="cell-date" data-label="{format_template(_("Due"))}">{{due}}</td>',
    ]
    if closed:
        cells.append('<td class="cell-date">{closed}</td>')
    if open_:
        cells.append('<td class="num">{aging}</td>')
    cells.append(
        '<td class="cell-date nowrap"><time datetime="{updated_iso}" title="{updated_ago}">'
        "{updated}</time></td></tr>"
    )
    return "".join(cells)


def _sub(text: str) -> str:
    """A second line under a cell's value (a stale note, how a lead closed), if any."""
    return format_html('<div class="cell-sub">{}</div>', text) if text else ""


@register.simple_tag(takes_context=True)
def lead_row(context, lead) -> str:
    """One row of the lead list, built as Django's admin builds its changelist's rows
    (``items_for_result``): one ``format_html``, which escapes every value it is given.

    The page's switches come from the context: ``bulk_form`` (a
    check box to select the row), ``show_closed`` (the close date), ``show_open`` (days
    in the stage).
    """
    page = context.render_context.get(lead_row)
    if page is None:
        closed, open_ = bool(context.get("show_closed")), bool(context.get("show_open"))
        page = context.render_context[lead_row] = {
            "markup": row_markup(bulk=bool(context.get("bulk_form")), closed=closed, open_=open_),
            "closed": closed,
            "open": open_,
            "select": _("Select %(title)s"),
            "not_scored": format_html('<span class="muted" title="{}">—</span>', _("Not scored")),
            "unassigned": format_html('<span class="muted">{}</span>', _("Unassigned")),
        }
    assignee, updated = lead.assignee, lead.updated_at
    if assignee:
        assignee = assignee.get_full_name() or assignee.username
    return format_html(
        page["markup"],
        href=f"{context['leads_url']}{lead.pk}/",
        pk=lead.pk,
        select=page["select"] % {"title": lead.title},
        title=lead.title,
        stale=_sub(stale_badge(lead)),
        client=client_name(lead),
        stage=stage_name(lead.stage),
        note=_sub(closing_note(lead)),
        value=format_money(lead.value),
        probability=percent(lead.probability),
        priority=priority_badge(lead.priority),
        rating=page["not_scored"] if lead.score is None else rating_badge(lead),
        source=(lead.source.label if lead.source else "") or "—",
        assignee=assignee or page["unassigned"],
        due=due_date(lead),
        closed=close_date(lead) if page["closed"] else "",
        aging=aging_badge(lead, compact=True) if page["open"] else "",
        updated_iso=iso(updated),
        updated_ago=naturaltime(updated),
        updated=format_day(updated),
    )


# --- the board's card ------------------------------------------------------------------


@register.simple_tag(takes_context=True)
def board_card(context, lead) -> str:
    """One card of the board, from what ``leads.board.describe_card`` worked out for it and
    the words it translated once (``card_words``), in the column of ``stage``.

    The card's markup is put together from our own pieces as its parts apply, then
    filled once: every value goes through ``format_html``, which escapes it."""
    words, stage = context["card_words"], context["stage"]
    values = {
        "pk": lead.pk,
        "stage": stage.pk,
        "title": lead.title,
        "href": f"{context['leads_url']}{lead.pk}/",
        "value": format_money(lead.value),
        "priority": priority_badge(lead.priority),
        "rating": rating_badge(lead),
    }
    markup = [
        '<li id="card-{pk}" class="board-card',
        " is-urgent" if lead.priority == "urgent" else "",
        '" data-lead="{pk}" data-stage="{stage}" data-title="{title}" data-move-url="{href}stage/"',
        ' draggable="true">' if lead.movable else ">",
        '<a class="board-card-title" href="{href}">{title}</a>',
    ]
    if lead.client:
        markup.append('<span class="board-card-client">{client}</span>')
        values["client"] = client_name(lead)
    markup.append('<div class="board-card-meta"><span class="num">{value}</span>{priority}{rating}')
    if lead.lost_reason_id and lead.lost_reason:
        markup.append('<span class="board-card-reason">{reason}</span>')
        values["reason"] = lead.lost_reason.name
    if stage.is_open:
        level = lead.aging_level
        markup.append(f'<span class="badge badge-aging{f" badge-aging-{level}" if level else ""}">')
        if lead.stage_days:
            markup.append('{days}<span class="visually-hidden"> {in_stage}')
            values.update(days=lead.days_label, in_stage=words["in_stage"])
        else:
            markup.append('<span class="visually-hidden">{since} </span>{today}')
            markup.append('<span class="visually-hidden">')
            values.update(since=words["since"], today=words["today"])
        if level in ("alert", "warn"):
            markup.append(" {level}")
            values["level"] = words[level]
        markup.append("</span></span>")
    markup.append('</div><div class="board-card-foot">')
    if (due := lead.expected_close_date) is not None:
        markup += [
            '<span class="board-due',
            " is-overdue" if lead.overdue else "",
            '"><time datetime="{due_iso}">{due}</time>',
            " · {overdue}" if lead.overdue else " · {due_today}" if lead.overdue == 0 else "",
            "</span>",
        ]
        values.update(
            due_iso=due.isoformat(),
            due=lead.due_label,
            overdue=words["overdue"],
            due_today=words["due_today"],
        )
    if lead.assignee:
        markup.append(
            '<span class="avatar avatar-sm" title="{assignee}"><span aria-hidden="true">'
            '{initials}</span><span class="visually-hidden">{assigned}</span></span>'
        )
        values.update(
            assignee=lead.assignee_name,
            initials=lead.assignee_initials,
            assigned=lead.assigned_label,
        )
    if lead.movable:
        markup.append(
            '<button type="button" class="link-button board-move" data-move '
            'aria-haspopup="dialog">{move}</button>'
        )
        values["move"] = lead.move_label
    markup.append("</div>")
    if lead.assignable:
        markup.append(
            '<a class="board-quick" href="{href}quick/" data-quick hx-get="{href}quick/" '
            'hx-target="#quick-dialog-body" aria-haspopup="dialog" title="{quick_title}" '
            'aria-label="{quick}"><span aria-hidden="true">⋯</span></a>'
        )
        values.update(quick_title=words["quick_title"], quick=lead.quick_label)
    markup.append("</li>")
    return format_html("".join(markup), **values)


# --- My Work's item --------------------------------------------------------------------


@register.simple_tag
def work_item(lead, group: str, leads_url: str) -> str:
    """One lead of a My Work group (``group``: its key, "overdue" … "completed"): what
    the rep needs to act on it, in one line of badges."""
    values = {
        "href": f"{leads_url}{lead.pk}/",
        "title": lead.title,
        "client": client_name(lead),
        "stage": stage_name(lead.stage),
        "pipeline": lead.stage.pipeline.name,
        "priority": priority_badge(lead.priority),
        "rating": rating_badge(lead),
        "value": format_money(lead.value),
        "aging": aging_badge(lead),
        "stale": stale_badge(lead),
    }
    markup = [
        '<li class="work-item is-overdue">' if group == "overdue" else '<li class="work-item">',
        '<div class="work-main"><a class="work-title" href="{href}">{title}</a>'
        '<span class="muted">{client}</span></div>'
        '<div class="work-meta cluster">'
        '<span>{stage} <span class="muted">· {pipeline}</span></span>'
        '{priority}{rating}<span class="num">{value}</span>',
    ]
    if group == "completed":
        # How it closed, as the list says it: the day, and why a lost lead was lost.
        if lead.actual_close_date:
            closed = format_template(_("Closed %(date)s"), date="closed")
            markup.append(f'<span class="cell-date">{closed}</span>')
            values["closed"] = close_date(lead)
        if lead.status == "lost":
            markup.append('<span class="muted">{note}</span>')
            values["note"] = closing_note(lead)
    else:
        markup.append('<span class="cell-date">{due}</span>')
        values["due"] = due_date(lead)
    markup.append("{aging}{stale}</div></li>")
    return format_html("".join(markup), **values)
