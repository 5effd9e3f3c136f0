"""The app's own lifecycle: opening its database from settings, and the health check."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from channels.http import create_app
from domain.settings import Settings
from domain.store.clock import Clock
from domain.store.db import make_engine
from domain.store.session import Database
from tests.support.server import LiveServer


def test_without_a_database_it_opens_the_configured_one(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "served.db"
    shutil.copy(sqlite_template, path)
    app = create_app(settings=Settings(database_url=f"sqlite:///{path}"))
    assert app.state.db is None
    with LiveServer(app) as url, httpx.Client(base_url=url) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert app.state.db is not None and str(app.state.db.engine.url).endswith("served.db")
        r = http.get("/v1/me", headers={"Authorization": "Bearer nobody"})
        assert r.status_code == 401
    assert app.state.db is None  # closed at shutdown


def test_healthz_says_503_when_the_database_is_unreachable() -> None:
    db = Database(make_engine("postgresql://postgres@127.0.0.1:1/nowhere", pool_pre_ping=False), Clock())
    with LiveServer(create_app(db)) as url, httpx.Client(base_url=url) as http:
        r = http.get("/healthz")
    db.dispose()
    assert (r.status_code, r.json()) == (503, {"status": "unavailable"})
