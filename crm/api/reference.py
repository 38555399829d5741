"""/api/v1/pipelines/, /sources/, /loss-reasons/ and /users/: what a lead points at, to
read (the admin manages them)."""

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from ninja import Router

from leads.models import LeadSource, LossReason
from pipelines.models import Pipeline, PipelineStage

from . import schemas
from .errors import COMMON, READ_ONE

router = Router()


def pipelines():
    stages = PipelineStage.objects.order_by("order", "id")
    return Pipeline.objects.order_by("-is_default", "name", "id").prefetch_related(
        Prefetch("stages", queryset=stages)
    )


@router.get("/pipelines/", response={200: list[schemas.PipelineOut], **COMMON}, tags=["Pipelines"])
def list_pipelines(request):
    """Every pipeline with its stages in order, the default pipeline first."""
    return list(pipelines())


@router.get(
    "/pipelines/{int:pipeline_id}/",
    response={200: schemas.PipelineOut, **READ_ONE},
    tags=["Pipelines"],
)
def get_pipeline(request, pipeline_id: int):
    return get_object_or_404(pipelines(), pk=pipeline_id)


@router.get("/sources/", response={200: list[schemas.SourceOut], **COMMON}, tags=["Sources"])
def list_sources(request):
    """Where leads come from; inactive ones are not offered for new leads."""
    return list(LeadSource.objects.order_by("order", "label", "id"))


@router.get(
    "/loss-reasons/", response={200: list[schemas.LossReasonOut], **COMMON}, tags=["Sources"]
)
def list_loss_reasons(request):
    """Why a lead was lost: a move to a lost stage names one."""
    return list(LossReason.objects.order_by("order", "name", "id"))


def users():
    return get_user_model().objects.prefetch_related("groups").order_by("username", "id")


@router.get("/users/", response={200: list[schemas.UserOut], **COMMON}, tags=["Users"])
def list_users(request):
    """The active users: who a lead can be assigned to."""
    return list(users().filter(is_active=True))


@router.get("/users/me/", response={200: schemas.UserOut, **COMMON}, tags=["Users"])
def get_me(request):
    """Who the token or the session stands for."""
    return users().get(pk=request.user.pk)


@router.get("/users/{int:user_id}/", response={200: schemas.UserOut, **READ_ONE}, tags=["Users"])
def get_user(request, user_id: int):
    return get_object_or_404(users(), pk=user_id)
