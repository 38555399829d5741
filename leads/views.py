"""Lead pages: the list, the detail with its stage tracker, the form, and deletion."""

import datetime
import logging
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection
from django.db.models import Case, CharField, Count, F, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.generic import (
    CreateView,
    DeleteView,
    DetailView,
    ListView,
    TemplateView,
    UpdateView,
    View,
)
from django_htmx.http import retarget, trigger_client_event

from crm.models import Contact
from crm.web.htmx import HtmxPartialMixin, redirect, refuse, toast
from crm.web.listing import sort_columns
from crm.web.params import whole_number
from pipelines.models import PipelineStage, pipeline_stages

from . import scoring
from .assignees import active_users, listed_names
from .board import render_board, render_card
from .bulk_views import bulk_context
from .events import recorded_value, shown_choice
from .export import export_url
from .filters import DEFAULT_SORT, LeadFilter, user_label
from .forms import AssignForm, LeadForm, NoteForm, PriorityForm, StageMoveForm
from .models import (
    EventKind,
    Lead,
    Priority,
    ScoringSettings,
    Status,
    all_sources,
    attach_people,
    attach_references,
    priority_rank,
)
from .paging import LeadPaginator, page_count
from .saved_view_pages import SavedViewsMixin
from .services import (
    LeadConflict,
    lead_add_note,
    lead_assign,
    lead_create,
    lead_delete,
    lead_move_stage,
    lead_update,
    leads_assign_by_rules,
)
from .totals import deferred_totals, list_totals

logger = logging.getLogger(__name__)

SAVE_FAILED = gettext_lazy(
    "We could not save the lead: the database did not answer. "
    "Your input is kept; please try again in a moment."
)


PAGE_SIZES = (25, 50, 100)


def page_size(params: QueryDict) -> int:
    """The list's page size the parameters ask for, if one it offers; else 25."""
    per_page = whole_number(params.get("per_page", ""))
    return per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]


class LeadListView(SavedViewsMixin, HtmxPartialMixin, ListView):
    """/leads/: search, filter, sort and page through leads; totals for the filtered set."""

    model = Lead
    template_name = "leads/lead_list.html"
    partials = {"lead-results": "results", "lead-list": "list"}
    page_sizes = PAGE_SIZES

    def get_paginate_by(self, queryset):
        return page_size(self.request.GET)

    def get_queryset(self):
        # The rows come from ``for_list_rows`` by id (LeadPaginator): nothing joined here.
        self.filterset = LeadFilter(
            self.request.GET, queryset=Lead.objects.all(), request=self.request
        )
        return self.filterset.qs

    def paginate_queryset(self, queryset, page_size):
        params = totals_params(self.request, self.filterset)
        if self.request.GET.get("count"):  # asked by a browser without JavaScript
            self.totals = deferred_totals(queryset, params=params, user=self.request.user)
        else:
            self.totals = list_totals(
                queryset, params=params, user=self.request.user, tally=self.filterset.tally()
            )
        paginator = LeadPaginator(
            self.filterset.for_pages(queryset),
            page_size,
            count=None if self.totals is None else self.totals["count"],
            rows=Lead.objects.for_list_rows().with_rating(),
        )
        page = paginator.get_page(
            self.request.GET.get("page"),
            after=self.request.GET.get("after", ""),
            before=self.request.GET.get("before", ""),
        )
        attach_references(page.object_list)  # stages and sources this request reads anyway
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        chips = self.filterset.chips(self.request.GET)
        sort = self.filterset.current_sort
        keep = QueryDict(mutable=True)
        if sort != DEFAULT_SORT:
            keep["sort"] = sort
        if "per_page" in self.request.GET:
            keep["per_page"] = self.get_paginate_by(None)
        # A close date says nothing of open leads, an age in stage nothing of closed ones:
        # each column shows where leads it speaks of can be.
        status = self.filterset.form.cleaned_data.get("status")
        show_closed = status != Status.OPEN
        show_open = status not in (Status.WON, Status.LOST)
        hidden = (set() if show_closed else CLOSED_COLUMNS) | (set() if show_open else OPEN_COLUMNS)
        columns = [column for column in LIST_COLUMNS if column[0] not in hidden]
        context.update(
            filter=self.filterset,
            totals=self.totals,
            chips=chips,
            sort=sort,
            columns=sort_columns(columns, sort),
            show_closed=show_closed,
            show_open=show_open,
            page_sizes=self.page_sizes,
            per_page=self.get_paginate_by(None),
            clear_url=f"?{keep.urlencode()}" if keep else "?",
            any_leads=bool(context["page_obj"].object_list) or Lead.objects.exists(),
            totals_url=f"{reverse('leads:list_totals')}?{self.request.GET.urlencode()}",
            export_url=export_url(self.request.GET),
            # A manager looking at unassigned leads can hand them out by the rules.
            run_rules=self.filterset.form.cleaned_data.get("assignee") == "none"
            and self.request.user.has_perm("leads.assign_lead"),
            # Row links are built from this, not reversed once per row.
            leads_url=reverse("leads:list"),
            **bulk_context(self.request),
        )
        return context


