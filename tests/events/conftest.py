"""Helpers for the event tests: receive canonical events, drain the queue, load rules, look at the books."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.model.roles import Actor
from domain.services import clients, events, jobs, outbox, rules
from domain.services.events import Incoming, Receipt
from domain.store.session import Database
from domain.store.tables import EventRow, InvoiceRow, OutboxRow
from tests.support.parties import with_address

TM_RULES = """
aliases:
  "harvest:client:5735774": "acme"
rules:
  - id: tm-threshold
    on: [time.logged, time.updated]
    action: bill_threshold
    params: {hours: "20", amount: "3000.00"}
    clean_draft: hold_for_review
"""


class Events:
    """Receive events, run the worker, read the outcome, on the test's database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.system = Actor.system("tests")
        self.sent: list[outbox.Message] = []

    def rules(self, text: str) -> rules.RulesView:
        return rules.put_rules(self.db.uow(), self.system, text)

    def receive(self, type_: str, data: dict[str, Any], event_id: str, source: str = "billable",
                at: datetime | None = None) -> Receipt:
        return events.receive_events(self.db.uow(), events.source_actor(source), source,
                                     [Incoming(event_id, type_, data, at)])

    def work(self, step: Callable[[str], None] | None = None, worker: str = "test") -> int:
        """Run every ready job (and the outbox), as the worker loop does; how many jobs ran."""
        total = 0
        while n := jobs.process_jobs(self.db.uow(), worker, 50, step):
            total += n
        outbox.dispatch_outbox(self.db.uow(), self.sent.append)
        return total

    def event(self, source: str, event_id: str) -> EventRow:
        """The stored event (detached, loaded)."""
        with self.db.uow() as uow:
            row = uow.events.by_key(source, event_id)
            assert row is not None
            uow.session.expunge(row)
            return row

    def invoices(self) -> list[InvoiceRow]:
        """Every invoice with its lines (detached, loaded)."""
        with self.db.uow() as uow:
            rows = list(uow.session.execute(select(InvoiceRow).order_by(InvoiceRow.id)).scalars().all())
            for r in rows:
                _ = r.lines
            uow.session.expunge_all()
            return rows

    def count(self, table: Any) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def outbox_topics(self) -> list[str]:
        with self.db.uow() as uow:
            return [r.topic for r in uow.session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars()]

    def client(self, name: str = "Acme GmbH", ref: str | None = "acme", **kw: Any) -> int:
        data: dict[str, Any] = {"name": name, "currency": "EUR", "billing_emails": ["ap@acme.example"],
                                "tax_profile": {"mode": "standard", "rate": "19"}, "external_ref": ref, **kw}
        return clients.create_client(self.db.uow(), self.system, with_address(data)).id

    def arrangement(self, client_id: int, **terms: Any) -> Any:
        return clients.add_arrangement(self.db.uow(), self.system, client_id, terms)


@pytest.fixture
def ev(db: Database) -> Events:
    return Events(db)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
