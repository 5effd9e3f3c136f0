"""The walk, at service level, on both databases: retainer with included hours + T&M + milestone, drafted,
flagged as a first invoice, approved by someone else, numbered, paid in two parts, told by the audit log."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import Forbidden
from domain.services import audit, clients, invoicing, work
from tests.support.parties import ADDRESSES

from .conftest import MARCH, World


def test_the_walk(world: World) -> None:
    owner, finance = world.actor("owner"), world.actor("finance")
    acme = world.call(clients.create_client, owner, clients.ClientIn(
        name="Acme GmbH", currency="EUR", billing_emails=["ap@acme.example"],
        tax_profile={"mode": "standard", "region": "DE", "rate": "19"}, payment_terms_days=30,
        address=ADDRESSES["DE"]))
    ret = world.call(clients.add_arrangement, owner, acme.id,
                     {"kind": "retainer", "name": "Managed services", "fee": "5000.00", "included_hours": "10"})
    tm = world.call(clients.add_arrangement, owner, acme.id, {"kind": "time_and_materials", "default_rate": "150.00"})
    ms = world.call(clients.add_arrangement, owner, acme.id,
                    {"kind": "milestone", "milestones": [{"name": "Go-live", "amount": "8000.00"}]})
    entries = [world.log(acme.id, date(2026, 3, d), h, person="alice@acme-it.example")
               for d, h in [(3, "8"), (10, "8"), (17, "9")]]
    world.call(work.complete_milestone, owner, ms.milestones[0].id, date(2026, 3, 20))

    draft = world.call(invoicing.draft_invoice, owner, acme.id, *MARCH)
    assert draft.status == "draft" and draft.number is None
    by_section = {}
    for ln in draft.lines:
        by_section.setdefault(ln.section, []).append(ln)
    assert set(by_section) == {"retainer", "milestone", "time"}
    (retainer,) = by_section["retainer"]
    assert (retainer.amount, retainer.source) == ("5000.00", {"arrangement_id": ret.id,
                                                             "period": "2026-03-01..2026-03-31", "terms_version": 1,
                                                             "terms_version_id": retainer.source["terms_version_id"],
                                                             "text": retainer.source["text"]})
    assert retainer.source["text"]["key"] == "retainer"  # its wording as data (issue 12)
    (milestone,) = by_section["milestone"]
    assert milestone.amount == "8000.00" and milestone.source["milestone_id"] == ms.milestones[0].id
    included, overage = by_section["time"]
    assert (included.quantity, included.amount) == ("10", "0.00")
    assert included.source["time_entry_ids"] == [entries[0].id, entries[1].id]
    assert (overage.quantity, overage.unit_price, overage.amount) == ("15", "150.00", "2250.00")
    assert sorted(overage.source["time_entry_ids"]) == [entries[1].id, entries[2].id]
    assert all(ln.source["arrangement_id"] == tm.id for ln in by_section["time"])
    assert (draft.subtotal, draft.tax_total, draft.total) == ("15250.00", "2897.50", "18147.50")
    assert draft.tax_by_rate == [{"rate": "19", "taxable": "15250.00", "tax": "2897.50"}]

    flagged = world.call(invoicing.issue_invoice, owner, draft.id)
    assert flagged.status == "pending_approval" and flagged.number is None
    flags = {c["code"] for c in flagged.checks if c["outcome"] == "flag"}
    assert flags == {"first_invoice"}

    with pytest.raises(Forbidden) as e:  # the owner drafted it: someone else approves
        world.call(invoicing.approve_invoice, owner, draft.id)
    assert e.value.code == "approval.own_request"

    issued = world.call(invoicing.approve_invoice, finance, draft.id, note="first invoice, checked")
    assert (issued.status, issued.number) == ("issued", "INV-2026-000001")
    assert (issued.issue_date, issued.due_date) == (date(2026, 4, 1), date(2026, 5, 1))
    assert issued.balance == "18147.50" and not issued.overdue

    part = world.call(invoicing.record_payment, finance, draft.id, "6000.00", date(2026, 4, 10), "SEPA 1")
    assert (part.status, part.paid, part.balance) == ("partially_paid", "6000.00", "12147.50")
    paid = world.call(invoicing.record_payment, finance, draft.id, "12147.50", date(2026, 4, 20), "SEPA 2")
    assert (paid.status, paid.balance) == ("paid", "0.00")
    assert [p.amount for p in paid.payments] == ["6000.00", "12147.50"]

    story = world.call(audit.audit_history, owner, "invoice", str(draft.id))
    assert [(e.action, e.actor) for e in story] == [
        ("invoice.drafted", "olivia@owner.example"), ("invoice.flagged", "olivia@owner.example"),
        ("invoice.approved", "fin@books.example"), ("invoice.issued", "fin@books.example"),
        ("invoice.payment_recorded", "fin@books.example"), ("invoice.payment_recorded", "fin@books.example")]
    assert story[1].after is not None and story[1].after["flags"][0]["code"] == "first_invoice"
    assert story[3].after is not None and story[3].after["number"] == "INV-2026-000001"
    assert story[-1].after is not None and story[-1].after["status"] == "paid"
    assert story[-1].before is not None and story[-1].before["status"] == "partially_paid"
    everything = world.call(audit.audit_history, owner, None, None, 1000)
    assert [e.seq for e in everything] == list(range(1, len(everything) + 1))
    report = world.call(audit.verify_chain, owner)
    assert report.ok and report.first_broken_seq is None and report.entries == len(everything)
