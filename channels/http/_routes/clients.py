"""Clients and their arrangements (contracts)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from channels.http._deps import CurrentActor, Uow
from domain.model.arrangements import (
    MilestoneTerms,
    PassThroughTerms,
    RetainerTerms,
    SlaCreditTerms,
    SubscriptionTerms,
    TimeAndMaterialsTerms,
)
from domain.model.bounds import INT64_MAX, Id
from domain.services import clients, contracts
from domain.services.views import ArrangementView, ClientView, MilestoneView

router = APIRouter(prefix="/v1/clients", tags=["clients"])

ArrangementBody = Annotated[
    RetainerTerms | TimeAndMaterialsTerms | MilestoneTerms | SubscriptionTerms | PassThroughTerms | SlaCreditTerms,
    Body(discriminator="kind"),
]


@router.post("", status_code=201, summary="Create a client")
def create_client(body: clients.ClientIn, actor: CurrentActor, uow: Uow) -> ClientView:
    return clients.create_client(uow, actor, body)


@router.get("", summary="List clients (account managers: their own; archived ones with include_archived=true)")
def list_clients(actor: CurrentActor, uow: Uow, name: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
                 include_archived: bool = False) -> list[ClientView]:
    return clients.list_clients(uow, actor, name, limit, offset, include_archived)


@router.get("/{client_id}", summary="One client")
def get_client(client_id: Id, actor: CurrentActor, uow: Uow) -> ClientView:
    return clients.get_client(uow, actor, client_id)


@router.patch("/{client_id}", summary="Change a client's details (never its currency)")
def update_client(client_id: Id, body: clients.ClientPatch, actor: CurrentActor, uow: Uow) -> ClientView:
    return clients.update_client(uow, actor, client_id, body)


@router.post("/{client_id}/arrangements", status_code=201, summary="Add an arrangement (contract terms)")
def add_arrangement(client_id: Id, body: ArrangementBody, actor: CurrentActor, uow: Uow) -> ArrangementView:
    terms: dict[str, Any] = body.model_dump(mode="json")
    return clients.add_arrangement(uow, actor, client_id, terms)


@router.get("/{client_id}/arrangements", summary="A client's arrangements, milestones included")
def list_arrangements(client_id: Id, actor: CurrentActor, uow: Uow) -> list[ArrangementView]:
    return clients.list_arrangements(uow, actor, client_id)


class ArchiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


@router.post("/{client_id}/archive", summary="Archive a client (no new drafts or rules; open invoices go on)")
def archive_client(client_id: Id, actor: CurrentActor, uow: Uow, body: ArchiveBody | None = None) -> ClientView:
    return clients.archive_client(uow, actor, client_id, body.reason if body else "")


@router.post("/{client_id}/reactivate", summary="Reactivate an archived client")
def reactivate_client(client_id: Id, actor: CurrentActor, uow: Uow) -> ClientView:
    return clients.reactivate_client(uow, actor, client_id)


@router.post("/{client_id}/arrangements/{arrangement_id}/amendments", status_code=201,
             summary="Amend terms from a date (account managers: a proposal for finance); answers with a preview")
def amend_arrangement(client_id: Id, arrangement_id: Id, body: contracts.AmendmentIn, actor: CurrentActor,
                      uow: Uow) -> contracts.ChangeResult:
    return contracts.amend_arrangement(uow, actor, client_id, arrangement_id, body)


@router.get("/{client_id}/arrangements/{arrangement_id}/versions",
            summary="Every version of an arrangement's terms and the adjustments they left")
def list_versions(client_id: Id, arrangement_id: Id, actor: CurrentActor, uow: Uow) -> contracts.VersionsView:
    return contracts.list_versions(uow, actor, client_id, arrangement_id)


@router.post("/{client_id}/arrangements/{arrangement_id}/end",
             summary="End an arrangement on a date (last period prorated, nothing bills after); with a preview")
def end_arrangement(client_id: Id, arrangement_id: Id, body: contracts.EndIn, actor: CurrentActor,
                    uow: Uow) -> contracts.ChangeResult:
    return contracts.end_arrangement(uow, actor, client_id, arrangement_id, body)


@router.post("/{client_id}/arrangements/{arrangement_id}/reopen",
             summary="Reopen an ended arrangement from a date with a new version; with a preview")
def reopen_arrangement(client_id: Id, arrangement_id: Id, body: contracts.ReopenIn, actor: CurrentActor,
                       uow: Uow) -> contracts.ChangeResult:
    return contracts.reopen_arrangement(uow, actor, client_id, arrangement_id, body)


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/{client_id}/milestones/{milestone_id}/cancel", summary="Cancel a milestone (never billed)")
def cancel_milestone(client_id: Id, milestone_id: Id, body: CancelBody, actor: CurrentActor,
                     uow: Uow) -> MilestoneView:
    return contracts.cancel_milestone(uow, actor, milestone_id, body.reason, client_id=client_id)


@router.post("/{client_id}/adjustments/{adjustment_id}/credit",
             summary="Issue the credit note an ended arrangement's adjustment proposes")
def credit_proposed(client_id: Id, adjustment_id: Id, actor: CurrentActor, uow: Uow) -> contracts.AdjustmentView:
    return contracts.credit_proposed(uow, actor, adjustment_id, client_id=client_id)


amendments = APIRouter(prefix="/v1/amendments", tags=["clients"])


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


@amendments.get("", summary="Amendments proposed by account managers, waiting for finance")
def list_proposals(actor: CurrentActor, uow: Uow) -> list[contracts.VersionView]:
    return contracts.list_proposals(uow, actor)


@amendments.post("/{version_id}/approve", summary="Approve a proposed amendment: it takes effect")
def approve_amendment(version_id: Id, actor: CurrentActor, uow: Uow,
                      body: DecisionBody | None = None) -> contracts.ChangeResult:
    return contracts.decide_amendment(uow, actor, version_id, True, body.note if body else "")


@amendments.post("/{version_id}/reject", summary="Reject a proposed amendment, saying why")
def reject_amendment(version_id: Id, body: DecisionBody, actor: CurrentActor, uow: Uow) -> contracts.ChangeResult:
    return contracts.decide_amendment(uow, actor, version_id, False, body.note)
