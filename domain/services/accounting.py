"""Accounting sync (issue 16): the connection to an accounting system, the sync's own queue, and what the books
hand it. The channel (channels/accounting) speaks to QuickBooks; everything decided or recorded is here.

The queue: the outbox has one consumer per row (Slack, e-mail), so the sync gets its own durable rows, written by
`fan_out` in the same transaction as the event whenever a connection exists (connected or paused). A failing push
therefore re-sends no notification, nothing is lost while paused, and the rows are worked in id order after
reconnecting. While disconnected nothing is queued: connecting again pushes what the mapping tables do not know yet
(the backfill), so nothing is missed either.

Payments: `payment.recorded` queues a push of the payment by its id, unless it was recorded from a payment made in
the accounting system (`recording_from`): that one is mapped to it instead (remote_status "theirs") and never sent
back. A payment recorded while disconnected is not queued; the backfill sends those on the invoices it creates, and
the drift report offers a re-push for the others.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select, update

from domain.errors import NotFound, ValidationFailed
from domain.model import accounting as acc
from domain.model.money import Money
from domain.model.outbox_events import AccountingPaused, BookEvent
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.store.tables import (
    AccountingConnectionRow,
    AccountingItemRow,
    AccountingMappingRow,
    AccountingPaymentInRow,
    AccountingQueueRow,
    ArrangementRow,
    ClientRow,
    InvoiceRow,
    PaymentRow,
)
from domain.store.uow import UnitOfWork

MAX_ATTEMPTS = 12


def from_minor(minor: int, currency: str) -> Decimal:
    return Money.from_minor(minor, currency).amount
LEASE = timedelta(seconds=120)


# ---- views -----------------------------------------------------------------------------------------------------


class ConnectionView(BaseModel):
    """What a person sees of the connection (never the tokens)."""

    provider: str
    status: acc.ConnectionStatus
    realm_id: str = ""
    company_name: str = ""
    connected_by: str = ""
    connected_at: datetime | None = None
    paused_reason: str = ""
    paused_at: datetime | None = None
    access_expires_at: datetime | None = None
    backfilled_at: datetime | None = None
    pending: int = 0
    dead: int = 0
    pushed: int = 0


class QueueItemView(BaseModel):
    id: int
    topic: str
    subject: str
    ref_id: int
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    done_at: datetime | None


class ItemMapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arrangement_kind: str = Field(min_length=1, max_length=30)
    item_name: str = Field(min_length=1, max_length=100)
    income_account: str = Field(default="", max_length=60)


@dataclass(frozen=True)
class Secrets:
    """The connection as the sync needs it (tokens still encrypted: only the channel holds the key)."""

    realm_id: str
    access_token: str
    refresh_token: str
    access_expires_at: datetime | None
    status: str
    prefix: str
    tax_codes: dict[str, str]
    backfilled: bool = True
    ready: bool = False  # work is waiting and due now


def _conn(uow: UnitOfWork, provider: str = acc.QUICKBOOKS, for_update: bool = False) -> AccountingConnectionRow | None:
    q = select(AccountingConnectionRow).where(AccountingConnectionRow.provider == provider)
    if for_update:
        q = q.with_for_update()
    return uow.session.execute(q).scalar_one_or_none()


def _view(uow: UnitOfWork, row: AccountingConnectionRow | None, provider: str = acc.QUICKBOOKS) -> ConnectionView:
    if row is None:
        return ConnectionView(provider=provider, status="disconnected")
    counts = dict(uow.session.execute(
        select(AccountingQueueRow.status, func.count()).where(AccountingQueueRow.provider == provider)
        .group_by(AccountingQueueRow.status)).all())
    pushed = uow.session.execute(select(func.count()).select_from(AccountingMappingRow).where(
        AccountingMappingRow.provider == provider, AccountingMappingRow.kind.in_(("invoice", "credit_note")))
    ).scalar_one()
    status: acc.ConnectionStatus = row.status  # type: ignore[assignment]
    return ConnectionView(
        provider=provider, status=status, realm_id=row.realm_id, company_name=row.company_name,
        connected_by=row.connected_by, connected_at=row.connected_at, paused_reason=row.paused_reason,
        paused_at=row.paused_at, access_expires_at=row.access_expires_at, backfilled_at=row.backfilled_at,
        pending=int(counts.get("pending", 0)), dead=int(counts.get("dead", 0)), pushed=int(pushed))


# ---- the connection (people) -----------------------------------------------------------------------------------


def connection_status(uow: UnitOfWork, actor: Actor, provider: str = acc.QUICKBOOKS) -> ConnectionView:
    """The connection's state: company, realm, connected/paused/disconnected (and why), what waits to be pushed."""
    require(actor, Perm.EXPORT_BOOKS)
    with uow:
        return _view(uow, _conn(uow, provider), provider)


