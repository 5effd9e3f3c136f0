"""Amend, end, list versions, propose and decide, archive: over real HTTP, on both databases (issue 13)."""

from __future__ import annotations

from typing import Any

from domain.store.session import Database
from tests.support.api import row_counts
from tests.support.fixtures import Clients
from tests.support.scenario import arrangement, issued_invoice, new_client


def _nordwerk(as_user: Clients, **extra: Any) -> tuple[int, int]:
    client = new_client(as_user.owner, "Nordwerk GmbH", **extra)
    sub = arrangement(as_user.owner, client["id"], {"kind": "subscription", "product": "Managed EDR", "seats": 48,
                                                    "unit_price": "7.50", "starts_on": "2026-01-01"})
    return client["id"], sub["id"]


def test_an_amendment_answers_with_what_the_next_invoice_will_contain(db: Database, as_user: Clients) -> None:
    cid, aid = _nordwerk(as_user)
    issued_invoice(as_user.owner, as_user.finance, cid)
    base = f"/v1/clients/{cid}/arrangements/{aid}"
    out = as_user.finance.ok("POST", f"{base}/amendments", 201, json={
        "effective_on": "2026-03-10", "terms": {"seats": 52}, "reason": "4 more laptops"})
    assert out["version"]["number"] == 2 and out["version"]["changes"] == {"seats": [48, 52]}
    assert [(a["amount"], a["disposition"]) for a in out["preview"]["adjustments"]] == [("21.29", "next_invoice")]
    assert [ln["amount"] for ln in out["preview"]["next_lines"]] == ["390.00"]
    versions = as_user.viewer.ok("GET", f"{base}/versions")
    assert [v["number"] for v in versions["versions"]] == [1, 2]
    assert versions["adjustments"][0]["amount"] == "21.29"
    april = as_user.owner.ok("POST", "/v1/invoices/draft", 201, json={
        "client_id": cid, "period_start": "2026-04-01", "period_end": "2026-04-30"})
    assert [ln["amount"] for ln in april["lines"]] == ["390.00", "21.29"]


def test_bad_amendments_and_ends_are_422_naming_the_field_and_change_nothing(db: Database,
                                                                            as_user: Clients) -> None:
    cid, aid = _nordwerk(as_user)
    base = f"/v1/clients/{cid}/arrangements/{aid}"
    as_user.finance.ok("POST", f"{base}/amendments", 201, json={"effective_on": "2026-03-10", "terms": {"seats": 50}})
    cases = [
        ("amendments", {"effective_on": "2026-03-10", "terms": {"seats": 53}}, "effective_on", "amendment.overlap"),
        ("amendments", {"effective_on": "2025-12-01", "terms": {"seats": 53}}, "effective_on",
         "amendment.before_start"),
        ("amendments", {"effective_on": "2026-03-12", "terms": {"seats": 0}}, "terms.seats", "validation.invalid"),
        ("amendments", {"effective_on": "2026-03-12", "terms": {"colour": "red"}}, "terms.colour",
         "amendment.unknown_field"),
        ("amendments", {"effective_on": "2026-03-12", "terms": {"seats": 9}, "when": "now"}, "when",
         "validation.invalid"),
        ("amendments", {"effective_on": "someday", "terms": {"seats": 9}}, "effective_on", "validation.invalid"),
        ("end", {"ends_on": "2025-12-31"}, "ends_on", "arrangement.end_before_start"),
    ]
    problems = []
    for action, body, field, code in cases:
        before = row_counts(db)
        r = as_user.finance.post(f"{base}/{action}", json=body)
        got = (r.status_code, r.json().get("field"), r.json().get("code"))
        if got != (422, field, code):
            problems.append(f"{body}: expected {(422, field, code)}, got {got} {r.text}")
        if row_counts(db) != before:
            problems.append(f"{body}: the database changed")
    assert problems == []


def test_an_account_managers_amendment_waits_for_finance_and_others_are_refused(db: Database,
                                                                                as_user: Clients) -> None:
    am_id = as_user.account_manager.ok("GET", "/v1/me")["user_id"]
    cid, aid = _nordwerk(as_user, account_manager_ids=[am_id])
    base = f"/v1/clients/{cid}/arrangements/{aid}"
    body = {"effective_on": "2026-03-10", "terms": {"seats": 52}}
    for who in ("viewer", "contractor"):
        r = getattr(as_user, who).post(f"{base}/amendments", json=body)
        assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")
    assert as_user.account_manager.post(f"{base}/end", json={"ends_on": "2026-03-31"}).status_code == 403
    proposed = as_user.account_manager.ok("POST", f"{base}/amendments", 201, json=body)
    assert proposed["version"]["status"] == "proposed"
    assert [p["id"] for p in as_user.finance.ok("GET", "/v1/amendments")] == [proposed["version"]["id"]]
    done = as_user.finance.ok("POST", f"/v1/amendments/{proposed['version']['id']}/approve", json={"note": "ok"})
    assert done["version"]["status"] == "active" and done["arrangement"]["terms"]["seats"] == 52


def test_ending_a_time_and_materials_and_archiving_a_client(db: Database, as_user: Clients) -> None:
    client = new_client(as_user.owner, "Van Dijk B.V.")
    tm = arrangement(as_user.owner, client["id"], {"kind": "time_and_materials", "default_rate": "100.00",
                                                   "starts_on": "2026-01-01"})
    base = f"/v1/clients/{client['id']}/arrangements/{tm['id']}"
    out = as_user.finance.ok("POST", f"{base}/end", json={"ends_on": "2026-03-31", "reason": "project done"})
    assert out["arrangement"]["ends_on"] == "2026-03-31" and "nothing after it" in out["preview"]["note"]
    archived = as_user.finance.ok("POST", f"/v1/clients/{client['id']}/archive", json={"reason": "left"})
    assert archived["archived_at"] is not None
    assert client["id"] not in [c["id"] for c in as_user.owner.ok("GET", "/v1/clients")]
    assert client["id"] in [c["id"] for c in as_user.owner.ok("GET", "/v1/clients?include_archived=true")]
    r = as_user.owner.post("/v1/invoices/draft", json={"client_id": client["id"], "period_start": "2026-04-01",
                                                        "period_end": "2026-04-30"})
    assert (r.status_code, r.json()["code"]) == (409, "client.archived")
    patched = as_user.owner.ok("PATCH", f"/v1/clients/{client['id']}", json={"payment_terms_days": 14})
    assert patched["payment_terms_days"] == 14
    back = as_user.owner.ok("POST", f"/v1/clients/{client['id']}/reactivate")
    assert back["archived_at"] is None
