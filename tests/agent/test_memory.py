"""The checkpointer lives in our database beside our tables: made by the saver itself, left alone by migrations
(autogenerate neither drops nor compares it); on PostgreSQL in a schema of its own."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from agent import MEMORY_TABLES, open_memory
from agent._memory import SCHEMA
from domain.store.migrate import alembic_config
from domain.store.session import Database


def test_memory_tables_sit_beside_ours_and_migrations_ignore_them(db: Database) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    memory = open_memory(url)
    try:
        schema = SCHEMA if db.engine.dialect.name == "postgresql" else None  # apart from ours on PostgreSQL
        made = set(inspect(db.engine).get_table_names(schema=schema)) & MEMORY_TABLES
        assert made >= {"checkpoints"}
        if schema:
            assert not set(inspect(db.engine).get_table_names()) & MEMORY_TABLES
        cfg = alembic_config(url)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.check(cfg)  # raises if autogenerate would change anything (drop the memory, say)
    finally:
        memory.close()
