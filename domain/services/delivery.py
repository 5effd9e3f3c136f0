"""Invoice delivery by e-mail, through the outbox, and what comes back (bounces).

`send_invoice` writes the delivery and its outbox message (topic `invoice.email`) in one transaction with a fresh
Message-ID; the e-mail channel (`channels/email`) performs it later and reports back here:

* `begin_attempt` before talking to the SMTP server: it records that this Message-ID is being handed over. If it
  finds the same Message-ID already being handed over, the previous attempt died between the send and its
  record (a crash, a kill): it may have been sent, so it is *not* sent again (at most once); the delivery is
  recorded as sent, unconfirmed, and audited so a person can check.
* `record_sent`: delivered; the invoice moves to sent (when the state machine allows), audited.
* `record_transient`: a 4xx, a refused connection or a timeout; the channel then raises so the outbox retries
  with its backoff.
* `record_failed`: a 5xx or an invalid address; the invoice is flagged `delivery_failed` (a delivery status
  beside the lifecycle: the money is still owed, so it is not a lifecycle state), audited, and a notification is
  queued (topic `delivery.failed`) for whoever watches the outbox (Slack when it exists).
* `record_bounce`: a bounce webhook or a DSN, found by Message-ID; flagged `bounced` and audited.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel

from domain.errors import BadTransition, NotFound, ValidationFailed
from domain.model.lifecycle import TRANSITIONS, Status
from domain.model.outbox_events import DeliveryFailed, DeliverySent, InvoiceEmail
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.services.documents import DocumentView, delivery_row, document_of, loaded_invoice, row_token
from domain.services.outbox import emit
from domain.store.tables import InvoiceDeliveryRow, InvoiceRow
from domain.store.uow import UnitOfWork

TOPIC = InvoiceEmail.topic
NOTIFY_TOPIC = DeliveryFailed.topic
MAILER = Actor.system("e-mail delivery")
SENDABLE = frozenset({Status.ISSUED, Status.SENT, Status.VIEWED, Status.PARTIALLY_PAID})


class DeliveryView(BaseModel):
    invoice_id: int
    status: str
    message_id: str | None
    recipients: list[str]
    attempts: int
    last_error: str

    @classmethod
    def of(cls, r: InvoiceDeliveryRow) -> DeliveryView:
        return cls(invoice_id=r.invoice_id, status=r.status, message_id=r.message_id,
                   recipients=list(r.recipients), attempts=r.attempts, last_error=r.last_error)


class Attempt(BaseModel):
    """What the e-mail channel needs to send one invoice."""

    document: DocumentView
    message_id: str
    recipients: list[str]
    token: str


def _snap(inv: InvoiceRow, row: InvoiceDeliveryRow, **extra: Any) -> dict[str, Any]:
    return {"status": inv.status, "client_id": inv.client_id, "delivery": row.status, "message_id": row.message_id,
            **extra}


def new_message_id(invoice_id: int, domain: str = "billable.invalid") -> str:
    return f"<inv{invoice_id}.{secrets.token_hex(12)}@{domain}>"


def send_invoice(uow: UnitOfWork, actor: Actor, invoice_id: int, to: list[str] | None = None) -> DeliveryView:
    """Queue an issued invoice for e-mail (to the client's billing contacts unless `to` says otherwise)."""
    require(actor, Perm.ISSUE)
    with uow:
        inv = loaded_invoice(uow, actor, invoice_id, for_update=True)
        if inv.kind != "invoice" or Status(inv.status) not in SENDABLE:
            raise BadTransition(f"an invoice in status {inv.status} is not sent", code="invoice.not_sendable",
                                field="invoice_id", details={"status": inv.status})
        client = uow.clients.get(inv.client_id)
        recipients = [str(e) for e in (to or (client.billing_emails if client else []))]
        if not recipients:
            raise ValidationFailed("the client has no billing e-mail address", code="delivery.no_recipient",
                                   field="to")
        row = delivery_row(uow, inv)
        before = _snap(inv, row)
        row.status, row.message_id, row.recipients = "queued", new_message_id(inv.id), recipients
        row.attempts, row.last_error, row.sent_at = 0, "", None
        emit(uow, InvoiceEmail(invoice_id=inv.id, message_id=row.message_id))
        uow.audit.record(actor, "invoice.delivery_queued", "invoice", inv.id, before=before,
                         after=_snap(inv, row, recipients=recipients))
        uow.commit()
        return DeliveryView.of(row)


def _current(uow: UnitOfWork, invoice_id: int, message_id: str) -> tuple[InvoiceRow, InvoiceDeliveryRow] | None:
    row = uow.deliveries.get(invoice_id, for_update=True)
    inv = uow.invoices.get(invoice_id, for_update=True)
    if row is None or inv is None or row.message_id != message_id:
        return None  # superseded by a later send: this message is stale
    return inv, row


def begin_attempt(uow: UnitOfWork, invoice_id: int, message_id: str) -> Attempt | None:
    """Record that `message_id` is being handed to the SMTP server; None when it must not be sent (already
    sent, failed, superseded, or a previous hand-over was interrupted and may have gone out)."""
    with uow:
        found = _current(uow, invoice_id, message_id)
        if found is None:
            return None
        inv, row = found
        if row.status == "sending":
            before = _snap(inv, row)
            row.status, row.sent_at = "sent", uow.clock.now()
            row.last_error = "interrupted after the hand-over began: not sent again (at most once); unconfirmed"
            _mark_sent(inv)
            uow.audit.record(MAILER, "invoice.sent", "invoice", inv.id, before=before,
                             after=_snap(inv, row, unconfirmed=True))
            emit(uow, DeliverySent(invoice_id=inv.id, number=inv.number, message_id=row.message_id,
                                   recipients=list(row.recipients), unconfirmed=True), {})
            uow.commit()
            return None
        if row.status != "queued":
            return None
        row.status, row.attempts = "sending", row.attempts + 1
        uow.flush()
        attempt = Attempt(document=document_of(uow, inv), message_id=message_id, recipients=list(row.recipients),
                          token=row_token(row))
        uow.commit()
        return attempt


def _mark_sent(inv: InvoiceRow) -> None:
    if Status.SENT in TRANSITIONS[Status(inv.status)]:
        inv.status = Status.SENT.value


def record_sent(uow: UnitOfWork, invoice_id: int, message_id: str) -> None:
    with uow:
        found = _current(uow, invoice_id, message_id)
        if found is None:
            return
        inv, row = found
        before = _snap(inv, row)
        row.status, row.sent_at, row.last_error = "sent", uow.clock.now(), ""
        _mark_sent(inv)
        uow.audit.record(MAILER, "invoice.sent", "invoice", inv.id, before=before,
                         after=_snap(inv, row, recipients=list(row.recipients), attempts=row.attempts))
        emit(uow, DeliverySent(invoice_id=inv.id, number=inv.number, message_id=row.message_id,
                               recipients=list(row.recipients)), {})
        uow.commit()


def record_transient(uow: UnitOfWork, invoice_id: int, message_id: str, error: str) -> None:
    """Not delivered this time, and nothing was handed over: queued again for the outbox's next try."""
    with uow:
        found = _current(uow, invoice_id, message_id)
        if found is None:
            return
        _inv, row = found
        row.status, row.last_error = "queued", error[:2000]
        uow.commit()


def record_failed(uow: UnitOfWork, invoice_id: int, message_id: str, error: str) -> None:
    """Permanently refused: flag the invoice `delivery_failed`, audit it and queue a notification."""
    with uow:
        found = _current(uow, invoice_id, message_id)
        if found is None:
            return
        inv, row = found
        before = _snap(inv, row)
        row.status, row.last_error = "failed", error[:2000]
        uow.audit.record(MAILER, "invoice.delivery_failed", "invoice", inv.id, before=before,
                         after=_snap(inv, row, error=row.last_error))
        emit(uow, DeliveryFailed(invoice_id=inv.id, number=inv.number, error=row.last_error,
                                 recipients=list(row.recipients)), {})
        uow.commit()


def record_bounce(uow: UnitOfWork, actor: Actor, message_id: str, recipient: str, reason: str,
                  permanent: bool = True) -> DeliveryView:
    """A bounce for one of our messages (provider webhook or DSN): the invoice is flagged and audited."""
    with uow:
        row = uow.deliveries.by_message_id(message_id.strip())
        if row is None:
            raise NotFound(f"no invoice was sent as {message_id}", code="delivery.unknown_message",
                           field="message_id")
        row = uow.deliveries.get(row.invoice_id, for_update=True) or row
        inv = uow.invoices.get(row.invoice_id, for_update=True)
        assert inv is not None
        before = _snap(inv, row)
        if permanent:
            row.status = "bounced"
        row.last_error = f"bounce from {recipient}: {reason}"[:2000]
        uow.audit.record(actor, "invoice.bounced" if permanent else "invoice.delivery_delayed", "invoice", inv.id,
                         before=before, after=_snap(inv, row, recipient=recipient, reason=reason[:500]))
        if permanent:
            emit(uow, DeliveryFailed(invoice_id=inv.id, number=inv.number, stage="bounce", error=row.last_error,
                                     recipients=[recipient]), {})
        uow.commit()
        return DeliveryView.of(row)


def get_delivery(uow: UnitOfWork, actor: Actor, invoice_id: int) -> DeliveryView | None:
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        loaded_invoice(uow, actor, invoice_id)
        row = uow.deliveries.get(invoice_id)
        return DeliveryView.of(row) if row else None