def may_connect(actor: Actor) -> None:
    """Refuse, naming who can, unless the actor may connect or disconnect the company's books (owners)."""
    require(actor, Perm.MANAGE_COMPANY)


def save_connection(uow: UnitOfWork, actor: Actor, *, realm_id: str, company_name: str, access_token: str,
                    refresh_token: str, access_expires_at: datetime, refresh_expires_at: datetime | None,
                    provider: str = acc.QUICKBOOKS) -> ConnectionView:
    """Record a completed connection (tokens already encrypted). Reconnecting the same company resumes the queue
    where it stopped; another company starts its mappings afresh (their ids mean nothing there)."""
    require(actor, Perm.MANAGE_COMPANY)
    if not realm_id:
        raise ValidationFailed("QuickBooks named no company (realmId)", field="realm_id")
    with uow:
        now = uow.clock.now()
        row = _conn(uow, provider, for_update=True)
        before = None
        if row is None:
            row = AccountingConnectionRow(provider=provider, updated_at=now, config={}, status="disconnected")
            uow.session.add(row)
        else:
            before = {"status": row.status, "realm_id": row.realm_id, "company_name": row.company_name}
        if row.status == "disconnected":
            row.backfilled_at = None  # nothing was queued while disconnected: look for what is missing there
        if row.realm_id and row.realm_id != realm_id:
            _forget_company(uow, provider)
            row.backfilled_at = None
            row.cdc_cursor = None
            row.config = {k: v for k, v in (row.config or {}).items() if k != "prefix"}
        row.realm_id, row.company_name = realm_id, company_name[:200]
        row.access_token, row.refresh_token = access_token, refresh_token
        row.access_expires_at, row.refresh_expires_at = access_expires_at, refresh_expires_at
        row.status, row.paused_reason, row.paused_at = "connected", "", None
        row.connected_by = actor.label or actor.email or actor.kind.value
        row.connected_at = row.updated_at = now
        row.lease_owner, row.lease_until = "", None
        if not (row.config or {}).get("prefix"):
            # requestids are unique per company: this connection's own prefix keeps two installs (or a database
            # restored from a backup) from replaying each other's answers
            row.config = {**(row.config or {}), "prefix": "b" + secrets.token_hex(4)}
        # work that waited for a reconnect runs now
        uow.session.execute(update(AccountingQueueRow).where(
            AccountingQueueRow.provider == provider, AccountingQueueRow.status == "pending").values(run_after=now))
        uow.flush()
        uow.audit.record(actor, "accounting.connected", "accounting", provider, before=before,
                         after={"status": "connected", "realm_id": realm_id, "company_name": company_name})
        view = _view(uow, row, provider)
        uow.commit()
    return view


def _forget_company(uow: UnitOfWork, provider: str) -> None:
    uow.session.execute(delete(AccountingMappingRow).where(AccountingMappingRow.provider == provider))
    uow.session.execute(update(AccountingItemRow).where(AccountingItemRow.provider == provider)
                        .values(remote_id="", sync_token="0"))


def disconnect(uow: UnitOfWork, actor: Actor, provider: str = acc.QUICKBOOKS) -> tuple[ConnectionView, str]:
    """Stop syncing and forget the tokens; the view and the refresh token's ciphertext (to revoke it at Intuit).
    Queued work is kept (it runs if the same company is connected again); nothing new is queued meanwhile."""
    require(actor, Perm.MANAGE_COMPANY)
    with uow:
        row = _conn(uow, provider, for_update=True)
        if row is None or row.status == "disconnected":
            return _view(uow, row, provider), ""
        refresh = row.refresh_token or row.access_token
        before = {"status": row.status, "realm_id": row.realm_id, "company_name": row.company_name}
        row.status, row.access_token, row.refresh_token = "disconnected", "", ""
        row.access_expires_at = row.refresh_expires_at = None
        row.updated_at = uow.clock.now()
        uow.audit.record(actor, "accounting.disconnected", "accounting", provider, before=before,
                         after={"status": "disconnected"})
        view = _view(uow, row, provider)
        uow.commit()
    return view, refresh


