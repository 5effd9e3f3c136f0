"""PostgreSQL goes away in the middle of a worker run: the worker reconnects and finishes, nothing is lost and nothing
is done twice (every event processed once, no milestone billed twice, numbers gapless).

make test cuts the worker's own connections (pg_terminate_backend on this test's database only: other tests share
the server). make reliability kills a whole server (`pg_ctl stop -m immediate`, as a crash would) and starts it again:
a PRIVATE one this test creates for itself (initdb into a temp dir, a free port; tests/support/private_pg.py), never
the machine's shared PostgreSQL, which other people's test runs are using."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from channels.worker import Worker
from domain.services import workspace
from domain.store.clock import Clock, FixedClock
from domain.store.db import make_engine
from domain.store.migrate import upgrade
from domain.store.session import Database
from domain.store.tables import BillingClaimRow, EventRow, InvoiceRow
from tests.conftest import START, open_database
from tests.events.conftest import Events
from tests.support.private_pg import PrivateCluster, private_cluster
from tests.support.reliability import HEAVY, record, scale

RULES = """
rules:
  - id: milestones
    on: milestone.completed
    action: bill_milestone
    clean_draft: auto_issue
"""


@pytest.fixture
def cluster() -> Iterator[PrivateCluster | None]:
    """make reliability: a private PostgreSQL server this test may kill; make test: none (the shared one is used)."""
    if not HEAVY:
        yield None
        return
    with private_cluster() as c:
        yield c


@pytest.fixture
def pg_db(cluster: PrivateCluster | None, request: pytest.FixtureRequest, tmp_path: Path,
          sqlite_template: Path) -> Iterator[Database]:
    if cluster is not None:
        engine = make_engine(cluster.create_database("billable_restart"))
        upgrade(engine)
    else:
        engine = open_database("postgresql", tmp_path, sqlite_template, request.getfixturevalue("pg_url"),
                               FixedClock(START)).engine
    # A real clock: a job that failed when its connection died is retried after its backoff (5 s), which a fixed
    # clock would never reach.
    database = Database(engine, Clock())
    yield database
    database.dispose()


def _cut(db: Database, cluster: PrivateCluster | None) -> str:
    """Take PostgreSQL away from the worker: kill and restart the private server (heavy), or end this database's
    other sessions (light: the shared server stays up)."""
    if cluster is not None:
        cluster.restart()
        return "its private PostgreSQL server killed (stop -m immediate) and restarted"
    with db.engine.connect() as conn:
        n = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
        conn.commit()
    return f"{n} worker connections terminated"


def _state(db: Database) -> tuple[Counter[str], list[tuple[int, str | None]], list[tuple[str, int]]]:
    for _ in range(120):  # the server may still be coming back
        try:
            with db.uow() as uow:
                s = uow.session
                return (Counter(s.execute(select(EventRow.status)).scalars()),
                        [(r.id, r.number) for r in s.execute(select(InvoiceRow)).scalars()],
                        [(r.kind, r.ref_id) for r in s.execute(select(BillingClaimRow)).scalars()])
        except OperationalError:
            time.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


@pytest.mark.reliability
@pytest.mark.slow
def test_the_worker_reconnects_after_postgresql_goes_away_and_loses_or_doubles_nothing(
        pg_db: Database, cluster: PrivateCluster | None) -> None:
    n = scale(40, 300)
    ev = Events(pg_db)
    ev.rules(RULES)
    workspace.update_settings(pg_db.uow(), ev.system, {"deviation_pct": "100000"})
    cid = ev.client()
    ev.arrangement(cid, kind="milestone", name="Rollout",
                   milestones=[{"name": f"M{i}", "amount": f"{1000 + i}.00"} for i in range(n)])
    for i in range(n):
        ev.receive("milestone.completed", {"milestone_ref": f"jira:R-{i}", "name": f"M{i}", "project_ref": "acme",
                                           "completed_on": "2026-04-01"}, f"jira-{i}")
    sent: list[str] = []
    lock = threading.Lock()

    def send(m: object) -> None:
        with lock:
            sent.append(str(getattr(m, "key", "")))

    worker = Worker(pg_db, send, name="restart", batch=5, poll=0.05, tick_every=0).start()
    how = ""
    try:
        deadline = time.monotonic() + scale(180, 600)
        while _state(pg_db)[0].get("processed", 0) < n // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        how = _cut(pg_db, cluster)
        while time.monotonic() < deadline:
            done = _state(pg_db)[0]
            if done.get("processed", 0) == n:
                break
            time.sleep(0.2)
    finally:
        worker.stop()
    events, invoices, claims = _state(pg_db)
    milestone_claims = [r for k, r in claims if k == "milestone"]
    numbers = sorted(int(num.rsplit("-", 1)[1]) for _, num in invoices if num)
    record("pg_restart", f"worker run of {n} events with {how} a quarter in", tried=n,
           lost=n - events.get("processed", 0), doubled=len(milestone_claims) - len(set(milestone_claims)),
           errors=sum(v for k, v in events.items() if k != "processed"))
    assert events == {"processed": n}                                  # every event once
    assert milestone_claims and len(set(milestone_claims)) == len(milestone_claims)  # nothing billed twice
    assert invoices and numbers == list(range(1, len(numbers) + 1))    # whatever was numbered: no gap
