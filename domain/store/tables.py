"""The schema, as SQLAlchemy 2 declarative tables. Alembic migrations are generated from (and tested
against) this metadata; money columns are integer minor units beside a currency."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from domain.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class WorkspaceRow(Base):
    __tablename__ = "workspace"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="My company")
    invoice_number_format: Mapped[str] = mapped_column(String(100), default="INV-{yyyy}-{seq:06}")
    credit_note_number_format: Mapped[str] = mapped_column(String(100), default="CN-{yyyy}-{seq:06}")
    tax_rounding: Mapped[str] = mapped_column(String(20), default="per_line")
    approval_thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)  # currency -> decimal string
    deviation_pct: Mapped[str] = mapped_column(String(20), default="25")
    duplicate_days: Mapped[int] = mapped_column(default=7)
    pilot_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(20), default="en_GB")
    # ---- follow-up of issue 7: dunning schedule and send on issue (migration 0006_followup)
    reminder_offsets: Mapped[list[Any]] = mapped_column(default=lambda: [-3, 1, 7, 14])  # days from the due date
    send_on_issue: Mapped[bool] = mapped_column(Boolean, default=False)
    # DATEV numbers and account map for the accountant's export (migration 0012_datev)
    datev: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # ---- issue 12: the workspace is the seller (domain.model.parties.Seller, flattened; migration 0007_parties)
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    address_street: Mapped[str] = mapped_column(String(200), default="")
    address_additional: Mapped[str] = mapped_column(String(200), default="")
    address_postcode: Mapped[str] = mapped_column(String(20), default="")
    address_city: Mapped[str] = mapped_column(String(100), default="")
    address_region: Mapped[str] = mapped_column(String(100), default="")
    address_country: Mapped[str] = mapped_column(String(2), default="")
    vat_id: Mapped[str] = mapped_column(String(20), default="")
    tax_number: Mapped[str] = mapped_column(String(40), default="")
    registration: Mapped[str] = mapped_column(String(200), default="")
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    bank_account_iban: Mapped[str] = mapped_column(String(34), default="")
    bank_account_bic: Mapped[str] = mapped_column(String(11), default="")
    bank_account_bank_name: Mapped[str] = mapped_column(String(200), default="")
    bank_account_account_holder: Mapped[str] = mapped_column(String(200), default="")
    electronic_address_scheme: Mapped[str] = mapped_column(String(4), default="")
    electronic_address_identifier: Mapped[str] = mapped_column(String(100), default="")
    # ---- issue 13: a period that spans an amendment is split by day, or priced with its first day's version
    amendment_proration: Mapped[str] = mapped_column(String(20), default="by_day")  # by_day | first_day


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ClientRow(Base):
    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    billing_emails: Mapped[list[Any]] = mapped_column(default=list)
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    tax_profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    po_required: Mapped[bool] = mapped_column(Boolean, default=False)
    po_number: Mapped[str] = mapped_column(String(100), default="")
    locale: Mapped[str] = mapped_column(String(20), default="en_GB")
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    # ---- issue 12: the client is the buyer (domain.model.parties.Buyer, flattened; migration 0007_parties)
    address_street: Mapped[str] = mapped_column(String(200), default="")
    address_additional: Mapped[str] = mapped_column(String(200), default="")
    address_postcode: Mapped[str] = mapped_column(String(20), default="")
    address_city: Mapped[str] = mapped_column(String(100), default="")
    address_region: Mapped[str] = mapped_column(String(100), default="")
    address_country: Mapped[str] = mapped_column(String(2), default="")
    vat_id: Mapped[str] = mapped_column(String(20), default="")
    buyer_reference: Mapped[str] = mapped_column(String(100), default="")
    electronic_address_scheme: Mapped[str] = mapped_column(String(4), default="")
    electronic_address_identifier: Mapped[str] = mapped_column(String(100), default="")
    einvoice_format: Mapped[str] = mapped_column(String(20), default="none")
    language: Mapped[str] = mapped_column(String(2), default="en")
    # issue 13: an archived client gets no new drafts and fires no rules; its open invoices still run their course
    archived_at: Mapped[datetime | None]
    managers: Mapped[list[UserRow]] = relationship(secondary="client_managers", lazy="selectin")


class ClientManagerRow(Base):
    __tablename__ = "client_managers"
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)


class ArrangementRow(Base):
    __tablename__ = "arrangements"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200), default="")
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class MilestoneRow(Base):
    __tablename__ = "milestones"
    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    completed_on: Mapped[date | None] = mapped_column(Date)
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    # issue 13: a cancelled milestone is never billed; the reason says why
    cancelled_on: Mapped[date | None] = mapped_column(Date)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")


class TimeEntryRow(Base):
    __tablename__ = "time_entries"
    __table_args__ = (Index("ix_time_entries_client_day", "client_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    arrangement_id: Mapped[int | None] = mapped_column(ForeignKey("arrangements.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    person: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    hours_centi: Mapped[int] = mapped_column(Integer)  # hundredths of an hour
    description: Mapped[str] = mapped_column(Text, default="")
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class ExpenseRow(Base):
    __tablename__ = "expenses"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id"))
    day: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    cost_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class SlaBreachRow(Base):
    __tablename__ = "sla_breaches"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id"))
    occurred_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class InvoiceRow(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_client_period", "client_id", "period_start"),
        Index("ix_invoices_status_due", "status", "due_date"),
        # A discarded draft's id is never reused: the audit log tells each invoice's story by its id.
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    kind: Mapped[str] = mapped_column(String(20), default="invoice")  # invoice | credit_note
    status: Mapped[str] = mapped_column(String(30), default="draft")
    number: Mapped[str | None] = mapped_column(String(60), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    subtotal_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credited_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_breakdown: Mapped[list[Any]] = mapped_column(default=list)
    tax_note: Mapped[str] = mapped_column(Text, default="")
    po_number: Mapped[str] = mapped_column(String(100), default="")
    checks: Mapped[list[Any]] = mapped_column(default=list)
    capped: Mapped[bool] = mapped_column(Boolean, default=False)
    corrects_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    issued_at: Mapped[datetime | None]
    # what it says, frozen when numbered (domain.model.snapshot.InvoiceSnapshot; migration 0013_snapshot)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    lines: Mapped[list[InvoiceLineRow]] = relationship(
        back_populates="invoice", order_by="InvoiceLineRow.position", cascade="all, delete-orphan",
        lazy="selectin")


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(20))
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    tax_rate: Mapped[str] = mapped_column(String(20))
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    arrangement_id: Mapped[int | None] = mapped_column(ForeignKey("arrangements.id"), index=True)
    source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invoice: Mapped[InvoiceRow] = relationship(back_populates="lines")


class BillingClaimRow(Base):
    """One row per thing billed (a period of an arrangement, a milestone, a time entry, an expense, a
    breach). The unique key is what makes billing anything twice impossible by construction."""

    __tablename__ = "billing_claims"
    __table_args__ = (UniqueConstraint("kind", "ref_id", "period_key", name="uq_billing_claims_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    period_key: Mapped[str] = mapped_column(String(40), default="")
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)


class PaymentRow(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200), default="")
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class NumberCounterRow(Base):
    __tablename__ = "number_counters"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(60))
    cause: Mapped[dict[str, Any]] = mapped_column(default=dict)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 (domain.model.audit_chain), keyed by key_id
    key_id: Mapped[str | None] = mapped_column(String(32))  # the audit key that signed it (None: never signed)


class AuditHeadRow(Base):
    """The chain's head, locked by each writer so the chain stays linear under concurrent commits."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key", name="uq_idempotency_keys_principal_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    principal: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="in_flight")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)