def pause(uow: UnitOfWork, actor: Actor, reason: str, provider: str = acc.QUICKBOOKS) -> bool:
    """Pause the sync (a refresh failed: someone must reconnect). Finance and owners are told through the outbox
    (`accounting.paused`, Slack) and the dashboard; the queue keeps filling. False when it was not connected."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        row = _conn(uow, provider, for_update=True)
        if row is None or row.status != "connected":
            return False
        now = uow.clock.now()
        row.status, row.paused_reason, row.paused_at, row.updated_at = "paused", reason[:2000], now, now
        row.lease_owner, row.lease_until = "", None
        uow.audit.record(actor, "accounting.paused", "accounting", provider, before={"status": "connected"},
                         after={"status": "paused", "reason": reason[:500]})
        pending = uow.session.execute(select(func.count()).select_from(AccountingQueueRow).where(
            AccountingQueueRow.provider == provider, AccountingQueueRow.status == "pending")).scalar_one()
        from domain.services.outbox import emit

        emit(uow, AccountingPaused(provider=provider, company_name=row.company_name, realm_id=row.realm_id,
                                   reason=reason[:500], pending=int(pending), at=now.isoformat()))
        uow.commit()
    return True


def store_tokens(uow: UnitOfWork, actor: Actor, *, access_token: str, refresh_token: str,
                 access_expires_at: datetime, refresh_expires_at: datetime | None,
                 provider: str = acc.QUICKBOOKS) -> None:
    """Keep refreshed tokens (encrypted): always the newest refresh token, the old one goes stale."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        row = _conn(uow, provider, for_update=True)
        if row is None or row.status == "disconnected":
            return
        row.access_token, row.refresh_token = access_token, refresh_token
        row.access_expires_at, row.refresh_expires_at = access_expires_at, refresh_expires_at
        row.updated_at = uow.clock.now()
        uow.commit()


def connection_secrets(uow: UnitOfWork, actor: Actor, provider: str = acc.QUICKBOOKS) -> Secrets | None:
    """The connection with its (encrypted) tokens, for the sync and the inbound side; None when disconnected."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        row = _conn(uow, provider)
        if row is None or row.status == "disconnected":
            return None
        cfg = row.config or {}
        ready = uow.session.execute(select(AccountingQueueRow.id).where(
            AccountingQueueRow.provider == provider, AccountingQueueRow.status == "pending",
            AccountingQueueRow.run_after <= uow.clock.now()).limit(1)).first() is not None
        return Secrets(row.realm_id, row.access_token, row.refresh_token, row.access_expires_at, row.status,
                       str(cfg.get("prefix") or "b"), dict(cfg.get("tax_codes") or {}),
                       backfilled=row.backfilled_at is not None, ready=ready)


# ---- configuration -------------------------------------------------------------------------------------------


def list_items(uow: UnitOfWork, actor: Actor, provider: str = acc.QUICKBOOKS) -> dict[str, str]:
    """The item each arrangement kind's lines map to (defaults filled in)."""
    require(actor, Perm.EXPORT_BOOKS)
    with uow:
        rows = uow.session.execute(select(AccountingItemRow).where(AccountingItemRow.provider == provider)).scalars()
        return {**acc.DEFAULT_ITEMS, **{r.arrangement_kind: r.item_name for r in rows}}


def set_item(uow: UnitOfWork, actor: Actor, data: ItemMapIn | dict[str, Any],
             provider: str = acc.QUICKBOOKS) -> dict[str, str]:
    """Map an arrangement kind's lines to a named item (created there on first use)."""
    require(actor, Perm.MANAGE_SETTINGS)
    data = data if isinstance(data, ItemMapIn) else ItemMapIn.model_validate(data)
    if data.arrangement_kind not in acc.DEFAULT_ITEMS:
        raise ValidationFailed(f"unknown arrangement kind {data.arrangement_kind!r}; one of "
                               f"{', '.join(acc.DEFAULT_ITEMS)}", field="arrangement_kind")
    with uow:
        row = uow.session.execute(select(AccountingItemRow).where(
            AccountingItemRow.provider == provider,
            AccountingItemRow.arrangement_kind == data.arrangement_kind)).scalar_one_or_none()
        if row is None:
            row = AccountingItemRow(provider=provider, arrangement_kind=data.arrangement_kind, remote_id="",
                                    sync_token="0", updated_at=uow.clock.now())
            uow.session.add(row)
        if row.item_name != data.item_name:
            row.remote_id, row.sync_token = "", "0"
        row.item_name, row.income_account, row.updated_at = data.item_name, data.income_account, uow.clock.now()
        uow.audit.record(actor, "accounting.item_mapped", "accounting", provider,
                         after=data.model_dump())
        uow.commit()
    return list_items(uow, actor, provider)


