"""The agent's tools (CONVENTIONS 9-10): thin and typed, one domain service call each, tagged READ or WRITE.

Which tools an agent gets depends on the person's role (the permission each tool needs) and the channel (a
channel where nobody can confirm gets nothing that moves money). Tools that move money carry a preview: the
confirmation text, with amounts computed by the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from langchain_core.tools import BaseTool

from domain.model.roles import PERMISSIONS, Perm, Role
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
    preview: Preview | None = None  # set: moves money, so the person confirms first

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def moves_money(self) -> bool:
        return self.preview is not None


def _spec(tool: BaseTool, kind: Kind, *needs: Perm, preview: Preview | None = None) -> ToolSpec:
    tool.handle_tool_error = True  # a ToolException (a domain refusal) becomes an error result, not a raise
    return ToolSpec(tool, kind, frozenset(needs), preview)


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
    _spec(w.draft_invoice, W, Perm.DRAFT),
    _spec(w.add_manual_line, W, Perm.DRAFT),
    _spec(w.log_time, W, Perm.LOG_TIME),
    _spec(w.complete_milestone, W, Perm.RECORD_WORK),
    _spec(w.reject_invoice, W, Perm.APPROVE),
    _spec(w.issue_invoice, W, Perm.ISSUE, preview=w.preview_issue),
    _spec(w.approve_invoice, W, Perm.APPROVE, preview=w.preview_approve),
    _spec(w.void_invoice, W, Perm.VOID, preview=w.preview_void),
    _spec(w.credit_note, W, Perm.VOID, preview=w.preview_credit),
    _spec(w.record_payment, W, Perm.PAYMENTS, preview=w.preview_payment),
    _spec(w.send_invoice, W, Perm.ISSUE, preview=w.preview_send),
    _spec(w.apply_parked_payment, W, Perm.PAYMENTS, preview=w.preview_apply_parked),
    _spec(w.dismiss_parked_payment, W, Perm.PAYMENTS, preview=w.preview_dismiss_parked),
)
BY_NAME: dict[str, ToolSpec] = {s.name: s for s in TOOLS}


def tools_for(role: Role, channel: Channel) -> tuple[ToolSpec, ...]:
    """Least privilege: the tools this role may use on this channel."""
    perms = PERMISSIONS[role]
    return tuple(s for s in TOOLS if s.needs & perms and (channel in CAN_CONFIRM or not s.moves_money))


__all__ = ["BY_NAME", "CAN_CONFIRM", "TOOLS", "Channel", "Kind", "ToolContext", "ToolSpec", "as_json",
           "month_window", "refusal", "tools_for"]
