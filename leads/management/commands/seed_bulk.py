"""manage.py seed_bulk: a large, realistic data set for benchmarks, written fast.

    manage.py seed_bulk --leads 1000000 --clients 50000 --contacts 100000 [--users 20] [--seed 1]

It appends: every run adds the clients, contacts and leads it is asked for to whatever
the database holds, and never deletes anything (use a database of its own, or drop and
migrate it, for a clean set). The users bulk_user_01, bulk_user_02, ... are made sure
of and reused. New leads only refer to the clients and contacts of the same run.

Each lead gets the history it would have had: its "created" event and a "stage
changed" event per move, made with the constructors of ``leads.events`` as every writer
makes them. A closed lead says how it closed, as the closing dialog would have: its
close date and won value, or its loss reason, competitor and note (drawn as seed_demo
draws them, ``leads.management.closing``); a few lost leads have no reason, as leads
lost before reasons were recorded. On PostgreSQL the rows go in with COPY, elsewhere
with bulk_create in batches. The same --seed gives the same data, relative to today's date.
"""

import datetime
import itertools
import math
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models
from django.utils import timezone

from crm.models import Client, Contact
from crm.web.bulk import bulk_insert
from crm.web.db import without_statement_timeout
from leads import events, tally
from leads.management.closing import draw_loss, loss_reasons
from leads.models import Lead, LeadEvent, LeadScore, LeadSource, LossReason, Priority
from leads.rescoring import leads_rescore
from pipelines.models import Pipeline, PipelineStage

HISTORY = datetime.timedelta(days=730)
#: Zipf exponent of client sizes: with 50,000 clients the largest has ~8% of the leads
#: and the median client a handful (4 of 1,000,000).
CLIENT_SKEW = 1.0
#: Leads whose random draws are made in one go (rng.choices with k=...).
DRAW_BLOCK = 10_000
#: Leads written before their events are: the history needs the leads' ids.
HISTORY_CHUNK = 50_000

OPEN_STAGE_WEIGHTS = [10, 8, 6, 4, 2]
WON_WEIGHT, LOST_WEIGHT = 6, 5
PRIORITY_WEIGHTS = {Priority.NORMAL: 70, Priority.HIGH: 14, Priority.LOW: 10, Priority.URGENT: 6}
SOURCE_WEIGHTS = {"website": 30, "referral": 15, "email": 12, "phone": 10, "campaign": 8}
NO_VALUE, NO_CLOSE_DATE, NO_CLIENT, NO_SOURCE, UNASSIGNED = 0.15, 0.20, 0.05, 0.05, 0.15
#: Lost leads without a reason: lost before reasons were recorded (the report's
#: "Not recorded").
NO_LOSS_REASON = 0.05
WITH_CONTACT = 0.7

# Title words, commonest first: their frequency falls off like a Zipf distribution, so
# "software", "renewal" and "license" are everywhere and the tail is rare.
PRODUCTS = [
    "Software", "Hardware", "Cloud", "Network", "Security", "Website", "CRM", "ERP",
    "Laptop fleet", "Data platform", "Office 365", "Backup", "Firewall", "Telephony",
    "Printer fleet", "Webshop", "Analytics", "Payroll", "Helpdesk", "Storage",
    "Video conferencing", "Access control", "Warehouse scanners", "Digital signage",
    "Point of sale", "Fleet tracking", "Solar panels", "Heat pumps", "LED lighting",
    "Coffee machines", "E-learning", "Document management", "Time tracking", "Kiosks",
]  # fmt: skip
DEAL_TYPES = [
    "license", "renewal", "upgrade", "support contract", "implementation", "migration",
    "expansion", "pilot", "maintenance", "subscription", "audit", "training", "rollout",
    "replacement", "consultancy", "integration", "proof of concept", "tender",
]  # fmt: skip
QUALIFIERS = [
    "Q1", "Q2", "Q3", "Q4", "phase 2", "head office", "all sites", "EMEA", "Benelux",
    "north region", "2026", "multi-year", "extension", "urgent", "board approved",
]  # fmt: skip
RARE_WORDS = [
    "aquaponics", "bathymetry", "cryogenic", "dendrochronology", "espresso", "fjord",
    "gyroscope", "hydroponic", "isotope", "jacquard", "kombucha", "lidar", "microbrewery",
    "nanofiltration", "orthodontic", "photogrammetry", "quinoa", "rheology", "sauna",
    "tachograph", "ultrasound", "vineyard", "windmill", "xylophone", "yurt", "zeppelin",
    "carillon", "planetarium", "observatory", "greenhouse", "icebreaker", "lighthouse",
]  # fmt: skip
DESCRIPTIONS = [
    "Asked for a quote after the webinar.",
    "Budget is approved for this quarter; the board decides.",
    "Comparing us with two other suppliers.",
    "Wants a pilot with one department first.",
    "Current contract ends soon; looking for a better price.",
    "Referred by an existing customer.",
    "Needs an on-site demo before deciding.",
    "Procurement requires three quotes.",
    "Decision maker is on holiday until next month.",
    "Interested in a multi-year deal with a discount.",
]
CATEGORIES = {
    "Software": 30, "Hardware": 18, "Support": 15, "Consulting": 10, "Web": 8,
    "Training": 5, "Cloud": 5, "Security": 4, "Telecom": 3, "Energy": 2,
}  # fmt: skip
NO_CATEGORY = 0.1

