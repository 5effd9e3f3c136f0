"""Sending the outbox: invoice e-mails (and reminders) go to the SMTP mailer (channels.email); every other topic is
a notification, POSTed to BILLABLE_NOTIFY_URL, signed the Standard Webhooks way with the message's stable id as
`webhook-id` (the receiver deduplicates on it), or, with no URL configured, written to the log."""

from __future__ import annotations

import json
import logging
import time

import httpx

from channels.webhooks._signatures import standard_webhooks_sign
from domain.services.outbox import Message, Send
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.notify")


def body_of(m: Message) -> bytes:
    return json.dumps({"type": m.topic, "timestamp": m.created_at.isoformat(), "data": m.payload, "cause": m.cause},
                      separators=(",", ":"), default=str).encode()


class WebhookSender:
    def __init__(self, url: str, secret: str | None, timeout: float = 10.0) -> None:
        self.url, self.secret = url, secret
        self.http = httpx.Client(timeout=timeout)

    def __call__(self, m: Message) -> None:
        body = body_of(m)
        ts = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": m.key, "webhook-timestamp": str(ts)}
        if self.secret:
            headers["webhook-signature"] = standard_webhooks_sign(self.secret, m.key, ts, body)
        r = self.http.post(self.url, content=body, headers=headers)
        if r.status_code >= 300:
            raise RuntimeError(f"{self.url} answered {r.status_code}")


def log_sender(m: Message) -> None:
    log.info("notification %s %s: %s", m.key, m.topic, json.dumps(m.payload, default=str))


def notification_sender(settings: Settings) -> Send:
    if settings.notify_url:
        secret = settings.notify_secret.get_secret_value() if settings.notify_secret else None
        return WebhookSender(settings.notify_url, secret)
    return log_sender


def make_sender(settings: Settings, db: Database) -> Send:
    """One sender for the whole outbox, routing by topic: e-mails to the mailer; with Slack configured, every
    notification (approval cards and their outcome, failures, dead events, payments, digests, and topics added
    later, as a readable message) to Slack; otherwise to BILLABLE_NOTIFY_URL or the log."""
    notify = notification_sender(settings)
    if not settings.slack_missing():
        from channels.slack import SlackSender

        notify = SlackSender(db, settings)
    mailer: list[Send] = []

    def route(m: Message) -> None:
        from channels.email import InvoiceMailer  # imported on first use: rendering PDFs is heavy

        if m.topic in getattr(InvoiceMailer, "TOPICS", ("invoice.email",)):
            if not mailer:
                mailer.append(InvoiceMailer(db, settings))
            mailer[0](m)
        else:
            notify(m)

    return route