def set_tax_codes(uow: UnitOfWork, actor: Actor, codes: dict[str, str],
                  provider: str = acc.QUICKBOOKS) -> dict[str, str]:
    """Map tax treatments (standard, zero, exempt, reverse_charge, or `standard:<rate>`) to TaxCode ids there."""
    require(actor, Perm.MANAGE_SETTINGS)
    for key in codes:
        base = key.split(":", 1)[0]
        if base not in acc.DEFAULT_TAX_CODES:
            raise ValidationFailed(f"unknown tax treatment {key!r}: one of standard, zero, exempt, reverse_charge "
                                   "(optionally :<rate>)", field="tax_codes")
    with uow:
        row = _conn(uow, provider, for_update=True)
        if row is None:
            raise NotFound("connect QuickBooks first", code="accounting.not_connected")
        row.config = {**(row.config or {}), "tax_codes": dict(codes)}
        uow.audit.record(actor, "accounting.tax_codes", "accounting", provider, after=dict(codes))
        uow.commit()
    return {**acc.DEFAULT_TAX_CODES, **codes}


def sync_queue(uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 100,
               provider: str = acc.QUICKBOOKS) -> list[QueueItemView]:
    """The sync's work list, newest first (pending, done, dead)."""
    require(actor, Perm.EXPORT_BOOKS)
    with uow:
        q = select(AccountingQueueRow).where(AccountingQueueRow.provider == provider)
        if status:
            q = q.where(AccountingQueueRow.status == status)
        rows = uow.session.execute(q.order_by(AccountingQueueRow.id.desc()).limit(limit)).scalars()
        return [QueueItemView(id=r.id, topic=r.topic, subject=r.subject, ref_id=r.ref_id, status=r.status,
                              attempts=r.attempts, last_error=r.last_error, created_at=r.created_at,
                              done_at=r.done_at) for r in rows]


# ---- the queue (fan-out at emit time) ------------------------------------------------------------------------


def _listening(uow: UnitOfWork) -> list[str]:
    """The providers that take queued work now (connected or paused), asked once per transaction."""
    cached = uow.session.info.get("accounting_listening")
    if cached is None:
        cached = list(uow.session.execute(select(AccountingConnectionRow.provider).where(
            AccountingConnectionRow.status.in_(("connected", "paused")))).scalars())
        uow.session.info["accounting_listening"] = cached
    return list(cached)


def forget_listening(uow: UnitOfWork) -> None:
    uow.session.info.pop("accounting_listening", None)


def fan_out(uow: UnitOfWork, events: Iterable[BookEvent]) -> None:
    """Queue the sync's share of these events in the caller's transaction (called by the outbox's emit)."""
    todo = [e for e in events if e.topic in acc.SYNC_TOPICS]
    if not todo:
        return
    providers = _listening(uow)
    if not providers:
        return
    now = uow.clock.now()
    rows = []
    origin = uow.session.info.get(_ORIGIN)
    for e in todo:
        payload = e.model_dump(mode="json")
        subject = acc.SYNC_TOPICS[e.topic]
        ref = payload.get("credit_note_id") if e.topic == "invoice.credited" else payload.get("invoice_id")
        if e.topic == "invoice.issued" and payload.get("kind") == "credit_note":
            continue  # its invoice.credited carries it (with the invoice it corrects)
        if subject == "payment":
            ref = payload.get("payment_id")
            if ref is None:
                continue  # written by an older build: no id to push it by (the drift report shows it)
        for p in providers:
            if subject == "payment" and origin is not None and origin[0] == p:
                # recorded from a payment made there: it is there already; mapped, never pushed back
                uow.session.add(AccountingMappingRow(
                    provider=p, kind="payment", local_id=int(ref or 0), remote_id=origin[1][:60], sync_token="",
                    remote_status=acc.THEIRS, currency=str(payload.get("currency") or "")[:3], pushed_at=now,
                    updated_at=now))
                continue
            rows.append({"provider": p, "topic": e.topic, "subject": subject, "ref_id": int(ref or 0),
                         "payload": payload, "status": "pending", "attempts": 0, "run_after": now,
                         "last_error": "", "created_at": now})
    if rows:
        from sqlalchemy import insert

        uow.session.execute(insert(AccountingQueueRow), rows)


_ORIGIN = "accounting_payment_origin"


@contextmanager
def recording_from(uow: UnitOfWork, provider: str, remote_id: str) -> Iterator[None]:
    """Payments recorded inside this block come FROM the accounting system (its payment `remote_id`): `fan_out`
    maps them to it instead of queueing a push, so they are never sent back as a second payment."""
    before = uow.session.info.get(_ORIGIN)
    uow.session.info[_ORIGIN] = (provider, remote_id)
    try:
        yield
    finally:
        if before is None:
            uow.session.info.pop(_ORIGIN, None)
        else:
            uow.session.info[_ORIGIN] = before


def parked_origin(uow: UnitOfWork, parked_id: int, provider: str = acc.QUICKBOOKS) -> str | None:
    """The accounting system's payment id when a parked payment was parked from a payment made there; else None
    (applying it here must not push it there a second time)."""
    return uow.session.execute(select(AccountingPaymentInRow.external_id).where(
        AccountingPaymentInRow.provider == provider, AccountingPaymentInRow.parked_payment_id == parked_id)
        .limit(1)).scalar_one_or_none()