NAME_PREFIXES = [
    "Noord", "Zuid", "Oost", "West", "Hollandse", "Groene", "Blue", "Atlas", "Delta",
    "Polder", "Royal", "Smart", "Nova", "Vista", "Summit", "Harbour", "Oak", "River",
    "Maple", "Lighthouse", "Alpine", "Brouwer", "Visser", "Meijer", "De Vries", "Bakker",
]  # fmt: skip
NAME_CORES = [
    "Data", "Bouw", "Logistiek", "Media", "Energy", "Dental", "Software", "Consulting",
    "Transport", "Retail", "Installatietechniek", "Facility", "Engineering", "Hotels",
    "Architects", "Foods", "Pharma", "Legal", "Finance", "Print", "Solutions", "Systems",
]  # fmt: skip
NAME_SUFFIXES = ["B.V.", "B.V.", "B.V.", "Ltd", "GmbH", "Group", "& Zonen", "Holding", "NV", ""]
CITIES = [
    "Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Groningen", "Zwolle", "Delft",
    "Haarlem", "Arnhem", "Breda", "Antwerp", "Gent", "London", "Leeds", "Dublin", "Köln",
]  # fmt: skip
FIRST_NAMES = [
    "Anna", "Bram", "Chloe", "Daan", "Emma", "Finn", "Grace", "Hugo", "Isa", "Jesse", "Julia",
    "Koen", "Laura", "Milan", "Noa", "Olivia", "Pieter", "Ruben", "Sanne", "Sophie", "Thomas",
    "Zoë", "Lars", "Fleur", "James", "Charlotte", "Oliver", "Eva", "Sarah", "Liam",
]  # fmt: skip
LAST_NAMES = [
    "de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Janssen", "Visser", "Smit",
    "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "Dekker",
    "Brown", "Walker", "Evans", "Wilson", "Hughes", "Müller", "Claes", "Willems",
]  # fmt: skip
JOB_TITLES = [
    "Managing director", "Purchasing manager", "Operations manager", "IT manager",
    "Office manager", "Head of marketing", "Finance director", "Facility manager",
    "Project lead", "CTO", "",
]  # fmt: skip


def zipf_cum_weights(count: int, exponent: float) -> list[float]:
    """Cumulative weights 1/rank**exponent for ranks 1..count (for rng.choices)."""
    return list(itertools.accumulate(1 / rank**exponent for rank in range(1, count + 1)))


def slug(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum()) or "x"


def phone(rng: random.Random) -> str:
    area = rng.choice(["20", "10", "30", "40", "6"])
    return f"+31 {area} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def past(rng: random.Random, now: datetime.datetime, *, recent_bias: float = 1.0):
    """A moment in the last two years; recent_bias > 1 favours recent moments."""
    return now - HISTORY * rng.random() ** recent_bias


# --- rows ------------------------------------------------------------------------------
# Each generator yields tuples in the order of its *_COLUMNS (model attribute names).

CLIENT_COLUMNS = [
    "name", "kind", "email", "phone", "website", "address", "notes", "created_at", "updated_at",
]  # fmt: skip


