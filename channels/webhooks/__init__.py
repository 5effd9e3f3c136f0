"""Signed inbound webhooks: verify the signature first, translate the provider's payload, store the events.

`ingest(...)` is what `POST /v1/events/{source}` does; it answers an `Answer` (status and body) the HTTP door
sends as JSON or problem+json. Sources: `billable` (our canonical events, Standard Webhooks), `hubspot`, `jira`,
`toggl`, `harvest`, `quickbooks`
(also at `POST /webhooks/quickbooks`); a source without a configured secret does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from channels.webhooks._group_commit import GroupCommit
from channels.webhooks._hubspot_api import HubSpotApi, SourceUnavailable
from channels.webhooks._signatures import SignatureError
from channels.webhooks._sources import SOURCES, Delivery, Parsed
from domain.services import events
from domain.settings import Settings
from domain.store.session import Database


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    problem: bool = False


def _problem(status: int, code: str, detail: str, field: str | None = None, **extra: Any) -> Answer:
    return Answer(status, {"code": code, "detail": detail, "field": field, **extra}, problem=True)


def secrets_for(settings: Settings, source: str) -> list[str]:
    if source == "quickbooks":  # the Intuit app's verifier token has a setting of its own
        token = settings.quickbooks_webhook_verifier_token
        return [token.get_secret_value()] if token is not None and token.get_secret_value() else []
    return (settings.webhook_secrets.get(source) or "").split()


_hubspot: dict[tuple[str, str | None], HubSpotApi] = {}


def hubspot_api(settings: Settings) -> HubSpotApi:
    token = settings.hubspot_token.get_secret_value() if settings.hubspot_token else None
    key = (settings.hubspot_api_url, token)
    if key not in _hubspot:
        _hubspot[key] = HubSpotApi(settings.hubspot_api_url, token)
    return _hubspot[key]


async def ingest(db: Database, settings: Settings, source: str, delivery: Delivery, now: float,
                 group: GroupCommit) -> Answer:
    """Verify, translate and store one delivery; `group` is the server's group commit (one per event loop)."""
    adapter = SOURCES.get(source)
    secrets = secrets_for(settings, source)
    if adapter is None or not secrets:
        configured = sorted(s for s in SOURCES if secrets_for(settings, s))
        return _problem(404, "event.unknown_source", f"no event source {source!r} is configured"
                        + (f"; configured: {', '.join(configured)}" if configured else
                           " (set BILLABLE_WEBHOOK_SECRETS to enable sources)"), "source")
    try:
        adapter.verify(delivery, secrets, now, settings.webhook_tolerance_seconds)
    except SignatureError as e:
        return _problem(401, e.code, e.message, e.field)
    parsed: Parsed = adapter.parse(delivery)
    if parsed.reply is not None:
        return Answer(200, parsed.reply)
    items = parsed.items
    dropped = parsed.ignored
    if source == "hubspot" and any("_hubspot" in it.data and it.error is None for it in items):
        ids = [it.event_id for it in items]
        known: set[str] = await run_in_threadpool(events.known_event_ids, db.uow(readonly=True), source, ids)
        fresh = [it for it in items if it.event_id not in known]
        try:
            completed, not_won = await hubspot_api(settings).complete(fresh)
        except SourceUnavailable as e:
            return _problem(503, "event.source_unavailable", f"{e}; send it again later", None)
        items = completed + [it for it in items if it.event_id in known]
        dropped += not_won
    if not items:
        return Answer(200, {"accepted": [], "duplicates": [], "ignored": dropped})
    receipt = await group.store(db, source, items)
    if receipt.rejected:
        first = receipt.rejected[0]
        return _problem(422, "event.invalid", f"{first['field']}: {first['message']}", first["field"],
                        errors=receipt.rejected, accepted=receipt.accepted)
    body = {"accepted": receipt.accepted, "duplicates": receipt.duplicates, "ignored": dropped}
    return Answer(202 if receipt.accepted else 200, body)


__all__ = ["SOURCES", "Answer", "Delivery", "GroupCommit", "ingest"]