def totals_params(request, filterset: LeadFilter) -> QueryDict:
    """The parameters the list's totals are cached under: the request's, and the rating
    thresholds when a rating filters (which leads are hot moves with them, and a change
    of them records no lead event)."""
    params = request.GET
    if params.get("rating"):
        bands = filterset.scoring
        params = params.copy()
        params["bands"] = f"{bands.hot_above}:{bands.cold_below}"
    return params


class LeadListTotalsView(View):
    """/leads/totals/: the list's count and totals for its filters (the same parameters),
    which the list page asks for after showing its rows when counting would hold them up.

    Counted within ``COUNT_BUDGET_MS``; past it, the planner's estimate, said as "about".
    Returns the summary line, and the page position ("Page 3 of 120") out of band.
    """

    def get(self, request):
        filterset = LeadFilter(request.GET, queryset=Lead.objects.all(), request=request)
        totals = deferred_totals(
            filterset.qs, params=totals_params(request, filterset), user=request.user
        )
        per_page = page_size(request.GET)
        pages = page_count(totals["count"], per_page)
        number = min(whole_number(request.GET.get("page", ""), default=1, minimum=1), pages)
        start = (number - 1) * per_page + 1
        context = {
            "totals": totals,
            "start": start,
            "end": min(start + per_page - 1, totals["count"]),
            "number": number,
            "pages": pages,
        }
        return TemplateResponse(request, "leads/lead_list.html#totals", context)


class CompetitorOptionsView(View):
    """/leads/competitors/: the competitors named on lost leads, as the options of the
    list's competitor filter. The list asks for them when that field is first focused:
    counting them reads every lost lead's competitor (14 ms at a million leads), which
    every list page would otherwise pay for a field inside "More filters"."""

    def get(self, request):
        context = {"competitors": Lead.objects.competitors()}
        return TemplateResponse(request, "leads/lead_list.html#competitor-options", context)


#: (sort key, heading, numeric, first direction) for each column of the list.
LIST_COLUMNS = [
    ("title", gettext_lazy("Title"), False, ""),
    ("client", gettext_lazy("Client"), False, ""),
    ("stage", gettext_lazy("Stage"), False, ""),
    ("value", gettext_lazy("Value"), True, "-"),
    # Translators: column heading, short for "probability".
    ("probability", gettext_lazy("Prob."), True, "-"),
    ("priority", gettext_lazy("Priority"), False, "-"),
    ("score", gettext_lazy("Score"), True, "-"),
    ("source", gettext_lazy("Source"), False, ""),
    ("assignee", gettext_lazy("Assignee"), False, ""),
    # Translators: column heading, the expected close date.
    ("expected_close_date", gettext_lazy("Due"), False, ""),
    # Translators: column heading, the actual close date.
    ("actual_close_date", gettext_lazy("Closed"), False, "-"),
    ("age", gettext_lazy("Age"), True, "-"),
    ("updated_at", gettext_lazy("Updated"), False, "-"),
]
#: Columns shown only when the list may hold won or lost leads; and only open ones.
CLOSED_COLUMNS = frozenset({"actual_close_date"})
OPEN_COLUMNS = frozenset({"age"})


def tracker_steps(lead: Lead, stages) -> list[dict]:
    """Each stage of the lead's pipeline marked completed, current or future."""
    current = lead.stage
    steps = []
    for stage in stages:
        if stage.pk == current.pk:
            state = "current"
        elif stage.is_open and (not current.is_open or stage.order < current.order):
            # A won or lost lead went through every open stage.
            state = "completed"
        else:
            state = "future"
        steps.append({"stage": stage, "state": state})
    return steps


def next_stage(lead: Lead, stages) -> PipelineStage | None:
    """Where an open lead goes next: the next open stage, or after the last one the first
    won stage. None for a closed lead."""
    if not lead.is_open:
        return None
    later = [stage for stage in stages if stage.order > lead.stage.order]
    return next((stage for stage in later if stage.is_open), None) or next(
        (stage for stage in stages if stage.kind == PipelineStage.Kind.WON), None
    )


