"""The daily digest of overdue invoices, for the team's notification channel (Slack, or the notify webhook).

The first tick of each day (UTC) puts one `invoice.overdue_digest` message in the outbox when anything is overdue.
The audit log records that it went (subject `digest`, `overdue:<date>`), and the check runs under a lock on the
workspace row, so a day has one digest whatever the number of ticks, workers or processes.
"""

from __future__ import annotations

from typing import Any

from domain.model.money import Money
from domain.model.outbox_events import OverdueDigest
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.services.outbox import emit
from domain.store.uow import UnitOfWork

TOPIC = OverdueDigest.topic
LISTED = 50  # the message lists the longest overdue; counts and totals cover all of them


def queue_overdue_digest(uow: UnitOfWork, actor: Actor) -> dict[str, Any] | None:
    """Queue today's overdue digest unless it went already or nothing is overdue; the payload queued, or None."""
    require(actor, Perm.ISSUE)
    with uow:
        today = uow.clock.today()
        subject = f"overdue:{today.isoformat()}"
        uow.workspace.lock()
        if uow.audit_log.for_subject("digest", subject, limit=1):
            return None
        totals = uow.invoices.overdue_totals(today)
        if not totals:
            return None
        oldest = uow.invoices.overdue_oldest_first(today, LISTED)
        names = {c.id: c.name for c in uow.clients.get_many(sorted({i.client_id for i in oldest}))}
        payload: dict[str, Any] = {
            "date": today.isoformat(),
            "count": sum(n for n, _ in totals.values()),
            "totals": {cur: Money.from_minor(b, cur).text for cur, (_, b) in sorted(totals.items())},
            "invoices": [{
                "invoice_id": i.id, "number": i.number, "client_id": i.client_id,
                "client_name": str(i.snapshot["buyer"]["name"]) if i.snapshot else names.get(i.client_id, "?"),
                "currency": i.currency,
                "balance": Money.from_minor(i.total_minor - i.paid_minor - i.credited_minor, i.currency).text,
                "due_date": i.due_date.isoformat() if i.due_date else None,
                "days_overdue": (today - i.due_date).days if i.due_date else None} for i in oldest]}
        emit(uow, OverdueDigest.model_validate(payload), {})
        uow.audit.record(actor, "digest.overdue_queued", "digest", subject,
                         after={"count": payload["count"], "totals": payload["totals"]})
        uow.commit()
    return payload
