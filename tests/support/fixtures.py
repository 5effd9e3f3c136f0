"""Pytest fixtures for tests that talk HTTP to a real server. Import them in a conftest:

    from tests.support.fixtures import api, api_server, as_user, people, server

One uvicorn server serves the whole session; each test points it at the test's own `db` (the parametrized
SQLite/PostgreSQL fixture of tests/conftest.py) and points it back at an idle database afterwards, so no
state leaks between tests. Tests that need an app of their own use `tests.support.server.live_server`.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from channels.http import create_app
from domain.model.roles import Role
from domain.settings import Settings
from domain.store.clock import Clock
from domain.store.db import make_engine
from domain.store.session import Database
from tests.support.api import Api, make_user
from tests.support.server import LiveServer


@dataclass
class ServedApp:
    app: FastAPI
    url: str
    idle_db: Database

    def serve(self, db: Database) -> None:
        self.app.state.db = db

    def idle(self) -> None:
        self.app.state.db = self.idle_db


@contextlib.contextmanager
def serve_idle(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory,
               settings: Settings | None = None) -> Iterator[ServedApp]:
    """The app on a real uvicorn server, serving an idle database until a test points it at its own."""
    path = tmp_path_factory.mktemp("idle") / "idle.db"
    shutil.copy(sqlite_template, path)
    idle = Database(make_engine(f"sqlite:///{path}"), Clock())
    app = create_app(idle, settings)
    server = LiveServer(app)
    try:
        yield ServedApp(app, server.start(), idle)
    finally:
        server.stop()
        idle.dispose()


@pytest.fixture(scope="session")
def api_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The API on a real uvicorn server for the session, serving an idle database between tests."""
    with serve_idle(sqlite_template, tmp_path_factory) as served:
        yield served


@pytest.fixture
def server(api_server: ServedApp, db: Database) -> Iterator[str]:
    """The base URL of the live API, serving this test's database."""
    api_server.serve(db)
    try:
        yield api_server.url
    finally:
        api_server.idle()


@dataclass
class People:
    """One user per role (and a second finance user), with their API tokens."""

    owner: str
    finance: str
    finance2: str
    account_manager: str
    contractor: str
    viewer: str


EMAILS = {"owner": "olivia@example.com", "finance": "fiona@example.com", "finance2": "felix@example.com",
          "account_manager": "adam@example.com", "contractor": "dana@example.com",
          "viewer": "victor@example.com"}


@pytest.fixture
def people(db: Database) -> People:
    roles = {"owner": Role.OWNER, "finance": Role.FINANCE, "finance2": Role.FINANCE,
             "account_manager": Role.ACCOUNT_MANAGER, "contractor": Role.CONTRACTOR, "viewer": Role.VIEWER}
    return People(**{name: make_user(db, EMAILS[name], role) for name, role in roles.items()})


class Clients:
    """Clients of the live API, one per role, made on first use and closed after the test:
    `as_user.finance.post(...)`, `as_user.token("...")` for any other token."""

    def __init__(self, url: str, people: People) -> None:
        self.url = url
        self.people = people
        self._open: dict[str | None, Api] = {}

    def token(self, token: str | None) -> Api:
        if token not in self._open:
            self._open[token] = Api(self.url, token)
        return self._open[token]

    def __getattr__(self, role: str) -> Api:
        if role.startswith("_") or role not in EMAILS:
            raise AttributeError(role)
        return self.token(getattr(self.people, role))

    @property
    def anonymous(self) -> Api:
        return self.token(None)

    def close(self) -> None:
        for client in self._open.values():
            client.close()
        self._open.clear()


@pytest.fixture
def as_user(server: str, people: People) -> Iterator[Clients]:
    clients = Clients(server, people)
    try:
        yield clients
    finally:
        clients.close()


@pytest.fixture
def api(as_user: Clients) -> Api:
    """A client of the live API, as the owner (`as_user.viewer` etc. for the other roles)."""
    return as_user.owner
