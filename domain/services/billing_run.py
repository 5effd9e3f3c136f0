"""A billing run: draft, check and issue every client's invoice for a period, in batches.

This is month-end (and the catch-up after downtime): it drafts from the same code as `draft_invoice` and hands each
batch to the one issuing step (`_issuing.issue`, as `issue_invoice` does), which issues clean invoices with gapless
numbers. Flagged invoices wait for an approver; blocked ones stay drafts with their reasons. A client that fails
does not stop the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.errors import BillingError, Conflict
from domain.model.checks import Outcome
from domain.model.periods import check_window
from domain.model.roles import Actor, Perm
from domain.services import _issuing
from domain.services._auth import client_scope, require
from domain.services._context import load_context
from domain.services._issuing import _summary
from domain.services.invoicing import new_draft
from domain.store.tables import ClientRow, InvoiceRow
from domain.store.uow import UnitOfWork


@dataclass
class RunReport:
    """What a run did, client by client counted."""

    clients: int = 0
    drafted: int = 0
    issued: int = 0
    flagged: int = 0
    blocked: int = 0
    already_drafted: int = 0
    nothing_to_bill: int = 0
    failed: int = 0
    invoice_ids: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def bill_period(uow: UnitOfWork, actor: Actor, period_start: date, period_end: date, *,
                client_ids: list[int] | None = None, issue: bool = True, batch_size: int = 500,
                progress: Callable[[int, int], None] | None = None) -> RunReport:
    """Bill every client (or the given ones) for [period_start, period_end]; one transaction per batch."""
    require(actor, Perm.DRAFT)
    if issue:
        require(actor, Perm.ISSUE)
    check_window(period_start, period_end)
    scope = client_scope(actor)
    wanted = frozenset(client_ids) if client_ids is not None else None
    only = scope & wanted if scope is not None and wanted is not None else (scope if scope is not None else wanted)
    with uow:
        ids = uow.clients.ids(only, billable_only=True)
    report = RunReport(clients=len(ids))
    for lo in range(0, len(ids), batch_size):
        chunk = ids[lo:lo + batch_size]
        try:
            _bill_batch(uow, actor, chunk, period_start, period_end, issue, report)
        except Conflict:
            # Another drafter claimed some of this batch's work meanwhile: redo it client by client, so only
            # the contested client is skipped.
            for cid in chunk:
                try:
                    _bill_batch(uow, actor, [cid], period_start, period_end, issue, report)
                except Conflict as e:
                    report.failed += 1
                    report.errors.append({"client_id": cid, "code": e.code, "message": e.message})
        if progress:
            progress(min(lo + batch_size, len(ids)), len(ids))
    return report


def _bill_batch(uow: UnitOfWork, actor: Actor, chunk: list[int], start: date, end: date, issue: bool,
                report: RunReport) -> None:
    partial = RunReport()
    with uow:
        ws = uow.workspace.get()
        clients = uow.clients.get_many(chunk, managers=False)
        existing = uow.invoices.open_drafts_for(chunk, start, end)
        todo = [c for c in clients if c.id not in existing]
        partial.already_drafted = len(clients) - len(todo)
        ctx = load_context(uow, todo, end, start)
        now = uow.clock.now()
        drafts: list[tuple[InvoiceRow, list[tuple[str, int, str]]]] = []
        by_invoice: dict[int, ClientRow] = {}
        for c in todo:
            try:
                built = new_draft(actor, c, start, end, ctx, ws, now)
            except BillingError as e:
                partial.failed += 1
                partial.errors.append({"client_id": c.id, "code": e.code, "message": e.message, "field": e.field})
                continue
            if built is None:
                partial.nothing_to_bill += 1
                continue
            drafts.append(built)
        _store_drafts_once(uow, actor, drafts)
        partial.drafted = len(drafts)
        for inv, _ in drafts:
            by_invoice[inv.id] = ctx.clients[inv.client_id]
            partial.invoice_ids.append(inv.id)
        if issue and drafts and not ws.pilot_mode:
            _check_and_issue(uow, actor, [inv for inv, _ in drafts], by_invoice, start, ws, partial)
        uow.commit()
    for name in ("drafted", "issued", "flagged", "blocked", "already_drafted", "nothing_to_bill", "failed"):
        setattr(report, name, getattr(report, name) + getattr(partial, name))
    report.invoice_ids.extend(partial.invoice_ids)
    report.errors.extend(partial.errors)


def _store_drafts_once(uow: UnitOfWork, actor: Actor,
                       drafts: list[tuple[InvoiceRow, list[tuple[str, int, str]]]]) -> None:
    """Give the batch's drafts their ids and audit them now; write them (and claim their work) once, decided.

    The drafts stay out of the ORM session: checking and issuing change them in memory, and at the next flush (the
    commit, or the send-on-issue step) each invoice and line is inserted once in its final state with Core
    executemany, then its work claimed. A claim already taken refuses the whole batch (`Conflict`), before the
    transaction commits: the run redoes it client by client, as when the claims were taken first.
    """
    if not drafts:
        return
    uow.preassign_ids([inv for inv, _ in drafts])
    uow.preassign_ids([ln for inv, _ in drafts for ln in inv.lines])
    for inv, _ in drafts:
        uow.audit.record(actor, "invoice.drafted", "invoice", inv.id, after=_summary(inv))

    def write() -> None:
        uow.invoices.insert_new([inv for inv, _ in drafts])
        if not uow.claims.claim_many([(k, r, p, inv.id) for inv, keys in drafts for k, r, p in keys]):
            raise Conflict("some of this work was billed by another invoice a moment ago; draft again",
                           code="invoice.already_billed")

    uow.write_before_flush(write)


def _check_and_issue(uow: UnitOfWork, actor: Actor, invoices: list[InvoiceRow], clients: dict[int, ClientRow],
                     start: date, ws: Any, report: RunReport) -> None:
    """The batch through the one issuing step: one history read and one run of numbers for all of it."""
    history = _issuing.history_for(uow, sorted({c.id for c in clients.values()}), start, ws)
    for d in _issuing.issue(uow, actor, invoices, via="billing_run", unattended=True, retax=False,
                            clients={c.id: c for c in clients.values()}, history=history):
        if d.issued:
            report.issued += 1
        elif d.outcome == Outcome.BLOCK:
            report.blocked += 1
        elif d.outcome == Outcome.FLAG:
            report.flagged += 1