def client_rows(rng: random.Random, count: int, *, now) -> Iterator[tuple]:
    for _ in range(count):
        created = past(rng, now, recent_bias=0.7)
        if rng.random() < 0.15:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name, kind = f"{first} {last}", Client.Kind.PERSON
            email, website = f"{slug(first)}.{slug(last)}@mail.example", ""
        else:
            core = f"{rng.choice(NAME_PREFIXES)} {rng.choice(NAME_CORES)}"
            name = f"{core} {rng.choice(NAME_SUFFIXES)}".strip()
            if rng.random() < 0.3:
                name = f"{name} {rng.choice(CITIES)}"
            kind, domain = Client.Kind.ORGANIZATION, f"{slug(core)}.example"
            email, website = f"info@{domain}", f"https://www.{domain}"
        address = f"Stationsweg {rng.randint(1, 200)}\n{rng.choice(CITIES)}"
        yield (name, kind, email, phone(rng), website, address, "", created, created)


CONTACT_COLUMNS = ["client_id", "name", "email", "phone", "job_title", "created_at", "updated_at"]


def contact_owners(rng: random.Random, ranked_clients: list[int], count: int) -> list[int]:
    """The client of each contact: one each while they last, then more for big clients."""
    owners = ranked_clients[:count]
    extra = count - len(owners)
    if extra > 0:
        cum = zipf_cum_weights(len(ranked_clients), CLIENT_SKEW)
        owners += rng.choices(ranked_clients, cum_weights=cum, k=extra)
    return owners


def contact_rows(rng: random.Random, owners: list[int], *, now) -> Iterator[tuple]:
    for client_id in owners:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = past(rng, now, recent_bias=0.8)
        yield (
            client_id,
            f"{first} {last}",
            f"{slug(first)}.{slug(last)}@mail.example",
            phone(rng),
            rng.choice(JOB_TITLES),
            created,
            created,
        )


LEAD_COLUMNS = [
    "title", "description", "value", "probability", "source_id", "priority",
    "expected_close_date", "category", "stage_id", "client_id", "contact_id", "assignee_id",
    "created_by_id", "created_at", "updated_at", "stage_entered_at", "last_activity_at",
    "closed_at", "version", "actual_close_date", "won_value", "lost_reason_id", "competitor",
    "lost_note",
]  # fmt: skip


def lead_title(rng: random.Random, products_cum, deal_types_cum) -> str:
    product = rng.choices(PRODUCTS, cum_weights=products_cum)[0]
    deal = rng.choices(DEAL_TYPES, cum_weights=deal_types_cum)[0]
    title = f"{product} {deal}"
    roll = rng.random()
    if roll < 0.03:
        title = f"{rng.choice(RARE_WORDS).capitalize()} {title.lower()}"
    elif roll < 0.04:  # a nearly unique word, for searches that find one lead
        letters = "".join(rng.choices("BCDFGHJKLMNPQRSTVWXZ", k=3))
        title = f"{title} – project {letters}{rng.randint(10, 99)}"
    if rng.random() < 0.35:
        title = f"{title} – {rng.choice(QUALIFIERS)}"
    return title


