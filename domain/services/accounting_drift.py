"""The drift report: our issued invoices beside their copies in QuickBooks, and what to do where they differ.

Ours are read in one short transaction, theirs with batched queries (100 ids a query) with no transaction open, and
each pair is compared by `domain.model.accounting_drift.compare_invoice` (total, status, balance; the likely cause;
the legal actions). Two actions, each audited, nothing overwritten silently:

* re-push: queue a push of ours through the outbound sync (QuickBooks gets what our books say): the invoice, its
  void, or the payments recorded on it here (a refused payment push goes again, after its cause is fixed);
* accept theirs, only where that is legal here: payments recorded there are read and recorded here (once each, or
  parked), an invoice voided there is voided here (refused while a payment is recorded on it). A differing total is
  never accepted: an issued invoice is not edited; the item says to re-push or to issue a credit note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from domain.errors import BadTransition, Forbidden, NotFound
from domain.model.accounting import voided_there
from domain.model.accounting_drift import Action, Cause, DriftItem, OurInvoice, TheirInvoice, amount, compare_invoice
from domain.model.money import minor_exponent
from domain.model.roles import Actor, Perm
from domain.services import accounting, accounting_inbound, invoicing
from domain.services._auth import require
from domain.services.accounting_inbound import PROVIDER, AccountingReader
from domain.store.tables import (
    AccountingConnectionRow,
    AccountingMappingRow,
    AccountingQueueRow,
    InvoiceRow,
    PaymentRow,
)
from domain.store.uow import UnitOfWork

CHUNK = 100   # ids per query: short URLs, few calls (1,000 invoices = 10 queries)
UNSETTLED = ("draft", "pending_approval")


class DriftReport(BaseModel):
    realm_id: str
    company_name: str
    checked: int            # invoices compared
    pending_push: int       # queued: their push (or a payment's on them) still on its way, not compared yet
    items: list[DriftItem]
    generated_at: datetime


def _dec(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_exponent(currency))


def _ours(inv: InvoiceRow) -> OurInvoice:
    cur = inv.currency
    return OurInvoice(invoice_id=inv.id, number=inv.number or "", status=inv.status, currency=cur,
                      total=_dec(inv.total_minor, cur), balance=_dec(inv.total_minor - inv.paid_minor
                                                                     - inv.credited_minor, cur),
                      credited=_dec(inv.credited_minor, cur))


def _theirs(obj: dict[str, Any]) -> TheirInvoice:
    voided = voided_there(obj)
    cur = obj.get("CurrencyRef")
    return TheirInvoice(external_id=str(obj.get("Id")), doc_number=str(obj.get("DocNumber") or ""),
                        currency=str(cur.get("value") or "") if isinstance(cur, dict) else "",
                        total=amount(obj.get("TotalAmt"), "TotalAmt"), balance=amount(obj.get("Balance"), "Balance"),
                        voided=voided, customer_id=str((obj.get("CustomerRef") or {}).get("value") or ""))


def _connection(uow: UnitOfWork) -> AccountingConnectionRow:
    conn = uow.session.execute(select(AccountingConnectionRow).where(
        AccountingConnectionRow.provider == PROVIDER)).scalar_one_or_none()
    if conn is None or not conn.realm_id or conn.status == "disconnected":
        raise accounting_inbound.NotConnected("QuickBooks is not connected: connect a company first (dashboard > "
                                              "Accounting, owners)", field="realm_id")
    return conn


def fetch_invoices(reader: AccountingReader, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Their invoices by id, in batched queries (an id QuickBooks does not have is simply absent)."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = [x for x in ids[i:i + CHUNK] if x.isalnum()]
        if not chunk:
            continue
        quoted = ", ".join(f"'{x}'" for x in chunk)
        for obj in reader.query(f"select * from Invoice where Id in ({quoted}) maxresults 1000"):
            out[str(obj.get("Id"))] = obj
    return out


@dataclass(frozen=True)
class _Pairs:
    conn: AccountingConnectionRow
    invoices: list[InvoiceRow]
    mapped: dict[int, str]        # our invoice id -> theirs
    pending: set[int]             # a push of it (or of a payment on it) still queued
    refused: dict[int, str]       # a payment's push refused: QuickBooks' reason
    payments: dict[int, list[int]]  # our payments on it that are ours to push


def _pairs(uow: UnitOfWork, invoice_ids: Sequence[int] | None = None) -> _Pairs:
    conn = _connection(uow)
    q = select(InvoiceRow).options(lazyload(InvoiceRow.lines)).where(  # totals only: no lines for 1,000s of them
        InvoiceRow.kind == "invoice", InvoiceRow.number.is_not(None), InvoiceRow.status.not_in(UNSETTLED)
    ).order_by(InvoiceRow.id)
    if invoice_ids is not None:
        q = q.where(InvoiceRow.id.in_(invoice_ids))
    invoices = list(uow.session.execute(q).scalars())
    ids = [i.id for i in invoices]
    mapped = {int(m.local_id): m.remote_id for m in uow.session.execute(select(AccountingMappingRow).where(
        AccountingMappingRow.provider == PROVIDER, AccountingMappingRow.kind == "invoice",
        AccountingMappingRow.local_id.in_(ids))).scalars()} if ids else {}
    return _Pairs(conn, invoices, mapped, pending_pushes(uow, ids), refused_payments(uow, ids),
                  accounting.ours_to_push(uow, ids, PROVIDER))


def _payment_tasks(invoice_ids: Sequence[int], status: str) -> Any:
    return select(PaymentRow.invoice_id, AccountingQueueRow.last_error).join(
        AccountingQueueRow, AccountingQueueRow.ref_id == PaymentRow.id).where(
        AccountingQueueRow.provider == PROVIDER, AccountingQueueRow.status == status,
        AccountingQueueRow.subject == "payment", PaymentRow.invoice_id.in_(invoice_ids))


def pending_pushes(uow: UnitOfWork, invoice_ids: Sequence[int]) -> set[int]:
    """Our invoices whose push (or void, or a payment recorded on it) is still queued in the outbound sync: on their
    way, not compared yet."""
    if not invoice_ids:
        return set()
    docs = {int(r) for r in uow.session.execute(select(AccountingQueueRow.ref_id).where(
        AccountingQueueRow.provider == PROVIDER, AccountingQueueRow.status == "pending",
        AccountingQueueRow.subject.in_(("invoice", "void")), AccountingQueueRow.ref_id.in_(invoice_ids))).scalars()}
    return docs | {int(i) for i, _ in uow.session.execute(_payment_tasks(invoice_ids, "pending")).all()}


def refused_payments(uow: UnitOfWork, invoice_ids: Sequence[int]) -> dict[int, str]:
    """Our invoices a payment's push to QuickBooks was refused for (dead in the queue), with QuickBooks' reason."""
    if not invoice_ids:
        return {}
    return {int(i): (err or "refused")[:300] for i, err in uow.session.execute(
        _payment_tasks(invoice_ids, "dead")).all()}


def _queue_push(uow: UnitOfWork, actor: Actor, invoice_id: int, cause: Cause) -> dict[str, Any]:
    """Queue a forced push of our invoice (or of its void, or of the payments recorded on it) in the outbound sync's
    queue (in the caller's transaction): `force` makes the pusher send it even though its mapping says it was pushed
    as it stands."""
    if cause in (Cause.PAYMENT_NOT_THERE, Cause.PAYMENT_PUSH_FAILED):
        payments = accounting.ours_to_push(uow, [invoice_id], PROVIDER).get(invoice_id, [])
        ids = accounting.queue_payments(uow, payments, force=True, reason=f"drift: {cause.value}",
                                        provider=PROVIDER)
        return {"queue_ids": ids, "subject": "payment", "payments": payments}
    void = cause == Cause.VOID_NOT_PUSHED
    now = uow.clock.now()
    row = AccountingQueueRow(provider=PROVIDER, topic="invoice.voided" if void else "invoice.issued",
                             subject="void" if void else "invoice", ref_id=invoice_id,
                             payload={"invoice_id": invoice_id, "force": True, "reason": f"drift: {cause.value}",
                                      "by": actor.email or actor.label},
                             status="pending", attempts=0, run_after=now, last_error="", created_at=now)
    uow.session.add(row)
    uow.flush()
    return {"queue_id": row.id, "subject": row.subject}


def drift_report(uow: UnitOfWork, actor: Actor, reader: AccountingReader) -> DriftReport:
    """Every issued invoice that differs from QuickBooks (or never reached it), with cause and actions."""
    require(actor, Perm.EXPORT_BOOKS)
    with uow:
        pairs = _pairs(uow)
        realm, company = pairs.conn.realm_id, pairs.conn.company_name
        ours = [_ours(i) for i in pairs.invoices if i.id not in pairs.pending]
        now = uow.clock.now()
    mapped = pairs.mapped
    theirs = fetch_invoices(reader, sorted(set(mapped.values())))
    items = []
    for o in ours:
        remote = mapped.get(o.invoice_id)
        item = compare_invoice(o, _theirs(theirs[remote]) if remote and remote in theirs else None,
                               remote is not None, payment_refused=pairs.refused.get(o.invoice_id, ""),
                               payments_here=bool(pairs.payments.get(o.invoice_id)))
        if item is not None:
            items.append(item)
    return DriftReport(realm_id=realm, company_name=company, checked=len(ours), pending_push=len(pairs.pending),
                       items=items, generated_at=now)


def _one(uow: UnitOfWork, actor: Actor, invoice_id: int, reader: AccountingReader
         ) -> tuple[DriftItem, TheirInvoice | None, str]:
    """The drift of one invoice, compared live (never from a page someone looked at earlier)."""
    with uow:
        pairs = _pairs(uow, [invoice_id])
        if not pairs.invoices:
            raise NotFound(f"no issued invoice with id {invoice_id}", code="invoice.not_found", field="invoice_id")
        ours, realm = _ours(pairs.invoices[0]), pairs.conn.realm_id
    remote = pairs.mapped.get(invoice_id)
    obj = fetch_invoices(reader, [remote]).get(remote) if remote else None
    theirs = _theirs(obj) if obj else None
    item = compare_invoice(ours, theirs, remote is not None, payment_refused=pairs.refused.get(invoice_id, ""),
                           payments_here=bool(pairs.payments.get(invoice_id)))
    if item is None:
        raise BadTransition(f"{ours.number} is the same in QuickBooks: nothing to do", code="drift.none",
                            field="invoice_id")
    return item, theirs, realm


def _person(actor: Actor) -> None:
    require(actor, Perm.EXPORT_BOOKS)
    if not actor.is_person_like:
        raise Forbidden("a person decides what happens to a difference with QuickBooks", code="drift.person_only")


class DriftOutcome(BaseModel):
    invoice_id: int
    action: Action
    cause: Cause
    done: str
    details: dict[str, Any] = {}


def repush(uow: UnitOfWork, actor: Actor, invoice_id: int, reader: AccountingReader) -> DriftOutcome:
    """Queue a push of our invoice (or its void, or its payments) through the outbound sync: QuickBooks gets what
    our books say."""
    _person(actor)
    item, _theirs_inv, _realm = _one(uow, actor, invoice_id, reader)
    if Action.REPUSH not in item.actions:
        raise BadTransition(f"re-pushing does not resolve this: {item.explanation}", code="drift.not_repushable",
                            field="invoice_id")
    with uow:
        queued = _queue_push(uow, actor, invoice_id, item.cause)
        uow.audit.record(actor, "accounting.drift_repush", "invoice", invoice_id, before={
            "cause": item.cause.value, "differences": [d.model_dump() for d in item.differences]},
            after={"queued": queued})
        uow.commit()
    what = (f"{len(queued['payments'])} payment(s) recorded on {item.number}" if queued["subject"] == "payment"
            else item.number)
    return DriftOutcome(invoice_id=invoice_id, action=Action.REPUSH, cause=item.cause,
                        done=f"a push of {what} is queued", details={"queued": queued})


def accept_theirs(uow: UnitOfWork, actor: Actor, invoice_id: int,
                  reader: AccountingReader) -> DriftOutcome:
    """Make ours agree with QuickBooks where that is legal: record the payments made there, or void ours."""
    _person(actor)
    item, theirs, realm = _one(uow, actor, invoice_id, reader)
    if Action.ACCEPT not in item.actions or theirs is None:
        raise BadTransition(f"theirs cannot be accepted here: {item.explanation}", code="drift.not_acceptable",
                            field="invoice_id")
    if item.cause == Cause.VOIDED_THERE:
        view = invoicing.void_invoice(uow, actor, invoice_id, "voided in QuickBooks (accepted from the drift report)")
        with uow:
            uow.audit.record(actor, "accounting.drift_accepted", "invoice", invoice_id,
                             before={"cause": item.cause.value}, after={"status": view.status})
            uow.commit()
        return DriftOutcome(invoice_id=invoice_id, action=Action.ACCEPT, cause=item.cause,
                            done=f"{item.number} is void here too")
    # PAYMENT_NOT_SYNCED: the customer's payments there that are linked to this invoice, each recorded once
    quoted = theirs.customer_id.replace("'", "")
    payments = [p for p in reader.query(f"select * from Payment where CustomerRef = '{quoted}' maxresults 1000")
                if any(t.get("TxnType") == "Invoice" and str(t.get("TxnId")) == theirs.external_id
                       for line in p.get("Line") or [] for t in line.get("LinkedTxn") or [])]
    results = [accounting_inbound.apply_payment(uow, actor, realm, p, None) for p in payments]
    with uow:
        uow.audit.record(actor, "accounting.drift_accepted", "invoice", invoice_id,
                         before={"cause": item.cause.value,
                                 "differences": [d.model_dump() for d in item.differences]},
                         after={"payments": results})
        uow.commit()
    return DriftOutcome(invoice_id=invoice_id, action=Action.ACCEPT, cause=item.cause,
                        done=f"{len(payments)} payment(s) from QuickBooks read for {item.number}",
                        details={"payments": results})
