"""The dashboard's accounting page (issue 16): the QuickBooks connection (company and realm, connected, paused and
why, what waits, what was refused), Connect and Disconnect for owners, and the OAuth callback Intuit sends the
browser back to (/app/accounting/quickbooks/callback: the redirect URI to register in the Intuit app)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from channels.accounting import connection as conn
from channels.web._routes import NOTICES, _call, _db, _page, _posted, _redirect, _Refused, _session, router
from domain.model.roles import Perm
from domain.services import accounting
from domain.settings import Settings

NOTICES.update({
    "qbo_connected": "QuickBooks connected: the worker pushes what it lacks, then every change as it happens.",
    "qbo_disconnected": "QuickBooks disconnected: nothing more is pushed, and the grant is revoked at Intuit.",
    "qbo_retried": "Refused work queued again.",
})


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


@router.get("/accounting")
def accounting_page(request: Request) -> Response:
    ws = _session(request)
    if not ws.actor.can(Perm.EXPORT_BOOKS):
        raise _Refused(ws, 403, "Only owners and finance see the accounting sync.", "Not yours to see")
    db = _db(request)
    view = _call(ws, accounting.connection_status, db.uow(readonly=True), ws.actor)
    refused = _call(ws, accounting.sync_queue, db.uow(readonly=True), ws.actor, "dead", 20)
    items = _call(ws, accounting.list_items, db.uow(readonly=True), ws.actor)
    s = _settings(request)
    return _page(request, ws, "accounting.html", qbo=view, refused=refused, configured=not s.quickbooks_missing(),
                 items=items,
                 missing=s.quickbooks_missing(), can_connect=ws.actor.can(Perm.MANAGE_COMPANY),
                 can_retry=ws.actor.can(Perm.MANAGE_SETTINGS), error=request.query_params.get("error", ""))


@router.get("/accounting/connect")
async def accounting_connect(request: Request) -> Response:
    """Off to Intuit's consent page (owners); it sends the browser back to the callback below. A link, not a form:
    the pages' CSP (form-action 'self') stops a form's redirect to another site. It changes nothing here; the
    signed state ties the callback to the person who started it."""
    ws = await run_in_threadpool(_session, request)
    url = await run_in_threadpool(_call, ws, conn.start_connect, _db(request), _settings(request), ws.actor)
    return RedirectResponse(url, status_code=303)


@router.get("/accounting/quickbooks/callback")
async def accounting_callback(request: Request) -> Response:
    ws = await run_in_threadpool(_session, request)
    q = request.query_params
    if q.get("error"):  # the person declined at Intuit, or Intuit refused
        return _redirect("/app/accounting", error=f"Intuit said {q['error'][:100]}: nothing was connected.")
    await run_in_threadpool(_call, ws, conn.finish_connect, _db(request), _settings(request), ws.actor,
                            q.get("code", "")[:500], q.get("state", "")[:500], q.get("realmId", "")[:40])
    return _redirect("/app/accounting", notice="qbo_connected")


@router.post("/accounting/disconnect")
async def accounting_disconnect(request: Request) -> Response:
    ws, _ = await _posted(request)
    await run_in_threadpool(_call, ws, conn.disconnect, _db(request), _settings(request), ws.actor)
    return _redirect("/app/accounting", notice="qbo_disconnected")


@router.post("/accounting/retry")
async def accounting_retry(request: Request) -> Response:
    ws, _ = await _posted(request)
    await run_in_threadpool(_call, ws, accounting.retry_dead, _db(request).uow(), ws.actor)
    return _redirect("/app/accounting", notice="qbo_retried")
