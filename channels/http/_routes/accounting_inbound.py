"""QuickBooks, inbound: the signed webhook, the client updates proposed from there, and the drift report."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from channels.accounting.inbound import LazyReader
from channels.http._deps import CurrentActor, Uow
from channels.http._problems import problem
from channels.metrics import count_webhook
from channels.webhooks import Delivery, GroupCommit, ingest
from domain.model.bounds import INT64_MAX, Id
from domain.services import accounting_drift, accounting_inbound
from domain.services.accounting_drift import DriftOutcome, DriftReport
from domain.services.accounting_inbound import ProposalView

webhooks = APIRouter(tags=["accounting"])

WEBHOOK_DOC = """QuickBooks Online's webhook (register this URL in the Intuit app, and its verifier token as
BILLABLE_QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN). `intuit-signature` (base64 HMAC-SHA256 of the raw body with the
verifier token) is checked first: missing or wrong -> 401. Both payload formats are read (legacy
`eventNotifications` and the CloudEvents array). Changed payments and customers are stored and queued, and the
answer is 200 at once; the worker reads them from QuickBooks. A redelivery changes nothing."""


@webhooks.post("/webhooks/quickbooks", summary="Receive a QuickBooks Online webhook (signed)",
               description=WEBHOOK_DOC, responses={401: {"description": "Not signed with our verifier token"},
                                                   404: {"description": "No verifier token is configured"}})
async def quickbooks_webhook(request: Request) -> Response:
    body = await request.body()
    settings = request.app.state.settings
    uri = settings.public_url.rstrip("/") + request.scope["path"]
    now = getattr(request.app.state, "webhook_clock", time.time)()
    group = getattr(request.app.state, "ingest_group", None)
    if group is None:
        group = request.app.state.ingest_group = GroupCommit()
    answer = await ingest(request.app.state.db, settings, "quickbooks",
                          Delivery(request.method, uri, request.headers, body), now, group)
    count_webhook("quickbooks", answer.status)
    if answer.problem:
        b = answer.body
        extra = {k: v for k, v in b.items() if k not in ("code", "detail", "field", "errors")}
        return problem(answer.status, b["code"], b["detail"], b.get("field"), details=extra or None,
                       errors=b.get("errors"))
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and answer.status == 202:
        worker.wake()
    # Intuit expects a 200 (within 3 s): stored and queued is as good as done for the sender.
    return JSONResponse(answer.body, status_code=200)


# ---- client updates proposed from QuickBooks, and the drift report -----------------------------------------------

router = APIRouter(prefix="/v1/accounting", tags=["accounting"])


def _reader(request: Request) -> LazyReader:
    return LazyReader(request.app.state.db, request.app.state.settings)


class RefuseRequest(BaseModel):
    reason: str = Field(default="", max_length=2000, description="Why ours stays (optional)")


@router.get("/proposals", summary="Client updates proposed from QuickBooks (owners and finance)")
def list_proposals(actor: CurrentActor, uow: Uow, status: str = Query(
        "pending", description="pending (the default), accepted, refused, superseded, or all"),
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0) -> list[ProposalView]:
    return accounting_inbound.list_proposals(uow, actor, status, limit, offset)


@router.post("/proposals/{proposal_id}/accept", summary="Accept a client update from QuickBooks: the client is "
             "updated (audited)")
def accept_proposal(proposal_id: Id, actor: CurrentActor, uow: Uow) -> ProposalView:
    return accounting_inbound.accept_proposal(uow, actor, proposal_id)


@router.post("/proposals/{proposal_id}/refuse", summary="Refuse a client update from QuickBooks: ours stays")
def refuse_proposal(proposal_id: Id, actor: CurrentActor, uow: Uow,
                    body: RefuseRequest | None = None) -> ProposalView:
    return accounting_inbound.refuse_proposal(uow, actor, proposal_id, body.reason if body else "")


@router.get("/drift", summary="Invoices that differ between billable and QuickBooks, with the likely cause "
            "(owners and finance)", responses={409: {"description": "QuickBooks is not connected"}})
def drift(request: Request, actor: CurrentActor, uow: Uow) -> DriftReport:
    return accounting_drift.drift_report(uow, actor, _reader(request))


@router.post("/drift/{invoice_id}/repush", summary="Re-push our invoice to QuickBooks (queued through the sync)",
             responses={409: {"description": "Nothing to re-push, or QuickBooks is not connected"}})
def repush(request: Request, invoice_id: Id, actor: CurrentActor, uow: Uow) -> DriftOutcome:
    return accounting_drift.repush(uow, actor, invoice_id, _reader(request))


@router.post("/drift/{invoice_id}/accept", summary="Accept QuickBooks' version where that is legal (record the "
             "payments made there; void ours when voided there)",
             responses={409: {"description": "Not acceptable (an issued invoice is never edited), or not "
                                             "connected"}})
def accept(request: Request, invoice_id: Id, actor: CurrentActor, uow: Uow) -> DriftOutcome:
    return accounting_drift.accept_theirs(uow, actor, invoice_id, _reader(request))
