"""The other canonical events at the service level (SQLite and PostgreSQL): expenses, payments, SLA breaches,
subscription renewals, and the HTTP retry of a dead-lettered event."""

from __future__ import annotations

from datetime import date

from domain.services import invoicing, workspace
from domain.store.tables import ExpenseRow, ParkedPaymentRow, SlaBreachRow
from tests.events.conftest import Events

RULES = """
rules:
  - {id: sla, on: sla.breached, action: credit_next_invoice}
  - {id: renewals, on: subscription.renewed, action: bill_now, clean_draft: hold_for_review}
"""


def test_expense_recorded_once_even_when_sent_twice_under_two_ids(ev: Events) -> None:
    cid = ev.client()
    ev.arrangement(cid, kind="pass_through", markup_pct="10")
    data = {"expense_ref": "psa:exp-9", "client_ref": "acme", "date": "2026-03-04",
            "description": "2x Dell docking station", "cost": "389.90"}
    ev.receive("expense.recorded", data, "x-1")
    ev.receive("expense.recorded", data, "x-2")
    ev.work()
    assert ev.count(ExpenseRow) == 1
    assert "already recorded" in ev.event("billable", "x-2").result["fact"]["expense"]


def test_sla_breach_becomes_a_credit_on_the_next_invoice(ev: Events) -> None:
    ev.rules(RULES)
    cid = ev.client()
    ev.arrangement(cid, kind="retainer", name="Managed services", fee="4000.00", starts_on="2026-01-01")
    ev.arrangement(cid, kind="sla_credit", credit_pct="10")
    ev.receive("sla.breached", {"client_ref": "acme", "occurred_on": "2026-03-12",
                                "description": "P1 ticket answered after 4 h"}, "b-1")
    ev.work()
    assert ev.count(SlaBreachRow) == 1
    draft = invoicing.draft_invoice(ev.db.uow(), ev.system, cid, date(2026, 3, 1), date(2026, 3, 31))
    assert [ln.amount for ln in draft.lines if ln.section == "sla_credit"] == ["-400.00"]


def test_subscription_renewal_bills_what_is_due_that_day(ev: Events) -> None:
    ev.rules(RULES)
    cid = ev.client()
    ev.arrangement(cid, kind="subscription", product="Endpoint protection", seats=25, unit_price="4.50",
                   starts_on="2026-04-01")
    ev.receive("subscription.renewed", {"client_ref": "acme", "renewed_on": "2026-04-01"}, "s-1")
    ev.work()
    [inv] = ev.invoices()
    assert inv.subtotal_minor == 25 * 450 and inv.number is None  # held for review, as the rule says
    assert ev.outbox_topics() == ["approval.requested"]  # first invoice for the client: flagged


def test_payment_received_settles_the_invoice_it_names_and_parks_an_unknown_one(ev: Events) -> None:
    workspace.update_settings(ev.db.uow(), ev.system, {"deviation_pct": "1000"})
    cid = ev.client()
    ev.arrangement(cid, kind="retainer", fee="1000.00", starts_on="2026-03-01")
    draft = invoicing.draft_invoice(ev.db.uow(), ev.system, cid, date(2026, 3, 1), date(2026, 3, 31))
    invoicing.issue_invoice(ev.db.uow(), ev.system, draft.id)
    issued = invoicing.approve_invoice(ev.db.uow(), ev.system, draft.id)
    assert issued.number is not None
    ev.receive("payment.received", {"invoice_number": issued.number, "amount": issued.total,
                                    "received_on": "2026-04-10", "reference": "SEPA 7781"}, "p-1")
    ev.receive("payment.received", {"invoice_number": "INV-1999-000001", "amount": "1.00",
                                    "received_on": "2026-04-10"}, "p-2")
    ev.receive("payment.received", {"invoice_number": "INV-1999-000001", "amount": "1.00",
                                    "received_on": "2026-04-10"}, "p-2")  # delivered twice: parked once
    ev.work()
    assert ev.event("billable", "p-1").result["fact"]["status"] == "paid"
    parked = ev.event("billable", "p-2")  # an unknown number is parked for a person, not dead-lettered
    assert parked.status == "processed" and parked.result["fact"]["parked"] == "unknown_invoice"
    assert ev.count(ParkedPaymentRow) == 1 and ev.outbox_topics().count("payment.parked") == 1
