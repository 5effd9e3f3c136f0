"""The agent's guard rails, as LangChain middleware: the system prompt rendered for the person, limits per
turn, a retry for malformed tool calls, and the confirmation gate: with a model, on every write tool (all the
writes one model call proposes wait together, in one interrupt, for one yes or no); with the offline interpreter,
on those that move money."""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    HumanInTheLoopMiddleware,
    ModelCallLimitMiddleware,
    ModelRequest,
    ToolCallLimitMiddleware,
    dynamic_prompt,
    hook_config,
)
from langchain.agents.middleware.human_in_the_loop import InterruptOnConfig
from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langgraph.runtime import Runtime

from domain.errors import BillingError
from prompts import render
from tools import CAN_CONFIRM, ToolContext, ToolSpec

MAX_MODEL_CALLS = 12  # per turn, confirmations included (the run counter survives a resume)
MAX_TOOL_CALLS = 20  # every write tool (15) and a few reads fit in one turn: one proposal, one yes


def system_prompt(specs: tuple[ToolSpec, ...], every_write: bool = True) -> AgentMiddleware[Any, ToolContext]:
    """The system prompt and the billing policy, rendered per call for the person the run acts for."""
    tools = [{"name": s.name, "kind": s.kind.value, "confirm": s.waits(every_write)} for s in specs]

    @dynamic_prompt
    def prompt(request: ModelRequest[ToolContext]) -> str:
        ctx = request.runtime.context
        today = ctx.db.clock.today()
        person = ctx.actor.email or ctx.actor.label
        return render("system", today=today.isoformat(), weekday=today.strftime("%A"), person=person,
                      role=ctx.actor.role.value.replace("_", " "), channel=ctx.channel.value, tools=tools,
                      policy=render("policy", person=person, can_confirm=ctx.channel in CAN_CONFIRM,
                                    every_write=every_write))

    return prompt


class RepairInvalidToolCalls(AgentMiddleware[AgentState[Any], ToolContext]):
    """A tool call whose arguments are not JSON would end the turn with an empty reply; instead, tell the model
    what was wrong and let it try again (bounded by the model-call limit)."""

    @hook_config(can_jump_to=["model"])
    def after_model(self, state: AgentState[Any], runtime: Runtime[ToolContext]) -> dict[str, Any] | None:
        last = state["messages"][-1]
        if not isinstance(last, AIMessage) or not last.invalid_tool_calls or last.tool_calls:
            return None
        errors = [ToolMessage(f"Your call to {c.get('name')} had arguments that are not a valid JSON object "
                              f"({(c.get('error') or 'unparseable')[:120]}). Call it again with valid JSON.",
                              tool_call_id=c["id"], name=c.get("name") or "unknown", status="error")
                  for c in last.invalid_tool_calls if c.get("id")]
        if not errors:
            return None
        return {"messages": errors, "jump_to": "model"}


def _describe(spec: ToolSpec) -> Any:
    assert spec.preview is not None
    preview = spec.preview

    def describe(tool_call: ToolCall, state: AgentState[Any], runtime: Runtime[ToolContext]) -> str:
        try:
            return preview(runtime.context, dict(tool_call["args"]))
        except BillingError as e:  # the tool will refuse too; say why now
            return f"{spec.name} with {tool_call['args']}: cannot be done as asked ({e.message})."
        except (KeyError, TypeError, ValueError) as e:
            return f"{spec.name} with {tool_call['args']}: the arguments are incomplete ({e})."

    return describe


def confirmation_gate(specs: tuple[ToolSpec, ...], every_write: bool = True) -> HumanInTheLoopMiddleware | None:
    """Pause before any tool of THIS agent that waits (`ToolSpec.waits`: with a model every write), built from the
    role's own tools (a gate listing a tool the agent lacks would pause on it too). Batched: the gated calls of
    one model response are one interrupt, decided together, and none of them runs before the decision (reads in
    the same response run after it). Only approve or reject: an edit would bypass the preview."""
    gated: dict[str, bool | InterruptOnConfig] = {
        s.name: InterruptOnConfig(allowed_decisions=["approve", "reject"], description=_describe(s))
        for s in specs if s.waits(every_write)}
    if not gated:
        return None
    return HumanInTheLoopMiddleware(interrupt_on=gated, description_prefix="Please confirm", interrupt_mode="batched")


def guard_rails(specs: tuple[ToolSpec, ...], every_write: bool = True) -> list[AgentMiddleware[Any, Any]]:
    out: list[AgentMiddleware[Any, Any]] = [
        system_prompt(specs, every_write),
        ModelCallLimitMiddleware(run_limit=MAX_MODEL_CALLS, exit_behavior="error"),
        RepairInvalidToolCalls(),
    ]
    gate = confirmation_gate(specs, every_write)
    if gate is not None:
        out.append(gate)
    # Listed after the gate, so its after_model runs BEFORE the gate's (they run in reverse order): a response
    # that would go over the budget ends the turn whole ("end": none of its calls runs) instead of being proposed
    # and then, after the person's yes, run only in part.
    out.append(ToolCallLimitMiddleware(run_limit=MAX_TOOL_CALLS, exit_behavior="end"))
    return out
