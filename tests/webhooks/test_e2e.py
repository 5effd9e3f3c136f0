"""End to end through a real server and the worker, on SQLite and PostgreSQL: a HubSpot deal won becomes a client
with an onboarding invoice, a Jira epic done a milestone invoice, 22 Harvest hours a T&M draft; in pilot mode all
of it is drafted and held."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from channels.worker import Worker
from domain.services.outbox import Message
from domain.store.session import Database
from tests.support.api import Api
from tests.support.server import live_server
from tests.webhooks.conftest import Hooks, body_of, fixture

TOKEN = "pat-eu1-3f0c9a2e-6a5b-4c1d-9e8f-7a6b5c4d3e2f"

RULES = """
aliases:
  "jira:project:MIG": "hubspot:company:9876543210"
  "harvest:client:13391022": "hubspot:company:9876543210"
rules:
  - id: onboard-services
    on: deal.won
    when: {pipeline: Services}
    action: onboard_client
    clean_draft: auto_issue
    params:
      currency: EUR
      payment_terms_days: 14
      tax_profile: {mode: standard, region: DE, rate: "19"}
      contract:
        - {kind: milestone, name: Onboarding, milestones: [{name: Onboarding, amount: "2500.00"}]}
        - {kind: milestone, name: Migration to Entra ID, milestones: [{name: Go-live, amount: "8000.00"}]}
        - {kind: time_and_materials, name: Project work, default_rate: "150.00"}
      complete_milestones: [Onboarding]
  - id: milestones
    on: milestone.completed
    action: bill_milestone
    clean_draft: auto_issue
  - id: tm-threshold
    on: [time.logged, time.updated]
    action: bill_threshold
    params: {hours: "20", amount: "3000.00"}
    clean_draft: hold_for_review
"""


@pytest.fixture
def hubspot_api() -> Iterator[str]:
    """HubSpot's CRM API, as far as the webhook adapter reads it, serving tests/fixtures/webhooks/hubspot_crm.json."""
    crm = fixture("hubspot_crm.json")

    def handler(kind: str) -> Any:
        async def get(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"status": "error", "category": "INVALID_AUTHENTICATION"}, status_code=401)
            item = crm[kind].get(request.path_params["id"])
            if item is None:
                return JSONResponse({"status": "error", "category": "OBJECT_NOT_FOUND"}, status_code=404)
            return JSONResponse(item)
        return get

    app = Starlette(routes=[Route("/crm/v3/objects/deals/{id}", handler("deals")),
                            Route("/crm/v3/objects/companies/{id}", handler("companies")),
                            Route("/crm/v3/objects/contacts/{id}", handler("contacts")),
                            Route("/crm/v3/pipelines/deals/{id}", handler("pipelines"))])
    with live_server(app) as url:
        yield url


class Run:
    def __init__(self, db: Database) -> None:
        self.sent: list[Message] = []
        self.worker = Worker(db, self.sent.append, name="e2e", tick_every=0)

    def __call__(self) -> int:
        return self.worker.run_until_idle()


@pytest.fixture
def e2e(hooks: Hooks, hubspot_api: str, as_user: Any, db: Database) -> Iterator[tuple[Hooks, Any, Run]]:
    settings = hooks.app.state.settings
    hooks.app.state.settings = settings.model_copy(update={"hubspot_token": SecretStr(TOKEN),
                                                                    "hubspot_api_url": hubspot_api})
    r = as_user.owner.http.put("/v1/rules", content=RULES, headers={"content-type": "application/yaml"})
    assert r.status_code == 200, r.text
    try:
        yield hooks, as_user, Run(db)
    finally:
        hooks.app.state.settings = settings


def _invoices(api: Api) -> list[dict[str, Any]]:
    return sorted(api.ok("GET", "/v1/invoices"), key=lambda i: i["id"])


def _harvest(hooks: Hooks, n: int, hours: float, day: str) -> None:
    entry = copy.deepcopy(fixture("harvest_time_entry.json"))
    entry["data"].update({"id": 2418773900 + n, "hours": hours, "spent_date": day})
    assert hooks.standard(body_of(entry), msg_id=f"harvest-{n}", source="harvest").status_code == 202


