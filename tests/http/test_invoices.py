"""Invoices over HTTP: drafting, the lifecycle, immutability once issued, filters, credit notes."""

from __future__ import annotations

from datetime import timedelta

from domain.store.session import Database
from tests.http.test_problems import assert_problem
from tests.support.api import row_counts
from tests.support.fixtures import Clients
from tests.support.scenario import arrangement, issued_invoice, log_hours, new_client, walk_client

MARCH = {"period_start": "2026-03-01", "period_end": "2026-03-31"}


def test_drafting_a_period_twice_returns_the_open_draft(db: Database, as_user: Clients) -> None:
    api = as_user.owner
    acme = walk_client(api)
    first = api.post("/v1/invoices/draft", json={"client_id": acme.id, **MARCH})
    second = api.post("/v1/invoices/draft", json={"client_id": acme.id, **MARCH})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert row_counts(db)["invoices"] == 1


def test_nothing_to_bill_is_a_refusal_that_leaves_no_draft(db: Database, as_user: Clients) -> None:
    client = new_client(as_user.owner)
    r = as_user.owner.post("/v1/invoices/draft", json={"client_id": client["id"], **MARCH})
    assert_problem(r, 422, "invoice.nothing_to_bill", "period_start")
    assert row_counts(db)["invoices"] == 0


def test_an_issued_invoice_cannot_be_changed(db: Database, as_user: Clients) -> None:
    api = as_user.owner
    acme = walk_client(api)
    log_hours(api, acme.id, [("2026-03-02", "12")])
    inv = issued_invoice(api, as_user.finance, acme.id)
    before = row_counts(db)
    r = api.post(f"/v1/invoices/{inv['id']}/lines", json={"description": "one more thing", "quantity": "1",
                                                          "unit_price": "100.00"})
    body = assert_problem(r, 409, "invoice.bad_transition", "status")
    assert "credit note" in body["detail"]
    assert_problem(api.post(f"/v1/invoices/{inv['id']}/discard"), 409, "invoice.bad_transition")
    assert_problem(api.post(f"/v1/invoices/{inv['id']}/issue"), 409, "invoice.bad_transition")
    assert_problem(as_user.finance.post(f"/v1/invoices/{inv['id']}/approve"), 409, "invoice.bad_transition")
    assert row_counts(db) == before
    assert api.ok("GET", f"/v1/invoices/{inv['id']}")["lines"] == inv["lines"]


def test_manual_lines_on_a_draft_need_an_approver(as_user: Clients) -> None:
    api = as_user.owner
    acme = walk_client(api)
    log_hours(api, acme.id, [("2026-03-02", "2")])
    inv = issued_invoice(api, as_user.finance, acme.id)  # the first is flagged anyway: get it out of the way
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": acme.id, "period_start": "2026-04-01",
                                                             "period_end": "2026-04-30"})
    with_line = api.ok("POST", f"/v1/invoices/{draft['id']}/lines", 201,
                       json={"description": "Travel", "quantity": "2", "unit_price": "80.00"})
    manual = [ln for ln in with_line["lines"] if ln["manual"]]
    assert [(ln["description"], ln["quantity"], ln["amount"]) for ln in manual] == [("Travel", "2", "160.00")]
    flagged = api.ok("POST", f"/v1/invoices/{draft['id']}/issue")
    assert flagged["status"] == "pending_approval"
    assert {c["code"] for c in flagged["checks"] if c["outcome"] == "flag"} >= {"manual_lines"}
    rejected = as_user.finance.ok("POST", f"/v1/invoices/{draft['id']}/reject", json={"reason": "no travel"})
    assert rejected["status"] == "draft" and rejected["reason"] == "no travel"
    assert inv["number"] == "INV-2026-000001"