class LeadDetailView(HtmxPartialMixin, DetailView):
    """/leads/<pk>/: the info grid, the stage tracker, the client and contact, the timeline."""

    model = Lead
    template_name = "leads/lead_detail.html"
    partials = {
        "lead-stage": "stage",
        "lead-timeline": "timeline",
        "timeline-more": "timeline_items",
    }
    events_per_page = 20
    note_form = None

    def get_queryset(self):
        return Lead.objects.for_page()

    def get_object(self, queryset=None):
        lead = super().get_object(queryset)
        attach_references([lead])
        attach_people([lead])
        return lead

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        lead, user = self.object, self.request.user
        stages = pipeline_stages(lead.stage.pipeline_id)
        context.update(
            steps=tracker_steps(lead, stages),
            next_stage=next_stage(lead, stages),
            aged=lead.aged_weighting(ScoringSettings.current()),
            can_edit=lead.can_edit(user),
            can_delete=lead.can_delete(user),
            can_assign=lead.can_assign(user),
            days_overdue=lead.days_overdue(),
            # Read only where drawn (the header and the score card), not for the timeline.
            score_card=SimpleLazyObject(lambda: score_card(lead)),
        )
        context.update(self.timeline(lead))
        context["note_form"] = self.note_form or NoteForm()
        if context["can_assign"]:
            context["assignee_names"] = [name for name, _ in listed_names(active_users())]
        return context

    def timeline(self, lead) -> dict:
        """A page of the lead's history, newest first.

        "Load more" (htmx) asks for the next page alone; without htmx, page N shows
        everything up to it, so the plain link works too.
        """
        page = whole_number(self.request.GET.get("events_page"), default=1, minimum=1)
        alone = self.get_partial_name() == "timeline_items"
        start = (page - 1) * self.events_per_page if alone else 0
        end = page * self.events_per_page
        events = list(lead.events.select_related("actor")[start : end + 1])
        return {
            "events": events[: end - start],
            "events_next_page": page + 1 if len(events) > end - start else None,
        }


@dataclass(frozen=True)
class ScoreCard:
    """The detail page's "why this score": each active criterion met or not, the points
    they add up to, and what would raise the score, most points first."""

    lines: list[scoring.Line]
    earned: int  # before the cap of 100

    @property
    def capped(self) -> bool:
        return self.earned > scoring.MAX_SCORE

    @property
    def computed(self) -> int | None:
        """The score by the criteria as they are now (None: no active criteria)."""
        return min(self.earned, scoring.MAX_SCORE) if self.lines else None

    @property
    def raisers(self) -> list[scoring.ScoringCriterion]:
        unmet = [line.criterion for line in self.lines if not line.met]
        return sorted(unmet, key=lambda criterion: -criterion.points)


def score_card(lead: Lead) -> ScoreCard:
    criteria = scoring.active_criteria(all_sources())  # the sources the page has read
    lines = scoring.breakdown(lead, criteria)
    earned = sum(line.criterion.points for line in lines if line.met)
    return ScoreCard(lines=lines, earned=earned)


class DeletedMeanwhileIs404:
    """A lead deleted between loading the page's lead and writing it answers 404."""

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except Lead.DoesNotExist:
            raise Http404(_("The lead was deleted meanwhile.")) from None


class LeadActionView(DeletedMeanwhileIs404, View):
    """A POST that does one thing to a lead from its page or the board (note, move, assign).

    The lead is checked against ``permission`` (a ``Lead.can_*`` method) before ``act``;
    ``done`` answers with the updated detail region and a toast, or a redirect and a
    message for a plain form.
    """

    http_method_names = ["post"]
    permission = "can_edit"
    refusal = ""

    def post(self, request, pk):
        lead = get_object_or_404(Lead.objects.for_display(), pk=pk)
        if not getattr(lead, self.permission)(request.user):
            raise PermissionDenied(self.refusal)
        return self.act(request, lead)

    def act(self, request, lead):
        raise NotImplementedError

    @staticmethod
    def done(request, lead, message, response=None):
        if not request.htmx:
            messages.success(request, message)
            return HttpResponseRedirect(lead.get_absolute_url())
        return toast(response or render_detail_region(request, lead), message)


class LeadNoteView(LeadActionView):
    """POST /leads/<pk>/notes/: add a note to the timeline (not empty, at most 5000)."""

    refusal = gettext_lazy("You may not add notes to this lead.")

    def act(self, request, lead):
        form = NoteForm(request.POST)
        if not form.is_valid():
            if not request.htmx:
                messages.error(request, " ".join(form.errors["text"]))
                return HttpResponseRedirect(lead.get_absolute_url(), status=303)
            return render_detail_region(request, lead, note_form=form, status=422)
        lead_add_note(lead_id=lead.pk, text=form.cleaned_data["text"], by=request.user)
        lead = fresh(lead)
        # The note is activity: the header's stale badge refreshes on "leadChanged".
        region = None
        if request.htmx:
            region = trigger_client_event(render_detail_region(request, lead), "leadChanged")
        return self.done(request, lead, _("Note added."), region)


