"""`billable rules|tick|events|pilot` through Typer's runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv as csvlib
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

from domain.model.roles import Actor, Role
from domain.services import clients, invoicing, users, workspace
from domain.store.session import Database
from tests.cli.conftest import Cli

UseDb = Callable[[Database], None]
SYSTEM = Actor.system("tests")

RULES = """rules:
  - id: retainers
    on: period.due
    action: bill_period
    clean_draft: hold_for_review
  - id: sla
    on: sla.breached
    action: credit_next_invoice
"""


def _owner(db: Database) -> None:
    users.add_user(db.uow(), SYSTEM, users.UserIn(email="owner@example.com", role=Role.OWNER))


def _months_ago(n: int) -> date:
    today = date.today()
    m = today.year * 12 + today.month - 1 - n
    return date(m // 12, m % 12 + 1, 1)


def test_rules_check_names_rule_line_and_field(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "rules.yaml"
    good.write_text(RULES)
    r = cli("rules", "check", str(good))
    assert r.exit_code == 0 and "2 rule(s)" in r.output, r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("clean_draft: hold_for_review", "clean_draft: hold"))
    r = cli("rules", "check", str(bad))
    assert r.exit_code == 1 and "rules.invalid" in r.output
    assert "rule #1 (retainers), line 5: clean_draft" in r.output


def test_tick_catches_up_once_and_events_list_shows_it(cli: Cli, db: Database, use_db: UseDb,
                                                      tmp_path: Path) -> None:
    use_db(db)
    _owner(db)
    cid = clients.create_client(db.uow(), SYSTEM, {"name": "Acme", "currency": "EUR", "external_ref": "acme",
                                                   "billing_emails": ["ap@acme.example"]}).id
    clients.add_arrangement(db.uow(), SYSTEM, cid, {"kind": "retainer", "fee": "4000.00",
                                                    "starts_on": _months_ago(2).isoformat()})
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    assert cli("rules", "load", str(path)).exit_code == 0
    r = cli("rules", "show")
    assert r.exit_code == 0 and "id: retainers" in r.output
    r = cli("tick")
    assert r.exit_code == 0 and "3 due date(s) found" in r.output, r.output
    assert "0 due date(s)" in cli("tick").output
    assert len(invoicing.list_invoices(db.uow(), SYSTEM)) == 3
    r = cli("events", "list")
    assert r.exit_code == 0 and r.output.count("period.due") == 3 and "processed" in r.output
    assert "No failed events." in cli("events", "list", "--failed").output


def test_a_failed_event_is_listed_and_retried(cli: Cli, db: Database, use_db: UseDb) -> None:
    use_db(db)
    _owner(db)
    from domain.services import events, jobs
    from domain.services.events import Incoming
    from domain.services.rules import put_rules
    put_rules(db.uow(), SYSTEM, RULES)
    events.receive_events(db.uow(), events.source_actor("billable"), "billable", [Incoming(
        "b-1", "sla.breached", {"client_ref": "acme", "occurred_on": "2026-03-03", "description": "P1 outage"})])
    clients.create_client(db.uow(), SYSTEM, {"name": "Acme", "currency": "EUR", "external_ref": "acme"})
    jobs.process_jobs(db.uow(), "t")  # no SLA arrangement: a refusal no retry changes -> dead at once
    r = cli("events", "list", "--failed")
    assert r.exit_code == 0 and "dead" in r.output and "sla credit arrangement" in r.output, r.output
    [dead] = events.list_events(db.uow(), SYSTEM, status="failed")
    r = cli("events", "retry", str(dead.id))
    assert r.exit_code == 0 and "queued again" in r.output
    assert cli("events", "retry", str(dead.id)).exit_code == 0  # still waiting: nothing changes
    r = cli("events", "show", str(dead.id))
    assert r.exit_code == 0 and '"status": "received"' in r.output
    assert cli("events", "retry", "999").exit_code == 1


def test_pilot_report_compares_with_what_was_actually_billed(cli: Cli, db: Database, use_db: UseDb,
                                                            tmp_path: Path) -> None:
    use_db(db)
    _owner(db)
    workspace.update_settings(db.uow(), SYSTEM, {"pilot_mode": True})
    acme = clients.create_client(db.uow(), SYSTEM, {"name": "Acme GmbH", "currency": "EUR"}).id
    clients.add_arrangement(db.uow(), SYSTEM, acme, {"kind": "retainer", "name": "Managed services", "fee": "4000.00",
                                                     "starts_on": "2026-01-01"})
    clients.add_arrangement(db.uow(), SYSTEM, acme, {"kind": "subscription", "product": "Endpoint protection",
                                                     "seats": 10, "unit_price": "12.00", "starts_on": "2026-01-01"})
    globex = clients.create_client(db.uow(), SYSTEM, {"name": "Globex", "currency": "EUR"}).id
    clients.add_arrangement(db.uow(), SYSTEM, globex, {"kind": "retainer", "name": "Helpdesk", "fee": "900.00",
                                                       "starts_on": "2026-01-01"})
    draft = invoicing.draft_invoice(db.uow(), SYSTEM, acme, date(2026, 3, 1), date(2026, 3, 31))
    ours = {ln.description: ln.amount for ln in draft.lines}
    retainer = next(d for d in ours if "Managed services" in d)
    seats = next(d for d in ours if "Endpoint" in d)
    csv = tmp_path / "invoices.csv"
    with csv.open("w", newline="") as f:
        out = csvlib.writer(f)
        out.writerow(["Client", "Number", "Date", "Description", "Amount", "Currency"])
        out.writerow(["Acme GmbH", "RE-2026-0311", "2026-03-01", retainer, ours[retainer], "EUR"])
        out.writerow(["Acme GmbH", "RE-2026-0311", "2026-03-01", seats, "150.00", "EUR"])
        out.writerow(["Acme GmbH", "RE-2026-0311", "2026-03-01", "Travel to site", "230.00", "EUR"])
        out.writerow(["Globex", "RE-2026-0312", "2026-03-01", "Helpdesk March", "900.00", "EUR"])
        out.writerow(["Initech", "RE-2026-0313", "2026-03-01", "Consulting", "100.00", "EUR"])
    r = cli("pilot", "report", "--period", "2026-03", "--actual", str(csv), "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["counts"] == {"matched": 1, "differs": 1, "missing_in_billable": 2, "missing_in_actual": 0}
    differs = next(ln for ln in report["lines"] if ln["status"] == "differs")
    assert (differs["billable_amount"], differs["actual_amount"], differs["difference"]) == ("120.00", "150.00",
                                                                                           "-30.00")
    assert report["unknown_clients"] == ["Initech"]
    totals = {t["client"]: t for t in report["clients"]}
    assert totals["Acme GmbH"]["difference"] == "-260.00" and totals["Globex"]["billable"] == "0.00"
    table = cli("pilot", "report", "--period", "2026-03", "--actual", str(csv))
    assert table.exit_code == 0 and "missing in billable" in table.output and "differs" in table.output
    assert cli("pilot", "report", "--period", "March", "--actual", str(csv)).exit_code == 1
