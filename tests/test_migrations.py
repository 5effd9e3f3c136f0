"""The migrations are the only way the schema is made: they must build exactly what the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from domain.store.session import Database
from domain.store.tables import metadata


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migrations_seed_workspace_and_audit_head(db: Database) -> None:
    with db.uow() as uow:
        ws = uow.workspace.get()
        assert ws.invoice_number_format == "INV-{yyyy}-{seq:06}"
        head = uow.audit_log.head()
        assert head is not None and head.last_seq == 0