class LeadMoveStageView(LeadActionView):
    """/leads/<pk>/stage/: move a lead to another stage of its pipeline.

    A won or lost stage asks how the lead closed first: GET ``?stage=<id>`` answers with
    that form (a page, or for htmx the closing dialog's content), and the POST carries
    it. A POST without what the stage needs (a loss reason) answers 422 with the form
    and its errors, moving nothing. ``origin`` says which page the dialog was opened
    on: the board gets its columns back, the detail page its stage region.
    """

    http_method_names = ["get", "post"]
    refusal = gettext_lazy("You may not move this lead.")
    template_name = "leads/lead_close.html"

    def get(self, request, pk):
        lead = get_object_or_404(Lead.objects.for_display(), pk=pk)
        if not lead.can_edit(request.user):
            raise PermissionDenied(self.refusal)
        form = StageMoveForm(initial={"stage": request.GET.get("stage")}, lead=lead)
        stage = self.target(lead, request.GET.get("stage"))
        if stage is None:
            return self.stage_gone(request, lead)
        return self.ask(request, lead, form, stage)

    def act(self, request, lead):
        form = StageMoveForm(request.POST, lead=Lead.objects.for_display().get(pk=lead.pk))
        if not form.is_valid():
            stage = self.target(lead, request.POST.get("stage"))
            if "stage" in form.errors or stage is None:
                return self.stage_gone(request, lead)
            return self.ask(request, lead, form, stage, status=422)
        stage = form.cleaned_data["stage"]
        try:
            lead = fresh(
                lead_move_stage(
                    lead_id=lead.pk, stage=stage, closing=form.closing(), by=request.user
                )
            )
        except ValidationError as error:  # the lead changed meanwhile: its rules, again
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.ask(request, lead, form, stage, status=422)
        except IntegrityError:  # the stage was deleted while the move waited for it
            return self.stage_gone(request, lead)
        message = _("Moved to %(stage)s.") % {"stage": stage.name}
        if request.htmx and self.origin(request) == "board":  # the board: drag or "Move to…"
            response = render_board(request, stage.pipeline)
            message = _("Moved “%(title)s” to %(stage)s.") % {
                "title": lead.title,
                "stage": stage.name,
            }
        elif request.htmx:
            # The move is in the history: the timeline fetches itself again.
            response = trigger_client_event(
                render_detail_region(request, lead, partial="stage"), "timelineChanged"
            )
        else:
            return self.done(request, lead, message)
        if request.htmx.target == CLOSING_DIALOG:
            target = "#board" if self.origin(request) == "board" else "#lead-stage"
            response = trigger_client_event(retarget(response, target), "closeDialog")
        return toast(response, message)

    @staticmethod
    def origin(request) -> str:
        return (
            request.POST.get("origin")
            or request.GET.get("origin")
            or ("board" if request.htmx and request.htmx.target == "board" else "detail")
        )

    @staticmethod
    def target(lead, stage_id) -> PipelineStage | None:
        return PipelineStage.objects.filter(
            pipeline_id=lead.stage.pipeline_id, pk=whole_number(stage_id)
        ).first()

    def ask(self, request, lead, form, stage, status=200):
        """The closing form for ``stage``: in the dialog (htmx) or on a page of its own."""
        context = {
            "lead": lead,
            "form": form,
            "stage": stage,
            "origin": self.origin(request),
            "competitors": Lead.objects.competitors(),
        }
        template = self.template_name
        if request.htmx and request.htmx.target == CLOSING_DIALOG:
            template += "#closing_form"
        response = TemplateResponse(request, template, context, status=status)
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
        return response

    @staticmethod
    def stage_gone(request, lead):
        message = _("Stage no longer exists. Please refresh the page.")
        return refuse(request, message, back=lead.get_absolute_url())


#: The id of the element the closing form is shown in (templates/leads/includes).
CLOSING_DIALOG = "closing-dialog-body"


