"""`billable users set-password` and `sign-out`, and the dashboard password `billable demo` prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.cli.main import app
from domain.errors import Unauthenticated, ValidationFailed
from domain.model.roles import Role
from domain.services import sessions
from domain.services.demo import DEMO_EMAILS
from domain.store.session import Database
from tests.cli.conftest import Cli


def test_set_password_by_prompt_or_stdin_and_sign_out(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    assert cli("users", "add", "ana@example.com", "--role", "finance").exit_code == 0
    runner = CliRunner()
    prompted = runner.invoke(app, ["users", "set-password", "ana@example.com"],
                             input="a fine long password\na fine long password\n")
    assert prompted.exit_code == 0, prompted.output
    assert "a fine long password" not in prompted.output  # hidden input, never echoed
    db = Database.open(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        first = sessions.sign_in(db.uow(), "ana@example.com", "a fine long password")
        piped = runner.invoke(app, ["users", "set-password", "ana@example.com", "--password-stdin"],
                              input="another long password\n")
        assert piped.exit_code == 0, piped.output
        with pytest.raises(Unauthenticated):  # a new password ends the sessions opened with the old one
            sessions.session_for(db.uow(), first.token)
        second = sessions.sign_in(db.uow(), "ana@example.com", "another long password")
        out = cli("users", "sign-out", "ana@example.com")
        assert out.exit_code == 0 and "1 dashboard session" in out.output
        with pytest.raises(Unauthenticated):
            sessions.session_for(db.uow(), second.token)
        short = runner.invoke(app, ["users", "set-password", "ana@example.com", "--password-stdin"], input="short\n")
        assert short.exit_code == 1 and "password" in short.output
        with pytest.raises(ValidationFailed):
            sessions.sign_in(db.uow(), "ana@example.com", "")
    finally:
        db.dispose()
    missing = runner.invoke(app, ["users", "set-password", "nobody@example.com", "--password-stdin"],
                            input="a fine long password\n")
    assert missing.exit_code == 1 and "billable users list" in missing.output


def test_demo_prints_a_dashboard_password_that_signs_in(cli: Cli, tmp_path: Path) -> None:
    r = cli("demo")
    assert r.exit_code == 0, r.output
    found = re.search(r"/app/ · sign in as any demo user .* with the password (\S+)", r.output.replace("\n", " "))
    assert found, r.output[-600:]
    db = Database.open(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        signed = sessions.sign_in(db.uow(), DEMO_EMAILS[Role.FINANCE], found.group(1))
        assert sessions.session_for(db.uow(), signed.token).actor.role == Role.FINANCE
    finally:
        db.dispose()
