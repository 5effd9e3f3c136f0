"""Parked payments (SQLite and PostgreSQL): a payment that matches no open invoice as named is parked for a
person with its reason, audited and notified; a finance person applies it (in parts) or dismisses it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from domain.errors import BillingError
from domain.model.events import PaymentReceived
from domain.services import events, invoicing, payments_parked
from domain.store.tables import OutboxRow
from tests.services.conftest import APRIL, World

PAYER = events.source_actor("billable")


def pay(w: World, number: str, amount: str, **kw: Any) -> dict[str, Any]:
    """What a `payment.received` event does, in its own transaction (as the worker's job would)."""
    data = PaymentReceived.model_validate({"invoice_number": number, "amount": amount,
                                           "received_on": "2026-04-10", **kw})
    with w.db.uow() as uow:
        out = payments_parked.receive_payment(uow, PAYER, None, data)
        uow.commit()
    return out


def notifications(w: World) -> list[dict[str, Any]]:
    with w.db.uow() as uow:
        return [dict(r.payload) for r in uow.session.execute(
            select(OutboxRow).where(OutboxRow.topic == "payment.parked").order_by(OutboxRow.id)).scalars()]


def test_payments_that_match_nothing_as_named_are_parked_with_their_reason(world: World) -> None:
    inv = world.issued(world.retainer_client(fee="1000.00", name="Harbour & Finch Ltd"))
    other = world.issued(world.retainer_client(fee="500.00", name="Van Dijk"), APRIL)
    voided = world.call(invoicing.void_invoice, world.actor("finance"), other.id, "wrong month")
    assert voided.status == "void"

    assert pay(world, "INV-1999-000001", "10.00", payer="ACME AG", reference="SEPA 1")["parked"] == "unknown_invoice"
    assert pay(world, str(inv.number), "5000.00")["parked"] == "exceeds_balance"
    assert pay(world, str(inv.number), "10.00", currency="USD")["parked"] == "currency_mismatch"
    assert pay(world, str(other.number), "10.00")["parked"] == "not_payable"
    assert world.call(invoicing.get_invoice, world.system, inv.id).paid == "0.00"  # nothing guessed

    parked = world.call(payments_parked.list_parked, world.actor("finance"))
    assert [p.reason for p in parked] == ["not_payable", "currency_mismatch", "exceeds_balance", "unknown_invoice"]
    unknown = parked[-1]
    assert (unknown.amount, unknown.currency, unknown.payer, unknown.reference, unknown.invoice_id) == \
        ("10.00", "", "ACME AG", "SEPA 1", None)
    assert (parked[2].amount, parked[2].currency, parked[2].invoice_id) == ("5000.00", "EUR", inv.id)
    assert world.audit_actions("parked_payment", unknown.id) == ["payment.parked"]
    notes = notifications(world)
    assert [n["reason"] for n in notes] == ["unknown_invoice", "exceeds_balance", "currency_mismatch", "not_payable"]
    assert notes[1]["client_name"] == "Harbour & Finch Ltd" and notes[1]["number"] == inv.number
    assert notes[1]["amount"] == "5000.00 EUR" and "balance" in notes[1]["detail"]

    # an exact match is applied, not parked
    assert pay(world, str(inv.number), inv.total)["status"] == "paid"
    assert len(world.call(payments_parked.list_parked, world.actor("finance"))) == 4


def test_a_person_applies_a_parked_payment_in_parts_to_invoices_they_choose(world: World) -> None:
    a = world.issued(world.retainer_client(fee="1000.00", name="A Ltd"))
    b = world.issued(world.retainer_client(fee="100.00", name="B Ltd"))
    total = Decimal(a.total) + Decimal(b.total)
    parked_id = pay(world, str(a.number), format(total, "f"))["parked_payment_id"]
    fin = world.actor("finance")

    for who, code in ((world.system, "parked_payment.person_only"), (world.actor("viewer"), "auth.forbidden"),
                      (world.actor("account_manager"), "auth.forbidden")):
        before = world.snapshot()
        with pytest.raises(BillingError) as e:
            world.call(payments_parked.apply_parked, who, parked_id, a.id)
        assert e.value.code == code and world.snapshot() == before
    with pytest.raises(BillingError) as e:
        world.call(payments_parked.apply_parked, fin, parked_id, a.id)  # all of it: more than a's balance
    assert e.value.code == "payment.overpayment"
    with pytest.raises(BillingError) as e:
        world.call(payments_parked.apply_parked, fin, parked_id, a.id, format(total + 1, "f"))
    assert (e.value.code, e.value.field) == ("parked_payment.exceeds", "amount")

    part = world.call(payments_parked.apply_parked, fin, parked_id, a.id, a.total)
    assert (part.status, part.remaining) == ("parked", b.total)
    done = world.call(payments_parked.apply_parked, fin, parked_id, b.id)
    assert (done.status, done.remaining, done.resolved_by_user_id) == ("applied", "0.00", world.user_ids["finance"])
    assert [x["number"] for x in done.applications] == [a.number, b.number]
    assert world.call(invoicing.get_invoice, fin, a.id).status == "paid"
    assert world.call(invoicing.get_invoice, fin, b.id).status == "paid"
    assert world.audit_actions("parked_payment", parked_id) == ["payment.parked", "payment.parked_applied",
                                                                "payment.parked_applied"]
    assert world.audit_actions("invoice", b.id)[-1] == "invoice.payment_recorded"
    with pytest.raises(BillingError) as e:
        world.call(payments_parked.dismiss_parked, fin, parked_id, "late")
    assert e.value.code == "parked_payment.resolved"
    assert world.call(payments_parked.list_parked, fin) == []
    assert [p.id for p in world.call(payments_parked.list_parked, fin, "applied")] == [parked_id]


def test_other_currencies_are_never_applied_and_dismissal_needs_a_reason(world: World) -> None:
    inv = world.issued(world.retainer_client(fee="1000.00"))
    parked_id = pay(world, str(inv.number), "10.00", currency="USD")["parked_payment_id"]
    fin = world.actor("owner")
    before = world.snapshot()
    with pytest.raises(BillingError) as e:
        world.call(payments_parked.apply_parked, fin, parked_id, inv.id)
    assert (e.value.code, e.value.field) == ("payment.currency_mismatch", "invoice_id")
    with pytest.raises(BillingError) as e:
        world.call(payments_parked.dismiss_parked, fin, parked_id, "  ")
    assert e.value.field == "reason"
    with pytest.raises(BillingError) as e:
        world.call(payments_parked.list_parked, fin, "lost")
    assert e.value.field == "status"
    assert world.snapshot() == before
    gone = world.call(payments_parked.dismiss_parked, fin, parked_id, "refunded to the payer in USD")
    assert (gone.status, gone.dismiss_reason) == ("dismissed", "refunded to the payer in USD")
    assert world.call(payments_parked.list_parked, fin) == []
    assert world.audit_actions("parked_payment", parked_id)[-1] == "payment.parked_dismissed"
    assert world.call(invoicing.get_invoice, fin, inv.id).paid == "0.00"
    assert world.call(payments_parked.get_parked, fin, parked_id).received_on == date(2026, 4, 10)