class LeadFormMixin(HtmxPartialMixin):
    """Shared by create and edit: 422 with every typed value kept, 503 on a DB failure."""

    model = Lead
    form_class = LeadForm
    template_name = "leads/lead_form.html"
    partials = {
        "lead-form": "form",
        "client-choices": "client_choices",
        "field-contact": "contact_field",
        "closing-fields": "closing_fields",
    }

    def post(self, request, *args, **kwargs):
        if "find_client" in request.POST:  # the client search without JavaScript
            self.object = self.get_object() if "pk" in self.kwargs else None
            form = self.get_form()
            return self.render_to_response(self.get_context_data(form=form))  # nothing saved
        return super().post(request, *args, **kwargs)

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        # Choosing a won or lost stage reloads the fields asking how the lead closed.
        form.fields["stage"].widget.attrs.update(
            {
                "hx-get": self.request.path,
                "hx-target": "#closing-fields",
                "hx-trigger": "change",
                "hx-include": "this",
            }
        )
        return form

    def get_initial(self):
        initial = super().get_initial()
        stage = whole_number(self.request.GET.get("stage"))
        if self.request.htmx and stage:  # reloading the closing fields
            initial["stage"] = stage
        if self.request.htmx and "client_q" in self.request.GET:  # searching for a client
            initial["client_q"] = self.request.GET["client_q"]
            if client := whole_number(self.request.GET.get("client")):
                initial["client"] = client
        return initial

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context["form"]
        context["form_warnings"] = form.warnings if hasattr(form, "cleaned_data") else {}
        if form.closing_kind() == "lost":
            context["competitors"] = Lead.objects.competitors()
        return context

    def form_invalid(self, form, status=422):
        return self.render_to_response(self.get_context_data(form=form), status=status)

    def write(self, form, save, saved):
        """``save`` through the lead services, then ``saved(lead)``; whatever they refuse is
        answered on the form with the input kept."""
        try:
            lead = save()
        except LeadConflict as conflict:
            return self.conflict(form, conflict)
        except ValidationError as error:
            return self.refused(form, error)
        except IntegrityError:
            return self.pointed_at_gone(form)
        except DatabaseError:
            return self.save_failed(form)
        return saved(lead)

    def pointed_at_gone(self, form):
        """A stage, client, contact or person chosen in the form was deleted meanwhile."""
        form.add_error(
            None,
            _(
                "Something you chose (a stage, client, contact or person) was deleted meanwhile. "
                "Your input is kept: choose again and save."
            ),
        )
        return self.form_invalid(form)

    def refused(self, form, error: ValidationError):
        """The model's rules, checked again on the lead as it is now, refused the save."""
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
        return self.form_invalid(form)

    def save_failed(self, form):
        logger.exception("Saving a lead failed")
        form.add_error(None, SAVE_FAILED)
        return self.form_invalid(form, status=503)

    def saved(self, lead, message=None):
        messages.success(self.request, message or _("Lead saved."))
        return redirect(self.request, lead.get_absolute_url())


class LeadCreateView(PermissionRequiredMixin, LeadFormMixin, CreateView):
    """/leads/new/ (?client=<id> pre-fills the client)."""

    permission_required = "leads.add_lead"
    raise_exception = True

    def get_initial(self):
        """?client=<id> or ?contact=<id> (which implies its client) pre-fill the form."""
        initial = super().get_initial()
        client = whole_number(self.request.GET.get("client"))
        if contact := whole_number(self.request.GET.get("contact")):
            found = Contact.objects.alive().filter(pk=contact).values_list("client_id", flat=True)
            if found:
                initial.update(contact=contact, client=found[0])
        if client:
            initial["client"] = client
        return initial

    def form_valid(self, form):
        warnings = form.warnings  # before saving: they concern a new lead

        def saved(lead):
            for warning in warnings.values():
                messages.warning(self.request, warning)
            return self.saved(lead)

        return self.write(
            form, lambda: lead_create(lead=form.save(commit=False), by=self.request.user), saved
        )


class LeadObjectMixin:
    """Load a lead the user may change, or answer 404/403."""

    permission = "edit"

    def get_queryset(self):
        return Lead.objects.for_display()

    def get_object(self, queryset=None):
        lead = super().get_object(queryset)
        allowed = lead.can_delete if self.permission == "delete" else lead.can_edit
        if not allowed(self.request.user):
            raise PermissionDenied(
                _("You may not delete this lead.")
                if self.permission == "delete"
                else _("You may not edit this lead.")
            )
        return lead


class LeadUpdateView(DeletedMeanwhileIs404, LeadObjectMixin, LeadFormMixin, UpdateView):
    """/leads/<pk>/edit/: saving over someone else's newer save answers 409."""

    def get_initial(self):
        initial = super().get_initial()
        client = whole_number(self.request.GET.get("client"))
        if self.request.htmx and client:  # reloading the contact choices
            initial["client"] = client
        return initial

    def form_valid(self, form):
        def update():
            return lead_update(
                lead_id=self.object.pk,
                values=form.values(),
                expected_version=form.cleaned_data.get("version"),
                by=self.request.user,
            )

        return self.write(form, update, self.saved)

    def conflict(self, form, conflict: LeadConflict):
        """Show the form again with the user's values, what changed, and the new version.

        The values read as the history records them.
        """
        current = Lead.objects.for_display().get(pk=conflict.lead_id)
        differences = [
            {
                "label": form.fields[name].label,
                "theirs": shown_choice(name, recorded_value(name, getattr(current, name))) or "—",
                "yours": shown_choice(name, recorded_value(name, value)) or "—",
            }
            for name, value in form.values().items()
            if recorded_value(name, getattr(current, name)) != recorded_value(name, value)
        ]
        # The last change to the lead's fields (a note does not change them).
        last_event = current.events.exclude(kind=EventKind.NOTE).select_related("actor").first()
        data = self.request.POST.copy()
        data["version"] = current.version  # saving again now overwrites, knowingly
        new_form = self.get_form_class()(data=data, instance=current)
        new_form.is_valid()
        context = self.get_context_data(
            form=new_form,
            conflict={
                "differences": differences,
                "by": last_event and last_event.actor,
                "at": current.updated_at,
            },
        )
        return self.render_to_response(context, status=409)


