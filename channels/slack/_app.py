"""The Slack app (Bolt for Python) on our FastAPI process: mentions and DMs to the agent, approval cards' buttons,
confirmations of the agent's money moves, the `/billable` slash command.

Ack first, work after. Every listener acknowledges at once and does its work in a Bolt *lazy listener*, which Bolt
runs on its thread pool after the HTTP answer is sent. We chose lazy listeners over our job queue
(domain/services/jobs.py) because the work is a conversation turn that must reach Slack in seconds, not a billing
fact that must survive a crash: the queue would add a round trip through the database and the worker's poll to
every reply, and a new job kind to a queue whose rows are billing events. What must survive is already durable
elsewhere: the delivery key is committed before the ack (a retry is dropped, in any process, after a restart), a
pending action lives in the agent's checkpointer, approvals are committed by the domain service with their outbox
message. If the process dies mid-turn, that one reply is lost and the person asks again; nothing is done twice.

Bolt's FastAPI handler calls `App.dispatch` on the event loop; we run it in the thread pool instead (same Bolt
request/response conversion), so a slow database never stalls other requests' acks.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from agent import Channel, Chat, Reply
from channels.http._problems import problem
from channels.slack import _blocks
from channels.slack._sender import web_client
from channels.slack._users import Refused, actor_for
from domain.errors import BadTransition, BillingError, Conflict, Forbidden, NotFound
from domain.model.roles import Actor, Perm
from domain.services import clients, invoicing
from domain.services import slack as slack_links
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.slack")

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
HELP = ("*/billable* commands:\n• `status <client>`: that client's invoices and where each stands\n"
        "• `overdue`: invoices past their due date\n• `approvals`: invoices waiting for an approver\n"
        "• `help`: this list\nOr mention me in a channel (or DM me) and ask in your own words.")
LAZY_WORKERS = 2
ONLY_APPROVERS = "Only finance or an owner can approve or reject invoices; {why}"


class SlackDoor:
    """The Bolt app and what its listeners need: the database and chat of the process, and the worker to wake."""

    def __init__(self, settings: Settings, get_db: Callable[[], Database], get_chat: Callable[[], Chat],
                 wake: Callable[[], None] = lambda: None) -> None:
        self.settings, self.get_db, self.get_chat, self.wake = settings, get_db, get_chat, wake
        self.approvals = settings.slack_approvals_channel or ""
        client = web_client(settings)
        # Replies from listeners wait out a 429 themselves (a person is waiting); the outbox sender does not.
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        assert settings.slack_signing_secret is not None
        self.signing_secret = settings.slack_signing_secret.get_secret_value()
        # Two threads for the work after the ack: agent turns are CPU-bound Python, and more of them at once only
        # make each ack wait longer for the GIL (a backlog of replies waits its turn instead; Slack does not).
        self.app = App(signing_secret=settings.slack_signing_secret.get_secret_value(), client=client,
                       token_verification_enabled=False, name="billable",
                       listener_executor=ThreadPoolExecutor(max_workers=LAZY_WORKERS, thread_name_prefix="slack"))
        self.app.use(self._once)
        self.app.event("app_mention")(ack=_ack, lazy=[self._mention])
        self.app.event("message")(ack=_ack, lazy=[self._direct_message])
        self.app.action(_blocks.APPROVE)(ack=_ack, lazy=[self._approve])
        self.app.action(_blocks.REJECT)(ack=_ack, lazy=[self._reject_clicked])
        self.app.view(_blocks.REJECT_VIEW)(ack=_ack_reason, lazy=[self._reject_submitted])
        self.app.action(_blocks.CONFIRM)(ack=_ack, lazy=[self._confirm])
        self.app.action(_blocks.CANCEL)(ack=_ack, lazy=[self._confirm])
        self.app.command("/billable")(ack=_ack, lazy=[self._command])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        refused = _unauthentic(request.headers, body, self.signing_secret, time.time())
        if refused is not None:
            return refused
        # Signed, so from Slack; still, a payload we cannot read is the sender's problem (422), never a crash.
        try:
            _check_payload(request.headers.get("content-type", ""), body)
            bolt_request = to_bolt_request(request, body)
        except (ValueError, TypeError, KeyError, RecursionError) as e:
            return problem(422, "slack.bad_payload", f"the signed payload is not one Slack sends ({e})", "body")
        bolt = await run_in_threadpool(self.app.dispatch, bolt_request)
        if bolt.status >= 500:
            # Our acks only acknowledge (the work runs after, in lazy listeners), so a 5xx from Bolt before the ack
            # means Bolt could not read the signed payload's shape (it logged why): the sender's problem.
            return problem(422, "slack.bad_payload", "the signed payload is not one Slack sends", "body")
        return to_starlette_response(bolt)

    # ---- the gate: each delivery once --------------------------------------------------------------------------

    def _once(self, body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        """Drop retries and duplicates (X-Slack-Retry-Num, the same event id again), recorded in the database so
        every process and a restarted one agree; they are acknowledged so Slack stops resending."""
        key = _delivery_key(body)
        if key is not None and not slack_links.first_delivery(self.get_db().uow(), key):
            return BoltResponse(status=200, body="")
        return next()

    # ---- conversations ---------------------------------------------------------------------------------------------

    def _mention(self, body: dict[str, Any], client: WebClient) -> None:
        ev = body["event"]
        thread = ev.get("thread_ts") or ev["ts"]
        self._converse(body, client, ev, thread_ts=thread, key=f"{body.get('team_id')}:{ev['channel']}:{thread}")

    def _direct_message(self, body: dict[str, Any], client: WebClient) -> None:
        ev = body["event"]
        if ev.get("channel_type") != "im" or ev.get("subtype") or ev.get("bot_id"):
            return  # channel chatter, edits, our own messages: only mentions and DMs are for us
        thread = ev.get("thread_ts")
        key = f"{body.get('team_id')}:{ev['channel']}:{thread or 'dm'}"  # a DM is one conversation
        self._converse(body, client, ev, thread_ts=thread, key=key)

    def _converse(self, body: dict[str, Any], client: WebClient, ev: dict[str, Any], thread_ts: str | None,
                  key: str) -> None:
        channel = ev["channel"]
        try:
            actor = actor_for(self.get_db(), client, str(body.get("team_id", "")), ev["user"])
        except Refused as r:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=_blocks.esc(r))
            return
        text = html.unescape(_MENTION.sub("", ev.get("text") or "")).strip() or "help"
        chat = self.get_chat()
        try:
            reply = chat.send(actor, chat.open_thread(actor, key), text, Channel.SLACK)
        except BillingError as e:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=f"Sorry: {_blocks.esc(e.message)}")
            return
        self._post_reply(client, channel, thread_ts, reply, actor, key)

    def _post_reply(self, client: WebClient, channel: str, thread_ts: str | None, reply: Reply, actor: Actor,
                    key: str) -> None:
        # The reply carries book data (client names, descriptions) and the model's words: shown, never interpreted
        # (a client named "<!channel>" must not ping the channel, nor "<https://...|Pay here>" become a link).
        text = _blocks.esc(reply.text)
        if reply.pending is None:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text[:39000])
            return
        value = {"u": actor.user_id, "k": key, "a": reply.pending.id}
        effects = [_blocks.esc(e) for e in reply.pending.effects] if reply.pending.effects is not None else None
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text[:39000],
                                blocks=_blocks.confirm_prompt(text, value, effects))

    def _confirm(self, body: dict[str, Any], client: WebClient) -> None:
        """Confirm / Cancel under an agent's proposal: only the person who asked decides, and only the action
        still waiting (checked before resuming: a bad resume would poison the thread)."""
        action = body["actions"][0]
        decision = "approve" if action["action_id"] == _blocks.CONFIRM else "reject"
        value = json.loads(action["value"])
        channel, user = body["channel"]["id"], body["user"]["id"]
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts")
        try:
            actor = actor_for(self.get_db(), client, _team(body), user)
        except Refused as r:
            client.chat_postEphemeral(channel=channel, user=user, text=_blocks.esc(r), thread_ts=thread_ts)
            return
        if actor.user_id != value.get("u"):
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts,
                                      text="Only the person who asked can confirm or cancel this.")
            return
        chat = self.get_chat()
        try:
            reply = chat.decide(actor, chat.open_thread(actor, value["k"]), value["a"], decision,
                                "cancelled in Slack" if decision == "reject" else "", Channel.SLACK)
        except Conflict:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts,
                                      text="That is no longer waiting for a decision; nothing was done.")
            return
        outcome = f"Confirmed by <@{user}>" if decision == "approve" else f"Cancelled by <@{user}>: nothing was done"
        original = str(message.get("text") or "")
        client.chat_update(channel=channel, ts=message.get("ts", ""), text=f"{original}\n{outcome}",
                           blocks=_blocks.confirm_done(original, outcome))
        self._post_reply(client, channel, thread_ts, reply, actor, value["k"])

    # ---- approval cards ----------------------------------------------------------------------------------------------

    def _approve(self, body: dict[str, Any], client: WebClient) -> None:
        channel, user = body["channel"]["id"], body["user"]["id"]
        invoice_id = int(body["actions"][0]["value"])
        try:
            actor = actor_for(self.get_db(), client, _team(body), user)
            invoicing.approve_invoice(self.get_db().uow(), actor, invoice_id, note="approved in Slack")
        except Refused as r:
            client.chat_postEphemeral(channel=channel, user=user, text=_blocks.esc(r))
        except BillingError as e:
            client.chat_postEphemeral(channel=channel, user=user, text=self._refusal(e, invoice_id))
        else:
            self.wake()  # the card is updated by the outbox (approval.decided), like a decision from any door

    def _reject_clicked(self, body: dict[str, Any], client: WebClient) -> None:
        channel, user = body["channel"]["id"], body["user"]["id"]
        invoice_id = int(body["actions"][0]["value"])
        try:
            actor = actor_for(self.get_db(), client, _team(body), user)
        except Refused as r:
            client.chat_postEphemeral(channel=channel, user=user, text=_blocks.esc(r))
            return
        if not actor.can(Perm.APPROVE):
            client.chat_postEphemeral(channel=channel, user=user, text=ONLY_APPROVERS.format(
                why=f"you are {actor.role.value.replace('_', ' ')}."))
            return
        client.views_open(trigger_id=body["trigger_id"], view=_blocks.reject_modal(invoice_id, channel))

    def _reject_submitted(self, body: dict[str, Any], client: WebClient) -> None:
        view, user = body["view"], body["user"]["id"]
        try:  # our own private_metadata comes back signed by Slack; still, read it defensively
            meta = json.loads(view.get("private_metadata") or "{}")
            invoice_id, channel = int(meta["invoice_id"]), str(meta.get("channel") or self.approvals)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            log.warning("a reject submission with unreadable private_metadata was ignored")
            return
        reason = _reason(view)
        try:
            actor = actor_for(self.get_db(), client, _team(body), user)
            invoicing.reject_invoice(self.get_db().uow(), actor, invoice_id, reason)
        except Refused as r:
            client.chat_postEphemeral(channel=channel, user=user, text=_blocks.esc(r))
        except BillingError as e:
            client.chat_postEphemeral(channel=channel, user=user, text=self._refusal(e, invoice_id))
        else:
            self.wake()

    def _refusal(self, e: BillingError, invoice_id: int) -> str:
        if isinstance(e, Forbidden) and e.code == "auth.forbidden":
            return ONLY_APPROVERS.format(why=f"nothing was changed ({_blocks.esc(e.message)}).")
        if isinstance(e, BadTransition):
            with self.get_db().uow() as uow:
                inv = uow.invoices.get(invoice_id)
                number = f" as {_blocks.esc(inv.number)}" if inv and inv.number else ""
                state = f"it is {inv.status}{number}" if inv else "it was discarded"
            return f"Draft #{invoice_id} was already decided ({state}); nothing was changed."
        if isinstance(e, NotFound):
            return f"There is no draft #{invoice_id} you can see; nothing was changed."
        return f"Nothing was changed: {_blocks.esc(e.message)}"

    # ---- /billable ---------------------------------------------------------------------------------------------------

    def _command(self, body: dict[str, Any], client: WebClient) -> None:
        channel, user = body["channel_id"], body["user_id"]
        try:
            actor = actor_for(self.get_db(), client, _team(body), user)
            text = self.answer(actor, (body.get("text") or "").strip())
        except Refused as r:
            text = _blocks.esc(r)
        except BillingError as e:
            text = f"Sorry: {_blocks.esc(e.message)}"
        client.chat_postEphemeral(channel=channel, user=user, text=text)

    def answer(self, actor: Actor, text: str) -> str:
        """The slash command's answer for this person (their role decides what they may see)."""
        word, _, rest = text.partition(" ")
        word, rest = word.lower(), rest.strip()
        db = self.get_db()
        if word == "overdue":
            rows = invoicing.list_invoices(db.uow(), actor, overdue=True)
            return _listing("Overdue", rows, due=True)
        if word == "approvals":
            rows = invoicing.list_invoices(db.uow(), actor, status="pending_approval")
            return _listing("Waiting for approval", rows)
        if word == "status" and rest:
            found = clients.list_clients(db.uow(), actor, name=rest, limit=5)
            if not found:
                return f"No client matching “{_blocks.esc(rest)}” that you can see."
            if len(found) > 1:
                return "Which one? " + ", ".join(_blocks.esc(c.name) for c in found)
            rows = invoicing.list_invoices(db.uow(), actor, client_id=found[0].id, limit=10)
            return _listing(f"{_blocks.esc(found[0].name)}", rows, due=True)
        return HELP


