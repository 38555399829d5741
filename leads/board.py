"""The pipeline board: a column per stage, cards to drag (or move with the keyboard)."""

from urllib.parse import urlsplit

from django.db import connection
from django.db.models import Count, DecimalField, F, Sum
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.generic import TemplateView
from django_htmx.http import trigger_client_event

from crm.web.htmx import HtmxPartialMixin, toast
from crm.web.markup import format_template
from crm.web.params import whole_number
from crm.web.templatetags.crm import initials
from pipelines.models import Pipeline, pipeline_stages

from .filters import LeadFilter
from .models import Lead, LeadTally, priority_rank
from .totals import cached_for_filters

#: The cards a column draws at first, and each "Load more" (which scrolling into view
#: clicks): about three screens of a column, so that a board of five columns draws in
#: well under 50 ms at a million leads (docs/PERFORMANCE.md, issue 18).
CARDS_PER_COLUMN = 20
#: Filters the board offers; the rest of the list's filters do not apply to a board.
BOARD_FILTERS = ("q", "assignee", "priority", "source", "due")
#: The card order within a column; lead_board_order_idx serves it.
CARD_ORDER = (priority_rank.desc(), F("expected_close_date").asc(nulls_last=True), F("id").asc())


def board_filter(params: QueryDict, pipeline: Pipeline, stages, request) -> LeadFilter:
    """The list's filters, limited to the board's, over every stage of one pipeline."""
    data = QueryDict(mutable=True)
    for name in BOARD_FILTERS:
        data.setlist(name, params.getlist(name))
    data["status"] = "all"  # columns show won and lost too
    queryset = Lead.objects.filter(stage_id__in=[stage.pk for stage in stages])
    return LeadFilter(data, queryset=queryset, request=request)


class BoardView(HtmxPartialMixin, TemplateView):
    """/board/ and /pipelines/<pk>/board/: the pipeline's stages side by side."""

    template_name = "leads/board.html"
    partials = {"board": "board"}

    def get_partial_name(self):
        target = (self.request.htmx.target or "") if self.request.htmx else ""
        if target.startswith("cards-"):
            return "column_cards"
        if target.startswith("more-"):
            return "more_cards"
        return super().get_partial_name()

    def get_pipeline(self) -> Pipeline:
        if "pk" in self.kwargs:
            return get_object_or_404(Pipeline, pk=self.kwargs["pk"])
        return Pipeline.objects.default()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        pipeline = self.get_pipeline()
        context.update(board_context(self.request, pipeline, self.request.GET))
        return context


