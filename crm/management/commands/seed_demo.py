"""Fill an empty database with demo users, clients, contacts, leads and their history.

The history is made up as it would have been recorded months ago, so it is written
directly, at its backdated times (the services stamp the present): a "created" event
for every client, contact and lead, the leads' stage moves and notes.

Deterministic (a fixed random seed) and idempotent: the users are made sure of on every
run, the data is only added to a database without clients and leads.
"""

import datetime
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from crm.models import AuditKind, Client, ClientEvent, Contact, ContactEvent
from leads import events, scoring
from leads.management.closing import draw_loss, loss_reasons
from leads.models import (
    Absence,
    AssignmentRule,
    Lead,
    LeadEvent,
    LeadSource,
    Membership,
    Priority,
    Team,
)
from pipelines.models import Pipeline, PipelineStage

DEMO_PASSWORD = "demo"
SEED = 42
LEAD_COUNT = 250
HISTORY_DAYS = 180


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    group: str | None
    superuser: bool = False

    @property
    def role(self) -> str:
        return "superuser, Django admin" if self.superuser else (self.group or "")


DEMO_USERS = [
    DemoUser("admin", "Ada", "Admin", None, superuser=True),
    DemoUser("manager", "Marieke", "Bakker", "Sales manager"),
    DemoUser("alice", "Alice", "de Vries", "Sales rep"),
    DemoUser("bob", "Bob", "Janssen", "Sales rep"),
]

# name, domain, city: made-up companies.
ORGANIZATIONS = [
    ("Van Dijk Installatietechniek B.V.", "vandijk-installatie.nl", "Utrecht"),
    ("Brouwer & Zonen Logistiek", "brouwerlogistiek.nl", "Rotterdam"),
    ("De Groene Kas Kwekerij", "degroenekas.nl", "Westland"),
    ("Hollandse Bouwgroep", "hollandsebouwgroep.nl", "Amersfoort"),
    ("Noorderlicht Media", "noorderlichtmedia.nl", "Groningen"),
    ("Kaasmakerij Verhoef", "kaasverhoef.nl", "Gouda"),
    ("Zuidas Legal Advocaten", "zuidaslegal.nl", "Amsterdam"),
    ("Meijer Fietsen", "meijerfietsen.nl", "Zwolle"),
    ("Atlas Facility Services", "atlasfacility.nl", "Eindhoven"),
    ("Polder Data Solutions", "polderdata.nl", "Delft"),
    ("Het Bakkershuis", "hetbakkershuis.nl", "Haarlem"),
    ("Visser Transport", "vissertransport.nl", "Venlo"),
    ("Riverside Consulting Ltd", "riverside-consulting.co.uk", "London"),
    ("Northgate Engineering", "northgate-eng.co.uk", "Manchester"),
    ("Bluebell Software", "bluebellsoftware.com", "Dublin"),
    ("Oakwood Dental Clinics", "oakwooddental.co.uk", "Bristol"),
    ("Harbour Lights Hotels", "harbourlights.com", "Antwerp"),
    ("Greenfield Energy", "greenfield-energy.eu", "Arnhem"),
    ("Summit Sports Retail", "summitsports.eu", "Breda"),
    ("Maple & Finch Architects", "maplefinch.co.uk", "Leeds"),
]

PERSONS = [
    ("Sanne", "de Boer"),
    ("Pieter", "van den Berg"),
    ("Emma", "Smit"),
    ("Daan", "Mulder"),
    ("Sophie", "Hendriks"),
    ("Oliver", "Bennett"),
    ("Charlotte", "Hughes"),
    ("Lars", "Dekker"),
    ("Fleur", "Kok"),
    ("James", "Whitaker"),
]

