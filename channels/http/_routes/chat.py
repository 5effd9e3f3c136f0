"""Chat with the billing agent: threads, messages, and decisions on actions that wait for confirmation.

The caller's token decides who speaks and so the role (and the agent's tools); a thread belongs to the user
who opened it (anyone else gets 404). A new message while an action waits cancels that action (the reply says
so); a decision on an action that is no longer pending is 409.
"""

from __future__ import annotations

import threading
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from agent import MAX_MESSAGE, Channel, Chat, PendingAction, Reply
from channels.http._deps import CurrentActor, get_db
from domain.store.session import Database

router = APIRouter(prefix="/v1/chat", tags=["chat"])
_lock = threading.Lock()


def get_chat(request: Request, db: Annotated[Database, Depends(get_db)]) -> Chat:
    """The app's chat on the database it serves (made on first use; remade if the app is pointed elsewhere)."""
    return chat_of(request.app, db)


def chat_of(app: FastAPI, db: Database) -> Chat:
    """The app's chat on `db` (shared by the HTTP and Slack doors)."""
    with _lock:
        chat: Chat | None = getattr(app.state, "chat", None)
        if chat is None or chat.db is not db:
            if chat is not None:
                chat.close()
            chat = app.state.chat = Chat.open(db, app.state.settings)
        return chat


def close_chat(app: FastAPI) -> None:
    with _lock:
        chat: Chat | None = getattr(app.state, "chat", None)
        if chat is not None:
            chat.close()
            app.state.chat = None


ChatDep = Annotated[Chat, Depends(get_chat)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_In):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE, examples=["status of Acme's March invoice"])


class DecisionIn(_In):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=500, description="Why not, when rejecting (the agent is told)")


class ThreadOut(BaseModel):
    thread_id: str


class ProposedAction(BaseModel):
    tool: str = Field(description="The agent's tool")
    effect: str = Field(description="What it will do, computed by the server from the books")


class PendingOut(BaseModel):
    id: str = Field(description="Decide with POST /v1/chat/threads/{thread_id}/actions/{id}: one decision for all "
                                "its actions")
    summary: str = Field(description="What will happen, with amounts the server computed (every action)")
    actions: list[ProposedAction] = Field(default_factory=list, description="Each change proposed, in order; "
                                                                            "approved or rejected together")

    @classmethod
    def of(cls, p: PendingAction | None) -> PendingOut | None:
        if p is None:
            return None
        return cls(id=p.id, summary=p.summary, actions=[
            ProposedAction(tool=str(a.get("name")), effect=e) for a, e in zip(p.actions, p.effects, strict=True)])


class ReplyOut(BaseModel):
    thread_id: str
    reply: str
    pending_action: PendingOut | None = Field(default=None, description="Waits for approve or reject")
    cancelled_action: PendingOut | None = Field(default=None, description="Cancelled by this message")

    @classmethod
    def of(cls, r: Reply) -> ReplyOut:
        return cls(thread_id=r.thread_id, reply=r.text, pending_action=PendingOut.of(r.pending),
                   cancelled_action=PendingOut.of(r.cancelled))


class ChatMessage(BaseModel):
    role: Literal["person", "agent"]
    text: str


class ThreadView(BaseModel):
    thread_id: str
    messages: list[ChatMessage]
    pending_action: PendingOut | None = None


@router.post("/threads", status_code=201, summary="Open a chat thread (it is yours alone)")
def open_thread(actor: CurrentActor, chat: ChatDep) -> ThreadOut:
    return ThreadOut(thread_id=chat.open_thread(actor))


@router.get("/threads/{thread_id}", summary="The conversation so far, and any action waiting for a decision")
def get_thread(thread_id: str, actor: CurrentActor, chat: ChatDep) -> ThreadView:
    messages = [ChatMessage.model_validate(m) for m in chat.history(actor, thread_id)]
    return ThreadView(thread_id=thread_id, messages=messages, pending_action=PendingOut.of(
        chat.pending(actor, thread_id)))


@router.post("/threads/{thread_id}/messages", summary="Say something; get the reply (or an action to confirm)")
def send_message(thread_id: str, body: MessageIn, actor: CurrentActor, chat: ChatDep) -> ReplyOut:
    return ReplyOut.of(chat.send(actor, thread_id, body.text, Channel.HTTP))


@router.post("/threads/{thread_id}/actions/{action_id}", summary="Approve or reject the action waiting in a thread")
def decide(thread_id: str, action_id: str, body: DecisionIn, actor: CurrentActor, chat: ChatDep) -> ReplyOut:
    return ReplyOut.of(chat.decide(actor, thread_id, action_id, body.decision, body.reason, Channel.HTTP))
