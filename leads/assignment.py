"""Automated assignment: teams with fair turns, and ordered rules that pick an assignee.

A new lead without an assignee is given one by the first active rule whose conditions it
meets (pipeline, sources, category, priorities, value range; every condition left empty
holds). A rule names one user, or a team whose members take turns (round-robin):

- the member whose turn it is is the one whose last lead from the team is the oldest
  (``Membership.last_turn``, a number on the team's count of ``turns``). A member who
  joins has had no turn yet and is next; one who leaves takes nothing with them. No
  pointer goes back to the first member, whatever the team's changes;
- a paused member, an absent one (today within one of their absences) and one at
  capacity (as many open leads as the membership allows) are skipped, each with the
  reason, which the lead's history keeps. If every member is skipped the lead stays
  unassigned, and its history says why;
- the team's row is locked (``select_for_update``) from the moment a turn is read until
  the lead's transaction commits: two leads created at once cannot take the same turn.

The rules run in the lead services (``lead_create``, ``leads_create_bulk`` for the
import, ``leads_assign_by_rules`` for a manager's "Run rules"), so every way in applies
them. A rule without conditions at the end of the list is the fallback: it catches every
lead no rule before it took.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pipelines.models import Pipeline, PipelineStage

PRIORITIES = ("low", "normal", "high", "urgent")
ABSENCE_ENDS_BEFORE_IT_STARTS = gettext_lazy("An absence ends on or after the day it starts.")


def person(user) -> str:
    """A user as the pages name them: the full name, else the username."""
    return user.get_full_name() or user.get_username()


class Team(models.Model):
    """People who share the leads of a rule, each in turn."""

    name = models.CharField(gettext_lazy("name"), max_length=100, unique=True)
    # How many leads the team's rules have handed out; each membership's last turn is a
    # number on this count, so the next member is the one whose last turn is the oldest.
    turns = models.PositiveIntegerField(gettext_lazy("turns"), default=0, editable=False)

    class Meta:
        app_label = "leads"
        ordering = ["name"]
        verbose_name = gettext_lazy("team")
        verbose_name_plural = gettext_lazy("teams")

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A user in a team: paused or not, with a capacity and absences."""

    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=gettext_lazy("team"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=gettext_lazy("user"),
    )
    paused = models.BooleanField(
        gettext_lazy("paused"),
        default=False,
        help_text=gettext_lazy("A paused member gets no leads from the team's rules."),
    )
    capacity = models.PositiveIntegerField(
        gettext_lazy("capacity"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=gettext_lazy(
            "The most open leads this member may hold before the rules skip them. Empty: no limit."
        ),
    )
    # The team's turn count at this member's last lead from it; 0: none yet.
    last_turn = models.PositiveIntegerField(gettext_lazy("last turn"), default=0, editable=False)

    class Meta:
        app_label = "leads"
        ordering = ["team", "user__first_name", "user__username"]
        verbose_name = gettext_lazy("membership")
        verbose_name_plural = gettext_lazy("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user"],
                name="membership_once_per_team",
                violation_error_message=gettext_lazy("This user is already a member of the team."),
            ),
        ]

    def __str__(self):
        return _("%(user)s in %(team)s") % {"user": person(self.user), "team": self.team}

    def absence_on(self, day: datetime.date):
        """The absence that covers this day, if any (from the prefetched absences)."""
        return next((a for a in self.absences.all() if a.starts_on <= day <= a.ends_on), None)


class Absence(models.Model):
    """Days (both included) on which a member gets no leads from the team's rules."""

    membership = models.ForeignKey(
        Membership,
        on_delete=models.CASCADE,
        related_name="absences",
        verbose_name=gettext_lazy("membership"),
    )
    starts_on = models.DateField(gettext_lazy("from"))
    ends_on = models.DateField(gettext_lazy("to"))
    note = models.CharField(
        gettext_lazy("note"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy("Holiday, course, sick …"),
    )

    class Meta:
        app_label = "leads"
        ordering = ["starts_on"]
        verbose_name = gettext_lazy("absence")
        verbose_name_plural = gettext_lazy("absences")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")),
                name="absence_ends_after_it_starts",
                violation_error_message=ABSENCE_ENDS_BEFORE_IT_STARTS,
            ),
        ]

    def __str__(self):
        return _("%(membership)s: absent %(start)s – %(end)s") % {
            "membership": self.membership,
            "start": self.starts_on,
            "end": self.ends_on,
        }

    def clean(self):
        # The check constraint's rule, said under the day that breaks it (a form then
        # skips the constraint, whose error would name no field).
        super().clean()
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": ABSENCE_ENDS_BEFORE_IT_STARTS})


