"""WRITE tools, each one service call, each with a preview: what it will do, computed by the server from the books
(amounts, the draft it would make, the totals after), shown to the person before they confirm. With a model every
write waits for that yes; the ones that move money or reach the client (issue, approve, void, credit, payment,
send, parked payments) wait on every chat."""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal
from typing import Any

from langchain.tools import ToolRuntime, tool
from pydantic import BaseModel, Field

from domain.errors import BillingError
from domain.model.money import Money
from domain.services import delivery, invoicing, payments_parked, work
from domain.services.views import InvoiceView, LineView
from prompts import money
from tools._common import as_json, brief, month_window, refusals
from tools._context import ToolContext

Runtime = ToolRuntime[ToolContext]


def _confirmed(ctx: ToolContext) -> dict[str, str]:
    """Stamped on the audit entries of confirmed actions: the person who said yes, and where."""
    return {"confirmed_by": ctx.actor.email or str(ctx.actor.user_id)}


# ---- drafting and work ---------------------------------------------------------------------------------------

class DraftIn(BaseModel):
    client_id: int = Field(description="The client's id (from find_client)")
    month: str | None = Field(default=None, description="The calendar month to bill, YYYY-MM")
    period_start: date | None = Field(default=None, description="Or an explicit first day, YYYY-MM-DD")
    period_end: date | None = Field(default=None, description="... and last day, YYYY-MM-DD")


@tool("draft_invoice", args_schema=DraftIn)
def draft_invoice(runtime: Runtime, client_id: int, month: str | None = None, period_start: date | None = None,
                  period_end: date | None = None) -> str:
    """Draft the client's invoice for a month (or period) from its contracts and unbilled work. Drafting the same
    period again returns the open draft. A draft has no number and goes nowhere until it is issued."""
    ctx = runtime.context
    with refusals():
        if month:
            period_start, period_end = month_window(month)
        if period_start is None or period_end is None:
            raise _missing("give month (YYYY-MM) or period_start and period_end", "month")
        v = invoicing.draft_invoice(ctx.uow(), ctx.agent, client_id, period_start, period_end)
    return as_json({"draft": {**brief(v), "subtotal": v.subtotal, "tax": v.tax_total, "new": v.created},
                    "lines": [{"description": ln.description, "quantity": ln.quantity, "amount": ln.amount}
                              for ln in v.lines]})


def _missing(message: str, field: str) -> BillingError:
    from domain.errors import ValidationFailed

    return ValidationFailed(message, field=field)


class ManualLineIn(BaseModel):
    invoice_id: int = Field(description="The draft's id")
    description: str = Field(min_length=1, max_length=2000)
    quantity: str = Field(description="A decimal string, e.g. '1' or '2.5'")
    unit_price: str = Field(description="A decimal string in the invoice's currency, e.g. '150.00'")


@tool("add_manual_line", args_schema=ManualLineIn)
def add_manual_line(runtime: Runtime, invoice_id: int, description: str, quantity: str, unit_price: str) -> str:
    """Add a hand-written line to a draft. The invoice will then need an approver who did not write the line."""
    ctx = runtime.context
    with refusals():
        v = invoicing.add_manual_line(ctx.uow(), ctx.agent, invoice_id, description, quantity, unit_price)
    return as_json({"draft": brief(v), "lines": len(v.lines)})


class LogTimeIn(BaseModel):
    client_id: int = Field(description="The client's id (from find_client)")
    date: dt.date = Field(description="The day worked, YYYY-MM-DD")
    hours: str = Field(description="Hours as a decimal string, e.g. '3' or '1.5'")
    role: str = Field(min_length=1, max_length=100, description="The work role whose rate applies, e.g. 'Engineer'")
    description: str = Field(default="", max_length=5000, description="What was done")
    person: str | None = Field(default=None, description="Who worked, by e-mail (default: the person you act for;"
                                                          " contractors log only their own time)")


@tool("log_time", args_schema=LogTimeIn)
def log_time(runtime: Runtime, client_id: int, date: dt.date, hours: str, role: str, description: str = "",
             person: str | None = None) -> str:
    """Record hours worked for a client."""
    ctx = runtime.context
    with refusals():
        t = work.log_time(ctx.uow(), ctx.agent, {"client_id": client_id, "date": date, "hours": hours, "role": role,
                                                 "description": description, "person": person or ""})
    return as_json({"logged": t.model_dump(mode="json")})


class MilestoneIn(BaseModel):
    milestone_id: int = Field(description="The milestone's id (from client_arrangements)")
    completed_on: date | None = Field(default=None, description="Default today, YYYY-MM-DD")


