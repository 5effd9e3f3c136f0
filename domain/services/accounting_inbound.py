"""QuickBooks, inbound: payments made there are recorded here once; customer changes there are proposed to finance.

Webhooks and the Change Data Capture catch-up both become `accounting.changed` events (stored once per delivery,
queued, retried, dead-lettered like every event). The worker applies each one here:

* a Payment is read from QuickBooks (a webhook names it; CDC carries it). Each of its lines linked to an Invoice
  that maps to one of ours is recorded on that invoice with `invoicing.record_payment`, when it fits (same currency,
  an open invoice, no more than its balance); everything else (unknown or unlinked invoice, over the balance,
  another currency, unapplied money) is parked for a person. The QuickBooks payment id is the key: a redelivery,
  the same payment found again by CDC, or an edit there never records it twice (an edit there shows in the drift
  report instead). A payment recorded this way is mapped to its Payment there and never pushed back; a Payment the
  outbound sync created itself (its mapping, or the note it carries) is our own echo: nothing is recorded.
* a Customer mapped to one of our clients whose name, e-mail or address differs is proposed as a client update
  that finance accepts (the client is updated through `clients.update_client`) or refuses. Nothing is overwritten
  silently, either way.

This module does no I/O of its own and never holds a transaction while QuickBooks answers: before each round the
worker reads what webhooks named (`unread_changes`, then `attach_objects`, batched queries through the channel's
reader); an event not read yet (not connected, paused) fails with a retryable conflict and waits: nothing is lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import select

from domain.errors import BadTransition, Conflict, Forbidden, NotFound, ValidationFailed
from domain.model.accounting import THEIRS, payment_of_note
from domain.model.accounting_drift import amount, client_changes, customer_fields
from domain.model.events import AccountingChanged, EventType
from domain.model.lifecycle import OPEN
from domain.model.money import Money, minor_exponent
from domain.model.roles import Actor, Perm
from domain.services import accounting, clients, invoicing, payments_parked
from domain.services._auth import require
from domain.services.events import Incoming, source_actor, store_events
from domain.store.tables import (
    AccountingConnectionRow,
    AccountingMappingRow,
    AccountingPaymentInRow,
    ClientRow,
    ClientUpdateProposalRow,
    EventRow,
    InvoiceRow,
    PaymentRow,
)
from domain.store.uow import UnitOfWork

PROVIDER = "quickbooks"
SOURCE = "quickbooks"   # the events' source, webhooks and catch-up alike
ENTITIES = ("Payment", "Customer")
CDC_LOOKBACK = timedelta(days=30)   # the most QuickBooks' CDC reaches back
CDC_MAX_OBJECTS = 1000              # per entity and response: more means "ask again from the last one seen"
CDC_PAGES = 10                      # responses per catch-up at most (the next tick goes on)
CDC_OVERLAP = timedelta(minutes=5)  # asked again each time: a change committed late there is not skipped


class AccountingReader(Protocol):
    """What the inbound sync needs from the accounting system's API (the channel's adapter provides it)."""

    def read(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist (any more)."""

    def query(self, statement: str) -> list[dict[str, Any]]:
        """The objects a query selects (all pages)."""

    def cdc(self, entities: Sequence[str], changed_since: datetime) -> dict[str, list[dict[str, Any]]]:
        """Objects of these entities changed since then, per entity (deleted ones carry status "Deleted")."""

    def now(self) -> datetime:
        """The accounting system's time (CDC's 30 days are counted on its clock, not on ours)."""


class NotReadYet(Conflict):
    """The change is not read from QuickBooks yet (the worker reads it before its next round): try again shortly."""

    code = "accounting.not_read_yet"


class NotConnected(Conflict):
    code = "accounting.not_connected"


# ---- mappings (our id <-> theirs, kept by the outbound sync) ---------------------------------------------------


def local_id(uow: UnitOfWork, kind: str, remote_id: str) -> int | None:
    row = uow.session.execute(select(AccountingMappingRow.local_id).where(
        AccountingMappingRow.provider == PROVIDER, AccountingMappingRow.kind == kind,
        AccountingMappingRow.remote_id == remote_id).limit(1)).scalar_one_or_none()
    return int(row) if row is not None else None


# ---- applying one change ---------------------------------------------------------------------------------------