def test_void_credit_and_write_off(as_user: Clients) -> None:
    api, finance = as_user.owner, as_user.finance
    a, b, c = (walk_client(api, name) for name in ("A", "B", "C"))
    for client in (a, b, c):
        log_hours(api, client.id, [("2026-03-02", "12")])
    inv_a, inv_b, inv_c = (issued_invoice(api, finance, client.id) for client in (a, b, c))

    voided = finance.ok("POST", f"/v1/invoices/{inv_a['id']}/void", json={"reason": "wrong client"})
    assert voided["status"] == "void" and voided["number"] == inv_a["number"]

    note = finance.ok("POST", f"/v1/invoices/{inv_b['id']}/credit-notes", 201,
                      json={"reason": "goodwill", "amount": "119.00"})
    assert note["kind"] == "credit_note" and note["number"] == "CN-2026-000001" and note["total"] == "119.00"
    assert note["corrects_invoice_id"] == inv_b["id"]
    credited = finance.ok("GET", f"/v1/invoices/{inv_b['id']}")
    assert credited["credited"] == "119.00" and [n["id"] for n in credited["credit_notes"]] == [note["id"]]

    written_off = finance.ok("POST", f"/v1/invoices/{inv_c['id']}/mark-uncollectible", json={"reason": "insolvent"})
    assert written_off["status"] == "uncollectible"
    assert_problem(as_user.account_manager.post(f"/v1/invoices/{inv_c['id']}/void", json={"reason": "x"}), 403,
                   "auth.forbidden")


def test_list_filters(db: Database, as_user: Clients) -> None:
    api = as_user.owner
    acme, initech = walk_client(api, "Acme"), walk_client(api, "Initech")
    for client in (acme, initech):
        log_hours(api, client.id, [("2026-03-02", "12")])
    inv = issued_invoice(api, as_user.finance, acme.id)
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": initech.id, **MARCH})

    def ids(**params: object) -> list[int]:
        return [i["id"] for i in api.ok("GET", "/v1/invoices", params=params)]

    assert ids() == [draft["id"], inv["id"]]
    assert ids(client_id=acme.id) == [inv["id"]]
    assert ids(status="draft") == [draft["id"]]
    assert ids(number="INV-2026-000001") == [inv["id"]]
    assert ids(period_start="2026-04-01") == []
    assert ids(period_start="2026-03-15", period_end="2026-03-20") == [draft["id"], inv["id"]]
    assert ids(limit=1) == [draft["id"]] and ids(limit=1, offset=1) == [inv["id"]]
    assert api.ok("GET", "/v1/invoices")[0]["lines"] == []  # lists are light; GET one for its lines
    assert_problem(api.get("/v1/invoices", params={"status": "lost"}), 422, "validation.invalid", "status")
    assert_problem(api.get("/v1/invoices", params={"limit": 0}), 422, "validation.invalid", "limit")


def test_the_overdue_filter(db: Database, as_user: Clients) -> None:
    api, finance = as_user.owner, as_user.finance
    late, paid, fresh = (walk_client(api, name) for name in ("Late", "Paid", "Fresh"))
    for client in (late, paid):
        log_hours(api, client.id, [("2026-03-02", "12")])
    inv_late = issued_invoice(api, finance, late.id)
    inv_paid = issued_invoice(api, finance, paid.id)
    finance.ok("POST", f"/v1/invoices/{inv_paid['id']}/payments", 201,
               json={"amount": inv_paid["total"], "received_on": "2026-04-02", "reference": "x"})
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": fresh.id, **MARCH})

    def overdue(flag: str) -> set[int]:
        return {i["id"] for i in api.ok("GET", "/v1/invoices", params={"overdue": flag})}

    assert overdue("true") == set()  # due in 30 days
    db.clock.set(db.clock.now() + timedelta(days=31))  # type: ignore[attr-defined]
    assert overdue("true") == {inv_late["id"]}
    assert overdue("false") == {inv_paid["id"], draft["id"]}
    shown = api.ok("GET", f"/v1/invoices/{inv_late['id']}")
    assert shown["overdue"] is True and shown["status"] == "issued"


