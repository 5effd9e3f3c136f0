"""`billable clients ...`: amend with a preview, end, archive, refusals naming the field (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

from domain.model.roles import Actor
from domain.services import clients, invoicing, users
from domain.store.session import Database
from tests.cli.conftest import Cli
from tests.support.parties import ADDRESSES

UseDb = Callable[[Database], None]


def _books(db: Database, system: Actor) -> tuple[int, int, int]:
    users.add_user(db.uow(), system, users.UserIn(email="owner@x.example", role="owner"))
    users.add_user(db.uow(), system, users.UserIn(email="fin@x.example", role="finance"))
    c = clients.create_client(db.uow(), system, {"name": "Nordwerk GmbH", "currency": "EUR",
                                                 "billing_emails": ["ap@nordwerk.example"],
                                                 "address": ADDRESSES["DE"]})
    sub = clients.add_arrangement(db.uow(), system, c.id, {"kind": "subscription", "product": "Managed EDR",
                                                           "seats": 48, "unit_price": "7.50",
                                                           "starts_on": "2026-01-01"})
    tm = clients.add_arrangement(db.uow(), system, c.id, {"kind": "time_and_materials", "default_rate": "100.00",
                                                          "starts_on": "2026-01-01"})
    from datetime import date
    inv = invoicing.draft_invoice(db.uow(), system, c.id, date(2026, 3, 1), date(2026, 3, 31))
    invoicing.issue_invoice(db.uow(), system, inv.id)
    return c.id, sub.id, tm.id


def test_amend_end_archive_from_the_command_line(cli: Cli, db: Database, system: Actor, use_db: UseDb) -> None:
    cid, sub, tm = _books(db, system)
    use_db(db)
    r = cli("clients", "amend", str(cid), str(sub), "--from", "2026-03-10", "--set", "seats=52",
            "--as", "fin@x.example")
    assert r.exit_code == 0, r.output
    assert "Version 2 from 2026-03-10" in r.output and "seats 48 → 52" in r.output
    assert "21.29 EUR on the next invoice" in r.output and "390.00 EUR" in r.output
    r = cli("clients", "amend", str(cid), str(sub), "--from", "2026-03-12", "--set", "seats=0")
    assert r.exit_code == 1 and "(terms.seats)" in r.output
    r = cli("clients", "end", str(cid), str(tm), "--on", "2026-03-31", "--reason", "project done")
    assert r.exit_code == 0 and "ends on 2026-03-31" in r.output, r.output
    r = cli("clients", "versions", str(cid))
    assert r.exit_code == 0 and "v2 from 2026-03-10 (active): seats 48 → 52" in r.output, r.output
    assert "to 2026-03-31" in r.output
    assert cli("clients", "archive", str(cid), "--reason", "left").exit_code == 0
    assert "Nordwerk" not in cli("clients", "list").output
    assert "archived" in cli("clients", "list", "--archived").output
    assert cli("clients", "reactivate", str(cid)).exit_code == 0
    assert clients.get_client(db.uow(), system, cid).archived_at is None


def test_backfill_snapshots_freezes_old_invoices_from_the_command_line(cli: Cli, db: Database, system: Actor,
                                                                       use_db: UseDb) -> None:
    from sqlalchemy import update

    from domain.store.tables import InvoiceRow
    from tests.support.triggers import without_triggers

    cid, _, _ = _books(db, system)
    [pending] = invoicing.list_invoices(db.uow(), system, client_id=cid)
    invoicing.approve_invoice(db.uow(), users.actor_by_email(db.uow(), "fin@x.example"), pending.id)
    with db.engine.begin() as conn:  # as a database from before 0013 has it
        without_triggers(conn)
        conn.execute(update(InvoiceRow).values(snapshot=None))
    use_db(db)
    r = cli("invoices", "backfill-snapshots", "--as", "fin@x.example")
    assert r.exit_code == 1 and "owner" in r.output  # owners only
    r = cli("invoices", "backfill-snapshots")
    assert r.exit_code == 0 and "Froze 1 invoice(s)" in r.output and "INV-2026-000001" in r.output, r.output
    r = cli("invoices", "backfill-snapshots")
    assert r.exit_code == 0 and "already keeps what it says" in r.output, r.output
