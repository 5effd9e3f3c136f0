"""The overdue filter runs in SQL, before the page limit, both ways (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.services import invoicing
from domain.store.clock import FixedClock
from tests.services.conftest import APRIL, FEBRUARY, MARCH, World


def test_not_overdue_pages_are_full_even_when_the_newest_are_overdue(world: World) -> None:
    fin = world.actor("finance")
    paid = world.issued(world.retainer_client(fee="100.00", name="Paid Ltd"), FEBRUARY)
    world.call(invoicing.record_payment, fin, paid.id, paid.total, paid.issue_date)
    late = [world.issued(world.retainer_client(fee="100.00", name=f"Late {i}"), w)
            for i, w in enumerate((MARCH, APRIL))]
    clock = world.db.clock
    assert isinstance(clock, FixedClock) and late[-1].due_date is not None
    day = late[-1].due_date + timedelta(days=1)
    clock.set(datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC))
    assert [v.id for v in world.call(invoicing.list_invoices, fin, overdue=False, limit=1)] == [paid.id]
    assert [v.id for v in world.call(invoicing.list_invoices, fin, overdue=True, limit=1)] == [late[-1].id]
    assert {v.id for v in world.call(invoicing.list_invoices, fin, overdue=True)} == {v.id for v in late}
    assert all(v.overdue for v in world.call(invoicing.list_invoices, fin, overdue=True))
