"""Engines for SQLite (embedded default) and PostgreSQL (production), configured alike."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out (one round trip); one
# checked in more recently is used as is. A connection that dies anyway fails its statement, and SQLAlchemy then
# replaces every pooled connection (a worker's job is retried; a webhook batch is stored again one by one).
PING_AFTER_IDLE_SECONDS = 2.0


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use psycopg 3 for them."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def json_text(value: Any) -> str:
    """A JSON column's stored text: orjson (a fifth of a month-end's write CPU was the standard library's encoder),
    compact, UTF-8 as is; non-string keys written as strings, as the standard library does. What orjson refuses
    (an integer beyond 64 bits, say, from a client's payload) is written by the standard library in the same form."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine with foreign keys on, and on SQLite WAL plus BEGIN IMMEDIATE for writers."""
    url = normalize_url(url)
    kw.setdefault("json_serializer", json_text)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if ":memory:" not in url and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Writers take the write lock up front, so two writers never deadlock upgrading a read lock.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")

        return engine
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    ping_when_idle = "pool_pre_ping" not in kw
    engine = create_engine(url, **kw)
    if ping_when_idle:
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Like pool_pre_ping, but only for connections idle for PING_AFTER_IDLE_SECONDS: under load a connection is
    checked out again within milliseconds, and pinging it every time was one round trip in each transaction."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as e:
            raise exc.InvalidatePoolError(f"a pooled connection is gone ({type(e).__name__})") from e
        if not alive:
            raise exc.InvalidatePoolError("a pooled connection is gone")