@tool("complete_milestone", args_schema=MilestoneIn)
def complete_milestone(runtime: Runtime, milestone_id: int, completed_on: date | None = None) -> str:
    """Mark a milestone done, which makes its fee billable on the next draft."""
    ctx = runtime.context
    with refusals():
        m = work.complete_milestone(ctx.uow(), ctx.agent, milestone_id, completed_on)
    return as_json({"milestone": m.model_dump(mode="json")})


class RejectIn(BaseModel):
    invoice_id: int = Field(description="The invoice's id")
    reason: str = Field(min_length=1, max_length=2000, description="Why, in the person's words")


@tool("reject_invoice", args_schema=RejectIn)
def reject_invoice(runtime: Runtime, invoice_id: int, reason: str) -> str:
    """Send an invoice pending approval back to draft, with the reason."""
    ctx = runtime.context
    with refusals():
        v = invoicing.reject_invoice(ctx.uow(), ctx.agent, invoice_id, reason)
    return as_json({"invoice": brief(v)})


# ---- money: these wait for the person's confirmation ---------------------------------------------------------

class InvoiceIdIn(BaseModel):
    invoice_id: int = Field(description="The invoice's id (from invoice_status or list_invoices)")


@tool("issue_invoice", args_schema=InvoiceIdIn)
def issue_invoice(runtime: Runtime, invoice_id: int) -> str:
    """Issue a draft: the checks run; clean -> issued with the next number; flagged -> pending approval;
    blocked -> refused with the reason. Asks the person to confirm first."""
    ctx = runtime.context
    with refusals():
        v = invoicing.issue_invoice(ctx.uow(**_confirmed(ctx)), ctx.agent, invoice_id)
    return as_json({"invoice": brief(v)})


class ApproveIn(InvoiceIdIn):
    note: str = Field(default="", max_length=2000, description="The approver's note, if any")


@tool("approve_invoice", args_schema=ApproveIn)
def approve_invoice(runtime: Runtime, invoice_id: int, note: str = "") -> str:
    """Approve an invoice pending approval; it is then issued with the next number. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        v = invoicing.approve_invoice(ctx.uow(**_confirmed(ctx)), ctx.agent, invoice_id, note)
    return as_json({"invoice": brief(v)})


class VoidIn(InvoiceIdIn):
    reason: str = Field(min_length=1, max_length=2000, description="Why, in the person's words")


@tool("void_invoice", args_schema=VoidIn)
def void_invoice(runtime: Runtime, invoice_id: int, reason: str) -> str:
    """Void an issued invoice nothing was paid or credited on; it keeps its number. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        v = invoicing.void_invoice(ctx.uow(**_confirmed(ctx)), ctx.agent, invoice_id, reason)
    return as_json({"invoice": brief(v)})


class CreditIn(InvoiceIdIn):
    reason: str = Field(min_length=1, max_length=2000, description="Why, in the person's words")
    amount: str | None = Field(default=None, description="Gross amount to credit, a decimal string; "
                                                         "omit to credit the whole balance")


@tool("credit_note", args_schema=CreditIn)
def credit_note(runtime: Runtime, invoice_id: int, reason: str, amount: str | None = None) -> str:
    """Correct an issued invoice with a credit note for part or all of its balance. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        v = invoicing.create_credit_note(ctx.uow(**_confirmed(ctx)), ctx.agent, invoice_id, reason, amount)
    return as_json({"credit_note": brief(v)})


class PaymentIn(InvoiceIdIn):
    amount: str = Field(description="The amount received, a decimal string in the invoice's currency")
    received_on: date | None = Field(default=None, description="Default today, YYYY-MM-DD")
    reference: str = Field(default="", max_length=200, description="Bank reference, if any")


@tool("record_payment", args_schema=PaymentIn)
def record_payment(runtime: Runtime, invoice_id: int, amount: str, received_on: date | None = None,
                   reference: str = "") -> str:
    """Record money received against an issued invoice. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        day = received_on or ctx.db.clock.today()
        v = invoicing.record_payment(ctx.uow(**_confirmed(ctx)), ctx.agent, invoice_id, amount, day, reference)
    return as_json({"invoice": brief(v)})


class SendIn(InvoiceIdIn):
    to: list[str] | None = Field(default=None, description="Recipients; omit for the client's billing e-mails")


@tool("send_invoice", args_schema=SendIn)
def send_invoice(runtime: Runtime, invoice_id: int, to: list[str] | None = None) -> str:
    """E-mail an issued invoice (PDF attached, link to its page) to the client. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        d = delivery.send_invoice(ctx.uow(**_confirmed(ctx)), ctx.agent, invoice_id, to)
    return as_json({"delivery": d.model_dump(mode="json")})


class ApplyParkedIn(BaseModel):
    parked_payment_id: int = Field(description="The parked payment's id (from parked_payments)")
    invoice_id: int = Field(description="The invoice the person chose for it (never guessed)")
    amount: str | None = Field(default=None, description="Only part of it, a decimal string; default all left")


@tool("apply_parked_payment", args_schema=ApplyParkedIn)
def apply_parked_payment(runtime: Runtime, parked_payment_id: int, invoice_id: int, amount: str | None = None) -> str:
    """Apply a parked payment (or part of it) to the invoice the person named: a recorded payment on it. Only
    when the person said which invoice. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        p = payments_parked.apply_parked(ctx.uow(**_confirmed(ctx)), ctx.agent, parked_payment_id, invoice_id,
                                         amount)
    return as_json({"parked_payment": {"id": p.id, "status": p.status, "remaining": p.remaining,
                                       "applications": p.applications}})