def apply_change(uow: UnitOfWork, actor: Actor, event_id: int | None, data: AccountingChanged) -> dict[str, Any]:
    """What an `accounting.changed` event does (inside the worker's transaction); its result, for the event log."""
    require(actor, Perm.PAYMENTS)
    if data.entity not in ENTITIES:
        return {}
    with uow:
        connected = uow.session.execute(select(AccountingConnectionRow.realm_id).where(
            AccountingConnectionRow.provider == PROVIDER)).scalar_one_or_none()
    if connected and connected != data.realm_id:  # the app's webhooks cover every company that ever connected it
        return {data.entity.lower(): data.entity_id, "note": f"QuickBooks company {data.realm_id} is not the one "
                f"connected ({connected}): nothing to do"}
    if data.operation in ("Delete", "Void", "Merge"):
        if data.entity == "Payment":
            with uow:
                known = _payment_in(uow, data.realm_id, data.entity_id)
            note = "not undone here: the drift report shows the difference" if known else "never recorded here"
            return {"payment": data.entity_id, "operation": data.operation, "note": note}
        return {"customer": data.entity_id, "operation": data.operation, "note": "nothing changes here"}
    if data.missing:
        return {data.entity.lower(): data.entity_id, "note": "no longer in QuickBooks"}
    obj = data.object
    if obj is None:
        raise NotReadYet(f"{data.entity} {data.entity_id} is not read from QuickBooks yet (is it connected?); it is "
                         "read before the next attempt", field="entity_id")
    if data.entity == "Payment":
        return apply_payment(uow, actor, data.realm_id, obj, event_id)
    return propose_client_update(uow, actor, data.realm_id, obj, event_id)


def _payment_in(uow: UnitOfWork, realm_id: str, external_id: str) -> AccountingPaymentInRow | None:
    return uow.session.execute(select(AccountingPaymentInRow).where(
        AccountingPaymentInRow.provider == PROVIDER, AccountingPaymentInRow.realm_id == realm_id,
        AccountingPaymentInRow.external_id == external_id)).scalar_one_or_none()


def _ref(obj: dict[str, Any], key: str) -> str:
    ref = obj.get(key)
    if isinstance(ref, dict):
        return str(ref.get("value") or "")
    return ""


def _linked_invoices(line: dict[str, Any]) -> list[str]:
    return [str(t.get("TxnId")) for t in line.get("LinkedTxn") or [] if isinstance(t, dict)
            and t.get("TxnType") == "Invoice" and t.get("TxnId")]


def _minor(value: Decimal, currency: str) -> int:
    return int(value.scaleb(minor_exponent(currency) if currency else 2).to_integral_value())


def _fits(inv: InvoiceRow | None, cur: str, part: Decimal) -> str:
    """Why a linked line cannot be recorded on the invoice ("" when it can)."""
    if inv is None:
        return "unknown_invoice"
    if cur and cur != inv.currency:
        return "currency_mismatch"
    if inv.kind != "invoice" or inv.status not in {s.value for s in OPEN}:
        return "not_payable"
    if _minor(part, inv.currency) > inv.total_minor - inv.paid_minor - inv.credited_minor:
        return "exceeds_balance"
    return ""