def test_work_endpoints(as_user: Clients) -> None:
    api = as_user.owner
    client = new_client(api)
    passthrough = arrangement(api, client["id"], {"kind": "pass_through", "markup_pct": "10"})
    retainer = arrangement(api, client["id"], {"kind": "retainer", "fee": "1000.00"})
    sla = arrangement(api, client["id"], {"kind": "sla_credit", "credit_pct": "10",
                                          "retainer_arrangement_id": retainer["id"]})
    expense = api.ok("POST", "/v1/expenses", 201, json={"client_id": client["id"], "arrangement_id": passthrough["id"],
                                                        "date": "2026-03-10", "description": "Switch",
                                                        "cost": "200.00"})
    assert (expense["cost"], expense["currency"]) == ("200.00", "EUR")
    breach = api.ok("POST", "/v1/sla-breaches", 201, json={"client_id": client["id"], "arrangement_id": sla["id"],
                                                            "occurred_on": "2026-03-12", "description": "P1 late"})
    assert breach["occurred_on"] == "2026-03-12"
    kinds = [a["kind"] for a in api.ok("GET", f"/v1/clients/{client['id']}/arrangements")]
    assert kinds == ["pass_through", "retainer", "sla_credit"]
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": client["id"], **MARCH})
    amounts = {ln["section"]: ln["amount"] for ln in draft["lines"]}
    assert amounts == {"retainer": "1000.00", "pass_through": "220.00", "sla_credit": "-100.00"}


def test_clients_crud(as_user: Clients) -> None:
    api = as_user.owner
    acme = new_client(api, "Acme GmbH")
    new_client(api, "Initech")
    assert [c["name"] for c in api.ok("GET", "/v1/clients")] == ["Acme GmbH", "Initech"]
    assert [c["name"] for c in api.ok("GET", "/v1/clients", params={"name": "acme"})] == ["Acme GmbH"]
    changed = api.ok("PATCH", f"/v1/clients/{acme['id']}", json={"payment_terms_days": 14, "po_number": "PO-1"})
    assert (changed["payment_terms_days"], changed["po_number"], changed["currency"]) == (14, "PO-1", "EUR")
    assert api.ok("GET", f"/v1/clients/{acme['id']}") == changed
    assert_problem(api.get("/v1/clients/999"), 404, "client.not_found")


def test_settings(as_user: Clients) -> None:
    settings = as_user.viewer.ok("GET", "/v1/settings")
    assert settings["invoice_number_format"] == "INV-{yyyy}-{seq:06}"
    changed = as_user.finance.ok("PATCH", "/v1/settings", json={"approval_thresholds": {"EUR": "20000.00"},
                                                                "deviation_pct": "30"})
    assert changed["approval_thresholds"] == {"EUR": "20000.00"} and changed["deviation_pct"] == "30"
    assert as_user.owner.ok("GET", "/v1/settings") == changed
    audit = as_user.owner.ok("GET", "/v1/audit", params={"subject_type": "workspace"})
    assert [e["action"] for e in audit] == ["workspace.updated"]
    assert_problem(as_user.owner.get("/v1/audit", params={"subject_type": "planet"}), 422, "validation.invalid",
                   "subject_type")


def test_issuing_without_the_legal_details_is_a_422_naming_each_field_until_they_are_filled_in(
        db: Database, as_user: Clients) -> None:
    api = as_user.owner
    client = new_client(api, "Nowhere GmbH", address={"city": "Ulm", "country": "DE"})
    arrangement(api, client["id"], {"kind": "retainer", "fee": "1000.00", "starts_on": "2026-01-01"})
    api.ok("PATCH", "/v1/settings/seller", json={"vat_id": "", "tax_number": ""})
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": client["id"], **MARCH})
    before = row_counts(db)
    body = assert_problem(api.post(f"/v1/invoices/{draft['id']}/issue"), 422, "check.blocked")
    assert body["details"]["missing"] == ["seller.vat_id", "buyer.address.street", "buyer.address.postcode"]
    assert "fill in the seller's vat_id (in workspace settings: PATCH /v1/settings/seller" in body["detail"]
    assert f"fill in the client's address.street, address.postcode (in the client: PATCH /v1/clients/{client['id']}" \
        in body["detail"]
    assert row_counts(db) == before
    api.ok("PATCH", "/v1/settings/seller", json={"vat_id": "DE147820932"})
    api.ok("PATCH", f"/v1/clients/{client['id']}", json={"address": {"street": "Münsterplatz 1",
                                                                       "postcode": "89073"}})
    inv = api.ok("POST", f"/v1/invoices/{draft['id']}/issue")
    assert inv["status"] == "pending_approval"  # the client's first invoice: flagged, no longer blocked
    assert all(c["outcome"] != "block" for c in inv["checks"])
