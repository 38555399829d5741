"""Switching from another CRM: its deal export imports as it comes.

The files under fixtures/peers/ are written from each product's documented export
columns (Pipedrive's "Deal - …", HubSpot's deal properties, a Salesforce Opportunities
report, Odoo's crm.lead fields in Dutch, Twenty's opportunity fields), with the values
as each writes them (times after dates, thousands separators, their own stage names,
owners by name, a deal in USD).
"""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from crm.models import Client, Contact
from leads.import_columns import ALIASES_BY_KIND, GENERIC, normalise
from leads.imports import (
    StageSeen,
    auto_mapping,
    file_product,
    propose_stage,
    recognise,
    stage_choices,
)
from leads.models import ImportTemplate, Lead, LeadImport
from tests.factories import ClientFactory, ContactFactory, RepFactory, default_stage
from tests.leads.test_import import detail_url, mapping_data, text, uploaded

pytestmark = pytest.mark.django_db

PEERS = Path(__file__).parent / "fixtures" / "peers"


def peer_file(name: str) -> bytes:
    return (PEERS / name).read_bytes()


@pytest.fixture
def team(db):
    """The users the files name as owners, by full name or email."""
    return {
        "jan": RepFactory(username="jdevries", first_name="Jan", last_name="de Vries"),
        "carla": RepFactory(
            username="csmit", first_name="Carla", last_name="Smit", email="carla@example.com"
        ),
    }


def stage_data(response, choices: dict[str, object] | None = None) -> dict:
    """The stage step's fields as the page shows them, with ``choices`` (their name →
    our stage, or None for "not matched") changed."""
    form = response.context["stage_form"]
    data = {}
    for field, seen, _ in form.bound_rows():
        value = field.value()
        if choices and seen.name in choices:
            chosen = choices[seen.name]
            value = str(chosen.pk) if chosen is not None else ""
        data[field.html_name] = value or ""
    return data


def post(client, lead_import, action, *, stages=None, page=None, **options):
    data = mapping_data(lead_import, action, **options)
    if page is not None:
        data |= stage_data(page, stages)
    return client.post(detail_url(lead_import), data)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def run(client, lead_import, page=None, **options):
        page = page or client.get(detail_url(lead_import))
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, lead_import, "run", page=page, **options)
        assert response.status_code == 302, text(response)
        lead_import.refresh_from_db()
        return lead_import

    return run


# --- the alias table ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALIASES_BY_KIND)
def test_no_name_in_the_alias_table_is_given_to_two_fields(kind):
    owners = {}
    for key, by_product in ALIASES_BY_KIND[kind].items():
        for names in by_product.values():
            for name in names:
                owners.setdefault(normalise(name), set()).add(key)
    assert {name: keys for name, keys in owners.items() if len(keys) > 1} == {}


@pytest.mark.parametrize("kind", ALIASES_BY_KIND)
def test_every_name_in_each_alias_table_is_recognised_as_its_field(kind):
    for key, by_product in ALIASES_BY_KIND[kind].items():
        for names in by_product.values():
            for name in names:
                assert auto_mapping([name], kind) == {"0": key}, name


def test_headers_match_without_case_accents_or_punctuation():
    assert auto_mapping(["DEAL_TITLE", "deal.value", "Deal – Stage"]) == {
        "0": "title",
        "1": "value",
        "2": "stage",
    }
    assert auto_mapping(["Prioritéit", "Titel"]) == {"0": "priority", "1": "title"}


def test_our_own_names_win_over_a_products_name_for_the_same_field():
    # Twenty calls the title "Name"; beside a "Title" column, the title is the Title.
    assert auto_mapping(["Name", "Title"]) == {"1": "title"}
    assert auto_mapping(["Name", "Amount"]) == {"0": "title", "1": "value"}


def test_dutch_pipedrive_and_hubspot_headers_are_recognised():
    headers = ["Deal - Titel", "Deal - Waarde", "Deal - Organisatie", "Deal - Fase"]
    assert list(auto_mapping(headers).values()) == ["title", "value", "client", "stage"]
    assert list(auto_mapping(["Dealnaam", "Dealfase", "Bedrag"]).values()) == [
        "title",
        "stage",
        "value",
    ]


# --- each product's file at the mapping step ---------------------------------------------------

