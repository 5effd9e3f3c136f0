"""Service-test helpers: people in every role, factories that build clients through the services, and a
snapshot of every table to prove that a refused call changed nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from domain.model.roles import Actor, Role
from domain.services import clients, invoicing, users, work
from domain.services.views import ArrangementView, ClientView, InvoiceView, TimeEntryView
from domain.store.session import Database
from domain.store.tables import metadata
from tests.support.parties import with_address

T = TypeVar("T")

MARCH = (date(2026, 3, 1), date(2026, 3, 31))
FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))
APRIL = (date(2026, 4, 1), date(2026, 4, 30))

EMAILS = {
    "owner": "olivia@owner.example", "finance": "fin@books.example", "finance2": "fiona@books.example",
    "account_manager": "amy@am.example", "account_manager2": "arno@am.example",
    "contractor": "carl@contract.example", "contractor2": "cleo@contract.example", "viewer": "vic@view.example",
}
ROLE_OF = {"owner": Role.OWNER, "finance": Role.FINANCE, "finance2": Role.FINANCE,
           "account_manager": Role.ACCOUNT_MANAGER, "account_manager2": Role.ACCOUNT_MANAGER,
           "contractor": Role.CONTRACTOR, "contractor2": Role.CONTRACTOR, "viewer": Role.VIEWER}


@dataclass
class World:
    """A database with one user per role (two finance, two account managers, two contractors) and helpers."""

    db: Database
    system: Actor
    user_ids: dict[str, int] = field(default_factory=dict)

    def actor(self, who: str) -> Actor:
        """The actor for a user as the channels build it (account managers with their current clients)."""
        return users.actor_by_email(self.db.uow(), EMAILS[who])

    def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Call a service with a fresh unit of work."""
        return fn(self.db.uow(), *args, **kw)

    # --- factories, all through the services -------------------------------------------------------------

    def client(self, name: str = "Acme GmbH", currency: str = "EUR", rate: str = "19", **kw: Any) -> ClientView:
        data: dict[str, Any] = {"name": name, "currency": currency, "billing_emails": ["ap@client.example"],
                                "tax_profile": {"mode": "standard", "rate": rate}, **kw}
        data = with_address(data)
        return self.call(clients.create_client, self.system, clients.ClientIn.model_validate(data))

    def arrangement(self, client_id: int, kind: str, **terms: Any) -> ArrangementView:
        return self.call(clients.add_arrangement, self.system, client_id, {"kind": kind, **terms})

    def log(self, client_id: int, day: date, hours: str, person: str = "alice@dev.example",
            role: str = "engineer", actor: Actor | None = None, **kw: Any) -> TimeEntryView:
        return self.call(work.log_time, actor or self.system, work.TimeEntryIn(
            client_id=client_id, person=person, role=role, date=day, hours=hours, **kw))

    def draft(self, client_id: int, window: tuple[date, date] = MARCH, actor: Actor | None = None) -> InvoiceView:
        return self.call(invoicing.draft_invoice, actor or self.system, client_id, *window)

    def retainer_client(self, fee: str = "1000.00", name: str = "Retainer Ltd", **kw: Any) -> int:
        c = self.client(name, **kw)
        self.arrangement(c.id, "retainer", fee=fee, starts_on="2025-01-01")
        return c.id

    def issued(self, client_id: int, window: tuple[date, date] = MARCH) -> InvoiceView:
        """Draft and issue (approving as finance when the checks flag it): an invoice with a number."""
        inv = self.draft(client_id, window)
        inv = self.call(invoicing.issue_invoice, self.system, inv.id)
        if inv.status == "pending_approval":
            inv = self.call(invoicing.approve_invoice, self.actor("finance"), inv.id)
        assert inv.number is not None and inv.status in ("issued", "paid"), inv.checks
        return inv

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table: equal snapshots mean the call changed nothing at all."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.db.engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = conn.execute(select(table)).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
        return out

    def audit_actions(self, subject_type: str | None = None, subject_id: object = None) -> list[str]:
        from domain.services import audit
        entries = self.call(audit.audit_history, self.system, subject_type,
                            None if subject_id is None else str(subject_id), 1000)
        return [e.action for e in entries]

    def audit_count(self) -> int:
        with self.db.uow() as uow:
            return uow.audit_log.count()


def make_world(db: Database, system: Actor) -> World:
    w = World(db, system)
    uow = db.uow()
    with uow:  # one transaction for all of them: the services nest inside it
        for who, email in EMAILS.items():
            view, _token = users.add_user(uow, system, users.UserIn(email=email, role=ROLE_OF[who], name=who))
            w.user_ids[who] = view.id
        uow.commit()
    return w


@pytest.fixture
def world(db: Database, system: Actor) -> Iterator[World]:
    yield make_world(db, system)
