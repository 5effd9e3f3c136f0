"""The agent's tools (CONVENTIONS 9-10): thin and typed, one domain service call each, tagged READ or WRITE.

Which tools an agent gets depends on the person's role (the permission each tool needs) and the channel: a tool
that would wait for the person's confirmation is not offered where nobody can confirm. Every WRITE tool carries a
preview (what it will do, computed by the server: the confirmation text). Which writes wait is `waits`: with a
model, every write; with the offline interpreter (which does only what the person's own words say), those that
move money or reach the client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from langchain_core.tools import BaseTool

from domain.model.roles import PERMISSIONS, Perm, Role
from tools import _contracts as c
from tools import _read as r
from tools import _write as w
from tools._common import as_json, month_window, refusal
from tools._context import CAN_CONFIRM, Channel, ToolContext


class Kind(StrEnum):
    READ = "read"
    WRITE = "write"


Preview = Callable[[ToolContext, dict[str, Any]], str]


@dataclass(frozen=True)
class ToolSpec:
    tool: BaseTool
    kind: Kind
    needs: frozenset[Perm]  # any one of these
    preview: Preview | None = None  # every WRITE has one: what it will do, shown before the person confirms
    moves_money: bool = False  # or makes an invoice final, or reaches the client: always confirmed

    @property
    def name(self) -> str:
        return self.tool.name

    def waits(self, every_write: bool) -> bool:
        """Whether a call waits for the person's yes: every write with a model (`every_write`), else money."""
        return self.kind is Kind.WRITE and (every_write or self.moves_money)


def _spec(tool: BaseTool, kind: Kind, *needs: Perm, preview: Preview | None = None, money: bool = False) -> ToolSpec:
    tool.handle_tool_error = True  # a ToolException (a domain refusal) becomes an error result, not a raise
    assert (kind is Kind.WRITE) == (preview is not None), f"{tool.name}: a WRITE tool needs a preview, a READ none"
    return ToolSpec(tool, kind, frozenset(needs), preview, money)


R, W = Kind.READ, Kind.WRITE
TOOLS: tuple[ToolSpec, ...] = (
    _spec(r.find_client, R, Perm.VIEW_BOOKS, Perm.LOG_TIME),
    _spec(r.invoice_status, R, Perm.VIEW_BOOKS),
    _spec(r.list_invoices, R, Perm.VIEW_BOOKS),
    _spec(r.pending_approvals, R, Perm.VIEW_BOOKS),
    _spec(r.explain_invoice, R, Perm.VIEW_BOOKS),
    _spec(r.unbilled_work, R, Perm.VIEW_BOOKS),
    _spec(r.client_arrangements, R, Perm.VIEW_BOOKS),
    _spec(r.client_einvoice_format, R, Perm.VIEW_BOOKS),
    _spec(r.audit_history, R, Perm.VIEW_BOOKS),
    _spec(r.my_time_entries, R, Perm.LOG_TIME),
    _spec(r.parked_payments, R, Perm.PAYMENTS),
    _spec(c.arrangement_versions, R, Perm.VIEW_BOOKS),
    _spec(c.pending_amendments, R, Perm.VIEW_BOOKS),
    _spec(w.draft_invoice, W, Perm.DRAFT, preview=w.preview_draft),
    _spec(w.add_manual_line, W, Perm.DRAFT, preview=w.preview_manual_line),
    _spec(w.log_time, W, Perm.LOG_TIME, preview=w.preview_log_time),
    _spec(w.complete_milestone, W, Perm.RECORD_WORK, preview=w.preview_milestone),
    _spec(w.reject_invoice, W, Perm.APPROVE, preview=w.preview_reject),
    _spec(w.issue_invoice, W, Perm.ISSUE, preview=w.preview_issue, money=True),
    _spec(w.approve_invoice, W, Perm.APPROVE, preview=w.preview_approve, money=True),
    _spec(w.void_invoice, W, Perm.VOID, preview=w.preview_void, money=True),
    _spec(w.credit_note, W, Perm.VOID, preview=w.preview_credit, money=True),
    _spec(w.record_payment, W, Perm.PAYMENTS, preview=w.preview_payment, money=True),
    _spec(w.send_invoice, W, Perm.ISSUE, preview=w.preview_send, money=True),
    _spec(w.apply_parked_payment, W, Perm.PAYMENTS, preview=w.preview_apply_parked, money=True),
    _spec(w.dismiss_parked_payment, W, Perm.PAYMENTS, preview=w.preview_dismiss_parked, money=True),
    # contracts: they change what every later invoice bills, so they wait for a yes on every chat (account
    # managers may propose an amendment, which then waits for finance)
    _spec(c.amend_arrangement, W, Perm.MANAGE_CLIENTS, Perm.RECORD_WORK, preview=c.preview_amend, money=True),
    _spec(c.end_arrangement, W, Perm.MANAGE_CLIENTS, preview=c.preview_end, money=True),
    _spec(c.decide_amendment, W, Perm.APPROVE, preview=c.preview_decide, money=True),
)
BY_NAME: dict[str, ToolSpec] = {s.name: s for s in TOOLS}


def tools_for(role: Role, channel: Channel, every_write: bool = True) -> tuple[ToolSpec, ...]:
    """Least privilege: the tools this role may use on this channel. Where nobody can confirm, no tool that would
    wait for a confirmation (with a model, `every_write`: no write at all)."""
    perms = PERMISSIONS[role]
    return tuple(s for s in TOOLS if s.needs & perms and (channel in CAN_CONFIRM or not s.waits(every_write)))


__all__ = ["BY_NAME", "CAN_CONFIRM", "TOOLS", "Channel", "Kind", "ToolContext", "ToolSpec", "as_json",
           "month_window", "refusal", "tools_for"]
