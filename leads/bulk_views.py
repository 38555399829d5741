"""Bulk action pages: the list's bulk action, its progress and result, the recent bulk
changes, and their undo."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import DetailView, ListView, View
from django_htmx.http import trigger_client_event

from crm.web.htmx import HtmxPartialMixin, redirect, refuse, toast
from pipelines.models import PipelineStage

from .bulk import (
    BACKGROUND_OVER,
    SelectionError,
    UndoRefused,
    bulk_change_create,
    bulk_change_run,
    bulk_change_undo,
    bulk_selection,
)
from .bulk_forms import BulkActionForm
from .bulk_models import UNDO_WINDOW, BulkChange
from .filters import user_label
from .models import Lead, LossReason, Priority
from .tasks import queue_bulk_change

#: The event the lead list listens for to fetch its rows again.
LEADS_CHANGED = "leadsChanged"
#: The id of the element the closing form is shown in (templates/leads/includes).
CLOSING_DIALOG = "closing-dialog-body"

#: What each action did, for its count of leads, with what it was asked (``%(what)s``:
#: "Lost (Price too high)", "Alice de Vries", "High").
PAST = {
    BulkChange.Action.ASSIGN: lambda n: ngettext(
        "Assigned %(count)s lead to %(what)s", "Assigned %(count)s leads to %(what)s", n
    ),
    BulkChange.Action.RULES: lambda n: ngettext(
        "The assignment rules assigned %(count)s lead",
        "The assignment rules assigned %(count)s leads",
        n,
    ),
    BulkChange.Action.STAGE: lambda n: ngettext(
        "Moved %(count)s lead to %(what)s", "Moved %(count)s leads to %(what)s", n
    ),
    BulkChange.Action.PRIORITY: lambda n: ngettext(
        "Set the priority of %(count)s lead to %(what)s",
        "Set the priority of %(count)s leads to %(what)s",
        n,
    ),
    BulkChange.Action.DELETE: lambda n: ngettext(
        "Deleted %(count)s lead", "Deleted %(count)s leads", n
    ),
}


def names_for(changes) -> dict[tuple[str, int], str]:
    """The names the changes' values point at (stages, loss reasons, people), read in a
    query each: ("stage", 7) → "Proposal"."""
    wanted: dict[str, set[int]] = {"stage": set(), "lost_reason": set(), "assignee": set()}
    for change in changes:
        for key, ids in wanted.items():
            if isinstance(change.values.get(key), int):
                ids.add(change.values[key])
    names = {}
    for key, model in (
        ("stage", PipelineStage),
        ("lost_reason", LossReason),
    ):
        if wanted[key]:
            rows = model.objects.filter(pk__in=wanted[key]).values_list("pk", "name")
            names.update({(key, pk): name for pk, name in rows})
    if wanted["assignee"]:
        for user in get_user_model().objects.filter(pk__in=wanted["assignee"]):
            names[("assignee", user.pk)] = user_label(user)
    return names


def asked(bulk_change: BulkChange, names: dict | None = None) -> str:
    """What the change was asked, as the reader says it ("Lost (Price too high)"), from
    its values; from its description (as its maker read it) where a row is gone."""
    values = bulk_change.values
    if names is None:
        names = names_for([bulk_change])
    if bulk_change.action == BulkChange.Action.PRIORITY:
        priority = values.get("priority")
        return Priority(priority).label if priority in Priority.values else bulk_change.description
    if bulk_change.action == BulkChange.Action.ASSIGN:
        name = names.get(("assignee", values.get("assignee")))
    elif bulk_change.action == BulkChange.Action.STAGE:
        name = names.get(("stage", values.get("stage")))
        if name and values.get("lost_reason") is not None:
            reason = names.get(("lost_reason", values["lost_reason"]))
            name = f"{name} ({reason})" if reason else None
    else:
        return ""
    return name or bulk_change.description


def outcome(bulk_change: BulkChange, names: dict | None = None) -> str:
    """What the change did, as the toast and its page say it: "Moved 48 leads; 2
    skipped: you may not change them"."""
    count = bulk_change.changed
    if (
        bulk_change.action == BulkChange.Action.ASSIGN
        and bulk_change.values.get("assignee") is None
    ):
        said = ngettext("Unassigned %(count)s lead", "Unassigned %(count)s leads", count)
        what = ""
    else:
        said = PAST[bulk_change.action](count)
        what = asked(bulk_change, names)
    clauses = [said % {"count": intcomma(count), "what": what}]
    if skipped := bulk_change.skipped:
        if bulk_change.action == BulkChange.Action.DELETE:
            clause = ngettext(
                "%(count)s skipped: you may not delete them",
                "%(count)s skipped: you may not delete them",
                skipped,
            )
        else:
            clause = ngettext(
                "%(count)s skipped: you may not change them",
                "%(count)s skipped: you may not change them",
                skipped,
            )
        clauses.append(clause % {"count": intcomma(skipped)})
    if unchanged := bulk_change.unchanged:
        if bulk_change.action == BulkChange.Action.RULES:
            clause = ngettext(
                "%(count)s unassigned or matching no rule",
                "%(count)s unassigned or matching no rule",
                unchanged,
            )
        else:
            clause = ngettext("%(count)s as asked already", "%(count)s as asked already", unchanged)
        clauses.append(clause % {"count": intcomma(unchanged)})
    if missing := bulk_change.missing:
        clauses.append(
            ngettext("%(count)s deleted meanwhile", "%(count)s deleted meanwhile", missing)
            % {"count": intcomma(missing)}
        )
    # Translators: the clauses of a bulk change's outcome, joined: "Moved 3 leads; 1 skipped".
    return _("%(clauses)s.") % {"clauses": _("; ").join(clauses)}