def lead_description(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return ""
    if roll < 0.99:
        return " ".join(rng.sample(DESCRIPTIONS, rng.randint(1, 3)))
    return " ".join(rng.choices(DESCRIPTIONS, k=40))[:5000]  # a long one now and then


def deal_value(rng: random.Random) -> Decimal | None:
    """Unknown for some leads; otherwise log-normal around €10,000."""
    if rng.random() < NO_VALUE:
        return None
    amount = min(max(rng.lognormvariate(math.log(10_000), 1.1), 100), 5_000_000)
    if rng.random() < 0.1:
        return Decimal(f"{amount:.2f}")
    return Decimal(round(amount, -1 if amount < 1000 else -2))


def lead_rows(
    rng: random.Random,
    count: int,
    *,
    now: datetime.datetime,
    stages: list[PipelineStage],
    sources: list[LeadSource],
    users: list[int],
    ranked_clients: list[int],
    contacts_of: dict[int, list[int]],
    closing_rng: random.Random,
    reasons: dict[str, LossReason],
) -> Iterator[tuple]:
    """The leads' rows. How a closed lead closed is drawn from ``closing_rng``, so that
    every other column comes out as it did before leads recorded that."""
    open_stages = [s for s in stages if s.kind == PipelineStage.Kind.OPEN]
    closed_weight = {PipelineStage.Kind.WON: WON_WEIGHT, PipelineStage.Kind.LOST: LOST_WEIGHT}
    stage_choices = open_stages + [s for s in stages if s.kind in closed_weight]
    weights = [*OPEN_STAGE_WEIGHTS[: len(open_stages)], *[1] * (len(open_stages) - 5)]
    weights += [closed_weight[s.kind] for s in stage_choices[len(open_stages) :]]
    position = {stage.pk: index for index, stage in enumerate(open_stages)}
    source_weights = [SOURCE_WEIGHTS.get(s.slug, 3) for s in sources]
    priorities, priority_weights = list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values())
    categories, category_weights = list(CATEGORIES), list(CATEGORIES.values())
    client_cum = zipf_cum_weights(len(ranked_clients), CLIENT_SKEW) if ranked_clients else None
    # Some reps are busier than others.
    user_cum = zipf_cum_weights(len(users), 0.5) if users else None
    products_cum = zipf_cum_weights(len(PRODUCTS), 1.1)
    deal_types_cum = zipf_cum_weights(len(DEAL_TYPES), 1.1)
    today = timezone.localdate(now)

    done = 0
    while done < count:
        block = min(DRAW_BLOCK, count - done)
        done += block
        drawn_stages = rng.choices(stage_choices, weights=weights, k=block)
        drawn_priorities = rng.choices(priorities, weights=priority_weights, k=block)
        drawn_clients = (
            rng.choices(ranked_clients, cum_weights=client_cum, k=block)
            if ranked_clients
            else [None] * block
        )
        drawn_users = rng.choices(users, cum_weights=user_cum, k=block) if users else [None] * block
        for stage, priority, client_id, user_id in zip(
            drawn_stages, drawn_priorities, drawn_clients, drawn_users, strict=True
        ):
            is_open = stage.kind == PipelineStage.Kind.OPEN
            created = past(rng, now, recent_bias=2.0 if is_open else 1.0)
            entered = created + (now - created) * rng.random() ** 2
            if is_open:
                last_activity = entered + (now - entered) * rng.random()
                updated = last_activity if rng.random() < 0.7 else entered
                probability = stage.probability
                if rng.random() < 0.1:
                    probability = rng.randrange(0, 101, 5)
                elif rng.random() < 0.05:
                    probability = None
                version = 1 + position[stage.pk] + rng.randint(0, 3)
            else:
                last_activity = updated = entered
                probability = stage.probability
                version = 2 + rng.randint(0, 6)
            if client_id is not None and rng.random() < NO_CLIENT:
                client_id = None
            contact_id = None
            if client_id is not None and contacts_of.get(client_id) and rng.random() < WITH_CONTACT:
                contact_id = rng.choice(contacts_of[client_id])
            title, description = (
                lead_title(rng, products_cum, deal_types_cum),
                lead_description(rng),
            )
            value = deal_value(rng)
            closing = closing_columns(closing_rng, stage, value, entered, reasons)
            yield (
                title,
                description,
                value,
                probability,
                rng.choices(sources, weights=source_weights)[0].pk
                if sources and rng.random() >= NO_SOURCE
                else None,
                priority,
                None
                if rng.random() < NO_CLOSE_DATE
                else today + datetime.timedelta(days=rng.randint(-365, 365)),
                "" if rng.random() < NO_CATEGORY else rng.choices(categories, category_weights)[0],
                stage.pk,
                client_id,
                contact_id,
                None if user_id is None or rng.random() < UNASSIGNED else user_id,
                rng.choice(users) if users else None,
                created,
                updated,
                entered,
                last_activity,
                None if is_open else entered,
                version,
                *closing,
            )


def closing_columns(
    rng: random.Random,
    stage: PipelineStage,
    value: Decimal | None,
    closed_at: datetime.datetime,
    reasons: dict[str, LossReason],
) -> tuple:
    """actual_close_date, won_value, lost_reason_id, competitor and lost_note of a lead
    in ``stage``, as the closing dialog would have set them (seed_demo's weights)."""
    if stage.is_open:
        return None, None, None, "", ""
    closed_on = timezone.localdate(closed_at)
    if stage.kind == PipelineStage.Kind.WON:
        return closed_on, value, None, "", ""
    if rng.random() < NO_LOSS_REASON:
        return closed_on, None, None, "", ""
    reason, competitor, note = draw_loss(rng, reasons)
    return closed_on, None, reason.pk, competitor, note


