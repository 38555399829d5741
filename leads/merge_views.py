"""Merging two leads (/leads/<pk>/merge/): find the other lead, pick each field's value
side by side, merge.

The lead of the URL is the one that stays; ``?with=<id>`` names the one merged into it,
and deleted. Both must be the user's to change (403 otherwise, on the page as in
``leads_merge``). Whatever the merge refuses is answered on the page with the picks
kept: 422 for values the model's rules refuse, 409 when a lead was changed meanwhile
(the page then shows the leads as they are now), 404 when the other lead was deleted.
"""

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView

from crm.web.htmx import HtmxPartialMixin
from crm.web.params import whole_number

from .filters import search_condition
from .forms import LeadMergeForm
from .models import Lead
from .services import LeadConflict, leads_merge

logger = logging.getLogger(__name__)

#: Leads the search offers at most.
CANDIDATES = 10
SAME_LEAD = gettext_lazy("A lead cannot be merged with itself: choose another lead.")


class LeadMergeView(HtmxPartialMixin, DetailView):
    """/leads/<pk>/merge/: the search for the other lead; with ``?with=<id>``, the two
    leads side by side and a choice for every field where they differ."""

    model = Lead
    template_name = "leads/lead_merge.html"
    partials = {"merge-candidates": "candidates"}
    context_object_name = "lead"

    def get_queryset(self):
        return Lead.objects.for_display()

    def get_object(self, queryset=None):
        lead = super().get_object(queryset)
        if not lead.can_edit(self.request.user):
            raise PermissionDenied(_("You may not merge this lead."))
        return lead

    def other(self, params) -> Lead | None:
        """The lead ``with`` names, if the user may merge it (403) and it exists (None)."""
        other = Lead.objects.for_display().filter(pk=whole_number(params.get("with"))).first()
        if other is not None and other.pk != self.object.pk:
            user = self.request.user
            if not (other.can_edit(user) and other.can_delete(user)):
                raise PermissionDenied(_("You may not merge the other lead."))
        return other

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if "with" not in request.GET:
            return self.render_to_response(self.get_context_data())
        other = self.other(request.GET)
        if other is None:
            return self.gone(request.GET.get("with"))
        if other.pk == self.object.pk:
            return self.render_to_response(self.get_context_data(error=SAME_LEAD), status=422)
        return self.compare(LeadMergeForm(keep=self.object, other=other), other)

    def post(self, request, *args, **kwargs):
        try:
            self.object = self.get_object()
        except Http404:
            raise Http404(_("The lead was deleted meanwhile: nothing was merged.")) from None
        other = self.other(request.POST)
        if other is None:
            return self.gone(request.POST.get("with"))
        if other.pk == self.object.pk:
            return self.render_to_response(self.get_context_data(error=SAME_LEAD), status=422)
        form = LeadMergeForm(request.POST, keep=self.object, other=other)
        if not form.is_valid():
            return self.compare(form, other, status=422)
        try:
            leads_merge(
                keep_id=self.object.pk,
                other_id=other.pk,
                values=form.values(),
                versions=form.versions(),
                by=request.user,
            )
        except LeadConflict:
            return self.changed_meanwhile(form, other)
        except Lead.DoesNotExist:
            return self.gone(other.pk)
        except ValidationError as error:
            return self.refused(form, other, error)
        except DatabaseError:
            logger.exception("Merging lead %s into %s failed", other.pk, self.object.pk)
            form.add_error(
                None, _("The database did not answer: nothing was merged. Try again in a moment.")
            )
            return self.compare(form, other, status=503)
        messages.success(
            request,
            _("Merged “%(title)s” (#%(id)s) into this lead: its history is in this lead's now.")
            % {"title": other.title, "id": other.pk},
        )
        return HttpResponseRedirect(self.object.get_absolute_url())

    def compare(self, form, other, status=200):
        context = self.get_context_data(form=form, other=other, other_events=other.events.count())
        return self.render_to_response(context, status=status)

    def gone(self, other_id):
        """The other lead no longer exists (or was never named): the search again, saying so."""
        pk = whole_number(str(other_id))
        if pk is None:
            error = _("Choose the lead to merge with: search for it below.")
            return self.render_to_response(self.get_context_data(error=error), status=422)
        error = _("The lead #%(id)s no longer exists: nothing was merged.") % {"id": pk}
        return self.render_to_response(self.get_context_data(error=error), status=404)

    def refused(self, form, other, error: ValidationError):
        """The model's rules refused the merged lead: each error by its field's row."""
        for field, errors in error.message_dict.items():
            name = f"pick_{field}"
            form.add_error(name if name in form.fields else None, errors)
        return self.compare(form, other, status=422)

    def changed_meanwhile(self, form, other):
        """Someone saved one of the leads since the page was drawn: the page again with
        the leads as they are now, the user's picks kept where they still apply."""
        keep = Lead.objects.for_display().filter(pk=self.object.pk).first()
        other = Lead.objects.for_display().filter(pk=other.pk).first()
        if keep is None:
            raise Http404(_("The lead was deleted meanwhile: nothing was merged."))
        if other is None:
            return self.gone(form.other.pk)
        self.object = keep
        data = self.request.POST.copy()
        data["keep_version"], data["other_version"] = keep.version, other.version
        fresh = LeadMergeForm(data, keep=keep, other=other)
        fresh.is_valid()
        fresh.add_error(
            None,
            _(
                "One of the leads was changed by someone else since you opened this page. The "
                "values below are as they are now: check your picks and merge again."
            ),
        )
        return self.compare(fresh, other, status=409)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if "form" not in kwargs:
            query = self.request.GET.get("q", "").strip()
            context.update(query=query, candidates=self.candidates(query))
        return context

    def candidates(self, query: str) -> list[Lead]:
        """The leads the user may merge into this one that the search finds (a title,
        description, client or contact; or #id), else the other leads of its client."""
        lead = self.object
        leads = Lead.objects.editable_by(self.request.user).exclude(pk=lead.pk)
        if query:
            condition = search_condition(query)
            if (pk := whole_number(query.removeprefix("#"))) is not None:
                condition |= Q(pk=pk)
            leads = leads.filter(condition)
        elif lead.client_id:
            leads = leads.filter(client_id=lead.client_id)
        else:
            return []
        return list(
            leads.select_related("stage", "client", "assignee").order_by("-updated_at", "-id")[
                :CANDIDATES
            ]
        )