def board_context(request, pipeline: Pipeline, params: QueryDict) -> dict:
    """Columns with their counts, totals and first cards, for the given filters."""
    # The stages the filters read this request anyway, in order (crm.web.memo).
    stages = pipeline_stages(pipeline.pk)
    filterset = board_filter(params, pipeline, stages, request)
    leads = filterset.qs.order_by()
    filters = QueryDict(mutable=True)
    for name in BOARD_FILTERS:
        filters.setlist(name, [v for v in params.getlist(name) if v])
    # Counting and summing a large pipeline is the board's dearest query: from the
    # running totals where they can say (leads.tally), or else cached per filter while
    # no lead is written (leads/totals.py says how that is known).
    tallied = filterset.tally(LeadTally.objects.filter(stage_id__in=[s.pk for s in stages]))
    if tallied is not None:
        stats = {row["stage_id"]: row for row in tallied.grouped("stage_id")}
    else:
        stats = cached_for_filters(
            f"board-stats:{pipeline.pk}",
            filters,
            request.user,
            lambda: column_stats(leads),
            size=lambda rows: sum(row["count"] for row in rows.values()),
        )
    opened = set(params.getlist("open"))
    only = params.get("column", "")
    offset = params.get("offset", "")
    offset = whole_number(offset, default=0)
    days = {}  # a close date's label, formatted once for every card that shares it
    words = card_words()
    columns = []
    for stage in stages:
        row = stats.get(stage.pk, {})
        asked_for = str(stage.pk) in opened or only == str(stage.pk)
        collapsed = not stage.is_open and not asked_for
        columns.append(
            {
                "stage": stage,
                "count": row.get("count", 0),
                "total": row.get("total_value"),
                "weighted": (
                    row["weighted_x100"] / 100 if row.get("weighted_x100") is not None else None
                ),
                "collapsed": collapsed,
                "cards": [],
                "more": False,
                "offset": 0,
                "load": (only == str(stage.pk)) if only else not collapsed,
            }
        )
    start = offset if only else 0
    loaded = [column["stage"] for column in columns if column["load"]]
    cards = first_cards(leads, loaded, start=start, count=CARDS_PER_COLUMN + 1)
    now, today = timezone.now(), timezone.localdate()
    for column in columns:
        if not column["load"]:
            continue
        stage = column["stage"]
        for card in cards[stage.pk]:
            card.stage = stage  # the column's stage object: no query per card
            describe_card(card, request.user, now=now, today=today, days=days, words=words)
        column.update(
            cards=cards[stage.pk][:CARDS_PER_COLUMN],
            more=len(cards[stage.pk]) > CARDS_PER_COLUMN,
            offset=start + CARDS_PER_COLUMN,
        )
    return {
        "pipeline": pipeline,
        "pipelines": Pipeline.objects.all(),
        "columns": columns,
        # The one column a lazy load or "Load more" asks for (its partial needs these).
        "column": (column := next((c for c in columns if str(c["stage"].pk) == only), None)),
        "stage": column["stage"] if column else None,
        "filter": filterset,
        "query": filters.urlencode(),
        "board_url": reverse("leads:board", args=[pipeline.pk]),
        "move_stages": [c["stage"] for c in columns],
        # Card links are built from this, not reversed per card.
        "leads_url": reverse("leads:list"),
        "card_words": words,
    }


def first_cards(leads, stages, *, start: int, count: int) -> dict[int, list[Lead]]:
    """{stage id: its cards in the board's order, ``count`` of them from ``start``}.

    Two queries whatever the number of columns, where the database takes a LIMIT in each
    part of a UNION (PostgreSQL): the ids of each column's cards, a part each, read from
    ``lead_board_order_idx``; then those cards with their client, owner, loss reason and
    rating. A query per column planned, joined and compiled its own (five for a board:
    1–2 ms each at a million leads). Elsewhere a query per column.
    """
    cards = {stage.pk: [] for stage in stages}
    related = ("client", "assignee", "lost_reason")
    if len(stages) > 1 and connection.features.supports_slicing_ordering_in_compound:
        first, *others = (
            leads.filter(stage=stage)
            .order_by(*CARD_ORDER)
            .values_list("pk", flat=True)[start : start + count]
            for stage in stages
        )
        ids = list(first.union(*others, all=True).order_by())
        # Read by id: the filters (a search, say) are not worked out again.
        found = (
            Lead.objects.select_related(*related)
            .with_rating()
            .filter(pk__in=ids)
            .order_by(*CARD_ORDER)
        )
    else:
        wide = leads.select_related(*related).with_rating().order_by(*CARD_ORDER)
        found = [
            card for stage in stages for card in wide.filter(stage=stage)[start : start + count]
        ]
    for card in found:
        if card.stage_id in cards:  # else moved meanwhile to a column not drawn
            cards[card.stage_id].append(card)
    return cards


def column_stats(leads) -> dict:
    """{stage id: count, total value, weighted value ×100} in one grouped query (as
    ``TallyQuerySet.grouped`` says them)."""
    return {
        row["stage_id"]: row
        for row in leads.values("stage_id").annotate(
            count=Count("pk"),
            total_value=Sum("value"),
            # Σ value × probability, divided by 100 once below rather than per row.
            weighted_x100=Sum(
                F("value") * F("probability"),
                output_field=DecimalField(max_digits=22, decimal_places=2),
            ),
        )
    }


