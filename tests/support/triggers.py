"""Going around the triggers that keep the books from being rewritten, as only the tables' owner can (the
application never does): for tests that tamper with the audit log to prove `verify` finds it."""

from __future__ import annotations

from sqlalchemy import Connection, text

SQLITE_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete", "invoices_frozen_when_issued",
                   "invoices_never_deleted_when_issued", "invoice_lines_frozen_update", "invoice_lines_frozen_delete")


def without_triggers(conn: Connection) -> None:
    """For the rest of this transaction (PostgreSQL: a superuser's replica role, so nothing outlives it) or for
    good (SQLite: each test has its own copy of the database), the triggers do not fire."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for name in SQLITE_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
