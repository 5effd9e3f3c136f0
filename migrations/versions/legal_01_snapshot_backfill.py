"""invoices issued before 0013 may be given their snapshot once (issue 12)

0014's trigger freezes an issued invoice's `snapshot` like every other field it says, including an empty one: an
invoice numbered before 0013 could then never be frozen, and every door would have to read it from today's
client row. From here the trigger lets an issued invoice's snapshot go from empty to set, once; a snapshot that
is set stays as it is. `domain.services.snapshots.backfill_snapshots` (run by `billable init` after migrating,
and by `billable invoices backfill-snapshots`) fills them in, audited, from the data as it is at backfill time.

Revision ID: legal_01
Revises: 0014_audit_keys
Create Date: 2026-12-02 05:20:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'legal_01'
down_revision: str | None = '0014_audit_keys'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0014's frozen fields, but the snapshot: it has its own clause below.
FROZEN = ("number", "kind", "client_id", "currency", "period_start", "period_end", "issue_date", "due_date",
          "subtotal_minor", "tax_minor", "total_minor", "tax_breakdown", "tax_note", "po_number",
          "corrects_invoice_id", "issued_at")
JSON_COLS = ("tax_breakdown",)


def _changed(dialect: str, snapshot_once: bool) -> str:
    def one(c: str) -> str:
        if dialect == "postgresql":
            if c in JSON_COLS or c == "snapshot":  # json has no equality: compare the stored text
                return f"NEW.{c}::text IS DISTINCT FROM OLD.{c}::text"
            return f"NEW.{c} IS DISTINCT FROM OLD.{c}"
        return f"NEW.{c} IS NOT OLD.{c}"
    clauses = [one(c) for c in FROZEN]
    if snapshot_once:  # an empty snapshot (SQL NULL or JSON null) may be set; a set one never changes
        empty = ("OLD.snapshot IS NULL OR OLD.snapshot::text = 'null'" if dialect == "postgresql" else
                 "OLD.snapshot IS NULL OR OLD.snapshot = 'null'")
        clauses.append(f"(NOT ({empty}) AND {one('snapshot')})")
    else:
        clauses.append(one("snapshot"))
    return " OR ".join(clauses)


PG = """
CREATE OR REPLACE FUNCTION billable_frozen_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.number IS NULL THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'invoice % is issued: it is never deleted (void it or credit it)', OLD.number
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF {changed} THEN
    RAISE EXCEPTION 'invoice % is issued: what it says is frozen (corrections are credit notes)', OLD.number
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
"""

SQLITE = ("CREATE TRIGGER invoices_frozen_when_issued BEFORE UPDATE ON invoices WHEN OLD.number IS NOT NULL AND "
          "({changed}) BEGIN SELECT RAISE(ABORT, 'an issued invoice is frozen: corrections are credit notes'); END")


def _install(snapshot_once: bool) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG.replace("{changed}", _changed(dialect, snapshot_once)))
    else:
        op.execute("DROP TRIGGER IF EXISTS invoices_frozen_when_issued")
        op.execute(SQLITE.replace("{changed}", _changed(dialect, snapshot_once)))


def upgrade() -> None:
    _install(snapshot_once=True)


def downgrade() -> None:
    _install(snapshot_once=False)