def lead_history(
    rng: random.Random,
    leads: Iterable[tuple[int, tuple]],
    *,
    stages: list[PipelineStage],
    users: dict,
    reasons: dict[int, LossReason],
) -> Iterator[LeadEvent]:
    """The events of written leads ((id, row of LEAD_COLUMNS) pairs), unsaved: created,
    then one stage change per move, a stage at a time, the last when it entered its stage.

    A closed lead went through some of the open stages first; no lead has more moves
    than its version counts writes.
    """
    open_stages = [s for s in stages if s.kind == PipelineStage.Kind.OPEN]
    by_id = {stage.pk: stage for stage in stages}
    for pk, row in leads:
        lead = Lead(id=pk, **dict(zip(LEAD_COLUMNS, row, strict=True)))
        if lead.lost_reason_id is not None:  # named by the event, without a query each
            lead.lost_reason = reasons[lead.lost_reason_id]
        stage = by_id[lead.stage_id]
        if stage.is_open:
            path = open_stages[: open_stages.index(stage) + 1]
        else:
            path = open_stages[: rng.randrange(min(len(open_stages), lead.version - 1)) + 1]
            path.append(stage)
        yield events.created(lead, by=users.get(lead.created_by_id), at=lead.created_at)
        actor = users.get(lead.assignee_id or lead.created_by_id)
        moves = len(path) - 1
        span = lead.stage_entered_at - lead.created_at
        previous_at, previous_probability = lead.created_at, path[0].probability
        for number, (old, new) in enumerate(itertools.pairwise(path), start=1):
            at = lead.created_at + span * number / moves
            probability = previous_probability if new.probability is None else new.probability
            yield events.stage_changed(
                lead,
                old,
                new,
                entered_old=previous_at,
                old_probability=previous_probability,
                new_probability=probability,
                by=actor,
                at=at,
                closing=lead.closing_facts() if new is stage else None,
            )
            previous_at, previous_probability = at, probability


# --- writers ---------------------------------------------------------------------------


def analyze(tables: Iterable[type[models.Model]]) -> str:
    """Fresh planner statistics on PostgreSQL, so that benchmarks run against sensible plans."""
    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return "ANALYZE"


