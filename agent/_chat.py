"""Conversations: what every door (CLI, HTTP, Slack) calls. One agent per role and channel, built with only
that role's tools; memory per thread in our database. With a model, every write waits for the person's
confirmation: the writes one model response proposes are shown together, each with its server-computed effect,
and confirmed or refused together; "no" writes nothing. With the offline interpreter, money waits.

A new message while an action waits for confirmation CANCELS that action first (it is recorded in the thread
as not executed, so the model knows) and the reply says so. We chose cancelling over refusing with 409: in a
conversation, typing something else is how people say "no, wait"; the HTTP door still answers 409 to a
decision on an action that is no longer pending.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain.agents import create_agent
from langchain.agents.middleware.model_call_limit import ModelCallLimitExceededError
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ModelAPIError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Interrupt

from agent._memory import Memory, open_memory
from agent._middleware import MAX_MODEL_CALLS, guard_rails
from agent._model import make_model
from agent._offline import OfflineInterpreter
from agent._threads import derived_thread_id, new_thread_id, owner_of
from domain.errors import BillingError, Conflict, NotFound, ValidationFailed
from domain.model.roles import Actor, Role
from domain.settings import Settings
from domain.store.session import Database
from tools import Channel, ToolContext, tools_for

MAX_MESSAGE = 8000
Decision = Literal["approve", "reject"]
_GATE_NODE = "HumanInTheLoopMiddleware.after_model"
_YES = frozenset({"y", "yes", "approve", "confirm", "ok", "go ahead"})
_NO = frozenset({"n", "no", "reject", "cancel", "don't", "stop"})


class ModelUnavailable(BillingError):
    code = "agent.model_unavailable"
    status = 503


@dataclass(frozen=True)
class PendingAction:
    """What waits for the person's yes or no: one id, and what will happen (amounts computed by the server). With
    several actions, `summary` numbers them and says they are decided together; `actions` are the tool calls
    ({"name", "args", "description"}: the description is that call's effect)."""

    id: str
    summary: str
    actions: tuple[dict[str, Any], ...]

    @property
    def effects(self) -> list[str]:
        return [str(a.get("description", a.get("name"))) for a in self.actions]


@dataclass(frozen=True)
class Reply:
    thread_id: str
    text: str
    pending: PendingAction | None = None
    cancelled: PendingAction | None = None  # an action this message cancelled


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content.strip()
    return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content).strip()


def _pending(interrupts: Sequence[Interrupt]) -> PendingAction | None:
    if not interrupts:
        return None
    first = interrupts[0]
    actions = tuple(dict(a) for a in first.value.get("action_requests", []))
    effects = [str(a.get("description", a.get("name"))) for a in actions]
    if len(effects) == 1:
        return PendingAction(first.id, effects[0], actions)
    summary = f"These {len(effects)} changes, together (one yes does all of them, one no none of them):\n" + \
        "\n".join(f"{i}. {e}" for i, e in enumerate(effects, 1))
    return PendingAction(first.id, summary, actions)


