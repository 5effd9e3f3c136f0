"""The daily overdue digest: one a day whatever the number of ticks, only when something is overdue, listing the
longest overdue first with totals per currency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.services import digests, invoicing
from domain.store.clock import FixedClock
from domain.store.tables import OutboxRow
from tests.services.conftest import World


def _digests(world: World) -> list[dict[str, object]]:
    with world.db.uow() as uow:
        rows = uow.session.query(OutboxRow).filter(OutboxRow.topic == digests.TOPIC).order_by(OutboxRow.id).all()
        return [dict(r.payload) for r in rows]


def test_one_digest_a_day_while_invoices_are_overdue(world: World) -> None:
    clock = world.db.clock
    assert isinstance(clock, FixedClock)
    assert world.call(digests.queue_overdue_digest, world.system) is None  # nothing issued, nothing overdue
    old = world.issued(world.retainer_client(fee="1000.00", name="Old Ltd"))
    assert old.due_date is not None
    day = old.due_date + timedelta(days=3)
    clock.set(datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC))
    sent = world.call(digests.queue_overdue_digest, world.system)
    assert sent is not None and sent["count"] == 1 and sent["totals"] == {"EUR": "1190.00"}
    assert sent["invoices"] == [{"invoice_id": old.id, "number": old.number, "client_id": old.client_id,
                                 "client_name": "Old Ltd", "currency": "EUR", "balance": "1190.00",
                                 "due_date": old.due_date.isoformat(), "days_overdue": 3}]
    clock.set(datetime(day.year, day.month, day.day, 18, 0, tzinfo=UTC))
    assert world.call(digests.queue_overdue_digest, world.system) is None  # the same day: already sent
    world.call(invoicing.record_payment, world.actor("finance"), old.id, "190.00", day)
    nxt = day + timedelta(days=1)
    clock.set(datetime(nxt.year, nxt.month, nxt.day, 0, 1, tzinfo=UTC))
    again = world.call(digests.queue_overdue_digest, world.system)
    assert again is not None and again["invoices"][0]["balance"] == "1000.00"  # type: ignore[index]
    world.call(invoicing.record_payment, world.actor("finance"), old.id, "1000.00", nxt)
    later = nxt + timedelta(days=1)
    clock.set(datetime(later.year, later.month, later.day, 9, 0, tzinfo=UTC))
    assert world.call(digests.queue_overdue_digest, world.system) is None  # paid: nothing to say
    assert [d["date"] for d in _digests(world)] == [day.isoformat(), nxt.isoformat()]
    assert world.audit_actions("digest") == ["digest.overdue_queued"] * 2
