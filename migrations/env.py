"""Alembic environment: runs on the connection given by domain.store.migrate, or on sqlalchemy.url."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from domain.store.db import make_engine
from domain.store.tables import metadata

config = context.config

# Tables of the agent's checkpointer (LangGraph's SqliteSaver / PostgresSaver), which it makes and migrates
# itself in the same database: autogenerate must neither drop them nor compare them.
AGENT_MEMORY_TABLES = frozenset({"checkpoints", "writes", "checkpoint_blobs", "checkpoint_writes",
                                 "checkpoint_migrations"})


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and name in AGENT_MEMORY_TABLES)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite", include_name=_ours)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run(conn)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///billable.db")
    with engine.begin() as connection:
        _run(connection)


run_migrations_online()
