"""Lead scoring: admin-managed criteria, each kind defined once, and the 0–100 score.

A score is the sum of the points of the active criteria a lead meets, capped at 100, and
a rating (hot, warm, cold) by the admin's thresholds. Each kind of criterion says, in one
place (``KINDS``):

- whether a lead meets it (``met``: a lead in memory, for the services' writes and the
  detail page's "why this score"), and the same as SQL (``condition``: a ``Q`` for
  recomputing a million leads in the database); a test holds the two to agreement;
- how it reads ("+20 value above €10,000") and what would meet it ("Enter a value above
  €10,000: +20");
- whether the date alone can change it (``dated``: the daily refresh).

The score is stored with the lead (``LeadScore``, a narrow row of its own, indexed) by
the lead services in the same transaction as any write; a change of criteria recomputes
every lead in the background (``leads.tasks.recompute_scores``).
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.db.models import Case, IntegerField, Q, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Least
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from crm.web.bulk import bulk_insert
from crm.web.templatetags.formatting import format_money

PRIORITY_LABELS = {
    "low": pgettext_lazy("priority, in a sentence", "low"),
    "normal": pgettext_lazy("priority, in a sentence", "normal"),
    "high": pgettext_lazy("priority, in a sentence", "high"),
    "urgent": pgettext_lazy("priority, in a sentence", "urgent"),
}


class CriterionKind(models.TextChoices):
    VALUE_PRESENT = "value_present", gettext_lazy("Value present")
    VALUE_ABOVE = "value_above", gettext_lazy("Value above an amount")
    CLIENT_LINKED = "client_linked", gettext_lazy("Client linked")
    CONTACT_LINKED = "contact_linked", gettext_lazy("Contact linked")
    SOURCE_IN = "source_in", gettext_lazy("Source is one of")
    CLOSE_WITHIN = "close_within", gettext_lazy("Expected close within some days")
    PRIORITY_IN = "priority_in", gettext_lazy("Priority is one of")
    DESCRIPTION_PRESENT = "description_present", gettext_lazy("Description present")


class ScoringCriterion(models.Model):
    """One way a lead earns points; its parameters are the ones its kind reads."""

    Kind = CriterionKind

    kind = models.CharField(
        gettext_lazy("kind"), max_length=30, choices=CriterionKind.choices, unique=True
    )
    points = models.PositiveSmallIntegerField(
        gettext_lazy("points"),
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    active = models.BooleanField(
        gettext_lazy("active"),
        default=True,
        help_text=gettext_lazy("Inactive criteria give no points."),
    )
    order = models.PositiveSmallIntegerField(gettext_lazy("order"), default=0)
    amount = models.DecimalField(
        gettext_lazy("amount (EUR)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=gettext_lazy("For “value above an amount”."),
    )
    days = models.PositiveSmallIntegerField(
        gettext_lazy("days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=gettext_lazy("For “expected close within some days”."),
    )
    sources = models.JSONField(
        gettext_lazy("sources"),
        default=list,
        blank=True,
        help_text=gettext_lazy("For “source is one of”: the sources' slugs."),
    )
    priorities = models.JSONField(
        gettext_lazy("priorities"),
        default=list,
        blank=True,
        help_text=gettext_lazy("For “priority is one of”: low, normal, high, urgent."),
    )

    class Meta:
        app_label = "leads"
        ordering = ["order", "id"]
        verbose_name = gettext_lazy("scoring criterion")
        verbose_name_plural = gettext_lazy("scoring criteria")
        constraints = [
            models.CheckConstraint(condition=Q(points__lte=100), name="scoring_points_at_most_100"),
        ]

    def __str__(self):
        return KINDS[self.kind].describe(self)

    def clean(self):
        super().clean()
        needs = KINDS[self.kind].needs if self.kind in KINDS else None
        if needs and getattr(self, needs) in (None, [], ""):
            raise ValidationError({needs: _("This kind of criterion needs it.")}, code="required")
        unknown = set(self.priorities or []) - set(PRIORITY_LABELS)
        if unknown:
            raise ValidationError(
                {
                    "priorities": _("Unknown priorities: %(priorities)s.")
                    % {"priorities": ", ".join(sorted(unknown))}
                }
            )

    # What the kind says of it -------------------------------------------------------------

    def met_by(self, lead, today: datetime.date) -> bool:
        return KINDS[self.kind].met(self, lead, today)

    def condition(self, today: datetime.date) -> Q:
        return KINDS[self.kind].condition(self, today)

    @property
    def label(self) -> str:
        return KINDS[self.kind].describe(self)

    @property
    def hint(self) -> str:
        return KINDS[self.kind].hint(self)

    @property
    def dated(self) -> bool:
        return KINDS[self.kind].dated

    @property
    def source_ids(self) -> frozenset[int]:
        """The ids of its sources (read once: ``active_criteria`` reads them for all)."""
        if not hasattr(self, "_source_ids"):
            self._source_ids = frozenset(_sources(self.sources or []).values_list("pk", flat=True))
        return self._source_ids


class Rating(models.TextChoices):
    """A score's band by the settings' thresholds: the badge's and the list filter's words."""

    HOT = "hot", pgettext_lazy("rating", "Hot")
    WARM = "warm", pgettext_lazy("rating", "Warm")
    COLD = "cold", pgettext_lazy("rating", "Cold")


class ScoringSettings(models.Model):
    """The rating bands and the optional decay of aged leads' weighted value: one row."""

    hot_above = models.PositiveSmallIntegerField(
        gettext_lazy("hot above"),
        default=70,
        validators=[MaxValueValidator(100)],
        help_text=gettext_lazy("A score above this is hot."),
    )
    cold_below = models.PositiveSmallIntegerField(
        gettext_lazy("cold below"),
        default=40,
        validators=[MaxValueValidator(100)],
        help_text=gettext_lazy("A score below this is cold; the rest is warm."),
    )
    decay_enabled = models.BooleanField(
        gettext_lazy("discount aged leads' weighted value"),
        default=False,
        # xgettext:no-python-format
        help_text=gettext_lazy(
            "A lead long past its stage's aging alert counts for less in weighted "
            "value: 100 % up to 14 days in the stage, 80 % up to 30, 50 % up to 60, then 25 %."
        ),
    )

    class Meta:
        app_label = "leads"
        verbose_name = gettext_lazy("scoring settings")
        verbose_name_plural = gettext_lazy("scoring settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(cold_below__lte=models.F("hot_above")),
                name="scoring_cold_below_hot",
                violation_error_message="Cold must start below hot.",
            ),
        ]

    def __str__(self):
        return str(_("Scoring settings"))

    @classmethod
    def current(cls) -> "ScoringSettings":
        settings, _created = cls.objects.get_or_create(pk=1)
        return settings

    def rating(self, score: int | None) -> str | None:
        """ "hot", "warm" or "cold"; None for an unscored lead."""
        if score is None:
            return None
        if score > self.hot_above:
            return "hot"
        if score < self.cold_below:
            return "cold"
        return "warm"

    def decay(self, days_past_alert: int) -> int:
        """The share (in %) of its weighted value an open lead keeps, ``days_past_alert``
        days after its stage's aging alert: all of it when decay is off."""
        if not self.decay_enabled or days_past_alert <= 14:
            return 100
        for limit, share in DECAY_STEPS:
            if days_past_alert <= limit:
                return share
        return DECAY_FLOOR

    def rating_range(self, rating: str) -> Q:
        """The leads of a rating, as a condition on their stored score (``LeadScore``)."""
        return {
            "hot": Q(stored_score__score__gt=self.hot_above),
            "warm": Q(
                stored_score__score__gte=self.cold_below,
                stored_score__score__lte=self.hot_above,
            ),
            "cold": Q(stored_score__score__lt=self.cold_below),
        }[rating]