def ours_to_push(uow: UnitOfWork, invoice_ids: Iterable[int], provider: str = acc.QUICKBOOKS
                 ) -> dict[int, list[int]]:
    """invoice id -> the payments recorded on it here that are ours to push (not recorded from a payment made in
    the accounting system), oldest first. Mapped ones included: a forced push checks they are still there."""
    ids = list(invoice_ids)
    if not ids:
        return {}
    theirs = select(AccountingMappingRow.local_id).where(
        AccountingMappingRow.provider == provider, AccountingMappingRow.kind == "payment",
        AccountingMappingRow.remote_status == acc.THEIRS)
    out: dict[int, list[int]] = {}
    for pid, inv in uow.session.execute(select(PaymentRow.id, PaymentRow.invoice_id).where(
            PaymentRow.invoice_id.in_(ids), PaymentRow.id.not_in(theirs),
            # recorded by the inbound side before payments had mappings
            PaymentRow.reference.not_like(acc.FROM_QUICKBOOKS_REFERENCE + "%")).order_by(PaymentRow.id)).all():
        out.setdefault(int(inv), []).append(int(pid))
    return out


def queue_payments(uow: UnitOfWork, payment_ids: Iterable[int], *, force: bool = False, reason: str = "",
                   provider: str = acc.QUICKBOOKS) -> list[int]:
    """Queue pushes of these payments (in the caller's transaction), skipping one whose push is already pending;
    `force` re-checks a mapped one there (re-created when deleted there). The queue ids."""
    ids = sorted(set(payment_ids))
    if not ids:
        return []
    pending = set(uow.session.execute(select(AccountingQueueRow.ref_id).where(
        AccountingQueueRow.provider == provider, AccountingQueueRow.status == "pending",
        AccountingQueueRow.subject == "payment", AccountingQueueRow.ref_id.in_(ids))).scalars())
    dead = {int(r.ref_id): r for r in uow.session.execute(select(AccountingQueueRow).where(
        AccountingQueueRow.provider == provider, AccountingQueueRow.status == "dead",
        AccountingQueueRow.subject == "payment", AccountingQueueRow.ref_id.in_(ids))).scalars()}
    now = uow.clock.now()
    rows = []
    for pid in ids:
        if pid in pending:
            continue
        extra: dict[str, Any] = {"force": True} if force else {}
        if reason:
            extra["reason"] = reason
        if pid in dead:  # its refused push goes again (a new round: new requestids), not a second task beside it
            r = dead.pop(pid)
            r.payload = {**(r.payload or {}), **extra, "round": int((r.payload or {}).get("round", 0)) + 1}
            r.status, r.attempts, r.run_after, r.done_at = "pending", 0, now, None
            rows.append(r)
            continue
        r = AccountingQueueRow(provider=provider, topic="payment.recorded", subject="payment", ref_id=pid,
                               payload={"payment_id": pid, **extra}, status="pending", attempts=0, run_after=now,
                               last_error="", created_at=now)
        uow.session.add(r)
        rows.append(r)
    uow.flush()
    return [r.id for r in rows]


def queue_client(uow: UnitOfWork, client_id: int) -> None:
    """A client was created or changed: push the customer (called by the clients service, in its transaction)."""
    providers = _listening(uow)
    now = uow.clock.now()
    for p in providers:
        uow.session.add(AccountingQueueRow(provider=p, topic="client.changed", subject="customer", ref_id=client_id,
                                           payload={"client_id": client_id}, status="pending", attempts=0,
                                           run_after=now, last_error="", created_at=now))


# ---- the sync's steps (system) --------------------------------------------------------------------------------


def take_lease(uow: UnitOfWork, actor: Actor, owner: str, lease: timedelta = LEASE,
               provider: str = acc.QUICKBOOKS) -> bool:
    """One pusher at a time keeps the queue's order: True when `owner` holds the lease now."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        now = uow.clock.now()
        row = _conn(uow, provider, for_update=True)
        if row is None or row.status != "connected":
            return False
        if row.lease_owner and row.lease_owner != owner and row.lease_until and row.lease_until > now:
            return False
        row.lease_owner, row.lease_until = owner, now + lease
        uow.commit()
    return True


def release_lease(uow: UnitOfWork, actor: Actor, owner: str, provider: str = acc.QUICKBOOKS) -> None:
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        uow.session.execute(update(AccountingConnectionRow).where(
            AccountingConnectionRow.provider == provider, AccountingConnectionRow.lease_owner == owner)
            .values(lease_owner="", lease_until=None))
        uow.commit()


@dataclass(frozen=True)
class Task:
    id: int
    topic: str
    subject: str
    ref_id: int
    payload: dict[str, Any]
    attempts: int


def next_tasks(uow: UnitOfWork, actor: Actor, limit: int = 20, provider: str = acc.QUICKBOOKS) -> list[Task]:
    """The oldest pending work, in order, up to the first that must wait (order matters: an invoice before its
    void). Empty when the head of the queue waits for its retry time."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        now = uow.clock.now()
        rows = uow.session.execute(select(AccountingQueueRow).where(
            AccountingQueueRow.provider == provider, AccountingQueueRow.status == "pending")
            .order_by(AccountingQueueRow.id).limit(limit)).scalars().all()
        out = []
        for r in rows:
            if r.run_after > now:
                break
            out.append(Task(r.id, r.topic, r.subject, r.ref_id, dict(r.payload), r.attempts))
        return out