def apply_payment(uow: UnitOfWork, actor: Actor, realm_id: str, payment: dict[str, Any],
                  event_id: int | None) -> dict[str, Any]:
    """Record a QuickBooks payment on the invoices it is linked to, once; park what does not fit."""
    require(actor, Perm.PAYMENTS)
    pid = str(payment.get("Id") or "")
    if not pid:
        raise ValidationFailed("the payment has no Id", code="accounting.bad_object", field="Id")
    with uow:
        earlier = _payment_in(uow, realm_id, pid)
        if earlier is not None:
            return {"payment": pid, "already": earlier.outcome, "recorded": earlier.recorded,
                    "parked_payment_id": earlier.parked_payment_id}
        mine = our_payment(uow, realm_id, payment)
        if mine is not None:
            return _echo(uow, realm_id, payment, mine, event_id)
        try:
            total = amount(payment.get("TotalAmt"), "TotalAmt")
        except ValueError as e:
            raise ValidationFailed(str(e), code="accounting.bad_object", field="TotalAmt") from None
        cur = _ref(payment, "CurrencyRef")
        received_on = _date(payment.get("TxnDate")) or uow.clock.today()
        reference = f"QuickBooks payment {pid}" + (f" ({payment['PaymentRefNum']})"
                                                   if payment.get("PaymentRefNum") else "")
        # The key first: a second worker on the same payment fails here (unique) and retries into "already".
        row = AccountingPaymentInRow(provider=PROVIDER, realm_id=realm_id, external_id=pid, amount_minor=0,
                                     currency=cur, outcome="recorded", recorded=[], source_event_id=event_id,
                                     sync_token=str(payment.get("SyncToken") or ""), created_at=uow.clock.now())
        uow.session.add(row)
        uow.flush()
        recorded: list[dict[str, Any]] = []
        problems: list[tuple[str, str, InvoiceRow | None]] = []   # reason, detail, invoice
        applied = Decimal(0)
        for line in payment.get("Line") or []:
            if not isinstance(line, dict):
                continue
            try:
                part = amount(line.get("Amount"), "Line.Amount")
            except ValueError:
                continue
            for txn in _linked_invoices(line)[:1]:
                applied += part
                our_id = local_id(uow, "invoice", txn)
                inv = uow.invoices.get(our_id) if our_id is not None else None
                why = _fits(inv, cur, part)
                if why:
                    problems.append((why, _detail(why, txn, inv, part, cur), inv))
                    continue
                assert inv is not None
                with accounting.recording_from(uow, PROVIDER, pid):  # mapped to it: never pushed back
                    view = invoicing.record_payment(uow, actor, inv.id, format(part, "f"), received_on, reference)
                recorded.append({"invoice_id": inv.id, "number": inv.number, "amount": format(part, "f"),
                                 "status": view.status, "balance": view.balance})
        unapplied = total - applied
        if unapplied > 0:
            problems.append(("unknown_invoice", f"{format(unapplied, 'f')} of it is linked to no invoice in "
                             "QuickBooks", None))
        # A single-currency company sends no CurrencyRef: the payment is in the currency of the invoices it pays.
        invoices = [p[2] for p in problems if p[2] is not None] + [uow.invoices.get(r["invoice_id"]) for r in recorded]
        currency = cur or next((i.currency for i in invoices if i is not None), "")
        row.currency, row.recorded = currency, recorded
        row.amount_minor = _minor(total, currency)
        if problems:
            parked_amount = total - sum((Decimal(r["amount"]) for r in recorded), Decimal(0))
            first_inv = next((p[2] for p in problems if p[2] is not None), None)
            parked = payments_parked.park(
                uow, actor, amount=parked_amount, currency=currency, received_on=received_on,
                reason=payments_parked.Reason(problems[0][0]), detail="; ".join(p[1] for p in problems),
                invoice_number=first_inv.number or "" if first_inv else "", invoice=first_inv,
                payer=_name(payment, "CustomerRef"), reference=reference, source_event_id=event_id)
            row.parked_payment_id = parked.id
            row.outcome = "partly" if recorded else "parked"
        uow.audit.record(actor, "accounting.payment_received", "accounting_payment", row.id, after={
            "provider": PROVIDER, "realm_id": realm_id, "payment": pid, "amount": format(total, "f"),
            "currency": currency, "outcome": row.outcome, "recorded": recorded,
            "parked_payment_id": row.parked_payment_id})
        uow.flush()
        result = {"payment": pid, "outcome": row.outcome, "recorded": recorded,
                  "parked_payment_id": row.parked_payment_id}
        uow.commit()
    return result


def our_payment(uow: UnitOfWork, realm_id: str, payment: dict[str, Any]) -> int | None:
    """Our payment's id when this Payment is one the outbound sync created there (by its mapping, or, before the
    mapping is written, by the note it carries with this connection's prefix); None for a payment made there."""
    pid = str(payment.get("Id") or "")
    mapped = uow.session.execute(select(AccountingMappingRow.local_id).where(
        AccountingMappingRow.provider == PROVIDER, AccountingMappingRow.kind == "payment",
        AccountingMappingRow.remote_id == pid, AccountingMappingRow.remote_status != THEIRS).limit(1)
    ).scalar_one_or_none()
    if mapped is not None:
        return int(mapped)
    conn = uow.session.execute(select(AccountingConnectionRow).where(
        AccountingConnectionRow.provider == PROVIDER, AccountingConnectionRow.realm_id == realm_id)
    ).scalar_one_or_none()
    prefix = str((conn.config or {}).get("prefix") or "") if conn is not None else ""
    local = payment_of_note(payment.get("PrivateNote"), prefix) if prefix else None
    if local is None or uow.session.get(PaymentRow, local) is None:
        return None
    return local


