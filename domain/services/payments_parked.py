"""Parked payments: money received that does not match an open invoice as it stands is parked for a person.

A `payment.received` event is applied only when it names an existing invoice that takes payments, in the same
currency, for no more than its balance. Otherwise it is parked with the reason (`unknown_invoice`,
`exceeds_balance`, `currency_mismatch`, `not_payable`), audited, and a `payment.parked` notification is queued;
nothing is matched by guessing. A finance person or owner then applies it to an invoice they choose (in one or
more parts, each a recorded payment) or dismisses it with a reason.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from domain.errors import BadTransition, Forbidden, NotFound, ValidationFailed
from domain.model.accounting import QUICKBOOKS
from domain.model.events import PaymentReceived
from domain.model.lifecycle import OPEN, Status
from domain.model.money import Money, minor_exponent, parse_decimal
from domain.model.outbox_events import PaymentParked
from domain.model.roles import Actor, Perm
from domain.services import accounting, invoicing
from domain.services._auth import require
from domain.services.outbox import emit
from domain.store.tables import InvoiceRow, ParkedPaymentRow
from domain.store.uow import UnitOfWork

NOTIFY_TOPIC = PaymentParked.topic
UNKNOWN_EXPONENT = 2  # a payment that names no currency and no known invoice is kept to the cent


class Reason(StrEnum):
    UNKNOWN_INVOICE = "unknown_invoice"
    EXCEEDS_BALANCE = "exceeds_balance"
    CURRENCY_MISMATCH = "currency_mismatch"
    NOT_PAYABLE = "not_payable"


STATUSES = ("parked", "applied", "dismissed")


def _exp(currency: str) -> int:
    return minor_exponent(currency) if currency else UNKNOWN_EXPONENT


def _text(minor: int, currency: str) -> str:
    return format(Decimal(minor).scaleb(-_exp(currency)), "f")


class ParkedPaymentView(BaseModel):
    id: int
    status: str
    reason: str
    detail: str
    amount: str
    applied: str
    remaining: str
    currency: str
    payer: str
    reference: str
    received_on: date
    invoice_number: str
    invoice_id: int | None
    source_event_id: int | None
    applications: list[dict[str, Any]]
    dismiss_reason: str
    resolved_by_user_id: int | None
    resolved_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, r: ParkedPaymentRow) -> ParkedPaymentView:
        cur = r.currency
        return cls(id=r.id, status=r.status, reason=r.reason, detail=r.detail, amount=_text(r.amount_minor, cur),
                   applied=_text(r.applied_minor, cur), remaining=_text(r.amount_minor - r.applied_minor, cur),
                   currency=cur, payer=r.payer, reference=r.reference, received_on=r.received_on,
                   invoice_number=r.invoice_number, invoice_id=r.invoice_id, source_event_id=r.source_event_id,
                   applications=list(r.applications or []), dismiss_reason=r.dismiss_reason,
                   resolved_by_user_id=r.resolved_by_user_id, resolved_at=r.resolved_at, created_at=r.created_at)


def _snap(r: ParkedPaymentRow) -> dict[str, Any]:
    cur = r.currency or "?"
    return {"status": r.status, "reason": r.reason, "amount": f"{_text(r.amount_minor, r.currency)} {cur}",
            "applied": _text(r.applied_minor, r.currency), "invoice_number": r.invoice_number,
            "payer": r.payer, "reference": r.reference, "received_on": r.received_on.isoformat()}


def _minor(amount: Decimal, currency: str, field: str = "amount") -> int:
    exp = _exp(currency)
    q = amount.quantize(Decimal(1).scaleb(-exp), rounding=ROUND_HALF_UP)
    if q != amount:
        raise ValidationFailed(f"{amount} has more decimal places than {currency or 'an amount'} allows ({exp})",
                               code="money.too_precise", field=field)
    return int(q.scaleb(exp))


def _payable(inv: InvoiceRow) -> bool:
    return inv.kind == "invoice" and Status(inv.status) in OPEN


def receive_payment(uow: UnitOfWork, actor: Actor, event_id: int | None, data: PaymentReceived) -> dict[str, Any]:
    """A payment reported by an event: applied when it matches an open invoice exactly as named, else parked.
    Runs inside the caller's transaction (the worker's job); what it did, for the event's result."""
    amount = parse_decimal(data.amount, "amount")
    if amount <= 0:
        raise ValidationFailed("must be more than zero", code="validation.not_positive", field="amount")
    inv = uow.invoices.by_number(data.invoice_number)
    currency = data.currency or (inv.currency if inv is not None else "")
    reason: Reason | None = None
    detail = ""
    if inv is None:
        reason, detail = Reason.UNKNOWN_INVOICE, f"no invoice is numbered {data.invoice_number}"
    elif data.currency and data.currency != inv.currency:
        reason, detail = Reason.CURRENCY_MISMATCH, f"paid in {data.currency}; {inv.number} is billed in {inv.currency}"
    elif not _payable(inv):
        reason, detail = Reason.NOT_PAYABLE, f"{inv.number} is {inv.status} and takes no payment"
    else:
        balance = inv.total_minor - inv.paid_minor - inv.credited_minor
        if _minor(amount, currency) > balance:
            reason = Reason.EXCEEDS_BALANCE
            detail = (f"{amount} {currency} is more than the balance of "
                      f"{Money.from_minor(balance, inv.currency)} on {inv.number}")
    if reason is None:
        assert inv is not None
        paid = invoicing.record_payment(uow, actor, inv.id, data.amount, data.received_on, data.reference)
        return {"invoice_id": inv.id, "status": paid.status, "balance": paid.balance}
    row = park(uow, actor, amount=amount, currency=currency, received_on=data.received_on, reason=reason,
               detail=detail, invoice_number=data.invoice_number, invoice=inv, payer=data.payer,
               reference=data.reference, source_event_id=event_id)
    return {"parked_payment_id": row.id, "parked": reason.value, "detail": detail}


