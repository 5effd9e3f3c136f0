"""Two workers on PostgreSQL, each with an event of the same client, around one threshold crossing: one draft.

Worker A drafts the crossing and has not committed; worker B's event sees the same unbilled hours reached. Before
the per-client drafting lock, B found no open draft (A's was not committed), then read the unbilled time after A's
commit (only its own hour was left) and drafted it: a second draft of the same client and period for one crossing
(the "102 drafts for 100 crossings" of the two-worker benchmark). B's read is held here until A has committed,
which makes that interleaving certain instead of rare; with the lock B waits for A's commit and finds its draft.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from domain.services import _context, invoicing, jobs
from domain.store.session import Database
from tests.events.conftest import TM_RULES, Events

WAIT = 5.0  # seconds a thread waits for the other before going on alone (the fixed code never lets B get there)


def _time(ref: str, hours: str) -> dict[str, Any]:
    return {"entry_ref": ref, "client_ref": "acme", "person": "kim", "role": "dev", "date": "2026-03-10",
            "hours": hours}


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_two_workers_make_one_draft_for_one_crossing(ev: Events, db: Database,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ev.rules(TM_RULES)
    ev.arrangement(ev.client(), kind="time_and_materials", default_rate="100.00")
    ev.receive("time.logged", _time("te-0", "19"), "e0")
    assert ev.work() == 1 and ev.invoices() == []  # 19 hours: below 20
    ev.receive("time.logged", _time("te-1", "1"), "e1")  # A's: 20 hours, the crossing
    ev.receive("time.logged", _time("te-2", "1"), "e2")  # B's: also sees 20 while A's draft is uncommitted

    a_drafted, b_reading, a_committed = threading.Event(), threading.Event(), threading.Event()
    real_load = invoicing.load_context
    assert real_load is _context.load_context

    def load_context(*args: Any, **kw: Any) -> Any:
        if threading.current_thread().name == "B":  # B is past its look for an open draft: let A commit now
            b_reading.set()
            a_committed.wait(WAIT)
        return real_load(*args, **kw)

    monkeypatch.setattr(invoicing, "load_context", load_context)

    def step(name: str) -> None:
        if name == "after_drafting" and threading.current_thread().name == "A":
            a_drafted.set()
            b_reading.wait(WAIT)  # B reached its read (without the lock), or waits on the lock (with it)

    errors: list[BaseException] = []

    def run(limit: int) -> None:
        try:
            jobs.process_jobs(db.uow(), threading.current_thread().name, limit, step)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            if threading.current_thread().name == "A":
                a_committed.set()

    a = threading.Thread(target=run, args=(1,), name="A")  # claims e1 (the oldest job)
    a.start()
    assert a_drafted.wait(30), "A never drafted"
    b = threading.Thread(target=run, args=(1,), name="B")  # A holds e1's job: B claims e2
    b.start()
    a.join(60)
    b.join(60)
    assert not errors, errors
    assert ev.work() == 0  # both jobs done
    drafts = ev.invoices()
    assert [(d.period_start, d.status in ("draft", "pending_approval")) for d in drafts] == [
        (drafts[0].period_start, True)], f"one crossing, one draft: {[(d.id, d.status) for d in drafts]}"
    assert ev.event("billable", "e2").result["rules"][0]["invoices"] == []