def _echo(uow: UnitOfWork, realm_id: str, payment: dict[str, Any], mine: int, event_id: int | None
          ) -> dict[str, Any]:
    """Our own payment come back (webhook or catch-up): nothing is recorded; its mapping is written if the push has
    not written it yet (a push interrupted after QuickBooks created it then finds it done)."""
    pid = str(payment.get("Id"))
    now = uow.clock.now()
    m = uow.session.execute(select(AccountingMappingRow).where(
        AccountingMappingRow.provider == PROVIDER, AccountingMappingRow.kind == "payment",
        AccountingMappingRow.local_id == mine)).scalar_one_or_none()
    if m is None:
        uow.session.add(AccountingMappingRow(provider=PROVIDER, kind="payment", local_id=mine, remote_id=pid,
                                             sync_token=str(payment.get("SyncToken") or "0"), pushed_at=now,
                                             updated_at=now))
    cur = _ref(payment, "CurrencyRef")
    try:
        total = amount(payment.get("TotalAmt"), "TotalAmt")
    except ValueError:
        total = Decimal(0)
    uow.session.add(AccountingPaymentInRow(provider=PROVIDER, realm_id=realm_id, external_id=pid,
                                           amount_minor=_minor(total, cur), currency=cur, outcome="ours",
                                           recorded=[], source_event_id=event_id,
                                           sync_token=str(payment.get("SyncToken") or ""), created_at=now))
    uow.flush()
    uow.commit()
    return {"payment": pid, "outcome": "ours", "payment_id": mine,
            "note": "pushed from here: nothing to record"}


def _name(obj: dict[str, Any], key: str) -> str:
    ref = obj.get(key)
    return str(ref.get("name") or ref.get("value") or "") if isinstance(ref, dict) else ""


def _date(v: object) -> date | None:
    if isinstance(v, str):
        try:
            return date.fromisoformat(v[:10])
        except ValueError:
            return None
    return None


def _detail(why: str, txn: str, inv: InvoiceRow | None, part: Decimal, cur: str) -> str:
    if inv is None:
        return f"{format(part, 'f')} is linked to QuickBooks invoice {txn}, which is none of ours"
    if why == "currency_mismatch":
        return f"{format(part, 'f')} {cur} paid on {inv.number}, which is billed in {inv.currency}"
    if why == "not_payable":
        return f"{format(part, 'f')} paid on {inv.number}, which is {inv.status} and takes no payment"
    balance = Money.from_minor(inv.total_minor - inv.paid_minor - inv.credited_minor, inv.currency)
    return f"{format(part, 'f')} {inv.currency} paid on {inv.number} is more than its balance of {balance}"


# ---- customers: proposals --------------------------------------------------------------------------------------


PROPOSAL_STATUSES = ("pending", "accepted", "refused", "superseded")


class ProposalView(BaseModel):
    id: int
    client_id: int
    client_name: str
    external_id: str
    changes: dict[str, dict[str, str]]
    status: str
    note: str
    decided_by_user_id: int | None
    decided_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, r: ClientUpdateProposalRow, client_name: str) -> ProposalView:
        return cls(id=r.id, client_id=r.client_id, client_name=client_name, external_id=r.external_id,
                   changes=dict(r.changes or {}), status=r.status, note=r.note,
                   decided_by_user_id=r.decided_by_user_id, decided_at=r.decided_at, created_at=r.created_at)


def client_fields(c: ClientRow) -> dict[str, str]:
    emails = list(c.billing_emails or [])
    return {"name": c.name, "email": str(emails[0]) if emails else "", "street": c.address_street,
            "additional": c.address_additional, "postcode": c.address_postcode, "city": c.address_city,
            "region": c.address_region, "country": c.address_country}


def _pending(uow: UnitOfWork, client_id: int) -> list[ClientUpdateProposalRow]:
    return list(uow.session.execute(select(ClientUpdateProposalRow).where(
        ClientUpdateProposalRow.client_id == client_id, ClientUpdateProposalRow.status == "pending")
        .order_by(ClientUpdateProposalRow.id)).scalars())


