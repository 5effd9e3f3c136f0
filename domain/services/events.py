"""Inbound events: stored before anything acts on them, once per (source, event id), then queued for a worker.

The channel that received an event has already proved it authentic (signature and timestamp) and translated the
provider's payload into a canonical type; this module validates the canonical data, stores the event and its job in
one transaction, and answers which deliveries were new, duplicates or rejected. A duplicate delivery changes
nothing. An authentic event that cannot be understood is stored as `rejected`, with the reason, and never queued.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from domain.errors import BadTransition, NotFound, ValidationFailed
from domain.model.events import DATA_MODELS, EventType
from domain.model.roles import Actor, ActorKind, Perm, Role
from domain.services._auth import require
from domain.services._input import refusal
from domain.store.tables import EventRow, JobRow
from domain.store.uow import UnitOfWork

SOURCE_MAX = 40
ID_MAX = 200
FAILED = ("dead",)


@dataclass
class Incoming:
    """One event as a channel hands it over. `error` marks an authentic delivery the adapter could not read:
    it is stored as rejected with that reason (field and message)."""

    event_id: str
    type: str
    data: dict[str, Any]
    occurred_at: datetime | None = None
    error: dict[str, str] | None = None


@dataclass
class Receipt:
    accepted: list[str] = field(default_factory=list)     # event ids stored and queued now
    duplicates: list[str] = field(default_factory=list)   # already stored: nothing done
    rejected: list[dict[str, Any]] = field(default_factory=list)  # stored as rejected: event_id, field, message
    ids: list[int] = field(default_factory=list)          # our ids of the events stored now


def source_actor(source: str) -> Actor:
    """Who acts for events from a source: rules run with finance's authority, recorded as the event."""
    return Actor(ActorKind.EVENT, Role.FINANCE, None, None, f"events from {source}")


def body_id(body: bytes) -> str:
    """An id for a delivery that carries none we can read (unparseable body): the same bytes, the same id."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _validate(item: Incoming) -> tuple[str | None, dict[str, Any] | None, dict[str, str] | None]:
    """(subject, canonical data, error)."""
    if item.error is not None:
        return None, None, item.error
    try:
        etype = EventType(item.type)
    except ValueError:
        return None, None, {"field": "type", "message": f"unknown event type {item.type!r}; one of "
                                                        f"{', '.join(t.value for t in EventType)}"}
    try:
        data = DATA_MODELS[etype].model_validate(item.data)
    except ValidationError as e:
        err = refusal(e)
        return None, None, {"field": f"data.{err.field}" if err.field else "data", "message": err.message}
    return data.subject(), data.model_dump(mode="json"), None


def store_events(uow: UnitOfWork, actor: Actor, source: str, items: list[Incoming]) -> Receipt:
    """Store and queue events inside the caller's transaction (no commit): the receipt says what was new."""
    return _store(uow, [(source, items)], {source: actor})[0]


def _store(uow: UnitOfWork, batches: list[tuple[str, list[Incoming]]], actors: dict[str, Actor]) -> list[Receipt]:
    """The events of every batch inserted with ON CONFLICT DO NOTHING and the new ones queued, in one statement on
    PostgreSQL: a redelivery (or the same event twice in one go) is a duplicate by the unique key, never an error."""
    now = uow.clock.now()
    rows: list[tuple[int, Incoming, dict[str, Any], dict[str, str] | None]] = []
    for n, (source, items) in enumerate(batches):
        for item in items:
            if not item.event_id or len(item.event_id) > ID_MAX:
                raise ValidationFailed(f"an event id of 1 to {ID_MAX} characters is required", code="event.bad_id",
                                       field="event_id")
            subject, data, error = _validate(item)
            rows.append((n, item, {
                "source": source, "event_id": item.event_id, "type": item.type[:40] or "unknown",
                "subject_ref": subject, "data": data if data is not None else _truncated(item.data),
                "status": "received" if error is None else "rejected",
                "reason": f"{error['field']}: {error['message']}" if error else "", "result": {},
                "occurred_at": item.occurred_at, "received_at": now, "processed_at": None}, error))
    new_ids = uow.events.insert_queued([values for _, _, values, _ in rows], now)
    receipts = [Receipt() for _ in batches]
    received: dict[str, list[list[Any]]] = {}
    for n, item, values, error in rows:
        source, receipt = values["source"], receipts[n]
        new_id = new_ids.pop((source, item.event_id), None)  # popped: a second row with the key is a duplicate
        if new_id is None:
            receipt.duplicates.append(item.event_id)
            continue
        receipt.ids.append(new_id)
        if error is None:
            receipt.accepted.append(item.event_id)
            received.setdefault(source, []).append([new_id, item.event_id, values["type"]])
        else:
            receipt.rejected.append({"event_id": item.event_id, **error})
            uow.audit.record(actors.get(source) or source_actor(source), "event.rejected", "event", new_id,
                             after={"source": source, "event_id": item.event_id, "type": values["type"],
                                    "reason": values["reason"]},
                             cause={"event_id": new_id, "event": f"{source}/{item.event_id}"})
    for source, stored in received.items():
        # One entry per source and transaction, not per event: receiving changes no books (the events table is
        # itself append-only), and every step an event causes is audited with it as the cause.
        uow.audit.record(actors.get(source) or source_actor(source), "events.received", "event", stored[0][0],
                         after={"source": source, "count": len(stored), "events": stored},
                         cause={"event_ids": [e[0] for e in stored]})
    return receipts


def _truncated(data: dict[str, Any]) -> dict[str, Any]:
    text = repr(data)
    return data if len(text) <= 20_000 else {"truncated": text[:20_000]}