def _listing(title: str, rows: list[Any], due: bool = False) -> str:
    if not rows:
        return f"*{title}*: none."
    out = [f"*{title}* ({len(rows)})"]
    for v in rows[:15]:
        ref = v.number or f"draft #{v.id}"
        extra = f", due {v.due_date}" if due and v.due_date else ""
        flag = " :warning: overdue" if v.overdue else ""
        out.append(f"• {ref} {_blocks.esc(v.client_name)}: {_blocks.amount(v.total, v.currency)}, "
                   f"{v.status.replace('_', ' ')}{extra}{flag} (balance {_blocks.amount(v.balance)})")
    if len(rows) > 15:
        out.append(f"… and {len(rows) - 15} more")
    return "\n".join(out)


def _ack(ack: Callable[..., None]) -> None:
    ack()


def _ack_reason(ack: Callable[..., None], body: dict[str, Any]) -> None:
    """Close the reject modal at once, unless the reason is blank (then say so in the modal)."""
    if not _reason(body.get("view")):
        ack(response_action="errors", errors={_blocks.REASON_BLOCK: "Say why it is rejected."})
    else:
        ack()


def _reason(view: Any) -> str:
    node = view
    for key in ("state", "values", _blocks.REASON_BLOCK, _blocks.REASON_INPUT):
        node = node.get(key) if isinstance(node, dict) else None
    value = node.get("value") if isinstance(node, dict) else None
    return str(value or "").strip()[:2000]