def task_done(uow: UnitOfWork, actor: Actor, task_id: int, note: str = "") -> None:
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        row = uow.session.get(AccountingQueueRow, task_id)
        if row is not None and row.status == "pending":
            row.status, row.done_at, row.last_error = "done", uow.clock.now(), note[:2000]
            row.attempts += 1
        uow.commit()


def task_failed(uow: UnitOfWork, actor: Actor, task_id: int, error: str, retry_in: float | None) -> str:
    """Record a failed attempt: retried after `retry_in` seconds, or dead (None: retrying cannot help, or too many
    attempts). The new status."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        row = uow.session.get(AccountingQueueRow, task_id)
        if row is None or row.status != "pending":
            return row.status if row else "gone"
        row.attempts += 1
        row.last_error = error[:2000]
        if retry_in is None or row.attempts >= MAX_ATTEMPTS:
            row.status, row.done_at = "dead", uow.clock.now()
        else:
            row.run_after = uow.clock.now() + timedelta(seconds=retry_in)
        uow.commit()
        return row.status


def retry_dead(uow: UnitOfWork, actor: Actor, provider: str = acc.QUICKBOOKS) -> int:
    """Put dead sync work back in the queue (after fixing its cause, e.g. a mapping); how many."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        rows = uow.session.execute(select(AccountingQueueRow).where(
            AccountingQueueRow.provider == provider, AccountingQueueRow.status == "dead")
            .with_for_update()).scalars().all()
        for r in rows:
            # a new round: its writes get new requestids (the old ones would replay the refusal)
            r.payload = {**(r.payload or {}), "round": int((r.payload or {}).get("round", 0)) + 1}
            r.status, r.attempts, r.run_after, r.done_at = "pending", 0, uow.clock.now(), None
        uow.audit.record(actor, "accounting.retried", "accounting", provider, after={"tasks": len(rows)})
        uow.commit()
        return len(rows)


# ---- mappings ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    kind: str
    local_id: int
    remote_id: str
    sync_token: str
    pushed_hash: str
    remote_status: str


def get_mapping(uow: UnitOfWork, kind: str, local_id: int, provider: str = acc.QUICKBOOKS) -> Mapping | None:
    with uow:
        r = uow.session.execute(select(AccountingMappingRow).where(
            AccountingMappingRow.provider == provider, AccountingMappingRow.kind == kind,
            AccountingMappingRow.local_id == local_id)).scalar_one_or_none()
        return None if r is None else Mapping(r.kind, r.local_id, r.remote_id, r.sync_token, r.pushed_hash,
                                              r.remote_status)


def find_local(uow: UnitOfWork, kind: str, remote_id: str, provider: str = acc.QUICKBOOKS) -> int | None:
    """Our id for their object (e.g. the invoice a QuickBooks payment is linked to), or None."""
    with uow:
        return uow.session.execute(select(AccountingMappingRow.local_id).where(
            AccountingMappingRow.provider == provider, AccountingMappingRow.kind == kind,
            AccountingMappingRow.remote_id == remote_id)).scalar_one_or_none()