EXPECTED = {
    "pipedrive_deals.csv": (
        "Pipedrive",
        {
            "Deal - Title": "title",
            "Deal - Owner": "assignee",
            "Deal - Value": "value",
            "Deal - Currency of Value": "currency",
            "Deal - Probability": "probability",
            "Deal - Organization": "client",
            "Deal - Contact person": "contact",
            "Deal - Stage": "stage",
            "Deal - Label": "category",
            "Deal - Status": "status",
            "Deal - Expected close date": "expected_close_date",
            "Deal - Lost reason": "lost_reason",
            "Deal - Deal closed on": "actual_close_date",
        },
    ),
    "hubspot_deals.csv": (
        "HubSpot",
        {
            "Deal Name": "title",
            "Deal Stage": "stage",
            "Amount": "value",
            "Close Date": "expected_close_date",
            "Deal owner": "assignee",
            "Pipeline": "pipeline",
            "Associated Company": "client",
            "Closed Lost Reason": "lost_reason",
            "Deal Type": "category",
        },
    ),
    "salesforce_opportunities.csv": (
        "Salesforce",
        {
            "Opportunity Owner": "assignee",
            "Account Name": "client",
            "Opportunity Name": "title",
            "Stage": "stage",
            "Amount Currency": "currency",
            "Amount": "value",
            "Probability (%)": "probability",
            "Close Date": "expected_close_date",
            "Lead Source": "source",
            "Type": "category",
        },
    ),
    "odoo_verkoopkansen.csv": (
        "Odoo",
        {
            "Verkoopkans": "title",
            "Klant": "client",
            "Contactnaam": "contact",
            "Verkoper": "assignee",
            "Verwachte omzet": "value",
            "Kans": "probability",
            "Fase": "stage",
            "Verwachte afsluiting": "expected_close_date",
            "Labels": "category",
            "Prioriteit": "priority",
            "Valuta": "currency",
        },
    ),
    "twenty_opportunities.csv": (
        "Twenty",
        {
            "Name": "title",
            "Amount Amount": "value",
            "Amount Currency Code": "currency",
            "Close date": "expected_close_date",
            "Stage": "stage",
            "Company": "client",
            "Point of Contact": "contact",
        },
    ),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_each_products_export_arrives_mapped_and_unknown_columns_ignored(rep_client, name):
    product, expected = EXPECTED[name]
    lead_import = uploaded(rep_client, peer_file(name), name)
    mapped = {lead_import.headers[int(index)]: key for index, key in lead_import.mapping.items()}
    assert mapped == expected
    assert file_product(recognise(lead_import.headers)) == product
    # A name two products share ("Deal Stage") is said to be this file's product's.
    assert {seen.product for seen in recognise(lead_import.headers).values()} <= {
        product,
        GENERIC,
    }
    page = rep_client.get(detail_url(lead_import))
    said = text(page)
    assert f"This looks like an export from {product}" in said
    # The "why" of a product's own column names the product.
    own = next(
        header
        for index, header in enumerate(lead_import.headers)
        if (seen := recognise(lead_import.headers).get(str(index))) and seen.product == product
    )
    label = dict(page.context["form"].fields[f"column_{lead_import.headers.index(own)}"].choices)[
        expected[own]
    ]
    assert f"{own} → {label} ({product})" in said
    # Every column nothing recognised is set to "ignore", never to a guess.
    for index, header in enumerate(lead_import.headers):
        if header not in expected:
            assert page.context["form"][f"column_{index}"].value() in ("", None), header


def test_the_user_can_still_change_a_recognised_column(rep_client, team):
    lead_import = uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv")
    label_at = lead_import.headers.index("Deal - Label")
    mapping = dict(lead_import.mapping)
    del mapping[str(label_at)]  # the label is not a category here
    mapping[str(lead_import.headers.index("Deal - Creator"))] = "description"
    response = rep_client.post(
        detail_url(lead_import), mapping_data(lead_import, "preview", mapping=mapping)
    )
    assert response.status_code == 200
    lead_import.refresh_from_db()
    assert str(label_at) not in lead_import.mapping
    assert lead_import.mapping[str(lead_import.headers.index("Deal - Creator"))] == "description"


# --- their stages, their owners, their companies ---------------------------------------------


def test_stage_step_lists_every_stage_name_with_a_proposal_and_why(rep_client):
    lead_import = uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    rows = {
        seen.name: (proposal.stage, proposal.why)
        for _, seen, proposal in page.context["stage_form"].bound_rows()
    }
    assert rows == {
        "Qualified": (default_stage("Qualified"), "same name"),
        "Negotiations Started": (default_stage("Negotiation"), "similar name"),
        "Proposal Made": (default_stage("Proposal"), "similar name"),
        "Contact Made": (default_stage("Contacted"), "similar name"),
        "Lead In": (default_stage("New"), "probability 10 %"),
    }
    said = text(page)
    assert "3. Match their stages to ours" in said
    assert "New · probability 10 %" in said


def test_stage_proposals_exact_then_won_or_lost_then_similar_then_probability():
    stages = stage_choices()

    def proposed(name, probability=None):
        proposal = propose_stage(StageSeen(name, 1, probability), stages)
        return proposal.stage and proposal.stage.name

    assert proposed("QUALIFIED") == "Qualified"
    assert proposed("closedwon") == "Won"
    assert proposed("Closed Lost") == "Lost"
    assert proposed("Gewonnen") == "Won"
    assert proposed("Negotiation/Review") == "Negotiation"
    assert proposed("Gekwalificeerd", 38.0) == "Qualified"  # the file's mean probability
    assert proposed("Qualifed") == "Qualified"  # misspelt
    assert proposed("Proposal made") == "Proposal"  # its first word
    # Alike in letters, not in meaning: HubSpot's default probability (90 %) decides.
    assert proposed("Contract Sent") == "Negotiation"
    assert proposed("Something of our own") is None  # nothing to go by: the user chooses


def test_a_confirmed_stage_choice_is_what_rows_import_into(rep_client, team, run):
    lead_import = uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    lead_import = run(
        rep_client,
        lead_import,
        create_clients=True,
        create_contacts=True,
        stages={"Qualified": default_stage("Proposal")},
        page=page,
    )
    assert lead_import.stage_map["Qualified"] == default_stage("Proposal").pk
    assert Lead.objects.get(title="Acme website redesign").stage == default_stage("Proposal")


def test_a_stage_left_unmatched_refuses_its_rows_with_a_clear_message(rep_client, team):
    lead_import = uploaded(rep_client, peer_file("hubspot_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    response = post(
        rep_client,
        lead_import,
        "preview",
        page=page,
        create_clients=True,
        stages={"Contract Sent": None},
    )
    assert "Row 3: Unknown stage “Contract Sent” in pipeline Sales" in text(response)


def test_a_stage_step_value_that_is_no_stage_is_a_422_and_keeps_the_mapping(rep_client):
    lead_import = uploaded(rep_client, peer_file("hubspot_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    data = mapping_data(lead_import, "preview") | stage_data(page)
    field = next(key for key in data if key.startswith("stage-"))
    data[field] = "999999"
    response = rep_client.post(detail_url(lead_import), data)
    assert response.status_code == 422
    assert "Choose a stage from the list for each name." in text(response)
    lead_import.refresh_from_db()
    assert lead_import.status == LeadImport.Status.UPLOADED


def test_owners_by_full_name_or_email_and_an_unknown_one_unassigned(rep_client, team, run):
    lead_import = uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    preview = post(
        rep_client, lead_import, "preview", page=page, create_clients=True, create_contacts=True
    )
    said = text(preview)
    assert "Row 5: Owner “Peter Nobody” is not a user here: imported unassigned" in said
    lead_import = run(rep_client, lead_import, create_clients=True, create_contacts=True)
    leads = {lead.title: lead for lead in Lead.objects.select_related("assignee")}
    assert leads["Acme website redesign"].assignee == team["jan"]
    assert leads["Globex CRM rollout"].assignee == team["carla"]  # by email
    assert leads["Initech support contract"].assignee == team["carla"]  # by full name


def test_companies_match_without_case_or_punctuation_and_contacts_are_created(
    rep_client, team, run
):
    acme = ClientFactory(name="ACME BV")
    ann = ContactFactory(client=acme, name="Ann Jansen")
    lead_import = uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    preview = text(
        post(
            rep_client, lead_import, "preview", page=page, create_clients=True, create_contacts=True
        )
    )
    assert "1 new contact will be created" in preview
    lead_import = run(rep_client, lead_import, create_clients=True, create_contacts=True)
    leads = {lead.title: lead for lead in Lead.objects.all()}
    # "Acme B.V." and "ACME BV" are the client there was.
    assert leads["Acme website redesign"].client == acme
    assert leads["Acme website redesign"].contact == ann
    assert leads["Umbrella pilot"].client == acme
    globex = Client.objects.get(name="Globex Corporation")
    bob = Contact.objects.get(name="Bob Baker")
    assert (leads["Globex CRM rollout"].client, leads["Globex CRM rollout"].contact) == (
        globex,
        bob,
    )
    assert bob.client == globex
    assert bob.events.get().describe() == "Created the contact by the import of deals.csv"


def test_a_missing_contact_is_refused_unless_creating_them_is_chosen(rep_client, team):
    lead_import = uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    said = text(post(rep_client, lead_import, "preview", page=page, create_clients=True))
    assert (
        "Row 3: Contact “Bob Baker” is not a contact of Globex Corporation "
        "(choose to create missing contacts)"
    ) in said
    assert not Contact.objects.exists()


# --- each product's file imported --------------------------------------------------------------


def imported_leads():
    return {lead.title: lead for lead in Lead.objects.select_related("stage", "lost_reason")}


def test_pipedrive_deals_import(rep_client, team, run):
    lead_import = run(
        rep_client,
        uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv"),
        create_clients=True,
        create_contacts=True,
    )
    assert lead_import.created_count == 4, lead_import.error_report
    assert lead_import.error_report.splitlines()[1:] == ["6,Currency “USD” is not EUR"]
    leads = imported_leads()
    assert leads["Acme website redesign"].value == Decimal("12500")
    assert leads["Acme website redesign"].expected_close_date == datetime.date(2027, 2, 15)
    assert leads["Acme website redesign"].category == "Hot"
    # Status "won": the pipeline's won stage, whatever stage the deal was last in.
    assert leads["Initech support contract"].stage == default_stage("Won")
    assert leads["Initech support contract"].actual_close_date == datetime.date(2026, 10, 20)
    assert leads["Umbrella pilot"].stage == default_stage("Lost")
    assert leads["Umbrella pilot"].lost_reason.name == "Price too high"


def test_hubspot_deals_import(rep_client, team, run):
    lead_import = run(
        rep_client,
        uploaded(rep_client, peer_file("hubspot_deals.csv"), "deals.csv"),
        create_clients=True,
    )
    assert lead_import.created_count == 5, lead_import.error_report
    leads = imported_leads()
    assert leads["Acme website redesign"].stage == default_stage("Contacted")  # 20 %
    assert leads["Acme website redesign"].expected_close_date == datetime.date(2027, 2, 15)
    assert leads["Globex CRM rollout"].stage == default_stage("Negotiation")
    assert leads["Initech support contract"].stage == default_stage("Won")
    assert leads["Umbrella pilot"].stage == default_stage("Lost")
    assert leads["Umbrella pilot"].lost_reason.name == "Chose competitor"
    assert leads["Hooli licences"].value == Decimal("7200.50")
    assert leads["Hooli licences"].assignee is None


def test_salesforce_opportunities_import_refuses_the_usd_row(rep_client, team, run):
    lead_import = run(
        rep_client,
        uploaded(rep_client, peer_file("salesforce_opportunities.csv"), "report.csv"),
        create_clients=True,
    )
    assert lead_import.created_count == 4
    assert lead_import.error_report.splitlines()[1:] == ["6,Currency “USD” is not EUR"]
    assert lead_import.summary == "Imported 4 leads. 1 row skipped (not in EUR)."
    leads = imported_leads()
    assert leads["Acme website redesign"].value == Decimal("12500.00")
    assert leads["Acme website redesign"].expected_close_date == datetime.date(2027, 2, 15)
    assert leads["Acme website redesign"].assignee == team["jan"]
    assert leads["Globex CRM rollout"].stage == default_stage("Negotiation")
    assert leads["Globex CRM rollout"].source.slug == "partner"
    assert leads["Initech support contract"].stage == default_stage("Won")
    # Lost without a reason column: "Other", which the preview said.
    assert leads["Umbrella pilot"].stage == default_stage("Lost")
    assert leads["Umbrella pilot"].lost_reason.name == "Other"


def test_odoo_dutch_export_imports(rep_client, team, run):
    lead_import = run(
        rep_client,
        uploaded(rep_client, peer_file("odoo_verkoopkansen.csv"), "crm.lead.csv"),
        create_clients=True,
        create_contacts=True,
    )
    assert lead_import.created_count == 3
    assert lead_import.error_report.splitlines()[1:] == ["5,Currency “USD” is not EUR"]
    leads = imported_leads()
    assert leads["Acme website redesign"].stage == default_stage("New")
    assert leads["Acme website redesign"].priority == "normal"  # "Gemiddeld"
    assert leads["Globex CRM rollout"].stage == default_stage("Proposal")  # "Voorstel", 70 %
    assert leads["Globex CRM rollout"].priority == "urgent"  # "Zeer hoog"
    assert leads["Initech support contract"].stage == default_stage("Won")
    assert leads["Acme website redesign"].contact.name == "Ann Jansen"


def test_twenty_opportunities_import(rep_client, team, run):
    lead_import = run(
        rep_client,
        uploaded(rep_client, peer_file("twenty_opportunities.csv"), "opportunities.csv"),
        create_clients=True,
        create_contacts=True,
    )
    assert lead_import.created_count == 4
    assert lead_import.error_report.splitlines()[1:] == ["5,Currency “USD” is not EUR"]
    leads = imported_leads()
    assert leads["Acme website redesign"].stage == default_stage("New")
    assert leads["Acme website redesign"].value == Decimal("12500")
    # 23:30 in New York on 1 March is 2 March here.
    assert leads["Globex CRM rollout"].expected_close_date == datetime.date(2027, 3, 2)
    assert leads["Globex CRM rollout"].stage == default_stage("Proposal")
    assert leads["Initech support contract"].stage == default_stage("Won")  # "CUSTOMER"
    assert leads["Umbrella pilot"].stage == default_stage("Qualified")  # "MEETING", 40 %


# --- saved mappings ----------------------------------------------------------------------------


def test_a_saved_mapping_recognises_the_next_upload_with_the_same_header(rep_client, team):
    lead_import = uploaded(rep_client, peer_file("pipedrive_deals.csv"), "deals.csv")
    page = rep_client.get(detail_url(lead_import))
    mapping = dict(lead_import.mapping)
    mapping[str(lead_import.headers.index("Deal - Creator"))] = "description"
    data = mapping_data(lead_import, "preview", mapping=mapping) | stage_data(
        page, {"Lead In": default_stage("Contacted")}
    )
    data["template_name"] = "Pipedrive export"
    response = rep_client.post(detail_url(lead_import), data)
    assert response.status_code == 200
    template = ImportTemplate.objects.get(name="Pipedrive export")
    assert template.stage_map["Lead In"] == default_stage("Contacted").pk

    # Next month's export: the same columns, other spelling of the header's case.
    raw = peer_file("pipedrive_deals.csv").replace(b"Deal - Title", b"DEAL - TITLE")
    again = uploaded(rep_client, raw, "deals-december.csv")
    assert again.template == template
    assert again.mapping == mapping
    page = rep_client.get(detail_url(again))
    said = text(page)
    assert "These columns match your saved mapping “Pipedrive export”" in said
    assert "Deal - Creator → Description (saved mapping “Pipedrive export”)" in said
    chosen = {
        seen.name: field.value() for field, seen, _ in page.context["stage_form"].bound_rows()
    }
    assert chosen["Lead In"] == str(default_stage("Contacted").pk)


def test_a_file_with_other_columns_is_not_taken_for_a_saved_mapping(rep_client):
    ImportTemplate.objects.create(
        name="Old", header_key="title|value", headers=["Title", "Value"], mapping={"0": "title"}
    )
    lead_import = uploaded(rep_client, b"Title,Value,Stage\nA,1,New\n")
    assert lead_import.template is None
    assert lead_import.mapping == {"0": "title", "1": "value", "2": "stage"}


def test_generic_names_say_no_product():
    assert recognise(["Title", "Waarde"]) == {
        "0": recognise(["Title"])["0"],
        "1": recognise(["Waarde"])["0"],
    }
    assert {seen.product for seen in recognise(["Title", "Waarde"]).values()} == {GENERIC}
    assert file_product(recognise(["Title", "Waarde"])) == ""