def receive_events(uow: UnitOfWork, actor: Actor, source: str, items: list[Incoming]) -> Receipt:
    """Store authentic events once each and queue them for the worker, in one transaction.

    Redeliveries are duplicates (nothing happens); events whose data is invalid are stored as rejected with the
    field at fault (the channel answers 422 naming it) and are never acted on.
    """
    if actor.kind != ActorKind.EVENT:
        require(actor, Perm.MANAGE_SETTINGS)
    if not source or len(source) > SOURCE_MAX:
        raise ValidationFailed("unknown source", code="event.unknown_source", field="source")
    with uow:
        receipt = store_events(uow, actor, source, items)
        uow.commit()
    return receipt


def receive_batches(uow: UnitOfWork, batches: list[tuple[str, list[Incoming]]]) -> list[Receipt]:
    """Several deliveries (from any sources) stored in one transaction, one receipt each: what the HTTP door's
    group commit uses when deliveries arrive faster than single transactions commit."""
    with uow:
        receipts = _store(uow, batches, {})
        uow.commit()
    return receipts


def known_event_ids(uow: UnitOfWork, source: str, event_ids: list[str]) -> set[str]:
    """Which of these deliveries are already stored (channels skip expensive enrichment for them)."""
    with uow:
        return uow.events.existing_keys(source, event_ids)


# ---- reading and retrying ------------------------------------------------------------------------------------------


class EventView(BaseModel):
    id: int
    source: str
    event_id: str
    type: str
    status: str
    subject: str | None
    reason: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    received_at: datetime
    occurred_at: datetime | None
    processed_at: datetime | None
    result: dict[str, Any]
    data: dict[str, Any]

    @classmethod
    def of(cls, ev: EventRow, job: JobRow | None) -> EventView:
        retrying = job is not None and job.status == "queued" and job.attempts > 0
        return cls(id=ev.id, source=ev.source, event_id=ev.event_id, type=ev.type,
                   status="retrying" if retrying and ev.status == "received" else ev.status,
                   subject=ev.subject_ref, reason=ev.reason or (job.last_error if job else ""),
                   attempts=job.attempts if job else 0,
                   next_attempt_at=job.run_after if job is not None and job.status == "queued" else None,
                   last_error=job.last_error if job else "", received_at=ev.received_at,
                   occurred_at=ev.occurred_at, processed_at=ev.processed_at, result=dict(ev.result or {}),
                   data=dict(ev.data or {}))


STATUSES = ("received", "retrying", "processed", "ignored", "rejected", "dead", "failed")


def list_events(uow: UnitOfWork, actor: Actor, status: str | None = None, source: str | None = None,
                limit: int = 100, offset: int = 0) -> list[EventView]:
    """Events newest first. `failed`: dead-lettered events and those waiting to be retried after a failure."""
    require(actor, Perm.MANAGE_SETTINGS)
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"unknown status {status!r}; one of {', '.join(STATUSES)}", field="status")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("must be between 1 and 1000", field="limit")
    with uow:
        if status in ("failed", "retrying"):
            rows = list(uow.events.retrying(limit))
            if status == "failed":
                rows += list(uow.events.list(FAILED, source, limit=limit))
                rows.sort(key=lambda r: r.id, reverse=True)
            rows = [r for r in rows if source is None or r.source == source][offset:offset + limit]
        else:
            rows = list(uow.events.list([status] if status else None, source, limit=limit, offset=offset))
        # The page's jobs in one query, not one per event (the dashboard lists 50 at a time).
        ids = [r.id for r in rows]
        jobs = {j.ref_id: j for j in uow.session.execute(select(JobRow).where(
            JobRow.kind == "event", JobRow.ref_id.in_(ids))).scalars()} if ids else {}
        return [EventView.of(r, jobs.get(r.id)) for r in rows]


def get_event(uow: UnitOfWork, actor: Actor, event_id: int) -> EventView:
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        ev = uow.events.get(event_id)
        if ev is None:
            raise NotFound(f"no event with id {event_id}", code="event.not_found", field="event_id")
        return EventView.of(ev, uow.jobs.for_ref("event", ev.id))


def retry_event(uow: UnitOfWork, actor: Actor, event_id: int) -> EventView:
    """Put a dead-lettered (or retrying) event back in the queue for an attempt now, with fresh attempts."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        ev = uow.events.get(event_id, for_update=True)
        if ev is None:
            raise NotFound(f"no event with id {event_id}", code="event.not_found", field="event_id")
        job = uow.jobs.for_ref("event", ev.id, for_update=True)
        if job is None or ev.status not in ("dead", "received"):
            raise BadTransition(f"only failed events can be retried; this one is {ev.status}"
                                + (" (rejected events were never understood: send a corrected event)"
                                   if ev.status == "rejected" else ""), code="event.bad_transition",
                                field="event_id")
        if job.status == "queued" and job.attempts == 0:
            return EventView.of(ev, job)  # waiting for its first attempt anyway
        before = {"status": ev.status, "attempts": job.attempts, "reason": ev.reason or job.last_error}
        now = uow.clock.now()
        job.status, job.attempts, job.run_after, job.finished_at = "queued", 0, now, None
        ev.status, ev.reason = "received", ""
        uow.audit.record(actor, "event.retried", "event", ev.id, before=before, after={"status": "received"},
                         cause={"event_id": ev.id, "event": f"{ev.source}/{ev.event_id}"})
        uow.flush()
        view = EventView.of(ev, job)
        uow.commit()
    return view
