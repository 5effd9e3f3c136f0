"""Block Kit builders: approval cards (and their decided state), confirmation prompts, notifications, refusals.
Pure functions from our data (the outbox's typed events, `domain.model.outbox_events`) to Slack's JSON; nothing
here calls Slack."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.model.outbox_events import (
    AccountingPaused,
    ApprovalDecided,
    ApprovalRequested,
    BookEvent,
    DeliveryFailed,
    EventDead,
    InvoiceBlocked,
    InvoiceIssued,
    OverdueDigest,
    PaymentParked,
    PaymentRecorded,
    ReviewRequested,
)

SHOWN_LINES = 8  # lines on a card before the rest is folded into "... and N more"
TEXT_LIMIT = 2900  # a section's text may hold 3,000 characters

APPROVE, REJECT = "invoice_approve", "invoice_reject"
CONFIRM, CANCEL = "action_confirm", "action_cancel"
REJECT_VIEW = "invoice_reject_reason"
REASON_BLOCK, REASON_INPUT = "reason", "reason_input"

_DECISION = {"approved": ":white_check_mark: Approved", "rejected": ":leftwards_arrow_with_hook: Rejected",
             "discarded": ":wastebasket: Discarded"}


def esc(text: object) -> str:
    """Slack's three control characters, escaped: names from the books are shown, never interpreted."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def amount(value: object, currency: object = "") -> str:
    """A decimal string with thousands grouped (8,984.50 EUR), as people read it."""
    try:
        text = format(Decimal(str(value)), ",")
    except (InvalidOperation, ValueError):
        text = str(value)
    return f"{text} {currency}".strip()


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:TEXT_LIMIT]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:TEXT_LIMIT]}]}


def _period(period: list[str] | None) -> str:
    return f"{period[0]} – {period[1]}" if period and len(period) == 2 and period[0] != "None" else "no period"


def card_title(p: ApprovalRequested) -> str:
    return f"Approval needed: {esc(p.client_name)}, {esc(amount(p.total, p.currency))}"


def approval_card(p: ApprovalRequested, decided: ApprovalDecided | None = None) -> list[dict[str, Any]]:
    """The card for an `approval.requested` event: client, total, period, each flag and why, the lines (folded
    when long), Approve / Reject; once `decided`, who decided and when instead of the buttons."""
    inv = p.invoice_id
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Invoice draft #{inv} needs approval"[:150]}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Client*\n{esc(p.client_name)}"},
            {"type": "mrkdwn", "text": f"*Total*\n{amount(p.total, p.currency)}"},
            {"type": "mrkdwn", "text": f"*Period*\n{_period(p.period)}"},
            {"type": "mrkdwn", "text": f"*Requested by*\n{esc(p.requested_by or 'the rules')}"}]},
    ]
    if p.flags:
        blocks.append(_section("*Flags*\n" + "\n".join(
            f":warning: *{esc(f.code)}*: {esc(f.reason)}" for f in p.flags)))
    if p.lines:
        shown = [f"• {esc(ln.description)}: {amount(ln.amount)}" + (" _(manual)_" if ln.manual else "")
                 for ln in p.lines[:SHOWN_LINES]]
        if p.line_count > SHOWN_LINES:
            shown.append(f"_… and {p.line_count - SHOWN_LINES} more lines (see the invoice)_")
        blocks.append(_section(f"*Lines* ({p.line_count})\n" + "\n".join(shown)))
    if decided is None:
        blocks.append({"type": "actions", "block_id": f"approval:{inv}", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": str(inv),
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": REJECT, "style": "danger", "value": str(inv),
             "text": {"type": "plain_text", "text": "Reject"}}]})
    else:
        blocks.append(_section(decided_text(decided)))
    return blocks


def decided_text(d: ApprovalDecided) -> str:
    what = _DECISION.get(d.decision, d.decision)
    at = d.at[:16].replace("T", " ")
    out = f"{what} by {esc(d.by)} at {at} UTC"
    if d.number:
        out += f": issued as *{esc(d.number)}*"
    if d.reason:
        out += f"\n> {esc(d.reason)}"
    return out


def decided_card(invoice: ApprovalRequested | None, d: ApprovalDecided) -> list[dict[str, Any]]:
    """A card after the decision: the invoice as it is now (if it still exists) and who decided when."""
    if invoice is None:
        return [_section(f"Invoice draft #{d.invoice_id}"), _section(decided_text(d))]
    return approval_card(invoice, decided=d)


def confirm_prompt(text: str, value: dict[str, Any], effects: list[str] | None = None) -> list[dict[str, Any]]:
    """The agent's reply with an action waiting: what will happen (server-computed amounts), Confirm / Cancel.
    Several changes proposed together: the reply, then one section per change (each shown whole, none cut off
    by the length limit of one section), and one Confirm / Cancel for all of them."""
    raw = json.dumps(value, separators=(",", ":"))
    if effects is not None and len(effects) > 1:
        said = text.split("Please confirm:", 1)[0].strip()
        head = f"Please confirm these {len(effects)} changes, together (Confirm does all of them, Cancel none):"
        sections = [_section(f"{said}\n\n{head}" if said else head)] + [
            _section(f"{i}. {e}") for i, e in enumerate(effects, 1)]
    else:
        sections = [_section(text)]
    return [*sections, {"type": "actions", "block_id": "confirm", "elements": [
        {"type": "button", "action_id": CONFIRM, "style": "primary", "value": raw,
         "text": {"type": "plain_text", "text": "Confirm"}},
        {"type": "button", "action_id": CANCEL, "value": raw, "text": {"type": "plain_text", "text": "Cancel"}}]}]


