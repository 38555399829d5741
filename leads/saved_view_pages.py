"""Saved views on the lead list: the views menu, saving the list's filters and sort under
a name, opening a view (saying what of it no longer exists), and managing one's views.

A view is the list's query string as the list reads it: without its place (``PLACE``:
page, cursor, count), without values left empty or saying what the list does unasked
(open leads, the default sort), and without values the list's filters do not accept.
The list's ``view`` parameter says which view it shows (``view=all``: none, not even
the user's default, which ``/leads/`` opens when asked nothing).
"""

import functools

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import ListView, View

from crm.web.filters import PLACE
from crm.web.params import whole_number

from .filters import DEFAULT_SORT, LeadFilter
from .models import Lead, Status
from .saved_views import SavedView

#: The list's parameter naming the view it shows, and its value for none.
VIEW = "view"
ALL_LEADS = "all"
SHARE = "leads.share_savedview"
#: Longer than any query the list's own controls make.
MAX_QUERY = 4000
UNASKED = {"status": Status.OPEN, "sort": DEFAULT_SORT}


def list_query(params: QueryDict) -> QueryDict:
    """The list's filters and sort in ``params``, as a view keeps them (see the module)."""
    query = QueryDict(mutable=True)
    for name, values in sorted(params.lists()):
        if name in PLACE or name == VIEW:
            continue
        values = [value for value in values if value and value != UNASKED.get(name)]
        if values:
            query.setlist(name, values)
    return query


def same_query(first: QueryDict, second: QueryDict) -> bool:
    def items(query):
        return sorted((name, sorted(values)) for name, values in list_query(query).lists())

    return items(first) == items(second)


def accepted(query: QueryDict, request) -> tuple[QueryDict, list[tuple[str, str, str]]]:
    """The values of ``query`` the list's filters accept, and those they refuse as
    (parameter, value, the filter's label): a stage, person or source that no longer
    exists, say."""
    filterset = LeadFilter(query, queryset=Lead.objects.none(), request=request)
    if filterset.is_valid():
        return query, []
    kept, dropped = query.copy(), []
    for name in filterset.form.errors:
        field = filterset.form.fields.get(name)
        if field is None:
            continue
        values = query.getlist(name)
        if not getattr(field.widget, "allow_multiple_selected", False):
            dropped += [(name, value, field.label) for value in values]
            kept.pop(name, None)
            continue
        good = []
        for value in values:
            try:
                field.clean([value])
            except ValidationError:
                dropped.append((name, value, field.label))
            else:
                good.append(value)
        kept.setlist(name, good)
    return list_query(kept), dropped


def value_names(query: QueryDict, request) -> dict[str, str]:
    """How each filter value of ``query`` reads ("stage=12" → "Stage: Proposal"), as
    the list's chips say it."""
    filterset = LeadFilter(query, queryset=Lead.objects.none(), request=request)
    if not filterset.is_valid():
        return {}
    names = {}
    for name, field in filterset.form.fields.items():
        value = filterset.form.cleaned_data.get(name)
        if name not in query or value in (None, "", []) or value is False:
            continue
        for label, item in filterset.filters[name].chips(value, field):
            names[f"{name}={item if item is not None else query.get(name)}"] = label
    return names


def view_url(view: SavedView, query: QueryDict) -> str:
    """The list showing ``view`` with ``query``."""
    query = query.copy()
    query[VIEW] = str(view.pk)
    return f"{reverse('leads:list')}?{query.urlencode()}"


