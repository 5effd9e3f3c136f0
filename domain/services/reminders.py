"""Dunning: reminders for unpaid invoices on a schedule of days relative to the due date (default 3 days
before, then 1, 7 and 14 days after). A tick finds what is due, so downtime is caught up (the latest step
due is sent, not every missed one); the unique (invoice, step) key makes the same reminder impossible to queue
twice; paid, void and written-off invoices get none. Each reminder is an outbox message (`invoice.reminder`)
written with its audit entry in one transaction."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from domain.model.lifecycle import OPEN, Status
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.store.uow import UnitOfWork

TOPIC = "invoice.reminder"
DEFAULT_SCHEDULE: tuple[int, ...] = (-3, 1, 7, 14)
CATCH_UP_DAYS = 30  # how long after the last step a tick still sends it (downtime)


class ReminderView(BaseModel):
    invoice_id: int
    number: str | None
    step: int
    balance_minor: int


def queue_reminders(uow: UnitOfWork, actor: Actor, schedule: tuple[int, ...] = DEFAULT_SCHEDULE
                    ) -> list[ReminderView]:
    """Queue today's reminders; what was queued."""
    require(actor, Perm.ISSUE)
    steps = tuple(sorted(set(schedule)))
    out: list[ReminderView] = []
    with uow:
        today = uow.clock.today()
        first = today - timedelta(days=steps[-1] + CATCH_UP_DAYS)
        last = today - timedelta(days=steps[0])
        for inv in uow.deliveries.open_invoices_due_between(first, last):
            balance = inv.total_minor - inv.paid_minor - inv.credited_minor
            if balance <= 0 or inv.due_date is None:
                continue
            due = [s for s in steps if inv.due_date + timedelta(days=s) <= today]
            if not due:
                continue
            step = due[-1]
            if step in uow.deliveries.reminder_steps(inv.id):
                continue
            if not uow.deliveries.claim_reminder(inv.id, step, inv.due_date + timedelta(days=step), uow.clock.now()):
                continue  # a concurrent tick took it
            uow.outbox.put(TOPIC, {"invoice_id": inv.id, "step": step}, {}, uow.clock.now())
            uow.audit.record(actor, "invoice.reminder_queued", "invoice", inv.id,
                             after={"client_id": inv.client_id, "step": step, "status": inv.status,
                                    "due_date": inv.due_date.isoformat(), "balance_minor": balance})
            out.append(ReminderView(invoice_id=inv.id, number=inv.number, step=step, balance_minor=balance))
        uow.commit()
    return out


def reminder_still_due(uow: UnitOfWork, invoice_id: int) -> bool:
    """At send time: is money still owed? (A payment between queueing and sending stops the reminder.)"""
    with uow:
        inv = uow.invoices.get(invoice_id)
        return (inv is not None and Status(inv.status) in OPEN and Status(inv.status) != Status.UNCOLLECTIBLE
                and inv.total_minor - inv.paid_minor - inv.credited_minor > 0)
