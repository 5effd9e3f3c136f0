"""What the tools share: turning service results into compact JSON and domain refusals into short results the
model can act on (CONVENTIONS 10: tool failures are data; only bugs raise)."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from langchain_core.tools import ToolException

from domain.errors import BillingError
from domain.services.views import InvoiceView

# A next step for the refusals the model meets most, by code.
_NEXT = {
    "auth.forbidden": "tell the person who can do it; do not retry",
    "approval.own_request": "someone else must approve it; do not retry",
    "check.blocked": "report the reason; it cannot be issued until that is fixed",
    "invoice.not_found": "check the number or id with list_invoices",
    "client.not_found": "look the client up with find_client",
    "invoice.nothing_to_bill": "nothing is due for that period; say so",
    "invoice.bad_transition": "check the invoice's status with invoice_status",
}


def as_json(data: Any) -> str:
    return json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))


def refusal(e: BillingError) -> ToolException:
    text = f"refused ({e.code}): {e.message}" + (f" [field: {e.field}]" if e.field else "")
    if e.code in _NEXT:
        text += f". Next: {_NEXT[e.code]}."
    return ToolException(text)


@contextmanager
def refusals() -> Iterator[None]:
    """Around a tool's service call: a BillingError becomes an error result the model reads (ToolMessage with
    status=error, via ToolException and handle_tool_error); anything else is a bug and raises."""
    try:
        yield
    except BillingError as e:
        raise refusal(e) from None


def brief(v: InvoiceView) -> dict[str, Any]:
    """An invoice in a few fields, always the same keys: enough to answer and to act on."""
    flagged = [c for c in v.checks if c.get("outcome") in ("flag", "block")]
    return {
        "id": v.id, "number": v.number, "kind": v.kind, "status": v.status, "client": v.client_name,
        "client_id": v.client_id, "currency": v.currency, "total": v.total, "balance": v.balance,
        "period": f"{v.period_start}..{v.period_end}" if v.period_start else None, "due": v.due_date,
        "overdue": v.overdue, "checks": [f"{c['outcome']} {c['code']}: {c['reason']}" for c in flagged],
        "reason": v.reason or None,
    }


_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


def month_window(month: str, field: str = "month") -> tuple[date, date]:
    """'2026-03' -> (2026-03-01, 2026-03-31)."""
    from domain.errors import ValidationFailed

    m = _MONTH.match(month or "")
    if not m or not 1 <= int(m[2]) <= 12:
        raise ValidationFailed("give the month as YYYY-MM, e.g. 2026-03", field=field)
    y, mo = int(m[1]), int(m[2])
    return date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1])