class LeadDeleteView(DeletedMeanwhileIs404, LeadObjectMixin, DeleteView):
    """/leads/<pk>/delete/: a confirmation page (GET) and the delete (POST)."""

    permission = "delete"
    template_name = "leads/lead_confirm_delete.html"

    def form_valid(self, form):
        lead = self.object
        try:
            lead_delete(lead_id=lead.pk, by=self.request.user)
        except DatabaseError:
            logger.exception("Deleting lead %s failed", lead.pk)
            message = _("The lead could not be deleted: the database did not answer. Try again.")
            return refuse(self.request, message, back=lead.get_absolute_url(), status=503)
        messages.success(self.request, _("Lead “%(title)s” deleted.") % {"title": lead.title})
        return redirect(self.request, reverse("leads:list"))


class LeadAssignView(LeadActionView):
    """POST /leads/<pk>/assign/: give the lead to the active user the picker names, or nobody.

    A refusal (nobody, or several people, by that name) swaps nothing for htmx, so the
    name typed stays in the picker to be corrected.
    """

    permission = "can_assign"
    refusal = gettext_lazy("You may not assign this lead.")

    def act(self, request, lead):
        if request.POST.get("by_rules"):
            return self.by_rules(request, lead)
        form = AssignForm(request.POST, user=request.user)
        if not form.is_valid():
            return refuse(request, form.errors["assignee"][0], back=lead.get_absolute_url())
        assignee = form.cleaned_data["assignee"]
        lead = fresh(lead_assign(lead_id=lead.pk, assignee=assignee, by=request.user))
        message = (
            _("Assigned to %(user)s.") % {"user": user_label(assignee)}
            if assignee
            else _("The lead is now unassigned.")
        )
        if on_board(request):  # a board has many cards: the toast says which
            message = (
                _("Assigned “%(title)s” to %(user)s.")
                % {"title": lead.title, "user": user_label(assignee)}
                if assignee
                else _("“%(title)s” is now unassigned.") % {"title": lead.title}
            )
        return self.assigned(request, lead, message)

    def by_rules(self, request, lead):
        """ "Assign by the rules" (managers): the rules' answer for this one lead."""
        result = leads_assign_by_rules(lead_ids=[lead.pk], by=request.user)
        lead = fresh(lead)
        if result.assigned:
            message = _("Assigned to %(user)s by the rules.") % {"user": user_label(lead.assignee)}
        elif result.nobody_free:
            message = _("A rule applies, but nobody in its team is free: the history says why.")
        elif lead.assignee:
            message = _("The lead is assigned to %(user)s already.") % {
                "user": user_label(lead.assignee)
            }
        else:
            message = _("No assignment rule applies to this lead.")
        return self.assigned(request, lead, message)

    def assigned(self, request, lead, message):
        if on_board(request):
            return board_done(request, lead, message)
        region = None
        if request.htmx:  # the assignment is in the history: the timeline fetches itself
            region = trigger_client_event(render_detail_region(request, lead), "timelineChanged")
        return self.done(request, lead, message, region)


def on_board(request) -> bool:
    """Whether a quick action came from the board (its card is answered, not the page)."""
    return request.POST.get("origin") == "board"


def board_done(request, lead, message):
    """A quick action done from the board: its card (htmx), or back to the board."""
    if request.htmx:
        return render_card(request, lead, message)
    messages.success(request, message)
    return HttpResponseRedirect(reverse("leads:board", args=[lead.stage.pipeline_id]))


