"""The one table of column names the importer recognises, and how a header is matched.

A team switching CRMs uploads the old CRM's export as it comes, so the mapping step must
know each peer's column names. They are all here, in ``ALIASES``: for each field, the
names a header may give it, grouped by where they come from: ``GENERIC`` (English and
Dutch spreadsheets, and our own export), then each product's deal or opportunity export,
in English and, where the product exports it, Dutch. A column named after a field or its
label (the lead form's) is recognised without being listed.

Headers match without case, accents or punctuation: "Deal - Title", "deal title" and
"DEAL_TITLE" are one name (``normalise``). What matched is kept with the product it came
from, so that the mapping step can say why ("Deal - Title → Title (Pipedrive)").

The names come from each product's documented export columns:
- Pipedrive: "Export data" of deals, every column "Deal - <field>";
- HubSpot: the deals index page's export (property labels, "Record ID" first);
- Salesforce: the "Opportunities" report exported as CSV (report column labels);
- Odoo: CRM › Pipeline › Export of crm.lead (field labels, Dutch when the user's
  language is Dutch);
- Twenty: the opportunities view's "Export" (field labels; composite fields such as
  the amount as "<field> <part>").

Adding a name: put it under its field and its product; a test checks that no name is
given to two fields.
"""

import re
import unicodedata

#: Where a name that belongs to no one product comes from.
GENERIC = ""