def undo_outcome(bulk_change: BulkChange) -> str:
    clauses = [
        ngettext(
            "Undone: %(count)s lead has its earlier values back",
            "Undone: %(count)s leads have their earlier values back",
            bulk_change.restored,
        )
        % {"count": intcomma(bulk_change.restored)}
    ]
    if not_restored := bulk_change.not_restored:
        clauses.append(
            ngettext(
                "%(count)s changed since (or no longer yours to change) kept as they are",
                "%(count)s changed since (or no longer yours to change) kept as they are",
                not_restored,
            )
            % {"count": intcomma(not_restored)}
        )
    return _("%(clauses)s.") % {"clauses": _("; ").join(clauses)}


class BulkApplyView(View):
    """POST /leads/bulk/?<the list's filters>: the bulk action of the list's toolbar.

    The leads ticked on the page, or every lead the filters in the URL match ("select
    all matching"). Up to ``BACKGROUND_OVER`` leads run at once: htmx gets a toast with
    "Undo" and the list refreshes itself (``leadsChanged``); more run in the background,
    on the change's page with a progress bar. A move to a lost stage without a reason
    answers 422 with the closing form (in the closing dialog, or a page of its own).
    """

    http_method_names = ["post"]

    def post(self, request):
        if not request.user.has_perm("leads.change_lead"):
            raise PermissionDenied(_("You may not change leads."))
        form = BulkActionForm(request.POST)
        back = f"{reverse('leads:list')}?{request.GET.urlencode()}"
        if not form.is_valid():
            if form.needs_closing:
                return self.ask_closing(request, form)
            return refuse(request, first_error(form), back=back)
        try:
            ids = bulk_selection(form=form, params=request.GET, request=request)
        except SelectionError as error:
            return refuse(request, str(error), back=back)
        bulk_change = bulk_change_create(form=form, lead_ids=ids, by=request.user)
        if len(ids) > BACKGROUND_OVER:
            queue_bulk_change(bulk_change)
            return redirect(request, bulk_change.get_absolute_url())
        bulk_change = bulk_change_run(bulk_change=bulk_change)
        if not request.htmx:
            return HttpResponseRedirect(bulk_change.get_absolute_url())
        return done_toast(request, bulk_change)

    def ask_closing(self, request, form):
        """The loss reason, asked once for every lead: in the dialog or on a page."""
        in_dialog = bool(request.htmx)
        template = "leads/bulk_close.html" + ("#closing_form" if in_dialog else "")
        # Asked for the first time (from the toolbar), the form is not wrong yet.
        shown = form if "lost_reason" in request.POST else BulkActionForm()
        context = {
            "form": shown,
            "stage": form.cleaned_data["stage"],
            "selected": form.cleaned_data.get("lead") or [],
            "all_matching": form.all_matching,
            "query": request.GET.urlencode(),
            "competitors": Lead.objects.competitors(),
            "back": f"{reverse('leads:list')}?{request.GET.urlencode()}",
        }
        response = TemplateResponse(request, template, context, status=422)
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
        return response


