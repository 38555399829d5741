"""How made-up leads close: the loss reasons' weights, competitors and notes.

Shared by ``seed_demo`` (a few hundred leads, as objects) and ``seed_bulk`` (a million,
as rows), so that the demo and the benchmarks lose deals the same way.
"""

import random

from leads.models import LossReason

#: How often each seeded loss reason is given, and the competitors deals go to.
LOSS_WEIGHTS = {
    "price-too-high": 8,
    "chose-competitor": 7,
    "no-budget": 5,
    "requirements-changed": 3,
    "no-response": 6,
    "other": 2,
}
COMPETITORS = ["Salesflow", "Pipedrive", "HubSpot", "Odoo", "Zoho", "a local agency"]
LOSS_NOTES = [
    "Went with a cheaper offer after the second round.",
    "Project shelved until next fiscal year.",
    "Decision maker left the company.",
    "They merged with another firm and paused all purchases.",
]


def loss_reasons() -> dict[str, LossReason]:
    """The reasons to draw from by slug; "Other" stands in for any an admin deleted."""
    reasons = {reason.slug: reason for reason in LossReason.objects.all()}
    if set(LOSS_WEIGHTS) - set(reasons):
        reasons["other"] = LossReason.objects.fallback()
        reasons |= {slug: reasons.get(slug, reasons["other"]) for slug in LOSS_WEIGHTS}
    return reasons


def draw_loss(rng: random.Random, reasons: dict[str, LossReason]) -> tuple[LossReason, str, str]:
    """Why a made-up lead was lost: its reason, the competitor (often none) and a note
    (always where the reason needs one)."""
    slug = rng.choices(list(LOSS_WEIGHTS), weights=list(LOSS_WEIGHTS.values()))[0]
    reason = reasons[slug]
    competitor = note = ""
    if slug == "chose-competitor" or (slug == "price-too-high" and rng.random() < 0.4):
        competitor = rng.choice(COMPETITORS)
    if reason.note_required or rng.random() < 0.2:
        note = rng.choice(LOSS_NOTES)
    return reason, competitor, note