#: field → {product: [header names]}. "pipeline", "currency" and "status" are not lead
#: fields: they say how to read the others (``leads.imports.EXTRA_COLUMNS``).
ALIASES: dict[str, dict[str, list[str]]] = {
    "title": {
        GENERIC: ["title", "titel", "lead", "lead title", "onderwerp", "deal", "opportunity"],
        "Pipedrive": ["Deal - Title", "Deal - Titel"],
        "HubSpot": ["Deal Name", "Dealnaam", "Naam deal"],
        "Salesforce": ["Opportunity Name", "Naam verkoopkans"],
        "Odoo": ["Verkoopkans"],
        "Twenty": ["Name", "Naam"],
    },
    "description": {
        GENERIC: [
            "description",
            "omschrijving",
            "beschrijving",
            "notes",
            "notities",
            "notitie",
            "opmerking",
            "opmerkingen",
        ],
        "HubSpot": ["Deal Description", "Dealbeschrijving"],
        "Odoo": ["Internal Notes", "Interne notities"],
    },
    "value": {
        GENERIC: ["value", "waarde", "amount", "bedrag", "deal value", "value eur", "waarde eur"],
        "Pipedrive": ["Deal - Value", "Deal - Waarde"],
        "Odoo": ["Expected Revenue", "Verwachte omzet"],
        "Twenty": ["Amount Amount"],
    },
    "probability": {
        GENERIC: ["probability", "kans", "waarschijnlijkheid", "probability %", "kans %"],
        "Pipedrive": ["Deal - Probability", "Deal - Kans"],
        "HubSpot": ["Deal probability", "Dealkans"],
    },
    "expected_close_date": {
        GENERIC: [
            "expected close date",
            "expected close",
            "close date",
            "due",
            "verwachte sluitdatum",
            "sluitdatum",
            "deadline",
        ],
        "Pipedrive": ["Deal - Expected close date", "Deal - Verwachte sluitingsdatum"],
        "HubSpot": ["Sluitingsdatum"],
        "Odoo": ["Expected Closing", "Verwachte afsluiting"],
    },
    "source": {
        GENERIC: ["source", "bron", "lead source", "herkomst"],
        "Pipedrive": ["Deal - Source channel", "Deal - Bronkanaal"],
        "HubSpot": ["Original Source Type"],
        "Salesforce": ["Leadbron"],
    },
    "priority": {GENERIC: ["priority", "prioriteit"]},
    "stage": {
        GENERIC: ["stage", "fase", "stadium"],
        "Pipedrive": ["Deal - Stage", "Deal - Fase"],
        "HubSpot": ["Deal Stage", "Dealfase"],
    },
    "pipeline": {GENERIC: ["pipeline", "pijplijn", "trechter"]},
    "status": {
        GENERIC: ["status", "state"],
        "Pipedrive": ["Deal - Status"],
    },
    "assignee": {
        GENERIC: ["assignee", "owner", "eigenaar", "toegewezen aan", "verantwoordelijke"],
        "Pipedrive": ["Deal - Owner", "Deal - Eigenaar"],
        "HubSpot": ["Deal owner", "Eigenaar deal", "Dealeigenaar"],
        "Salesforce": ["Opportunity Owner", "Eigenaar verkoopkans"],
        "Odoo": ["Salesperson", "Verkoper"],
    },
    "client": {
        GENERIC: ["client", "klant", "company", "bedrijf", "organisation", "organization"],
        "Pipedrive": ["Deal - Organization", "Deal - Organisatie"],
        "HubSpot": ["Associated Company", "Gekoppeld bedrijf"],
        "Salesforce": ["Account Name", "account", "Accountnaam"],
        "Odoo": ["Customer"],
    },
    "contact": {
        GENERIC: ["contact", "contactpersoon", "contact person", "contact email"],
        "Pipedrive": ["Deal - Contact person", "Deal - Contactpersoon"],
        "HubSpot": ["Associated Contact", "Gekoppeld contact"],
        "Salesforce": ["Contact Name"],
        "Odoo": ["Contactnaam"],
        "Twenty": ["Point of Contact"],
    },
    "category": {
        GENERIC: ["category", "categorie"],
        "Pipedrive": ["Deal - Label"],
        "HubSpot": ["Deal Type", "Dealtype"],
        "Salesforce": ["Type"],
        "Odoo": ["Tags", "Labels"],
    },
    "currency": {
        GENERIC: ["currency", "valuta", "munteenheid"],
        "Pipedrive": ["Deal - Currency of Value", "Deal - Currency", "Deal - Valuta"],
        "HubSpot": ["Currency Code", "Valutacode"],
        "Salesforce": ["Amount Currency", "Opportunity Currency"],
        "Twenty": ["Amount Currency Code", "Amount Currency"],
    },
    "lost_reason": {
        GENERIC: ["reason lost", "lost because", "verliesreden", "reden verlies"],
        "Pipedrive": ["Deal - Lost reason", "Deal - Reden van verlies"],
        "HubSpot": ["Closed Lost Reason", "Reden gesloten verloren"],
        "Salesforce": ["Loss Reason"],
        "Odoo": ["Lost Reason", "Reden verloren"],
    },
    "competitor": {GENERIC: ["concurrent", "won by", "gewonnen door"]},
    "lost_note": {GENERIC: ["verliesnotitie", "toelichting verlies"]},
    "won_value": {GENERIC: ["won amount", "gewonnen waarde", "gewonnen bedrag"]},
    "actual_close_date": {
        GENERIC: ["closed on", "date closed", "gesloten op", "werkelijke sluitdatum"],
        "Pipedrive": ["Deal - Deal closed on", "Deal - Deal gesloten op"],
    },
}