class LeadQuickActionsView(DeletedMeanwhileIs404, DetailView):
    """/leads/<pk>/quick/: a board card's quick actions, assign (to me, to someone, to
    nobody) and set the priority; in the board's dialog with htmx, a page without. Each
    action posts to its own URL (``leads:assign``, ``leads:set_priority``), which answers
    the board with the card updated in place."""

    model = Lead
    template_name = "leads/lead_quick.html"
    context_object_name = "lead"

    def get_queryset(self):
        return Lead.objects.select_related("assignee", "stage__pipeline")

    def get_object(self, queryset=None):
        lead = super().get_object(queryset)
        if not lead.can_assign(self.request.user):
            raise PermissionDenied(_("You may not change this lead."))
        return lead

    def get_template_names(self):
        htmx = self.request.htmx
        if htmx and htmx.target == QUICK_DIALOG:
            return [f"{self.template_name}#quick_form"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        lead, user = self.object, self.request.user
        context.update(
            can_edit=lead.can_edit(user),
            priorities=Priority.choices,
            assignee_names=[name for name, _ in listed_names(active_users())],
            board_url=reverse("leads:board", args=[lead.stage.pipeline_id]),
        )
        return context

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
        return response


#: The id of the element the quick actions are shown in (templates/leads/board.html).
QUICK_DIALOG = "quick-dialog-body"


class LeadPriorityView(LeadActionView):
    """POST /leads/<pk>/priority/: set the lead's priority (a board card's quick action).

    An unknown priority is refused (422, a toast for htmx), changing nothing.
    """

    refusal = gettext_lazy("You may not change this lead.")

    def act(self, request, lead):
        form = PriorityForm(request.POST)
        if not form.is_valid():
            return refuse(request, form.errors["priority"][0], back=lead.get_absolute_url())
        priority = form.cleaned_data["priority"]
        lead = fresh(lead_update(lead_id=lead.pk, values={"priority": priority}, by=request.user))
        message = _("“%(title)s” is %(priority)s priority now.") % {
            "title": lead.title,
            "priority": lead.get_priority_display().lower(),
        }
        if on_board(request):
            return board_done(request, lead, message)
        region = None
        if request.htmx:  # the change is in the history: the timeline fetches itself
            region = trigger_client_event(render_detail_region(request, lead), "timelineChanged")
        return self.done(request, lead, message, region)


class LeadAssignByRulesView(PermissionRequiredMixin, View):
    """POST /leads/assign-by-rules/?<the list's filters>: a manager runs the assignment
    rules on the unassigned leads of the filtered list, at most ``limit`` at a time
    (oldest first), and comes back to the list with what they did."""

    http_method_names = ["post"]
    permission_required = "leads.assign_lead"
    raise_exception = True
    limit = 1_000

    def post(self, request):
        unassigned = Lead.objects.filter(assignee__isnull=True)
        leads = LeadFilter(request.GET, queryset=unassigned, request=request).qs
        ids = list(leads.order_by("pk").values_list("pk", flat=True)[: self.limit])
        result = leads_assign_by_rules(lead_ids=ids, by=request.user)
        assigned = len(result.assigned)
        sentences = [
            ngettext(
                "The assignment rules assigned %(count)s lead.",
                "The assignment rules assigned %(count)s leads.",
                assigned,
            )
            % {"count": intcomma(assigned)}
        ]
        if unmatched := len(result.unmatched):
            sentences.append(
                ngettext("%(count)s matched no rule.", "%(count)s matched no rule.", unmatched)
                % {"count": intcomma(unmatched)}
            )
        if nobody := len(result.nobody_free):
            sentences.append(
                ngettext(
                    "%(count)s matched a rule whose team had nobody free: "
                    "its history says who was skipped and why.",
                    "%(count)s matched a rule whose team had nobody free: "
                    "their history says who was skipped and why.",
                    nobody,
                )
                % {"count": intcomma(nobody)}
            )
        if len(ids) == self.limit:
            sentences.append(
                _("Run them again for the leads after the first %(count)s.")
                % {"count": intcomma(self.limit)}
            )
        message = " ".join(sentences)
        messages.success(request, message)
        return HttpResponseRedirect(f"{reverse('leads:list')}?{request.GET.urlencode()}")


def fresh(lead: Lead) -> Lead:
    """The lead as saved, with everything its page shows: read after a write."""
    return Lead.objects.for_display().get(pk=lead.pk)


def render_detail_region(request, lead, *, note_form=None, status=200, partial=None):
    """The region of the detail page that htmx targeted (or ``partial``), after a write."""
    view = LeadDetailView(request=request, kwargs={"pk": lead.pk}, note_form=note_form)
    if partial:
        view.get_partial_name = lambda: partial
    view.object = lead
    return view.render_to_response(view.get_context_data(object=lead), status=status)


class MyWorkView(HtmxPartialMixin, TemplateView):
    """/my-work/: the signed-in user's open leads, grouped by when they are due.

    Each group shows its most pressing ``group_limit`` leads (priority, then due date; as
    many as a page of the list) and how many it holds; ``?all=1`` shows every lead. A rep
    with 2,000 open leads thus gets the page in a fraction of the time that drawing 2,000
    rows takes (62 ms instead of 850 ms, docs/PERFORMANCE.md).
    """

    template_name = "leads/my_work.html"
    partials = {"my-work": "groups"}
    completed_limit = 100
    group_limit = 25

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        show_completed = self.request.GET.get("completed") == "1"
        show_all = self.request.GET.get("all") == "1"
        today = timezone.localdate()
        mine = Lead.objects.assigned_to(user)
        open_leads = first_of_each_due_group(
            mine.open(), today, limit=None if show_all else self.group_limit
        )
        groups = group_by_due(open_leads)
        if show_completed:
            closed = list(
                mine.select_related("stage__pipeline", "client", "lost_reason")  # a row shows
                .with_rating()
                .exclude(stage__kind=PipelineStage.Kind.OPEN)
                .order_by(F("closed_at").desc(nulls_last=True), "-id")[: self.completed_limit]
            )
            groups.append(
                {
                    "key": "completed",
                    "title": _("Won and lost"),
                    "leads": closed,
                    "total": len(closed),
                }
            )
        context.update(
            groups=[group for group in groups if group["leads"]],
            open_count=sum(group["total"] for group in groups if group["key"] != "completed"),
            show_completed=show_completed,
            show_all=show_all,
            completed_limit=self.completed_limit,
            leads_url=reverse("leads:list"),  # row links: not reversed once per row
        )
        return context


def due_groups(today) -> dict[str, Q]:
    """My Work's due groups, in order: overdue, due this week (through Sunday), upcoming
    and without a date, each as the condition its leads meet."""
    sunday = today + datetime.timedelta(days=6 - today.weekday())
    return {
        "overdue": Q(expected_close_date__lt=today),
        "week": Q(expected_close_date__gte=today, expected_close_date__lte=sunday),
        "upcoming": Q(expected_close_date__gt=sunday),
        "none": Q(expected_close_date__isnull=True),
    }


def due_group(today) -> Case:
    """The due group of a lead as SQL (``due_groups``' conditions, in turn)."""
    return Case(
        *(When(condition, then=Value(key)) for key, condition in due_groups(today).items()),
        output_field=CharField(),
    )


def first_of_each_due_group(queryset, today, *, limit: int | None) -> list[Lead]:
    """The leads in My Work's order, at most ``limit`` of each due group.

    Each lead carries its ``due_group`` and ``due_group_size``, the number of leads in
    that group, so that a group can say how many it holds while showing its first ones.
    Two queries: the narrow rows of the user's open leads are ranked (a rep may have
    thousands), then only the leads shown are read with their stage, pipeline and client.
    Ranking the joined rows sorted 2,000 wide rows to show 82 (24 ms against 5.6 ms,
    docs/PERFORMANCE.md).

    Where the database takes a LIMIT in each part of a UNION (PostgreSQL), each group is a
    part of its own: its first ``limit`` leads by a top-N sort, and its size by a window
    count over the group, both read from ``lead_stage_assignee_idx`` alone. Else one
    window ranks every lead: it sorts all of them, 80,000 leads of one rep in 250–500 ms
    on PostgreSQL, where the parts take 50–120 ms.
    """
    order = (priority_rank.desc(), F("expected_close_date").asc(nulls_last=True), F("id").asc())
    narrow = queryset.order_by()  # the list's order would cost a sort of its own
    if limit and connection.features.supports_slicing_ordering_in_compound:
        first, *others = (
            narrow.filter(condition)
            .annotate(due_group=Value(key), due_group_size=Window(Count("pk")))
            .values("pk", "due_group", "due_group_size")
            .order_by(*order)[:limit]
            for key, condition in due_groups(today).items()
        )
        ranked = first.union(*others, all=True).order_by()
    else:
        ranked = narrow.annotate(
            due_group=due_group(today),
            due_group_size=Window(Count("pk"), partition_by=F("due_group")),
            due_group_place=Window(RowNumber(), partition_by=F("due_group"), order_by=order),
        )
        if limit:
            ranked = ranked.filter(due_group_place__lte=limit)
        ranked = ranked.values("pk", "due_group", "due_group_size")
    places = {row["pk"]: row for row in ranked}
    leads = list(
        Lead.objects.select_related("stage__pipeline", "client")
        .with_rating()
        .filter(pk__in=places)
        .order_by(*order)
    )
    for lead in leads:
        lead.due_group = places[lead.pk]["due_group"]
        lead.due_group_size = places[lead.pk]["due_group_size"]
    return leads


def group_by_due(leads) -> list[dict]:
    """Overdue, due this week (through Sunday), upcoming and without a date, in that order.

    The leads come from ``first_of_each_due_group``, which says each one's group and size.
    """
    groups = {
        "overdue": {"key": "overdue", "title": _("Overdue"), "leads": [], "total": 0},
        "week": {"key": "week", "title": _("Due this week"), "leads": [], "total": 0},
        "upcoming": {"key": "upcoming", "title": _("Upcoming"), "leads": [], "total": 0},
        "none": {"key": "none", "title": _("No due date"), "leads": [], "total": 0},
    }
    for lead in leads:
        group = groups[lead.due_group]
        group["leads"].append(lead)
        group["total"] = lead.due_group_size
    return list(groups.values())
