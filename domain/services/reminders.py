"""Dunning: reminders for unpaid invoices on the workspace's schedule of days relative to the due date (setting
`reminder_offsets`, default 3 days before, then 1, 7 and 14 days after). The tick (`schedules.tick`: `billable
tick`, and every minute in `billable serve` and `billable worker`) finds what is due, so downtime is caught up
(the latest step due is sent, not every missed one); the unique (invoice, step) key makes the same reminder
impossible to queue twice; paid, void and written-off invoices get none, and neither do invoices whose e-mail
failed for good or bounced (a person fixes the address and sends the invoice again; reminders then resume).

Each reminder is an outbox message (`invoice.reminder`) written with its audit entry in one transaction; the
e-mail channel reports back: sent, skipped (paid meanwhile), or failed for good (an SMTP 5xx or no address: the
invoice's delivery is flagged `failed` with the reason, audited, `delivery.failed` queued, and the message
is not retried). A 4xx or a refused connection is retried by the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from domain.errors import ValidationFailed
from domain.model.lifecycle import OPEN, Status
from domain.model.money import Money
from domain.model.outbox_events import DeliveryFailed, InvoiceReminder
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.services.outbox import emit
from domain.store.tables import InvoiceRow
from domain.store.uow import UnitOfWork

TOPIC = InvoiceReminder.topic
NOTIFY_TOPIC = DeliveryFailed.topic
DEFAULT_SCHEDULE: tuple[int, ...] = (-3, 1, 7, 14)
CATCH_UP_DAYS = 30  # how long after the last step a tick still sends it (downtime)
MIN_OFFSET, MAX_OFFSET, MAX_STEPS = -60, 365, 10
FLAGGED = ("failed", "bounced")  # delivery states that stop reminders until the invoice is sent again
DUNNING = Actor.system("dunning")


class ReminderView(BaseModel):
    invoice_id: int
    number: str | None
    step: int
    balance_minor: int


def check_schedule(offsets: Sequence[object], field: str = "reminder_offsets") -> tuple[int, ...]:
    """The offsets (days from the due date) as a sorted schedule, or a refusal naming the offending entry."""
    if len(offsets) > MAX_STEPS:
        raise ValidationFailed(f"at most {MAX_STEPS} reminders", field=field)
    seen: set[int] = set()
    for i, d in enumerate(offsets):
        if isinstance(d, bool) or not isinstance(d, int):
            raise ValidationFailed("must be a whole number of days", field=f"{field}[{i}]")
        if not MIN_OFFSET <= d <= MAX_OFFSET:
            raise ValidationFailed(f"must be between {MIN_OFFSET} and {MAX_OFFSET} days from the due date",
                                   field=f"{field}[{i}]")
        if d in seen:
            raise ValidationFailed(f"{d} is in the schedule twice", field=f"{field}[{i}]")
        seen.add(d)
    return tuple(sorted(seen))


def queue_reminders(uow: UnitOfWork, actor: Actor, schedule: Sequence[int] | None = None) -> list[ReminderView]:
    """Queue today's reminders (on the workspace's schedule unless one is given); what was queued."""
    require(actor, Perm.ISSUE)
    out: list[ReminderView] = []
    with uow:
        steps = tuple(sorted(set(uow.workspace.get().reminder_offsets or [] if schedule is None else schedule)))
        if not steps:
            return out  # dunning is off
        today = uow.clock.today()
        first = today - timedelta(days=steps[-1] + CATCH_UP_DAYS)
        last = today - timedelta(days=steps[0])
        candidates = [inv for inv in uow.deliveries.open_invoices_due_between(first, last)
                      if inv.due_date is not None and inv.total_minor - inv.paid_minor - inv.credited_minor > 0]
        ids = [inv.id for inv in candidates]
        taken, flagged = uow.deliveries.reminder_steps_for(ids), uow.deliveries.with_delivery_status(ids, FLAGGED)
        for inv in candidates:
            assert inv.due_date is not None
            balance = inv.total_minor - inv.paid_minor - inv.credited_minor
            due = [s for s in steps if inv.due_date + timedelta(days=s) <= today]
            if not due or inv.id in flagged:
                continue
            step = due[-1]
            if step in taken.get(inv.id, set()):
                continue
            if not uow.deliveries.claim_reminder(inv.id, step, inv.due_date + timedelta(days=step), uow.clock.now()):
                continue  # a concurrent tick took it
            emit(uow, InvoiceReminder(invoice_id=inv.id, step=step), {})
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


def step_text(step: int) -> str:
    """'3 days before the due date', '7 days after it'."""
    if step == 0:
        return "on the due date"
    return f"{abs(step)} day{'s' if abs(step) != 1 else ''} {'before' if step < 0 else 'after'} the due date"


def _amount(inv: InvoiceRow) -> str:
    return str(Money.from_minor(inv.total_minor - inv.paid_minor - inv.credited_minor, inv.currency))


def record_reminder(uow: UnitOfWork, invoice_id: int, step: int, outcome: str, note: str = "") -> None:
    """The e-mail channel's report on one reminder: `sent`, or `skipped` (paid meanwhile), audited."""
    with uow:
        row = uow.deliveries.reminder(invoice_id, step, for_update=True)
        if row is None or row.status in ("sent", "failed", "skipped"):
            return  # reported already (a retry after a crash): once is enough
        row.status, row.last_error = outcome, note[:2000]
        uow.audit.record(DUNNING, f"invoice.reminder_{outcome}", "invoice", invoice_id,
                         after={"step": step, "when": step_text(step), **({"note": note} if note else {})})
        uow.commit()


def record_reminder_failed(uow: UnitOfWork, invoice_id: int, step: int, error: str) -> None:
    """Refused for good (SMTP 5xx, no address): the invoice's delivery is flagged `failed` with the reason,
    audited, and a notification queued. The caller does not raise, so the outbox does not retry it."""
    from domain.services.documents import delivery_row  # documents -> views: kept off the tick's import path

    with uow:
        inv = uow.invoices.get(invoice_id, for_update=True)
        row = uow.deliveries.reminder(invoice_id, step, for_update=True)
        if inv is None or row is None or row.status == "failed":
            return
        reason = f"reminder ({step_text(step)}) refused: {error}"[:2000]
        row.status, row.last_error = "failed", error[:2000]
        d = delivery_row(uow, inv)
        before: dict[str, Any] = {"status": inv.status, "client_id": inv.client_id, "delivery": d.status}
        d.status, d.last_error = "failed", reason
        client = uow.clients.get(inv.client_id)
        uow.audit.record(DUNNING, "invoice.delivery_failed", "invoice", inv.id, before=before,
                         after={**before, "delivery": d.status, "reminder_step": step, "error": reason})
        emit(uow, DeliveryFailed(
            invoice_id=inv.id, number=inv.number, stage="reminder", client_name=client.name if client else None,
            amount=_amount(inv), error=reason, reminder_step=step,
            recipients=list(client.billing_emails) if client else []), {})
        uow.commit()