class InvoiceDeliveryRow(Base):
    """How an issued invoice reaches its client (issue 7): the hosted page's token, the first time someone who is
    not staff opened it, and its e-mail delivery. `status` is a delivery status beside the lifecycle, not a
    lifecycle state: an invoice whose e-mail bounced is still owed."""

    __tablename__ = "invoice_delivery"
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    # The hosted page's link: only a SHA-256 of its token is kept. The token itself is an HMAC of the invoice id and
    # the link's version under the secret key (domain.services.documents), so the mailer can write it into an e-mail
    # and nobody who reads the database can; revoking a link bumps the version.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_version: Mapped[int] = mapped_column(Integer, default=1)
    first_viewed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="")  # "" queued sending sent failed bounced
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class InvoiceReminderRow(Base):
    """One dunning reminder of one invoice: the unique key is what makes sending the same reminder twice
    impossible by construction."""

    __tablename__ = "invoice_reminders"
    __table_args__ = (UniqueConstraint("invoice_id", "step", name="uq_invoice_reminders_invoice_step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)  # days relative to the due date: -3, 1, 7, 14
    due_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]
    # follow-up of issue 7 (0006_followup): how its e-mail went; a permanent refusal is never retried
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued sent failed skipped
    last_error: Mapped[str] = mapped_column(Text, default="")


metadata = Base.metadata


# ---- events, rules, jobs and the outbox (issue 4) ----------------------------------------------------------------


class EventRow(Base):
    """An inbound event, stored before anything acts on it. (source, event_id) is unique: a redelivery is a
    duplicate by construction. `subject_ref` names what the event is about (a time entry, a deal), so events about
    the same thing that arrive out of order can be told apart by `occurred_at`."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_events_source_event_id"),
        Index("ix_events_status", "status", "id"),
        Index("ix_events_subject", "subject_ref", "occurred_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="received")  # received processed ignored rejected dead
    reason: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class JobRow(Base):
    """The work queue: workers claim rows with SELECT ... FOR UPDATE SKIP LOCKED (see domain/services/jobs.py)."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id", name="uq_jobs_kind_ref_id"),
        Index("ix_jobs_ready", "status", "run_after"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued done dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    done_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class OutboxRow(Base):
    """Side effects to perform after a state change, written in the same transaction as the change."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_ready", "status", "run_after"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cause: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending sent dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class RuleSetRow(Base):
    """Every version of the rules document (YAML), newest wins; events record the version that handled them."""

    __tablename__ = "rule_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]


class PilotClientRow(Base):
    """Clients in pilot mode: everything is drafted and held for them, nothing issued or sent."""

    __tablename__ = "pilot_clients"
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    since: Mapped[datetime]


# ---- dashboard: staff sign-in sessions, throttled sign-ins, indexes the overview reads by (issue 8) ------------------


class WebSessionRow(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a leaked table signs
    nobody in. Revocable (sign-out, a new password, a deactivated user) and expiring; the CSRF token is per session."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginThrottleRow(Base):
    """Failed sign-ins per e-mail (known or not, so the lock tells nothing about who exists)."""

    __tablename__ = "login_throttle"
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


# The overview groups issued invoices by issue month and payments by the month they arrived.
Index("ix_invoices_issue_date", InvoiceRow.issue_date)
Index("ix_payments_received_on", PaymentRow.received_on)


# ---- parked payments (follow-up of issue 7) -------------------------------------------------------------------


class ParkedPaymentRow(Base):
    """Money received that matches no open invoice as it stands (unknown number, more than the balance, another
    currency, an invoice that takes no payment): parked for a person to apply or dismiss, never guessed."""

    __tablename__ = "parked_payments"
    __table_args__ = (Index("ix_parked_payments_status", "status", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # in `currency`'s minor unit (2 places when unknown)
    applied_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="")  # "" when the payment did not say
    payer: Mapped[str] = mapped_column(String(200), default="")
    reference: Mapped[str] = mapped_column(String(200), default="")
    received_on: Mapped[date] = mapped_column(Date)
    invoice_number: Mapped[str] = mapped_column(String(200), default="")  # as the payment named it
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)  # if it named one
    reason: Mapped[str] = mapped_column(String(30))  # unknown_invoice exceeds_balance currency_mismatch not_payable
    detail: Mapped[str] = mapped_column(Text, default="")
    source_event_id: Mapped[int | None] = mapped_column(Integer, unique=True)  # events.id (no FK: other branch)
    status: Mapped[str] = mapped_column(String(20), default="parked")  # parked applied dismissed
    applications: Mapped[list[Any]] = mapped_column(default=list)  # [{invoice_id, number, amount, by, at}]
    dismiss_reason: Mapped[str] = mapped_column(Text, default="")
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


# ---- Slack (issue 6): deliveries seen, approval cards posted, Slack users linked to ours ------------------------


class SlackDeliveryRow(Base):
    """Each Slack event id (or interaction) we acted on, so a retry or a duplicate is acknowledged and dropped, in
    every process and after a restart."""

    __tablename__ = "slack_deliveries"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class SlackCardRow(Base):
    """An approval card in Slack (channel + ts), so a decision taken anywhere updates it in place. Keyed by the
    outbox message that posted it (a re-sent message finds its card); no foreign key: a discarded draft's card
    is still updated to say so."""

    __tablename__ = "slack_cards"
    message_key: Mapped[str] = mapped_column(String(60), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str] = mapped_column(String(40))
    posted_at: Mapped[datetime]


class SlackUserRow(Base):
    """A Slack user (team + user id) mapped to one of our users: linked explicitly, or found by e-mail through
    users.info and cached (`checked_at`) so a message does not cost a Slack call every time."""

    __tablename__ = "slack_users"
    slack_key: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<team id>:<user id>"
    email: Mapped[str] = mapped_column(String(320))
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_at: Mapped[datetime]


# ---- contracts that change (issue 13): versions of an arrangement's terms, and the differences they leave ---------


class ArrangementVersionRow(Base):
    """One version of an arrangement's terms, in force from `effective_on` until the next version's date. Versions
    are appended, never overwritten. `terms` is None for a gap (ended, until reopened). An account manager's
    proposal waits as status `proposed` until finance approves (`active`) or rejects it (`rejected`)."""

    __tablename__ = "arrangement_versions"
    __table_args__ = (Index("ix_arrangement_versions_arrangement", "arrangement_id", "effective_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id"))
    number: Mapped[int] = mapped_column(Integer)
    effective_on: Mapped[date] = mapped_column(Date)
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> [before, after]
    status: Mapped[str] = mapped_column(String(20), default="active")  # active proposed rejected
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    decided_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime]


class ArrangementAdjustmentRow(Base):
    """The difference an amendment (or an end) makes to a period already invoiced: billed as a line on the client's
    next invoice (claimed like any work), or, when the arrangement has ended, proposed as a credit note against the
    invoice that billed the period. The issued invoice itself is never touched."""

    __tablename__ = "arrangement_adjustments"
    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("arrangement_versions.id"))
    period_key: Mapped[str] = mapped_column(String(40))
    section: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)  # English: the API, the audit trail and the accounting push
    # its wording as data (a key and machine values) for documents in the client's language; None: made before it
    text: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    disposition: Mapped[str] = mapped_column(String(20), default="next_invoice")  # next_invoice | credit_note
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))  # the invoice that billed the period
    created_at: Mapped[datetime]


# ---- accounting sync (issue 16): the connected company, what maps to what, and the sync's own queue --------------


class AccountingConnectionRow(Base):
    """The accounting system the books sync with (one per provider). Tokens are stored encrypted (the channel holds
    the key); `paused` keeps queueing and sends nothing until reconnected; `disconnected` queues nothing."""

    __tablename__ = "accounting_connections"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), unique=True)  # quickbooks
    realm_id: Mapped[str] = mapped_column(String(40), default="")
    company_name: Mapped[str] = mapped_column(String(200), default="")
    access_token: Mapped[str] = mapped_column(Text, default="")  # ciphertext
    refresh_token: Mapped[str] = mapped_column(Text, default="")  # ciphertext
    access_expires_at: Mapped[datetime | None]
    refresh_expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="disconnected")  # connected paused disconnected
    paused_reason: Mapped[str] = mapped_column(Text, default="")
    paused_at: Mapped[datetime | None]
    connected_by: Mapped[str] = mapped_column(String(320), default="")
    connected_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # tax code map and other per-company choices
    backfilled_at: Mapped[datetime | None]  # the existing book's first push finished
    cdc_cursor: Mapped[datetime | None]  # the inbound catch-up's last changedSince
    lease_owner: Mapped[str] = mapped_column(String(100), default="")  # the worker pushing now (one at a time)
    lease_until: Mapped[datetime | None]


class AccountingMappingRow(Base):
    """Our object <-> theirs: a client <-> Customer, an invoice <-> Invoice, a credit note <-> CreditMemo, a payment
    <-> Payment; with their SyncToken and what we last pushed (hash and total), so a re-push is a no-op."""

    __tablename__ = "accounting_mappings"
    __table_args__ = (
        UniqueConstraint("provider", "kind", "local_id", name="uq_accounting_mappings_local"),
        Index("ix_accounting_mappings_remote", "provider", "kind", "remote_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))  # customer invoice credit_note payment
    local_id: Mapped[int] = mapped_column(BigInteger)
    remote_id: Mapped[str] = mapped_column(String(60))
    sync_token: Mapped[str] = mapped_column(String(20), default="0")
    doc_number: Mapped[str] = mapped_column(String(60), default="")
    pushed_hash: Mapped[str] = mapped_column(String(64), default="")
    pushed_total_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="")
    remote_status: Mapped[str] = mapped_column(String(20), default="")  # e.g. voided
    pushed_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AccountingItemRow(Base):
    """The Item an invoice line maps to, per arrangement kind (retainer, time_and_materials, ..., manual):
    configurable name and income account; the remote id once the item exists there."""

    __tablename__ = "accounting_items"
    __table_args__ = (UniqueConstraint("provider", "arrangement_kind", name="uq_accounting_items_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    arrangement_kind: Mapped[str] = mapped_column(String(30))
    item_name: Mapped[str] = mapped_column(String(100))
    income_account: Mapped[str] = mapped_column(String(60), default="")  # remote account id ("" = find one)
    remote_id: Mapped[str] = mapped_column(String(60), default="")
    sync_token: Mapped[str] = mapped_column(String(20), default="0")
    updated_at: Mapped[datetime]


class AccountingQueueRow(Base):
    """The sync's own durable work list, written in the same transaction as the change (fan-out at emit time), so
    a failing accounting push never re-sends a Slack or e-mail notification, nothing is lost while paused, and
    work resumes in order (by id) after reconnecting."""

    __tablename__ = "accounting_queue"
    __table_args__ = (
        Index("ix_accounting_queue_ready", "provider", "status", "id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(60))  # invoice.issued, invoice.voided, invoice.credited, client.changed
    subject: Mapped[str] = mapped_column(String(20))  # customer invoice credit_note
    ref_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending done dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
class ImportKeyRow(Base):
    """What a book import (issue 13) made of each row it took: the row's kind and external id, the client,
    arrangement or time entry it became, and the row as it was imported (so a second run of the same file changes
    nothing, and a row changed since is reported instead of overwritten). One per kind and external id."""

    __tablename__ = "import_keys"
    __table_args__ = (UniqueConstraint("kind", "external_id", name="uq_import_keys_kind_external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # client | arrangement | time
    external_id: Mapped[str] = mapped_column(String(200))
    subject_id: Mapped[int] = mapped_column(Integer)
    row: Mapped[dict[str, Any]] = mapped_column(default=dict)  # column -> value as imported (empty cells left out)
    import_digest: Mapped[str] = mapped_column(String(64))  # the import (digest of its files) that made it
    created_at: Mapped[datetime]


# ---- accounting sync, inbound (issue 16): payments read from QuickBooks, client updates proposed ---------------------


class AccountingPaymentInRow(Base):
    """A payment read from the accounting system, once per its id there: what it did here (recorded on our
    invoices, parked for a person, or both). The unique key is what makes a webhook, its redeliveries and the CDC
    catch-up record the same payment exactly once."""

    __tablename__ = "accounting_payments_in"
    __table_args__ = (UniqueConstraint("provider", "realm_id", "external_id", name="uq_accounting_payments_in_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # quickbooks
    realm_id: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(60))  # the Payment's Id there
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="")
    outcome: Mapped[str] = mapped_column(String(20))  # recorded | parked | partly (some recorded, the rest parked)
    recorded: Mapped[list[Any]] = mapped_column(default=list)  # [{invoice_id, number, amount, payment_id}]
    parked_payment_id: Mapped[int | None] = mapped_column(ForeignKey("parked_payments.id"))
    source_event_id: Mapped[int | None] = mapped_column(Integer)  # events.id of the notification that brought it
    sync_token: Mapped[str] = mapped_column(String(40), default="")  # as read; a later edit there shows as drift
    created_at: Mapped[datetime]


class ClientUpdateProposalRow(Base):
    """A change to a client's name, e-mail or address made in the accounting system, proposed to finance: accepted
    (the client is updated, audited) or refused (ours stays). Never applied silently, in either direction."""

    __tablename__ = "client_update_proposals"
    __table_args__ = (Index("ix_client_update_proposals_status", "status", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    realm_id: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(60))  # the Customer's Id there
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> {"ours": ..., "theirs": ...}
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending accepted refused superseded
    source_event_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
