"""Contract tools (issue 13): read an arrangement's versions; amend its terms from a date; end it on a day.

The two writes change what every later invoice bills, so they wait for the person's yes on every chat, with the
effect computed by the server: the same amendment or end run as a dry run (its checks, the new version, the
differences on periods already invoiced, the next invoice's lines), nothing kept. An account manager's amendment
is a proposal that waits for finance; the preview says so.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from langchain.tools import ToolRuntime, tool
from pydantic import BaseModel, Field

from domain.services import contracts
from prompts import money
from tools._common import as_json, refusals
from tools._context import ToolContext

Runtime = ToolRuntime[ToolContext]


class ArrangementRefIn(BaseModel):
    client_id: int = Field(description="The client's id (from find_client)")
    arrangement_id: int = Field(description="The arrangement's id (from client_arrangements)")


def _version(v: contracts.VersionView | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"number": v.number, "effective_on": v.effective_on, "status": v.status, "terms": v.terms,
            "changes": v.changes, "reason": v.reason, "by": v.created_by, "decided_by": v.decided_by}


def _result(r: contracts.ChangeResult) -> dict[str, Any]:
    a = r.arrangement
    p = r.preview
    return {"arrangement": {"id": a.id, "client_id": a.client_id, "kind": a.kind, "name": a.name,
                            "ends_on": a.ends_on, "terms": a.terms},
            "version": _version(r.version),
            "adjustments": [{"period": x.period, "amount": x.amount, "currency": x.currency,
                             "disposition": x.disposition, "description": x.description} for x in p.adjustments],
            "next_period": p.next_period, "currency": p.currency,
            "next_lines": [{"description": ln.description, "amount": ln.amount, "terms_version": ln.terms_version}
                           for ln in p.next_lines], "note": p.note}


@tool("arrangement_versions", args_schema=ArrangementRefIn)
def arrangement_versions(runtime: Runtime, client_id: int, arrangement_id: int) -> str:
    """Every version of an arrangement's terms: number, the day it took effect, status (active, proposed, rejected),
    the full terms, what changed (field: [before, after]), who made it and why; and the adjustments amendments
    left on periods already invoiced."""
    ctx = runtime.context
    with refusals():
        x = contracts.list_versions(ctx.reader(), ctx.agent, client_id, arrangement_id)
    a = x.arrangement
    return as_json({
        "arrangement": {"id": a.id, "kind": a.kind, "name": a.name, "starts_on": a.starts_on, "ends_on": a.ends_on,
                        "active": a.active, "terms": a.terms},
        "versions": [_version(v) for v in x.versions],
        "adjustments": [{"period": j.period, "amount": j.amount, "currency": j.currency,
                         "disposition": j.disposition, "description": j.description,
                         "billed_on_invoice_id": j.billed_on_invoice_id} for j in x.adjustments]})


class AmendIn(ArrangementRefIn):
    effective_on: date = Field(description="The first day the new terms apply, YYYY-MM-DD (may be in the past)")
    terms: dict[str, Any] = Field(description="Only the terms that change, with their NEW values, e.g. "
                                              "{\"seats\": 52} or {\"fee\": \"5500.00\"} or "
                                              "{\"role_rates\": {\"Engineer\": \"150.00\"}}; money as decimal strings")
    reason: str = Field(default="", max_length=2000, description="Why, in the person's words, if they said")


@tool("amend_arrangement", args_schema=AmendIn)
def amend_arrangement(runtime: Runtime, client_id: int, arrangement_id: int, effective_on: date,
                      terms: dict[str, Any], reason: str = "") -> str:
    """Change an arrangement's terms from a date: a new version (seats, fee, rates, unit price, markup, cap,
    included hours, cycle). A change dated into a period already invoiced bills the difference on the next invoice.
    An account manager's amendment is a proposal that waits for finance. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        r = contracts.amend_arrangement(ctx.uow(**_confirmed(ctx)), ctx.agent, client_id, arrangement_id,
                                        {"effective_on": effective_on, "terms": terms, "reason": reason})
    return as_json(_result(r))


class EndIn(ArrangementRefIn):
    ends_on: date = Field(description="The last day the arrangement runs, YYYY-MM-DD")
    reason: str = Field(default="", max_length=2000, description="Why, in the person's words, if they said")


