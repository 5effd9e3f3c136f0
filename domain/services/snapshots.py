"""Frozen snapshots for invoices issued before they were kept (issue 12, migration 0013_snapshot).

Since 0013 every invoice and credit note stores, when it is numbered, what it says (`domain.model.snapshot`), and
every door reads an issued one from there. Invoices numbered before that have none: `backfill_snapshots` freezes
one for each of them from the data as it is at backfill time (the invoice's own lines, tax and dates; the seller
and client details as they are now), audited per invoice. `billable init` (and every command that migrates) runs
it after the schema upgrade, and `billable invoices backfill-snapshots` runs it by hand, so no door ever falls back
to the live client row for an issued invoice: `frozen_snapshot` refuses one that has none.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import String, cast, or_, select

from domain.errors import BillingError
from domain.model.roles import Actor, Perm
from domain.model.snapshot import InvoiceSnapshot
from domain.services import _issuing
from domain.services._auth import require
from domain.store.tables import InvoiceRow
from domain.store.uow import UnitOfWork

__all__ = ["BackfillReport", "NotFrozen", "backfill_snapshots", "frozen_snapshot"]


class NotFrozen(BillingError):
    code = "invoice.not_frozen"
    status = 409


class BackfillReport(BaseModel):
    """What a backfill froze: how many, and their numbers in the order they were frozen."""

    frozen: int
    numbers: list[str]


def frozen_snapshot(inv: InvoiceRow) -> InvoiceSnapshot:
    """What an issued invoice or credit note says. One without a snapshot (numbered before 0013 and not yet
    backfilled) is refused rather than shown with today's client and seller details."""
    if not inv.snapshot:
        raise NotFrozen(f"invoice {inv.number} was issued before invoices kept what they said: run "
                        "`billable invoices backfill-snapshots` (or `billable init`) once to freeze it",
                        field="invoice_id", details={"invoice_id": inv.id, "number": inv.number})
    return InvoiceSnapshot.model_validate(inv.snapshot)


def _unfrozen(uow: UnitOfWork) -> list[InvoiceRow]:
    # A JSON None may be stored as SQL NULL or as the JSON text 'null', depending on how the row was written.
    rows = uow.session.execute(
        select(InvoiceRow).where(InvoiceRow.number.is_not(None),
                                 or_(InvoiceRow.snapshot.is_(None), cast(InvoiceRow.snapshot, String) == "null"))
        .order_by(InvoiceRow.id)).scalars().all()
    # invoices first: a credit note keeps the tax treatment of the invoice it corrects, read from its snapshot
    return sorted(rows, key=lambda r: (r.kind == "credit_note", r.id))


def backfill_snapshots(uow: UnitOfWork, actor: Actor) -> BackfillReport:
    """Freeze a snapshot for every numbered invoice and credit note that has none (owners; the system when
    migrating), from the data as it is now, each audited `invoice.snapshot_backfilled`. Safe to run again."""
    require(actor, Perm.MANAGE_COMPANY)
    with uow:
        rows = _unfrozen(uow)
        if not rows:
            return BackfillReport(frozen=0, numbers=[])
        ws = uow.workspace.get()
        clients = {c.id: c for c in uow.clients.get_many(sorted({r.client_id for r in rows}))}
        numbers: list[str] = []
        for inv in rows:
            corrects = uow.invoices.get(inv.corrects_invoice_id) if inv.corrects_invoice_id is not None else None
            _issuing.freeze(inv, clients[inv.client_id], ws, corrects)
            after: dict[str, Any] = {"number": inv.number, "kind": inv.kind,
                                     "frozen_from": "the seller's and the client's details at backfill time"}
            uow.audit.record(actor, "invoice.snapshot_backfilled", "invoice", inv.id, after=after)
            numbers.append(str(inv.number))
        uow.commit()
        return BackfillReport(frozen=len(numbers), numbers=numbers)
