"""/api/v1/leads/: the list (the lead list's filters, search and sort), a lead, and every
write a lead's page offers, each through ``leads.services`` after the page's form
checked the values."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext, gettext_noop
from ninja import Query, Router, Status

from leads.filters import DEFAULT_SORT, LeadFilter
from leads.forms import LeadForm, NoteForm, StageMoveForm
from leads.models import Lead
from leads.services import (
    lead_add_note,
    lead_assign,
    lead_create,
    lead_delete,
    lead_move_stage,
    lead_update,
)

from . import schemas
from .errors import COMMON, READ_ONE, WRITE, WRITE_ONE, ConflictOut, Invalid, InvalidOut
from .lists import filtered, paged, query_of

router = Router(tags=["Leads"])

LeadQuery = query_of(LeadFilter, "LeadQuery")
TimelineQuery = query_of(None, "TimelineQuery")
#: What a chosen stage, client, contact, source or person gone meanwhile answers.
GONE_MEANWHILE = gettext_noop(
    "Something you chose (a stage, client, contact or person) was deleted meanwhile: choose again."
)


def shown() -> "Lead.objects":
    """Leads with everything ``LeadOut`` shows, in one query."""
    return Lead.objects.select_related(
        "stage", "source", "client", "contact", "assignee", "lost_reason"
    ).with_score()


def fresh(lead_id: int) -> Lead:
    return shown().get(pk=lead_id)


def form_data(lead: Lead) -> dict:
    """The lead's values as its form reads them: what a change leaves as it is."""
    return {
        name: Lead._meta.get_field(name).value_from_object(lead) for name in LeadForm.Meta.fields
    }


def bound_form(lead: Lead, changes: dict) -> LeadForm:
    """The lead form with the lead's values and the changes over them (a new lead: the
    model's defaults, as a blank form starts)."""
    form = LeadForm(data=form_data(lead) | changes, instance=lead)
    if not form.is_valid():
        raise Invalid.from_form(form)
    return form


def saving(write):
    """Run a write; what the services refuse after the form said yes, as 422 (the lead
    changed meanwhile and the model's rules say no, or a chosen row is gone)."""
    try:
        return write()
    except ValidationError as error:
        raise Invalid.from_django(error, LeadForm.Meta.fields) from None
    except IntegrityError:
        raise Invalid({"__all__": [gettext(GONE_MEANWHILE)]}) from None


def editable(request, lead_id: int, rule: str = "can_edit", refusal: str = "") -> Lead:
    """The lead, or 404; 403 unless the caller may (``Lead.can_edit``, ``can_delete``,
    ``can_assign``), as the lead's page decides."""
    lead = get_object_or_404(Lead.objects.select_related("stage"), pk=lead_id)
    if not getattr(lead, rule)(request.user):
        raise PermissionDenied(refusal or "You may not change this lead.")
    return lead


@router.get("/", response={200: schemas.LeadPage, 422: InvalidOut, **COMMON})
def list_leads(request, params: Query[LeadQuery]):
    """The lead list: the page's filters, search (`q`) and sort; open leads unless
    `status` says otherwise. A page at a time, by cursor."""
    filterset = filtered(LeadFilter, params, Lead.objects.all(), request)
    leads = filterset.for_pages(filterset.qs)
    leads = leads.select_related(
        "stage", "source", "client", "contact", "assignee", "lost_reason"
    ).with_score()
    return paged(leads, sort=filterset.current_sort or DEFAULT_SORT, params=params)


@router.post("/", response={201: schemas.LeadOut, **WRITE})
def create_lead(request, payload: schemas.LeadCreate):
    """A new lead, as the lead form makes it; without an assignee the assignment rules
    may give it one."""
    if not request.user.has_perm("leads.add_lead"):
        raise PermissionDenied("You may not add leads.")
    form = bound_form(Lead(), payload.model_dump(exclude_unset=True))
    lead = saving(lambda: lead_create(lead=form.save(commit=False), by=request.user))
    return Status(201, fresh(lead.pk))


@router.get("/{int:lead_id}/", response={200: schemas.LeadOut, **READ_ONE})
def get_lead(request, lead_id: int):
    return get_object_or_404(shown(), pk=lead_id)