def confirm_done(text: str, outcome: str) -> list[dict[str, Any]]:
    return [_section(text), _context(outcome)]


def reject_modal(invoice_id: int, channel: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": REJECT_VIEW, "private_metadata": json.dumps(
        {"invoice_id": invoice_id, "channel": channel}),
        "title": {"type": "plain_text", "text": "Reject invoice"},
        "submit": {"type": "plain_text", "text": "Reject"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": REASON_BLOCK, "label": {
            "type": "plain_text", "text": f"Why is draft #{invoice_id} rejected?"},
            "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True,
                        "max_length": 500}}]}


# ---- notifications -----------------------------------------------------------------------------------------------


def _ref(number: str | None, invoice_id: int | None) -> str:
    return esc(number or f"draft #{invoice_id}")


def notification(event: BookEvent) -> str | None:
    """A readable line for an event of the catalogue, or None when the notify channel does not show it: what a
    person did through a door (void, credit, write-off), what another line says already (invoice.paid after a
    payment), what went as planned (an e-mail sent, a billing run's invoices) and the mailer's work orders."""
    match event:
        case DeliveryFailed():
            what = "Reminder refused" if event.stage == "reminder" else "Delivery failed"
            return (f":email: *{what}* for invoice {_ref(event.number, event.invoice_id)}: {esc(event.error)}\n"
                    "Check the client's billing e-mail, then send it again.")
        case EventDead():
            return (f":skull: *Event dead-lettered*: {esc(event.source)} `{esc(event.external_id)}` "
                    f"({esc(event.type)}) after {event.attempts} attempts: {esc(event.reason)}\n"
                    f"Fix the cause, then `billable events retry {event.event_id}`.")
        case PaymentRecorded():
            return (f":moneybag: *Payment received* on {_ref(event.number, event.invoice_id)}"
                    f" ({esc(event.client_name)}): {amount(event.amount, event.currency)}, "
                    f"balance {amount(event.balance, event.currency)}")
        case PaymentParked():
            named = f" naming {esc(event.number)}" if event.number else ""
            who = f" from {esc(event.payer)}" if event.payer else ""
            ref = f" (ref {esc(event.reference)})" if event.reference else ""
            return (f":inbox_tray: *Payment parked*: {esc(event.amount)}{who}{named}{ref}: "
                    f"{esc(event.detail or event.reason)}\nApply it to the right invoice or dismiss it: "
                    f"`billable payments parked`, or Payments in the dashboard.")
        case OverdueDigest():
            rows = [f"• {_ref(i.number, i.invoice_id)} {esc(i.client_name)}: {amount(i.balance, i.currency)} "
                    f"due {i.due_date or '?'}" + (f" ({i.days_overdue} days overdue)" if i.days_overdue else "")
                    for i in event.invoices[:20]]
            if event.count > len(rows):
                rows.append(f"… and {event.count - len(rows)} more")
            totals = ", ".join(amount(v, k) for k, v in event.totals.items())
            return (f":alarm_clock: *Overdue invoices* ({event.count}{', ' + totals if totals else ''})\n"
                    + ("\n".join(rows) or "none"))
        case InvoiceIssued() if event.via == "rule":  # nobody watched it happen; a run reports itself
            return (f":receipt: Invoice *{_ref(event.number, event.invoice_id)}* issued to {esc(event.client_name)}: "
                    f"{amount(event.total, event.currency)}")
        case InvoiceBlocked():
            reasons = "; ".join(esc(c.reason) for c in event.checks)
            return f":no_entry: Draft #{event.invoice_id} for {esc(event.client_name)} is blocked: {reasons}"
        case AccountingPaused():
            company = f" with {esc(event.company_name)}" if event.company_name else ""
            return (f":warning: *QuickBooks sync paused*{company}: {esc(event.reason)}\n{event.pending} change(s) "
                    "wait and will be pushed in order once an owner reconnects: Accounting in the dashboard, or "
                    "`billable accounting connect`.")
        case ReviewRequested():
            return (f":eyes: Draft #{event.invoice_id} for {esc(event.client_name)} "
                    f"({amount(event.total, event.currency)}) waits for review: {esc(event.reason)}")
    return None


def unknown(topic: str, p: dict[str, Any]) -> str:
    """A topic the catalogue does not know (or a payload it cannot read) is still shown, as its fields."""
    fields = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in p.items() if not isinstance(v, dict | list))
    return f":bell: *{esc(topic)}*" + (f"\n{fields}" if fields else "")