def card_words() -> dict:
    """The words every card says, translated once a request rather than once a card: a
    board draws a hundred cards, and {% blocktranslate %} costs some 70 µs each time."""
    return {
        "days": _("%(days)sd"),
        "in_stage": _("in stage"),
        "since": _("In the stage since"),
        "today": _("Today"),
        "alert": _("(long past the stage's limit)"),
        "warn": _("(getting old)"),
        "overdue": _("overdue"),
        "due_today": _("today"),
        "assigned": _("Assigned to %(name)s"),
        # Markup of ours around the title: a format_html template, made once.
        "move": format_template(
            _(
                'Move to<span aria-hidden="true">…</span><span class="visually-hidden"> '
                "another stage: “%(title)s”</span>"
            ),
            markup=True,
            title="title",
        ),
        "quick_title": _("Assign or set the priority"),
        "quick": _("Assign or set the priority of “%(title)s”"),
    }


def describe_card(lead: Lead, user, *, now, today, days: dict, words: dict) -> None:
    """What a card shows, worked out once here: a board draws a hundred cards and more.
    ``days``: close date → its label, shared by the cards of a request; ``words``: the
    cards' translated words (``card_words``)."""
    lead.movable = lead.can_edit(user)
    lead.assignable = lead.can_assign(user)
    lead.stage_days = lead.days_in_stage(now)
    lead.aging_level = lead.aging(now, days=lead.stage_days)
    lead.overdue = lead.days_overdue(today)
    if lead.stage_days:
        lead.days_label = words["days"] % {"days": lead.stage_days}
    if (due := lead.expected_close_date) is not None:
        if due not in days:
            days[due] = date_format(due, "MONTH_DAY_FORMAT")
        lead.due_label = days[due]
    if lead.assignee:
        lead.assignee_name = lead.assignee.get_full_name() or lead.assignee.get_username()
        lead.assignee_initials = initials(lead.assignee)
        lead.assigned_label = words["assigned"] % {"name": lead.assignee_name}
    lead.move_label = format_html(words["move"], title=lead.title)
    lead.quick_label = words["quick"] % {"title": lead.title}


def render_board(request, pipeline: Pipeline):
    """The board region after a move, with the filters of the page the user is on."""
    current = request.htmx.current_url or ""
    params = QueryDict(urlsplit(current).query)
    context = board_context(request, pipeline, params)
    return TemplateResponse(request, "leads/board.html#board", context)


def render_card(request, lead: Lead, message: str):
    """A card after a quick action (assign, priority), to replace it in place, with a
    toast saying what was done; the closing of the quick-actions dialog.

    A lead that no longer meets the filters of the board the user is on (assigned away
    from a board of their own leads, say) leaves it: "boardChanged" asks the page to
    fetch its board region again, so that its columns count what they show.
    """
    card = (
        Lead.objects.select_related("stage__pipeline", "client", "assignee", "lost_reason")
        .with_rating()
        .get(pk=lead.pk)
    )
    now = timezone.now()
    words = card_words()
    describe_card(card, request.user, now=now, today=timezone.localdate(now), days={}, words=words)
    context = {
        "lead": card,
        "stage": card.stage,
        "leads_url": reverse("leads:list"),
        "card_words": words,
    }
    response = trigger_client_event(
        TemplateResponse(request, "leads/board.html#card", context), "closeDialog"
    )
    current = request.htmx.current_url if request.htmx else ""
    params = QueryDict(urlsplit(current or "").query)
    if any(params.getlist(name) for name in BOARD_FILTERS):
        pipeline = card.stage.pipeline
        filterset = board_filter(params, pipeline, list(pipeline.stages.all()), request)
        if not filterset.qs.filter(pk=card.pk).exists():
            response = trigger_client_event(response, "boardChanged")
            message = " ".join([message, _("It no longer matches the board’s filters.")])
    return toast(response, message)
