"""Sent the moment they are issued: with `send_on_issue` (workspace setting, or a rule's own option), issuing by
any path (API/service, approval, a rule, a billing run) queues the e-mail in the issuing transaction; the CLI
`billable invoices send` queues one by hand."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.cli.main import app as cli_app
from domain.services import billing_run, delivery, invoicing, workspace
from domain.store.clock import FixedClock
from domain.store.session import Database
from tests.events.conftest import Events
from tests.services.conftest import MARCH, World
from tests.support.fixtures import Clients, api_server, as_user, people, server

__all__ = ["api_server", "as_user", "people", "server"]


def queued(world: World, invoice_id: int) -> str | None:
    d = world.call(delivery.get_delivery, world.system, invoice_id)
    return d.status if d else None


def test_issuing_and_approving_queue_the_e_mail_when_the_workspace_says_so(world: World) -> None:
    off = world.issued(world.retainer_client(name="Off Ltd"))
    assert queued(world, off.id) is None  # off by default
    world.call(workspace.update_settings, world.actor("owner"), {"send_on_issue": True})
    assert world.call(workspace.get_settings, world.system).send_on_issue

    cid = world.retainer_client(name="On Ltd")
    draft = world.draft(cid)
    flagged = world.call(invoicing.issue_invoice, world.system, draft.id)
    assert flagged.status == "pending_approval" and queued(world, draft.id) is None  # not issued yet: not sent
    issued = world.call(invoicing.approve_invoice, world.actor("finance"), draft.id)
    assert issued.status == "issued" and queued(world, issued.id) == "queued"
    actions = world.audit_actions("invoice", issued.id)
    assert actions[-2:] == ["invoice.issued", "invoice.delivery_queued"]

    nobody = world.retainer_client(name="No Mail Ltd", billing_emails=[])
    inv = world.draft(nobody)
    inv = world.call(invoicing.issue_invoice, world.system, inv.id)
    inv = world.call(invoicing.approve_invoice, world.actor("finance"), inv.id)
    assert inv.status == "issued" and queued(world, inv.id) is None  # issued all the same
    assert world.audit_actions("invoice", inv.id)[-1] == "invoice.delivery_skipped"


def test_a_billing_run_sends_what_it_issues(world: World) -> None:
    world.call(workspace.update_settings, world.actor("owner"), {"send_on_issue": True, "deviation_pct": "1000",
                                                                  "duplicate_days": 0})
    cid = world.retainer_client(name="Run Ltd")
    world.issued(cid, (date(2026, 2, 1), date(2026, 2, 28)))  # a first invoice is flagged; the next one is not
    clock = world.db.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(days=1))  # not the same total the same day (the duplicate check)
    report = world.call(billing_run.bill_period, world.system, *MARCH, client_ids=[cid], issue=True)
    assert report.issued == 1
    assert queued(world, report.invoice_ids[0]) == "queued"


RULES = """
rules:
  - {id: ms, on: milestone.completed, action: bill_milestone, clean_draft: auto_issue, send_on_issue: true}
"""


def test_a_rule_sends_what_it_issues_even_when_the_workspace_does_not(db: Database) -> None:
    ev = Events(db)
    ev.rules(RULES)
    workspace.update_settings(db.uow(), ev.system, {"deviation_pct": "1000"})
    cid = ev.client()
    ms = ev.arrangement(cid, kind="milestone", name="Rollout", milestones=[{"name": "Phase 1", "amount": "900.00"},
                                                                           {"name": "Phase 2", "amount": "1200.00"}])
    for i, m in enumerate(ms.milestones):
        ev.receive("milestone.completed", {"milestone_ref": f"jira:R-{i}", "name": m.name, "project_ref": "acme",
                                           "completed_on": f"2026-03-0{i + 1}"}, f"m-{i}")
        ev.work()
        if i == 0:  # a client's first invoice waits for an approver (the rule's choice applies to what it issues)
            [held] = ev.invoices()
            invoicing.approve_invoice(db.uow(), ev.system, held.id)
    second = ev.invoices()[-1]
    assert second.status in ("issued", "sent") and second.number is not None
    assert "invoice.email" in ev.outbox_topics()
    with db.uow() as uow:
        row = uow.deliveries.get(second.id)
        assert row is not None and row.recipients == ["ap@acme.example"]


def test_cli_invoices_send(world: World, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = world.issued(world.retainer_client())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLABLE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    out = CliRunner().invoke(cli_app, ["invoices", "send", str(inv.number), "--to", "ap@elsewhere.example",
                                       "--as", "fin@books.example"])
    assert out.exit_code == 0 and "ap@elsewhere.example" in out.output, out.output
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "queued" and d.recipients == ["ap@elsewhere.example"]
    out = CliRunner().invoke(cli_app, ["invoices", "send", str(inv.id), "--as", "vic@view.example"])
    assert out.exit_code == 1 and "auth.forbidden" in out.output


def test_the_settings_over_http(as_user: Clients) -> None:
    owner = as_user.owner
    s = owner.ok("PATCH", "/v1/settings", json={"reminder_offsets": [5, -2], "send_on_issue": True})
    assert s["reminder_offsets"] == [-2, 5] and s["send_on_issue"] is True
    r = owner.patch("/v1/settings", json={"reminder_offsets": [5, 5]})
    assert r.status_code == 422 and r.json()["field"] == "reminder_offsets[1]"
    assert owner.patch("/v1/settings", json={"reminder_offsets": ["soon"]}).status_code == 422
    assert owner.patch("/v1/settings", json={"send_on_issue": None}).status_code == 422
    assert as_user.viewer.patch("/v1/settings", json={"send_on_issue": False}).status_code == 403
    assert as_user.viewer.ok("GET", "/v1/settings")["reminder_offsets"] == [-2, 5]
