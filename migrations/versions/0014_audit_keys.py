"""books that cannot be quietly rewritten (issue 15): a keyed audit chain, and triggers that refuse rewriting
audit entries and issued invoices

1. audit_log.key_id: the audit key (HMAC-SHA256) that signed each entry. Entries written before this migration
   were a plain SHA-256 chain: the migration checks that chain and re-signs it, entry by entry, with the current
   audit key (BILLABLE_AUDIT_KEY, or the embedded default's local key), so every entry verifies one way. A chain
   already broken is re-signed only up to the break: the entries from there on keep their plain hash and no key,
   and `billable audit verify` names the first of them, as it would have before.
2. Triggers, on PostgreSQL and SQLite: UPDATE and DELETE of audit entries are refused; so are a change to an
   issued (numbered) invoice's frozen fields, its deletion, and UPDATE or DELETE of its lines. Status, payments,
   credits, approval and delivery fields still move. TRUNCATE fires no row trigger (the tests' reset uses it).

Revision ID: 0014_audit_keys
Revises: 0013_snapshot
Create Date: 2026-12-02 01:40:00
"""
from collections.abc import Sequence
import sqlalchemy as sa
from alembic import context, op

from domain.model.audit_chain import GENESIS, Keyring, entry_hash, sign
from domain.store.audit_keys import keyring_for
from domain.store.tables import AuditRow
from domain.store.uow import audit_content

revision: str = '0014_audit_keys'
down_revision: str | None = '0013_snapshot'  # after the invoices' frozen snapshot column: it is frozen too
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What an issued invoice says, frozen at numbering (ARCHITECTURE: corrections are credit notes).
FROZEN = ("number", "kind", "client_id", "currency", "period_start", "period_end", "issue_date", "due_date",
          "subtotal_minor", "tax_minor", "total_minor", "tax_breakdown", "tax_note", "po_number",
          "corrects_invoice_id", "issued_at", "snapshot")
# The real columns (their types read timestamps and JSON back as the application wrote them), only those that exist
# at this revision.
_T = AuditRow.__table__
_COLS = [_T.c[c] for c in ("seq", "at", "actor_kind", "actor_id", "actor_label", "action", "subject_type",
                           "subject_id", "cause", "before", "after", "prev_hash", "hash")]
_HEAD = sa.table("audit_head", sa.column("id"), sa.column("last_seq"), sa.column("last_hash"))


def _resign(keyring: Keyring | None) -> None:
    """Walk the chain in order: each entry that verifies as the old plain chain is signed anew, linked to the
    signed entry before it; at the first that does not, stop (it and the rest keep their plain hash, no key)."""
    conn = op.get_bind()
    old_prev = new_prev = GENESIS
    expected, last = 1, 0
    rows = conn.execute(sa.select(*_COLS).order_by(_T.c.seq)).all()
    if not rows:
        return
    keyring = keyring or keyring_for()
    for r in rows:
        content = audit_content(r)
        if r.seq != expected or r.prev_hash != old_prev or entry_hash(old_prev, content) != r.hash:
            break
        key_id, mac = sign(keyring, new_prev, content)
        conn.execute(sa.update(_T).where(_T.c.seq == r.seq).values(prev_hash=new_prev, hash=mac, key_id=key_id))
        old_prev, new_prev, expected, last = r.hash, mac, r.seq + 1, r.seq
    else:
        conn.execute(_HEAD.update().where(_HEAD.c.id == 1, _HEAD.c.last_seq == last).values(last_hash=new_prev))


def _changed(old: str, new: str, cols: Sequence[str], json_cols: Sequence[str], dialect: str) -> str:
    def one(c: str) -> str:
        if c in json_cols and dialect == "postgresql":  # json has no equality: compare the stored text
            return f"{new}.{c}::text IS DISTINCT FROM {old}.{c}::text"
        return f"{new}.{c} IS DISTINCT FROM {old}.{c}" if dialect == "postgresql" else f"{new}.{c} IS NOT {old}.{c}"
    return " OR ".join(one(c) for c in cols)


PG = """
CREATE FUNCTION billable_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit entries are append-only: % of entry % refused', TG_OP, OLD.seq
    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION billable_refuse_audit_change();

CREATE FUNCTION billable_frozen_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER invoices_frozen_when_issued BEFORE UPDATE OR DELETE ON invoices
  FOR EACH ROW EXECUTE FUNCTION billable_frozen_invoice();

CREATE FUNCTION billable_frozen_invoice_line() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE issued text;
BEGIN
  SELECT number INTO issued FROM invoices WHERE id = OLD.invoice_id;
  IF issued IS NOT NULL THEN
    RAISE EXCEPTION 'invoice % is issued: its lines are frozen (% refused)', issued, TG_OP
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER invoice_lines_frozen_when_issued BEFORE UPDATE OR DELETE ON invoice_lines
  FOR EACH ROW EXECUTE FUNCTION billable_frozen_invoice_line();
"""

SQLITE = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: DELETE refused'); END",
    "CREATE TRIGGER invoices_frozen_when_issued BEFORE UPDATE ON invoices WHEN OLD.number IS NOT NULL AND ({changed}) "
    "BEGIN SELECT RAISE(ABORT, 'an issued invoice is frozen: corrections are credit notes'); END",
    "CREATE TRIGGER invoices_never_deleted_when_issued BEFORE DELETE ON invoices WHEN OLD.number IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'an issued invoice is never deleted: void it or credit it'); END",
    "CREATE TRIGGER invoice_lines_frozen_update BEFORE UPDATE ON invoice_lines "
    "WHEN (SELECT number FROM invoices WHERE id = OLD.invoice_id) IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'an issued invoice''s lines are frozen: UPDATE refused'); END",
    "CREATE TRIGGER invoice_lines_frozen_delete BEFORE DELETE ON invoice_lines "
    "WHEN (SELECT number FROM invoices WHERE id = OLD.invoice_id) IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'an issued invoice''s lines are frozen: DELETE refused'); END",
]
SQLITE_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete", "invoices_frozen_when_issued",
                   "invoices_never_deleted_when_issued", "invoice_lines_frozen_update", "invoice_lines_frozen_delete")


def upgrade() -> None:
    op.add_column('audit_log', sa.Column('key_id', sa.String(length=32), nullable=True))
    _resign(context.config.attributes.get("audit_keyring"))
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG.replace("{changed}", _changed("OLD", "NEW", FROZEN, ("tax_breakdown", "snapshot"), dialect)))
    else:
        for statement in SQLITE:
            op.execute(statement.replace("{changed}", _changed("OLD", "NEW", FROZEN, (), dialect)))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER invoice_lines_frozen_when_issued ON invoice_lines; "
                   "DROP FUNCTION billable_frozen_invoice_line(); "
                   "DROP TRIGGER invoices_frozen_when_issued ON invoices; DROP FUNCTION billable_frozen_invoice(); "
                   "DROP TRIGGER audit_log_append_only ON audit_log; DROP FUNCTION billable_refuse_audit_change();")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    # Back to the plain chain, so the schema below verifies what is there.
    conn = op.get_bind()
    prev = GENESIS
    for r in conn.execute(sa.select(*_COLS).order_by(_T.c.seq)).all():
        h = entry_hash(prev, audit_content(r))
        conn.execute(sa.update(_T).where(_T.c.seq == r.seq).values(prev_hash=prev, hash=h))
        prev = h
    conn.execute(_HEAD.update().where(_HEAD.c.id == 1).values(last_hash=prev))
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_column('key_id')