def test_deal_won_then_epic_done_then_22_harvest_hours(e2e: tuple[Hooks, Any, Run]) -> None:
    hooks, as_user, work = e2e
    owner, finance = as_user.owner, as_user.finance
    assert owner.ok("PATCH", "/v1/settings", json={"deviation_pct": "1000"})["deviation_pct"] == "1000"

    # HubSpot: the deal moves to "Closed won" in the Services pipeline
    r = hooks.hubspot(body_of(fixture("hubspot_deal_closedwon.json")))
    assert r.status_code == 202 and r.json()["accepted"] == ["1917293845"], r.text
    work()
    [client] = owner.ok("GET", "/v1/clients")
    assert (client["name"], client["billing_emails"]) == ("Nordlicht AG", ["ap@nordlicht.example"])
    [onboarding] = _invoices(owner)
    # HubSpot sends no postal address, and an invoice must name the buyer's: the rule's auto_issue leaves the
    # draft blocked, saying what to fill in and where; filled in, the client's first invoice waits for an approver
    assert onboarding["status"] == "draft" and [m.topic for m in work.sent] == ["invoice.blocked"]
    [block] = [c for c in onboarding["checks"] if c["outcome"] == "block"]
    assert "fill in the client's address.street" in block["reason"]
    owner.ok("PATCH", f"/v1/clients/{client['id']}", json={"address": {
        "street": "Speicherstadt 5", "postcode": "20457", "city": "Hamburg", "country": "DE"}})
    assert owner.ok("POST", f"/v1/invoices/{onboarding['id']}/issue")["status"] == "pending_approval"
    issued = finance.ok("POST", f"/v1/invoices/{onboarding['id']}/approve", json={"note": "signed contract"})
    assert issued["status"] == "issued" and issued["number"].startswith("INV-") and issued["total"] == "2975.00"

    # Jira: the migration epic is done -> its milestone is billed and, clean, issued at once
    assert hooks.jira(body_of(fixture("jira_epic_done.json"))).status_code == 202
    work()
    milestone = _invoices(owner)[-1]
    assert milestone["status"] == "issued" and milestone["total"] == "9520.00"
    assert milestone["number"].endswith("2") and work.sent[-1].topic == "invoice.issued"

    # Harvest: 8 + 8 hours stay below the 20-hour threshold, 6 more reach it: one T&M draft for 22 hours
    for n, (hours, day) in enumerate([(8.0, "2026-03-09"), (8.0, "2026-03-10"), (6.0, "2026-03-11")]):
        _harvest(hooks, n, hours, day)
        work()
        assert len(_invoices(owner)) == (3 if n == 2 else 2)
    tm = owner.ok("GET", f"/v1/invoices/{_invoices(owner)[-1]['id']}")
    assert tm["status"] in ("draft", "pending_approval") and tm["number"] is None  # the rule holds it for review
    assert sum(float(ln["quantity"]) for ln in tm["lines"]) == 22 and tm["subtotal"] == "3300.00"

    # the event log tells why each invoice exists
    processed = owner.ok("GET", "/v1/events", params={"status": "processed"})
    assert {e["type"] for e in processed} == {"deal.won", "milestone.completed", "time.logged"}
    assert owner.ok("GET", "/v1/events", params={"status": "failed"}) == []


def test_pilot_mode_drafts_and_holds_everything(e2e: tuple[Hooks, Any, Run]) -> None:
    hooks, as_user, work = e2e
    owner = as_user.owner
    owner.ok("PATCH", "/v1/settings", json={"pilot_mode": True, "deviation_pct": "1000"})
    assert hooks.hubspot(body_of(fixture("hubspot_deal_closedwon.json"))).status_code == 202
    work()
    assert hooks.jira(body_of(fixture("jira_epic_done.json"))).status_code == 202
    for n, (hours, day) in enumerate([(12.0, "2026-03-09"), (10.0, "2026-03-10")]):
        _harvest(hooks, n, hours, day)
    work()
    invoices = _invoices(owner)
    assert len(invoices) == 3
    assert all(i["number"] is None and i["status"] in ("draft", "pending_approval") for i in invoices)
    assert work.sent == []  # nothing sent in pilot mode


def test_rules_are_refused_with_rule_line_and_field(e2e: tuple[Hooks, Any, Run]) -> None:
    _, as_user, _ = e2e
    bad = RULES.replace('params: {hours: "20", amount: "3000.00"}', 'params: {hours: "lots"}')
    r = as_user.owner.http.put("/v1/rules", content=bad, headers={"content-type": "application/yaml"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    err = r.json()["details"]["errors"][0]
    line = 1 + next(i for i, text in enumerate(bad.splitlines()) if "lots" in text)
    assert (err["rule"], err["line"], err["field"]) == ("#3 (tm-threshold)", line, "params.hours")
    assert as_user.viewer.http.put("/v1/rules", content=RULES).status_code == 403
    assert as_user.owner.ok("GET", "/v1/rules")["rules"][2]["id"] == "tm-threshold"


def test_a_dead_event_is_listed_and_retried_through_the_api(e2e: tuple[Hooks, Any, Run]) -> None:
    hooks, as_user, work = e2e
    owner = as_user.owner
    # a payment of nothing is no payment: refused (an unknown invoice number would be parked, not dead)
    payment = {"type": "payment.received", "data": {"invoice_number": "INV-1999-000001", "amount": "0.00",
                                                    "received_on": "2026-04-02"}}
    assert hooks.standard(body_of(payment), msg_id="msg_pay").status_code == 202
    work()
    [dead] = owner.ok("GET", "/v1/events", params={"status": "failed"})
    assert dead["status"] == "dead" and "more than zero" in dead["reason"] and dead["attempts"] == 1
    assert work.sent[-1].topic == "event.dead"
    again = owner.ok("POST", f"/v1/events/{dead['id']}/retry")
    assert (again["status"], again["attempts"]) == ("received", 0)
    assert owner.ok("GET", f"/v1/events/{dead['id']}")["status"] == "received"
    assert as_user.viewer.get("/v1/events").status_code == 403
    assert owner.post("/v1/events/999999/retry").status_code == 404
