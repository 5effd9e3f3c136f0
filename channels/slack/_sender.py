"""The outbox's Slack sender: approval cards to the approvals channel (recorded, so any later decision updates
them in place), every other notification to the notify channel as a readable message.

Failures raise, so the outbox retries with backoff; a 429 raises RetryLater with Slack's Retry-After, so the
message waits exactly as long as Slack asked. A message sent again after a crash finds its card already posted
and does not post a second one.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from channels.slack import _blocks
from domain.errors import NotFound
from domain.model.outbox_events import ApprovalDecided, ApprovalRequested
from domain.model.roles import Actor
from domain.services import invoicing
from domain.services import slack as slack_links
from domain.services.outbox import Message, RetryLater
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.slack")

SYSTEM = Actor.system("slack")


def web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=10)


class SlackSender:
    def __init__(self, db: Database, settings: Settings, client: WebClient | None = None) -> None:
        self.db = db
        self.client = client or web_client(settings)
        self.approvals = settings.slack_approvals_channel or ""
        self.notify = settings.slack_notify_channel or self.approvals

    def __call__(self, m: Message) -> None:
        event = m.event
        try:
            if isinstance(event, ApprovalRequested):
                self._card(m.key, event)
            elif isinstance(event, ApprovalDecided):
                self._decided(event)
            else:
                text = _blocks.notification(event) if event is not None else _blocks.unknown(m.topic, m.payload)
                if text is None:
                    return  # an event the notify channel does not show (see _blocks.notification)
                self.client.chat_postMessage(channel=self.notify, text=text, unfurl_links=False,
                                             blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
        except SlackApiError as e:
            if e.response is not None and e.response.status_code == 429:
                raise RetryLater(float(e.response.headers.get("Retry-After", 1) or 1),
                                 f"Slack rate-limited {m.topic}") from None
            raise RuntimeError(f"Slack refused {m.topic}: {e.response.get('error') if e.response else e}") from None

    def _current(self, invoice_id: int) -> dict[str, Any] | None:
        try:
            view = invoicing.get_invoice(self.db.uow(), SYSTEM, invoice_id)
        except NotFound:
            return None
        return view.model_dump(mode="json")

    def _card(self, key: str, p: ApprovalRequested) -> None:
        if slack_links.card_posted(self.db.uow(), key) is not None:
            return  # posted before a crash kept the outbox from marking it sent
        now = self._current(p.invoice_id)
        if now is None or now["status"] != "pending_approval":
            log.info("invoice %s was decided before its card went out; no card", p.invoice_id)
            return
        r = self.client.chat_postMessage(channel=self.approvals, text=_blocks.card_title(p),
                                         blocks=_blocks.approval_card(p), unfurl_links=False)
        slack_links.record_card(self.db.uow(), key, p.invoice_id, str(r["channel"]), str(r["ts"]))

    def _decided(self, d: ApprovalDecided) -> None:
        for card in slack_links.cards_for(self.db.uow(), d.invoice_id):
            original = self._card_payload(d.invoice_id)
            text = f"{_blocks.decided_text(d)} (draft #{d.invoice_id})"
            self.client.chat_update(channel=card.channel, ts=card.ts, text=text,
                                    blocks=_blocks.decided_card(original, d))

    def _card_payload(self, invoice_id: int) -> ApprovalRequested | None:
        """What the card showed, rebuilt from the invoice as it is now (None once a draft is discarded)."""
        with self.db.uow() as uow:
            inv = uow.invoices.get(invoice_id)
            return invoicing.approval_payload(uow, inv) if inv is not None else None
