"""The workspace's settings and the caller's own identity."""

from fastapi import APIRouter

from channels.http._deps import CurrentActor, Uow
from channels.http._models import MeView, SettingsPatch
from domain.services import workspace

router = APIRouter(prefix="/v1", tags=["workspace"])


@router.get("/settings", summary="Workspace settings")
def get_settings(actor: CurrentActor, uow: Uow) -> workspace.WorkspaceSettings:
    return workspace.get_settings(uow, actor)


@router.patch("/settings", summary="Change workspace settings (owners and finance)")
def update_settings(body: SettingsPatch, actor: CurrentActor, uow: Uow) -> workspace.WorkspaceSettings:
    return workspace.update_settings(uow, actor, body.model_dump(mode="json", exclude_unset=True))


@router.get("/me", summary="Who the token belongs to")
def me(actor: CurrentActor) -> MeView:
    return MeView(user_id=actor.user_id, email=actor.email, role=actor.role.value, kind=actor.kind.value,
                  client_ids=sorted(actor.client_ids) if actor.client_ids is not None else None)
