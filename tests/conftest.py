"""Shared fixtures: every store and service test runs on SQLite and on PostgreSQL.

PostgreSQL is expected at BILLABLE_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres). The suite
creates a fresh database for the run and drops it afterwards. If PostgreSQL cannot be reached the run fails:
the PostgreSQL half is never skipped silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, insert, text

from domain.model.roles import Actor
from domain.store.clock import FixedClock
from domain.store.db import make_engine
from domain.store.migrate import upgrade
from domain.store.session import Database
from domain.store.tables import metadata
from tests.support.parties import seed_seller

PG_ADMIN = os.environ.get("BILLABLE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _pg_admin_conn() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:  # pragma: no cover - only when the service is down
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN} ({e}). Start it with "
                    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or point "
                    "BILLABLE_TEST_PG at one. The PostgreSQL half of the suite is never skipped.", pytrace=False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated, dropped at the end."""
    name = f"billable_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _pg_admin_conn() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A throwaway database: commits need not wait for the disk (durability is not under test here).
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    engine = make_engine(url)
    upgrade(engine)
    seed_seller(Database(engine, FixedClock(START)))  # captured by reset_pg's seed rows
    engine.dispose()
    yield url
    with _pg_admin_conn() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    seed_seller(Database(engine, FixedClock(START)))
    engine.dispose()  # closing the last connection checkpoints the WAL into the file we copy
    return path


_seed_rows: dict[str, list[dict[str, Any]]] = {}
_superuser: dict[str, bool] = {}


def reset_pg(engine: Engine) -> None:
    """Empty every table and put back the rows the migrations seed; every sequence starts again.

    As a superuser (the default BILLABLE_TEST_PG), only the tables the last test wrote to are emptied, with DELETE
    and triggers off for this transaction (session_replication_role = replica: the append-only triggers and the
    foreign keys' own triggers do not fire), and only the sequences it used are set back: ~20x cheaper than
    TRUNCATE of every table, which makes new files for each table and index, and ran before each of the ~700
    PostgreSQL tests. Otherwise TRUNCATE ... RESTART IDENTITY CASCADE, which fires no row trigger either."""
    tables = metadata.sorted_tables
    with engine.begin() as conn:
        if not _seed_rows:
            for table in tables:
                rows = [dict(r._mapping) for r in conn.execute(table.select())]
                if rows:
                    _seed_rows[table.name] = rows
        url = engine.url.render_as_string()
        if url not in _superuser:
            _superuser[url] = bool(conn.execute(text(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar())
        if _superuser[url]:
            probe = " UNION ALL ".join(f'(SELECT {i} FROM "{t.name}" LIMIT 1)' for i, t in enumerate(tables))
            hit = {i for (i,) in conn.execute(text(probe))}
            written = [t for i, t in enumerate(tables) if i in hit or t.name in _seed_rows]
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in reversed(written):
                conn.execute(table.delete())
            conn.execute(text("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, "
                              "false) FROM pg_sequences WHERE last_value IS NOT NULL"))
        else:
            written = tables
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        for table in written:
            if table.name in _seed_rows:
                conn.execute(insert(table), _seed_rows[table.name])


PRODUCTION_HASHER: list[PasswordHasher] = []  # the product's own, set aside while the suite hashes cheaply


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at its lowest cost for the suite: a production hash (64 MiB, 3 passes) takes ~0.1 s on a quiet
    core and ~1 s on this shared machine, and the throttling and dashboard tests sign in hundreds of times. The
    hashing, verifying and re-hashing code is the same; tests/services/test_sessions.py holds the production
    parameters to their values (test_passwords_are_hashed_with_the_production_parameters)."""
    from domain.services import sessions
    PRODUCTION_HASHER.append(sessions._hasher)
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    patch = pytest.MonkeyPatch()
    patch.setattr(sessions, "_hasher", cheap)
    patch.setattr(sessions, "_DUMMY_HASH", cheap.hash("not anyone's password"))
    yield
    patch.undo()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def open_database(backend: str, tmp_path: Path, sqlite_template: Path, pg_url: str | None,
                  clock: FixedClock) -> Database:
    if backend == "sqlite":
        path = tmp_path / "billable.db"
        shutil.copy(sqlite_template, path)
        return Database(make_engine(f"sqlite:///{path}"), clock)
    assert pg_url is not None
    engine = make_engine(pg_url)
    reset_pg(engine)
    return Database(engine, clock)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, clock: FixedClock) -> Iterator[Database]:
    """A migrated, empty database on each backend, with a fixed clock (2026-04-01 09:00 UTC); the workspace
    has complete seller details (`tests.support.parties.SELLER`), so its invoices can be issued."""
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    database = open_database(request.param, tmp_path, sqlite_template, pg, clock)
    yield database
    database.dispose()


@pytest.fixture
def system() -> Actor:
    return Actor.system("tests")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright for the whole session, shared by the browser tests of every folder (two sync Playwrights cannot
    run in one thread): never import this fixture into a test module, just name it."""
    from playwright.sync_api import sync_playwright  # imported here: most tests never start a browser

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright (never a download)."""
    chromium = os.environ.get("BILLABLE_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"Chromium is not installed at {chromium}: `make test` installs it (apt-get install chromium)",
                    pytrace=False)
    b = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    yield b
    b.close()
