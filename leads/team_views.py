"""The Teams page (/teams/): each team's members and their workload, for the managers who
pause members and note their absences there.

Every action answers htmx with its team's region (``teams.html#team``) and a toast, and a
plain form with a redirect back to the team; an invalid absence answers 422 with the form,
its errors under their fields and the typed values kept.
"""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import BadRequest, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView, View

from crm.web.htmx import toast

from .assignment import person
from .forms import AbsenceForm
from .models import Absence, Membership, Team
from .teams import (
    PERMISSION,
    absence_add,
    absence_remove,
    describe_absence,
    membership_pause,
    teams_with_workload,
    week_start,
)


class TeamAccessMixin(PermissionRequiredMixin):
    """Managers only (those who may assign any lead); anyone else gets 403."""

    permission_required = PERMISSION
    raise_exception = True


class TeamsView(TeamAccessMixin, TemplateView):
    """/teams/: a table per team of its members: state, open leads against capacity,
    leads assigned this week, absences; with pause, resume and absence actions."""

    template_name = "leads/teams.html"
    #: A team's id: render that team's region alone (after an htmx action).
    only = None
    #: An absence form that failed, shown again in its team's region.
    failed_form = None

    def get_template_names(self):
        return [f"{self.template_name}#team"] if self.only else [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        teams = teams_with_workload(today=today, team_ids=[self.only] if self.only else None)
        failed = self.failed_form
        for team in teams:
            failed_here = failed is not None and failed.team.pk == team.pk
            team.absence_form = failed if failed_here else AbsenceForm(team=team)
        if self.only:
            if not teams:
                raise Http404("The team was deleted meanwhile.")
            context["team"] = teams[0]
        context.update(
            teams=teams,
            today=today,
            week_start=week_start(today),
            # Links are built from this, not reversed once per member.
            leads_url=reverse("leads:list"),
        )
        return context


def render_teams(request, team_id: int, *, failed_form=None, status: int = 200):
    """After an action: the team's region for htmx, else the whole page (a failed form)."""
    view = TeamsView(
        request=request,
        kwargs={},
        only=team_id if request.htmx else None,
        failed_form=failed_form,
    )
    return view.render_to_response(view.get_context_data(), status=status)


class TeamActionView(TeamAccessMixin, View):
    """A POST that changes one member of a team (pause, resume, an absence)."""

    http_method_names = ["post"]

    def done(self, team_id: int, message: str):
        if not self.request.htmx:
            messages.success(self.request, message)
            return HttpResponseRedirect(f"{reverse('leads:teams')}#team-{team_id}")
        return toast(render_teams(self.request, team_id), message)


class MembershipPauseView(TeamActionView):
    """POST /teams/members/<pk>/pause/: ``paused=1`` pauses the member, ``paused=0``
    lets them take leads again."""

    def post(self, request, pk):
        membership = get_object_or_404(Membership.objects.select_related("user", "team"), pk=pk)
        paused = {"1": True, "0": False}.get(request.POST.get("paused", ""))
        if paused is None:
            raise BadRequest("Say paused=1 or paused=0.")
        membership_pause(membership=membership, paused=paused, by=request.user)
        name = person(membership.user)
        names = {"name": name, "team": membership.team.name}
        if paused:
            message = _("%(name)s is paused: %(team)s's rules give them no leads.") % names
        else:
            message = _("%(name)s takes leads from %(team)s's rules again.") % names
        return self.done(membership.team_id, message)


class AbsenceAddView(TeamActionView):
    """POST /teams/<pk>/absences/: an absence of one of the team's members."""

    def post(self, request, pk):
        members = Membership.objects.select_related("user", "team")
        team = get_object_or_404(
            Team.objects.prefetch_related(Prefetch("memberships", members, to_attr="members")),
            pk=pk,
        )
        form = AbsenceForm(request.POST, team=team)
        if form.is_valid():
            try:
                absence = absence_add(absence=form.save(commit=False), by=request.user)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                name = person(absence.membership.user)
                message = _("Absence added: %(name)s, %(days)s.") % {
                    "name": name,
                    "days": describe_absence(absence),
                }
                return self.done(team.pk, message)
        return render_teams(request, team.pk, failed_form=form, status=422)


class AbsenceRemoveView(TeamActionView):
    """POST /teams/absences/<pk>/remove/: take an absence back."""

    def post(self, request, pk):
        absence = get_object_or_404(
            Absence.objects.select_related("membership__user", "membership__team"), pk=pk
        )
        absence_remove(absence=absence, by=request.user)
        name = person(absence.membership.user)
        message = _("Absence removed: %(name)s, %(days)s.") % {
            "name": name,
            "days": describe_absence(absence),
        }
        return self.done(absence.membership.team_id, message)