class SavedViewForm(forms.ModelForm):
    """Save the list's filters under a name; share it (who may) and make it one's default."""

    make_default = forms.BooleanField(
        required=False, label=gettext_lazy("Open it when I open Leads")
    )

    class Meta:
        model = SavedView
        fields = ["name", "shared", "query"]
        labels = {"name": gettext_lazy("Name"), "shared": gettext_lazy("Share with everyone")}
        widgets = {"query": forms.HiddenInput}
        error_messages = {"name": {"required": gettext_lazy("Give the view a name.")}}

    def __init__(self, *args, request, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["name"].widget.attrs.update(
            autocomplete="off", placeholder=_("e.g. My hot deals")
        )
        self.fields["shared"].help_text = ""

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError(_("Give the view a name."))
        mine = SavedView.objects.filter(owner=self.request.user, name__iexact=name)
        if mine.exclude(pk=self.instance.pk).exists():
            raise ValidationError(
                _("You have a view called “%(name)s” already: choose another name.")
                % {"name": name}
            )
        return name

    def clean_shared(self):
        shared = self.cleaned_data["shared"]
        # Who may no longer share keeps what they shared (stopping is up to them).
        if shared and not self.instance.shared and not self.request.user.has_perm(SHARE):
            raise ValidationError(_("Only sales managers may share views."))
        return shared

    def clean_query(self):
        text = self.cleaned_data["query"]
        if len(text) > MAX_QUERY:
            # Said at the top of the form (``clean``): the field is hidden.
            return text
        # What the list ignores is not kept (it says so above the list).
        query, _dropped = accepted(list_query(QueryDict(text)), self.request)
        return query.urlencode()

    def clean(self):
        cleaned = super().clean()
        if len(cleaned.get("query", "")) > MAX_QUERY:
            raise ValidationError(_("These filters are too long to save as a view."))
        return cleaned


def lead_list_views(request) -> dict:
    """What the list shows of saved views, each read only where drawn: the menu of the views
    the user may open (with the full page, not with each swap of the results) and the view
    shown (``view`` in the URL; with ``changed``: its filters were changed since)."""

    @functools.cache
    def saved_views():
        return list(
            SavedView.objects.visible_to(request.user)
            .with_default_for(request.user)
            .select_related("owner")
            .order_by("-is_default", "shared", "name", "pk")
        )

    @functools.cache
    def current_view():
        asked = whole_number(request.GET.get(VIEW))
        if asked is None:
            return None
        view = SavedView.objects.visible_to(request.user).filter(pk=asked).first()
        if view is not None:
            view.changed = not same_query(request.GET, QueryDict(view.query))
        return view

    return {
        "saved_views": saved_views,
        "current_view": current_view,
        "view_query": list_query(request.GET).urlencode(),
    }


class SavedViewsMixin:
    """For the lead list: asked nothing, it opens the user's default view; and it draws
    the views bar. Every link to the list unasked then says ``view=all``, so that
    clearing the filters shows every open lead rather than the default again."""

    def get(self, request, *args, **kwargs):
        if not request.GET and not request.htmx:
            default = SavedView.objects.default_for(request.user)
            if default is not None:
                return HttpResponseRedirect(default.get_absolute_url())
        return super().get(request, *args, **kwargs)

    def render_to_response(self, context, **response_kwargs):
        # Here rather than in get_context_data: the list's links are made by then.
        context.update(lead_list_views(self.request))
        unasked = f"?{VIEW}={ALL_LEADS}"
        if context["clear_url"] == "?":
            context["clear_url"] = unasked
        for chip in context["chips"]:
            if chip["remove"] == "?":
                chip["remove"] = unasked
        return super().render_to_response(context, **response_kwargs)


class SavedViewOpenView(View):
    """GET /leads/views/<pk>/: the list with the view's filters; what of them no longer
    exists (a deleted stage, a departed colleague) is left out, and a message says so."""

    def get(self, request, pk):
        view = get_object_or_404(SavedView.objects.visible_to(request.user), pk=pk)
        query, dropped = accepted(QueryDict(view.query), request)
        if dropped:
            gone = [
                view.names.get(f"{name}={value}")
                # Translators: a filter's value as its chip says it: "Stage: Proposal".
                or _("%(label)s: %(value)s") % {"label": label, "value": value}
                for name, value, label in dropped
            ]
            messages.warning(
                request,
                _("The view “%(name)s” opened without what no longer exists: %(gone)s.")
                % {"name": view.name, "gone": _("; ").join(gone)},
            )
        return HttpResponseRedirect(view_url(view, query))


class SavedViewCreateView(View):
    """POST /leads/views/new/: save the list's filters (``query``) as a view.

    Bad input answers 422 with a page holding the form, everything typed kept.
    """

    http_method_names = ["post"]
    template_name = "leads/saved_view_form.html"

    def post(self, request):
        form = SavedViewForm(request.POST, request=request)
        if not form.is_valid():
            return self.invalid(request, form)
        view = form.save(commit=False)
        view.owner = request.user
        view.names = value_names(QueryDict(view.query), request)
        try:
            with transaction.atomic():
                view.save()
                if form.cleaned_data["make_default"]:
                    view.make_default_for(request.user)
        except IntegrityError:  # the same name saved meanwhile, in another tab
            form.add_error("name", _("You have a view by this name already: choose another name."))
            return self.invalid(request, form)
        messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
        return HttpResponseRedirect(view_url(view, QueryDict(view.query)))

    def invalid(self, request, form):
        context = {
            "form": form,
            "list_url": f"{reverse('leads:list')}?{form.data.get('query', '')}",
        }
        return TemplateResponse(request, self.template_name, context, status=422)


class SavedViewListView(ListView):
    """/leads/views/: the views the user may open; their own to update, share or delete,
    any of them to make their default."""

    template_name = "leads/saved_views.html"
    context_object_name = "views"

    def get_queryset(self):
        user = self.request.user
        return (
            SavedView.objects.visible_to(user)
            .with_default_for(user)
            .select_related("owner")
            .order_by("-is_default", "shared", "name", "pk")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_share_views"] = self.request.user.has_perm(SHARE)
        return context


class SavedViewActionView(View):
    """POST /leads/views/<pk>/<action>/: one change to a view (``action``, one of
    ``actions``). Anyone who sees a view may make it their default; only its owner
    changes it (and shares it, if allowed)."""

    http_method_names = ["post"]
    actions = ("default", "undefault", "share", "unshare", "update", "delete")
    anyone = ("default", "undefault")
    action = ""

    def post(self, request, pk):
        view = get_object_or_404(SavedView.objects.visible_to(request.user), pk=pk)
        if self.action not in self.anyone and view.owner_id != request.user.pk:
            raise PermissionDenied(_("Only its owner may change this view."))
        return getattr(self, self.action)(request, view)

    @staticmethod
    def done(request, message):
        messages.success(request, message)
        return HttpResponseRedirect(reverse("leads:saved_views"))

    def default(self, request, view):
        view.make_default_for(request.user)
        return self.done(
            request, _("“%(name)s” now opens when you open Leads.") % {"name": view.name}
        )

    def undefault(self, request, view):
        view.defaults.filter(user=request.user).delete()
        return self.done(request, _("Leads now opens with every open lead."))

    def share(self, request, view):
        if not request.user.has_perm(SHARE):
            raise PermissionDenied(_("Only sales managers may share views."))
        view.shared = True
        view.save(update_fields=["shared", "updated_at"])
        return self.done(request, _("“%(name)s” is shared with everyone.") % {"name": view.name})

    def unshare(self, request, view):
        view.stop_sharing()
        return self.done(request, _("“%(name)s” is yours alone again.") % {"name": view.name})

    def delete(self, request, view):
        view.delete()
        return self.done(request, _("View “%(name)s” deleted.") % {"name": view.name})

    def update(self, request, view):
        """The view takes the list's filters now (``query``), under the same name."""
        data = {"name": view.name, "query": request.POST.get("query", "")}
        if view.shared:
            data["shared"] = "on"
        form = SavedViewForm(data, instance=view, request=request)
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return HttpResponseRedirect(reverse("leads:saved_views"))
        view = form.save(commit=False)
        view.names = value_names(QueryDict(view.query), request)
        view.save()
        messages.success(request, _("View “%(name)s” updated.") % {"name": view.name})
        return HttpResponseRedirect(view_url(view, QueryDict(view.query)))
