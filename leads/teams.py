"""Teams as managers see and steer them: each member's workload, pausing, absences.

What the Teams page (/teams/) reads comes in a fixed number of queries, however many teams
and members there are: the teams, their members, their absences, then the open leads and
this week's assignments of every member at once, counted by the database.

The writes are configuration, like the admin's, not lead writes: they change who the
assignment rules may pick (``leads.assignment``), and each is logged in the admin's
history of the membership (who paused whom, which absence was added or removed).
"""

import datetime

from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Prefetch
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .assignment import Absence, Membership, Team, count_open_leads
from .models import EventKind, LeadEvent

#: Who may see every team's workload and pause members or note their absences.
PERMISSION = "leads.assign_lead"


def week_start(today: datetime.date) -> datetime.datetime:
    """Midnight at the start of this week's Monday, in the site's time zone."""
    monday = today - datetime.timedelta(days=today.weekday())
    return timezone.make_aware(datetime.datetime.combine(monday, datetime.time()))


def teams_with_workload(*, today: datetime.date, team_ids=None) -> list[Team]:
    """The teams (all, or those of ``team_ids``), each with its ``members``.

    Each member carries ``open_leads`` (the leads they hold in open stages),
    ``assigned_this_week`` (leads given to them since Monday, by a rule or a person),
    ``absences`` (prefetched: the current and upcoming ones, the first first), ``absence``
    (the one today falls in, or None) and ``full`` (holding as many open leads as their capacity).
    """
    teams = Team.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.select_related("user").prefetch_related(
                Prefetch("absences", queryset=Absence.objects.filter(ends_on__gte=today))
            ),
            to_attr="members",
        )
    )
    if team_ids is not None:
        teams = teams.filter(pk__in=team_ids)
    teams = list(teams)
    members = [member for team in teams for member in team.members]
    user_ids = {member.user_id for member in members}
    open_leads = count_open_leads(user_ids)
    assigned = count_assigned_since(user_ids, week_start(today))
    for member in members:
        member.open_leads = open_leads.get(member.user_id, 0)
        member.assigned_this_week = assigned.get(member.user_id, 0)
        member.absence = member.absence_on(today)
        member.full = member.capacity is not None and member.open_leads >= member.capacity
    return teams


def count_assigned_since(user_ids: set[int], since: datetime.datetime) -> dict[int, int]:
    """How many leads were assigned to each of these users since then (the "assigned"
    events naming them as the new assignee)."""
    if not user_ids:
        return {}
    rows = (
        LeadEvent.objects.filter(
            kind=EventKind.ASSIGNED, at__gte=since, data__new_id__in=list(user_ids)
        )
        .values("data__new_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {int(row["data__new_id"]): row["n"] for row in rows}


# --- changes ---------------------------------------------------------------------------------


def membership_pause(*, membership: Membership, paused: bool, by) -> Membership:
    """Pause a member (the team's rules skip them) or let them take leads again."""
    _check_permission(by)
    with transaction.atomic():
        # This field alone: the rules may be writing the member's last turn meanwhile.
        Membership.objects.filter(pk=membership.pk).update(paused=paused)
        membership.paused = paused
        _log(
            by,
            membership,
            _("Paused on the Teams page.") if paused else _("Resumed on the Teams page."),
        )
    return membership


def absence_add(*, absence: Absence, by) -> Absence:
    """Note days on which a member takes no leads from the team's rules."""
    _check_permission(by)
    absence.full_clean()
    with transaction.atomic():
        absence.save()
        _log(
            by,
            absence.membership,
            _("Added the absence %(days)s on the Teams page.")
            % {"days": describe_absence(absence)},
        )
    return absence


def absence_remove(*, absence: Absence, by) -> None:
    """Take an absence back: the member takes leads on its days again."""
    _check_permission(by)
    with transaction.atomic():
        absence.delete()
        _log(
            by,
            absence.membership,
            _("Removed the absence %(days)s on the Teams page.")
            % {"days": describe_absence(absence)},
        )


def describe_absence(absence: Absence) -> str:
    """ "4 Dec 2026 – 8 Dec 2026 (Holiday)", or "4 Dec 2026" for one day."""
    days = date_format(absence.starts_on)
    if absence.ends_on != absence.starts_on:
        days += f" – {date_format(absence.ends_on)}"
    return f"{days} ({absence.note})" if absence.note else days


def _check_permission(by) -> None:
    if not by.has_perm(PERMISSION):
        raise PermissionDenied("You may not change teams.")


def _log(by, membership: Membership, message: str) -> None:
    """The membership's admin history: "Paused on the Teams page."; written in the
    language of the manager who acted, as the admin shows a message as it was saved."""
    LogEntry.objects.log_actions(
        user_id=by.pk,
        queryset=[membership],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )
