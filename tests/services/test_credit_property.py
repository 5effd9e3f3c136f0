"""A property through the services (SQLite): whatever mix of payments and credit notes, a credit note credits
exactly what it says, never more than the balance, and the balance never goes below zero."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.model.roles import Actor
from domain.services import clients, invoicing, users, work
from domain.store.clock import FixedClock
from domain.store.db import make_engine
from domain.store.session import Database
from tests.conftest import START
from tests.support.parties import ADDRESSES


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[tuple[Database, Actor]]:
    """One SQLite database for every example; each example bills a client of its own."""
    path = tmp_path_factory.mktemp("credit") / "books.db"
    shutil.copy(sqlite_template, path)
    db = Database(make_engine(f"sqlite:///{path}"), FixedClock(START))
    users.add_user(db.uow(), Actor.system(), {"email": "fin@books.example", "role": "finance"})
    yield db, users.actor_by_email(db.uow(), "fin@books.example")
    db.dispose()


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("20000"), places=2, allow_nan=False,
                    allow_infinity=False)
steps = st.lists(st.tuples(st.sampled_from(["pay", "credit", "credit_all", "over"]),
                           st.integers(min_value=1, max_value=1000)), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fee=money, cost=st.one_of(st.none(), money), rate=st.sampled_from(["0", "7", "19", "21", "25.5"]),
       rounding=st.sampled_from(["per_line", "per_invoice"]), plan=steps)
def test_credit_notes_never_exceed_the_balance(books: tuple[Database, Actor], fee: Decimal, cost: Decimal | None,
                                               rate: str, rounding: str, plan: list[tuple[str, int]]) -> None:
    db, finance = books
    system = Actor.system()
    from domain.services import workspace
    workspace.update_settings(db.uow(), system, {"tax_rounding": rounding})
    c = clients.create_client(db.uow(), system, {
        "name": "Property Ltd", "currency": "EUR", "billing_emails": ["a@b.example"],
        "tax_profile": {"rate": rate, "section_rates": {"pass_through": "7"}}, "address": ADDRESSES["DE"]})
    clients.add_arrangement(db.uow(), system, c.id, {"kind": "retainer", "fee": str(fee), "starts_on": "2026-01-01"})
    if cost is not None:
        pt = clients.add_arrangement(db.uow(), system, c.id, {"kind": "pass_through", "markup_pct": "12.5"})
        work.record_expense(db.uow(), system, {"client_id": c.id, "arrangement_id": pt.id, "date": "2026-03-02",
                                               "description": "Kit", "cost": str(cost)})
    inv = invoicing.draft_invoice(db.uow(), system, c.id, date(2026, 3, 1), date(2026, 3, 31))
    inv = invoicing.issue_invoice(db.uow(), system, inv.id)
    inv = invoicing.approve_invoice(db.uow(), finance, inv.id)
    total = Decimal(inv.total)
    credited = paid = Decimal(0)
    for op, permille in plan:
        balance = Decimal(inv.balance)
        if balance == 0:
            break
        amount = max(Decimal("0.01"), (balance * permille / 1000).quantize(Decimal("0.01")))
        if op == "pay":
            inv = invoicing.record_payment(db.uow(), finance, inv.id, str(amount), date(2026, 4, 2))
            paid += amount
        elif op == "over":
            with pytest.raises(ValidationFailed) as e:
                invoicing.create_credit_note(db.uow(), finance, inv.id, "too much", str(balance + Decimal("0.01")))
            assert e.value.code == "credit.exceeds_balance"
            continue
        else:
            asked = None if op == "credit_all" else str(amount)
            note = invoicing.create_credit_note(db.uow(), finance, inv.id, "correction", asked)
            expected = balance if asked is None else amount
            assert Decimal(note.total) == expected   # exactly what was asked, never a cent more
            assert Decimal(note.subtotal) + Decimal(note.tax_total) == Decimal(note.total)
            credited += expected
            inv = invoicing.get_invoice(db.uow(), finance, inv.id)
        assert Decimal(inv.balance) == total - paid - credited >= 0
        assert Decimal(inv.credited) == credited and Decimal(inv.paid) == paid
        # a credit note lowers what is owed but is not money received: only payments make it partially paid
        assert inv.status == ("paid" if Decimal(inv.balance) == 0 else "partially_paid" if paid else "issued")
    notes = invoicing.list_invoices(db.uow(), finance, kind="credit_note", client_id=c.id)
    assert sum(Decimal(n.total) for n in notes) == credited <= total
