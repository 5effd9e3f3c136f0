"""Two worker processes on PostgreSQL working the same queue of 2,000 events: each event processed exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from domain.model.roles import Actor
from domain.services import clients, events
from domain.services.events import Incoming
from domain.store.session import Database
from domain.store.tables import AuditRow, EventRow, JobRow, TimeEntryRow

ROOT = Path(__file__).resolve().parents[2]
N = 2000


@pytest.mark.slow
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_two_workers_share_one_queue_and_do_each_job_once(db: Database, tmp_path: Path) -> None:
    system = Actor.system("tests")
    cid = clients.create_client(db.uow(), system, {"name": "Acme", "currency": "EUR", "external_ref": "acme"}).id
    clients.add_arrangement(db.uow(), system, cid, {"kind": "time_and_materials", "default_rate": "100.00"})
    items = [Incoming(f"te-{i}", "time.logged", {"entry_ref": f"te-{i}", "client_ref": "acme", "person": "kim",
                                                 "role": "dev", "date": "2026-03-10", "hours": "0.25"})
             for i in range(N)]
    receipt = events.receive_events(db.uow(), events.source_actor("billable"), "billable", items)
    assert len(receipt.accepted) == N
    env = {**os.environ, "BILLABLE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
           "PYTHONPATH": str(ROOT)}
    env.pop("BILLABLE_NOTIFY_URL", None)
    procs = [subprocess.Popen([sys.executable, "-m", "channels.worker", "--until-idle", "--tick-every", "0",
                               "--batch", "50", "--name", name], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for name in ("w1", "w2")]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    with db.uow() as uow:
        s = uow.session
        jobs = s.execute(select(JobRow.status, JobRow.attempts, JobRow.done_by)).all()
        assert Counter((st, a) for st, a, _ in jobs) == {("done", 1): N}
        by_worker = Counter(w for _, _, w in jobs)
        assert set(by_worker) == {"w1", "w2"} and sum(by_worker.values()) == N, by_worker
        assert s.execute(select(func.count()).select_from(TimeEntryRow)).scalar_one() == N
        assert Counter(s.execute(select(EventRow.status)).scalars()) == {"processed": N}
        logged = s.execute(select(func.count()).select_from(AuditRow).where(AuditRow.action == "time.logged"))
        assert logged.scalar_one() == N


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_listening_worker_wakes_when_jobs_are_committed_elsewhere(db: Database, tmp_path: Path) -> None:
    import time

    system = Actor.system("tests")
    cid = clients.create_client(db.uow(), system, {"name": "Acme", "currency": "EUR", "external_ref": "acme"}).id
    clients.add_arrangement(db.uow(), system, cid, {"kind": "time_and_materials", "default_rate": "100.00"})
    env = {**os.environ, "BILLABLE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
           "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-m", "channels.worker", "--poll", "60", "--tick-every", "0"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        with db.engine.connect() as conn:  # ready once its LISTEN connection is there
            while not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' "
                                        "AND datname = current_database()")).scalar_one():
                assert time.monotonic() < deadline and worker.poll() is None, worker.stderr
                time.sleep(0.2)
                conn.rollback()
        events.receive_events(db.uow(), events.source_actor("billable"), "billable", [Incoming(
            "te-1", "time.logged", {"entry_ref": "te-1", "client_ref": "acme", "person": "kim", "role": "dev",
                                    "date": "2026-03-10", "hours": "1"})])
        t0 = time.monotonic()
        while events.list_events(db.uow(), system, status="processed") == []:
            assert time.monotonic() - t0 < 10, "not woken: a 60 s poll would have been the only way"
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.communicate(timeout=10)
