"""The doors of parked payments: /v1/payments/parked over real HTTP, `billable payments parked [apply|dismiss]`,
and the agent's tools (the write ones behind the confirmation gate)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.cli.main import app as cli_app
from domain.model.roles import Role
from domain.services import invoicing
from domain.store.session import Database
from tests.services.conftest import World
from tests.services.test_payments_parked import pay
from tests.support.fixtures import Clients, api_server, as_user, people, server
from tools import BY_NAME, Channel, tools_for

__all__ = ["api_server", "as_user", "people", "server"]


def test_parked_payments_over_http(world: World, as_user: Clients) -> None:
    inv = world.issued(world.retainer_client(fee="1000.00"))
    first = pay(world, "INV-1999-000001", "25.00", payer="ACME AG")["parked_payment_id"]
    second = pay(world, "RF18 5390 0754", "12.00", currency="EUR")["parked_payment_id"]
    assert as_user.viewer.get("/v1/payments/parked").status_code == 403
    listed = as_user.finance.ok("GET", "/v1/payments/parked")
    assert [p["id"] for p in listed] == [second, first] and listed[1]["amount"] == "25.00"
    assert listed[1]["reason"] == "unknown_invoice" and listed[1]["payer"] == "ACME AG"
    r = as_user.finance.post(f"/v1/payments/parked/{first}/apply", json={"invoice_id": inv.id, "amount": "30.00"})
    assert r.status_code == 422 and r.json()["code"] == "parked_payment.exceeds" and r.json()["field"] == "amount"
    done = as_user.finance.ok("POST", f"/v1/payments/parked/{first}/apply", json={"invoice_id": inv.id})
    assert done["status"] == "applied" and done["applications"][0]["amount"] == "25.00"
    assert world.call(invoicing.get_invoice, world.system, inv.id).paid == "25.00"
    r = as_user.finance.post(f"/v1/payments/parked/{first}/dismiss", json={"reason": "again"})
    assert r.status_code == 409 and r.json()["code"] == "parked_payment.resolved"
    assert as_user.owner.post(f"/v1/payments/parked/{second}/dismiss", json={"reason": ""}).status_code == 422
    gone = as_user.owner.ok("POST", f"/v1/payments/parked/{second}/dismiss", json={"reason": "refunded"})
    assert gone["status"] == "dismissed"
    assert as_user.finance.ok("GET", "/v1/payments/parked") == []
    assert len(as_user.finance.ok("GET", "/v1/payments/parked", params={"status": "all"})) == 2
    assert as_user.finance.get("/v1/payments/parked/9999").status_code == 404


def test_parked_payments_in_the_terminal(world: World, db: Database, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    inv = world.issued(world.retainer_client(fee="1000.00"))
    first = pay(world, "INV-1999-000001", "25.00", payer="ACME AG", reference="SEPA 77")["parked_payment_id"]
    second = pay(world, str(inv.number), "99999.00")["parked_payment_id"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLABLE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    run = CliRunner().invoke
    out = run(cli_app, ["payments", "parked", "--as", "fin@books.example"])
    assert out.exit_code == 0, out.output
    assert "ACME AG" in out.output and "SEPA 77" in out.output and "exceeds_balance" in out.output
    out = run(cli_app, ["payments", "parked", "apply", str(first), "--invoice", str(inv.id),
                        "--as", "vic@view.example"])
    assert out.exit_code == 1 and "auth.forbidden" in out.output
    out = run(cli_app, ["payments", "parked", "apply", str(first), "--invoice", str(inv.id),
                        "--as", "fin@books.example"])
    assert out.exit_code == 0 and f"Applied 25.00 to invoice {inv.number}" in out.output, out.output
    out = run(cli_app, ["payments", "parked", "dismiss", str(second), "--reason", "wrong amount, refunded",
                        "--as", "fin@books.example"])
    assert out.exit_code == 0 and "dismissed" in out.output, out.output
    out = run(cli_app, ["payments", "parked", "--as", "fin@books.example"])
    assert out.exit_code == 0 and "No parked payments." in out.output
    out = run(cli_app, ["payments", "parked", "--status", "all", "--as", "fin@books.example"])
    assert "wrong amount, refunded" in out.output and "applied" in out.output


def test_agent_tools_for_parked_payments() -> None:
    names = {s.name for s in tools_for(Role.FINANCE, Channel.HTTP)}
    assert {"parked_payments", "apply_parked_payment", "dismiss_parked_payment"} <= names
    assert BY_NAME["apply_parked_payment"].moves_money and BY_NAME["dismiss_parked_payment"].moves_money
    assert not BY_NAME["parked_payments"].moves_money
    assert "parked_payments" not in {s.name for s in tools_for(Role.VIEWER, Channel.HTTP)}
    assert "apply_parked_payment" not in {s.name for s in tools_for(Role.OWNER, Channel.SCRIPT)}


def test_the_agents_reply_lists_what_waits() -> None:
    from prompts import render

    text = render("replies/parked", payments=[
        {"id": 3, "received_on": "2026-04-10", "amount": "25.00", "remaining": "25.00", "currency": "EUR",
         "payer": "ACME AG", "reference": "SEPA 77", "named": "INV-1999-000001", "invoice_id": None,
         "reason": "unknown_invoice", "detail": "no invoice is numbered INV-1999-000001", "status": "parked"}])
    assert "1 parked payment waiting" in text and "#3" in text and "25.00" in text and '"ACME AG"' in text
    assert "unknown invoice: no invoice is numbered INV-1999-000001" in text