def put_mapping(uow: UnitOfWork, actor: Actor, kind: str, local_id: int, remote_id: str, sync_token: str, *,
                pushed_hash: str = "", total_minor: int | None = None, currency: str = "", doc_number: str = "",
                remote_status: str = "", task_id: int | None = None, provider: str = acc.QUICKBOOKS) -> None:
    """Record (or update) our object <-> theirs; with `task_id`, the queued task is done in the same transaction."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        now = uow.clock.now()
        r = uow.session.execute(select(AccountingMappingRow).where(
            AccountingMappingRow.provider == provider, AccountingMappingRow.kind == kind,
            AccountingMappingRow.local_id == local_id).with_for_update()).scalar_one_or_none()
        if r is None:
            r = AccountingMappingRow(provider=provider, kind=kind, local_id=local_id, pushed_at=now)
            uow.session.add(r)
        r.remote_id, r.sync_token, r.updated_at = remote_id, sync_token, now
        if pushed_hash:
            r.pushed_hash, r.pushed_at = pushed_hash, now
        if total_minor is not None:
            r.pushed_total_minor = total_minor
        if currency:
            r.currency = currency
        if doc_number:
            r.doc_number = doc_number
        if remote_status:
            r.remote_status = remote_status
        if task_id is not None:
            task = uow.session.get(AccountingQueueRow, task_id)
            if task is not None and task.status == "pending":
                task.status, task.done_at, task.last_error = "done", now, ""
                task.attempts += 1
        uow.commit()


def item_rows(uow: UnitOfWork, provider: str = acc.QUICKBOOKS) -> dict[str, tuple[str, str, str]]:
    """arrangement kind -> (item name, income account, remote id) for every kind (defaults filled in)."""
    with uow:
        rows = {r.arrangement_kind: (r.item_name, r.income_account, r.remote_id) for r in uow.session.execute(
            select(AccountingItemRow).where(AccountingItemRow.provider == provider)).scalars()}
    return {k: rows.get(k, (name, "", "")) for k, name in acc.DEFAULT_ITEMS.items()}


def put_item_remote(uow: UnitOfWork, actor: Actor, arrangement_kind: str, remote_id: str,
                    provider: str = acc.QUICKBOOKS) -> None:
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        row = uow.session.execute(select(AccountingItemRow).where(
            AccountingItemRow.provider == provider,
            AccountingItemRow.arrangement_kind == arrangement_kind).with_for_update()).scalar_one_or_none()
        if row is None:
            row = AccountingItemRow(provider=provider, arrangement_kind=arrangement_kind,
                                    item_name=acc.DEFAULT_ITEMS[arrangement_kind], income_account="",
                                    updated_at=uow.clock.now())
            uow.session.add(row)
        row.remote_id, row.updated_at = remote_id, uow.clock.now()
        uow.commit()


# ---- what the books hand over --------------------------------------------------------------------------------


def customer_for(uow: UnitOfWork, client_id: int) -> acc.PushCustomer:
    with uow:
        c = uow.session.get(ClientRow, client_id)
        if c is None:
            raise NotFound(f"no client with id {client_id}", code="client.not_found")
        emails = [str(e) for e in (c.billing_emails or [])]
        return acc.PushCustomer(
            client_id=c.id, display_name=c.name, email=emails[0] if emails else "", currency=c.currency,
            street=c.address_street, city=c.address_city, postcode=c.address_postcode, region=c.address_region,
            country=c.address_country, vat_id=c.vat_id)


def document_for(uow: UnitOfWork, invoice_id: int) -> acc.PushDocument:
    """An issued invoice or credit note as it was numbered (its frozen snapshot), each line with its item kind."""
    with uow:
        inv = uow.session.get(InvoiceRow, invoice_id)
        if inv is None or inv.number is None:
            raise NotFound(f"no issued invoice with id {invoice_id}", code="invoice.not_found")
        kinds = dict(uow.session.execute(select(ArrangementRow.id, ArrangementRow.kind).where(
            ArrangementRow.id.in_({ln.arrangement_id for ln in inv.lines if ln.arrangement_id}))).all())
        by_position = {ln.position: kinds.get(ln.arrangement_id or 0, "manual") for ln in inv.lines}
        snap = inv.snapshot or {}
        terms = snap.get("terms") or {}
        mode = str(terms.get("tax_mode") or "standard")
        lines: list[acc.PushLine] = []
        if snap.get("lines"):
            for ln in snap["lines"]:
                lines.append(acc.PushLine(
                    description=str(ln["description"]), item_kind=by_position.get(int(ln["position"]), "manual"),
                    quantity=abs(Decimal(str(ln["quantity"]))), unit_price=Decimal(str(ln["unit_price"])),
                    amount=Decimal(str(ln["amount"])), tax_mode=mode, tax_rate=Decimal(str(ln["tax_rate"]))))
        else:  # issued before snapshots existed: the rows say the same
            for ln in inv.lines:
                lines.append(acc.PushLine(
                    description=ln.description, item_kind=by_position.get(ln.position, "manual"),
                    quantity=abs(Decimal(ln.quantity)), unit_price=from_minor(ln.unit_price_minor, inv.currency),
                    amount=from_minor(ln.amount_minor, inv.currency), tax_mode=mode, tax_rate=Decimal(ln.tax_rate)))
        return acc.PushDocument(
            invoice_id=inv.id, kind="credit_note" if inv.kind == "credit_note" else "invoice", number=inv.number,
            client_id=inv.client_id, currency=inv.currency,
            issue_date=(inv.issue_date.isoformat() if inv.issue_date else ""),
            due_date=inv.due_date.isoformat() if inv.due_date else None,
            subtotal=from_minor(inv.subtotal_minor, inv.currency), tax=from_minor(inv.tax_minor, inv.currency),
            total=from_minor(inv.total_minor, inv.currency), lines=lines,
            corrects_invoice_id=inv.corrects_invoice_id, po_number=inv.po_number, memo=inv.reason or "")


def payment_for(uow: UnitOfWork, payment_id: int) -> acc.PushPayment:
    """A payment recorded here, as it is pushed: its amount, day and reference, the invoice it pays."""
    with uow:
        p = uow.session.get(PaymentRow, payment_id)
        if p is None:
            raise NotFound(f"no payment with id {payment_id}", code="payment.not_found")
        inv = uow.session.get(InvoiceRow, p.invoice_id)
        assert inv is not None
        return acc.PushPayment(payment_id=p.id, invoice_id=p.invoice_id, client_id=inv.client_id,
                               currency=p.currency, amount=from_minor(p.amount_minor, p.currency),
                               received_on=p.received_on.isoformat(), reference=p.reference)


def payment_is_theirs(uow: UnitOfWork, payment_id: int, provider: str = acc.QUICKBOOKS) -> bool:
    """Whether a payment recorded here came from the accounting system (never pushed back)."""
    with uow:
        p = uow.session.get(PaymentRow, payment_id)
        if p is None or p.reference.startswith(acc.FROM_QUICKBOOKS_REFERENCE):
            return p is not None
        return uow.session.execute(select(AccountingMappingRow.id).where(
            AccountingMappingRow.provider == provider, AccountingMappingRow.kind == "payment",
            AccountingMappingRow.local_id == payment_id, AccountingMappingRow.remote_status == acc.THEIRS)
        ).first() is not None


def queue_payments_of(uow: UnitOfWork, actor: Actor, invoice_ids: Iterable[int],
                      provider: str = acc.QUICKBOOKS) -> int:
    """Queue pushes of the payments recorded here on these invoices (the backfill: the invoices were just created
    there, so no payment there can already stand for them); how many."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        ids = [p for ps in ours_to_push(uow, invoice_ids, provider).values() for p in ps]
        mapped = set(uow.session.execute(select(AccountingMappingRow.local_id).where(
            AccountingMappingRow.provider == provider, AccountingMappingRow.kind == "payment",
            AccountingMappingRow.local_id.in_(ids))).scalars()) if ids else set()
        queued = queue_payments(uow, [i for i in ids if i not in mapped], provider=provider)
        uow.commit()
        return len(queued)


