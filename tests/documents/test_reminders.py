"""Dunning with a controlled clock: the right reminder on the right day (3 days before the due date, 1, 7 and 14
after), each once, e-mailed through the outbox to the local SMTP server; none after payment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from channels.email import InvoiceMailer
from domain.services import invoicing, outbox, reminders
from domain.settings import Settings
from domain.store.clock import FixedClock
from tests.fakes.smtp import SmtpServer
from tests.services.conftest import World


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def test_reminders_on_schedule_once_each_and_none_after_payment(world: World, smtp: SmtpServer) -> None:
    inv = world.issued(world.retainer_client(fee="1000.00"))
    assert inv.due_date is not None
    clock = world.db.clock
    assert isinstance(clock, FixedClock)
    settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_timeout=5)
    mailer = InvoiceMailer(world.db, settings)

    def on(offset: int) -> list[int]:
        """The steps queued by a tick `offset` days from the due date (then sent)."""
        day = inv.due_date + timedelta(days=offset)  # type: ignore[operator]
        clock.set(datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC))
        steps = [r.step for r in world.call(reminders.queue_reminders, world.system)]
        outbox.dispatch_outbox(world.db.uow(), mailer)
        return steps

    assert on(-5) == [] and on(-4) == []
    assert on(-3) == [-3] and on(-3) == [] and on(-1) == []
    assert on(0) == [] and on(1) == [1] and on(2) == []
    assert on(7) == [7] and on(7) == []
    assert [m["Subject"].split(" (")[0] for m in smtp.received] == [f"Reminder: invoice {inv.number}"] * 3
    assert "was due on" in smtp.received[-1]["Subject"] and "/i/" in smtp.received[-1].get_content()

    world.call(invoicing.record_payment, world.actor("finance"), inv.id, inv.total, inv.due_date)
    assert on(14) == [] and on(20) == []
    assert len(smtp.received) == 3
    assert world.audit_actions("invoice", inv.id).count("invoice.reminder_queued") == 3


def test_downtime_sends_only_the_latest_reminder_due(world: World) -> None:
    inv = world.issued(world.retainer_client())
    clock = world.db.clock
    assert isinstance(clock, FixedClock) and inv.due_date is not None
    day = inv.due_date + timedelta(days=9)
    clock.set(datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC))
    assert [r.step for r in world.call(reminders.queue_reminders, world.system)] == [7]
    assert world.call(reminders.queue_reminders, world.system) == []