#: The same for an organizations export (our clients): Pipedrive's "Organization - …",
#: HubSpot's companies, Salesforce's accounts, Odoo's companies (res.partner), Twenty's
#: companies. "postcode", "city" and "country" are parts the address is made of.
CLIENT_ALIASES: dict[str, dict[str, list[str]]] = {
    "name": {
        GENERIC: ["name", "naam", "organization", "organisation", "company", "bedrijf", "client"],
        "Pipedrive": ["Organization - Name", "Organisatie - Naam"],
        "HubSpot": ["Company name", "Bedrijfsnaam"],
        "Salesforce": ["Account Name", "Accountnaam"],
    },
    # Not "type": HubSpot's and Salesforce's company type (Prospect, Partner) is no kind.
    "kind": {GENERIC: ["kind", "soort"]},
    "email": {
        GENERIC: ["email", "e mail", "email address", "e mailadres"],
        "Twenty": ["Emails Primary Email"],
    },
    "phone": {
        GENERIC: ["phone", "telefoon", "phone number", "telefoonnummer"],
        "Pipedrive": ["Organization - Phone", "Organisatie - Telefoon"],
        "Salesforce": ["Account Phone"],
        "Twenty": ["Phones Primary Phone Number"],
    },
    "website": {
        GENERIC: ["website", "web site", "url", "webadres"],
        "Pipedrive": ["Organization - Website", "Organisatie - Website"],
        "HubSpot": ["Website URL", "Company Domain Name", "Domeinnaam bedrijf"],
        "Odoo": ["Website Link"],
        "Twenty": ["Domain Name", "Domain Name Primary Link Url"],
    },
    "address": {
        GENERIC: ["address", "adres", "street", "straat", "street address"],
        "Pipedrive": ["Organization - Address", "Organisatie - Adres"],
        "HubSpot": ["Straatadres"],
        "Salesforce": ["Billing Street", "Factuurstraat"],
        "Twenty": ["Address Address Street1"],
    },
    "postcode": {
        GENERIC: ["postcode", "postal code", "zip", "zip code"],
        "Salesforce": ["Billing Zip/Postal Code"],
        "Twenty": ["Address Address Postcode"],
    },
    "city": {
        GENERIC: ["city", "plaats", "stad", "woonplaats"],
        "Salesforce": ["Billing City"],
        "Twenty": ["Address Address City"],
    },
    "country": {
        GENERIC: ["country", "land", "country region"],
        "Salesforce": ["Billing Country"],
        "Twenty": ["Address Address Country"],
    },
    "notes": {
        GENERIC: ["notes", "notities", "description", "omschrijving", "opmerkingen"],
        "Odoo": ["Internal Notes", "Interne notities"],
    },
}

#: The same for a people export (our contacts): Pipedrive's "Person - …", HubSpot's and
#: Salesforce's contacts, Odoo's individual contacts, Twenty's people. A first and a last
#: name column make the name together.
CONTACT_ALIASES: dict[str, dict[str, list[str]]] = {
    "name": {
        GENERIC: ["name", "naam", "full name", "volledige naam", "contact name", "contact"],
        "Pipedrive": ["Person - Name", "Persoon - Naam"],
    },
    "first_name": {
        GENERIC: ["first name", "voornaam", "given name"],
        "Twenty": ["Name First Name"],
    },
    "last_name": {
        GENERIC: ["last name", "achternaam", "surname", "family name"],
        "Twenty": ["Name Last Name"],
    },
    "client": {
        GENERIC: [
            "organization",
            "organisation",
            "company",
            "company name",
            "bedrijf",
            "client",
            "klant",
            "organisatie",
        ],
        "Pipedrive": ["Person - Organization", "Persoon - Organisatie"],
        "HubSpot": ["Associated Company", "Gekoppeld bedrijf"],
        "Salesforce": ["Account Name", "Accountnaam"],
        "Odoo": ["Related Company", "Gerelateerd bedrijf"],
    },
    "email": {
        GENERIC: ["email", "e mail", "email address", "e mailadres"],
        "Pipedrive": ["Person - Email", "Person - Email - Work", "Persoon - E-mail"],
        "Twenty": ["Emails Primary Email"],
    },
    "phone": {
        GENERIC: ["phone", "telefoon", "phone number", "telefoonnummer", "mobile", "mobiel"],
        "Pipedrive": ["Person - Phone", "Person - Phone - Work", "Persoon - Telefoon"],
        "Twenty": ["Phones Primary Phone Number"],
    },
    "job_title": {
        GENERIC: ["job title", "functie", "title", "function", "position"],
        "Pipedrive": ["Person - Job title", "Persoon - Functie"],
        "Odoo": ["Job Position"],
    },
}

#: Each table by what a file holds (``LeadImport.Kind``).
ALIASES_BY_KIND = {"leads": ALIASES, "clients": CLIENT_ALIASES, "contacts": CONTACT_ALIASES}

