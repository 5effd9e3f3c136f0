"""The LLM agent: model choice, create_agent with guard rails (confirmation gate on money, limits, a retry for
malformed tool calls), one agent per role and channel, and thread memory on our database.

    chat = Chat.open(db, settings)            # BILLABLE_MODEL, or the offline interpreter when unset
    thread = chat.open_thread(actor)
    reply = chat.send(actor, thread, "status of Acme's March invoice")
    if reply.pending: reply = chat.decide(actor, thread, reply.pending.id, "approve")
"""

from agent._chat import MAX_MESSAGE, Chat, ModelUnavailable, PendingAction, Reply
from agent._memory import TABLES as MEMORY_TABLES
from agent._memory import Memory, open_memory
from agent._model import make_model
from agent._offline import OfflineInterpreter
from tools import Channel

__all__ = ["MAX_MESSAGE", "MEMORY_TABLES", "Channel", "Chat", "Memory", "ModelUnavailable", "OfflineInterpreter",
           "PendingAction", "Reply", "make_model", "open_memory"]
