"""`billable users slack-link`: an explicit Slack -> billable mapping, audited; bad input changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.cli.main import app
from domain.model.roles import Actor
from domain.services import audit
from domain.services import slack as slack_links
from domain.store.session import Database


def test_slack_link_maps_a_member_to_a_user(tmp_path: Path) -> None:
    mp = pytest.MonkeyPatch()
    try:
        mp.chdir(tmp_path)
        mp.setenv("BILLABLE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
        run = CliRunner().invoke
        assert run(app, ["init"]).exit_code == 0
        assert run(app, ["users", "add", "ana@example.com", "--role", "finance"]).exit_code == 0
        bad = run(app, ["users", "slack-link", "not an id", "ana@example.com"])
        assert bad.exit_code == 1 and "slack_user" in bad.output
        unknown = run(app, ["users", "slack-link", "U012AB3CD", "nobody@example.com"])
        assert unknown.exit_code == 1 and "no user with e-mail nobody@example.com" in unknown.output
        ok = run(app, ["users", "slack-link", "U012AB3CD", "ana@example.com"])
        assert ok.exit_code == 0 and "U012AB3CD is now ana@example.com" in ok.output
    finally:
        mp.undo()
    db = Database.open(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        link = slack_links.linked_user(db.uow(), "T0ANY", "U012AB3CD")
        assert link is not None and link.email == "ana@example.com" and link.explicit
        actions = [e.action for e in audit.audit_history(db.uow(), Actor.system("t"), subject_type="user")]
        assert actions.count("user.slack_linked") == 1
    finally:
        db.dispose()