def propose_client_update(uow: UnitOfWork, actor: Actor, realm_id: str, customer: dict[str, Any],
                          event_id: int | None) -> dict[str, Any]:
    """A customer read from QuickBooks: when it maps to one of our clients and says something else about its name,
    e-mail or address, a proposal waits for finance (the same proposal again is not repeated; an older pending one
    is superseded). Nothing about the client changes here."""
    require(actor, Perm.MANAGE_CLIENTS)
    cid = str(customer.get("Id") or "")
    with uow:
        our_id = local_id(uow, "customer", cid) if cid else None
        client = uow.clients.get(our_id) if our_id is not None else None
        if client is None:
            return {"customer": cid, "note": "not one of our clients"}
        changes = client_changes(client_fields(client), customer_fields(customer))
        pending = _pending(uow, client.id)
        if pending and pending[-1].changes == changes:
            return {"customer": cid, "client_id": client.id, "proposal_id": pending[-1].id, "note": "already proposed"}
        for p in pending:
            p.status, p.note = "superseded", "a later change in QuickBooks replaced it"
            uow.audit.record(actor, "client.update_superseded", "client_update_proposal", p.id,
                             after={"status": p.status})
        if not changes:
            uow.flush()
            uow.commit()
            return {"customer": cid, "client_id": client.id, "note": "the same as ours"}
        row = ClientUpdateProposalRow(client_id=client.id, provider=PROVIDER, realm_id=realm_id, external_id=cid,
                                      changes=changes, status="pending", source_event_id=event_id, note="",
                                      created_at=uow.clock.now())
        uow.session.add(row)
        uow.flush()
        uow.audit.record(actor, "client.update_proposed", "client_update_proposal", row.id, after={
            "client_id": client.id, "client": client.name, "provider": PROVIDER, "customer": cid,
            "changes": changes})
        result = {"customer": cid, "client_id": client.id, "proposal_id": row.id, "changes": sorted(changes)}
        uow.commit()
    return result


def list_proposals(uow: UnitOfWork, actor: Actor, status: str | None = "pending", limit: int = 100,
                   offset: int = 0) -> list[ProposalView]:
    """Client updates proposed from QuickBooks, newest first (pending by default; "all" for every one)."""
    require(actor, Perm.MANAGE_CLIENTS)
    if status not in (None, "all", *PROPOSAL_STATUSES):
        raise ValidationFailed(f"unknown status {status!r}; one of {', '.join(PROPOSAL_STATUSES)} or all",
                               field="status")
    if not 1 <= limit <= 500:
        raise ValidationFailed("must be between 1 and 500", field="limit")
    with uow:
        q = select(ClientUpdateProposalRow).order_by(ClientUpdateProposalRow.id.desc()).limit(limit).offset(offset)
        if status not in (None, "all"):
            q = q.where(ClientUpdateProposalRow.status == status)
        rows = list(uow.session.execute(q).scalars())
        names = {c.id: c.name for c in (uow.clients.get(i) for i in {r.client_id for r in rows}) if c is not None}
        return [ProposalView.of(r, names.get(r.client_id, "?")) for r in rows]


def _decidable(uow: UnitOfWork, actor: Actor, proposal_id: int) -> ClientUpdateProposalRow:
    require(actor, Perm.MANAGE_CLIENTS)
    if not actor.is_person_like:
        raise Forbidden("a person decides whether a change made in QuickBooks applies here",
                        code="client_update.person_only")
    row = uow.session.get(ClientUpdateProposalRow, proposal_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no client update proposal with id {proposal_id}", code="client_update.not_found",
                       field="proposal_id")
    if row.status != "pending":
        raise BadTransition(f"this proposal is already {row.status}", code="client_update.decided",
                            field="proposal_id", details={"status": row.status})
    return row