class AssignmentRule(models.Model):
    """Leads that meet these conditions go to a user, or to a team in turn."""

    name = models.CharField(gettext_lazy("name"), max_length=100)
    order = models.PositiveIntegerField(
        gettext_lazy("order"), default=0, help_text=gettext_lazy("Rules are tried lowest first.")
    )
    active = models.BooleanField(gettext_lazy("active"), default=True)
    pipeline = models.ForeignKey(
        Pipeline,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="assignment_rules",
        verbose_name=gettext_lazy("pipeline"),
        help_text=gettext_lazy("Empty: any pipeline."),
    )
    sources = models.ManyToManyField(
        "leads.LeadSource",
        blank=True,
        related_name="assignment_rules",
        verbose_name=gettext_lazy("sources"),
        help_text=gettext_lazy("None chosen: any source."),
    )
    category = models.CharField(
        gettext_lazy("category"),
        max_length=100,
        blank=True,
        help_text=gettext_lazy("Empty: any category. Compared without case."),
    )
    priorities = models.JSONField(
        gettext_lazy("priorities"),
        default=list,
        blank=True,
        help_text=gettext_lazy("None chosen: any priority."),
    )
    value_min = models.DecimalField(
        gettext_lazy("value from (EUR)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    value_max = models.DecimalField(
        gettext_lazy("value up to (EUR)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=gettext_lazy("Both included. A lead without a value meets no value range."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("user"),
        help_text=gettext_lazy("Give the leads to this user …"),
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rules",
        verbose_name=gettext_lazy("team"),
        help_text=gettext_lazy("… or to this team's members in turn (round-robin)."),
    )

    class Meta:
        app_label = "leads"
        ordering = ["order", "id"]
        verbose_name = gettext_lazy("assignment rule")
        verbose_name_plural = gettext_lazy("assignment rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True, team__isnull=False)
                | Q(user__isnull=False, team__isnull=True),
                name="rule_targets_a_user_or_a_team",
                violation_error_message=gettext_lazy("Choose a user or a team, not both."),
            ),
            models.CheckConstraint(
                condition=Q(value_min__isnull=True)
                | Q(value_max__isnull=True)
                | Q(value_max__gte=F("value_min")),
                name="rule_value_range_in_order",
                violation_error_message=gettext_lazy("The value range ends below where it starts."),
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        unknown = set(self.priorities or []) - set(PRIORITIES)
        if unknown:
            raise ValidationError(
                {
                    "priorities": _("Unknown priorities: %(priorities)s.")
                    % {"priorities": ", ".join(sorted(unknown))}
                }
            )

    def matches(self, lead, pipelines: dict[int, int]) -> bool:
        """Whether the lead meets every condition (``pipelines``: stage id → pipeline id)."""
        if self.pipeline_id and pipelines.get(lead.stage_id) != self.pipeline_id:
            return False
        source_ids = {source.pk for source in self.sources.all()}  # prefetched
        if source_ids and lead.source_id not in source_ids:
            return False
        if self.category and (lead.category or "").casefold() != self.category.casefold():
            return False
        if self.priorities and lead.priority not in self.priorities:
            return False
        if self.value_min is not None or self.value_max is not None:
            if lead.value is None:
                return False
            if self.value_min is not None and lead.value < self.value_min:
                return False
            if self.value_max is not None and lead.value > self.value_max:
                return False
        return True


# --- choosing ------------------------------------------------------------------------------


@dataclass
class Assignment:
    """What the rules decided for one lead: the rule, the user (None: nobody was free)
    and the members skipped on the way, each with why."""

    rule: AssignmentRule
    user: object | None
    skipped: list[tuple[str, str | dict]] = field(default_factory=list)

    def reason(self) -> dict:
        """What the lead's "assigned" event keeps of it (``events.assigned_by_rule``)."""
        reason = {"name": self.rule.name, "id": self.rule.pk}
        if self.user is not None:
            reason["to"] = person(self.user)
        if self.rule.team_id:
            reason["team"] = self.rule.team.name
        if self.skipped:
            reason["skipped"] = [[name, why] for name, why in self.skipped]
        return reason


class Assigner:
    """The rules, read once for one transaction: a form's save, an import's batch, a
    manager's "Run rules". Leads it gives out count toward their assignees' capacity at
    once, and a team it takes a turn from stays locked until the transaction ends."""

    def __init__(self, *, today: datetime.date | None = None):
        self.today = today or timezone.localdate()
        self.rules = list(
            AssignmentRule.objects.filter(active=True)
            .select_related("user", "team")
            .prefetch_related("sources")
        )
        self.open_leads: dict[int, int] = {}  # user id → open leads held (where capped)
        self.teams: dict[int, Team] = {}  # locked by this transaction
        self.members: dict[int, list[Membership]] = defaultdict(list)  # per team
        self.turned: set[Membership] = set()  # whose last turn is not written yet

    def assign(self, leads) -> list[Assignment | None]:
        """An assignment for each lead, in order (None where no rule matches). The teams
        the leads need are locked first, in id order, so two batches cannot deadlock;
        the turns taken are written once, at the end."""
        rules = [self._rule_for(lead) for lead in leads]
        self._lock({rule.team_id for rule in rules if rule and rule.team_id})
        assignments = [self._choose(rule) if rule else None for rule in rules]
        self._save_turns()
        return assignments

    def _rule_for(self, lead) -> AssignmentRule | None:
        return next((rule for rule in self.rules if rule.matches(lead, self.pipelines)), None)

    @cached_property
    def pipelines(self) -> dict[int, int]:
        """Stage id → pipeline id: read once, and only when a rule names a pipeline."""
        if not any(rule.pipeline_id for rule in self.rules):
            return {}
        return dict(PipelineStage.objects.values_list("pk", "pipeline_id"))

    def _lock(self, team_ids: set[int]) -> None:
        """Lock these teams' rows and read their members (the turns are now this
        transaction's to take)."""
        wanted = sorted(team_ids - set(self.teams))
        if not wanted:
            return
        locked = Team.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
        self.teams.update({team.pk: team for team in locked})
        members = (
            Membership.objects.filter(team_id__in=wanted, user__is_active=True)
            .select_related("user")
            .prefetch_related("absences")
        )
        for member in members:
            self.members[member.team_id].append(member)
        self._count({m.user_id for m in self.members_of(wanted) if m.capacity is not None})

    def members_of(self, team_ids):
        return [member for pk in team_ids for member in self.members[pk]]

    def _choose(self, rule: AssignmentRule) -> Assignment:
        if rule.user_id:
            if not rule.user.is_active:
                return Assignment(rule, None, [(person(rule.user), "deactivated")])
            self._took(rule.user_id)
            return Assignment(rule, rule.user)
        return self._take_turn(rule, self.teams[rule.team_id])

    def _take_turn(self, rule: AssignmentRule, team: Team) -> Assignment:
        skipped = []
        for member in sorted(self.members[team.pk], key=lambda m: (m.last_turn, m.pk)):
            if why := self._unavailable(member):
                skipped.append((person(member.user), why))
                continue
            team.turns += 1
            member.last_turn = team.turns
            self.turned.add(member)
            self._took(member.user_id)
            return Assignment(rule, member.user, skipped)
        return Assignment(rule, None, skipped)

    def _took(self, user_id: int) -> None:
        if user_id in self.open_leads:
            self.open_leads[user_id] += 1

    def _save_turns(self) -> None:
        if not self.turned:
            return
        for team_id in {member.team_id for member in self.turned}:
            Team.objects.filter(pk=team_id).update(turns=self.teams[team_id].turns)
        Membership.objects.bulk_update(list(self.turned), ["last_turn"])
        self.turned.clear()

    def _unavailable(self, member: Membership) -> str | dict:
        """Why the member is skipped, or "" when they can take the lead: a word or the
        facts, which the lead's history says in its reader's language
        (``events.skip_reason``)."""
        if member.paused:
            return "paused"
        if absence := member.absence_on(self.today):
            return {"absent_until": absence.ends_on.isoformat()}
        if member.capacity is not None and self.open_leads[member.user_id] >= member.capacity:
            return {"capacity": member.capacity}
        return ""

    def _count(self, user_ids: set[int]) -> None:
        """Read the open leads of the users not counted yet in this transaction."""
        wanted = user_ids - set(self.open_leads)
        if wanted:
            counts = count_open_leads(wanted)
            self.open_leads.update({pk: counts.get(pk, 0) for pk in wanted})


def count_open_leads(user_ids: set[int]) -> dict[int, int]:
    """How many leads in open stages each of these users holds (absent: none), in one
    grouped query: what a capacity is measured against, and what the Teams page shows."""
    from .models import Lead  # the lead model imports this module

    if not user_ids:
        return {}
    rows = (
        Lead.objects.open()
        .filter(assignee_id__in=user_ids)
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["assignee_id"]: row["n"] for row in rows}
