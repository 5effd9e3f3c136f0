"""Group commit: deliveries verified at the same time are stored in one transaction.

Each delivery is acknowledged only after the transaction holding its events has committed (stored before it is
acted on, and before it is acknowledged). Under load many deliveries share one commit, which is what makes
ingestion fast on SQLite (one writer at a time: threads contending for its lock would mostly sleep) and cheaper on
PostgreSQL (one transaction of three statements for a batch).

There is no background task: one delivery at a time leads. The leader lets the event loop turn a few times, so
deliveries already read join it, writes every pending delivery of its database in one transaction, answers each,
and hands the lead to the first delivery still waiting (which arrived during the write) before it returns. Nobody
waits for a timer, and no delivery's answer waits for batches after its own.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Final

from starlette.concurrency import run_in_threadpool

from domain.services import events
from domain.services.events import Incoming, Receipt
from domain.store.session import Database

log = logging.getLogger("billable.ingest")

MAX_BATCH = 256
GATHER_TURNS = 3  # event-loop turns the leader waits while new deliveries keep joining: sockets already readable
LINGER = 0.005    # at most this long (seconds) for company


class _Lead:
    """What a waiting delivery is told when it becomes the leader."""


LEAD: Final = _Lead()


@dataclass
class _Pending:
    db: Database
    source: str
    items: list[Incoming]
    done: asyncio.Future[Receipt | _Lead]


@dataclass
class GroupCommit:
    pending: list[_Pending] = field(default_factory=list)
    writing: bool = False  # a leader is gathering or writing: the others wait to be answered or to lead

    async def store(self, db: Database, source: str, items: list[Incoming]) -> Receipt:
        loop = asyncio.get_running_loop()
        me = _Pending(db, source, items, loop.create_future())
        self.pending.append(me)
        if self.writing:
            try:
                got = await me.done
            except asyncio.CancelledError:
                self._forget(me)
                raise
            if not isinstance(got, _Lead):
                return got
            me.done = loop.create_future()
        else:
            self.writing = True
        try:
            await self._gather(loop)
            batch = [me, *[p for p in self.pending if p is not me and p.db is db][:MAX_BATCH - 1]]
            taken = {id(p) for p in batch}
            self.pending = [p for p in self.pending if id(p) not in taken]
            await self._write(db, batch)
        finally:
            self._hand_over()
        result = me.done.result()
        assert not isinstance(result, _Lead)
        return result

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let deliveries already read reach the group: turn the loop until none joined for GATHER_TURNS turns."""
        deadline = loop.time() + LINGER
        seen, quiet = len(self.pending), 0
        while quiet < GATHER_TURNS and len(self.pending) < MAX_BATCH and loop.time() < deadline:
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self.pending) == seen else 0
            seen = len(self.pending)

    def _forget(self, me: _Pending) -> None:
        """A waiting delivery was cancelled: drop it, and pass the lead on if it had just been given it."""
        if me in self.pending:
            self.pending.remove(me)
        if me.done.done() and not me.done.cancelled() and isinstance(me.done.result(), _Lead):
            self._hand_over()

    def _hand_over(self) -> None:
        while self.pending:
            nxt = self.pending[0]
            if nxt.done.done():  # its request was cancelled while it waited
                self.pending.pop(0)
                continue
            nxt.done.set_result(LEAD)  # `writing` stays set: the lead passes without a gap
            return
        self.writing = False

    async def _write(self, db: Database, batch: list[_Pending]) -> None:
        try:
            await self._commit(db, batch)
        finally:
            # Interrupted (cancelled) before every answer was known: whether it committed is unknown here, so
            # nobody gets a 2xx (a retry is a duplicate if it did).
            for p in batch:
                _answer(p, error=RuntimeError("the write of this delivery was interrupted"))

    async def _commit(self, db: Database, batch: list[_Pending]) -> None:
        try:
            receipts = await run_in_threadpool(events.receive_batches, db.uow(), [(p.source, p.items) for p in batch])
        except Exception:
            if len(batch) == 1:
                p = batch[0]
                try:
                    _answer(p, await run_in_threadpool(
                        events.receive_events, db.uow(), events.source_actor(p.source), p.source, p.items))
                except Exception as e:
                    _answer(p, error=e)
                return
            log.warning("a group of %s deliveries failed to commit; storing them one by one", len(batch))
            for p in batch:  # one bad delivery must not fail the others
                await self._commit(db, [p])
            return
        for p, r in zip(batch, receipts, strict=True):
            _answer(p, r)


def _answer(p: _Pending, receipt: Receipt | None = None, error: BaseException | None = None) -> None:
    if p.done.done():  # answered already, or its request was cancelled
        return
    if receipt is not None:
        p.done.set_result(receipt)
    elif error is not None:
        p.done.set_exception(error)