#: Words of a status column (or a stage's name) that say a deal was won or lost, as the
#: peers write them: Pipedrive's won/lost, HubSpot's "Closed Won" (closedwon),
#: Salesforce's "Closed Won", Odoo's "Won"; anything else is open.
STATUS_WORDS = {
    # Twenty's last stage, "Customer", is a won deal.
    "won": ["won", "closed won", "closedwon", "gewonnen", "gesloten gewonnen", "customer"],
    "lost": ["lost", "closed lost", "closedlost", "verloren", "gesloten verloren"],
    "open": ["open", "active", "in progress", "actief"],
}

#: The win probability of the peers' default stages, where their export leaves it out:
#: the stage step proposes our open stage nearest to it.
KNOWN_STAGE_PROBABILITY = {
    # HubSpot's default sales pipeline (labels and internal names).
    "appointment scheduled": 20,
    "appointmentscheduled": 20,
    "qualified to buy": 40,
    "qualifiedtobuy": 40,
    "presentation scheduled": 60,
    "presentationscheduled": 60,
    "decision maker bought in": 80,
    "decisionmakerboughtin": 80,
    "contract sent": 90,
    "contractsent": 90,
    # Salesforce's default opportunity stages.
    "prospecting": 10,
    "qualification": 10,
    "needs analysis": 20,
    "value proposition": 50,
    "id decision makers": 60,
    "perception analysis": 70,
    "proposal price quote": 75,
    "negotiation review": 90,
    # Pipedrive's default pipeline.
    "lead in": 10,
    "contact made": 20,
    "demo scheduled": 50,
    "proposal made": 60,
    "negotiations started": 80,
    # Twenty's opportunity stages.
    "new": 10,
    "screening": 20,
    "meeting": 40,
    "proposal": 60,
}


#: The peers' default lead sources, as their exports write them → our source's slug
#: (used where that source exists here): Salesforce's picklist, HubSpot's original
#: source types, Pipedrive's source channels.
SOURCE_VALUES = {
    "web": "website",
    "website": "website",
    "organic search": "website",
    "direct traffic": "website",
    "phone inquiry": "phone",
    "partner referral": "partner",
    "employee referral": "referral",
    "external referral": "referral",
    "referrals": "referral",
    "word of mouth": "referral",
    "purchased list": "campaign",
    "paid search": "campaign",
    "other campaigns": "campaign",
    "email marketing": "email",
    "social media": "social_media",
    "paid social": "social_media",
    "trade show": "event",
    "seminar partner": "event",
    "offline sources": "other",
}


def normalise(name: str) -> str:
    """A name without case, accents or punctuation: "Deal - Title" → "deal title"."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[^0-9a-z]+", " ", plain).strip()


def status_of(text: str) -> str | None:
    """ "won", "lost" or "open" for a status word (or a closed stage's name), else None."""
    key = normalise(text)
    for status, words in STATUS_WORDS.items():
        if key in words or key.replace(" ", "") in words:
            return status
    return None


def names(labels: dict[str, str], kind: str = "leads") -> dict[str, tuple[str, tuple[str, ...]]]:
    """{normalised header: (field, products)} for every name in the kind's table and
    every field's own name and label (``labels``: field → label). Our own names come
    first and keep their field; a name two products share ("Deal Stage" is HubSpot's
    and, without its dash, Pipedrive's) lists both, in the table's order."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for key, label in labels.items():
        for name in (key, key.replace("_", " "), label):
            if normalised := normalise(name):
                found.setdefault(normalised, (key, (GENERIC,)))
    for key, by_product in ALIASES_BY_KIND[kind].items():
        if key not in labels:
            continue  # a field the form no longer offers
        for product, aliases in by_product.items():
            for name in aliases:
                normalised = normalise(name)
                field, products = found.setdefault(normalised, (key, ()))
                if field == key and product not in products and GENERIC not in products:
                    found[normalised] = (key, (*products, product))
    return found
