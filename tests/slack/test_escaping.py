"""Text from the books reaches Slack as text: a client named like a Slack control sequence (a channel ping, a link)
is shown escaped in agent replies, in slash-command answers and on approval cards, never interpreted."""

from __future__ import annotations

import json
from typing import Any

from channels.slack import _blocks
from domain.services import clients
from tests.slack.conftest import GENERAL, SlackClient

EVIL = "Acme GmbH <!channel> <https://evil.example|Pay here> & co"
LIVE = ("<!channel>", "<https://evil.example", "<!here>", "<@U")


def _live(text: str) -> list[str]:
    return [s for s in LIVE if s in text]


def _all_text(message: dict[str, Any]) -> str:
    return str(message.get("text") or "") + json.dumps(message.get("blocks") or [])


def test_an_agent_reply_in_slack_shows_a_hostile_client_name_escaped(slack: SlackClient) -> None:
    acme = slack.books.ids["acme"]
    clients.update_client(slack.books.db.uow(), slack.books.actor("owner"), acme, clients.ClientPatch(name=EVIL))
    _, ts = slack.mention("UFIN", "status of Acme's March invoice")
    reply = slack.wait_reply(GENERAL, ts)[0]
    assert "&lt;!channel&gt;" in reply["text"] and _live(_all_text(reply)) == []
    slack.command("UFIN", "status Acme")
    answer = slack.wait_ephemeral("UFIN")[0]
    assert "&lt;!channel&gt;" in answer["text"] and _live(answer["text"]) == []


def test_an_approval_card_and_its_top_level_text_escape_book_data() -> None:
    from domain.model.outbox_events import ApprovalRequested, CardLine, Finding

    p = ApprovalRequested(invoice_id=7, status="pending_approval", client_id=1, client_name=EVIL, currency="EUR",
                          total="10.00", subtotal="10.00", tax="0.00", period=["2026-03-01", "2026-03-31"],
                          requested_by="<!here>", flags=[Finding(code="x", outcome="flag", reason="<!channel>")],
                          lines=[CardLine(description="<https://evil.example|Pay here>", amount="10.00")],
                          line_count=1)
    title = _blocks.card_title(p)
    assert _live(title) == [] and "&lt;!channel&gt;" in title and "&amp; co" in title
    assert _live(json.dumps(_blocks.approval_card(p))) == []