def unpushed(uow: UnitOfWork, actor: Actor, limit: int = 1000, provider: str = acc.QUICKBOOKS
             ) -> list[tuple[int, str]]:
    """Issued invoices and credit notes the accounting system has not got yet (the backfill), oldest first:
    (invoice id, kind). Void ones count too (they are pushed, then voided)."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        mapped = select(AccountingMappingRow.local_id).where(
            AccountingMappingRow.provider == provider, AccountingMappingRow.kind.in_(("invoice", "credit_note")))
        queued = select(AccountingQueueRow.ref_id).where(  # their own tasks push these, in order
            AccountingQueueRow.provider == provider, AccountingQueueRow.status == "pending",
            AccountingQueueRow.subject.in_(("invoice", "credit_note")))
        rows = uow.session.execute(select(InvoiceRow.id, InvoiceRow.kind).where(
            InvoiceRow.number.is_not(None), InvoiceRow.id.not_in(mapped), InvoiceRow.id.not_in(queued))
            .order_by(InvoiceRow.id).limit(limit)).all()
        return [(int(i), str(k)) for i, k in rows]


def mark_backfilled(uow: UnitOfWork, actor: Actor, provider: str = acc.QUICKBOOKS) -> None:
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        row = _conn(uow, provider, for_update=True)
        if row is not None:
            row.backfilled_at = uow.clock.now()
        uow.commit()


def voided_unsynced(uow: UnitOfWork, actor: Actor, provider: str = acc.QUICKBOOKS) -> list[int]:
    """Invoices void here whose copy there is not voided yet (pushed by the backfill as they were issued)."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        return [int(i) for i in uow.session.execute(
            select(InvoiceRow.id).join(AccountingMappingRow, (AccountingMappingRow.local_id == InvoiceRow.id)
                                       & (AccountingMappingRow.provider == provider)
                                       & (AccountingMappingRow.kind == "invoice"))
            .where(InvoiceRow.status == "void", AccountingMappingRow.remote_status != "voided")
            .order_by(InvoiceRow.id)).scalars()]
