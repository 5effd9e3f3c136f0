"""The CLI through Typer's runner: set-up, users, reading invoices, the audit chain, and errors that say what to
do. Commands reading a demo workspace run on SQLite and PostgreSQL (the `db` fixture)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.core import TyperGroup

from channels.cli.main import app
from domain.errors import Unauthenticated
from domain.model.roles import Actor, Role
from domain.services import clients, invoicing, users
from domain.services.demo import DEMO_EMAILS, load_demo
from domain.store.session import Database
from tests.cli.conftest import TOKEN, Cli
from tests.support.triggers import without_triggers

UseDb = Callable[[Database], None]


# ---- set-up --------------------------------------------------------------------------------------------

def test_init_migrates_once_and_says_where(cli: Cli, tmp_path: Path) -> None:
    for _ in range(2):  # idempotent
        r = cli("init")
        assert r.exit_code == 0, r.output
        assert f"Database ready at {tmp_path / 'cli.db'}" in r.output
    assert (tmp_path / "cli.db").exists()


def test_commands_on_a_database_not_set_up_say_run_init(cli: Cli) -> None:
    for args in (("invoices", "list"), ("users", "list"), ("audit", "verify")):
        r = cli(*args)
        assert r.exit_code == 1
        assert "not set up yet" in r.output and "billable init" in r.output


def test_a_database_behind_the_code_says_run_init(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    db = Database.open(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with db.engine.begin() as conn:
            # One row per migration head (features add branches): replace them all by one older revision.
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('older')"))
    finally:
        db.dispose()
    r = cli("users", "list")
    assert r.exit_code == 1
    assert "schema revision older" in r.output and "billable init" in r.output


def test_unreachable_postgresql_is_one_red_line_with_a_next_step(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLABLE_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2")
    r = cli("init")
    assert r.exit_code == 1
    assert "cannot use the database at" in r.output and "Traceback" not in r.output
    assert "BILLABLE_DATABASE_URL" in r.output


def test_bad_settings_are_refused_with_the_fix(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLABLE_ENV", "production")
    r = cli("init")
    assert r.exit_code == 1 and "BILLABLE_SECRET_KEY" in r.output


def test_no_users_yet_says_how_to_make_one(cli: Cli) -> None:
    assert cli("init").exit_code == 0
    r = cli("invoices", "list")
    assert r.exit_code == 1
    assert "no users yet" in r.output and "billable users add" in r.output


# ---- users ---------------------------------------------------------------------------------------------

def test_users_add_list_and_rotate(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    r = cli("users", "add", "ana@example.com", "--role", "finance", "--name", "Ana Lima")
    assert r.exit_code == 0, r.output
    first = TOKEN.findall(r.output)
    assert len(first) == 1

    db = Database.open(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        assert users.authenticate_token(db.uow(), first[0]).role == Role.FINANCE

        listed = cli("users", "list")
        assert listed.exit_code == 0 and "ana@example.com" in listed.output and "finance" in listed.output
        assert not TOKEN.search(listed.output)  # tokens are never listed

        again = cli("users", "add", "ana@example.com", "--role", "viewer")
        assert again.exit_code == 1
        assert "already exists" in again.output and "billable users token ana@example.com" in again.output

        rotated = cli("users", "token", "ana@example.com")
        assert rotated.exit_code == 0
        (new,) = TOKEN.findall(rotated.output)
        assert new != first[0]
        with pytest.raises(Unauthenticated):
            users.authenticate_token(db.uow(), first[0])
        assert users.authenticate_token(db.uow(), new).email == "ana@example.com"
    finally:
        db.dispose()

    missing = cli("users", "token", "nobody@example.com")
    assert missing.exit_code == 1 and "billable users list" in missing.output
    bad_role = cli("users", "add", "x@example.com", "--role", "king")
    assert bad_role.exit_code == 2 and "owner" in bad_role.output
    bad_email = cli("users", "add", "not-an-email", "--role", "viewer")
    assert bad_email.exit_code == 1 and "email" in bad_email.output.lower()


# ---- the demo through the CLI ------------------------------------------------------------------------

def test_demo_prints_users_tokens_and_what_to_try_then_only_new_tokens(cli: Cli, tmp_path: Path) -> None:
    r = cli("demo")
    assert r.exit_code == 0, r.output
    assert "Demo workspace loaded: 3 clients" in r.output
    for email in DEMO_EMAILS.values():
        assert email in r.output
    tokens = TOKEN.findall(r.output)
    owner = re.search(r"export OWNER_TOKEN=(\S+)", r.output)
    assert owner and owner.group(1) in tokens
    assert "curl" in r.output and "http://127.0.0.1:8000/v1/invoices" in r.output and "/docs" in r.output

    again = cli("demo")
    assert again.exit_code == 0, again.output
    assert "already loaded" in again.output
    new_owner = re.search(r"export OWNER_TOKEN=(\S+)", again.output)
    assert new_owner and new_owner.group(1) != owner.group(1)

    db = Database.open(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        system = Actor.system("test")
        assert len(clients.list_clients(db.uow(), system)) == 3
        assert users.authenticate_token(db.uow(), new_owner.group(1)).email == DEMO_EMAILS[Role.OWNER]
        with pytest.raises(Unauthenticated):
            users.authenticate_token(db.uow(), owner.group(1))
    finally:
        db.dispose()


# ---- reading invoices, on both databases ----------------------------------------------------------------

@pytest.fixture
def demo_db(db: Database, system: Actor, use_db: UseDb) -> Database:
    load_demo(db.uow(), system)
    use_db(db)
    return db


def test_invoices_list_and_filters(cli: Cli, demo_db: Database) -> None:
    r = cli("invoices", "list")
    assert r.exit_code == 0, r.output
    for name in ("Nordwerk Maschinenbau GmbH", "Harbour & Finch Ltd", "Van Dijk Logistiek B.V."):
        assert name in r.output
    for status in ("draft", "pending approval", "partially paid", "issued · overdue"):
        assert status in r.output
    assert "INV-2026-000001" in r.output and "€" in r.output and "£" in r.output

    overdue = cli("invoices", "list", "--overdue")  # the CLI's today is the real one: later than the demo's
    assert overdue.exit_code == 0 and "INV-2026-000001" in overdue.output
    assert "Van Dijk" not in overdue.output and "draft" not in overdue.output

    pending = cli("invoices", "list", "--status", "pending_approval")
    assert "Van Dijk" in pending.output and "Harbour" not in pending.output

    nordwerk = next(c for c in clients.list_clients(demo_db.uow(), Actor.system()) if "Nordwerk" in c.name)
    only = cli("invoices", "list", "--client", str(nordwerk.id))
    assert "Nordwerk" in only.output and "Harbour" not in only.output

    bad = cli("invoices", "list", "--status", "lost")
    assert bad.exit_code == 1 and "unknown status" in bad.output


def test_invoices_show_by_number_and_id(cli: Cli, demo_db: Database) -> None:
    system = Actor.system()
    part = next(i for i in invoicing.list_invoices(demo_db.uow(), system) if i.status == "partially_paid")
    assert part.number
    r = cli("invoices", "show", part.number)
    assert r.exit_code == 0, r.output
    out = r.output
    for needle in ("Nordwerk Maschinenbau GmbH", "Lines", "Managed IT services", "overage", "Milestone",
                   "Cisco", "SLA credit", "time entries", "milestone 1", "expense 1", "SLA breach 1",
                   "Checks", "first_invoice", "flag", "Tax per rate", "19%", "Balance", "PO 4500183920",
                   "Payment €"):
        assert needle in out, needle
    assert re.search(r"Balance\s+€[\d,]+\.\d\d", out)

    draft = next(i for i in invoicing.list_invoices(demo_db.uow(), system) if i.status == "draft")
    shown = cli("invoices", "show", str(draft.id))
    assert shown.exit_code == 0 and f"draft #{draft.id}" in shown.output

    missing = cli("invoices", "show", "INV-1999-000001")
    assert missing.exit_code == 1 and "no invoice" in missing.output and "billable invoices list" in missing.output


def test_reads_act_as_the_person_named(cli: Cli, demo_db: Database) -> None:
    am = cli("invoices", "list", "--as", DEMO_EMAILS[Role.ACCOUNT_MANAGER])
    assert am.exit_code == 0 and "Nordwerk" in am.output and "Harbour" not in am.output

    contractor = cli("invoices", "list", "--as", DEMO_EMAILS[Role.CONTRACTOR])
    assert contractor.exit_code == 1
    assert "auth.forbidden" in contractor.output and "--as EMAIL" in contractor.output

    stranger = cli("invoices", "list", "--as", "nobody@example.com")
    assert stranger.exit_code == 1 and "no active user" in stranger.output


def test_audit_verify_ok_then_names_the_first_altered_entry(cli: Cli, demo_db: Database) -> None:
    ok = cli("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output and "verify" in ok.output

    with demo_db.engine.begin() as conn:  # someone who can drop the triggers removes the newest entry
        without_triggers(conn)
        last = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": last})
    removed = cli("audit", "verify")
    assert removed.exit_code == 1 and f"BROKEN at entry {last}" in removed.output

    with demo_db.engine.begin() as conn:  # ... and edits an older one: that is the first broken entry now
        without_triggers(conn)
        conn.execute(text("UPDATE audit_log SET actor_label = 'nobody' WHERE seq = 42"))
    edited = cli("audit", "verify")
    assert edited.exit_code == 1
    assert "BROKEN at entry 42" in edited.output and "Restore the database" in edited.output


def test_settings_seller_and_clients_show_and_change_the_parties(cli: Cli, demo_db: Database) -> None:
    shown = cli("settings", "seller")
    assert shown.exit_code == 0, shown.output
    for needle in ("Brightline IT Services GmbH", "Königstraße 28", "70173 Stuttgart", "DE147820932",
                   "93815/08152", "HRB 765432", "DE02 6005 0101 7495 5301 02", "SOLADEST600", "9930:DE147820932"):
        assert needle in shown.output, needle

    changed = cli("settings", "seller", "--registration", "HRB 765433, Amtsgericht Stuttgart")
    assert changed.exit_code == 0 and "HRB 765433" in changed.output
    moved = cli("settings", "seller", "--street", "Marktplatz 1", "--city", "Esslingen")  # the shared address options
    assert moved.exit_code == 0 and "Marktplatz 1, 70173 Esslingen" in moved.output, moved.output
    wrong = cli("settings", "seller", "--iban", "DE02600501017495530103")
    assert wrong.exit_code == 1 and "bank_account.iban" in wrong.output and "IBAN" in wrong.output
    finance = cli("settings", "seller", "--vat-id", "DE287654324", "--as", DEMO_EMAILS[Role.FINANCE])
    assert finance.exit_code == 1 and "auth.forbidden" in finance.output

    listed = cli("clients", "list")
    assert listed.exit_code == 0
    for needle in ("Van Dijk Logistiek B.V.", "NL819203476B01", "peppol", "facturx", "GB294506104"):
        assert needle in listed.output, needle
    vandijk = next(c for c in clients.list_clients(demo_db.uow(), Actor.system()) if "Van Dijk" in c.name)
    updated = cli("clients", "update", str(vandijk.id), "--street", "Celsiusweg 33", "--language", "en",
                  "--as", DEMO_EMAILS[Role.FINANCE])
    assert updated.exit_code == 0, updated.output
    assert "Celsiusweg 33" in updated.output and "5928 PR Venlo" in updated.output
    bad = cli("clients", "update", str(vandijk.id), "--vat-id", "NL819203477B01")
    assert bad.exit_code == 1 and "vat_id" in bad.output
    made = cli("clients", "create", "Initech GmbH", "--currency", "EUR", "--street", "Hauptstraße 1",
               "--postcode", "10115", "--city", "Berlin", "--country", "DE", "--vat-id", "DE287654324",
               "--format", "xrechnung-cii", "--buyer-reference", "991-33333TEST-33")
    assert made.exit_code == 0, made.output
    assert "xrechnung-cii" in made.output and "991-33333TEST-33" in made.output


def test_the_party_commands_share_one_list_of_address_and_buyer_options() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    ctx = root.make_context("billable", ["--help"], resilient_parsing=True)

    def options(group: str, name: str) -> list[str]:
        sub = root.get_command(ctx, group)
        assert isinstance(sub, TyperGroup)
        command = sub.get_command(ctx, name)
        assert command is not None
        return [o for p in command.params for o in p.opts]

    address = ["--street", "--additional", "--postcode", "--city", "--region", "--country"]
    buyer = [*address, "--vat-id", "--buyer-reference", "--eas-scheme", "--eas-id", "--format", "--language"]
    create, update, seller = options("clients", "create"), options("clients", "update"), options("settings", "seller")
    assert [o for o in create if o in buyer] == buyer == [o for o in update if o in buyer]
    assert [o for o in seller if o in address] == address and "--buyer-reference" not in seller
    assert create[-1] == update[-1] == seller[-1] == "--as"  # the shared ones stand where the command put them