FIRST_NAMES = [
    "Anna", "Bram", "Chloe", "Daniel", "Eva", "Finn", "Grace", "Hugo", "Isa", "Jesse",
    "Julia", "Koen", "Laura", "Milan", "Noa", "Olivia", "Ruben", "Sarah", "Thomas", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "Bos", "Brown", "Claes", "Evans", "Jansen", "de Jong", "Koster", "Meijer", "Peters",
    "Post", "van Leeuwen", "Vermeulen", "Walker", "Wilson", "de Wit", "Willems",
]  # fmt: skip
JOB_TITLES = [
    "Managing director", "Purchasing manager", "Operations manager", "IT manager",
    "Office manager", "Head of marketing", "Finance director", "Facility manager",
    "Project lead", "CTO",
]  # fmt: skip
STREETS = ["Stationsweg", "Kerkstraat", "Industrieweg", "Havenstraat", "Dorpsstraat", "Marktplein"]
MAIL_PROVIDERS = ["gmail.com", "outlook.com", "ziggo.nl", "kpnmail.nl"]

# subject, category
SUBJECTS = [
    ("Website redesign", "Web"),
    ("Webshop migration", "Web"),
    ("Annual support contract", "Support"),
    ("Maintenance contract renewal", "Support"),
    ("Laptop fleet renewal", "Hardware"),
    ("Office network upgrade", "Hardware"),
    ("CRM implementation", "Software"),
    ("ERP licences", "Software"),
    ("Cloud migration", "Consulting"),
    ("Security audit", "Consulting"),
    ("Staff training programme", "Training"),
    ("Data dashboard", "Software"),
]
DESCRIPTIONS = [
    "Asked for a quote after the webinar.",
    "Budget is approved for this quarter; decision by the board.",
    "Comparing us with two other suppliers.",
    "Wants a pilot with one department first.",
    "Current contract ends soon; looking for a better price.",
]

# Relative weights: most leads are in early stages, some are won or lost.
OPEN_STAGE_WEIGHTS = [10, 8, 6, 4, 2]
WON_WEIGHT = 6
LOST_WEIGHT = 5
PRIORITY_WEIGHTS = {Priority.NORMAL: 65, Priority.HIGH: 15, Priority.LOW: 12, Priority.URGENT: 8}
ASSIGNEE_WEIGHTS = {"alice": 35, "bob": 30, "manager": 15, None: 20}
SOURCE_WEIGHTS = {"website": 8, "referral": 5, "email": 4, "phone": 3, "campaign": 3}


class Command(BaseCommand):
    help = "Create demo users (password 'demo') and, in an empty database, demo data."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even though DEBUG is off.")

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with the password 'demo' and is meant for "
                "development: DEBUG is off, so it refuses to run. Pass --force if you really "
                "want demo data in this database."
            )
        with transaction.atomic():
            ensure_demo_users()
            ensure_demo_assignment(today=timezone.localdate())
            if Client.objects.exists() or Lead.objects.exists():
                self.stdout.write("The database already holds clients or leads: no data added.")
            else:
                counts = create_demo_data(rng=random.Random(SEED), now=timezone.now())
                self.stdout.write(
                    self.style.SUCCESS(
                        "Created {clients} clients, {contacts} contacts, {leads} leads "
                        "and {events} events.".format(**counts)
                    )
                )
        self.print_users()

    def print_users(self) -> None:
        rows = [("Username", "Password", "Role")]
        rows += [(u.username, DEMO_PASSWORD, u.role) for u in DEMO_USERS]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        self.stdout.write("")
        for number, row in enumerate(rows):
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
            if number == 0:
                self.stdout.write("  ".join("-" * w for w in widths))


NOTES = [
    "Went with a cheaper offer after the second round.",
    "Project shelved until next fiscal year.",
    "Decision maker left the company.",
    "They merged with another firm and paused all purchases.",
]

NOTES = [
    "Called; they want a revised quote by Friday.",
    "Sent the proposal. Follow up next week.",
    "Demo went well, the CFO joins the next call.",
    "Budget approved for Q1, waiting for the purchase order.",
    "Left a voicemail.",
    "Asked for two references from similar customers.",
    "Meeting moved to next Tuesday.",
]


