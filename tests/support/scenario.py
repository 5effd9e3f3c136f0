"""Building blocks of the billing story, through the HTTP API, shared by the HTTP and end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.api import Api
from tests.support.parties import with_address

TAX_19 = {"mode": "standard", "region": "DE", "rate": "19"}


@dataclass
class WalkClient:
    client: dict[str, Any]
    retainer: dict[str, Any]
    tm: dict[str, Any]
    milestones: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.client["id"])

    @property
    def milestone_id(self) -> int:
        return int(self.milestones["milestones"][0]["id"])


def new_client(api: Api, name: str = "Acme GmbH", currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "currency": currency, "billing_emails": ["ap@acme.example.com"], "payment_terms_days": 30,
            "tax_profile": TAX_19, "po_required": False, **extra}
    result: dict[str, Any] = api.ok("POST", "/v1/clients", 201, json=with_address(body))
    return result


def arrangement(api: Api, client_id: int, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = api.ok("POST", f"/v1/clients/{client_id}/arrangements", 201, json=body)
    return result


def walk_client(api: Api, name: str = "Acme GmbH", **extra: Any) -> WalkClient:
    """A 5,000 EUR/month retainer including 10 hours, T&M at 150/h, and an 8,000 milestone."""
    client = new_client(api, name, **extra)
    cid = client["id"]
    retainer = arrangement(api, cid, {"kind": "retainer", "name": "Managed services", "fee": "5000.00",
                                      "cycle": "monthly", "billing": "advance", "included_hours": "10",
                                      "starts_on": "2026-01-01"})
    tm = arrangement(api, cid, {"kind": "time_and_materials", "name": "Project work", "default_rate": "150.00"})
    ms = arrangement(api, cid, {"kind": "milestone", "name": "Migration",
                                "milestones": [{"name": "Go-live", "amount": "8000.00"}]})
    return WalkClient(client, retainer, tm, ms)


def log_hours(api: Api, client_id: int, days_hours: list[tuple[str, str]], person: str = "dana@example.com",
              role: str = "developer") -> list[dict[str, Any]]:
    return [api.ok("POST", "/v1/time-entries", 201, json={
        "client_id": client_id, "person": person, "role": role, "date": day, "hours": hours,
        "description": f"work on {day}"}) for day, hours in days_hours]


def issued_invoice(api: Api, approver: Api, client_id: int, start: str = "2026-03-01",
                   end: str = "2026-03-31") -> dict[str, Any]:
    """Draft, issue and (if flagged) approve by someone else: an issued, numbered invoice."""
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": client_id, "period_start": start,
                                                             "period_end": end})
    inv: dict[str, Any] = api.ok("POST", f"/v1/invoices/{draft['id']}/issue")
    if inv["status"] == "pending_approval":
        inv = approver.ok("POST", f"/v1/invoices/{draft['id']}/approve", json={"note": "ok"})
    assert inv["status"] == "issued", inv
    return inv
