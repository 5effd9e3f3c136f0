"""Dunning with a controlled clock: the right reminder on the right day (3 days before the due date, 1, 7 and 14
after), each once, e-mailed through the outbox to the local SMTP server; none after payment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from channels.email import InvoiceMailer
from domain.errors import BillingError
from domain.services import delivery, invoicing, outbox, reminders, schedules, workspace
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


def _day(world: World, day: date) -> None:
    clock = world.db.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC))


def test_the_workspace_schedule_is_validated_and_used_by_the_tick(world: World) -> None:
    owner = world.actor("owner")
    assert world.call(workspace.get_settings, owner).reminder_offsets == [-3, 1, 7, 14]
    for bad, field in (([1, 1], "reminder_offsets[1]"), ([400], "reminder_offsets[0]"),
                       (list(range(11)), "reminder_offsets")):
        before = world.snapshot()
        with pytest.raises(BillingError) as e:
            world.call(workspace.update_settings, owner, {"reminder_offsets": bad})
        assert e.value.field == field and world.snapshot() == before
    assert world.call(workspace.update_settings, owner, {"reminder_offsets": [10, -1]}).reminder_offsets == [-1, 10]
    inv = world.issued(world.retainer_client())
    assert inv.due_date is not None
    _day(world, inv.due_date - timedelta(days=3))
    assert schedules.tick(world.db.uow(), world.system).reminders == []  # -3 is not in this schedule
    _day(world, inv.due_date - timedelta(days=1))
    assert schedules.tick(world.db.uow(), world.system).reminders == [inv.id]
    assert schedules.tick(world.db.uow(), world.system).reminders == []  # never twice
    world.call(workspace.update_settings, owner, {"reminder_offsets": []})  # dunning off
    _day(world, inv.due_date + timedelta(days=10))
    assert schedules.tick(world.db.uow(), world.system).reminders == []


def test_a_refused_reminder_flags_the_invoice_is_not_retried_and_stops_dunning(world: World,
                                                                                 smtp: SmtpServer) -> None:
    inv = world.issued(world.retainer_client(fee="1000.00"))
    assert inv.due_date is not None
    mailer = InvoiceMailer(world.db, Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False,
                                              smtp_timeout=5))
    _day(world, inv.due_date - timedelta(days=3))
    assert [r.step for r in world.call(reminders.queue_reminders, world.system)] == [-3]
    smtp.handler.data_replies.append("451 4.3.0 Try again later")
    assert outbox.dispatch_outbox(world.db.uow(), mailer) == 0  # a 4xx: retried later
    _day(world, inv.due_date - timedelta(days=2))
    assert outbox.dispatch_outbox(world.db.uow(), mailer) == 1 and len(smtp.received) == 1
    assert "invoice.reminder_sent" in world.audit_actions("invoice", inv.id)

    smtp.handler.refuse["ap@client.example"] = "550 5.1.1 No such user"
    _day(world, inv.due_date + timedelta(days=1))
    assert [r.step for r in world.call(reminders.queue_reminders, world.system)] == [1]
    assert outbox.dispatch_outbox(world.db.uow(), mailer) == 1  # handled: refused for good, not retried
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "failed" and "550" in d.last_error and "1 day after" in d.last_error
    assert world.audit_actions("invoice", inv.id)[-1] == "invoice.delivery_failed"
    [note] = [m for m in world.call(outbox.list_outbox, world.system) if m.topic == reminders.NOTIFY_TOPIC]
    assert note.payload["invoice_id"] == inv.id and note.payload["client_name"] == "Retainer Ltd"
    assert note.payload["amount"] == f"{inv.total} EUR" and "550" in note.payload["error"]
    assert [m.status for m in world.call(outbox.list_outbox, world.system) if m.topic == reminders.TOPIC] == \
        ["sent", "sent"]
    _day(world, inv.due_date + timedelta(days=7))
    assert world.call(reminders.queue_reminders, world.system) == []  # flagged: a person fixes the address first
    assert len(smtp.received) == 1


def test_a_reminder_step_is_taken_once_even_by_two_runs_that_both_think_it_is_free(world: World) -> None:
    """The claim itself refuses a second taker (two ticks at once): the answer comes from RETURNING, since
    rowcount after ON CONFLICT DO NOTHING is -1 on PostgreSQL."""
    inv = world.issued(world.retainer_client())
    assert inv.due_date is not None
    with world.db.uow() as uow:
        now = uow.clock.now()
        assert uow.deliveries.claim_reminder(inv.id, 1, inv.due_date, now) is True
        assert uow.deliveries.claim_reminder(inv.id, 1, inv.due_date, now) is False
        assert uow.deliveries.claim_reminder(inv.id, 7, inv.due_date, now) is True
