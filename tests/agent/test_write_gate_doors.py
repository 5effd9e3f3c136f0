"""Every door shows a model's writes as one proposal, each change with its server-computed effect, decided with one
answer (issue 14): the HTTP chat's pending_action, `billable chat` (y/n) and `billable ask` (no writes offered
without --yes); Slack's Confirm / Cancel in tests/slack/test_write_proposals.py. The model is a scripted
OpenAI-compatible server over a socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from agent import Chat
from channels.cli.main import app as cli
from domain.model.roles import Actor
from domain.services import invoicing, users
from evals import Seeded
from evals._seed import PEOPLE
from tests.agent.test_write_gate import WRITES, _last_seq, _proposal, _settings, books_state
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.openai_server import text as say
from tests.support.api import Api
from tests.support.fixtures import ServedApp, api_server, server

__all__ = ["api_server", "server"]

runner = CliRunner()


def _three(books: Seeded) -> list[tuple[str, dict[str, Any]]]:
    ids = books.ids
    return [("record_payment", {"invoice_id": ids["initech_january"], "amount": "100.00"}),
            ("log_time", {"client_id": ids["acme"], "date": "2026-03-31", "hours": "1.5", "role": "Engineer",
                          "description": "Firewall change"}),
            ("draft_invoice", {"client_id": ids["globex"], "month": "2026-04"})]


EFFECTS = ("Record a payment of 100.00 EUR received", "on invoice INV-2026-000001 for Initech AG",
           "balance 1,142.40 EUR -> 1,042.40 EUR",
           "Log 1.50 h on Acme GmbH for 2026-03-31 as Engineer, by fin@books.example: Firewall change",
           "Draft an invoice for Globex Ltd, 2026-04-01 to 2026-04-30: 2,400.00 GBP")


@pytest.fixture
def served_chat(api_server: ServedApp, books: Seeded) -> Iterator[ScriptedOpenAI]:
    """The API's chat on this test's books, its model a scripted server (filled in by the test)."""
    with ScriptedOpenAI([]) as srv:
        chat = Chat.open(books.db, _settings(srv))
        api_server.app.state.chat = chat
        try:
            yield srv
        finally:
            api_server.app.state.chat = None
            chat.close()


def test_http_pending_action_lists_every_change_and_no_changes_nothing(server: str, books: Seeded,
                                                                        served_chat: ScriptedOpenAI) -> None:
    served_chat.script += [_proposal(_three(books)), say("Nothing was done.")]
    token = users.rotate_token(books.db.uow(), Actor.system("tests"), PEOPLE["finance"][0])
    before = books_state(books.db)
    with Api(server, token) as fin:
        thread = fin.ok("POST", "/v1/chat/threads", 201)["thread_id"]
        asked = fin.ok("POST", f"/v1/chat/threads/{thread}/messages", 200, json={"text": "pay, log and draft"})
        pending = asked["pending_action"]
        assert [a["tool"] for a in pending["actions"]] == ["record_payment", "log_time", "draft_invoice"]
        effects = " | ".join(a["effect"] for a in pending["actions"])
        assert all(e in effects for e in EFFECTS)
        assert pending["summary"].startswith("These 3 changes, together")
        assert fin.ok("GET", f"/v1/chat/threads/{thread}")["pending_action"] == pending
        done = fin.ok("POST", f"/v1/chat/threads/{thread}/actions/{pending['id']}", 200, json={"decision": "reject"})
    assert done["pending_action"] is None and done["reply"] == "Nothing was done."
    assert books_state(books.db) == before


@pytest.fixture
def cli_model(books_lite: Seeded, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI([]) as srv:
        monkeypatch.setenv("BILLABLE_DATABASE_URL", books_lite.db.engine.url.render_as_string(hide_password=False))
        monkeypatch.setenv("BILLABLE_MODEL", "local-model")
        monkeypatch.setenv("BILLABLE_MODEL_BASE_URL", srv.base_url)
        monkeypatch.setenv("BILLABLE_MODEL_API_KEY", "test-key")
        yield srv


def test_cli_chat_shows_the_changes_together_and_n_does_nothing(books_lite: Seeded, cli_model: ScriptedOpenAI,
                                                                ) -> None:
    cli_model.script += [_proposal(_three(books_lite)), say("Nothing was done.")]
    before = books_state(books_lite.db)
    r = runner.invoke(cli, ["chat", "--as", "fin@books.example"], input="pay, log and draft\nn\nquit\n")
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.replace("│", " ").split())
    assert "Please confirm (all 3 together)" in flat and "Nothing was done." in flat
    assert all(" ".join(e.split()) in flat for e in EFFECTS), flat
    assert books_state(books_lite.db) == before


def test_cli_ask_offers_a_model_no_write_without_yes_and_confirms_all_with_it(books_lite: Seeded,
                                                                             cli_model: ScriptedOpenAI) -> None:
    cli_model.script += [say("I can only read here."), _proposal(_three(books_lite)), say("Done: all three.")]
    seq = _last_seq(books_lite.db)
    r = runner.invoke(cli, ["ask", "--as", "fin@books.example", "pay, log and draft"])
    assert r.exit_code == 0 and "I can only read here." in r.output
    offered = set(cli_model.requests[0].tool_names)
    assert offered and not offered & WRITES
    r = runner.invoke(cli, ["ask", "--as", "fin@books.example", "--yes", "pay, log and draft"])
    assert r.exit_code == 0, r.output
    assert "Confirmed by --yes: These 3 changes, together" in r.output and "Done: all three." in r.output
    assert "log_time" in cli_model.requests[1].tool_names  # a person who can confirm gets the writes
    assert _last_seq(books_lite.db) == seq + 3
    fin = books_lite.actor("finance")
    assert invoicing.get_invoice(books_lite.db.uow(), fin, books_lite.ids["initech_january"]).balance == "1042.40"