class Chat:
    """`chat.open_thread(actor)`, `chat.send(actor, thread, text)`, `chat.decide(actor, thread, id, "approve")`."""

    def __init__(self, db: Database, model: BaseChatModel, memory: Memory, secret: str,
                 every_write: bool | None = None) -> None:
        self.db, self.model, self.memory, self._secret = db, model, memory, secret
        # Which writes wait for the person: with a model, every one (it may propose what nobody asked for); the
        # offline interpreter does only what the person's own words say, so there money waits (tools.ToolSpec).
        self.every_write = not isinstance(model, OfflineInterpreter) if every_write is None else every_write
        self._agents: dict[tuple[Role, Channel], Any] = {}
        self._build = threading.Lock()
        self._threads = [threading.Lock() for _ in range(64)]  # one conversation turn at a time per thread

    @classmethod
    def open(cls, db: Database, settings: Settings, model: BaseChatModel | str | None = None) -> Chat:
        """A chat on this database, with the model the settings name (or the one given)."""
        llm = model if isinstance(model, BaseChatModel) else make_model(settings, model)
        memory = open_memory(db.engine.url.render_as_string(hide_password=False))
        return cls(db, llm, memory, settings.secret_key)

    def close(self) -> None:
        self.memory.close()

    # ---- agents ----------------------------------------------------------------------------------------------

    def agent(self, role: Role, channel: Channel) -> Any:
        """The agent for a role on a channel: only that role's tools, its own confirmation gate."""
        key = (role, channel)
        with self._build:
            if key not in self._agents:
                specs = tools_for(role, channel, self.every_write)
                self._agents[key] = create_agent(
                    self.model, tools=[s.tool for s in specs], middleware=guard_rails(specs, self.every_write),
                    context_schema=ToolContext, checkpointer=self.memory.saver, name=f"billable-{role}-{channel}")
            return self._agents[key]

    # ---- threads -----------------------------------------------------------------------------------------------

    def open_thread(self, actor: Actor, key: str | None = None) -> str:
        """A new thread for the person; with `key` (e.g. a Slack thread), that conversation's thread, the same
        every time for this person."""
        if actor.user_id is None:
            raise ValidationFailed("only people have chat threads", field="actor")
        if key is not None:
            return derived_thread_id(self._secret, actor.user_id, key)
        return new_thread_id(self._secret, actor.user_id)

    def _owned(self, actor: Actor, thread_id: str) -> None:
        owner = owner_of(self._secret, thread_id)
        if owner is None or owner != actor.user_id:  # someone else's looks exactly like none at all
            raise NotFound(f"no chat thread {thread_id}", code="chat.thread_not_found", field="thread_id")

    def _config(self, thread_id: str, callbacks: list[BaseCallbackHandler] | None) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "callbacks": callbacks or [], "recursion_limit": 100}

    def _lock(self, thread_id: str) -> threading.Lock:
        return self._threads[hash(thread_id) % len(self._threads)]

    def pending(self, actor: Actor, thread_id: str, channel: Channel = Channel.HTTP) -> PendingAction | None:
        self._owned(actor, thread_id)
        state = self.agent(actor.role, channel).get_state(self._config(thread_id, None))
        return _pending(state.interrupts)

    def history(self, actor: Actor, thread_id: str, channel: Channel = Channel.HTTP) -> list[dict[str, str]]:
        """The conversation as the person saw it: their messages and the agent's replies."""
        self._owned(actor, thread_id)
        state = self.agent(actor.role, channel).get_state(self._config(thread_id, None))
        out = []
        for m in state.values.get("messages", []):
            if isinstance(m, HumanMessage) or (isinstance(m, AIMessage) and _text(m)):
                out.append({"role": "person" if isinstance(m, HumanMessage) else "agent", "text": _text(m)})
        return out

    # ---- turns -------------------------------------------------------------------------------------------------

    def send(self, actor: Actor, thread_id: str, text: str, channel: Channel = Channel.HTTP,
             callbacks: list[BaseCallbackHandler] | None = None) -> Reply:
        """One message from the person; the reply, or an action waiting for their confirmation."""
        self._owned(actor, thread_id)
        text = (text or "").strip()
        if not text:
            raise ValidationFailed("say something", field="text")
        if len(text) > MAX_MESSAGE:
            raise ValidationFailed(f"at most {MAX_MESSAGE} characters", field="text")
        graph = self.agent(actor.role, channel)
        config = self._config(thread_id, callbacks)
        ctx = ToolContext(self.db, actor, channel, thread_id)
        with self._lock(thread_id):
            pending = _pending(graph.get_state(config).interrupts)
            word = text.lower().rstrip(".!")
            if pending is not None and word in (_YES | _NO):  # a plain yes or no answers the confirmation
                return self._resume(graph, config, ctx, pending, "approve" if word in _YES else "reject", "")
            cancelled = self._cancel(graph, config)
            return self._turn(graph, {"messages": [HumanMessage(text)]}, config, ctx, cancelled)

    def decide(self, actor: Actor, thread_id: str, action_id: str, decision: str, reason: str = "",
               channel: Channel = Channel.HTTP, callbacks: list[BaseCallbackHandler] | None = None) -> Reply:
        """The person's yes or no to the pending action. Checked before resuming: a bad resume would be saved in
        the thread and replayed forever after."""
        self._owned(actor, thread_id)
        if decision not in ("approve", "reject"):
            raise ValidationFailed("must be approve or reject", field="decision")
        graph = self.agent(actor.role, channel)
        config = self._config(thread_id, callbacks)
        ctx = ToolContext(self.db, actor, channel, thread_id)  # whoever resumes acts: context is not persisted
        with self._lock(thread_id):
            pending = _pending(graph.get_state(config).interrupts)
            if pending is None:
                raise Conflict("nothing in this thread is waiting for a decision", code="chat.no_pending_action",
                               field="action_id")
            if pending.id != action_id:
                raise Conflict(f"that action is no longer pending; the one waiting is {pending.id}",
                               code="chat.stale_action", field="action_id", details={"pending_action": pending.id})
            return self._resume(graph, config, ctx, pending, decision, reason)

    def _resume(self, graph: Any, config: RunnableConfig, ctx: ToolContext, pending: PendingAction,
                decision: str, reason: str) -> Reply:
        one: dict[str, Any] = {"type": "approve"} if decision == "approve" else {
            "type": "reject", "message": (reason or "").strip()[:500] or "the person declined"}
        # one decision per action, in their order
        resume: Command[Any] = Command(resume={"decisions": [dict(one) for _ in pending.actions]})
        return self._turn(graph, resume, config, ctx, None)

    def _cancel(self, graph: Any, config: RunnableConfig) -> PendingAction | None:
        """Cancel a pending action (a new message instead of a decision): the tool calls get 'not executed'
        results, so the history stays valid for any model and the model knows nothing was done."""
        state = graph.get_state(config)
        pending = _pending(state.interrupts)
        if pending is None:
            return None
        last = state.values["messages"][-1]
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        graph.update_state(config, {"messages": [
            ToolMessage("Not executed: the person sent a new message instead of confirming, which cancels it.",
                        tool_call_id=c["id"], name=c["name"], status="error") for c in calls]}, as_node=_GATE_NODE)
        return pending

    def _turn(self, graph: Any, payload: Any, config: RunnableConfig, ctx: ToolContext,
              cancelled: PendingAction | None) -> Reply:
        thread_id = ctx.thread_id
        try:
            result = graph.invoke(payload, config, context=ctx)
        except ModelCallLimitExceededError:
            return Reply(thread_id, f"I stopped: that took more than {MAX_MODEL_CALLS} steps. Nothing further was "
                                    "done; ask again, more simply, or one thing at a time.", None, cancelled)
        except ModelAPIError as e:
            raise ModelUnavailable(f"the model did not answer ({type(e).__name__}); try again in a moment",
                                   field="model") from None
        pending = _pending(result.get("__interrupt__") or [])
        last = next((m for m in reversed(result["messages"]) if isinstance(m, AIMessage)), None)
        said = _text(last) if last is not None else ""
        if pending is not None:
            text = (said + "\n\n" if said else "") + f"Please confirm:\n{pending.summary}"
        else:
            text = said or "(no answer)"
        if cancelled is not None:
            text = f"(I cancelled what was waiting for your confirmation, nothing was done: {cancelled.summary})" \
                   f"\n\n{text}"
        return Reply(thread_id, text, pending, cancelled)
