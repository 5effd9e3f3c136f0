"""Thread memory: a LangGraph checkpointer on our own database.

SQLite: a SqliteSaver with its OWN sqlite3 connection to the same file (it commits on its connection after every
write, so it must never share the app's; check_same_thread=False because the HTTP door runs handlers in a
thread pool; the saver serialises access with its own lock). PostgreSQL: a PostgresSaver over a small psycopg
pool with autocommit (without it the checkpoints sit in a transaction nobody else sees), dict rows and no
prepared statements (safe behind PgBouncer), set up once (creates its tables, idempotent). On PostgreSQL its
tables live in their own schema, `agent_memory`, so they never mix with ours (or with what migrations compare).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from sqlalchemy.engine import make_url

# The checkpointer's own tables: beside ours in SQLite (migrations leave them alone), in SCHEMA on PostgreSQL.
TABLES = frozenset({"checkpoints", "writes", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"})
SCHEMA = "agent_memory"


@dataclass
class Memory:
    saver: BaseCheckpointSaver[str]
    close: Callable[[], None]


def open_memory(url: str) -> Memory:
    """The checkpointer for a database URL (as in BILLABLE_DATABASE_URL)."""
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        if not u.database or u.database == ":memory:":
            return Memory(InMemorySaver(), lambda: None)
        conn = sqlite3.connect(u.database, check_same_thread=False, timeout=30)
        saver = SqliteSaver(conn)
        saver.setup()
        return Memory(saver, conn.close)
    if u.drivername.split("+")[0] in ("postgresql", "postgres"):
        conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
        # UniqueViolation: another process made it a moment ago
        with psycopg.connect(conninfo, autocommit=True) as pg_conn, contextlib.suppress(psycopg.errors.UniqueViolation):
            pg_conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        pool: ConnectionPool = ConnectionPool(
            conninfo, min_size=1, max_size=4, open=True, name="billable-agent-memory",
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0,
                    "options": f"-c search_path={SCHEMA}"})
        pg = PostgresSaver(pool)  # type: ignore[arg-type]
        pg.setup()
        return Memory(pg, pool.close)
    raise ValueError(f"no checkpointer for database URLs of kind {u.drivername!r}")