def first_error(form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return _("Check the selection and try again.")


def done_toast(request, bulk_change: BulkChange) -> HttpResponse:
    """For htmx: the outcome as a toast with "Undo" (out of band into #toasts; the rest,
    nothing, into the closing dialog it may come from, which closes); the list fetches
    its rows again."""
    html = render_to_string(
        "leads/includes/bulk_toast.html",
        {
            "bulk_change": bulk_change,
            "message": outcome(bulk_change),
            "can_undo": bulk_change.can_undo(request.user),
            "oob": True,
        },
        request=request,
    )
    response = trigger_client_event(HttpResponse(html), LEADS_CHANGED)
    return trigger_client_event(response, "closeDialog")


def bulk_context(request) -> dict:
    """What the lead list needs to draw its bulk toolbar: for those who may change leads."""
    if not request.user.has_perm("leads.change_lead"):
        return {}
    url, query = reverse("leads:bulk_apply"), request.GET.urlencode()
    return {
        # Its own ids: the filter bar beside it has a stage field too.
        "bulk_form": SimpleLazyObject(lambda: BulkActionForm(auto_id="id_bulk_%s")),
        # The list's filters travel in the URL: "select all matching" reads them there.
        "bulk_url": f"{url}?{query}" if query else url,
    }


class OwnBulkChanges:
    """Each user sees their own bulk changes."""

    def get_queryset(self):
        return BulkChange.objects.filter(created_by=self.request.user).defer("lead_ids")


class BulkChangeDetailView(OwnBulkChanges, HtmxPartialMixin, DetailView):
    """/leads/bulk/<pk>/: a bulk change's progress (polled while it runs), its outcome
    and its undo."""

    template_name = "leads/bulk_change.html"
    context_object_name = "bulk_change"
    partials = {"bulk-progress": "progress"}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        change = self.object
        context.update(
            outcome=outcome(change),
            undo_outcome=undo_outcome(change),
            can_undo=change.can_undo(self.request.user),
        )
        return context


class BulkChangeListView(OwnBulkChanges, ListView):
    """/leads/bulk/: the signed-in user's bulk changes of the undo window, newest first."""

    template_name = "leads/bulk_change_list.html"
    context_object_name = "bulk_changes"
    paginate_by = 50

    def get_queryset(self):
        since = timezone.now() - UNDO_WINDOW
        return super().get_queryset().filter(Q(created_at__gte=since))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        names = names_for(context["bulk_changes"])
        context["rows"] = [
            {
                "change": change,
                "outcome": undo_outcome(change)
                if change.status == BulkChange.Status.UNDONE
                else outcome(change, names),
                "can_undo": change.can_undo(user),
            }
            for change in context["bulk_changes"]
        ]
        return context


class BulkUndoView(OwnBulkChanges, View):
    """POST /leads/bulk/<pk>/undo/: put the old values back (``bulk_change_undo``).

    From the toast (htmx) the toast goes and another says what came back; from a page,
    back to the change's page with a message.
    """

    http_method_names = ["post"]

    def post(self, request, pk):
        bulk_change = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            bulk_change = bulk_change_undo(bulk_change=bulk_change, by=request.user)
        except UndoRefused as refusal:
            return refuse(request, str(refusal), back=bulk_change.get_absolute_url())
        message = undo_outcome(bulk_change)
        if not request.htmx:
            messages.success(request, message)
            # Back where the undo was asked: the recent changes, or the change's page.
            from_list = request.POST.get("from") == "list"
            return HttpResponseRedirect(
                reverse("leads:bulk_list") if from_list else bulk_change.get_absolute_url()
            )
        return toast(trigger_client_event(HttpResponse(""), LEADS_CHANGED), message)
