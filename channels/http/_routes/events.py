"""Inbound events (signed webhooks, no bearer token), the event log with its dead letters, rules, pilot mode."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from channels.http._deps import CurrentActor, Uow
from channels.http._problems import problem
from channels.metrics import count_webhook
from channels.webhooks import Delivery, GroupCommit, ingest
from domain.model.bounds import INT64_MAX, Id
from domain.services import events, pilot, rules
from domain.services.events import EventView

router = APIRouter(prefix="/v1", tags=["events"])
webhooks = APIRouter(prefix="/v1", tags=["events"])

RECEIVE_DOC = """Send an event from a source (`billable`, `hubspot`, `jira`, `toggl`, `harvest`), signed with the
source's secret (BILLABLE_WEBHOOK_SECRETS). The signature is checked before anything else: missing, stale (more
than 5 minutes either way) or wrong -> 401 naming the header. Unknown or unconfigured source -> 404. A body that
does not parse or lacks fields -> 422 naming them (the authentic event is stored as rejected). A new event is
stored and queued -> 202; a redelivery -> 200, and nothing happens twice."""


@webhooks.post("/events/{source}", summary="Receive a signed event (webhook)", description=RECEIVE_DOC,
             status_code=202, responses={200: {"description": "A duplicate, or nothing we bill: no effect"}})
async def receive(source: str, request: Request) -> Response:
    body = await request.body()
    settings = request.app.state.settings
    query = request.scope.get("query_string", b"").decode("latin-1")
    uri = settings.public_url.rstrip("/") + request.scope["path"] + (f"?{query}" if query else "")
    now = getattr(request.app.state, "webhook_clock", time.time)()
    group = getattr(request.app.state, "ingest_group", None)
    if group is None:
        group = request.app.state.ingest_group = GroupCommit()
    answer = await ingest(request.app.state.db, settings, source,
                          Delivery(request.method, uri, request.headers, body), now, group)
    count_webhook(source, answer.status)
    if answer.problem:
        b = answer.body
        extra = {k: v for k, v in b.items() if k not in ("code", "detail", "field", "errors")}
        return problem(answer.status, b["code"], b["detail"], b.get("field"), details=extra or None,
                       errors=b.get("errors"))
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and answer.status == 202:
        worker.wake()
    return JSONResponse(answer.body, status_code=answer.status)


@router.get("/events", summary="The event log, newest first (owners and finance)")
def list_events(actor: CurrentActor, uow: Uow, status: str | None = Query(
        None, description="received, retrying, processed, ignored, rejected, dead, or failed (dead + retrying)"),
        source: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0) -> list[EventView]:
    return events.list_events(uow, actor, status, source, limit, offset)


@router.get("/events/{event_id}", summary="One event: what it said, what it did, why it failed")
def get_event(event_id: Id, actor: CurrentActor, uow: Uow) -> EventView:
    return events.get_event(uow, actor, event_id)


@router.post("/events/{event_id}/retry", summary="Put a failed (dead-lettered) event back in the queue")
def retry_event(event_id: Id, actor: CurrentActor, uow: Uow) -> EventView:
    return events.retry_event(uow, actor, event_id)


@router.get("/rules", summary="The rules in force (YAML and parsed)")
def get_rules(actor: CurrentActor, uow: Uow) -> rules.RulesView:
    return rules.get_rules(uow, actor)


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


@router.put("/rules", summary="Replace the rules (YAML; errors name the rule, the line and the field)",
            openapi_extra={"requestBody": {"content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": RulesIn.model_json_schema()}}, "required": True}})
async def put_rules(request: Request, actor: CurrentActor, uow: Uow) -> Any:
    raw = await request.body()
    text = raw.decode("utf-8", errors="replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        text = RulesIn.model_validate_json(raw).text
    return await run_in_threadpool(rules.put_rules, uow, actor, text)


class PilotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pilot: bool


@router.put("/clients/{client_id}/pilot", summary="Put one client in (or out of) pilot mode")
def set_pilot(client_id: Id, actor: CurrentActor, uow: Uow, body: Annotated[PilotIn, Body()]) -> dict[str, Any]:
    return pilot.set_client_pilot(uow, actor, client_id, body.pilot)