class DismissParkedIn(BaseModel):
    parked_payment_id: int = Field(description="The parked payment's id (from parked_payments)")
    reason: str = Field(min_length=1, max_length=500, description="Why, in the person's words")


@tool("dismiss_parked_payment", args_schema=DismissParkedIn)
def dismiss_parked_payment(runtime: Runtime, parked_payment_id: int, reason: str) -> str:
    """Dismiss a parked payment (refunded, booked elsewhere, a duplicate) with the person's reason; nothing is
    paid. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        p = payments_parked.dismiss_parked(ctx.uow(**_confirmed(ctx)), ctx.agent, parked_payment_id, reason)
    return as_json({"parked_payment": {"id": p.id, "status": p.status, "reason": p.dismiss_reason}})


# ---- previews: what the person confirms, computed here from the books --------------------------------------

def _name(v: InvoiceView) -> str:
    what = "credit note" if v.kind == "credit_note" else "invoice"
    who = f"{what} {v.number}" if v.number else f"draft #{v.id}"
    period = f", {v.period_start} to {v.period_end}" if v.period_start else ""
    return f"{who} for {v.client_name}{period}"


def _invoice(ctx: ToolContext, args: dict[str, Any]) -> InvoiceView:
    return invoicing.get_invoice(ctx.reader(), ctx.agent, int(args["invoice_id"]))


def _flags(v: InvoiceView) -> str:
    flags = [c["reason"] for c in v.checks if c.get("outcome") == "flag"]
    return f" Flagged: {'; '.join(flags)}." if flags else ""


def preview_issue(ctx: ToolContext, args: dict[str, Any]) -> str:
    v = _invoice(ctx, args)
    return (f"Issue {_name(v)}: {money(v.total, v.currency)} ({money(v.subtotal, v.currency)} + "
            f"{money(v.tax_total, v.currency)} tax), {len(v.lines)} lines. The checks run first: if one flags it, it "
            "waits for an approver instead of being issued.")


def preview_approve(ctx: ToolContext, args: dict[str, Any]) -> str:
    v = _invoice(ctx, args)
    note = f" Note: {args['note']}." if args.get("note") else ""
    return (f"Approve and issue {_name(v)}: {money(v.total, v.currency)}. It gets the next invoice number."
            f"{_flags(v)}{note}")


def preview_void(ctx: ToolContext, args: dict[str, Any]) -> str:
    v = _invoice(ctx, args)
    return (f"Void {_name(v)}: {money(v.total, v.currency)}, paid {money(v.paid, v.currency)}. Reason: "
            f"{args.get('reason', '')}. It keeps its number; its work becomes billable again.")


def preview_credit(ctx: ToolContext, args: dict[str, Any]) -> str:
    v = _invoice(ctx, args)
    balance = Money.parse(v.balance, v.currency, "balance")
    amount = Money.parse(args["amount"], v.currency, "amount") if args.get("amount") else balance
    return (f"Credit note of {money(amount.text, v.currency)} against {_name(v)}: balance "
            f"{money(balance.text, v.currency)} -> {money((balance - amount).text, v.currency)}. "
            f"Reason: {args.get('reason', '')}.")


def preview_send(ctx: ToolContext, args: dict[str, Any]) -> str:
    v = _invoice(ctx, args)
    to = args.get("to") or ["the client's billing e-mails"]
    return (f"E-mail {_name(v)} ({money(v.total, v.currency)}, balance {money(v.balance, v.currency)}) to "
            f"{', '.join(to)}, with the PDF attached.")


def preview_payment(ctx: ToolContext, args: dict[str, Any]) -> str:
    v = _invoice(ctx, args)
    balance = Money.parse(v.balance, v.currency, "balance")
    amount = Money.parse(args["amount"], v.currency, "amount")
    day = args.get("received_on") or ctx.db.clock.today()
    ref = f" (reference {args['reference']})" if args.get("reference") else ""
    after = balance - amount
    return (f"Record a payment of {money(amount.text, v.currency)} received {day}{ref} on {_name(v)}: balance "
            f"{money(balance.text, v.currency)} -> {money(after.text, v.currency)}"
            + (" (paid in full)." if after.amount == Decimal(0) else "."))


def _parked(ctx: ToolContext, args: dict[str, Any]) -> payments_parked.ParkedPaymentView:
    return payments_parked.get_parked(ctx.reader(), ctx.agent, int(args["parked_payment_id"]))


def preview_apply_parked(ctx: ToolContext, args: dict[str, Any]) -> str:
    p = _parked(ctx, args)
    v = _invoice(ctx, args)
    part = str(args.get("amount") or p.remaining)
    return (f"Apply {money(part, v.currency)} of parked payment #{p.id} (received {p.received_on}"
            + (f" from {p.payer}" if p.payer else "") + f", naming {p.invoice_number or 'no invoice'}) to "
            f"{_name(v)}: balance {money(v.balance, v.currency)}; it is recorded as a payment.")


def preview_dismiss_parked(ctx: ToolContext, args: dict[str, Any]) -> str:
    p = _parked(ctx, args)
    return (f"Dismiss parked payment #{p.id} of {p.amount} {p.currency or ''} (received {p.received_on}). Reason: "
            f"{args.get('reason', '')}. Nothing is paid.")


# ---- previews of the writes that move no money (with a model, they wait too) -----------------------------------

def _lines(lines: list[LineView], currency: str, limit: int = 6) -> str:
    shown = [f"{ln.description} {money(ln.amount, currency)}" for ln in lines[:limit]]
    more = f"; and {len(lines) - limit} more" if len(lines) > limit else ""
    return "; ".join(shown) + more


def preview_draft(ctx: ToolContext, args: dict[str, Any]) -> str:
    if args.get("month"):
        start, end = month_window(str(args["month"]))
    elif args.get("period_start") and args.get("period_end"):
        start, end = date.fromisoformat(str(args["period_start"])), date.fromisoformat(str(args["period_end"]))
    else:
        raise _missing("give month (YYYY-MM) or period_start and period_end", "month")
    v, existing = invoicing.preview_draft(ctx.reader(), ctx.agent, int(args["client_id"]), start, end)
    if existing:
        return (f"Draft {v.client_name} for {start} to {end}: {_name(v)} is already open "
                f"({money(v.total, v.currency)}); it is returned, nothing new is made.")
    return (f"Draft an invoice for {v.client_name}, {start} to {end}: {money(v.total, v.currency)} "
            f"({money(v.subtotal, v.currency)} + {money(v.tax_total, v.currency)} tax), {len(v.lines)} lines: "
            f"{_lines(v.lines, v.currency)}. No number; it goes nowhere until it is issued.")


def preview_manual_line(ctx: ToolContext, args: dict[str, Any]) -> str:
    before, after = invoicing.preview_manual_line(ctx.reader(), ctx.agent, int(args["invoice_id"]),
                                                  str(args["description"]), args["quantity"], args["unit_price"])
    line = after.lines[-1]
    return (f"Add a line to {_name(before)}: \"{line.description}\", {line.quantity} x "
            f"{money(line.unit_price, after.currency)} = {money(line.amount, after.currency)} (+ "
            f"{money(line.tax, after.currency)} tax). Total {money(before.total, before.currency)} -> "
            f"{money(after.total, after.currency)}. A manual line needs an approver who did not write it.")


def preview_log_time(ctx: ToolContext, args: dict[str, Any]) -> str:
    t = work.preview_time(ctx.reader(), ctx.agent, {
        "client_id": args["client_id"], "date": args["date"], "hours": args["hours"], "role": args["role"],
        "description": args.get("description") or "", "person": args.get("person") or ""})
    what = f": {args['description']}" if args.get("description") else ""
    warn = f" Note: {'; '.join(t.warnings)}." if t.warnings else ""
    return f"Log {t.hours} h on {t.client_name} for {args['date']} as {args['role']}, by {t.person}{what}.{warn}"


def preview_milestone(ctx: ToolContext, args: dict[str, Any]) -> str:
    m, client = work.get_milestone(ctx.reader(), ctx.agent, int(args["milestone_id"]))
    if m.completed_on is not None:
        return f"Milestone \"{m.name}\" of {client} was already completed on {m.completed_on}: nothing changes."
    day = args.get("completed_on") or ctx.db.clock.today()
    return (f"Mark milestone \"{m.name}\" of {client} complete on {day}: its fee of {money(m.amount, m.currency)} "
            "becomes billable on the next draft.")


def preview_reject(ctx: ToolContext, args: dict[str, Any]) -> str:
    v = _invoice(ctx, args)
    if v.status != "pending_approval":
        return f"Reject {_name(v)}: cannot be done as asked (it is {v.status.replace('_', ' ')}, not pending approval)."
    return (f"Send {_name(v)} ({money(v.total, v.currency)}) back to draft, not issued. Reason: "
            f"{args.get('reason', '')}.")
