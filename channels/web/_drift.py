"""The dashboard's QuickBooks drift page (finance and owners): invoices that differ from QuickBooks with the likely
cause and the buttons (re-push ours, accept theirs where legal), and the client updates proposed from QuickBooks
(accept, refuse). Registered on the dashboard's router by channels.web._routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from channels.accounting.inbound import LazyReader
from channels.web._routes import NOTICES, _call, _db, _page, _posted, _redirect, _Refused, _session, router
from domain.errors import BillingError, Forbidden
from domain.model.bounds import Id
from domain.model.roles import Perm
from domain.services import accounting_drift, accounting_inbound

NOTICES.update({"repushed": "A push of the invoice to QuickBooks is queued.",
                "accepted": "QuickBooks' version is accepted here.",
                "proposal_accepted": "The client is updated from QuickBooks.",
                "proposal_refused": "Refused: the client stays as it is here."})

PAGE = "/app/accounting/drift"


@router.get("/accounting/drift")
def drift_page(request: Request) -> Response:
    ws = _session(request)
    db = _db(request)
    report, problem = None, ""
    try:
        report = accounting_drift.drift_report(db.uow(readonly=True), ws.actor,
                                               LazyReader(db, request.app.state.settings))
    except Forbidden as e:
        raise _Refused(ws, e.status, e.message) from None
    except BillingError as e:
        problem = e.message   # not connected, or QuickBooks did not answer: the proposals still show
    except Exception as e:  # QuickBooks itself failing (5xx, 429, network) is said on the page, not a 500
        problem = f"QuickBooks did not answer: {e}"
    proposals = []
    if ws.actor.can(Perm.MANAGE_CLIENTS):
        proposals = _call(ws, accounting_inbound.list_proposals, db.uow(readonly=True), ws.actor, "pending")
    return _page(request, ws, "accounting_drift.html", report=report, problem=problem, proposals=proposals)


async def _drift_action(request: Request, invoice_id: int, fn: Any, notice: str) -> Response:
    ws, _form = await _posted(request)
    db = _db(request)
    await run_in_threadpool(_call, ws, fn, db.uow(), ws.actor, invoice_id, LazyReader(db, request.app.state.settings))
    return _redirect(PAGE, notice=notice)


@router.post("/accounting/drift/{invoice_id}/repush")
async def drift_repush(request: Request, invoice_id: Id) -> Response:
    return await _drift_action(request, invoice_id, accounting_drift.repush, "repushed")


@router.post("/accounting/drift/{invoice_id}/accept")
async def drift_accept(request: Request, invoice_id: Id) -> Response:
    return await _drift_action(request, invoice_id, accounting_drift.accept_theirs, "accepted")


@router.post("/accounting/proposals/{proposal_id}/accept")
async def proposal_accept(request: Request, proposal_id: Id) -> Response:
    ws, _form = await _posted(request)
    await run_in_threadpool(_call, ws, accounting_inbound.accept_proposal, _db(request).uow(), ws.actor, proposal_id)
    return _redirect(PAGE, notice="proposal_accepted")


@router.post("/accounting/proposals/{proposal_id}/refuse")
async def proposal_refuse(request: Request, proposal_id: Id) -> Response:
    ws, form = await _posted(request)
    await run_in_threadpool(_call, ws, accounting_inbound.refuse_proposal, _db(request).uow(), ws.actor, proposal_id,
                            form.get("reason", "")[:2000])
    return _redirect(PAGE, notice="proposal_refused")
