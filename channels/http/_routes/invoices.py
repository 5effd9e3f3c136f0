"""Invoices: drafting, the approval flow, issuing, payments, credit notes, voiding."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from channels.http._deps import CurrentActor, Uow
from channels.http._models import (
    CreditNoteRequest,
    DraftRequest,
    ManualLineRequest,
    NoteRequest,
    PaymentRequest,
    ReasonRequest,
)
from domain.model.bounds import INT64_MAX, Day, Id
from domain.services import invoicing
from domain.services.views import InvoiceView

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


@router.post("/draft", status_code=201, summary="Draft a client's invoice for a period",
             responses={200: {"description": "The open draft for that period already existed", "model": InvoiceView}})
def draft_invoice(body: DraftRequest, actor: CurrentActor, uow: Uow, response: Response) -> InvoiceView:
    drafted = invoicing.draft_invoice(uow, actor, body.client_id, body.period_start, body.period_end)
    response.status_code = 201 if drafted.created else 200  # 200: the open draft for that period, untouched
    return drafted


@router.get("", summary="List invoices, newest first (without lines)")
def list_invoices(actor: CurrentActor, uow: Uow, client_id: Id | None = None, status: str | None = None,
                  overdue: bool | None = None, period_start: Day | None = None, period_end: Day | None = None,
                  number: str | None = None, kind: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0) -> list[InvoiceView]:
    return invoicing.list_invoices(uow, actor, client_id=client_id, status=status, overdue=overdue,
                                   period_start=period_start, period_end=period_end, kind=kind, number=number,
                                   limit=limit, offset=offset)


@router.get("/{invoice_id}", summary="One invoice: lines with sources, checks, tax per rate, payments, balance")
def get_invoice(invoice_id: Id, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.get_invoice(uow, actor, invoice_id)


@router.post("/{invoice_id}/issue", summary="Run the checks: issue and number, or flag for approval")
def issue_invoice(invoice_id: Id, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.issue_invoice(uow, actor, invoice_id)


@router.post("/{invoice_id}/approve", summary="Approve a flagged invoice (it is then issued)")
def approve_invoice(invoice_id: Id, actor: CurrentActor, uow: Uow, body: NoteRequest | None = None) -> InvoiceView:
    return invoicing.approve_invoice(uow, actor, invoice_id, body.note if body else "")


@router.post("/{invoice_id}/reject", summary="Send a flagged invoice back to draft, with the reason")
def reject_invoice(invoice_id: Id, body: ReasonRequest, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.reject_invoice(uow, actor, invoice_id, body.reason)


@router.post("/{invoice_id}/void", summary="Void an issued, unpaid invoice (it keeps its number)")
def void_invoice(invoice_id: Id, body: ReasonRequest, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.void_invoice(uow, actor, invoice_id, body.reason)


@router.post("/{invoice_id}/mark-uncollectible", summary="Write an invoice off")
def mark_uncollectible(invoice_id: Id, body: ReasonRequest, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.mark_uncollectible(uow, actor, invoice_id, body.reason)


@router.post("/{invoice_id}/discard", status_code=204, summary="Throw a draft away (its work is billable again)")
def discard_draft(invoice_id: Id, actor: CurrentActor, uow: Uow) -> None:
    invoicing.discard_draft(uow, actor, invoice_id)


@router.post("/{invoice_id}/lines", status_code=201, summary="Add a manual line to a draft")
def add_manual_line(invoice_id: Id, body: ManualLineRequest, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.add_manual_line(uow, actor, invoice_id, body.description, body.quantity, body.unit_price)


@router.post("/{invoice_id}/payments", status_code=201, summary="Record a payment received")
def record_payment(invoice_id: Id, body: PaymentRequest, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.record_payment(uow, actor, invoice_id, body.amount, body.received_on, body.reference)


@router.post("/{invoice_id}/credit-notes", status_code=201, summary="Credit part or all of an issued invoice")
def create_credit_note(invoice_id: Id, body: CreditNoteRequest, actor: CurrentActor, uow: Uow) -> InvoiceView:
    return invoicing.create_credit_note(uow, actor, invoice_id, body.reason, body.amount)