# --- the command -----------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Append a large, realistic data set for benchmarks: clients, contacts, leads and "
        "the users bulk_user_01.. (Sales rep, unusable password), and each lead's history "
        "(created, stage changes). Appends, never deletes. COPY on PostgreSQL, bulk_create "
        "elsewhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=10_000)
        parser.add_argument("--clients", type=int, default=1_000)
        parser.add_argument("--contacts", type=int, default=2_000)
        parser.add_argument("--users", type=int, default=20, help="Sales reps to assign to.")
        parser.add_argument("--seed", type=int, default=1, help="The same seed, the same data.")
        parser.add_argument("--force", action="store_true", help="Run even though DEBUG is off.")

    def handle(self, *args, leads, clients, contacts, users, seed, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_bulk adds a large amount of made-up data and is meant for development "
                "and benchmarks: DEBUG is off, so it refuses to run. Pass --force if you "
                "really want it in this database."
            )
        if min(leads, clients, contacts, users) < 0:
            raise CommandError("Counts must not be negative.")
        if contacts and not clients:
            raise CommandError("Contacts belong to clients: pass --clients too.")
        # A million leads take longer than any request may.
        with without_statement_timeout(connection):
            self.seed(leads=leads, clients=clients, contacts=contacts, users=users, seed=seed)

    def seed(self, *, leads, clients, contacts, users, seed):
        stages = list(Pipeline.objects.default().stages.order_by("order"))
        sources = list(LeadSource.objects.filter(active=True).order_by("order", "label", "pk"))
        rng = random.Random(seed)
        now = timezone.now()

        started = time.perf_counter()
        user_ids = ensure_bulk_users(users)
        self.report("users", len(user_ids), started)

        started = time.perf_counter()
        client_ids = bulk_insert(
            Client, CLIENT_COLUMNS, client_rows(rng, clients, now=now), count=clients, want_ids=True
        )
        self.report("clients", clients, started)

        # Big clients are a random few, not the oldest ones.
        ranked_clients = rng.sample(client_ids, len(client_ids))
        owners = contact_owners(rng, ranked_clients, contacts)
        started = time.perf_counter()
        contact_ids = bulk_insert(
            Contact,
            CONTACT_COLUMNS,
            contact_rows(rng, owners, now=now),
            count=contacts,
            want_ids=True,
        )
        self.report("contacts", contacts, started)
        contacts_of = defaultdict(list)
        for contact_id, client_id in zip(contact_ids, owners, strict=True):
            contacts_of[client_id].append(contact_id)

        rows = lead_rows(
            rng,
            leads,
            now=now,
            stages=stages,
            sources=sources,
            users=user_ids,
            ranked_clients=ranked_clients,
            contacts_of=contacts_of,
            closing_rng=random.Random(f"{seed}-closing"),
            reasons=loss_reasons(),
        )
        # A generator of its own: the leads come out as they did before they had a history.
        history_rng = random.Random(f"{seed}-history")
        users_by_id = get_user_model().objects.in_bulk(user_ids)
        reasons_by_id = LossReason.objects.in_bulk()
        lead_seconds = event_seconds = 0.0
        event_count = 0
        first_id = None  # this run's leads are the ones from here on
        for chunk in itertools.batched(rows, HISTORY_CHUNK, strict=False):
            started = time.perf_counter()
            ids = bulk_insert(Lead, LEAD_COLUMNS, chunk, count=len(chunk), want_ids=True)
            first_id = ids[0] if first_id is None else first_id
            lead_seconds += time.perf_counter() - started
            started = time.perf_counter()
            history = [
                events.as_row(event)
                for event in lead_history(
                    history_rng,
                    zip(ids, chunk, strict=True),
                    stages=stages,
                    users=users_by_id,
                    reasons=reasons_by_id,
                )
            ]
            bulk_insert(LeadEvent, events.COLUMNS, history, count=len(history))
            event_seconds += time.perf_counter() - started
            event_count += len(history)
        self.report("leads", leads, seconds=lead_seconds)
        self.report("events", event_count, seconds=event_seconds)

        # Scored as the services would have scored them: the same chunked recompute as a
        # change of criteria (the rows went in by COPY, past the services).
        if first_id is not None:
            started = time.perf_counter()
            scored = leads_rescore(leads=Lead.objects.filter(pk__gte=first_id))
            self.report("scores", scored.rows, started)

        # The running totals' triggers added a row of differences per chunk: fold them,
        # as a reader would at its first look.
        if tally.available():
            started = time.perf_counter()
            self.report("totals", tally.compact(), started)
            # Folding left the loaded differences as dead rows: every reader would scan
            # their pages. The tables are small once folded; rewriting them takes a blink.
            # (Not inside a transaction, where VACUUM cannot run: a test's.)
            if not connection.in_atomic_block:
                self.rewrite_tallies()

        started = time.perf_counter()
        if done := analyze([Client, Contact, Lead, LeadScore, LeadEvent]):
            self.stdout.write(f"{done} in {time.perf_counter() - started:.1f} s")

    def rewrite_tallies(self) -> None:
        with connection.cursor() as cursor:
            for table, _own, _column in tally.TABLES:
                cursor.execute(f"VACUUM (FULL, ANALYZE) {table}")

    def report(
        self, table: str, rows: int, started: float = 0.0, *, seconds: float | None = None
    ) -> None:
        if seconds is None:
            seconds = time.perf_counter() - started
        rate = rows / seconds if seconds else 0
        self.stdout.write(f"{table:<9} {rows:>10,} rows {seconds:>8.2f} s {rate:>12,.0f} rows/s")


def ensure_bulk_users(count: int) -> list[int]:
    """bulk_user_01.. in the Sales rep group, with unusable passwords; their ids."""
    try:
        group = Group.objects.get(name="Sales rep")
    except Group.DoesNotExist:
        raise CommandError("The Sales rep group is missing: run migrate first.") from None
    User = get_user_model()
    ids = []
    width = max(2, len(str(count)))
    for number in range(1, count + 1):
        username = f"bulk_user_{number:0{width}}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                first_name=FIRST_NAMES[(number - 1) % len(FIRST_NAMES)],
                last_name=LAST_NAMES[(number - 1) % len(LAST_NAMES)],
                email=f"{username}@example.com",
            )
            user.set_unusable_password()
            user.save()
        user.groups.add(group)
        ids.append(user.pk)
    return ids
