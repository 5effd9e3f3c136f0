"""Group commit: deliveries verified at the same time are stored in one transaction.

Each delivery is acknowledged only after the transaction holding its events has committed (stored before it is
acted on, and before it is acknowledged). Under load many deliveries share one commit, which is what makes
ingestion fast on SQLite (one writer at a time: threads contending for its lock would mostly sleep) and cheaper on
PostgreSQL (one commit, one audit-chain lock per batch). There is no background task: the first delivery that finds
no write in progress waits LINGER for company, then writes every pending batch until none is left, and returns.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from domain.services import events
from domain.services.events import Incoming, Receipt
from domain.store.session import Database

log = logging.getLogger("billable.ingest")

MAX_BATCH = 256
LINGER = 0.005  # seconds the first delivery waits for company: one commit for many under load


@dataclass
class _Pending:
    db: Database
    source: str
    items: list[Incoming]
    done: asyncio.Future[Receipt]


@dataclass
class GroupCommit:
    pending: list[_Pending] = field(default_factory=list)
    writing: bool = False

    async def store(self, db: Database, source: str, items: list[Incoming]) -> Receipt:
        done: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self.pending.append(_Pending(db, source, items, done))
        if not self.writing:
            self.writing = True
            try:
                await asyncio.sleep(LINGER)  # let deliveries already read join this transaction
                while self.pending:
                    first_db = self.pending[0].db  # tests point one server at several databases in turn
                    batch = [p for p in self.pending if p.db is first_db][:MAX_BATCH]
                    self.pending = [p for p in self.pending if p not in batch]
                    await self._write(first_db, batch)
            finally:
                self.writing = False
        return await done

    async def _write(self, db: Database, batch: list[_Pending]) -> None:
        try:
            receipts = await run_in_threadpool(events.receive_batches, db.uow(), [(p.source, p.items) for p in batch])
        except Exception:
            if len(batch) == 1:
                p = batch[0]
                try:
                    p.done.set_result(await run_in_threadpool(
                        events.receive_events, db.uow(), events.source_actor(p.source), p.source, p.items))
                except Exception as e:
                    p.done.set_exception(e)
                return
            log.warning("a group of %s deliveries failed to commit; storing them one by one", len(batch))
            for p in batch:  # one bad delivery must not fail the others
                await self._write(db, [p])
            return
        for p, r in zip(batch, receipts, strict=True):
            p.done.set_result(r)
