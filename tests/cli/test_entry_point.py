"""The installed `billable` command, run as a real process the way a person (or `make run`) runs it."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from domain.errors import Unauthenticated
from domain.model.roles import Actor
from domain.services import clients, users
from domain.store.session import Database
from tests.cli.conftest import TOKEN


def _billable() -> str:
    exe = shutil.which("billable", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("the `billable` entry point is not installed next to this Python: run `pip install -e .` "
                    "(make test does)", pytrace=False)
    return exe


def test_installed_entry_point_end_to_end(tmp_path: Path) -> None:
    exe = _billable()
    path = tmp_path / "walk.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABLE_")}
    env.update(BILLABLE_DATABASE_URL=f"sqlite:///{path}", COLUMNS="200")

    def run(*args: str, expect: int = 0) -> str:
        p = subprocess.run([exe, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == expect, f"billable {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout + p.stderr

    assert str(path) in run("init")
    first = run("demo")
    assert "Demo workspace loaded: 3 clients" in first
    listed = run("invoices", "list")
    assert re.search(r"INV-\d{4}-000001", listed) and "pending approval" in listed and "draft" in listed
    assert "OK" in run("audit", "verify")

    second = run("demo")  # the second run of `make run`: nothing added, fresh working tokens
    assert "already loaded" in second
    old, new = set(TOKEN.findall(first)), set(TOKEN.findall(second))
    assert len(old) == len(new) == 5 and not old & new

    db = Database.open(f"sqlite:///{path}")
    try:
        assert len(clients.list_clients(db.uow(), Actor.system())) == 3
        for token in new:
            users.authenticate_token(db.uow(), token)
        for token in old:
            with pytest.raises(Unauthenticated):
                users.authenticate_token(db.uow(), token)
    finally:
        db.dispose()

    with sqlite3.connect(path) as conn:  # the trigger refuses; whoever drops it can tamper with one entry
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET action = 'invoice.paid' WHERE seq = 7")
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET action = 'invoice.paid' WHERE seq = 7")
    broken = run("audit", "verify", expect=1)
    assert re.search(r"BROKEN at entry 7\b", broken)
