"""Pooled PostgreSQL connections (domain/store/db.py): one idle for a while is pinged before use and replaced if
it died; one checked in a moment ago is used without a ping, and if it died, its statement fails and the pool
replaces every connection, so the next transaction works."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from domain.store import db as db_module
from domain.store.db import make_engine


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    """The product's PostgreSQL engine (its pool and pings) on the run's database: pooling with pings is
    PostgreSQL's only, so these tests have no SQLite half to skip."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def _pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(engine: Engine, pid: int) -> None:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def test_an_idle_connection_that_died_is_replaced_before_use(engine: Engine, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    pid = _pid(engine)
    _kill(engine, pid)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled connection counts as idle
    assert _pid(engine) != pid


def test_a_connection_used_a_moment_ago_is_not_pinged_and_a_dead_one_is_replaced_after_its_failure(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    pid = _pid(engine)
    _kill(engine, pid)
    with pytest.raises(OperationalError), engine.connect() as conn:  # no ping: the statement meets the dead link
        conn.execute(text("SELECT 1"))
    assert _pid(engine) not in (pid,)
