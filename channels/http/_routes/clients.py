"""Clients and their arrangements (contracts)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

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
from domain.services import clients
from domain.services.views import ArrangementView, ClientView

router = APIRouter(prefix="/v1/clients", tags=["clients"])

ArrangementBody = Annotated[
    RetainerTerms | TimeAndMaterialsTerms | MilestoneTerms | SubscriptionTerms | PassThroughTerms | SlaCreditTerms,
    Body(discriminator="kind"),
]


@router.post("", status_code=201, summary="Create a client")
def create_client(body: clients.ClientIn, actor: CurrentActor, uow: Uow) -> ClientView:
    return clients.create_client(uow, actor, body)


@router.get("", summary="List clients (account managers: their own)")
def list_clients(actor: CurrentActor, uow: Uow, name: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0) -> list[ClientView]:
    return clients.list_clients(uow, actor, name, limit, offset)


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
