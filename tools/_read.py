"""READ tools: each is a pydantic input schema, a docstring the model reads, one service call and a compact
JSON result. The person comes from the run's context; the model cannot name anyone else."""

from __future__ import annotations

from datetime import date

from langchain.tools import ToolRuntime, tool
from pydantic import BaseModel, Field

from domain.model.lifecycle import Status
from domain.services import audit, clients, einvoice, insights, invoicing, payments_parked, work
from tools._common import as_json, brief, month_window, refusals
from tools._context import ToolContext

Runtime = ToolRuntime[ToolContext]


class FindClientIn(BaseModel):
    name: str = Field(default="", description="Part of the client's name, e.g. 'Acme'; empty lists every client")
    limit: int = Field(default=20, ge=1, le=100)


@tool("find_client", args_schema=FindClientIn)
def find_client(runtime: Runtime, name: str = "", limit: int = 20) -> str:
    """Find clients by (part of) their name. Returns each match's id, name and currency; use the id in the
    other tools."""
    ctx = runtime.context
    with refusals():
        found = insights.find_clients(ctx.reader(), ctx.agent, name, limit)
    return as_json({"clients": [c.model_dump() for c in found]})


class InvoiceRefIn(BaseModel):
    invoice: str = Field(description="The invoice number (e.g. INV-2026-000042) or its id (e.g. 12)")


@tool("invoice_status", args_schema=InvoiceRefIn)
def invoice_status(runtime: Runtime, invoice: str) -> str:
    """An invoice's state now (status, totals, balance, due date, checks) and its timeline from the audit log:
    each entry's seq, when, who (a person, the agent for a person, a rule or event), what and why. Cite entries
    as 'entry #seq'."""
    ctx = runtime.context
    with refusals():
        story = insights.invoice_story(ctx.reader(), ctx.agent, invoice)
    v = story.invoice
    inv = {**brief(v), "issue_date": v.issue_date, "paid": v.paid, "credited": v.credited,
           "payments": [p.model_dump() for p in v.payments],
           "credit_notes": [c.model_dump() for c in v.credit_notes]}
    timeline = [{"seq": e.seq, "at": e.at.isoformat(timespec="minutes"), "who": e.who, "kind": e.actor_kind,
                 "action": e.action, "why": e.why} for e in story.timeline]
    return as_json({"invoice": inv, "timeline": timeline})


class ListInvoicesIn(BaseModel):
    client_id: int | None = Field(default=None, description="Only this client's invoices (from find_client)")
    status: Status | None = Field(default=None, description="Only invoices in this status")
    overdue: bool | None = Field(default=None, description="true: only overdue invoices")
    month: str | None = Field(default=None, description="Only invoices for periods touching this month, YYYY-MM")
    number: str | None = Field(default=None, description="Only invoices whose number contains this, e.g. 000042")
    limit: int = Field(default=20, ge=1, le=100)


@tool("list_invoices", args_schema=ListInvoicesIn)
def list_invoices(runtime: Runtime, client_id: int | None = None, status: Status | None = None,
                  overdue: bool | None = None, month: str | None = None, number: str | None = None,
                  limit: int = 20) -> str:
    """Invoices and credit notes, newest first, filtered by client, status, overdue, month and number."""
    ctx = runtime.context
    with refusals():
        start, end = month_window(month) if month else (None, None)
        rows = invoicing.list_invoices(ctx.reader(), ctx.agent, client_id=client_id,
                                       status=status.value if status else None, overdue=overdue,
                                       period_start=start, period_end=end, number=number or None, limit=limit)
    return as_json({"invoices": [brief(v) for v in rows], "count": len(rows)})


@tool("pending_approvals")
def pending_approvals(runtime: Runtime) -> str:
    """Invoices waiting for an approver, with the checks that flagged them."""
    ctx = runtime.context
    with refusals():
        rows = invoicing.list_invoices(ctx.reader(), ctx.agent, status=Status.PENDING_APPROVAL.value)
    return as_json({"pending_approval": [brief(v) for v in rows], "count": len(rows)})


@tool("explain_invoice", args_schema=InvoiceRefIn)
def explain_invoice(runtime: Runtime, invoice: str) -> str:
    """Why an invoice is what it is: each line with its source, the change from the client's previous invoice
    part by part (amounts and hours), the contract amendments that priced it and not the previous one (version,
    effective date, what changed, who, the audit entry), and the reasons the audit log holds (flags, notes, manual
    lines)."""
    ctx = runtime.context
    with refusals():
        x = insights.explain_invoice(ctx.reader(), ctx.agent, invoice)
    return as_json({
        "invoice": brief(x.invoice), "previous": brief(x.previous) if x.previous else None,
        "total_change": x.total_change, "changes": [c.model_dump() for c in x.changes],
        "lines": [ln.model_dump() for ln in x.lines],
        "amendments": [a.model_dump(mode="json") for a in x.amendments],
        "reasons": [{"seq": e.seq, "at": e.at.isoformat(timespec="minutes"), "who": e.who, "action": e.action,
                     "why": e.why} for e in x.reasons]})


