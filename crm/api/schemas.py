"""What the API reads and writes, as pydantic schemas: the OpenAPI schema and the JSON
shapes come from these declarations, and every response is serialised through them.

Input schemas say the JSON types (a wrong type is refused before anything else); the
values' rules and their messages are the pages' forms' (``FORM`` names the form whose
field messages a wrong type or a missing field reads as). Unknown fields are refused.
"""

import datetime
from decimal import Decimal
from typing import ClassVar, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from crm.forms import ClientForm, ContactForm
from leads.forms import LeadForm, NoteForm, StageMoveForm
from leads.models import Priority

PriorityValue = Literal[tuple(Priority.values)]  # type: ignore[valid-type]


def requires(*names: str):
    """Mark fields required in the OpenAPI schema that the form, not pydantic, insists
    on: a missing one is then refused with the form's own message."""

    def extra(schema: dict) -> None:
        schema["required"] = sorted({*schema.get("required", []), *names})

    return extra


class Input(Schema):
    """A request body: only the fields listed; each one optional unless required."""

    model_config = ConfigDict(extra="forbid")
    #: The form whose messages a missing field or a value of the wrong type reads as.
    FORM: ClassVar[type | None] = None


# --- references: what a row points at --------------------------------------------------------


class UserRef(Schema):
    id: int
    username: str
    name: str = Field(..., description="The full name, or the username when there is none.")

    @staticmethod
    def resolve_name(user) -> str:
        return user.get_full_name() or user.get_username()


class Named(Schema):
    id: int
    name: str


class RemovableRef(Named):
    deleted: bool = Field(..., description="Soft-deleted: kept for the leads that name it.")

    @staticmethod
    def resolve_deleted(obj) -> bool:
        return obj.deleted_at is not None


class StageRef(Named):
    kind: Literal["open", "won", "lost"]
    pipeline_id: int


class SourceRef(Schema):
    id: int
    slug: str
    label: str


# --- leads -----------------------------------------------------------------------------------


class LeadOut(Schema):
    id: int
    title: str
    description: str
    status: Literal["open", "won", "lost"]
    stage: StageRef
    value: Decimal | None = Field(..., description="Euros; null: unknown.")
    probability: int | None
    priority: PriorityValue
    score: int | None = Field(..., description="0–100; null: not scored.")
    expected_close_date: datetime.date | None
    category: str
    source: SourceRef | None
    client: RemovableRef | None
    contact: RemovableRef | None
    assignee: UserRef | None
    created_by_id: int | None
    actual_close_date: datetime.date | None
    won_value: Decimal | None
    lost_reason: Named | None
    competitor: str
    lost_note: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    stage_entered_at: datetime.datetime
    last_activity_at: datetime.datetime
    closed_at: datetime.datetime | None
    version: int = Field(..., description="Send it back with a change: 409 if it moved on.")
    url: str = Field(..., description="The lead's page in the CRM.")

    @staticmethod
    def resolve_status(lead) -> str:
        return lead.stage.kind

    @staticmethod
    def resolve_score(lead):
        return getattr(lead, "score", None)

    @staticmethod
    def resolve_url(lead) -> str:
        return lead.get_absolute_url()


class LeadFields(Input):
    """The fields of a lead people set: the lead form's (``LeadForm.Meta.fields``)."""

    FORM = LeadForm

    title: str = None
    description: str = None
    client: int | None = None
    contact: int | None = Field(None, description="Must be a contact of the client.")
    stage: int = Field(None, description="Default: the first open stage of the default pipeline.")
    value: Decimal | None = Field(None, description="Euros; null: unknown.")
    probability: int | None = Field(None, description="0–100; null: the stage's.")
    priority: PriorityValue = None
    expected_close_date: datetime.date | None = None
    source: int | None = None
    assignee: int | None = Field(None, description="A user's id; null: unassigned.")
    category: str = None
    lost_reason: int | None = Field(None, description="Required for a lost stage.")
    competitor: str = None
    lost_note: str = None
    won_value: Decimal | None = None
    actual_close_date: datetime.date | None = None


class LeadCreate(LeadFields):
    model_config = ConfigDict(json_schema_extra=requires("title"))


class LeadUpdate(LeadFields):
    version: int = Field(..., description="The version you read: 409 if it moved on.")


