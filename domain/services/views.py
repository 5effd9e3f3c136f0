"""What services return: plain pydantic views, safe to use after the transaction, money as strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.model.lifecycle import is_overdue
from domain.model.money import minor_to_text
from domain.model.parties import DocumentLanguage, EInvoiceFormat, ElectronicAddress, PostalAddress
from domain.services.parties import buyer_of
from domain.store.tables import (
    ArrangementRow,
    AuditRow,
    ClientRow,
    InvoiceLineRow,
    InvoiceRow,
    MilestoneRow,
    PaymentRow,
    TimeEntryRow,
    UserRow,
)


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class UserView(View):
    id: int
    email: str
    name: str
    role: str
    active: bool

    @classmethod
    def of(cls, u: UserRow) -> UserView:
        return cls(id=u.id, email=u.email, name=u.name, role=u.role, active=u.active)


class ClientView(View):
    id: int
    name: str
    currency: str
    billing_emails: list[str]
    payment_terms_days: int
    tax_profile: dict[str, Any]
    po_required: bool
    po_number: str
    locale: str
    account_manager_ids: list[int]
    created_at: datetime
    # the buyer (issue 12): what its invoices say about it
    address: PostalAddress = PostalAddress()
    vat_id: str = ""
    buyer_reference: str = ""
    electronic_address: ElectronicAddress = ElectronicAddress()
    einvoice_format: EInvoiceFormat = EInvoiceFormat.NONE
    language: DocumentLanguage = DocumentLanguage.EN
    archived_at: datetime | None = None  # archived: no new drafts, no rules; open invoices run their course

    @classmethod
    def of(cls, c: ClientRow) -> ClientView:
        b = buyer_of(c)
        return cls(id=c.id, name=c.name, currency=c.currency, billing_emails=list(c.billing_emails),
                   payment_terms_days=c.payment_terms_days, tax_profile=dict(c.tax_profile),
                   po_required=c.po_required, po_number=c.po_number, locale=c.locale,
                   account_manager_ids=[u.id for u in c.managers], created_at=c.created_at,
                   address=b.address, vat_id=b.vat_id, buyer_reference=b.buyer_reference,
                   electronic_address=b.electronic_address, einvoice_format=b.einvoice_format,
                   language=b.language,
                   archived_at=c.archived_at)


class MilestoneView(View):
    id: int
    arrangement_id: int
    client_id: int
    name: str
    amount: str
    currency: str
    completed_on: date | None
    invoice_id: int | None = None
    cancelled_on: date | None = None  # cancelled milestones are never billed
    cancel_reason: str = ""

    @classmethod
    def of(cls, m: MilestoneRow, invoice_id: int | None = None) -> MilestoneView:
        return cls(id=m.id, arrangement_id=m.arrangement_id, client_id=m.client_id, name=m.name,
                   amount=minor_to_text(m.amount_minor, m.currency), currency=m.currency,
                   completed_on=m.completed_on, invoice_id=invoice_id, cancelled_on=m.cancelled_on,
                   cancel_reason=m.cancel_reason or "")


class ArrangementView(View):
    id: int
    client_id: int
    kind: str
    name: str
    terms: dict[str, Any]
    starts_on: date | None
    ends_on: date | None
    active: bool
    milestones: list[MilestoneView] = []

    @classmethod
    def of(cls, a: ArrangementRow, milestones: list[MilestoneView] | None = None) -> ArrangementView:
        return cls(id=a.id, client_id=a.client_id, kind=a.kind, name=a.name, terms=dict(a.terms),
                   starts_on=a.starts_on, ends_on=a.ends_on, active=a.active, milestones=milestones or [])


class TimeEntryView(View):
    id: int
    client_id: int
    arrangement_id: int | None
    user_id: int | None
    person: str
    role: str
    date: date
    hours: str
    description: str
    warnings: list[str] = []  # e.g. no arrangement bills this time yet: said when it is logged, not at month end

    @classmethod
    def of(cls, t: TimeEntryRow) -> TimeEntryView:
        return cls(id=t.id, client_id=t.client_id, arrangement_id=t.arrangement_id, user_id=t.user_id,
                   person=t.person, role=t.role, date=t.day, hours=format_hours(t.hours_centi),
                   description=t.description)


def format_hours(centi: int) -> str:
    sign = "-" if centi < 0 else ""
    return f"{sign}{abs(centi) // 100}.{abs(centi) % 100:02d}"


class LineView(View):
    id: int
    position: int
    section: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str
    tax_rate: str
    tax: str
    arrangement_id: int | None
    source: dict[str, Any]
    manual: bool

    @classmethod
    def of(cls, ln: InvoiceLineRow, currency: str) -> LineView:
        return cls(id=ln.id, position=ln.position, section=ln.section, description=ln.description,
                   quantity=ln.quantity, unit=ln.unit, unit_price=minor_to_text(ln.unit_price_minor, currency),
                   amount=minor_to_text(ln.amount_minor, currency), tax_rate=ln.tax_rate,
                   tax=minor_to_text(ln.tax_minor, currency), arrangement_id=ln.arrangement_id,
                   source=dict(ln.source), manual=ln.manual)


class PaymentView(View):
    id: int
    amount: str
    currency: str
    received_on: date
    reference: str

    @classmethod
    def of(cls, p: PaymentRow) -> PaymentView:
        return cls(id=p.id, amount=minor_to_text(p.amount_minor, p.currency), currency=p.currency,
                   received_on=p.received_on, reference=p.reference)


class CreditNoteRef(View):
    id: int
    number: str | None
    total: str
    reason: str


class InvoiceView(View):
    id: int
    kind: str
    number: str | None
    status: str
    client_id: int
    client_name: str
    currency: str
    period_start: date | None
    period_end: date | None
    issue_date: date | None
    due_date: date | None
    subtotal: str
    tax_total: str
    total: str
    paid: str
    credited: str
    balance: str
    overdue: bool
    tax_by_rate: list[dict[str, str]]
    tax_note: str
    po_number: str
    checks: list[dict[str, str]]
    reason: str
    corrects_invoice_id: int | None
    lines: list[LineView]
    payments: list[PaymentView] = []
    credit_notes: list[CreditNoteRef] = []
    created_at: datetime
    issued_at: datetime | None

    @classmethod
    def of(cls, inv: InvoiceRow, client_name: str, today: date, payments: list[PaymentRow] | None = None,
           credit_notes: list[InvoiceRow] | None = None, with_lines: bool = True) -> InvoiceView:
        cur = inv.currency
        balance = inv.total_minor - inv.paid_minor - inv.credited_minor
        if inv.snapshot:  # issued: the buyer as the invoice names it, whatever the client is called now
            client_name = str(inv.snapshot["buyer"]["name"])
        return cls(
            id=inv.id, kind=inv.kind, number=inv.number, status=inv.status, client_id=inv.client_id,
            client_name=client_name, currency=cur, period_start=inv.period_start, period_end=inv.period_end,
            issue_date=inv.issue_date, due_date=inv.due_date, subtotal=minor_to_text(inv.subtotal_minor, cur),
            tax_total=minor_to_text(inv.tax_minor, cur), total=minor_to_text(inv.total_minor, cur),
            paid=minor_to_text(inv.paid_minor, cur), credited=minor_to_text(inv.credited_minor, cur),
            balance=minor_to_text(balance if inv.kind == "invoice" else 0, cur),
            overdue=inv.kind == "invoice" and is_overdue(inv.status, inv.due_date, balance, today),
            tax_by_rate=list(inv.tax_breakdown), tax_note=inv.tax_note, po_number=inv.po_number,
            checks=list(inv.checks), reason=inv.reason, corrects_invoice_id=inv.corrects_invoice_id,
            lines=[LineView.of(ln, cur) for ln in inv.lines] if with_lines else [],
            payments=[PaymentView.of(p) for p in payments or []],
            credit_notes=[CreditNoteRef(id=c.id, number=c.number, total=minor_to_text(c.total_minor, c.currency),
                                        reason=c.reason) for c in credit_notes or []],
            created_at=inv.created_at, issued_at=inv.issued_at,
        )


class AuditEntryView(View):
    seq: int
    at: datetime
    actor_kind: str
    actor_id: int | None
    actor: str
    action: str
    subject_type: str
    subject_id: str
    cause: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str

    @classmethod
    def of(cls, a: AuditRow) -> AuditEntryView:
        return cls(seq=a.seq, at=a.at, actor_kind=a.actor_kind, actor_id=a.actor_id, actor=a.actor_label,
                   action=a.action, subject_type=a.subject_type, subject_id=a.subject_id, cause=dict(a.cause or {}),
                   before=a.before, after=a.after, hash=a.hash)


class VerifyReport(View):
    ok: bool
    entries: int
    first_broken_seq: int | None
    message: str
