"""The outbox: side effects (notifications now, invoice delivery later) written in the same transaction as the
state change that causes them, and performed afterwards by the worker.

A crash between "issued" and "notify" therefore loses nothing: the message was committed with the invoice. Sending
is at-least-once (a crash after sending and before marking sends again, after the lease of `LEASE` runs out), and
every message carries a stable id (`msg_<outbox id>`, the Standard Webhooks `webhook-id` of a delivery) so the
receiver applies it once: nothing is acted on twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from domain.model.outbox_events import BookEvent, parse
from domain.model.roles import Actor, Perm
from domain.services import accounting
from domain.services._auth import require
from domain.store.tables import OutboxRow
from domain.store.uow import UnitOfWork

log = logging.getLogger("billable.outbox")

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Message:
    id: int
    topic: str
    payload: dict[str, Any]
    cause: dict[str, Any]
    created_at: datetime
    attempt: int

    @property
    def key(self) -> str:
        """The idempotency key a receiver deduplicates on."""
        return f"msg_{self.id}"

    @property
    def event(self) -> BookEvent | None:
        """The typed payload (`domain.model.outbox_events`); None for a topic the catalogue does not know."""
        return parse(self.topic, self.payload)


def emit(uow: UnitOfWork, event: BookEvent, cause: dict[str, Any] | None = None) -> None:
    """Put one event of the catalogue on the outbox, in the caller's transaction, with what caused it."""
    uow.outbox.put(event.topic, event.model_dump(mode="json"), dict(uow.audit.cause) if cause is None else cause,
                   uow.clock.now())
    accounting.fan_out(uow, [event])  # the accounting sync's own queue rows, same transaction (issue 16)


def emit_many(uow: UnitOfWork, events: list[BookEvent]) -> None:
    """Many events in one statement (a month-end run issues thousands of invoices per batch)."""
    if events:
        uow.outbox.put_many([(e.topic, e.model_dump(mode="json")) for e in events], dict(uow.audit.cause),
                            uow.clock.now())
        accounting.fan_out(uow, events)


Send = Callable[[Message], None]


class RetryLater(Exception):
    """Raised by a sender that was told when to come back (Slack's 429 with Retry-After): the message is tried
    again after `seconds` rather than after the usual backoff. It still counts as an attempt, so a receiver that
    never stops saying "later" cannot keep a message alive for ever."""

    def __init__(self, seconds: float, reason: str = "rate limited") -> None:
        super().__init__(f"{reason}; retry after {seconds:g} s")
        self.seconds = max(0.0, float(seconds))


def _retry_after(attempts: int) -> timedelta:
    return timedelta(seconds=min(10 * 3 ** max(attempts - 1, 0), 6 * 3600))


def dispatch_outbox(uow: UnitOfWork, send: Send, limit: int = 20, step: Callable[[str], None] | None = None,
                    lease: timedelta = LEASE) -> int:
    """Send up to `limit` pending messages; how many were sent. Claimed messages are leased (not held locked while
    the network is slow); a failure backs off, and after MAX_ATTEMPTS the message is dead, with the error."""
    with uow:
        now = uow.clock.now()
        rows = uow.outbox.claim(now, limit)
        messages = []
        for r in rows:
            r.attempts += 1
            r.run_after = now + lease
            messages.append(Message(r.id, r.topic, dict(r.payload), dict(r.cause), r.created_at, r.attempts))
        uow.commit()
    sent = 0
    for m in messages:
        try:
            send(m)
        except Exception as e:
            log.warning("outbox message %s (%s) failed on attempt %s: %s", m.id, m.topic, m.attempt, e)
            with uow:
                row = uow.outbox.get(m.id, for_update=True)
                if row is not None and row.status == "pending":
                    row.last_error = f"{type(e).__name__}: {e}"[:2000]
                    wait = timedelta(seconds=e.seconds) if isinstance(e, RetryLater) else _retry_after(row.attempts)
                    row.run_after = uow.clock.now() + wait
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = "dead"
                uow.commit()
            continue
        if step is not None:
            step("before_outbox_mark")
        with uow:
            row = uow.outbox.get(m.id, for_update=True)
            if row is not None and row.status == "pending":
                row.status, row.sent_at, row.last_error = "sent", uow.clock.now(), ""
            uow.commit()
        sent += 1
    return sent


class OutboxView(BaseModel):
    id: int
    topic: str
    status: str
    attempts: int
    payload: dict[str, Any]
    cause: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    last_error: str

    @classmethod
    def of(cls, r: OutboxRow) -> OutboxView:
        return cls(id=r.id, topic=r.topic, status=r.status, attempts=r.attempts, payload=dict(r.payload),
                   cause=dict(r.cause), created_at=r.created_at, sent_at=r.sent_at, last_error=r.last_error)


def list_outbox(uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 100) -> list[OutboxView]:
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        return [OutboxView.of(r) for r in uow.outbox.list(status, limit)]