@tool("end_arrangement", args_schema=EndIn)
def end_arrangement(runtime: Runtime, client_id: int, arrangement_id: int, ends_on: date, reason: str = "") -> str:
    """End an arrangement on a day: its last period is prorated, work up to that day still bills on the next
    invoice, nothing after. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        r = contracts.end_arrangement(ctx.uow(**_confirmed(ctx)), ctx.agent, client_id, arrangement_id,
                                      {"ends_on": ends_on, "reason": reason})
    return as_json(_result(r))


def _confirmed(ctx: ToolContext) -> dict[str, str]:
    return {"confirmed_by": ctx.actor.email or str(ctx.actor.user_id)}


# ---- previews: the same change as a dry run, told -----------------------------------------------------------------

def _value(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in v.items()) or "none"
    return "none" if v is None else str(v)


def describe_changes(changes: dict[str, Any]) -> str:
    """{"seats": [48, 52]} -> "seats 48 → 52"; rates by name: "role rates Engineer 140.00 → 150.00"."""
    parts = []
    for field, pair in changes.items():
        before, after = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
        label = field.replace("_", " ")
        if isinstance(before, dict) or isinstance(after, dict):
            b, a = dict(before or {}), dict(after or {})
            for name in sorted(set(b) | set(a)):
                if b.get(name) != a.get(name):
                    parts.append(f"{label} {name} {_value(b.get(name))} → {_value(a.get(name))}")
        else:
            parts.append(f"{label} {_value(before)} → {_value(after)}")
    return ", ".join(parts)


def _effect(r: contracts.ChangeResult) -> str:
    p = r.preview
    cur = p.currency
    out = []
    for x in p.adjustments:
        where = "proposed as a credit note" if x.disposition == "credit_note" else "on the next invoice"
        sign = "+" if not x.amount.startswith("-") else ""
        out.append(f"already invoiced {x.period.replace('..', ' to ')}: {sign}{money(x.amount, cur)} {where}")
    if p.next_lines:
        lines = "; ".join(f"{ln.description} {money(ln.amount, cur)}" for ln in p.next_lines)
        out.append(f"next invoice ({(p.next_period or '').replace('..', ' to ')}): {lines}")
    if p.note:
        out.append(p.note)
    return (" " + ". ".join(s[:1].upper() + s[1:] for s in out) + ".") if out else ""


def _what(r: contracts.ChangeResult, client: str) -> str:
    a = r.arrangement
    return f"{a.name or a.kind.replace('_', ' ')} ({a.kind.replace('_', ' ')}) of {client}"


def _client_name(ctx: ToolContext, client_id: int) -> str:
    from domain.services import clients

    return clients.get_client(ctx.reader(), ctx.agent, client_id).name


def preview_amend(ctx: ToolContext, args: dict[str, Any]) -> str:
    client_id, arrangement_id = int(args["client_id"]), int(args["arrangement_id"])
    r = contracts.amend_arrangement(ctx.db.uow(), ctx.agent, client_id, arrangement_id, {
        "effective_on": args["effective_on"], "terms": args.get("terms") or {}, "reason": args.get("reason") or ""},
        dry_run=True)
    v = r.version
    assert v is not None
    why = f" Reason: {args['reason']}." if args.get("reason") else ""
    head = (f"{_what(r, _client_name(ctx, client_id))} from {v.effective_on}: {describe_changes(v.changes)} "
            f"(version {v.number}).")
    if v.status == "proposed":
        return (f"Propose an amendment of {head} It waits for finance's approval; nothing changes until then. If "
                f"approved:{_effect(r) or ' nothing else changes.'}{why}")
    return f"Amend {head}{_effect(r)}{why}"


def preview_end(ctx: ToolContext, args: dict[str, Any]) -> str:
    client_id, arrangement_id = int(args["client_id"]), int(args["arrangement_id"])
    r = contracts.end_arrangement(ctx.db.uow(), ctx.agent, client_id, arrangement_id, {
        "ends_on": args["ends_on"], "reason": args.get("reason") or ""}, dry_run=True)
    why = f" Reason: {args['reason']}." if args.get("reason") else ""
    effect = _effect(r)
    return (f"End {_what(r, _client_name(ctx, client_id))} on {r.arrangement.ends_on}."
            + (effect or " It bills nothing after that day.") + why)


# ---- amendments an account manager proposed, waiting for finance ----------------------------------------------------

@tool("pending_amendments")
def pending_amendments(runtime: Runtime) -> str:
    """Amendments account managers proposed that wait for finance: id, client, arrangement, version, from when,
    what changes, who proposed it and why."""
    ctx = runtime.context
    with refusals():
        rows = contracts.list_proposals(ctx.reader(), ctx.agent)
    return as_json({"amendments": [{"id": v.id, "client_id": v.client_id, "client": v.client_name,
                                    "arrangement_id": v.arrangement_id, "arrangement": v.arrangement_name,
                                    "version": v.number, "effective_on": v.effective_on, "changes": v.changes,
                                    "by": v.created_by, "reason": v.reason} for v in rows], "count": len(rows)})


class DecideIn(BaseModel):
    version_id: int = Field(description="The proposed amendment's id (from pending_amendments)")
    approve: bool = Field(description="true: put it in force; false: reject it (then say why in note)")
    note: str = Field(default="", max_length=2000, description="The approver's note; the reason when rejecting")


@tool("decide_amendment", args_schema=DecideIn)
def decide_amendment(runtime: Runtime, version_id: int, approve: bool, note: str = "") -> str:
    """Approve (put in force, with its differences on invoiced periods) or reject an amendment an account manager
    proposed. Someone other than the proposer decides. Asks the person to confirm."""
    ctx = runtime.context
    with refusals():
        r = contracts.decide_amendment(ctx.uow(**_confirmed(ctx)), ctx.agent, version_id, approve, note)
    return as_json(_result(r))


def preview_decide(ctx: ToolContext, args: dict[str, Any]) -> str:
    approve = bool(args.get("approve"))
    note = str(args.get("note") or "")
    r = contracts.decide_amendment(ctx.db.uow(), ctx.agent, int(args["version_id"]), approve, note, dry_run=True)
    v = r.version
    assert v is not None
    what = (f"the amendment {v.created_by} proposed of {_what(r, _client_name(ctx, r.arrangement.client_id))} from "
            f"{v.effective_on}: {describe_changes(v.changes)} (version {v.number})")
    if not approve:
        return f"Reject {what}. Nothing changes. Reason: {note}."
    return f"Approve {what}: it takes effect.{_effect(r)}" + (f" Note: {note}." if note else "")
