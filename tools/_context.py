"""What every tool call runs with: the database and the person the agent acts for. It comes from the run's
context (LangGraph's runtime context), never from the model's arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.model.roles import Actor
from domain.store.session import Database
from domain.store.uow import UnitOfWork


class Channel(StrEnum):
    CLI = "cli"        # billable chat: a person at a terminal, who can confirm
    HTTP = "http"      # the chat API: confirmations are the actions endpoint
    SLACK = "slack"    # (next) confirmations are buttons
    SCRIPT = "script"  # billable ask without --yes: nobody to confirm, so nothing that moves money


CAN_CONFIRM = frozenset({Channel.CLI, Channel.HTTP, Channel.SLACK})


@dataclass(frozen=True)
class ToolContext:
    db: Database
    actor: Actor  # the person; tools act as `actor.via_agent()`, so the audit log says "agent for <email>"
    channel: Channel = Channel.CLI
    thread_id: str = ""
    cause: dict[str, str] = field(default_factory=dict)

    @property
    def agent(self) -> Actor:
        return self.actor.via_agent()

    def uow(self, **cause: str) -> UnitOfWork:
        """A unit of work whose audit entries say where the request came from (channel and chat thread)."""
        uow = self.db.uow()
        uow.set_cause(channel=self.channel.value, thread_id=self.thread_id or None, **self.cause, **cause)
        return uow

    def reader(self) -> UnitOfWork:
        return self.db.uow(readonly=True)