def accept_proposal(uow: UnitOfWork, actor: Actor, proposal_id: int) -> ProposalView:
    """Apply what QuickBooks says to the client (through the client update, validated and audited)."""
    with uow:
        row = _decidable(uow, actor, proposal_id)
        client = uow.clients.get(row.client_id)
        assert client is not None
        theirs = {f: c["theirs"] for f, c in (row.changes or {}).items()}
        patch: dict[str, Any] = {}
        if "name" in theirs:
            patch["name"] = theirs["name"]
        if "email" in theirs:
            rest = [e for e in client.billing_emails or [] if str(e).casefold() != theirs["email"].casefold()]
            patch["billing_emails"] = [theirs["email"], *rest[1:]]
        address = {f: theirs[f] for f in ("street", "additional", "postcode", "city", "region", "country")
                   if f in theirs}
        if address:
            patch["address"] = address
        clients.update_client(uow, actor, client.id, patch)
        row.status, row.decided_at, row.decided_by_user_id = "accepted", uow.clock.now(), actor.user_id
        uow.audit.record(actor, "client.update_accepted", "client_update_proposal", row.id,
                         before={"status": "pending"}, after={"status": "accepted", "client_id": client.id,
                                                              "changes": row.changes})
        uow.flush()
        view = ProposalView.of(row, client.name)
        uow.commit()
    return view


def refuse_proposal(uow: UnitOfWork, actor: Actor, proposal_id: int, reason: str = "") -> ProposalView:
    """Keep ours: the proposal is closed and the client stays as it is (QuickBooks keeps its version until the
    client is next pushed)."""
    with uow:
        row = _decidable(uow, actor, proposal_id)
        row.status, row.decided_at, row.decided_by_user_id = "refused", uow.clock.now(), actor.user_id
        row.note = reason.strip()[:2000]
        uow.audit.record(actor, "client.update_refused", "client_update_proposal", row.id,
                         before={"status": "pending"}, after={"status": "refused", "reason": row.note})
        client = uow.clients.get(row.client_id)
        uow.flush()
        view = ProposalView.of(row, client.name if client else "?")
        uow.commit()
    return view


# ---- the Change Data Capture catch-up --------------------------------------------------------------------------


class CatchUpReport(BaseModel):
    realm_id: str
    changed_since: datetime
    next_since: datetime
    objects: int
    queued: int
    pages: int
    gap: bool   # the cursor was older than CDC reaches: changes before the lookback may be missed


def _parse_time(v: object) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def connected_realms(uow: UnitOfWork) -> list[str]:
    """The companies the catch-up reads (connected, not paused)."""
    with uow:
        return [r for r in uow.session.execute(select(AccountingConnectionRow.realm_id).where(
            AccountingConnectionRow.provider == PROVIDER, AccountingConnectionRow.status == "connected")).scalars()
            if r]


def catch_up(uow: UnitOfWork, actor: Actor, realm_id: str, reader: AccountingReader) -> CatchUpReport:
    """Ask QuickBooks for the payments and customers changed since the cursor (at most 30 days back, 1000 objects a
    response), store each as an `accounting.changed` event (the same change found twice is one event; a payment
    already recorded from a webhook is not recorded again) and move the cursor. No transaction is open while
    QuickBooks answers."""
    require(actor, Perm.PAYMENTS)
    with uow:
        conn = uow.session.execute(select(AccountingConnectionRow).where(
            AccountingConnectionRow.provider == PROVIDER, AccountingConnectionRow.realm_id == realm_id)
        ).scalar_one_or_none()
        if conn is None:
            raise NotFound(f"QuickBooks company {realm_id} is not connected", code="accounting.not_connected",
                           field="realm_id")
        floor = reader.now() - CDC_LOOKBACK + timedelta(minutes=1)
        start = conn.cdc_cursor or floor
        gap = conn.cdc_cursor is not None and conn.cdc_cursor < floor
        since = max(start, floor)
    first, objects, queued, pages = since, 0, 0, 0
    nxt = since
    while pages < CDC_PAGES:
        pages += 1
        asked_at = reader.now()
        answer = reader.cdc(ENTITIES, since)
        items: list[Incoming] = []
        truncated_at: list[datetime] = []
        latest = since
        for entity in ENTITIES:
            objs = answer.get(entity) or []
            times = []
            for obj in objs:
                oid = str(obj.get("Id") or "")
                if not oid:
                    continue
                meta = obj.get("MetaData") or {}
                at = _parse_time(meta.get("LastUpdatedTime")) if isinstance(meta, dict) else None
                if at is not None:
                    times.append(at)
                deleted = str(obj.get("status") or "").lower() == "deleted"
                op = "Delete" if deleted else "Update"
                stamp = at.isoformat() if at else str(obj.get("SyncToken") or "-")
                items.append(Incoming(f"qbo:{realm_id}:{entity}:{oid}:cdc:{stamp}", EventType.ACCOUNTING_CHANGED,
                                      {"provider": PROVIDER, "realm_id": realm_id, "entity": entity,
                                       "entity_id": oid, "operation": op,
                                       "changed_at": at.isoformat() if at else None, "via": "cdc",
                                       "object": None if deleted else obj}, at))
            if times:
                latest = max(latest, *times)
            if len(objs) >= CDC_MAX_OBJECTS and times:
                truncated_at.append(max(times))
        objects += len(items)
        with uow:
            known = uow.events.existing_keys(SOURCE, [i.event_id for i in items])
            receipt = store_events(uow, source_actor(SOURCE), SOURCE, [i for i in items if i.event_id not in known])
            queued += len(receipt.accepted)
            conn = uow.session.execute(select(AccountingConnectionRow).where(
                AccountingConnectionRow.provider == PROVIDER, AccountingConnectionRow.realm_id == realm_id)
            ).scalar_one()
            # Truncated: go on from the last change seen in the fullest entity (re-read changes are duplicates).
            nxt = min(truncated_at) if truncated_at else max(max(latest, asked_at) - CDC_OVERLAP, since)
            if conn.cdc_cursor is None or nxt > conn.cdc_cursor:
                conn.cdc_cursor = nxt
            uow.commit()
        if not truncated_at or min(truncated_at) <= since:
            break
        since = min(truncated_at)
    return CatchUpReport(realm_id=realm_id, changed_since=first, next_since=max(nxt, first), objects=objects,
                         queued=queued, pages=pages, gap=gap)


