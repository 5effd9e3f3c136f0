"""Who may do what with the inbound sync and the drift report, on SQLite and PostgreSQL: every public service
function of accounting_inbound and accounting_drift against every role. A refused call says who can and changes
nothing; the allowed ones work (owners and finance)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from domain.errors import Forbidden
from domain.model.events import AccountingChanged
from domain.model.roles import Actor
from domain.services import accounting_drift, accounting_inbound
from tests.accounting.inbound_support import Books, books
from tests.fakes.quickbooks import REALM
from tests.support.rbac import ROLES, public_services

__all__ = ["books"]



def _proposal(b: Books, name: str) -> int:
    cust = b.api.read("Customer", b.customer_id)
    out = accounting_inbound.propose_client_update(b.db.uow(), b.system, REALM, {**cust, "CompanyName": name},
                                                   None)
    return int(out["proposal_id"])


def _payment(b: Books, amount: str) -> dict[str, Any]:
    return dict(b.api.create("Payment", {"CustomerRef": {"value": b.customer_id}, "TotalAmt": Decimal(amount),
                                         "Line": []}))


Op = Callable[[Books, Actor], Any]


def matrix(b: Books) -> list[tuple[str, str, Op]]:
    """Each op stages what it acts on first (as the system), then calls the service as the actor."""
    def drift_inv(b: Books) -> int:
        inv = b.issued(_next_month(b))
        r = b.push(inv)
        b.fake.make_payment(r["Id"], "10.00")
        return inv

    return [
        ("list_proposals", "OF", lambda b, a: accounting_inbound.list_proposals(b.db.uow(), a)),
        ("accept_proposal", "OF", lambda b, a: accounting_inbound.accept_proposal(
            b.db.uow(), a, _proposal(b, f"Initech {a.role}"))),
        ("refuse_proposal", "OF", lambda b, a: accounting_inbound.refuse_proposal(
            b.db.uow(), a, _proposal(b, f"Initech refused {a.role}"), "no")),
        ("propose_client_update", "OF", lambda b, a: accounting_inbound.propose_client_update(
            b.db.uow(), a, REALM, {**b.api.read("Customer", b.customer_id), "CompanyName": f"X {a.role}"}, None)),
        ("apply_payment", "OF", lambda b, a: accounting_inbound.apply_payment(b.db.uow(), a, REALM,
                                                                              _payment(b, "5.00"), None)),
        ("apply_change", "OF", lambda b, a: accounting_inbound.apply_change(b.db.uow(), a, None, AccountingChanged(
            realm_id=REALM, entity="Payment", entity_id="1", object=_payment(b, "6.00")))),
        ("catch_up", "OF", lambda b, a: accounting_inbound.catch_up(b.db.uow(), a, REALM, b.reader())),
        ("drift_report", "OF", lambda b, a: accounting_drift.drift_report(b.db.uow(), a, b.reader())),
        ("accept_theirs", "OF", lambda b, a: accounting_drift.accept_theirs(b.db.uow(), a, drift_inv(b),
                                                                           b.reader())),
        ("repush", "OF", lambda b, a: accounting_drift.repush(b.db.uow(), a, drift_inv(b) and b.issued(
            _next_month(b)), b.reader())),
    ]


_used: dict[int, int] = {}


def _next_month(b: Books) -> tuple[Any, Any]:
    """A month of the retainer not billed yet in these books."""
    from datetime import date

    n = _used[id(b)] = _used.get(id(b), 0) + 1
    y, m = 2025 + (n - 1) // 12, (n - 1) % 12 + 1
    return date(y, m, 1), date(y, m, 28)


def test_the_matrix_names_every_public_service_function(books: Books) -> None:
    assert public_services(accounting_inbound, accounting_drift) == {name for name, _, _ in matrix(books)}


def test_every_role_against_every_inbound_service(books: Books) -> None:
    wrong: list[str] = []
    for letter, role in ROLES.items():
        actor = books.world.actor(role)
        for name, allowed, op in matrix(books):
            try:
                op(books, actor)
            except Forbidden as e:
                if letter in allowed:
                    wrong.append(f"{role} {name}: refused but should be allowed ({e.code}: {e.message})")
                elif e.code != "auth.forbidden" or "only" not in e.message:
                    wrong.append(f"{role} {name}: refused without saying who can ({e.code}: {e.message})")
            else:
                if letter not in allowed:
                    wrong.append(f"{role} {name}: allowed but should be refused")
    assert wrong == []


def test_a_refused_call_changes_nothing(books: Books) -> None:
    viewer = books.world.actor("viewer")
    prop = _proposal(books, "Initech Viewer Test")
    pay = _payment(books, "7.00")
    before = books.world.snapshot()
    for call in (lambda: accounting_inbound.accept_proposal(books.db.uow(), viewer, prop),
                 lambda: accounting_inbound.refuse_proposal(books.db.uow(), viewer, prop),
                 lambda: accounting_inbound.apply_payment(books.db.uow(), viewer, REALM, pay, None),
                 lambda: accounting_inbound.catch_up(books.db.uow(), viewer, REALM, books.reader())):
        try:
            call()
        except Forbidden:
            pass
        else:
            raise AssertionError("a viewer was allowed")
    assert books.world.snapshot() == before
