"""Conversations on SQLite and PostgreSQL: confirmations with server-computed amounts, the person (via the agent)
in the audit log, memory across Chat instances (the checkpointer on our database), decisions checked before
resuming, threads that belong to their owner, a new message cancelling a pending action, limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent import Channel, Chat
from agent._middleware import MAX_MODEL_CALLS, confirmation_gate
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.model.roles import Role
from domain.services import audit, invoicing
from evals import Seeded
from tests.agent.conftest import SETTINGS
from tools import tools_for


def _status(books: Seeded, key: str) -> str:
    return invoicing.get_invoice(books.db.uow(), books.actor("owner"), books.ids[key]).status


def test_confirmation_shows_server_amounts_then_acts_as_the_agent_for_the_person(chat: Chat, books: Seeded) -> None:
    fin = books.actor("finance")
    thread = chat.open_thread(fin)
    reply = chat.send(fin, thread, "approve Acme's March invoice")
    assert reply.pending is not None and _status(books, "acme_march") == "pending_approval"
    inv = invoicing.get_invoice(books.db.uow(), fin, books.ids["acme_march"])
    assert inv.total == "8984.50"
    assert "Approve and issue draft #5 for Acme GmbH, 2026-03-01 to 2026-03-31: 8,984.50 EUR" in reply.pending.summary
    assert chat.pending(fin, thread) == reply.pending  # stable id: what the HTTP door hands out

    done = chat.decide(fin, thread, reply.pending.id, "approve")
    assert done.pending is None and "Approved and issued invoice INV-2026-000005" in done.text
    entries = audit.audit_history(books.db.uow(), fin, "invoice", str(inv.id))
    approved = next(e for e in entries if e.action == "invoice.approved")
    assert (approved.actor_kind, approved.actor) == ("agent", "agent for fin@books.example")
    assert approved.cause == {"channel": "http", "thread_id": thread, "confirmed_by": "fin@books.example"}


def test_a_pending_action_survives_a_new_chat_instance(chat: Chat, books: Seeded) -> None:
    """The interrupt lives in the checkpointer on our database: another process (here another Chat, with its
    own connection or pool) sees it and resumes it; the tool runs once, there."""
    fin = books.actor("finance")
    thread = chat.open_thread(fin)
    pending = chat.send(fin, thread, "void INV-2026-000003 because duplicate").pending
    assert pending is not None
    chat.close()
    other = Chat.open(books.db, SETTINGS)
    try:
        assert other.pending(fin, thread) == pending
        other.decide(fin, thread, pending.id, "approve")
        assert _status(books, "globex_february") == "void"
        assert [m["role"] for m in other.history(fin, thread)] == ["person", "agent"]
    finally:
        other.close()
    chat.memory = other.memory  # the fixture closes the chat again: closing twice is harmless


def test_decisions_are_checked_before_resuming(chat: Chat, books: Seeded) -> None:
    fin = books.actor("finance")
    thread = chat.open_thread(fin)
    with pytest.raises(Conflict) as nothing:
        chat.decide(fin, thread, "abc", "approve")
    assert nothing.value.code == "chat.no_pending_action"
    pending = chat.send(fin, thread, "void INV-2026-000003 because duplicate").pending
    assert pending is not None
    with pytest.raises(Conflict) as stale:
        chat.decide(fin, thread, "not-the-id", "approve")
    assert stale.value.code == "chat.stale_action"
    with pytest.raises(ValidationFailed):
        chat.decide(fin, thread, pending.id, "maybe")
    # none of that poisoned the thread: the real decision still works
    assert "did not void" in chat.decide(fin, thread, pending.id, "reject", reason="wrong one").text
    assert _status(books, "globex_february") == "issued"


def test_threads_belong_to_their_owner(chat: Chat, books: Seeded) -> None:
    fin, fin2 = books.actor("finance"), books.actor("finance2")
    thread = chat.open_thread(fin)
    chat.send(fin, thread, "what's overdue?")
    for who, tid in ((fin2, thread), (fin, "t1.AAAAAAAAAAAAAAAA.000000000000000000000000"),
                     (fin, thread[:-1] + ("0" if thread[-1] != "0" else "1")), (fin, "anything")):
        with pytest.raises(NotFound):
            chat.send(who, tid, "hello")
    with pytest.raises(NotFound):
        chat.history(fin2, thread)


def test_a_new_message_cancels_the_pending_action(chat: Chat, books: Seeded) -> None:
    fin = books.actor("finance")
    thread = chat.open_thread(fin)
    pending = chat.send(fin, thread, "void INV-2026-000003 because duplicate").pending
    reply = chat.send(fin, thread, "what's overdue?")
    assert reply.cancelled == pending and reply.pending is None
    assert "cancelled" in reply.text and "INV-2026-000001" in reply.text
    assert _status(books, "globex_february") == "issued" and chat.pending(fin, thread) is None
    # the thread goes on normally: a new action, confirmed by a plain "yes"
    assert chat.send(fin, thread, "void INV-2026-000003 because duplicate").pending is not None
    assert "Voided" in chat.send(fin, thread, "yes").text
    assert _status(books, "globex_february") == "void"


def test_a_plain_no_declines(chat: Chat, books: Seeded) -> None:
    fin = books.actor("finance")
    thread = chat.open_thread(fin)
    chat.send(fin, thread, "record a payment of 100.00 on INV-2026-000001")
    assert "nothing was done" in chat.send(fin, thread, "no").text
    assert _status(books, "initech_january") == "issued"


def test_each_role_gets_its_own_tools_and_its_own_gate() -> None:
    names = {role: {s.name for s in tools_for(role, Channel.HTTP)} for role in Role}
    assert names[Role.CONTRACTOR] == {"find_client", "my_time_entries", "log_time"}
    assert "approve_invoice" not in names[Role.ACCOUNT_MANAGER] and "draft_invoice" in names[Role.ACCOUNT_MANAGER]
    assert not {"draft_invoice", "log_time", "issue_invoice"} & names[Role.VIEWER]
    money = {"issue_invoice", "approve_invoice", "void_invoice", "credit_note", "record_payment", "send_invoice",
             "apply_parked_payment", "dismiss_parked_payment", "amend_arrangement", "end_arrangement",
             "decide_amendment"}
    # an account manager may propose an amendment (for finance) but not end a contract
    assert "amend_arrangement" in names[Role.ACCOUNT_MANAGER] and "end_arrangement" not in names[Role.ACCOUNT_MANAGER]
    writes = money | {"draft_invoice", "add_manual_line", "log_time", "complete_milestone", "reject_invoice"}
    # With a model, every write waits (the contractor's log_time too); nothing waits for a viewer (no writes).
    assert set(confirmation_gate(tools_for(Role.CONTRACTOR, Channel.HTTP)).interrupt_on) == {"log_time"}
    assert confirmation_gate(tools_for(Role.VIEWER, Channel.HTTP)) is None
    gate = confirmation_gate(tools_for(Role.FINANCE, Channel.HTTP))
    assert gate is not None and set(gate.interrupt_on) == writes
    # Where nobody can confirm, a model gets no write at all.
    assert not {s.name for s in tools_for(Role.OWNER, Channel.SCRIPT)} & writes
    # The offline interpreter: money waits, the rest runs; off a confirming channel, nothing that moves money.
    assert confirmation_gate(tools_for(Role.CONTRACTOR, Channel.HTTP, every_write=False), every_write=False) is None
    offline = confirmation_gate(tools_for(Role.FINANCE, Channel.HTTP, every_write=False), every_write=False)
    assert offline is not None and set(offline.interrupt_on) == money
    script = {s.name for s in tools_for(Role.OWNER, Channel.SCRIPT, every_write=False)}
    assert not script & money and "draft_invoice" in script


class _Looping(BaseChatModel):
    """A model that never stops calling tools."""

    @property
    def _llm_type(self) -> str:
        return "looping"

    def bind_tools(self, tools: Sequence[Any], **kw: Any) -> Runnable[Any, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kw: Any) -> ChatResult:
        n = len(messages)
        call = {"name": "find_client", "args": {"name": "Acme"}, "id": f"c{n}", "type": "tool_call"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage("", tool_calls=[call]))])


def test_the_model_call_limit_ends_a_runaway_turn(books: Seeded) -> None:
    chat = Chat.open(books.db, SETTINGS, _Looping())
    try:
        fin = books.actor("finance")
        thread = chat.open_thread(fin)
        reply = chat.send(fin, thread, "loop")
        assert f"more than {MAX_MODEL_CALLS} steps" in reply.text
        assert chat.send(fin, thread, "again").text == reply.text  # the thread is still usable
    finally:
        chat.close()
