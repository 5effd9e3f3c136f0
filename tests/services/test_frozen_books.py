"""Books that cannot be quietly rewritten (issue 15), on SQLite and PostgreSQL: as the application's own database
user, every statement that would rewrite an audit entry or an issued invoice (its frozen fields, its lines) is
refused by a trigger, while what must still move (status, payments, credits, voids, drafts) moves; the audit chain
is keyed (HMAC) with keys that rotate and keep old entries verifiable; the migration re-signs a legacy chain."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.model.audit_chain import GENESIS, Keyring
from domain.model.roles import Actor
from domain.services import audit, clients, invoicing
from domain.settings import Settings
from domain.store.audit_keys import keyring_for, local_key
from domain.store.clock import FixedClock
from domain.store.db import make_engine
from domain.store.migrate import alembic_config, upgrade
from domain.store.session import Database
from tests.conftest import START
from tests.support.triggers import without_triggers

from .conftest import MARCH, World

FORBIDDEN = [
    ("UPDATE audit_log SET actor_label = 'mallory@evil.example' WHERE seq = 1", "append-only"),
    ("UPDATE audit_log SET hash = prev_hash WHERE seq = (SELECT max(seq) FROM audit_log)", "append-only"),
    ("DELETE FROM audit_log WHERE seq = 1", "append-only"),
    ("DELETE FROM audit_log", "append-only"),
    ("UPDATE invoices SET total_minor = total_minor + 100 WHERE id = :inv", "frozen"),
    ("UPDATE invoices SET number = 'INV-FAKE-1' WHERE id = :inv", "frozen"),
    ("UPDATE invoices SET number = NULL WHERE id = :inv", "frozen"),
    ("UPDATE invoices SET tax_breakdown = '[]' WHERE id = :inv", "frozen"),
    ("UPDATE invoices SET client_id = client_id + 1 WHERE id = :inv", "frozen"),
    ("UPDATE invoices SET due_date = NULL WHERE id = :inv", "frozen"),
    ("UPDATE invoices SET tax_note = 'no tax' WHERE id = :inv", "frozen"),
    ("UPDATE invoices SET snapshot = NULL WHERE id = :inv", "frozen"),
    ("DELETE FROM invoices WHERE id = :inv", "deleted"),
    ("UPDATE invoice_lines SET amount_minor = 1 WHERE invoice_id = :inv", "frozen"),
    ("UPDATE invoice_lines SET description = 'nothing' WHERE invoice_id = :inv", "frozen"),
    ("DELETE FROM invoice_lines WHERE invoice_id = :inv", "frozen"),
]


def test_each_forbidden_statement_is_refused_to_the_applications_own_user(world: World) -> None:
    inv = world.issued(world.retainer_client())
    before = world.snapshot()
    for sql, says in FORBIDDEN:  # one book: each refusal rolls its statement back, so the next meets the same rows
        with pytest.raises(DBAPIError) as refused, world.db.engine.begin() as conn:
            conn.execute(text(sql), {"inv": inv.id} if ":inv" in sql else {})
        assert says in str(refused.value.orig), sql
        assert world.snapshot() == before, sql
    assert world.call(audit.verify_chain, world.system).ok


def test_what_must_move_still_moves(world: World) -> None:
    """Payments, credit notes, voids, status and delivery fields change on issued invoices; drafts are edited,
    rejected and discarded, their lines with them."""
    fin = world.actor("finance")
    paid = world.issued(world.retainer_client(name="Paying AG"))
    invoicing.record_payment(world.db.uow(), fin, paid.id, "100.00", MARCH[1])
    credited = invoicing.create_credit_note(world.db.uow(), fin, paid.id, "goodwill", "50.00")
    assert credited.number is not None
    voided = world.issued(world.retainer_client(name="Voided AG"))
    assert invoicing.void_invoice(world.db.uow(), fin, voided.id, "duplicate").status == "void"
    draft = world.draft(world.retainer_client(name="Draft AG"))
    invoicing.add_manual_line(world.db.uow(), fin, draft.id, "Cabling", "1", "90.00")
    invoicing.discard_draft(world.db.uow(), fin, draft.id)
    with world.db.engine.begin() as conn:  # the moving fields, as a statement
        conn.execute(text("UPDATE invoices SET status = 'sent', reason = 'x', paid_minor = paid_minor "
                          "WHERE id = :i"), {"i": paid.id})
    now = invoicing.get_invoice(world.db.uow(), fin, paid.id)
    assert (now.status, now.paid, now.credited) == ("sent", "100.00", "50.00")
    assert world.call(audit.verify_chain, world.system).ok


def _keys(**named: str) -> dict[str, bytes]:
    return {k: v.encode() for k, v in named.items()}


def test_rotation_keeps_old_entries_verifiable(db: Database, system: Actor) -> None:
    one = _keys(k1="first key " * 4)
    two = _keys(k2="second key " * 4)
    first = Database(db.engine, db.clock, Keyring("k1", one))
    clients.create_client(first.uow(), system, {"name": "Before Rotation AG", "currency": "EUR"})
    rotated = Database(db.engine, db.clock, Keyring("k2", {**one, **two}))  # k1 retired, still listed
    clients.create_client(rotated.uow(), system, {"name": "After Rotation AG", "currency": "EUR"})
    with db.engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT key_id FROM audit_log ORDER BY seq"))] == ["k1", "k2"]
    assert audit.verify_chain(rotated.uow(), system).ok
    forgot = Database(db.engine, db.clock, Keyring("k2", two))  # the retired key dropped too soon
    report = audit.verify_chain(forgot.uow(), system)
    assert not report.ok and report.first_broken_seq == 1
    assert "audit key 'k1', which is not configured" in report.message
    wrong = Database(db.engine, db.clock, Keyring("k1", _keys(k1="not the first key " * 3)))
    assert audit.verify_chain(wrong.uow(), system).first_broken_seq == 1


def test_the_keys_come_from_the_settings_and_production_needs_one(tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    s = Settings(_env_file=None, audit_key="k" * 40, audit_key_id="2", audit_old_keys={"1": "o" * 40},
                 audit_key_file=str(key_file))
    ring = keyring_for(s)
    assert ring.current_id == "2" and ring.keys == {"2": b"k" * 40, "1": b"o" * 40}
    assert not key_file.exists()  # a configured key needs no local one
    local = keyring_for(Settings(_env_file=None, audit_key_file=str(key_file)))
    assert local.current_id == "local" and len(local.current) == 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert keyring_for(Settings(_env_file=None, audit_key_file=str(key_file))).current == local.current
    assert local_key(key_file) == local.current
    with pytest.raises(ValidationError, match="BILLABLE_AUDIT_KEY must be set in production"):
        Settings(_env_file=None, env="production", secret_key="s" * 40, database_url="postgresql://x/y")
    with pytest.raises(ValidationError, match="already used by a retired key"):
        Settings(_env_file=None, env="production", secret_key="s" * 40, database_url="postgresql://x/y",
                 audit_key="k" * 40, audit_key_id="1", audit_old_keys={"1": "o" * 40})
    ok = Settings(_env_file=None, env="production", secret_key="s" * 40, database_url="postgresql://x/y",
                  audit_key="k" * 40)
    assert keyring_for(ok).keys == {"1": b"k" * 40}


def test_the_migration_re_signs_a_legacy_chain_and_stops_at_a_broken_entry(tmp_path: Path, system: Actor) -> None:
    """Down to the plain SHA-256 chain and back up: the migration checks the legacy chain, signs it entry by
    entry with the audit key, and leaves a chain broken before the migration broken at the same entry."""
    ring = Keyring("m1", _keys(m1="migration key " * 3))
    engine = make_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
    upgrade(engine, ring)
    db = Database(engine, FixedClock(START), ring)
    for name in ("One AG", "Two AG", "Three AG", "Four AG"):
        clients.create_client(db.uow(), system, {"name": name, "currency": "EUR"})
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013_snapshot")  # below 0014 and what builds on it (legal_01)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq")).all()
    assert len(rows) == 4 and rows[0][1] == GENESIS  # a plain chain again, no key ids
    upgrade(engine, ring)
    assert audit.verify_chain(db.uow(), system).ok
    with engine.connect() as conn:
        assert {r[0] for r in conn.execute(text("SELECT key_id FROM audit_log"))} == {"m1"}
    # A legacy chain tampered with before the migration: re-signed up to the break, verify names it.
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013_snapshot")  # below 0014 and what builds on it (legal_01)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor_label = 'mallory' WHERE seq = 3"))
    upgrade(engine, ring)
    report = audit.verify_chain(db.uow(), system)
    assert not report.ok and report.first_broken_seq == 3 and "is not signed" in report.message
    engine.dispose()


def test_tampering_through_the_triggers_owner_is_still_found(world: World) -> None:
    """Whoever can drop the triggers can change a row, but not sign it: verify names it."""
    world.issued(world.retainer_client())
    with world.db.engine.begin() as conn:
        without_triggers(conn)
        conn.execute(text("UPDATE audit_log SET after = '{\"total\": \"1.00\"}' WHERE seq = 2"))
    report = world.call(audit.verify_chain, world.system)
    assert not report.ok and report.first_broken_seq == 2 and "altered" in report.message
