"""The catalogue of what the books tell the world: every outbox message, as a typed, versioned payload.

Each message is written to the outbox in the same transaction as the change it reports, by the one service
function where that change happens, whatever the door (HTTP, CLI, agent, dashboard, Slack, rules, billing run).
Consumers (Slack, e-mail, the notify webhook, and accounting sync) read `parse(topic, payload)` and get the model
back. A payload only ever gains optional fields within a version; anything else is a new `schema_version`, and
`parse` keeps reading the old one. Amounts are decimal strings in the payload's `currency`; dates are ISO 8601.

| topic                    | model                 | when (written by)                                               |
|--------------------------|-----------------------|-----------------------------------------------------------------|
| `invoice.issued`         | InvoiceIssued         | an invoice got its number (the issuing step, every path)        |
| `invoice.blocked`        | InvoiceBlocked        | an unattended path's draft failed a blocking check (issuing)    |
| `review.requested`       | ReviewRequested       | a rule holds a clean draft for a person (issuing step, held)     |
| `approval.requested`     | ApprovalRequested     | a draft was flagged and waits for an approver (issuing step)    |
| `approval.decided`       | ApprovalDecided       | approved (issued), rejected or discarded (invoicing)             |
| `invoice.voided`         | InvoiceVoided         | an issued invoice was voided (invoicing.void_invoice)            |
| `invoice.credited`       | InvoiceCredited       | a credit note was issued against an invoice (create_credit_note) |
| `invoice.uncollectible`  | InvoiceUncollectible  | an invoice was written off (invoicing.mark_uncollectible)        |
| `payment.recorded`       | PaymentRecorded       | money was applied to an invoice (invoicing.record_payment)       |
| `invoice.paid`           | InvoicePaid           | an invoice's balance reached zero (payment, credit, or at issue) |
| `payment.parked`         | PaymentParked         | a payment matched no open invoice as named (payments_parked)     |
| `invoice.email`          | InvoiceEmail          | work order: e-mail this invoice (delivery.send_invoice)          |
| `invoice.reminder`       | InvoiceReminder       | work order: send this dunning reminder (reminders)               |
| `delivery.sent`          | DeliverySent          | the SMTP server took an invoice e-mail (delivery)                |
| `delivery.failed`        | DeliveryFailed        | an e-mail or reminder was refused for good, or bounced           |
| `invoice.overdue_digest` | OverdueDigest         | the day's overdue list (digests, once a day)                     |
| `event.dead`             | EventDead             | an inbound event failed for good (jobs)                          |
| `accounting.paused`      | AccountingPaused      | the accounting sync paused: reconnect (domain.services.accounting)|

Accounting sync needs `invoice.issued`, `invoice.credited`, `invoice.voided`, `invoice.uncollectible`,
`payment.recorded` (and `invoice.paid`); the invoice's frozen snapshot (`domain.model.snapshot`) says the rest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

# Topics renamed when the catalogue was made: rows queued before still read as their event.
LEGACY_TOPICS = {"payment.received": "payment.recorded", "notify.delivery_failed": "delivery.failed"}


IssuePath = Literal["issue", "approval", "billing_run", "rule"]  # who issued: a person, an approval, a run, a rule


class BookEvent(BaseModel):
    """One outbox payload: its topic and schema version. Extra fields are ignored when read, so a reader of an
    older build still reads a newer payload of the same version."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    topic: ClassVar[str]
    schema_version: Literal[1] = 1


