"""A time and materials threshold is the one in force today (issue 13): an amendment that raises it from a later
day does not hold back today's bill, and from that day the new threshold applies."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.services import contracts
from domain.store.clock import FixedClock
from tests.events.conftest import Events

RULES = "rules:\n  - {id: tm, on: time.logged, action: bill_threshold, clean_draft: hold_for_review}\n"


def _logged(ev: Events, ref: str, day: str, hours: str) -> None:
    ev.receive("time.logged", {"entry_ref": ref, "client_ref": "acme", "person": "kim", "role": "dev",
                               "date": day, "hours": hours}, ref)
    ev.work()


def test_the_threshold_in_force_today_decides(ev: Events) -> None:
    clock = ev.db.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    ev.rules(RULES)
    cid = ev.client()
    tm = ev.arrangement(cid, kind="time_and_materials", default_rate="100.00", threshold_hours="10",
                        starts_on="2026-01-01")
    # from April the client is billed only every 50 hours; the row's terms now show 50 (the newest version)
    contracts.amend_arrangement(ev.db.uow(), ev.system, cid, tm.id,
                                {"effective_on": "2026-04-01", "terms": {"threshold_hours": "50"}})
    _logged(ev, "t1", "2026-03-09", "12")
    [march] = ev.invoices()  # 12 h reach March's threshold of 10
    assert march.total_minor == 12 * 100 * 119
    clock.set(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))
    _logged(ev, "t2", "2026-04-09", "12")
    assert len(ev.invoices()) == 1  # April's threshold is 50: 12 h wait