def rating_expression():
    """A lead's rating (``ScoringSettings.rating``) as SQL: the thresholds come in the same
    query as the lead, so a page of leads pays no query of its own for its badges."""
    thresholds = ScoringSettings.objects.filter(pk=1)

    def threshold(name):
        default = ScoringSettings._meta.get_field(name).default  # before the row exists
        return Coalesce(Subquery(thresholds.values(name)[:1]), Value(default))

    return Case(
        When(score__isnull=True, then=Value(None)),
        When(score__gt=threshold("hot_above"), then=Value(Rating.HOT.value)),
        When(score__lt=threshold("cold_below"), then=Value(Rating.COLD.value)),
        default=Value(Rating.WARM.value),
        output_field=models.CharField(),
    )


class LeadScore(models.Model):
    """A lead's stored score: one row per lead, in a table of its own.

    Why not a column of the lead: a change of criteria rewrites most scores at once. A
    lead row is wide and the lead table has some thirty indexes (two of them trigram
    indexes), and an indexed column cannot be updated in place, so rescoring a million
    leads in their own table took seven to ten minutes and left the table bloated (the
    list's totals read it). Here it rewrites a million narrow rows and two indexes in
    seconds (docs/PERFORMANCE.md).

    Every lead has its row from its creation on (``store_scores`` in the services; the
    recompute and ``refresh_scores`` add any that is missing); ``score`` is null while
    the lead is unscored (no active criteria). The list sorts by score through an inner
    join, which is only right because of that. Read it with ``Lead.objects.with_score()``
    (the ``score`` annotation) or ``lead.stored_score.score``.
    """

    lead = models.OneToOneField(
        "leads.Lead", on_delete=models.CASCADE, primary_key=True, related_name="stored_score"
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("lead score")
        verbose_name_plural = gettext_lazy("lead scores")
        indexes = [
            # The list sorted by score ascending and filtered by rating (unscored last);
            # PostgreSQL has a descending twin (migration 0017).
            models.Index(fields=["score", "lead"], name="leadscore_score_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__lte=100),
                name="leadscore_score_0_100",
                violation_error_message="A score is between 0 and 100.",
            ),
        ]

    def __str__(self):
        return f"Lead {self.lead_id}: {self.score}"


#: The PostgreSQL advisory lock between the writes that score leads (shared) and a
#: recompute's chunk (exclusive): see ``leads.rescoring``.
SCORING_LOCK = 0x5C0BE


def lock_scoring(*, shared: bool) -> None:
    """Take the scoring lock until the transaction ends (PostgreSQL; SQLite lets one
    writer in at a time anyway)."""
    if connection.vendor != "postgresql":
        return
    kind = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {kind}(%s)", [SCORING_LOCK])


def criteria_for_write() -> list[ScoringCriterion]:
    """The active criteria, for a write that scores leads (the services): under the
    scoring lock, so that a recompute running meanwhile neither overwrites the score
    written with them nor misses a score written with the criteria it replaces."""
    lock_scoring(shared=True)
    return active_criteria()


def store_scores(scores: dict[int, int | None]) -> None:
    """Write these leads' scores (lead id → score), adding the rows of new leads: one
    statement per thousand leads."""
    LeadScore.objects.bulk_create(
        [LeadScore(lead_id=pk, score=value) for pk, value in scores.items()],
        update_conflicts=True,
        unique_fields=["lead"],
        update_fields=["score"],
        batch_size=1000,
    )


def store_new_scores(scores: dict[int, int | None]) -> None:
    """Write the scores of leads just created (lead id → score), which have no row yet:
    inserted in bulk (COPY on PostgreSQL), without ``store_scores``' check for one."""
    bulk_insert(LeadScore, ["lead_id", "score"], scores.items(), count=len(scores))


# --- the kinds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What a kind of criterion means, in memory and in SQL, and how it reads."""

    met: Callable[[ScoringCriterion, object, datetime.date], bool]
    condition: Callable[[ScoringCriterion, datetime.date], Q]
    describe: Callable[[ScoringCriterion], str]
    hint: Callable[[ScoringCriterion], str]
    needs: str | None = None  # the parameter it reads
    dated: bool = False  # the date alone can change whether a lead meets it


def _money(amount) -> str:
    return format_money(amount) if amount is not None else "—"


def _names(values: Iterable[str]) -> str:
    """ "a", "a or b", "a, b or c"."""
    values = [str(value) for value in values]
    if len(values) < 2:
        return "".join(values)
    # Translators: the last of a list of choices: "referral, partner or website".
    return _("%(list)s or %(last)s") % {"list": ", ".join(values[:-1]), "last": values[-1]}


def _priorities(c) -> str:
    return _names(PRIORITY_LABELS.get(key, key) for key in c.priorities or ["—"])


def _sources(slugs: list[str]):
    """The sources with these slugs (as a subquery of ids, an UPDATE cannot join)."""
    source = apps.get_model("leads", "LeadSource")
    return source.objects.filter(slug__in=slugs)


def _within(criterion, today) -> tuple[datetime.date, datetime.date]:
    return today, today + datetime.timedelta(days=criterion.days or 0)


KINDS: dict[str, Kind] = {
    CriterionKind.VALUE_PRESENT: Kind(
        met=lambda c, lead, today: lead.value is not None,
        condition=lambda c, today: Q(value__isnull=False),
        describe=lambda c: _("value present"),
        hint=lambda c: _("Enter the deal's value"),
    ),
    CriterionKind.VALUE_ABOVE: Kind(
        met=lambda c, lead, today: (
            lead.value is not None and c.amount is not None and lead.value > c.amount
        ),
        condition=lambda c, today: Q(value__gt=c.amount) if c.amount is not None else Q(pk=None),
        describe=lambda c: _("value above %(amount)s") % {"amount": _money(c.amount)},
        hint=lambda c: _("A value above %(amount)s") % {"amount": _money(c.amount)},
        needs="amount",
    ),
    CriterionKind.CLIENT_LINKED: Kind(
        met=lambda c, lead, today: lead.client_id is not None,
        condition=lambda c, today: Q(client__isnull=False),
        describe=lambda c: _("client linked"),
        hint=lambda c: _("Link a client"),
    ),
    CriterionKind.CONTACT_LINKED: Kind(
        met=lambda c, lead, today: lead.contact_id is not None,
        condition=lambda c, today: Q(contact__isnull=False),
        describe=lambda c: _("contact linked"),
        hint=lambda c: _("Link a contact"),
    ),
    CriterionKind.SOURCE_IN: Kind(
        met=lambda c, lead, today: lead.source_id in c.source_ids,
        condition=lambda c, today: Q(source_id__in=_sources(c.sources or []).values("pk")),
        describe=lambda c: _("source is %(sources)s") % {"sources": _names(c.sources or ["—"])},
        hint=lambda c: _("A lead from %(sources)s") % {"sources": _names(c.sources or ["—"])},
        needs="sources",
    ),
    CriterionKind.CLOSE_WITHIN: Kind(
        met=lambda c, lead, today: (
            lead.expected_close_date is not None
            and _within(c, today)[0] <= lead.expected_close_date <= _within(c, today)[1]
        ),
        condition=lambda c, today: Q(expected_close_date__range=_within(c, today)),
        describe=lambda c: (
            ngettext(
                "expected close within %(days)s day",
                "expected close within %(days)s days",
                c.days or 0,
            )
            % {"days": c.days}
        ),
        hint=lambda c: (
            ngettext(
                "An expected close date within %(days)s day",
                "An expected close date within %(days)s days",
                c.days or 0,
            )
            % {"days": c.days}
        ),
        needs="days",
        dated=True,
    ),
    CriterionKind.PRIORITY_IN: Kind(
        met=lambda c, lead, today: lead.priority in (c.priorities or []),
        condition=lambda c, today: Q(priority__in=c.priorities or []),
        describe=lambda c: _("priority %(priorities)s") % {"priorities": _priorities(c)},
        hint=lambda c: _("Priority %(priorities)s") % {"priorities": _priorities(c)},
        needs="priorities",
    ),
    CriterionKind.DESCRIPTION_PRESENT: Kind(
        met=lambda c, lead, today: bool(lead.description.strip()),
        condition=lambda c, today: ~Q(description__regex=r"^\s*$"),
        describe=lambda c: _("description present"),
        hint=lambda c: _("Describe the deal"),
    ),
}

#: The seeded criteria (and the order they are shown in): kind, points, parameters.
DEFAULTS = [
    (CriterionKind.VALUE_PRESENT, 10, {}),
    (CriterionKind.VALUE_ABOVE, 20, {"amount": Decimal(10000)}),
    (CriterionKind.CLIENT_LINKED, 15, {}),
    (CriterionKind.CONTACT_LINKED, 10, {}),
    (CriterionKind.SOURCE_IN, 15, {"sources": ["referral", "partner"]}),
    (CriterionKind.CLOSE_WITHIN, 10, {"days": 30}),
    (CriterionKind.PRIORITY_IN, 10, {"priorities": ["high", "urgent"]}),
    (CriterionKind.DESCRIPTION_PRESENT, 5, {}),
]

MAX_SCORE = 100
#: Probability decay: (days past the stage's aging alert, at most; share kept in %).
DECAY_STEPS = [(30, 80), (60, 50)]
DECAY_FLOOR = 25


# --- scoring ---------------------------------------------------------------------------------


def active_criteria(sources: Iterable | None = None) -> list[ScoringCriterion]:
    """The criteria that give points, in their order, with the sources they name: one
    query, two when a criterion names sources and ``sources`` (every lead source, as a
    page has read them already) is not given."""
    criteria = list(ScoringCriterion.objects.filter(active=True))
    named = {slug for c in criteria if c.kind == CriterionKind.SOURCE_IN for slug in c.sources}
    if named:
        if sources is None:
            ids = dict(_sources(list(named)).values_list("slug", "pk"))
        else:
            ids = {source.slug: source.pk for source in sources if source.slug in named}
        for c in criteria:
            c._source_ids = frozenset(ids[slug] for slug in c.sources or [] if slug in ids)
    return criteria


def score(lead, criteria: list[ScoringCriterion], today: datetime.date | None = None):
    """The lead's score: the points of the criteria it meets, at most 100; None when
    there are no active criteria (nothing to score by)."""
    if not criteria:
        return None
    today = today or timezone.localdate()
    return min(MAX_SCORE, sum(c.points for c in criteria if c.met_by(lead, today)))


@dataclass(frozen=True)
class Line:
    criterion: ScoringCriterion
    met: bool


def breakdown(lead, criteria: list[ScoringCriterion], today=None) -> list[Line]:
    """Each active criterion, met or not: the detail page's "why this score"."""
    today = today or timezone.localdate()
    return [Line(criterion, criterion.met_by(lead, today)) for criterion in criteria]


def score_expression(criteria: list[ScoringCriterion], today: datetime.date):
    """The score as SQL, for recomputing many leads in the database (same rules as
    ``score``: the test suite holds them to agreement)."""
    if not criteria:  # typed: PostgreSQL reads a bare NULL in a subquery as text
        return Cast(Value(None), output_field=IntegerField())
    total = sum(
        (
            Case(
                When(c.condition(today), then=Value(c.points)),
                default=Value(0),
                output_field=IntegerField(),
            )
            for c in criteria
        ),
        Value(0),
    )
    return Least(total, Value(MAX_SCORE), output_field=IntegerField())
