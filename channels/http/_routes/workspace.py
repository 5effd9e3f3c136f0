"""The workspace's settings and the caller's own identity."""

from fastapi import APIRouter

from channels.http._deps import CurrentActor, Uow
from channels.http._models import MeView, SettingsPatch
from domain.model.parties import Seller
from domain.services import parties, workspace

router = APIRouter(prefix="/v1", tags=["workspace"])


@router.get("/settings", summary="Workspace settings")
def get_settings(actor: CurrentActor, uow: Uow) -> workspace.WorkspaceSettings:
    return workspace.get_settings(uow, actor)


@router.patch("/settings", summary="Change workspace settings (owners and finance)")
def update_settings(body: SettingsPatch, actor: CurrentActor, uow: Uow) -> workspace.WorkspaceSettings:
    return workspace.update_settings(uow, actor, body.model_dump(mode="json", exclude_unset=True))


@router.get("/settings/seller", summary="The seller's details, as invoices show them")
def get_seller(actor: CurrentActor, uow: Uow) -> Seller:
    return parties.get_seller(uow, actor)


@router.patch("/settings/seller", summary="Change the seller's details (owners): legal name, address, VAT ID, "
                                          "tax number, registration, contact, bank account, e-invoice address")
def update_seller(body: parties.SellerPatch, actor: CurrentActor, uow: Uow) -> Seller:
    return parties.update_seller(uow, actor, body)


@router.get("/me", summary="Who the token belongs to")
def me(actor: CurrentActor) -> MeView:
    return MeView(user_id=actor.user_id, email=actor.email, role=actor.role.value, kind=actor.kind.value,
                  client_ids=sorted(actor.client_ids) if actor.client_ids is not None else None)
