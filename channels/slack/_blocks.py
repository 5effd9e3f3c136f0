"""Block Kit builders: approval cards (and their decided state), confirmation prompts, notifications, refusals.
Pure functions from our data to Slack's JSON; nothing here calls Slack."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

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


def _period(p: dict[str, Any]) -> str:
    period = p.get("period") or []
    return f"{period[0]} – {period[1]}" if len(period) == 2 and period[0] != "None" else "no period"


def card_title(p: dict[str, Any]) -> str:
    return f"Approval needed: {p.get('client_name', '?')}, {amount(p.get('total'), p.get('currency'))}"


def approval_card(p: dict[str, Any], decided: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The card for an `approval.requested` payload: client, total, period, each flag and why, the lines (folded
    when long), Approve / Reject; once `decided`, who decided and when instead of the buttons."""
    inv = p["invoice_id"]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Invoice draft #{inv} needs approval"[:150]}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Client*\n{esc(p.get('client_name', '?'))}"},
            {"type": "mrkdwn", "text": f"*Total*\n{amount(p.get('total'), p.get('currency'))}"},
            {"type": "mrkdwn", "text": f"*Period*\n{_period(p)}"},
            {"type": "mrkdwn", "text": f"*Requested by*\n{esc(p.get('requested_by') or 'the rules')}"}]},
    ]
    flags = p.get("flags") or []
    if flags:
        blocks.append(_section("*Flags*\n" + "\n".join(
            f":warning: *{esc(f.get('code', '?'))}*: {esc(f.get('reason', ''))}" for f in flags)))
    lines = p.get("lines") or []
    count = int(p.get("line_count", len(lines)))
    if lines:
        shown = [f"• {esc(ln['description'])}: {amount(ln['amount'])}" + (" _(manual)_" if ln.get("manual") else "")
                 for ln in lines[:SHOWN_LINES]]
        if count > SHOWN_LINES:
            shown.append(f"_… and {count - SHOWN_LINES} more lines (see the invoice)_")
        blocks.append(_section(f"*Lines* ({count})\n" + "\n".join(shown)))
    if decided is None:
        blocks.append({"type": "actions", "block_id": f"approval:{inv}", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": str(inv),
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": REJECT, "style": "danger", "value": str(inv),
             "text": {"type": "plain_text", "text": "Reject"}}]})
    else:
        blocks.append(_section(decided_text(decided)))
    return blocks


def decided_text(d: dict[str, Any]) -> str:
    what = _DECISION.get(str(d.get("decision")), str(d.get("decision")))
    at = str(d.get("at", ""))[:16].replace("T", " ")
    out = f"{what} by {esc(d.get('by', '?'))} at {at} UTC"
    if d.get("number"):
        out += f": issued as *{esc(d['number'])}*"
    if d.get("reason"):
        out += f"\n> {esc(d['reason'])}"
    return out


def decided_card(invoice: dict[str, Any] | None, d: dict[str, Any]) -> list[dict[str, Any]]:
    """A card after the decision: the invoice as it is now (if it still exists) and who decided when."""
    if invoice is None:
        return [_section(f"Invoice draft #{d['invoice_id']}"), _section(decided_text(d))]
    return approval_card(invoice, decided=d)


def confirm_prompt(text: str, value: dict[str, Any]) -> list[dict[str, Any]]:
    """The agent's reply with an action waiting: what will happen (server-computed amounts), Confirm / Cancel."""
    raw = json.dumps(value, separators=(",", ":"))
    return [_section(text), {"type": "actions", "block_id": "confirm", "elements": [
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


def _money(p: dict[str, Any], key: str = "total") -> str:
    return amount(p.get(key), p.get("currency", ""))


def _invoice_ref(p: dict[str, Any]) -> str:
    return esc(p.get("number") or f"draft #{p.get('invoice_id')}")


def notification(topic: str, p: dict[str, Any]) -> str:
    """A readable line for an outbox topic; a topic nobody taught us is still shown, as its fields."""
    if topic == "notify.delivery_failed":
        return (f":email: *Delivery failed* for invoice {_invoice_ref(p)}: {esc(p.get('error', ''))}\n"
                "Check the client's billing e-mail, then send it again.")
    if topic == "event.dead":
        return (f":skull: *Event dead-lettered*: {esc(p.get('source'))} `{esc(p.get('external_id'))}` "
                f"({esc(p.get('type'))}) after {p.get('attempts')} attempts: {esc(p.get('reason', ''))}\n"
                f"Fix the cause, then `billable events retry {p.get('event_id')}`.")
    if topic in ("payment.received", "invoice.payment_received", "payment.recorded"):
        return (f":moneybag: *Payment received* on {_invoice_ref(p)}"
                + (f" ({esc(p['client_name'])})" if p.get("client_name") else "")
                + (f": {_money(p, 'amount')}" if p.get("amount") else "")
                + (f", balance {_money(p, 'balance')}" if p.get("balance") else ""))
    if topic == "payment.parked":
        named = f" naming {esc(p['number'])}" if p.get("number") else ""
        who = f" from {esc(p['payer'])}" if p.get("payer") else ""
        ref = f" (ref {esc(p['reference'])})" if p.get("reference") else ""
        return (f":inbox_tray: *Payment parked*: {esc(p.get('amount', '?'))}{who}{named}{ref}: "
                f"{esc(p.get('detail') or p.get('reason', ''))}\nApply it to the right invoice or dismiss it: "
                f"`billable payments parked`, or Payments in the dashboard.")
    if topic in ("invoice.overdue_digest", "invoices.overdue_digest", "overdue.digest"):
        items = p.get("invoices") or []
        rows = [f"• {_invoice_ref(i)} {esc(i.get('client_name', ''))}: {_money(i, 'balance')} "
                f"due {i.get('due_date', '?')}"
                + (f" ({i['days_overdue']} days overdue)" if i.get("days_overdue") else "") for i in items[:20]]
        count = p.get("count", len(items))
        if isinstance(count, int) and count > len(rows):
            rows.append(f"… and {count - len(items[:20])} more")
        totals = ", ".join(amount(v, k) for k, v in (p.get("totals") or {}).items())
        return (f":alarm_clock: *Overdue invoices* ({count}{', ' + totals if totals else ''})\n"
                + ("\n".join(rows) or "none"))
    if topic == "invoice.issued":
        return f":receipt: Invoice *{_invoice_ref(p)}* issued to {esc(p.get('client_name', '?'))}: {_money(p)}"
    if topic == "invoice.blocked":
        reasons = "; ".join(esc(c.get("reason", "")) for c in p.get("checks") or [])
        return f":no_entry: Draft #{p.get('invoice_id')} for {esc(p.get('client_name', '?'))} is blocked: {reasons}"
    if topic == "review.requested":
        return (f":eyes: Draft #{p.get('invoice_id')} for {esc(p.get('client_name', '?'))} ({_money(p)}) "
                f"waits for review: {esc(p.get('reason', ''))}")
    fields = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in p.items() if not isinstance(v, dict | list))
    return f":bell: *{esc(topic)}*" + (f"\n{fields}" if fields else "")
