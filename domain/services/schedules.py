"""Schedules as due dates, not cron lines: a tick finds what is due and not yet billed.

Retainer and subscription periods fall due on their first day (in advance) or last day (in arrears); contracts end
on their end date. The tick turns each due date into an event (`period.due`, `contract.ended`) whose id names the
arrangement and the period, and stores it like any inbound event: the unique (source, event id) key makes a second
tick a duplicate, so after an outage one tick emits every missed period exactly once, and the next emits nothing.
Rules decide what a due date bills (`bill_period`, `close_contract`); without such a rule the tick emits nothing.
The same tick queues the dunning reminders due today (`reminders.queue_reminders`, in a transaction of its own) and,
once a day, the overdue digest for the team (`digests.queue_overdue_digest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from domain.model.events import EventType
from domain.model.roles import Actor, Perm
from domain.services import digests, reminders
from domain.services._auth import require
from domain.services._context import versions_by_arrangement
from domain.services._drafting import TermsCache, base_version, due_periods
from domain.services.events import Incoming, store_events
from domain.services.rules import CatchUpParams, RuleBook, current_book
from domain.store.uow import UnitOfWork

SOURCE = "schedule"


@dataclass
class TickReport:
    today: date
    emitted: list[str] = field(default_factory=list)  # event ids of the due dates found now
    event_ids: list[int] = field(default_factory=list)
    reminders: list[int] = field(default_factory=list)  # invoices reminded now
    overdue_digest: int | None = None  # overdue invoices in the digest queued now (the day's first tick)


def _catch_up(book: RuleBook, etype: EventType) -> int:
    days = [p.catch_up_days for r in book.doc.rules if r.enabled and etype in r.on
            for p in [r.typed_params()] if isinstance(p, CatchUpParams)]
    return max(days, default=0)


def _at(d: date) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


def due_items(uow: UnitOfWork, book: RuleBook, today: date) -> list[Incoming]:
    """The due dates not yet billed, within each rule's catch-up horizon, as events."""
    items: list[Incoming] = []
    if book.listens(EventType.PERIOD_DUE):
        horizon = today - timedelta(days=_catch_up(book, EventType.PERIOD_DUE))
        periodic = uow.schedules.active_arrangements(("retainer", "subscription"))
        claimed = set(uow.claims.claimed_periods([a.id for a in periodic]))
        versions = versions_by_arrangement(uow, [a.id for a in periodic])
        cache = TermsCache()
        for a in periodic:
            # each period by the version in force in it: an amendment that changes the cycle (monthly to
            # quarterly, advance to arrears) changes the due dates from its effective date only
            began = a.starts_on or a.created_at.date()
            for p, anchor in due_periods(a, versions.get(a.id) or [base_version(a)], cache, horizon, today):
                if p.end < began or (a.id, p.key) in claimed:
                    continue
                items.append(Incoming(f"period:{a.id}:{p.key}", EventType.PERIOD_DUE.value, {
                    "client_id": a.client_id, "arrangement_id": a.id, "period_start": p.start.isoformat(),
                    "period_end": p.end.isoformat()}, _at(anchor)))
    if book.listens(EventType.CONTRACT_ENDED):
        horizon = today - timedelta(days=_catch_up(book, EventType.CONTRACT_ENDED))
        for a in uow.schedules.ending(horizon, today - timedelta(days=1)):
            assert a.ends_on is not None
            items.append(Incoming(f"contract:{a.id}:{a.ends_on.isoformat()}", EventType.CONTRACT_ENDED.value, {
                "client_id": a.client_id, "arrangement_id": a.id, "ends_on": a.ends_on.isoformat()},
                _at(a.ends_on + timedelta(days=1))))
    return items


def tick(uow: UnitOfWork, actor: Actor) -> TickReport:
    """Find what is due and not yet billed and queue it as events (once each: a second tick finds nothing new)."""
    require(actor, Perm.DRAFT)
    with uow:
        today = uow.clock.today()
        report = TickReport(today)
        items = due_items(uow, current_book(uow), today)
        known = uow.events.existing_keys(SOURCE, [i.event_id for i in items])
        receipt = store_events(uow, actor, SOURCE, [i for i in items if i.event_id not in known])
        report.emitted, report.event_ids = receipt.accepted, receipt.ids
        uow.commit()
    report.reminders = [r.invoice_id for r in reminders.queue_reminders(uow, actor)]
    digest = digests.queue_overdue_digest(uow, actor)
    report.overdue_digest = digest["count"] if digest else None
    return report
