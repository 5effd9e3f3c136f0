"""Lifecycle rules through the services: issued is immutable, void keeps its number, payments and credit notes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from domain.errors import BadTransition, BillingError, ValidationFailed
from domain.services import invoicing

from .conftest import FEBRUARY, MARCH, World


def test_an_issued_invoice_cannot_be_changed_through_any_service(world: World) -> None:
    cid = world.retainer_client()
    inv = world.issued(cid)
    finance = world.actor("finance")
    attempts: list[tuple[str, Callable[[], Any], type[BillingError]]] = [
        ("manual line", lambda: world.call(invoicing.add_manual_line, finance, inv.id, "extra", "1", "10.00"),
         BadTransition),
        ("discard", lambda: world.call(invoicing.discard_draft, finance, inv.id), BadTransition),
        ("issue again", lambda: world.call(invoicing.issue_invoice, finance, inv.id), BadTransition),
        ("approve", lambda: world.call(invoicing.approve_invoice, finance, inv.id), BadTransition),
        ("reject", lambda: world.call(invoicing.reject_invoice, finance, inv.id, "no"), BadTransition),
        ("draft refresh", lambda: world.call(invoicing.draft_invoice, finance, cid, *MARCH), ValidationFailed),
    ]
    before = world.snapshot()
    for name, attempt, error in attempts:
        with pytest.raises(error) as e:
            attempt()
        assert e.type is error, name
        assert world.snapshot() == before, name
    view = world.call(invoicing.get_invoice, finance, inv.id)
    assert (view.status, view.number, view.total, view.lines) == (inv.status, inv.number, inv.total, inv.lines)


def test_editing_a_flagged_invoice_needs_a_reject_first(world: World) -> None:
    cid = world.retainer_client()
    inv = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    assert inv.status == "pending_approval"
    with pytest.raises(BadTransition) as e:
        world.call(invoicing.add_manual_line, world.system, inv.id, "extra", "1", "10.00")
    assert "reject" in e.value.message


def test_void_keeps_its_number_and_the_number_is_never_reused(world: World) -> None:
    a = world.issued(world.retainer_client(name="A"))
    voided = world.call(invoicing.void_invoice, world.actor("finance"), a.id, "  duplicate of a manual invoice ")
    assert (voided.status, voided.number, voided.reason) == ("void", "INV-2026-000001", "duplicate of a manual invoice")
    assert not voided.overdue
    b = world.issued(world.retainer_client(name="B"))
    assert b.number == "INV-2026-000002"
    again = world.issued(a.client_id)   # the voided work is billed again, under a new number
    assert again.number == "INV-2026-000003"
    with pytest.raises(BadTransition):
        world.call(invoicing.void_invoice, world.actor("finance"), a.id, "twice")
    with pytest.raises(ValidationFailed) as e:
        world.call(invoicing.void_invoice, world.actor("finance"), b.id, "   ")
    assert e.value.field == "reason"


def test_void_is_refused_once_money_was_paid_or_credited(world: World) -> None:
    finance = world.actor("finance")
    paid = world.issued(world.retainer_client(name="Paid"))
    world.call(invoicing.record_payment, finance, paid.id, "100.00", date(2026, 4, 2))
    credited = world.issued(world.retainer_client(name="Credited"))
    world.call(invoicing.create_credit_note, finance, credited.id, "discount", "10.00")
    for inv in (paid, credited):
        before = world.snapshot()
        with pytest.raises(BadTransition) as e:
            world.call(invoicing.void_invoice, finance, inv.id, "oops")
        assert "credit note" in e.value.message
        assert world.snapshot() == before


def test_drafts_and_pending_invoices_are_discarded_not_voided(world: World) -> None:
    inv = world.draft(world.retainer_client())
    with pytest.raises(BadTransition) as e:
        world.call(invoicing.void_invoice, world.actor("finance"), inv.id, "no")
    assert "draft" in e.value.message and "void" in e.value.message


def test_partial_then_full_payment_and_overpayment_refused(world: World) -> None:
    finance = world.actor("finance")
    inv = world.issued(world.retainer_client())   # 1,190.00
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.call(invoicing.record_payment, finance, inv.id, "1190.01", date(2026, 4, 2))
    assert (e.value.code, e.value.field) == ("payment.overpayment", "amount")
    assert world.snapshot() == before
    for bad, code in [("0", "validation.not_positive"), ("-5.00", "validation.negative"),
                      ("1.001", "validation.too_precise"), (12.5, "validation.not_a_decimal_string")]:
        with pytest.raises(ValidationFailed) as e:
            world.call(invoicing.record_payment, finance, inv.id, bad, date(2026, 4, 2))
        assert (e.value.code, e.value.field) == (code, "amount")
    assert world.snapshot() == before
    p1 = world.call(invoicing.record_payment, finance, inv.id, "190.00", date(2026, 4, 2))
    assert (p1.status, p1.balance, p1.paid) == ("partially_paid", "1000.00", "190.00")
    p2 = world.call(invoicing.record_payment, finance, inv.id, "500.00", date(2026, 4, 3))
    assert (p2.status, p2.balance) == ("partially_paid", "500.00")
    with pytest.raises(ValidationFailed) as e:
        world.call(invoicing.record_payment, finance, inv.id, "500.01", date(2026, 4, 4))
    assert e.value.code == "payment.overpayment"
    p3 = world.call(invoicing.record_payment, finance, inv.id, "500.00", date(2026, 4, 4))
    assert (p3.status, p3.balance) == ("paid", "0.00")
    with pytest.raises(BadTransition):
        world.call(invoicing.record_payment, finance, inv.id, "1.00", date(2026, 4, 5))


def test_payments_only_on_issued_invoices(world: World) -> None:
    inv = world.draft(world.retainer_client())
    with pytest.raises(BadTransition):
        world.call(invoicing.record_payment, world.actor("finance"), inv.id, "1.00", date(2026, 4, 2))


def test_overdue_is_derived_from_the_due_date_and_the_balance(world: World) -> None:
    finance = world.actor("finance")
    inv = world.issued(world.retainer_client())   # due 1 May 2026
    world.db.clock.set(datetime(2026, 5, 2, 9, 0, tzinfo=UTC))
    assert world.call(invoicing.get_invoice, finance, inv.id).overdue
    assert [i.id for i in world.call(invoicing.list_invoices, finance, overdue=True)] == [inv.id]
    world.call(invoicing.record_payment, finance, inv.id, "1190.00", date(2026, 5, 2))
    assert not world.call(invoicing.get_invoice, finance, inv.id).overdue
    assert world.call(invoicing.list_invoices, finance, overdue=True) == []


def test_uncollectible_and_money_arriving_afterwards(world: World) -> None:
    finance = world.actor("finance")
    inv = world.issued(world.retainer_client())
    world.call(invoicing.record_payment, finance, inv.id, "190.00", date(2026, 4, 2))
    w = world.call(invoicing.mark_uncollectible, finance, inv.id, "client insolvent")
    assert (w.status, w.reason, w.balance) == ("uncollectible", "client insolvent", "1000.00")
    world.db.clock.set(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    assert not world.call(invoicing.get_invoice, finance, inv.id).overdue   # written off is not chased
    part = world.call(invoicing.record_payment, finance, inv.id, "400.00", date(2026, 6, 1))
    assert part.status == "uncollectible" and part.balance == "600.00"
    rest = world.call(invoicing.record_payment, finance, inv.id, "600.00", date(2026, 6, 2))
    assert rest.status == "paid"
    with pytest.raises(BadTransition):
        world.call(invoicing.mark_uncollectible, finance, inv.id, "again")


def test_only_issued_invoices_can_be_written_off(world: World) -> None:
    finance = world.actor("finance")
    draft = world.draft(world.retainer_client(name="Draft"))
    issued = world.issued(world.retainer_client(name="Issued"))
    note = world.call(invoicing.create_credit_note, finance, issued.id, "discount", "10.00")
    for target in (draft.id, note.id):
        before = world.snapshot()
        with pytest.raises(BadTransition):
            world.call(invoicing.mark_uncollectible, finance, target, "gone")
        assert world.snapshot() == before


def test_credit_notes_have_their_own_series_and_never_exceed_the_balance(world: World) -> None:
    finance = world.actor("finance")
    inv = world.issued(world.retainer_client())   # INV-2026-000001, 1,000 + 190 tax
    world.call(invoicing.record_payment, finance, inv.id, "190.00", date(2026, 4, 2))
    note = world.call(invoicing.create_credit_note, finance, inv.id, "goodwill", "119.00")
    assert (note.kind, note.number, note.status, note.total) == ("credit_note", "CN-2026-000001", "issued", "119.00")
    assert (note.subtotal, note.tax_total, note.corrects_invoice_id) == ("100.00", "19.00", inv.id)
    assert note.lines[0].source == {"invoice_id": inv.id, "invoice_number": "INV-2026-000001",
                                    "text": {"key": "credit", "params": {"invoice": "INV-2026-000001", "rate": "19"}}}
    after = world.call(invoicing.get_invoice, finance, inv.id)
    assert (after.credited, after.balance, after.status) == ("119.00", "881.00", "partially_paid")
    assert [c.number for c in after.credit_notes] == ["CN-2026-000001"]
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.call(invoicing.create_credit_note, finance, inv.id, "too much", "881.01")
    assert (e.value.code, e.value.field) == ("credit.exceeds_balance", "amount")
    with pytest.raises(ValidationFailed) as e:
        world.call(invoicing.create_credit_note, finance, inv.id, "  ", "1.00")
    assert e.value.field == "reason"
    assert world.snapshot() == before
    with pytest.raises(BadTransition):   # a credit note is not itself credited, paid or voided
        world.call(invoicing.create_credit_note, finance, note.id, "credit the credit")
    with pytest.raises(BadTransition):
        world.call(invoicing.record_payment, finance, note.id, "1.00", date(2026, 4, 2))
    with pytest.raises(BadTransition):
        world.call(invoicing.void_invoice, finance, note.id, "no")
    rest = world.call(invoicing.create_credit_note, finance, inv.id, "settle the rest")
    assert (rest.number, rest.total) == ("CN-2026-000002", "881.00")
    settled = world.call(invoicing.get_invoice, finance, inv.id)
    assert (settled.status, settled.balance) == ("paid", "0.00")
    nxt = world.issued(world.retainer_client(name="Next"))
    assert nxt.number == "INV-2026-000002"   # the invoice series did not move for the credit notes
    assert world.call(invoicing.find_invoice, finance, "CN-2026-000002").id == rest.id


def test_credit_notes_split_tax_rates_in_proportion(world: World) -> None:
    finance = world.actor("finance")
    c = world.client("Mixed Rates", tax_profile={"mode": "standard", "rate": "19",
                                                "section_rates": {"pass_through": "7"}})
    world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01")
    pt = world.arrangement(c.id, "pass_through").id
    from domain.services import work
    world.call(work.record_expense, world.system, work.ExpenseIn(client_id=c.id, arrangement_id=pt,
                                                                  date=date(2026, 3, 2), description="Cables",
                                                                  cost="500.00"))
    inv = world.issued(c.id)
    assert inv.total == "1725.00"   # 1,190 + 535
    half = world.call(invoicing.create_credit_note, finance, inv.id, "half", "862.50")
    assert sorted((ln.tax_rate, ln.amount, ln.tax) for ln in half.lines) == [("19", "500.00", "95.00"),
                                                                              ("7", "250.00", "17.50")]
    assert half.total == "862.50"


def test_february_invoice_can_be_issued_after_march(world: World) -> None:
    cid = world.retainer_client()
    world.issued(cid, MARCH)
    feb = world.draft(cid, FEBRUARY)
    assert world.call(invoicing.issue_invoice, world.system, feb.id).status in ("issued", "pending_approval")


def test_an_invoice_of_zero_is_settled_when_issued(world: World) -> None:
    from domain.services import work
    c = world.client("Credited Month Ltd")
    ret = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01").id
    sla = world.arrangement(c.id, "sla_credit", credit_pct="100", retainer_arrangement_id=ret).id
    world.call(work.record_breach, world.system, work.BreachIn(client_id=c.id, arrangement_id=sla,
                                                                occurred_on=date(2026, 3, 3), description="down"))
    inv = world.issued(c.id)
    assert (inv.total, inv.balance, inv.number) == ("0.00", "0.00", "INV-2026-000001")
    got = world.call(invoicing.get_invoice, world.system, inv.id)
    assert got.status == "paid"   # nothing is owed: it must not sit among the open invoices forever
    assert world.call(invoicing.list_invoices, world.system, status="issued") == []


def test_a_draft_follows_the_clients_tax_profile_until_it_is_issued(world: World) -> None:
    from domain.services import clients
    cid = world.retainer_client()
    draft = world.draft(cid)
    assert draft.tax_total == "190.00" and draft.tax_note == ""
    world.call(clients.update_client, world.system, cid, {"tax_profile": {
        "mode": "reverse_charge", "tax_id": "NL819203476B01", "rate": "19"}})
    inv = world.issued(cid)
    assert (inv.tax_total, inv.total) == ("0.00", "1000.00")
    assert inv.tax_note.startswith("Reverse charge") and "NL819203476B01" in inv.tax_note
    assert [ln.tax for ln in inv.lines] == ["0.00"]
    # once issued, it is frozen: a later change of profile does not touch it
    world.call(clients.update_client, world.system, cid, {"tax_profile": {"rate": "21"}})
    assert world.call(invoicing.get_invoice, world.system, inv.id).tax_total == "0.00"


def test_a_flagged_invoice_is_approved_only_if_nothing_blocks_it_now(world: World) -> None:
    from domain.errors import CheckBlocked
    from domain.services import clients
    cid = world.retainer_client()
    inv = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    assert inv.status == "pending_approval"
    with pytest.raises(BadTransition) as e:
        world.call(invoicing.issue_invoice, world.system, inv.id)
    assert "approve or reject" in e.value.message
    world.call(clients.update_client, world.system, cid, {"po_required": True})
    before = world.snapshot()
    with pytest.raises(CheckBlocked):
        world.call(invoicing.approve_invoice, world.actor("finance"), inv.id)
    assert world.snapshot() == before
    world.call(clients.update_client, world.system, cid, {"po_number": "PO-1"})
    assert world.call(invoicing.approve_invoice, world.actor("finance"), inv.id).po_number == "PO-1"


def test_listing_filters(world: World) -> None:
    finance = world.actor("finance")
    a = world.issued(world.retainer_client(name="Listed A"))
    b = world.draft(world.retainer_client(name="Listed B"))
    world.db.clock.set(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    assert [i.id for i in world.call(invoicing.list_invoices, finance, overdue=True)] == [a.id]
    assert [i.id for i in world.call(invoicing.list_invoices, finance, overdue=False)] == [b.id]
    assert [i.id for i in world.call(invoicing.list_invoices, finance, status="draft")] == [b.id]
    assert [i.id for i in world.call(invoicing.list_invoices, finance, number="000001")] == [a.id]
    assert world.call(invoicing.list_invoices, finance, period_start=date(2026, 4, 1)) == []
    assert len(world.call(invoicing.list_invoices, finance, period_start=date(2026, 3, 15),
                          period_end=date(2026, 3, 20))) == 2
    assert all(not i.lines for i in world.call(invoicing.list_invoices, finance))
    with pytest.raises(ValidationFailed):
        world.call(invoicing.list_invoices, finance, limit=0)
    with pytest.raises(ValidationFailed) as e:
        world.call(invoicing.add_manual_line, finance, b.id, "nothing", "0", "1.00")
    assert e.value.field == "quantity"
