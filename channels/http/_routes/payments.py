"""Parked payments: money received that matched no open invoice as named, waiting for a finance person to apply it
to an invoice they choose, or to dismiss it with a reason."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from channels.http._deps import CurrentActor, Uow
from domain.model.bounds import INT64_MAX, Id
from domain.services import payments_parked
from domain.services.payments_parked import ParkedPaymentView

router = APIRouter(prefix="/v1/payments/parked", tags=["payments"])


class ApplyRequest(BaseModel):
    invoice_id: Id = Field(description="The invoice the money goes to, chosen by a person")
    amount: str | None = Field(default=None, description="A part of it, as a decimal string; default all that is "
                                                         "left (the rest stays parked)")


class DismissRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why (refunded, booked elsewhere, duplicate...)")


@router.get("", summary="Parked payments, newest first (owners and finance)")
def list_parked(actor: CurrentActor, uow: Uow, status: str = Query(
        "parked", description="parked (waiting, the default), applied, dismissed, or all"),
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0) -> list[ParkedPaymentView]:
    return payments_parked.list_parked(uow, actor, status, limit, offset)


@router.get("/{parked_id}", summary="One parked payment, with its reason and what was done with it")
def get_parked(parked_id: Id, actor: CurrentActor, uow: Uow) -> ParkedPaymentView:
    return payments_parked.get_parked(uow, actor, parked_id)


@router.post("/{parked_id}/apply", summary="Apply it (or a part) to an invoice: a recorded payment")
def apply_parked(parked_id: Id, body: ApplyRequest, actor: CurrentActor, uow: Uow) -> ParkedPaymentView:
    return payments_parked.apply_parked(uow, actor, parked_id, body.invoice_id, body.amount)


@router.post("/{parked_id}/dismiss", summary="Dismiss it with a reason; nothing is paid")
def dismiss_parked(parked_id: Id, body: DismissRequest, actor: CurrentActor, uow: Uow) -> ParkedPaymentView:
    return payments_parked.dismiss_parked(uow, actor, parked_id, body.reason)