def ensure_demo_users() -> None:
    """Create the demo users or put them right: password demo, group, staff flags."""
    User = get_user_model()
    wanted_groups = {u.group for u in DEMO_USERS if u.group}
    groups = {g.name: g for g in Group.objects.filter(name__in=wanted_groups)}
    if missing := wanted_groups - groups.keys():
        raise CommandError(f"Missing group(s) {', '.join(sorted(missing))}: run migrate first.")
    # One hash for all four: hashing is deliberately slow, and these are demo accounts.
    password_hash = None
    for demo in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=demo.username,
            defaults={
                "first_name": demo.first_name,
                "last_name": demo.last_name,
                "email": f"{demo.username}@example.com",
                "is_staff": demo.superuser,
                "is_superuser": demo.superuser,
            },
        )
        changed = []
        if created or not user.check_password(DEMO_PASSWORD):
            password_hash = password_hash or make_password(DEMO_PASSWORD)
            user.password = password_hash
            changed.append("password")
        if not user.is_active:
            user.is_active = True
            changed.append("is_active")
        if demo.superuser and not (user.is_staff and user.is_superuser):
            user.is_staff = user.is_superuser = True
            changed += ["is_staff", "is_superuser"]
        if changed:
            user.save(update_fields=changed)
        if demo.group:
            user.groups.add(groups[demo.group])


def ensure_demo_assignment(*, today: datetime.date) -> None:
    """A team and two assignment rules, where none exist yet: new leads from referrals
    and partners go round the field sales team (Bob is away next week), deals from
    €25,000 to the manager."""
    if Team.objects.exists() or AssignmentRule.objects.exists():
        return
    users = get_user_model().objects.in_bulk(["alice", "bob", "manager"], field_name="username")
    field_sales = Team.objects.create(name="Field sales")
    Membership.objects.create(team=field_sales, user=users["alice"], capacity=120)
    bob = Membership.objects.create(team=field_sales, user=users["bob"])
    monday = today + datetime.timedelta(days=7 - today.weekday())
    Absence.objects.create(
        membership=bob,
        starts_on=monday,
        ends_on=monday + datetime.timedelta(days=4),
        note="Holiday",
    )
    AssignmentRule.objects.create(
        name="Deals from €25,000 → Marieke", order=10, value_min=25_000, user=users["manager"]
    )
    referrals = AssignmentRule.objects.create(
        name="Referrals and partners → Field sales", order=20, team=field_sales
    )
    referrals.sources.set(LeadSource.objects.filter(slug__in=["referral", "partner"]))


def create_demo_data(*, rng: random.Random, now: datetime.datetime) -> dict[str, int]:
    """Create clients, contacts, leads and their events; return how many of each."""
    users = {
        u.username: u
        for u in get_user_model().objects.filter(
            username__in=[name for name in ASSIGNEE_WEIGHTS if name]
        )
    }
    clients = build_clients(rng)
    Client.objects.bulk_create(clients)
    contacts = build_contacts(rng, clients)
    Contact.objects.bulk_create(contacts)
    leads, history = build_leads(rng, now=now, clients=clients, contacts=contacts, users=users)
    Lead.objects.bulk_create(leads)
    scoring.store_scores({lead.pk: lead.score for lead in leads})
    LeadEvent.objects.bulk_create(history)
    backdate_clients(rng, now=now, clients=clients, contacts=contacts, leads=leads)
    record_client_history(clients=clients, contacts=contacts, leads=leads, users=users)
    return {
        "clients": len(clients),
        "contacts": len(contacts),
        "leads": len(leads),
        "events": len(history),
    }