class ClientIn(BaseModel):
    client_id: int = Field(description="The client's id (from find_client)")


class UnbilledIn(ClientIn):
    through: date | None = Field(default=None, description="Work up to this day (default today), YYYY-MM-DD")


@tool("unbilled_work", args_schema=UnbilledIn)
def unbilled_work(runtime: Runtime, client_id: int, through: date | None = None) -> str:
    """Work recorded for a client that no invoice bills yet: time entries (with their notes), expenses,
    completed milestones and SLA breaches."""
    ctx = runtime.context
    with refusals():
        u = insights.unbilled_work(ctx.reader(), ctx.agent, client_id, through)
    return as_json(u.model_dump(mode="json"))


@tool("client_arrangements", args_schema=ClientIn)
def client_arrangements(runtime: Runtime, client_id: int) -> str:
    """A client's contracts: retainers, time and materials, milestones (with ids and whether completed),
    subscriptions, pass-through and SLA credits."""
    ctx = runtime.context
    with refusals():
        rows = clients.list_arrangements(ctx.reader(), ctx.agent, client_id)
    return as_json({"arrangements": [
        {"id": a.id, "kind": a.kind, "name": a.name, "active": a.active, "terms": a.terms,
         "starts_on": a.starts_on, "ends_on": a.ends_on,
         "milestones": [{"id": m.id, "name": m.name, "amount": m.amount, "currency": m.currency,
                         "completed_on": m.completed_on, "invoice_id": m.invoice_id} for m in a.milestones]}
        for a in rows]})


@tool("client_einvoice_format", args_schema=ClientIn)
def client_einvoice_format(runtime: Runtime, client_id: int) -> str:
    """Which e-invoice a client receives with its invoices (Factur-X, XRechnung CII or UBL, Peppol BIS, or none:
    the PDF only) and what is still missing for it (fields of the workspace or the client to fill in)."""
    ctx = runtime.context
    with refusals():
        r = einvoice.client_einvoice(ctx.reader(), ctx.agent, client_id)
    return as_json(r.model_dump(mode="json"))


class AuditIn(BaseModel):
    subject_type: str | None = Field(default=None, description="invoice, client, arrangement, time_entry, ...")
    subject_id: str | None = Field(default=None, description="The subject's id, e.g. an invoice id")
    after_seq: int = Field(default=0, ge=0, description="Only entries after this seq")
    limit: int = Field(default=30, ge=1, le=200)


@tool("audit_history", args_schema=AuditIn)
def audit_history(runtime: Runtime, subject_type: str | None = None, subject_id: str | None = None,
                  after_seq: int = 0, limit: int = 30) -> str:
    """Audit log entries in order (optionally for one subject): seq, when, who, what, before and after."""
    ctx = runtime.context
    with refusals():
        rows = audit.audit_history(ctx.reader(), ctx.agent, subject_type, subject_id, limit, after_seq)
    return as_json({"entries": [{"seq": e.seq, "at": e.at.isoformat(timespec="minutes"), "who": e.actor,
                                 "action": e.action, "subject": f"{e.subject_type} {e.subject_id}",
                                 "cause": e.cause, "after": e.after} for e in rows]})


class MyTimeIn(BaseModel):
    client_id: int | None = Field(default=None, description="Only this client's entries")
    limit: int = Field(default=20, ge=1, le=200)


@tool("my_time_entries", args_schema=MyTimeIn)
def my_time_entries(runtime: Runtime, client_id: int | None = None, limit: int = 20) -> str:
    """Time entries, newest first: contractors see their own; others see those they may read."""
    ctx = runtime.context
    with refusals():
        rows = work.list_time_entries(ctx.reader(), ctx.agent, client_id, limit)
    return as_json({"time_entries": [{"id": t.id, "client_id": t.client_id, "date": t.date, "person": t.person,
                                      "role": t.role, "hours": t.hours, "description": t.description}
                                     for t in rows]})


class ParkedIn(BaseModel):
    status: str = Field(default="parked", description="parked (waiting for a person), applied, dismissed, or all")
    limit: int = Field(default=20, ge=1, le=100)


@tool("parked_payments", args_schema=ParkedIn)
def parked_payments(runtime: Runtime, status: str = "parked", limit: int = 20) -> str:
    """Payments received that matched no open invoice as named (unknown number, more than the balance, another
    currency, an invoice that takes no payment), waiting for a person. Each: id, amount, currency, payer,
    reference, the number it named, why it was parked, what is left. Never guess where one belongs: ask."""
    ctx = runtime.context
    with refusals():
        rows = payments_parked.list_parked(ctx.reader(), ctx.agent, status, limit)
    return as_json({"parked_payments": [
        {"id": p.id, "received_on": p.received_on, "amount": p.amount, "remaining": p.remaining,
         "currency": p.currency or None, "payer": p.payer, "reference": p.reference, "named": p.invoice_number,
         "invoice_id": p.invoice_id, "reason": p.reason, "detail": p.detail, "status": p.status} for p in rows],
        "count": len(rows)})
