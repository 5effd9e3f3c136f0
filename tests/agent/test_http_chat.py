"""The chat over HTTP, through a real uvicorn server, on SQLite and PostgreSQL: threads, messages, pending actions
and decisions; the caller's token decides the role; threads are their owner's."""

from __future__ import annotations

import pytest

from domain.model.roles import Actor
from domain.services import users
from evals import Seeded
from evals._seed import PEOPLE
from tests.support.api import Api
from tests.support.fixtures import api_server, server

__all__ = ["api_server", "server"]


@pytest.fixture
def tokens(books: Seeded) -> dict[str, str]:
    return {who: users.rotate_token(books.db.uow(), Actor.system("tests"), email)
            for who, (email, _) in PEOPLE.items()}


def test_a_conversation_with_a_confirmation(server: str, books: Seeded, tokens: dict[str, str]) -> None:
    with Api(server, tokens["finance"]) as fin:
        thread = fin.ok("POST", "/v1/chat/threads", 201)["thread_id"]
        asked = fin.ok("POST", f"/v1/chat/threads/{thread}/messages", 200,
                       json={"text": "approve Acme's March invoice"})
        pending = asked["pending_action"]
        assert pending["summary"].startswith("Approve and issue draft #5 for Acme GmbH")
        assert "8,984.50 EUR" in pending["summary"] and "Please confirm" in asked["reply"]
        assert fin.ok("GET", f"/v1/chat/threads/{thread}")["pending_action"] == pending
        done = fin.ok("POST", f"/v1/chat/threads/{thread}/actions/{pending['id']}", 200,
                      json={"decision": "approve"})
        assert done["pending_action"] is None and "INV-2026-000005" in done["reply"]
        assert fin.ok("GET", f"/v1/invoices/{books.ids['acme_march']}")["status"] == "issued"
        view = fin.ok("GET", f"/v1/chat/threads/{thread}")
        assert [m["role"] for m in view["messages"]] == ["person", "agent"] and view["pending_action"] is None


def test_threads_are_private_and_decisions_are_checked(server: str, books: Seeded, tokens: dict[str, str]) -> None:
    with Api(server, tokens["finance"]) as fin, Api(server, tokens["finance2"]) as other, Api(server) as nobody:
        thread = fin.ok("POST", "/v1/chat/threads", 201)["thread_id"]
        assert nobody.post(f"/v1/chat/threads/{thread}/messages", json={"text": "hi"}).status_code == 401
        r = other.post(f"/v1/chat/threads/{thread}/messages", json={"text": "what's overdue?"})
        assert r.status_code == 404 and r.json()["code"] == "chat.thread_not_found"
        assert other.get(f"/v1/chat/threads/{thread}").status_code == 404
        pending = fin.ok("POST", f"/v1/chat/threads/{thread}/messages",
                         json={"text": "void INV-2026-000003 because duplicate"})["pending_action"]
        r = fin.post(f"/v1/chat/threads/{thread}/actions/nope", json={"decision": "approve"})
        assert r.status_code == 409 and r.json()["code"] == "chat.stale_action"
        r = fin.post(f"/v1/chat/threads/{thread}/actions/{pending['id']}", json={"decision": "maybe"})
        assert r.status_code == 422 and r.json()["field"] == "decision"
        assert fin.post(f"/v1/chat/threads/{thread}/messages", json={"text": ""}).status_code == 422
        # a new message cancels the pending void; deciding on it afterwards is a conflict
        moved_on = fin.ok("POST", f"/v1/chat/threads/{thread}/messages", json={"text": "what's overdue?"})
        assert moved_on["cancelled_action"] == pending and "INV-2026-000001" in moved_on["reply"]
        r = fin.post(f"/v1/chat/threads/{thread}/actions/{pending['id']}", json={"decision": "approve"})
        assert r.status_code == 409 and r.json()["code"] == "chat.no_pending_action"
        assert fin.ok("GET", f"/v1/invoices/{books.ids['globex_february']}")["status"] == "issued"


def test_the_token_decides_the_role(server: str, books: Seeded, tokens: dict[str, str]) -> None:
    with Api(server, tokens["contractor"]) as dev:
        thread = dev.ok("POST", "/v1/chat/threads", 201)["thread_id"]
        reply = dev.ok("POST", f"/v1/chat/threads/{thread}/messages", json={"text": "approve Acme's March invoice"})
        assert "can't approve invoices as a contractor" in reply["reply"] and reply["pending_action"] is None
        logged = dev.ok("POST", f"/v1/chat/threads/{thread}/messages",
                        json={"text": "log 2h on Acme today as Engineer: patching"})
        assert "Logged 2.00 h on Acme GmbH" in logged["reply"] and "dev@books.example" in logged["reply"]