def dutch_phone(rng: random.Random, *, mobile: bool = False) -> str:
    if mobile:
        return f"+31 6 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    area = rng.choice(["20", "10", "30", "40", "50", "70", "33", "38"])
    return f"+31 {area} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def postcode(rng: random.Random, domain: str) -> str:
    """A Dutch postcode and a space for a Dutch company; foreign ones give only the city."""
    if not domain.endswith(".nl"):
        return ""
    letters = "ABCDEFGHJKLMNPRSTVWXZ"
    return f"{rng.randint(1000, 9999)} {rng.choice(letters)}{rng.choice(letters)} "


def build_clients(rng: random.Random) -> list[Client]:
    clients = [
        Client(
            name=name,
            kind=Client.Kind.ORGANIZATION,
            email=f"info@{domain}",
            phone=dutch_phone(rng),
            website=f"https://www.{domain}",
            address=f"{rng.choice(STREETS)} {rng.randint(1, 180)}\n{postcode(rng, domain)}{city}",
        )
        for name, domain, city in ORGANIZATIONS
    ]
    clients += [
        Client(
            name=f"{first} {last}",
            kind=Client.Kind.PERSON,
            email=f"{slugify(first)}.{slugify(last).replace('-', '')}@{rng.choice(MAIL_PROVIDERS)}",
            phone=dutch_phone(rng, mobile=True),
        )
        for first, last in PERSONS
    ]
    return clients


