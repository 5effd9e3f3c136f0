"""The walk, end to end through a real uvicorn server, on SQLite and PostgreSQL.

A client with a 5,000 EUR/month retainer including 10 hours, T&M at 150/h and an 8,000 milestone; 25 hours
logged in March; the milestone completed; March drafted -> retainer, time and milestone lines with their
sources, 15 h billed as overage; issue -> flagged (first invoice) -> approved by finance (not the drafter)
-> INV-2026-000001; pay 6,000 -> partially paid; pay the rest -> paid; the audit log tells the story in order
and the chain verifies. The clock is the `db` fixture's FixedClock: 2026-04-01 09:00 UTC.
"""

from __future__ import annotations

from decimal import Decimal

from domain.store.session import Database
from tests.support.fixtures import EMAILS, Clients
from tests.support.scenario import walk_client


def test_the_walk(db: Database, as_user: Clients) -> None:
    owner, finance, manager, contractor = as_user.owner, as_user.finance, as_user.account_manager, as_user.contractor
    am_id = manager.ok("GET", "/v1/me")["user_id"]
    assert db.clock.today().isoformat() == "2026-04-01"

    # The owner sets up the client and its three arrangements; the account manager looks after it.
    acme = walk_client(owner, account_manager_ids=[am_id])
    assert acme.client["currency"] == "EUR" and acme.client["account_manager_ids"] == [am_id]
    assert acme.retainer["terms"]["fee"] == "5000.00"
    milestone = acme.milestones["milestones"][0]
    assert milestone["amount"] == "8000.00" and milestone["completed_on"] is None

    # The contractor logs 25 hours in March, every POST with an Idempotency-Key as a careful client would.
    entries = []
    for day in ("2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30"):
        entries.append(contractor.ok("POST", "/v1/time-entries", 201, headers={"Idempotency-Key": f"t-{day}"},
                                     json={"client_id": acme.id, "person": EMAILS["contractor"],
                                           "role": "developer", "date": day, "hours": "5",
                                           "description": "migration work"}))
    # A retry of the last one (say the network dropped the answer) replays it: still 25 hours, not 30.
    retry = contractor.post("/v1/time-entries", key="t-2026-03-30",
                            json={"client_id": acme.id, "person": EMAILS["contractor"], "role": "developer",
                                  "date": "2026-03-30", "hours": "5", "description": "migration work"})
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == entries[-1]
    logged = owner.ok("GET", "/v1/time-entries", params={"client_id": acme.id})
    assert sum(Decimal(e["hours"]) for e in logged) == 25

    # The milestone is done; the account manager drafts March.
    done = manager.ok("POST", f"/v1/milestones/{acme.milestone_id}/complete", 200, key="ms-1",
                      json={"completed_on": "2026-03-20"})
    assert done["completed_on"] == "2026-03-20"
    draft = manager.ok("POST", "/v1/invoices/draft", 201, json={"client_id": acme.id, "period_start": "2026-03-01",
                                                                 "period_end": "2026-03-31"})
    inv_id = draft["id"]
    assert draft["status"] == "draft" and draft["number"] is None

    by_section: dict[str, list[dict]] = {}
    for line in draft["lines"]:
        by_section.setdefault(line["section"], []).append(line)
    assert set(by_section) == {"retainer", "time", "milestone"}
    (retainer,) = by_section["retainer"]
    assert retainer["amount"] == "5000.00"
    assert retainer["source"] == {"arrangement_id": acme.retainer["id"], "period": "2026-03-01..2026-03-31",
                                  "terms_version": 1, "terms_version_id": retainer["source"]["terms_version_id"],
                                  "text": retainer["source"]["text"]}  # its wording as data (issue 12)
    assert retainer["source"]["text"]["key"] == "retainer"
    (ms_line,) = by_section["milestone"]
    assert ms_line["amount"] == "8000.00" and ms_line["source"]["milestone_id"] == acme.milestone_id
    included = [ln for ln in by_section["time"] if ln["amount"] == "0.00"]
    overage = [ln for ln in by_section["time"] if ln["amount"] != "0.00"]
    assert [Decimal(ln["quantity"]) for ln in included] == [10]
    assert [(Decimal(ln["quantity"]), ln["unit_price"], ln["amount"]) for ln in overage] == \
        [(15, "150.00", "2250.00")]
    billed_ids = {i for ln in by_section["time"] for i in ln["source"]["time_entry_ids"]}
    assert billed_ids == {e["id"] for e in entries}
    assert all(ln["source"]["arrangement_id"] == acme.tm["id"] for ln in by_section["time"])
    assert (draft["subtotal"], draft["tax_total"], draft["total"]) == ("15250.00", "2897.50", "18147.50")
    assert draft["tax_by_rate"] == [{"rate": "19", "taxable": "15250.00", "tax": "2897.50"}]

    # Drafting March again returns the same open draft (200), never a second invoice.
    again = manager.post("/v1/invoices/draft", json={"client_id": acme.id, "period_start": "2026-03-01",
                                                      "period_end": "2026-03-31"})
    assert again.status_code == 200 and again.json()["id"] == inv_id

    # Issue: the first invoice for a client is flagged for approval, not issued.
    flagged = owner.ok("POST", f"/v1/invoices/{inv_id}/issue", 200, key=True)
    assert flagged["status"] == "pending_approval" and flagged["number"] is None
    assert {c["code"]: c["outcome"] for c in flagged["checks"]}["first_invoice"] == "flag"

    # Account managers cannot approve at all; finance (who did not draft it) approves, which issues it.
    refused = manager.post(f"/v1/invoices/{inv_id}/approve", json={"note": "mine"}, key=True)
    assert refused.status_code == 403 and refused.json()["code"] == "auth.forbidden"
    issued = finance.ok("POST", f"/v1/invoices/{inv_id}/approve", 200, key=True, json={"note": "first invoice, ok"})
    assert issued["status"] == "issued" and issued["number"] == "INV-2026-000001"
    assert issued["issue_date"] == "2026-04-01" and issued["due_date"] == "2026-05-01"
    assert issued["balance"] == "18147.50"

    # Issued is immutable: no more lines.
    frozen = owner.post(f"/v1/invoices/{inv_id}/lines", key=True,
                        json={"description": "extra", "quantity": "1", "unit_price": "10.00"})
    assert frozen.status_code == 409 and frozen.json()["code"] == "invoice.bad_transition"

    # Payments: 6,000 -> partially paid (and a retried POST does not pay twice); the rest -> paid.
    first = finance.ok("POST", f"/v1/invoices/{inv_id}/payments", 201, key="pay-1",
                       json={"amount": "6000.00", "received_on": "2026-04-10", "reference": "SEPA 1"})
    assert first["status"] == "partially_paid" and first["balance"] == "12147.50"
    replay = finance.post(f"/v1/invoices/{inv_id}/payments", key="pay-1",
                          json={"amount": "6000.00", "received_on": "2026-04-10", "reference": "SEPA 1"})
    assert replay.status_code == 201 and replay.json() == first
    paid = finance.ok("POST", f"/v1/invoices/{inv_id}/payments", 201, key="pay-2",
                      json={"amount": "12147.50", "received_on": "2026-04-20", "reference": "SEPA 2"})
    assert paid["status"] == "paid" and paid["balance"] == "0.00" and paid["paid"] == "18147.50"
    shown = owner.ok("GET", f"/v1/invoices/{inv_id}")
    assert [p["amount"] for p in shown["payments"]] == ["6000.00", "12147.50"]
    assert shown["overdue"] is False

    # The audit log tells the story, in order, with who did each step; the chain verifies.
    story = owner.ok("GET", "/v1/audit", params={"subject_type": "invoice", "subject_id": inv_id})
    assert [(e["action"], e["actor"]) for e in story] == [
        ("invoice.drafted", EMAILS["account_manager"]),
        ("invoice.flagged", EMAILS["owner"]),
        ("invoice.approved", EMAILS["finance"]),
        ("invoice.issued", EMAILS["finance"]),
        ("invoice.payment_recorded", EMAILS["finance"]),
        ("invoice.payment_recorded", EMAILS["finance"]),
    ]
    assert [e["seq"] for e in story] == sorted(e["seq"] for e in story)
    assert story[-1]["after"]["status"] == "paid"
    report = owner.ok("GET", "/v1/audit/verify")
    assert report["ok"] is True and report["first_broken_seq"] is None and report["entries"] > len(story)