@router.patch("/{int:lead_id}/", response={200: schemas.LeadOut, 409: ConflictOut, **WRITE_ONE})
def update_lead(request, lead_id: int, payload: schemas.LeadUpdate):
    """Change the fields sent, as the lead form would; `version` is the one you read
    (409 with the current version when someone saved the lead since)."""
    lead = editable(request, lead_id)
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    client_id = lead.client_id  # before the form writes its values on the lead
    form = bound_form(lead, changes)
    values = {name: form.cleaned_data[name] for name in changes}
    client = form.cleaned_data["client"]
    if "contact" in changes and getattr(client, "pk", None) != client_id:
        values["client"] = client  # a contact sent alone brings its client
    saving(
        lambda: lead_update(
            lead_id=lead.pk, values=values, expected_version=payload.version, by=request.user
        )
    )
    return fresh(lead.pk)


@router.delete("/{int:lead_id}/", response={204: None, **WRITE_ONE})
def delete_lead(request, lead_id: int):
    """Delete the lead; its history keeps a record of who deleted it."""
    lead = editable(request, lead_id, "can_delete", "You may not delete this lead.")
    lead_delete(lead_id=lead.pk, by=request.user)
    return Status(204, None)


@router.post("/{int:lead_id}/move/", response={200: schemas.LeadOut, 409: ConflictOut, **WRITE_ONE})
def move_lead(request, lead_id: int, payload: schemas.MoveIn):
    """Move the lead to another stage of its pipeline. Into a won stage: the close date
    and won value (defaults: today, the lead's value); into a lost stage: the reason
    (required), competitor, note and close date."""
    lead = editable(request, lead_id, refusal="You may not move this lead.")
    sent = payload.model_dump(exclude_unset=True, exclude={"version"})
    form = StageMoveForm(data=sent, lead=Lead.objects.for_display().get(pk=lead.pk))
    if not form.is_valid():
        raise Invalid.from_form(form)
    saving(
        lambda: lead_move_stage(
            lead_id=lead.pk,
            stage=form.cleaned_data["stage"],
            closing=form.closing(),
            expected_version=payload.version,
            by=request.user,
        )
    )
    return fresh(lead.pk)


@router.post(
    "/{int:lead_id}/assign/", response={200: schemas.LeadOut, 409: ConflictOut, **WRITE_ONE}
)
def assign_lead(request, lead_id: int, payload: schemas.AssignIn):
    """Give the lead to an active user, or to nobody (`null`)."""
    lead = editable(request, lead_id, "can_assign", "You may not assign this lead.")
    form = LeadForm(data=form_data(lead) | {"assignee": payload.assignee}, instance=lead)
    if not form.is_valid() and "assignee" in form.errors:
        raise Invalid({"assignee": list(form.errors["assignee"])})
    assignee = form.cleaned_data["assignee"]
    saving(
        lambda: lead_assign(
            lead_id=lead.pk, assignee=assignee, expected_version=payload.version, by=request.user
        )
    )
    return fresh(lead.pk)


@router.post("/{int:lead_id}/notes/", response={201: schemas.EventOut, **WRITE_ONE})
def add_note(request, lead_id: int, payload: schemas.NoteIn):
    """A note on the lead's timeline (it changes no field, nor the version)."""
    lead = editable(request, lead_id, refusal="You may not add notes to this lead.")
    form = NoteForm(data=payload.model_dump(exclude_unset=True))
    if not form.is_valid():
        raise Invalid.from_form(form)
    event = lead_add_note(lead_id=lead.pk, text=form.cleaned_data["text"], by=request.user)
    return Status(201, event)


@router.get(
    "/{int:lead_id}/timeline/",
    response={200: schemas.EventPage, 422: InvalidOut, **READ_ONE},
)
def lead_timeline(request, lead_id: int, params: Query[TimelineQuery]):
    """The lead's history and notes, newest first."""
    lead = get_object_or_404(Lead.objects.only("pk"), pk=lead_id)
    events = lead.events.select_related("actor").order_by("-at", "-id")
    return paged(events, sort="-at", params=params)
