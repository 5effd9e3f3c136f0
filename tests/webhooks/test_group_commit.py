"""Group commit (channels/webhooks/_group_commit.py): deliveries stored together, each answered with its own
outcome once the transaction holding it has committed; a bad delivery fails alone; nobody's answer waits for the
batches after its own."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select, text

from channels.webhooks import GroupCommit
from domain.errors import ValidationFailed
from domain.services import events
from domain.services.events import Incoming, Receipt
from domain.store.session import Database
from domain.store.tables import AuditRow, EventRow, JobRow

DATA = {"entry_ref": "e-1", "client_ref": "acme", "person": "kim@example.com", "role": "engineer",
        "date": "2026-03-10", "hours": "1", "description": "group commit"}


T = TypeVar("T")


def arun(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: the dashboard tests' browser (Playwright's sync API, kept for the
    session) leaves its event loop marked as running in the main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def time_event(event_id: str, **data: Any) -> list[Incoming]:
    return [Incoming(event_id, "time.logged", {**DATA, "entry_ref": event_id, **data})]


def count(db: Database, stmt: Any) -> int:
    with db.uow(readonly=True) as uow:
        return int(uow.session.execute(stmt).scalar_one())


def test_each_delivery_is_answered_with_its_own_receipt_from_one_transaction(db: Database) -> None:
    events.receive_events(db.uow(), events.source_actor("billable"), "billable", time_event("old"))
    group = GroupCommit()
    deliveries = [time_event(f"new-{i}") for i in range(12)] + [time_event("old"), time_event("bad", hours="x")]

    async def run() -> list[Receipt]:
        return list(await asyncio.gather(*(group.store(db, "billable", items) for items in deliveries)))

    receipts = arun(run())
    assert [r.accepted for r in receipts[:12]] == [[f"new-{i}"] for i in range(12)]
    assert receipts[12].accepted == [] and receipts[12].duplicates == ["old"]
    assert receipts[13].accepted == [] and [e["event_id"] for e in receipts[13].rejected] == ["bad"]
    assert count(db, select(func.count()).select_from(EventRow)) == 14
    assert count(db, select(func.count()).select_from(JobRow)) == 13  # the rejected one is never queued
    # one "events.received" entry per transaction: the twelve new events were stored together
    assert count(db, select(func.count()).select_from(AuditRow).where(AuditRow.action == "events.received")) == 2
    assert not group.pending and not group.writing


def test_a_delivery_that_cannot_be_stored_fails_alone(db: Database) -> None:
    group = GroupCommit()
    too_long = "x" * (events.ID_MAX + 1)

    async def run() -> list[Receipt | BaseException]:
        return list(await asyncio.gather(group.store(db, "billable", time_event("a")),
                                         group.store(db, "billable", time_event(too_long)),
                                         group.store(db, "billable", time_event("b")), return_exceptions=True))

    a, bad, b = arun(run())
    assert isinstance(a, Receipt) and a.accepted == ["a"]
    assert isinstance(b, Receipt) and b.accepted == ["b"]
    assert isinstance(bad, ValidationFailed) and bad.code == "event.bad_id"
    assert count(db, select(func.count()).select_from(EventRow)) == 2
    assert not group.pending and not group.writing


@pytest.mark.parametrize("late", [1, 5])
def test_the_leader_is_answered_without_waiting_for_the_next_batch(db: Database, late: int) -> None:
    """Deliveries arriving while a batch is written form the next batch, led by one of them: the first batch's
    deliveries are answered as soon as their own transaction commits."""
    group = GroupCommit()
    stored_when_answered: dict[str, int] = {}
    blocker = db.engine.connect()  # holds the audit chain's head: the first batch's transaction waits for it
    blocker.execute(text("UPDATE audit_head SET last_seq = last_seq WHERE id = 1"))

    async def deliver(event_id: str) -> Receipt:
        receipt = await group.store(db, "billable", time_event(event_id))
        stored_when_answered[event_id] = count(db, select(func.count()).select_from(EventRow))
        return receipt

    async def run() -> None:
        first = asyncio.create_task(deliver("first"))
        while not group.writing or group.pending:  # the first batch is taken and its transaction is waiting
            await asyncio.sleep(0.001)
        later = [asyncio.create_task(deliver(f"later-{i}")) for i in range(late)]
        while len(group.pending) < late:
            await asyncio.sleep(0.001)
        blocker.rollback()
        await asyncio.gather(first, *later)

    try:
        arun(run())
    finally:
        blocker.close()
    assert stored_when_answered["first"] == 1  # answered before the next batch was written
    assert {stored_when_answered[f"later-{i}"] for i in range(late)} == {late + 1}
    assert count(db, select(func.count()).select_from(EventRow)) == late + 1
    assert not group.pending and not group.writing