def _team(body: dict[str, Any]) -> str:
    return str(body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
               or "")


def _delivery_key(body: dict[str, Any]) -> str | None:
    """What makes a delivery the same one again: the event id; for a click, who clicked which button when."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"event:{str(body['event_id'])[:200]}"
    actions = body.get("actions")
    if body.get("type") == "block_actions" and isinstance(actions, list) and actions and isinstance(actions[0], dict):
        a = actions[0]
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        return f"action:{user.get('id')}:{a.get('action_id')}:{a.get('action_ts')}"[:300]
    return None


MAX_DEPTH = 32
TOLERANCE = 300  # seconds either way, as Slack's own verifier


def _unauthentic(headers: Any, body: bytes, secret: str, now: float) -> Response | None:
    """401 problem+json unless the request carries a fresh v0 signature of this body (checked here, before Bolt
    parses anything: Bolt's own check raises on non-ASCII values and non-numeric timestamps)."""
    ts = (headers.get("x-slack-request-timestamp") or "").strip()
    given = (headers.get("x-slack-signature") or "").strip()
    if not ts or not given:
        return problem(401, "slack.signature_missing", "the Slack signature headers are missing",
                       "X-Slack-Signature")
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 15:
        return problem(401, "slack.timestamp_invalid", "X-Slack-Request-Timestamp is not a number",
                       "X-Slack-Request-Timestamp")
    if abs(now - int(ts)) > TOLERANCE:
        return problem(401, "slack.timestamp_stale", f"the request is more than {TOLERANCE} s from our clock",
                       "X-Slack-Request-Timestamp")
    want = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode(), given.encode("utf-8", "replace")):
        return problem(401, "slack.signature_invalid", "the signature does not match the body",
                       "X-Slack-Signature")
    return None


def _check_payload(content_type: str, body: bytes) -> None:
    """ValueError unless the body is what Slack sends: JSON, or a form whose `payload` (if any) is JSON, an object,
    nested at most MAX_DEPTH deep."""
    text = body.decode("utf-8")
    if content_type.startswith("application/json"):
        _shallow_object(text)
    elif "payload=" in text:
        values = parse_qs(text, max_num_fields=100).get("payload") or ["{}"]
        _shallow_object(values[0])


def _shallow_object(text: str) -> None:
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("it nests too deep") from None
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"it nests deeper than {MAX_DEPTH} levels")
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))


def slack_error(e: SlackApiError) -> str:
    return str(e.response.get("error")) if e.response is not None else str(e)