class Finding(BaseModel):
    """One check's outcome, as the checks gave it."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    code: str
    outcome: str
    reason: str


class InvoiceRef(BookEvent):
    """Which invoice, for whom, how much: the fields every invoice event carries."""

    invoice_id: int
    number: str | None = None
    kind: str = "invoice"
    status: str
    client_id: int
    client_name: str
    currency: str
    total: str


class InvoiceIssued(InvoiceRef):
    topic: ClassVar[str] = "invoice.issued"
    subtotal: str
    tax: str
    balance: str
    issue_date: dt.date
    due_date: dt.date | None = None
    period: list[str] | None = None
    via: IssuePath
    po_number: str = ""


class InvoiceBlocked(InvoiceRef):
    topic: ClassVar[str] = "invoice.blocked"
    period: list[str] | None = None
    checks: list[Finding]


class ReviewRequested(InvoiceRef):
    topic: ClassVar[str] = "review.requested"
    period: list[str] | None = None
    reason: str


class CardLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    description: str
    amount: str
    manual: bool = False


class ApprovalRequested(InvoiceRef):
    """What an approver needs to decide: totals, period, each flag with its reason, the first lines."""

    topic: ClassVar[str] = "approval.requested"
    subtotal: str
    tax: str
    period: list[str] | None = None
    flags: list[Finding]
    lines: list[CardLine]
    line_count: int
    requested_by: str | None = None


class ApprovalDecided(BookEvent):
    topic: ClassVar[str] = "approval.decided"
    invoice_id: int
    decision: Literal["approved", "rejected", "discarded"]
    number: str | None = None
    status: str
    reason: str = ""
    by: str
    at: str


class InvoiceVoided(InvoiceRef):
    topic: ClassVar[str] = "invoice.voided"
    reason: str
    released_items: int = 0


class BalanceChanged(InvoiceRef):
    """What is owed on the invoice changed: `balance` is what is left after it."""

    balance: str


class InvoiceCredited(BalanceChanged):
    """A credit note corrects the invoice: `amount` (gross) is what it credits."""

    topic: ClassVar[str] = "invoice.credited"
    credit_note_id: int
    credit_note_number: str
    amount: str
    reason: str


class InvoiceUncollectible(BalanceChanged):
    topic: ClassVar[str] = "invoice.uncollectible"
    reason: str


class PaymentRecorded(BalanceChanged):
    topic: ClassVar[str] = "payment.recorded"
    amount: str
    received_on: dt.date
    reference: str = ""
    payment_id: int | None = None  # the recorded payment (the accounting sync pushes it by this id)


class InvoicePaid(InvoiceRef):
    topic: ClassVar[str] = "invoice.paid"
    by: Literal["payment", "credit_note", "nothing_owed"]


class PaymentParked(BookEvent):
    topic: ClassVar[str] = "payment.parked"
    parked_payment_id: int
    invoice_id: int | None = None
    number: str | None = None
    client_name: str | None = None
    amount: str  # with its currency ("1200.00 EUR"): a parked payment may not say which
    reason: str
    detail: str = ""
    payer: str = ""
    reference: str = ""


class MailOrder(BookEvent):
    """Work order for the mailer about one invoice (see domain.services.delivery)."""

    invoice_id: int


class InvoiceEmail(MailOrder):
    """Send the invoice under this Message-ID."""

    topic: ClassVar[str] = "invoice.email"
    message_id: str


class InvoiceReminder(MailOrder):
    """Send the reminder of this dunning step (days from the due date)."""

    topic: ClassVar[str] = "invoice.reminder"
    step: int


class DeliverySent(BookEvent):
    topic: ClassVar[str] = "delivery.sent"
    invoice_id: int
    number: str | None = None
    message_id: str | None = None
    recipients: list[str] = []
    unconfirmed: bool = False  # an interrupted hand-over: counted as sent, never sent twice


class DeliveryFailed(BookEvent):
    topic: ClassVar[str] = "delivery.failed"
    invoice_id: int
    number: str | None = None
    stage: Literal["send", "bounce", "reminder"] = "send"
    error: str
    recipients: list[str] = []
    client_name: str | None = None
    amount: str | None = None
    reminder_step: int | None = None


class DigestItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    invoice_id: int
    number: str | None = None
    client_id: int
    client_name: str
    currency: str
    balance: str
    due_date: dt.date | None = None
    days_overdue: int | None = None


class OverdueDigest(BookEvent):
    topic: ClassVar[str] = "invoice.overdue_digest"
    date: dt.date
    count: int
    totals: dict[str, str]  # currency -> balance overdue
    invoices: list[DigestItem]


class EventDead(BookEvent):
    topic: ClassVar[str] = "event.dead"
    event_id: int
    source: str
    external_id: str
    type: str
    attempts: int
    reason: str


class AccountingPaused(BookEvent):
    """The accounting sync stopped (a token refresh failed): someone who owns the books must reconnect; what
    waits (`pending`) is pushed, in order, once they have."""

    topic: ClassVar[str] = "accounting.paused"
    provider: str
    company_name: str = ""
    realm_id: str = ""
    reason: str
    pending: int = 0
    at: str


CATALOGUE: dict[str, type[BookEvent]] = {m.topic: m for m in (
    InvoiceIssued, InvoiceBlocked, ReviewRequested, ApprovalRequested, ApprovalDecided, InvoiceVoided,
    InvoiceCredited, InvoiceUncollectible, PaymentRecorded, InvoicePaid, PaymentParked, InvoiceEmail,
    InvoiceReminder, DeliverySent, DeliveryFailed, OverdueDigest, EventDead, AccountingPaused)}


def parse(topic: str, payload: dict[str, Any]) -> BookEvent | None:
    """The typed event of an outbox message; None for a topic not in the catalogue or a payload it cannot read
    (a consumer then shows it as plain fields rather than fail the message for ever)."""
    model = CATALOGUE.get(LEGACY_TOPICS.get(topic, topic))
    if model is None:
        return None
    try:
        return model.model_validate(payload)
    except ValidationError:
        return None
