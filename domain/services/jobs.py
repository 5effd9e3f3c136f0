"""The job queue: workers take stored events off our own `jobs` table and run each job once.

Why a table with `SELECT ... FOR UPDATE SKIP LOCKED` and not procrastinate (or a broker):

* **One table, one transaction.** A job is inserted in the same transaction as the event it processes (so an
  event is never stored without its job, nor queued without being stored), and it is marked done in the same
  transaction as everything the job changes: the drafted and issued invoices, their numbers, the audit entries and
  the outbox rows. A crash anywhere before that commit rolls all of it back and leaves the job queued; after it,
  the job is done and its effects are there. "Done once" is therefore not a protocol between a queue and the
  database but one atomic commit. With procrastinate the job row lives in its own tables and is finished by its own
  statements after our handler returns; the handler's transaction and the job's status could be joined only by
  running procrastinate on our connection, which it does not offer for the synchronous worker.
* **No extra service.** PostgreSQL is already there; SKIP LOCKED lets any number of `billable worker` processes
  claim different rows without blocking one another (a row another worker holds is skipped, not waited for). On
  SQLite, the embedded default, there are no row locks and none are needed: writers are serialized by
  BEGIN IMMEDIATE, so the one in-process worker claims jobs exclusively anyway.
* **As safe.** The claim lock lives exactly as long as the transaction that does the work: there is no lease to
  expire while a slow job is still running and no heartbeat. A worker killed with SIGKILL loses its connection;
  PostgreSQL rolls its transaction back and the rows are claimable again at once.
* **Retries and dead letters** are two columns: a failed job is rolled back to a savepoint, its attempt counted
  and its `run_after` pushed out with exponential backoff; after `max_attempts` (or at once, for a refusal that
  no retry can change, such as editing a billed time entry) it is `dead`, its event carries the reason, and
  `billable events retry ID` (or POST /v1/events/{id}/retry) puts it back.

What we give up: procrastinate's scheduling, locks by key and admin UI. Schedules here are due dates found by a
tick (see schedules.py), ordering per subject is handled by the events' `occurred_at`, and `billable events list`
plus GET /v1/events are the admin view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import BillingError, Conflict
from domain.model.outbox_events import EventDead
from domain.services.events import source_actor
from domain.services.outbox import emit
from domain.services.reactions import DEFER, Retry, handle_event, prefetch, settle_events
from domain.services.rules import RuleBook, current_book
from domain.store.tables import EventRow, JobRow
from domain.store.uow import DEFER_FLUSH, ID_POOL, UnitOfWork

log = logging.getLogger("billable.jobs")

BACKOFF_SECONDS = 5.0      # first retry after 5 s, then 20 s, 80 s, 320 s ...
BACKOFF_FACTOR = 4
BACKOFF_CAP = 3600.0
BATCH = 25

Step = Callable[[str], None]


@dataclass(frozen=True)
class Processed:
    """An event a job finished, for whoever watches latencies (the /metrics histogram of event -> draft)."""

    source: str
    type: str
    seconds: float      # from storing the event to the commit that finished it
    drafted: bool       # a rule it fired drafted or issued an invoice


Observe = Callable[[Processed], None]


def backoff(attempts: int) -> timedelta:
    """How long to wait after the n-th failed attempt."""
    return timedelta(seconds=min(BACKOFF_SECONDS * BACKOFF_FACTOR ** max(attempts - 1, 0), BACKOFF_CAP))


def retryable(e: Exception) -> bool:
    """Refusals a retry cannot change are dead at once; everything else (a client not known yet, a concurrent
    drafter, a lost connection, a deadlock) gets another attempt later."""
    if isinstance(e, Retry | Conflict):
        return True
    return not isinstance(e, BillingError)


def process_jobs(uow: UnitOfWork, worker: str, limit: int = BATCH, step: Step | None = None,
                 observe: Observe | None = None) -> int:
    """Claim up to `limit` ready jobs and run each once, in one transaction; how many were claimed.

    The batch runs under one savepoint, without one per job: the usual batch (every job succeeds) costs no
    savepoint statements and its rows are flushed together. If any job fails, the whole batch is rolled back to
    that savepoint and run again job by job, each in its own savepoint: the failing job is rolled back alone, its
    attempt recorded, and the others commit. `observe` hears of each event finished, after the commit that
    finished it.
    """
    with uow:
        now = uow.clock.now()
        jobs = uow.jobs.claim(now, limit)
        if not jobs:
            return 0
        book = current_book(uow)
        loaded = uow.events.load([j.ref_id for j in jobs if j.kind == "event"])  # held: no query per job
        prefetch(uow, book, loaded)
        if not _run_batch(uow, jobs, loaded, book, worker, step):
            book.memo.clear()  # it may hold rows the rollback took back
            for job in jobs:
                _run(uow, job, book, worker, step)
        # read before the commit expires the rows: after it, each attribute would cost a query
        finished = [_finished(ev) for ev in loaded if ev.processed_at is not None] if observe else []
        uow.commit()
        del loaded
    if observe is not None:
        committed = uow.clock.now()  # what it did is visible from now: the latency a user sees ends here
        for source, etype, received, drafted in finished:
            observe(Processed(source, etype, max((committed - received).total_seconds(), 0.0), drafted))
    return len(jobs)


def _finished(ev: EventRow) -> tuple[str, str, datetime, bool]:
    ran = (ev.result or {}).get("rules") or []
    return ev.source, ev.type, ev.received_at, any(r.get("invoices") for r in ran if isinstance(r, dict))


def _run_batch(uow: UnitOfWork, jobs: Sequence[JobRow], loaded: Sequence[EventRow], book: RuleBook, worker: str,
               step: Step | None) -> bool:
    """Every job of the batch under one savepoint; False (all of it rolled back) as soon as one fails.

    Its time entries take ids reserved for the batch (one query) and the use cases it calls do not flush at their
    commit, so the entries are inserted together by the next statement that needs them (a threshold reached,
    drafting) or at the batch's end: one executemany, not one INSERT ... RETURNING per event."""
    mark = len(uow.audit.pending)
    savepoint = uow.session.begin_nested()
    book.memo[DEFER] = []
    timed = sum(1 for ev in loaded if ev.type in ("time.logged", "time.updated") and ev.status == "received")
    info = uow.session.info
    info[ID_POOL] = {"time_entries": uow.reserve_ids("time_entries", timed)[::-1]} if timed else {}
    info[DEFER_FLUSH] = True
    try:
        done: list[tuple[JobRow, datetime, bool]] = []
        for job in jobs:
            ev = uow.events.get(job.ref_id) if job.kind == "event" else None
            now = uow.clock.now()
            if ev is None or ev.status != "received":
                done.append((job, now, False))  # nothing (more) to do
                continue
            uow.audit.cause.clear()
            uow.set_cause(event_id=ev.id, event=f"{ev.source}/{ev.event_id}", event_type=ev.type)
            handle_event(uow, ev, book, step)
            done.append((job, now, True))
        # Marked at the end, so the batch's event and job rows are written together (one executemany each), not
        # one by one by the flushes of the events' own work.
        settle_events(book)
        for job, now, attempted in done:
            if attempted:
                job.attempts += 1
            job.status, job.finished_at, job.done_by = "done", now, worker
        uow.flush()
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        del uow.audit.pending[mark:]
        return False
    finally:
        info.pop(ID_POOL, None)
        info.pop(DEFER_FLUSH, None)
        book.memo.pop(DEFER, None)
        uow.audit.cause.clear()
    return True