def park(uow: UnitOfWork, actor: Actor, *, amount: Decimal, currency: str, received_on: date, reason: Reason,
         detail: str, invoice_number: str = "", invoice: InvoiceRow | None = None, payer: str = "",
         reference: str = "", source_event_id: int | None = None) -> ParkedPaymentRow:
    """Park a payment for a person, audited, with a `payment.parked` notification (in the caller's transaction)."""
    with uow:
        if source_event_id is not None:
            earlier = uow.parked.by_event(source_event_id)
            if earlier is not None:
                return earlier  # the same event again: parked once
        row = ParkedPaymentRow(amount_minor=_minor(amount, currency), applied_minor=0, currency=currency,
                               payer=payer[:200], reference=reference[:200], received_on=received_on,
                               invoice_number=invoice_number[:200], invoice_id=invoice.id if invoice else None,
                               reason=reason.value, detail=detail, source_event_id=source_event_id,
                               status="parked", applications=[], dismiss_reason="", created_at=uow.clock.now())
        uow.parked.add(row)
        uow.flush()
        uow.audit.record(actor, "payment.parked", "parked_payment", row.id, after={**_snap(row), "detail": detail})
        client = uow.clients.get(invoice.client_id) if invoice is not None else None
        emit(uow, PaymentParked(
            parked_payment_id=row.id, invoice_id=invoice.id if invoice else None,
            number=invoice.number if invoice else invoice_number, client_name=client.name if client else None,
            amount=f"{_text(row.amount_minor, currency)} {currency or '(currency not given)'}",
            reason=reason.value, detail=detail, payer=payer, reference=reference))
        uow.commit()
        return row


def list_parked(uow: UnitOfWork, actor: Actor, status: str | None = "parked", limit: int = 100,
                offset: int = 0) -> list[ParkedPaymentView]:
    """Parked payments, newest first: those waiting for a person by default; `status` "all" for every one."""
    require(actor, Perm.PAYMENTS)
    if status not in (None, "all", *STATUSES):
        raise ValidationFailed(f"unknown status {status!r}; one of {', '.join(STATUSES)} or all", field="status")
    if not 1 <= limit <= 500:
        raise ValidationFailed("must be between 1 and 500", field="limit")
    with uow:
        rows = uow.parked.list(None if status in (None, "all") else [status], limit, offset)
        return [ParkedPaymentView.of(r) for r in rows]


def _load(uow: UnitOfWork, parked_id: int, for_update: bool = False) -> ParkedPaymentRow:
    row = uow.parked.get(parked_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no parked payment with id {parked_id}", code="parked_payment.not_found",
                       field="parked_payment_id")
    return row


