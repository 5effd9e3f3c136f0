"""The suite's PostgreSQL reset between tests (tests/conftest.py: reset_pg) leaves what the migrations made: every
table as they seed it, every id sequence from its start, whether it empties the written tables with DELETE (as a
superuser, triggers off) or TRUNCATEs them all (any other user)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, make_url

from domain.model.roles import Actor
from domain.services import invoicing, workspace
from domain.store.clock import FixedClock
from domain.store.db import make_engine
from domain.store.migrate import upgrade
from domain.store.session import Database
from domain.store.tables import metadata
from tests.conftest import PG_ADMIN, START, _superuser, open_database, reset_pg
from tests.services.conftest import make_world


def _contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(t.select())), key=repr) for t in metadata.sorted_tables}


def _write_books(db: Database) -> None:
    """Rows in most tables, an issued invoice (its lines frozen by trigger), audit entries, a changed workspace."""
    world = make_world(db, Actor.system("tests"))
    inv = world.issued(world.retainer_client())
    world.call(invoicing.record_payment, world.actor("finance"), inv.id, "100.00", date(2026, 4, 2), "bank")
    world.call(workspace.update_settings, world.system, {"name": "Changed GmbH"})


def _check_reset(db: Database, engine: Engine, fresh: dict[str, list[tuple[Any, ...]]]) -> None:
    _write_books(db)
    assert _contents(engine) != fresh
    reset_pg(engine)
    assert _contents(engine) == fresh
    world = make_world(db, Actor.system("tests"))  # every sequence starts again: the first rows get id 1
    assert world.user_ids[next(iter(world.user_ids))] == 1 and world.client().id == 1


def test_the_reset_leaves_the_migrated_database_as_a_superuser(pg_url: str, tmp_path: Path,
                                                               sqlite_template: Path) -> None:
    db = open_database("postgresql", tmp_path, sqlite_template, pg_url, FixedClock(START))
    try:
        fresh = _contents(db.engine)
        _check_reset(db, db.engine, fresh)
    finally:
        db.dispose()


def test_the_reset_leaves_the_migrated_database_as_another_user() -> None:
    """A user who is no superuser but made and migrated the test database (owns its tables): TRUNCATE."""
    role, name = f"billable_reset_{uuid.uuid4().hex[:8]}", f"billable_reset_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_ADMIN).set(username=role, password=None)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER CREATEDB')
    try:
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        engine = make_engine(url.set(database=name).render_as_string(hide_password=False))
        try:
            upgrade(engine)
            reset_pg(engine)
            assert not _superuser[engine.url.render_as_string()]
            _check_reset(Database(engine, FixedClock(START)), engine, _contents(engine))
        finally:
            engine.dispose()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE "{role}"')