def _run(uow: UnitOfWork, job: JobRow, book: RuleBook, worker: str, step: Step | None) -> None:
    ev = uow.events.get(job.ref_id) if job.kind == "event" else None
    now = uow.clock.now()
    if ev is None or ev.status != "received":
        job.status, job.finished_at, job.done_by = "done", now, worker  # nothing (more) to do
        return
    uow.audit.cause.clear()
    uow.set_cause(event_id=ev.id, event=f"{ev.source}/{ev.event_id}", event_type=ev.type)
    mark = len(uow.audit.pending)
    savepoint = uow.session.begin_nested()
    try:
        handle_event(uow, ev, book, step)
        uow.flush()
        savepoint.commit()
    except Exception as e:
        savepoint.rollback()
        del uow.audit.pending[mark:]
        book.memo.clear()  # it may hold rows this job made and the rollback took back
        _failed(uow, job, e, worker)
    else:
        job.attempts += 1
        job.status, job.finished_at, job.done_by = "done", now, worker
    finally:
        uow.audit.cause.clear()


def _failed(uow: UnitOfWork, job: JobRow, e: Exception, worker: str) -> None:
    ev = uow.events.get(job.ref_id)
    assert ev is not None
    now = uow.clock.now()
    reason = f"{e.code}: {e.message}" if isinstance(e, BillingError) else f"{type(e).__name__}: {e}"
    if not isinstance(e, BillingError):
        log.warning("event %s (%s/%s) failed on attempt %s", ev.id, ev.source, ev.event_id, job.attempts + 1,
                    exc_info=e)
    job.attempts += 1
    job.last_error = reason[:4000]
    if retryable(e) and job.attempts < job.max_attempts:
        job.run_after = now + backoff(job.attempts)
        return
    job.status, job.finished_at, job.done_by = "dead", now, worker
    ev.status, ev.reason, ev.processed_at = "dead", reason[:4000], now
    cause = {"event_id": ev.id, "event": f"{ev.source}/{ev.event_id}"}
    uow.audit.record(source_actor(ev.source), "event.dead", "event", ev.id,
                     after={"attempts": job.attempts, "reason": ev.reason}, cause=cause)
    emit(uow, EventDead(event_id=ev.id, source=ev.source, external_id=ev.event_id, type=ev.type,
                        attempts=job.attempts, reason=ev.reason), cause)


@dataclass(frozen=True)
class OpsFigures:
    """What an operator watches: the job queue and the outbox, with the age of their oldest waiting item."""

    jobs_queued: int
    jobs_oldest_age_seconds: float
    jobs_dead: int
    outbox_pending: int
    outbox_failing: int
    outbox_oldest_age_seconds: float
    outbox_dead: int


def ops_figures(uow: UnitOfWork) -> OpsFigures:
    """The queue's and the outbox's depth and lag (the /metrics collector reads them at each scrape)."""
    with uow:
        now = uow.clock.now()
        queued, oldest_job, dead = uow.jobs.queue_figures()
        pending, failing, oldest_msg, dead_msgs = uow.outbox.figures()

    def age(at: datetime | None) -> float:
        return max((now - at).total_seconds(), 0.0) if at is not None else 0.0

    return OpsFigures(queued, age(oldest_job), dead, pending, failing, age(oldest_msg), dead_msgs)


def queue_stats(uow: UnitOfWork) -> dict[str, dict[str, int]]:
    """Jobs and events by status (the CLI's and the health view's summary)."""
    with uow:
        return {"jobs": uow.jobs.count_by_status(), "events": uow.events.count_by_status()}
