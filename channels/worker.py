"""The worker: runs queued jobs, sends the outbox, and ticks the schedule every minute.

`billable serve` runs one in a thread of the server process (the embedded default, on SQLite too); on PostgreSQL,
any number of `billable worker` processes share the queue (jobs are claimed with SKIP LOCKED, see
domain/services/jobs.py). The HTTP door wakes the embedded worker when an event arrives, so an event is usually
being processed a few milliseconds after it was stored; on PostgreSQL every worker also LISTENs for the NOTIFY
that committing jobs sends, so other processes' events wake it too; otherwise workers poll every second.

Fault injection for the crash tests: BILLABLE_FAULT_AT=after_drafting|after_issuing|before_outbox_mark (and the
accounting sync's accounting_before_push|accounting_after_push|accounting_after_record) kills the process with
SIGKILL when it reaches that point (nothing else reads it).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from channels.metrics import observe_event
from domain.model.roles import Actor
from domain.services import jobs, outbox, rules, schedules
from domain.services.outbox import Send
from domain.settings import Settings
from domain.store.audit_keys import keyring_for
from domain.store.repositories import JOBS_CHANNEL
from domain.store.session import Database

log = logging.getLogger("billable.worker")

FAULT_ENV = "BILLABLE_FAULT_AT"
BACKLOG_FACTOR = 4  # with a queue behind it, a batch grows up to 4 x `batch` jobs
SWITCH_INTERVAL = 0.0005  # seconds: how long another thread may hold the GIL before the embedded worker gets it


def fault_step() -> Callable[[str], None] | None:
    points = {p.strip() for p in os.environ.get(FAULT_ENV, "").split(",") if p.strip()}
    if not points:
        return None

    def step(name: str) -> None:
        if name in points:
            os.kill(os.getpid(), signal.SIGKILL)

    return step


def load_rules_file(db: Database, path: str, actor: Actor) -> int | None:
    """Make the rules file the rules in force (nothing changes when it already is); the version."""
    text = Path(path).read_text(encoding="utf-8")
    return rules.put_rules(db.uow(), actor, text).version


class Worker:
    def __init__(self, db: Database, send: Send, name: str | None = None, batch: int = jobs.BATCH,
                 poll: float = 1.0, tick_every: float = 60.0, step: Callable[[str], None] | None = None,
                 outbox_lease: float = outbox.LEASE.total_seconds(),
                 observe: jobs.Observe | None = observe_event,
                 accounting: Callable[[], int] | None = None) -> None:
        self.db, self.send, self.observe = db, send, observe
        self.accounting = accounting  # the accounting sync's step (channels/accounting/sync.py), when configured
        self.lease = timedelta(seconds=outbox_lease)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.batch, self.poll, self.tick_every, self.step = batch, poll, tick_every, step
        self._limit = batch  # grows while the queue is long (see run_once)
        self.actor = Actor.system(f"worker {self.name}")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_tick = 0.0
        self.last_tick: schedules.TickReport | None = None
        self.inbound: Any = None  # channels.accounting.inbound.Inbound when QuickBooks is configured

    @classmethod
    def for_settings(cls, db: Database, settings: Settings, **kw: object) -> Worker:
        from channels.accounting.sync import sync_for_settings
        from channels.notify import make_sender

        step = fault_step()
        sync = sync_for_settings(db, settings, step=step)
        worker = cls(db, make_sender(settings, db), step=step, accounting=sync.run_once if sync else None,
                     **kw)  # type: ignore[arg-type]
        if sync is not None:  # the same connection (and its HTTP client) for the inbound chores
            from channels.accounting.inbound import Inbound

            worker.inbound = Inbound(db, settings, sync.link)
        return worker

    def wake(self) -> None:
        self._wake.set()

    def tick(self) -> list[str]:
        """Due dates as events, and today's dunning reminders; the due dates found (the report is `last_tick`)."""
        self._last_tick = time.monotonic()
        self.last_tick = schedules.tick(self.db.uow(), self.actor)
        if self.inbound is not None:
            self.inbound.catch_up()  # QuickBooks' changes since the last cursor: webhooks get lost
        return self.last_tick.emitted

    def run_once(self) -> int:
        """One round: due ticks, a batch of jobs, the outbox. How many jobs and messages were handled."""
        if self.tick_every and time.monotonic() - self._last_tick >= self.tick_every:
            self.tick()
        if self.inbound is not None:
            self.inbound.read_named()  # what QuickBooks webhooks named, read before their jobs run
        done = jobs.process_jobs(self.db.uow(), self.name, self._limit, self.step, self.observe)
        # A full batch means a queue behind it: take bigger ones (each batch's own dozen statements and its commit
        # shared by more events) until it is short again, then back to `batch` so a lone event waits for few others.
        self._limit = min(self._limit * 2, self.batch * BACKLOG_FACTOR) if done >= self._limit else self.batch
        done += outbox.dispatch_outbox(self.db.uow(), self.send, step=self.step, lease=self.lease)
        if self.accounting is not None:
            try:
                done += self.accounting()
            except Exception:  # QuickBooks unreachable or refusing: its queue keeps the work; the rest goes on
                log.exception("accounting sync round failed; its queue keeps the work")
        return done

    def run_until_idle(self) -> int:
        total = 0
        while n := self.run_once():
            total += n
        return total

    def run(self) -> None:
        """Until stop(): work while there is work, then wait for a wake-up or the poll interval."""
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker round failed; trying again shortly")
                busy = 0
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()

    def listen(self) -> None:
        """On PostgreSQL, wake when jobs are committed (LISTEN/NOTIFY) instead of waiting for the next poll."""
        url = self.db.engine.url
        if url.get_backend_name() != "postgresql":
            return
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

        def loop() -> None:
            import psycopg

            while not self._stop.is_set():
                try:
                    with psycopg.connect(conninfo, autocommit=True) as conn:
                        conn.execute(f"LISTEN {JOBS_CHANNEL}")
                        while not self._stop.is_set():
                            for _ in conn.notifies(timeout=1.0, stop_after=1):
                                self.wake()
                except Exception:
                    log.warning("LISTEN %s failed; polling until it is back", JOBS_CHANNEL, exc_info=True)
                    self._stop.wait(5)

        threading.Thread(target=loop, name=f"billable-listen:{self.name}", daemon=True).start()

    def start(self) -> Worker:
        """Run in a thread of this process (the embedded worker, beside the web server)."""
        # The worker waits on the database for every statement and must take the GIL back after each; a busy web
        # thread holds it for the switch interval (5 ms by default) before yielding, so each statement cost up to
        # 5 ms more under load. 0.5 ms lets the worker back in sooner, for little switching overhead.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread = threading.Thread(target=self.run, name=f"billable-worker:{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def main(argv: list[str] | None = None) -> int:
    """`python -m channels.worker`: the worker without the CLI around it (it starts in a fraction of the time)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m channels.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--name")
    parser.add_argument("--until-idle", action="store_true")
    parser.add_argument("--batch", type=int, default=jobs.BATCH)
    parser.add_argument("--tick-every", type=float, default=60.0)
    parser.add_argument("--outbox-lease", type=float, default=outbox.LEASE.total_seconds())
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the queue when idle")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    db = Database.open(settings.database_url, keyring=keyring_for(settings))
    try:
        if settings.rules_file:
            load_rules_file(db, settings.rules_file, Actor.system("worker"))
        w = Worker.for_settings(db, settings, name=args.name, batch=args.batch, tick_every=args.tick_every,
                                outbox_lease=args.outbox_lease, poll=args.poll)
        if args.until_idle:
            w.run_until_idle()
            return 0
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: w.stop(timeout=0))
        w.listen()
        w.run()
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
