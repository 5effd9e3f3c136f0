"""CLI fixtures: the CLI reads BILLABLE_DATABASE_URL, so point it at the test database, from a clean folder."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from channels.cli.main import app
from domain.store.session import Database

TOKEN = re.compile(r"\bbl_[A-Za-z0-9_-]{40,}")

Cli = Callable[..., Result]


def url_of(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    """Run `billable ARGS...`; the database is whatever BILLABLE_DATABASE_URL says (see `use_db`)."""
    monkeypatch.chdir(tmp_path)  # no stray .env or billable.db from the developer's folder
    for var in ("BILLABLE_ENV", "BILLABLE_HOST", "BILLABLE_PORT", "BILLABLE_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BILLABLE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


@pytest.fixture
def use_db(monkeypatch: pytest.MonkeyPatch) -> Callable[[Database], None]:
    def use(db: Database) -> None:
        monkeypatch.setenv("BILLABLE_DATABASE_URL", url_of(db))
    return use