class MoveIn(Input):
    """A move to another stage of the lead's pipeline; into a won or lost stage, how the
    lead closed (the move dialog's form)."""

    FORM = StageMoveForm
    model_config = ConfigDict(json_schema_extra=requires("stage"))

    stage: int = None
    version: int | None = Field(None, description="The version you read: 409 if it moved on.")
    actual_close_date: datetime.date | None = Field(None, description="Won or lost; default today.")
    won_value: Decimal | None = Field(None, description="Won; default the lead's value.")
    lost_reason: int | None = Field(None, description="Lost: required.")
    competitor: str = None
    lost_note: str = None


class AssignIn(Input):
    FORM = LeadForm

    # Required by pydantic itself: the form takes a missing assignee for nobody.
    assignee: int | None = Field(..., description="An active user's id; null: nobody.")
    version: int | None = Field(None, description="The version you read: 409 if it moved on.")


class NoteIn(Input):
    FORM = NoteForm
    model_config = ConfigDict(json_schema_extra=requires("text"))

    text: str = None


class EventOut(Schema):
    id: int
    kind: str
    at: datetime.datetime
    actor: UserRef | None
    text: str = Field(..., description="The event as the timeline says it.")
    data: dict = Field(..., description="What the event recorded (field, old, new, ...).")

    @staticmethod
    def resolve_text(event) -> str:
        return event.describe()

    @staticmethod
    def resolve_data(event) -> dict:
        return event.data if isinstance(event.data, dict) else {"value": event.data}


# --- clients and contacts --------------------------------------------------------------------


class PeopleOut(Schema):
    """What a client and a contact both answer with: soft deletion, the open leads a
    list counted, and the page's address."""

    @staticmethod
    def resolve_deleted(obj) -> bool:
        return obj.deleted_at is not None

    @staticmethod
    def resolve_open_leads(obj):
        return getattr(obj, "open_leads", None)

    @staticmethod
    def resolve_url(obj) -> str:
        return obj.get_absolute_url()


class ClientOut(PeopleOut):
    id: int
    name: str
    kind: Literal["organization", "person"]
    email: str
    phone: str
    website: str
    address: str
    notes: str
    open_leads: int | None = Field(None, description="In lists: how many open leads it has.")
    created_at: datetime.datetime
    updated_at: datetime.datetime
    deleted: bool
    url: str


class ClientFields(Input):
    FORM = ClientForm

    name: str = None
    kind: Literal["organization", "person"] = None
    email: str = None
    phone: str = None
    website: str = None
    address: str = None
    notes: str = None


class ClientCreate(ClientFields):
    model_config = ConfigDict(json_schema_extra=requires("name"))


class ContactOut(PeopleOut):
    id: int
    name: str
    client: RemovableRef
    job_title: str
    email: str
    phone: str
    open_leads: int | None = Field(None, description="In lists: how many open leads it has.")
    created_at: datetime.datetime
    updated_at: datetime.datetime
    deleted: bool
    url: str


class ContactFields(Input):
    FORM = ContactForm

    name: str = None
    client: int = None
    job_title: str = None
    email: str = None
    phone: str = None


class ContactCreate(ContactFields):
    model_config = ConfigDict(json_schema_extra=requires("name", "client"))


# --- what leads point at ---------------------------------------------------------------------


class StageOut(Schema):
    id: int
    name: str
    order: int
    kind: Literal["open", "won", "lost"]
    probability: int | None


class PipelineOut(Schema):
    id: int
    name: str
    is_default: bool
    stages: list[StageOut]

    @staticmethod
    def resolve_stages(pipeline) -> list:
        return list(pipeline.stages.all())


class SourceOut(SourceRef):
    active: bool


class LossReasonOut(Named):
    slug: str
    active: bool
    note_required: bool


class UserOut(UserRef):
    first_name: str
    last_name: str
    email: str
    is_active: bool
    roles: list[str] = Field(..., description="Its groups: Sales rep, Sales manager.")

    @staticmethod
    def resolve_roles(user) -> list[str]:
        return [group.name for group in user.groups.all()]


# --- pages -----------------------------------------------------------------------------------


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A page of ``item``s and the cursor of the next page."""
    return type(
        name,
        (Schema,),
        {
            "__annotations__": {"results": list[item], "next_cursor": str | None},
            "next_cursor": Field(
                ..., description="Pass as ?cursor= for the next page; null on the last page."
            ),
        },
    )


LeadPage = page_of(LeadOut, "LeadPage")
EventPage = page_of(EventOut, "EventPage")
ClientPage = page_of(ClientOut, "ClientPage")
ContactPage = page_of(ContactOut, "ContactPage")
