"""Slack's door to a model's writes (issue 14): the changes one response proposes are shown in the thread, one
section each with its server-computed effect, under one Confirm / Cancel; Cancel writes nothing."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest

from agent import Chat
from domain.services import invoicing
from tests.agent.test_write_gate import _last_seq, _proposal, _settings
from tests.agent.test_write_gate_doors import EFFECTS, _three
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fakes.openai_server import text as say
from tests.fakes.slack_api import block_text
from tests.slack.conftest import GENERAL, SlackClient, SlackServer


@pytest.fixture
def slack_model(slack: SlackClient, slack_server: SlackServer) -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI([]) as srv:
        chat = Chat.open(slack.books.db, _settings(srv))
        slack_server.app.state.chat = chat
        try:
            yield srv
        finally:
            slack_server.app.state.chat = None
            chat.close()


def test_slack_shows_each_change_and_cancel_does_nothing(slack: SlackClient,  slack_model: ScriptedOpenAI) -> None:
    books = slack.books
    slack_model.script += [_proposal(_three(books)), say("Nothing was done.")]
    seq = _last_seq(books.db)
    _, ts = slack.mention("UFIN", "pay, log and draft")
    prompt = slack.wait_reply(GENERAL, ts)[0]
    sections = [b["text"]["text"] for b in prompt["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("Please confirm these 3 changes, together")
    assert [s[:3] for s in sections[1:]] == ["1. ", "2. ", "3. "]  # one section each: none cut off
    shown = html.unescape(block_text(prompt["blocks"]))  # book data reaches Slack escaped (&amp;, &lt;, &gt;)
    assert all(e in shown for e in EFFECTS)
    buttons = {e["action_id"]: e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {"action_confirm", "action_cancel"}  # one Confirm / Cancel for all three
    slack.click("UFIN", "action_cancel", buttons["action_cancel"]["value"], prompt)
    assert "Nothing was done." in slack.wait_reply(GENERAL, ts, n=2)[1]["text"]
    assert _last_seq(books.db) == seq  # no audit entry: nothing was written
    fin = books.actor("finance")
    assert invoicing.get_invoice(books.db.uow(), fin, books.ids["initech_january"]).balance == "1142.40"
    assert invoicing.list_invoices(books.db.uow(), fin, status="draft") == []