def build_contacts(rng: random.Random, clients: list[Client]) -> list[Contact]:
    """A person is their own contact; organisations get two or three contacts each."""
    contacts = []
    organizations = [c for c in clients if c.kind == Client.Kind.ORGANIZATION]
    third_contact = set(rng.sample(range(len(organizations)), len(organizations) // 2))
    names = rng.sample(
        [(f, last) for f in FIRST_NAMES for last in LAST_NAMES], 3 * len(organizations)
    )
    for index, client in enumerate(organizations):
        domain = client.email.partition("@")[2]
        for _ in range(3 if index in third_contact else 2):
            first, last = names.pop()
            contacts.append(
                Contact(
                    client=client,
                    name=f"{first} {last}",
                    email=f"{slugify(first)}.{slugify(last).replace('-', '')}@{domain}",
                    phone=dutch_phone(rng, mobile=rng.random() < 0.5),
                    job_title=rng.choice(JOB_TITLES),
                )
            )
    for client in clients:
        if client.kind == Client.Kind.PERSON:
            contacts.append(
                Contact(client=client, name=client.name, email=client.email, phone=client.phone)
            )
    return contacts


def stage_path(rng: random.Random, open_stages: list, won, lost) -> list[PipelineStage]:
    """The stages a lead went through, first to current: early stages are the likeliest."""
    weights = OPEN_STAGE_WEIGHTS[: len(open_stages)]
    weights += [1] * (len(open_stages) - len(weights))
    choice = rng.choices(
        [*range(len(open_stages)), "won", "lost"], weights=[*weights, WON_WEIGHT, LOST_WEIGHT]
    )[0]
    if choice == "won":
        return [*open_stages[: rng.randint(min(2, len(open_stages)), len(open_stages))], won]
    if choice == "lost":
        return [*open_stages[: rng.randint(1, len(open_stages))], lost]
    return open_stages[: choice + 1]


def expected_close(
    rng: random.Random, *, today: datetime.date, closed: datetime.datetime | None
) -> datetime.date | None:
    """Open leads: some overdue, some due this week, most later, some without a date."""
    roll = rng.random()
    if closed is not None:
        return (
            None
            if roll < 0.2
            else timezone.localdate(closed) + datetime.timedelta(days=rng.randint(-10, 20))
        )
    if roll < 0.15:
        return None
    if roll < 0.35:
        return today - datetime.timedelta(days=rng.randint(1, 45))
    if roll < 0.5:
        return today + datetime.timedelta(days=rng.randint(0, 6 - today.weekday()))
    return today + datetime.timedelta(days=rng.randint(7, 120))


def move_times(
    rng: random.Random, *, created_at: datetime.datetime, now: datetime.datetime, moves: int
) -> list[datetime.datetime]:
    """When a lead changed stage: days to weeks apart, squeezed in when it is recent."""
    gaps = [rng.uniform(0.5, 21) * 86400 for _ in range(moves)]
    available = (now - created_at).total_seconds() * 0.95
    if sum(gaps) > available:
        gaps = [gap * available / sum(gaps) for gap in gaps]
    times, at = [], created_at
    for gap in gaps:
        at += datetime.timedelta(seconds=gap)
        times.append(at)
    return times


def deal_value(rng: random.Random) -> Decimal | None:
    """Unknown for some leads; otherwise mostly a few thousand euros, rounded to 50."""
    if rng.random() < 0.15:
        return None
    amount = min(max(rng.lognormvariate(8.8, 1.0), 250), 250_000)
    return Decimal(round(amount / 50) * 50)


def close_lead(rng: random.Random, lead: Lead, reasons: dict, today) -> None:
    """Say how a seeded won or lost lead closed, as the closing dialog would have."""
    closed_on = min(timezone.localdate(lead.closed_at), today)
    lead.actual_close_date = closed_on
    if lead.stage.kind == PipelineStage.Kind.WON:
        if lead.value is not None and rng.random() < 0.3:  # some close for a bit less
            lead.value = (lead.value * Decimal(rng.choice(["0.85", "0.9", "0.95"]))).quantize(
                Decimal(100)
            )
        lead.won_value = lead.value
        return
    lead.lost_reason, lead.competitor, lead.lost_note = draw_loss(rng, reasons)


def build_leads(
    rng: random.Random,
    *,
    now: datetime.datetime,
    clients: list[Client],
    contacts: list[Contact],
    users: dict,
) -> tuple[list[Lead], list[LeadEvent]]:
    pipeline = Pipeline.objects.default()
    stages = list(pipeline.stages.order_by("order"))
    open_stages = [s for s in stages if s.kind == PipelineStage.Kind.OPEN]
    won = next(s for s in stages if s.kind == PipelineStage.Kind.WON)
    lost = next(s for s in stages if s.kind == PipelineStage.Kind.LOST)
    sources = list(LeadSource.objects.filter(active=True).order_by("order", "label"))
    source_weights = [SOURCE_WEIGHTS.get(s.slug, 1) for s in sources]
    contacts_of = defaultdict(list)
    for contact in contacts:
        contacts_of[id(contact.client)].append(contact)
    today = timezone.localdate(now)
    creators = [users["alice"], users["bob"], users["manager"]]
    reasons = loss_reasons()
    criteria = scoring.active_criteria()

    leads, history = [], []
    for _ in range(LEAD_COUNT):
        path = stage_path(rng, open_stages, won, lost)
        # Old leads tend to be closed by now, so open ones skew towards recent.
        age = rng.random() ** 2 if path[-1].is_open else rng.random()
        created_at = now - datetime.timedelta(days=max(age * HISTORY_DAYS, 0.05))
        moved_at = move_times(rng, created_at=created_at, now=now, moves=len(path) - 1)
        stage = path[-1]
        entered = moved_at[-1] if moved_at else created_at
        closed = None if stage.is_open else entered
        client = rng.choice(clients) if rng.random() < 0.9 else None
        contact = None
        if client is not None and contacts_of[id(client)] and rng.random() < 0.75:
            contact = rng.choice(contacts_of[id(client)])
        subject, category = rng.choice(SUBJECTS)
        assignee = users.get(
            rng.choices(list(ASSIGNEE_WEIGHTS), weights=list(ASSIGNEE_WEIGHTS.values()))[0]
        )
        created_by = rng.choice(creators)
        probabilities = [s.probability for s in path if s.probability is not None]
        lead = Lead(
            title=f"{subject} – {client.name}" if client else subject,
            description=rng.choice(DESCRIPTIONS) if rng.random() < 0.4 else "",
            value=deal_value(rng),
            probability=probabilities[-1] if probabilities else None,
            source=rng.choices(sources, weights=source_weights)[0] if sources else None,
            priority=rng.choices(list(PRIORITY_WEIGHTS), weights=PRIORITY_WEIGHTS.values())[0],
            expected_close_date=expected_close(rng, today=today, closed=closed),
            category=category if rng.random() < 0.9 else "",
            stage=stage,
            client=client,
            contact=contact,
            assignee=assignee,
            created_by=created_by,
            created_at=created_at,
            updated_at=entered,
            stage_entered_at=entered,
            last_activity_at=entered,
            closed_at=closed,
            version=len(path),  # one write to create it, one per move
        )
        if closed:
            close_lead(rng, lead, reasons, today)
        lead.score = scoring.score(lead, criteria, today)  # as the services would keep it
        leads.append(lead)
        history.append(events.created(lead, by=created_by, at=created_at))
        previous_at, previous_probability = created_at, path[0].probability
        for (previous, current), at in zip(pairwise(path), moved_at, strict=True):
            # A stage without a probability leaves the lead's as it was.
            probability = current.probability
            if probability is None:
                probability = previous_probability
            history.append(
                events.stage_changed(
                    lead,
                    previous,
                    current,
                    entered_old=previous_at,
                    old_probability=previous_probability,
                    new_probability=probability,
                    by=assignee or created_by,
                    at=at,
                    closing=lead.closing_facts() if current == stage and closed else None,
                )
            )
            previous_at, previous_probability = at, probability
        # Reps keep most open deals warm with notes; the rest go stale.
        if stage.is_open and rng.random() < 0.6:
            noted_at = entered + (now - entered) * (1 - rng.random() ** 3)
            lead.last_activity_at = noted_at
            history.append(
                events.note(lead, rng.choice(NOTES), by=assignee or created_by, at=noted_at)
            )
    return leads, history


def backdate_clients(
    rng: random.Random,
    *,
    now: datetime.datetime,
    clients: list[Client],
    contacts: list[Contact],
    leads: list[Lead],
) -> None:
    """Give clients and contacts creation times before their first lead.

    bulk_create stamps auto_now_add fields with the current time; bulk_update does not.
    """
    first_lead = {}
    for lead in leads:
        if lead.client is not None:
            key = id(lead.client)
            first_lead[key] = min(first_lead.get(key, lead.created_at), lead.created_at)
    for client in clients:
        before = first_lead.get(id(client), now - datetime.timedelta(days=HISTORY_DAYS // 2))
        client.created_at = client.updated_at = before - datetime.timedelta(days=rng.randint(1, 60))
    for contact in contacts:
        contact.created_at = contact.updated_at = contact.client.created_at + datetime.timedelta(
            hours=rng.randint(1, 20)
        )
    Client.objects.bulk_update(clients, ["created_at", "updated_at"])
    Contact.objects.bulk_update(contacts, ["created_at", "updated_at"])


def record_client_history(
    *, clients: list[Client], contacts: list[Contact], leads: list[Lead], users: dict
) -> None:
    """A "created" event for every client and contact, at its creation time, by whoever
    entered the client's first lead (the manager for a client without leads)."""
    creator = {}
    for lead in sorted(leads, key=lambda lead: lead.created_at):
        if lead.client is not None:
            creator.setdefault(id(lead.client), lead.created_by)
    ClientEvent.objects.bulk_create(
        ClientEvent(
            client=client,
            actor=creator.get(id(client), users["manager"]),
            at=client.created_at,
            kind=AuditKind.CREATED,
            data={"name": client.name},
        )
        for client in clients
    )
    ContactEvent.objects.bulk_create(
        ContactEvent(
            contact=contact,
            actor=creator.get(id(contact.client), users["manager"]),
            at=contact.created_at,
            kind=AuditKind.CREATED,
            data={"name": contact.name},
        )
        for contact in contacts
    )