# ---- reading what webhooks named (the worker, before each round) ------------------------------------------------


class Unread(BaseModel):
    event_id: int
    realm_id: str
    entity: str
    entity_id: str


def unread_changes(uow: UnitOfWork, limit: int = 200) -> list[Unread]:
    """Changes waiting to be processed whose object is not read yet (webhooks name an entity, never its content)."""
    with uow:
        rows = uow.session.execute(select(EventRow).where(
            EventRow.source == SOURCE, EventRow.type == EventType.ACCOUNTING_CHANGED.value,
            EventRow.status == "received").order_by(EventRow.id).limit(limit * 2)).scalars()
        out = []
        for ev in rows:
            d = ev.data or {}
            if d.get("object") is None and not d.get("missing") and d.get("entity") in ENTITIES \
                    and d.get("operation") not in ("Delete", "Void", "Merge"):
                out.append(Unread(event_id=ev.id, realm_id=str(d.get("realm_id")), entity=str(d["entity"]),
                                  entity_id=str(d.get("entity_id"))))
        return out[:limit]


def read_objects(reader: AccountingReader, wanted: Sequence[Unread]) -> dict[int, dict[str, Any] | None]:
    """The objects the changes name, read in batched queries (None: QuickBooks does not have it any more)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for entity in ENTITIES:
        ids = sorted({w.entity_id for w in wanted if w.entity == entity and w.entity_id.isalnum()})
        for i in range(0, len(ids), 100):
            quoted = ", ".join(f"'{x}'" for x in ids[i:i + 100])
            for obj in reader.query(f"select * from {entity} where Id in ({quoted}) maxresults 1000"):
                found[(entity, str(obj.get("Id")))] = obj
    return {w.event_id: found.get((w.entity, w.entity_id)) for w in wanted}


def attach_objects(uow: UnitOfWork, objects: dict[int, dict[str, Any] | None]) -> int:
    """Keep what was read with each change (the event log then shows what QuickBooks said); how many."""
    with uow:
        n = 0
        for ev in uow.events.load(list(objects)):
            if ev.status != "received" or (ev.data or {}).get("object") is not None:
                continue
            obj = objects[ev.id]
            # amounts arrive as Decimals: kept as decimal strings (a float never holds money)
            kept = json.loads(json.dumps(obj, default=str)) if obj is not None else None
            ev.data = {**(ev.data or {}), **({"object": kept} if kept is not None else {"missing": True})}
            n += 1
        uow.commit()
    return n


__all__ = ["AccountingReader", "CatchUpReport", "NotReadYet", "ProposalView", "accept_proposal", "apply_change",
           "apply_payment", "attach_objects", "catch_up", "list_proposals", "propose_client_update",
           "read_objects", "refuse_proposal", "unread_changes"]