def get_parked(uow: UnitOfWork, actor: Actor, parked_id: int) -> ParkedPaymentView:
    require(actor, Perm.PAYMENTS)
    with uow:
        return ParkedPaymentView.of(_load(uow, parked_id))


def _resolvable(actor: Actor, row: ParkedPaymentRow) -> None:
    require(actor, Perm.PAYMENTS)
    if not actor.is_person_like:
        raise Forbidden("a person decides where parked money goes (finance or an owner), never the system",
                        code="parked_payment.person_only")
    if row.status != "parked":
        raise BadTransition(f"this payment is already {row.status}", code="parked_payment.resolved",
                            field="parked_payment_id", details={"status": row.status})


def apply_parked(uow: UnitOfWork, actor: Actor, parked_id: int, invoice_id: int,
                 amount: object | None = None) -> ParkedPaymentView:
    """Apply a parked payment (all that is left of it, or `amount`) to the invoice a person chose: a recorded
    payment on that invoice. What is left stays parked."""
    require(actor, Perm.PAYMENTS)
    with uow:
        row = _load(uow, parked_id, for_update=True)
        _resolvable(actor, row)
        inv = uow.invoices.get(invoice_id)
        if inv is None:
            raise NotFound(f"no invoice with id {invoice_id}", code="invoice.not_found", field="invoice_id")
        if row.currency and row.currency != inv.currency:
            raise ValidationFailed(f"this payment is in {row.currency} and {inv.number or 'the invoice'} in "
                                   f"{inv.currency}: it cannot be applied (dismiss it and refund or book it "
                                   "outside billable)", code="payment.currency_mismatch", field="invoice_id")
        remaining = row.amount_minor - row.applied_minor
        left = Decimal(remaining).scaleb(-_exp(row.currency))
        part = left if amount is None else parse_decimal(amount, "amount")
        if part <= 0:
            raise ValidationFailed("must be more than zero", code="validation.not_positive", field="amount")
        if part > left:
            raise ValidationFailed(f"only {left} of this payment is left to apply", code="parked_payment.exceeds",
                                   field="amount")
        money = Money.parse(format(part, "f"), inv.currency, "amount")
        before = _snap(row)
        origin = accounting.parked_origin(uow, row.id)
        with accounting.recording_from(uow, QUICKBOOKS, origin) if origin else nullcontext():
            # parked from a payment made in QuickBooks: the money is there already, so it is not pushed there again
            paid = invoicing.record_payment(uow, actor, inv.id, money.text, row.received_on,
                                            row.reference or f"parked payment {row.id}")
        row.applied_minor += _minor(part, row.currency)
        row.applications = [*(row.applications or []), {
            "invoice_id": inv.id, "number": inv.number, "amount": money.text, "by": actor.email,
            "at": uow.clock.now().isoformat()}]
        if row.applied_minor >= row.amount_minor:
            row.status, row.resolved_at, row.resolved_by_user_id = "applied", uow.clock.now(), actor.user_id
        uow.audit.record(actor, "payment.parked_applied", "parked_payment", row.id, before=before,
                         after={**_snap(row), "invoice_id": inv.id, "number": inv.number, "amount": money.text,
                                "invoice_status": paid.status, "invoice_balance": paid.balance})
        view = ParkedPaymentView.of(row)
        uow.commit()
    return view


def dismiss_parked(uow: UnitOfWork, actor: Actor, parked_id: int, reason: str) -> ParkedPaymentView:
    """Dismiss a parked payment (refunded, booked elsewhere, a duplicate...), with the reason; nothing is paid."""
    require(actor, Perm.PAYMENTS)
    if not reason or not reason.strip():
        raise ValidationFailed("say why it is dismissed", field="reason")
    with uow:
        row = _load(uow, parked_id, for_update=True)
        _resolvable(actor, row)
        before = _snap(row)
        row.status, row.dismiss_reason = "dismissed", reason.strip()[:2000]
        row.resolved_at, row.resolved_by_user_id = uow.clock.now(), actor.user_id
        uow.audit.record(actor, "payment.parked_dismissed", "parked_payment", row.id, before=before,
                         after={**_snap(row), "dismiss_reason": row.dismiss_reason})
        view = ParkedPaymentView.of(row)
        uow.commit()
    return view
