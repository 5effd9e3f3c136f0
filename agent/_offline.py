"""The offline interpreter: a LangChain chat model of ours that needs no network and no model weights.

It reads the person's message with agent/_understand.py (what they want and the details, from free text:
"did Harbour pay us?", "put 90 min on Nordwerk for the firewall change", "can u cancel 000002 pls, wrong PO"),
then makes the tool calls a careful model would make, one step at a time (list the clients it may see to match
the name, find the invoice, check its state, act), and renders the tool results with the reply templates in
prompts/replies. When something it needs is missing, unknown or ambiguous, it asks ONE short question and
keeps what it understood in that reply's metadata, so the answer in the next message completes the request
(the thread's messages are its only memory, as for any model). Money-moving details are never guessed: the
confirmation the gate shows says what was understood.

It reads what a real model reads: the system prompt (today's date, who it acts for), the person's messages and
the tool results of this turn; it takes instructions only from the person's messages, so text in the books is
never obeyed. It is deterministic, so it runs the tests, the evals and the demo.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from rapidfuzz import fuzz, process

from agent._understand import (
    FREE_TEXT,
    SLOTS,
    Understanding,
    answer,
    month_of,
    names_something,
    period_months,
    understand,
    warm_up,
)
from domain.model.roles import PERMISSIONS, WHO_CAN, Role
from prompts import render
from tools import BY_NAME

__all__ = ["GOALS", "OfflineInterpreter", "month_of"]


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Result:
    ok: bool
    data: Any
    text: str

    @property
    def declined(self) -> bool:
        return not self.ok and (self.text.startswith("User rejected") or self.text.startswith("Not executed"))


@dataclass(frozen=True)
class Ask:
    """A question to the person; `u` is what was understood so far, kept for their answer."""

    text: str
    u: Understanding


Plan = Generator[Call, Result, "str | Ask"]


@dataclass(frozen=True)
class Turn:
    today: date
    person: str
    role: str
    bound: frozenset[str]


# The tool each intent is about (None: always allowed): a person whose role lacks it is told so, not asked.
GOALS: dict[str, str | None] = {
    "status": "invoice_status", "overdue": "list_invoices", "list_invoices": "list_invoices",
    "explain": "explain_invoice", "history": "invoice_status", "unbilled": "unbilled_work",
    "approvals": "pending_approvals", "draft": "draft_invoice", "issue": "issue_invoice",
    "approve": "approve_invoice", "reject": "reject_invoice", "void": "void_invoice", "credit": "credit_note",
    "payment": "record_payment", "log_time": "log_time", "milestone": "complete_milestone",
    "my_time": "my_time_entries", "parked": "parked_payments", "help": None, "send": "send_invoice",
    "einvoice_format": "client_einvoice_format", "amend": "amend_arrangement", "end_contract": "end_arrangement",
    "contract": "client_arrangements", "proposals": "pending_amendments",
}
# What each goal tool is, for a refusal ("you can't approve invoices").
_WHAT = {"log_time": "log time", "draft_invoice": "draft invoices", "issue_invoice": "issue invoices",
         "approve_invoice": "approve invoices", "reject_invoice": "reject invoices", "void_invoice": "void invoices",
         "credit_note": "issue credit notes", "record_payment": "record payments", "send_invoice": "send invoices",
         "complete_milestone": "complete milestones", "explain_invoice": "read invoices",
         "invoice_status": "read invoices", "list_invoices": "read invoices", "pending_approvals": "read invoices",
         "unbilled_work": "read the books", "my_time_entries": "see time entries",
         "parked_payments": "see parked payments", "client_einvoice_format": "read the books",
         "amend_arrangement": "change contracts", "end_arrangement": "end contracts",
         "client_arrangements": "read the books", "decide_amendment": "decide amendments",
         "pending_amendments": "read the books"}
_OPEN = ("issued", "sent", "viewed", "partially_paid", "uncollectible")
# The states an action needs, to pick the client's invoice it is about.
_WANTS: dict[str, tuple[str, ...]] = {
    "issue": ("draft",), "approve": ("pending_approval",), "reject": ("pending_approval",),
    "void": ("issued", "sent", "viewed"), "credit": _OPEN, "payment": _OPEN, "send": _OPEN}


# ---- steps shared by the plans -----------------------------------------------------------------------------------

def _failed(r: Result, what: str) -> str:
    if r.declined:
        return render("replies/declined", what=what)
    return render("replies/failed", what=what, reason=r.text)


def _ask(u: Understanding, **extra: Any) -> Ask:
    return Ask(render("replies/ask", u=u, **extra), u)


def catalog(t: Turn) -> Generator[Call, Result, dict[str, int] | str]:
    """The clients this person may see, name -> id (the interpreter matches names itself, fuzzily)."""
    r = yield Call("find_client", {"name": "", "limit": 100})
    if not r.ok:
        return _failed(r, "look up the clients")
    return {str(c["name"]): int(c["id"]) for c in r.data["clients"]}


def _period_args(period: str) -> dict[str, Any]:
    return {"month": period} if "-Q" not in period else {}


def _in_period(inv: dict[str, Any], period: str | None) -> bool:
    if not period or "-Q" not in period:
        return True
    year, q = period.split("-Q")
    start = str(inv.get("period") or "")[:7]
    first = (int(q) - 1) * 3 + 1
    return start in {f"{year}-{m:02d}" for m in range(first, first + 3)}


def find_invoice(u: Understanding, ids: dict[str, int], want: tuple[str, ...] = (),
                 ) -> Generator[Call, Result, dict[str, Any] | str | Ask]:
    """The invoice a person means: by number, counter ("000002", "#2") or draft id; or the client's invoice (for a
    period), the one in the state the action needs when there is exactly one. Returns its story."""
    ref: str | None = None
    if u.invoice and u.invoice.startswith("id:"):
        ref = u.invoice[3:]
    elif u.invoice and u.invoice.startswith("seq:"):
        seq = int(u.invoice[4:])
        r = yield Call("list_invoices", {"number": str(seq), "limit": 100})
        if not r.ok:
            return _failed(r, f"find invoice {seq}")
        found = [i for i in r.data["invoices"] if i["number"] and re.search(rf"(?<!\d)0*{seq}$", i["number"])]
        if len(found) > 1:
            return _ask(replace(u, invoice=None, ask="invoice"), invoices=found)
        if found:
            ref = found[0]["number"]
        else:  # no such number: "invoice 3" may be a draft's id (drafts have no number)
            r = yield Call("invoice_status", {"invoice": str(seq)})
            if not r.ok or r.data["invoice"]["number"]:
                return render("replies/failed", what=f"find invoice {seq}", reason=f"no invoice is numbered {seq}.")
            story: dict[str, Any] = r.data
            return story
    elif u.invoice:
        ref = u.invoice
    else:
        assert u.client is not None
        args: dict[str, Any] = {"client_id": ids[u.client], "limit": 50}
        if u.period:
            args.update(_period_args(u.period))
        r = yield Call("list_invoices", args)
        if not r.ok:
            return _failed(r, f"list {u.client}'s invoices")
        live = [i for i in r.data["invoices"] if i["kind"] == "invoice" and i["status"] != "void"
                and _in_period(i, u.period)]
        if not live:
            return render("replies/no_invoice", client=u.client, month=u.period)
        if not want and u.paying:  # "did Harbour pay us?": a draft cannot be paid; the issued one is meant
            want = tuple(s for s in (*_OPEN, "paid") if any(i["status"] == s for i in live))
        fit = [i for i in live if i["status"] in want] if want else live
        if len(fit) > 1 and want and not u.paying:
            return _ask(replace(u, ask="invoice"), invoices=fit)
        ref = str((fit or live)[0]["id"])
    r = yield Call("invoice_status", {"invoice": ref})
    if not r.ok:
        return _failed(r, f"find invoice {ref}")
    found_story: dict[str, Any] = r.data
    return found_story


def _name(inv: dict[str, Any]) -> str:
    return str(inv["number"] or f"draft #{inv['id']}")


# ---- plans: the steps a careful model takes, per intent ------------------------------------------------------------

def plan_status(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    story = yield from find_invoice(u, ids)
    if not isinstance(story, dict):
        return story
    return render("replies/status", inv=story["invoice"], timeline=story["timeline"])


def plan_history(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    if u.invoice or u.client:
        return (yield from plan_status(u, ids, t))
    r = yield Call("audit_history", {"limit": 200})
    if not r.ok:
        return _failed(r, "read the audit log")
    entries = [e for e in r.data["entries"] if not u.day or str(e["at"])[:10] >= u.day.isoformat()]
    return render("replies/activity", entries=entries[-15:], since=u.day)


def plan_overdue(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    args: dict[str, Any] = {"limit": 100} if u.open_only else {"overdue": True, "limit": 50}
    if u.client:
        args["client_id"] = ids[u.client]
    r = yield Call("list_invoices", args)
    if not r.ok:
        return _failed(r, "list overdue invoices")
    rows = r.data["invoices"]
    if u.open_only:
        rows = [i for i in rows if i["kind"] == "invoice" and i["status"] in _OPEN and Decimal(i["balance"]) > 0]
    return render("replies/invoices", title="open" if u.open_only else "overdue", client=u.client, invoices=rows)


def plan_list(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    args: dict[str, Any] = {"limit": 50}
    if u.client:
        args["client_id"] = ids[u.client]
    if u.period:
        args.update(_period_args(u.period))
    r = yield Call("list_invoices", args)
    if not r.ok:
        return _failed(r, "list invoices")
    rows = [i for i in r.data["invoices"] if _in_period(i, u.period)]
    return render("replies/invoices", title=f"for {u.period}" if u.period else "", client=u.client, invoices=rows)


def plan_explain(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    story = yield from find_invoice(u, ids)
    if not isinstance(story, dict):
        return story
    r = yield Call("explain_invoice", {"invoice": str(story["invoice"]["id"])})
    if not r.ok:
        return _failed(r, "explain the invoice")
    return render("replies/explain", x=r.data)


def plan_unbilled(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    assert u.client is not None
    r = yield Call("unbilled_work", {"client_id": ids[u.client]})
    if not r.ok:
        return _failed(r, f"find {u.client}'s unbilled work")
    return render("replies/unbilled", u=r.data)


def plan_approvals(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    r = yield Call("pending_approvals", {})
    if not r.ok:
        return _failed(r, "list invoices pending approval")
    rows = [i for i in r.data["pending_approval"] if not u.client or i["client"] == u.client]
    return render("replies/invoices", title="pending approval", client=u.client, invoices=rows)


def plan_draft(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    assert u.client is not None and u.period is not None
    if "-Q" in u.period:  # a quarter: its first and last day
        months = period_months(u.period)
        year, last = int(months[-1][:4]), int(months[-1][5:])
        args: dict[str, Any] = {"period_start": f"{months[0]}-01",
                                "period_end": f"{months[-1]}-{calendar.monthrange(year, last)[1]:02d}"}
    else:
        args = {"month": u.period}
    r = yield Call("draft_invoice", {"client_id": ids[u.client], **args})
    if not r.ok:
        return _failed(r, f"draft {u.client} for {u.period}")
    return render("replies/draft", d=r.data["draft"], lines=r.data["lines"])


def _act(u: Understanding, ids: dict[str, int], tool: str, what: str,
         args: Callable[[dict[str, Any]], dict[str, Any]]) -> Plan:
    """Find the invoice, check it is in the state the action needs, then call the tool (the gate asks first)."""
    want = _WANTS[u.intent or ""]
    story = yield from find_invoice(u, ids, want)
    if not isinstance(story, dict):
        return story
    return (yield from _finish(story, want, tool, what, args))


def plan_issue(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    return (yield from _act(u, ids, "issue_invoice", "issue", lambda inv: {}))


def plan_approve(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    return (yield from _act(u, ids, "approve_invoice", "approve", lambda inv: {"note": u.note} if u.note else {}))


def plan_reject(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    return (yield from _act(u, ids, "reject_invoice", "reject", lambda inv: {"reason": u.reason}))


def plan_void(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    return (yield from _act(u, ids, "void_invoice", "void", lambda inv: {"reason": u.reason}))


def plan_send(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    return (yield from _act(u, ids, "send_invoice", "send", lambda inv: {}))


def _currency_clash(u: Understanding, inv: dict[str, Any]) -> str | None:
    if u.currency and u.currency != inv["currency"]:
        return render("replies/failed", what=f"use {u.amount} {u.currency}",
                      reason=f"{_name(inv)} is in {inv['currency']}, not {u.currency}. Nothing was done.")
    return None


def plan_credit(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    want = _WANTS["credit"]
    story = yield from find_invoice(u, ids, want)
    if not isinstance(story, dict):
        return story
    clash = _currency_clash(u, story["invoice"])
    if clash:
        return clash
    return (yield from _finish(story, want, "credit_note", "credit", lambda inv: {
        "reason": u.reason, **({} if u.amount == "full" else {"amount": u.amount})}))


def plan_payment(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    want = _WANTS["payment"]
    story = yield from find_invoice(u, ids, want)
    if not isinstance(story, dict):
        return story
    inv = story["invoice"]
    clash = _currency_clash(u, inv)
    if clash:
        return clash

    def args(inv: dict[str, Any]) -> dict[str, Any]:
        amount = inv["balance"] if u.amount == "full" else u.amount
        return {"amount": amount, "received_on": (u.day or t.today).isoformat(),
                **({"reference": u.reference} if u.reference else {})}

    return (yield from _finish(story, want, "record_payment", "record a payment on", args))


def _finish(story: dict[str, Any], want: tuple[str, ...], tool: str, what: str,
            args: Callable[[dict[str, Any]], dict[str, Any]]) -> Plan:
    """The invoice found, in the state the action needs? Then call the tool (the gate asks first)."""
    inv = story["invoice"]
    if inv["status"] not in want:
        return render("replies/wrong_state", inv=inv, what=what, want=" or ".join(want))
    r = yield Call(tool, {"invoice_id": inv["id"], **args(inv)})
    if not r.ok:
        return _failed(r, f"{what} {_name(inv)}")
    return render("replies/done", tool=tool, data=r.data)


def plan_log(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    assert u.client is not None and u.hours is not None and u.role is not None
    r = yield Call("log_time", {"client_id": ids[u.client], "date": (u.day or t.today).isoformat(),
                                "hours": u.hours, "role": u.role, "description": u.description or ""})
    if not r.ok:
        return _failed(r, "log the time")
    return render("replies/logged", e=r.data["logged"], client=u.client)


def plan_milestone(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    assert u.client is not None and u.milestone is not None
    r = yield Call("client_arrangements", {"client_id": ids[u.client]})
    if not r.ok:
        return _failed(r, f"read {u.client}'s contracts")
    milestones = [ms for a in r.data["arrangements"] for ms in a["milestones"]]
    names = [str(ms["name"]) for ms in milestones]
    scored = process.extract(u.milestone, names, scorer=fuzz.WRatio, score_cutoff=75, limit=3)
    best = [s for s in scored if s[1] == scored[0][1]] if scored else []
    if len(best) != 1:
        return render("replies/which_milestone", name=u.milestone, client=u.client, milestones=milestones)
    r = yield Call("complete_milestone", {"milestone_id": milestones[best[0][2]]["id"]})
    if not r.ok:
        return _failed(r, "complete the milestone")
    return render("replies/done", tool="complete_milestone", data=r.data)


def plan_einvoice_format(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    assert u.client is not None
    r = yield Call("client_einvoice_format", {"client_id": ids[u.client]})
    if not r.ok:
        return _failed(r, f"read {u.client}'s e-invoice format")
    return render("replies/einvoice_format", e=r.data)


# ---- contracts: amend, end, read their terms ----------------------------------------------------------------------

_KIND_WORDS = {"retainer": "retainer", "time_and_materials": "time and materials", "subscription": "subscription",
               "pass_through": "pass-through", "sla_credit": "SLA credit", "milestone": "milestone"}
# the terms each kind has, for a change that names a term but no kind
_TERMS_OF = {"seats": ("subscription",), "unit_price": ("subscription",), "fee": ("retainer",),
             "included_hours": ("retainer",), "default_rate": ("time_and_materials",),
             "role_rate": ("time_and_materials",), "cap": ("time_and_materials",), "markup_pct": ("pass_through",),
             "cycle": ("retainer", "subscription"), "billing": ("retainer",)}


def _contract_name(a: dict[str, Any]) -> str:
    kind = _KIND_WORDS.get(str(a["kind"]), str(a["kind"]))
    name = str(a.get("name") or "")
    return f"{name} ({kind})" if name and name.lower() != kind else kind


def _term(change: str | None) -> str | None:
    return re.split(r"[+=:\-]", change, maxsplit=1)[0] if change else None


def pick_arrangement(u: Understanding, arrangements: list[dict[str, Any]], today: date,
                     ) -> dict[str, Any] | list[dict[str, Any]]:
    """The contract a request is about: the one the person chose, else the client's live contracts narrowed by
    kind, by the term the change names, and by the words naming it ("EDR"); a list when that leaves several or
    none."""
    live = [a for a in arrangements if a["active"] and a["kind"] != "milestone"
            and (u.intent != "end_contract" or not a.get("ends_on") or str(a["ends_on"]) >= today.isoformat())]
    if u.label:
        chosen = [a for a in live if _contract_name(a) == u.label]
        if len(chosen) == 1:
            return chosen[0]
    fit = live
    kinds = _TERMS_OF.get(_term(u.change) or "", ())
    if kinds:
        fit = [a for a in fit if a["kind"] in kinds]
    if u.arrangement and len(fit) > 1:
        fit = [a for a in fit if a["kind"] == u.arrangement] or fit
    elif u.arrangement and not kinds:
        fit = [a for a in fit if a["kind"] == u.arrangement]
    if u.label and len(fit) > 1:
        texts = [f"{a.get('name') or ''} {(a.get('terms') or {}).get('product') or ''}" for a in fit]
        scored = process.extract(u.label, texts, scorer=fuzz.partial_ratio, score_cutoff=80, limit=len(texts))
        best = [s for s in scored if s[1] == scored[0][1]] if scored else []
        if len(best) == 1:
            return fit[best[0][2]]
    return fit[0] if len(fit) == 1 else (fit or [])


def _which(u: Understanding, found: list[dict[str, Any]], all_live: list[dict[str, Any]]) -> str | Ask:
    """None fits: say so; several: ask which, naming them."""
    if not found:
        what = _KIND_WORDS.get(u.arrangement or "", "") or "matching"
        listed = ", ".join(_contract_name(a) for a in all_live) or "none"
        return render("replies/failed", what=f"find {u.client}'s {what} contract",
                      reason=f"{u.client} has no such contract in force (its contracts: {listed}). Nothing was done.")
    names = tuple(_contract_name(a) for a in found)
    return _ask(replace(u, ask="arrangement", choices=names, label=None), contracts=names)


def _new_terms(change: str, current: dict[str, Any]) -> dict[str, Any]:
    """The terms to send: the change applied to the terms in force on its day ("seats+4" on 48 seats: 52)."""
    m = re.fullmatch(r"(?P<term>[a-z_]+)(?::(?P<name>[^=]+))?(?P<op>[+=\-])(?P<value>.+)", change)
    assert m is not None, change
    term, name, op, value = m["term"], m["name"], m["op"], m["value"]
    if term == "seats":
        now = int(current.get("seats") or 0)
        return {"seats": now + int(value) if op == "+" else now - int(value) if op == "-" else int(value)}
    if term == "role_rate":
        rates = dict(current.get("role_rates") or {})
        key = next((k for k in rates if k.casefold() == str(name).casefold()), str(name))
        return {"role_rates": {key: value}}
    if term in ("cycle", "billing"):
        return {term: value}
    was = str(current.get(term) or "")
    new = Decimal(value)
    if op in "+-":
        new = Decimal(was or 0) + new if op == "+" else Decimal(was or 0) - new
    if re.fullmatch(r"-?\d+\.\d+", was) and term != "markup_pct":  # written as the terms write it: 5500 -> 5500.00
        new = new.quantize(Decimal(was))
    return {term: format(new, "f")}


def _in_force(versions: list[dict[str, Any]], day: date) -> dict[str, Any]:
    live = [v for v in versions if v["status"] == "active" and v["terms"] is not None]
    before = [v for v in live if str(v["effective_on"]) <= day.isoformat()]
    chosen = before[-1] if before else (live[0] if live else {"terms": {}})
    return dict(chosen["terms"] or {})


def _contracts_of(u: Understanding, ids: dict[str, int]) -> Generator[Call, Result, list[dict[str, Any]] | str]:
    assert u.client is not None
    r = yield Call("client_arrangements", {"client_id": ids[u.client]})
    if not r.ok:
        return _failed(r, f"read {u.client}'s contracts")
    rows: list[dict[str, Any]] = r.data["arrangements"]
    return rows


def plan_amend(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    assert u.client is not None and u.change is not None and u.day is not None
    rows = yield from _contracts_of(u, ids)
    if isinstance(rows, str):
        return rows
    a = pick_arrangement(u, rows, t.today)
    if isinstance(a, list):
        return _which(u, a, [x for x in rows if x["active"] and x["kind"] != "milestone"])
    args = {"client_id": ids[u.client], "arrangement_id": a["id"]}
    r = yield Call("arrangement_versions", args)
    if not r.ok:
        return _failed(r, f"read the versions of {_contract_name(a)}")
    terms = _new_terms(u.change, _in_force(r.data["versions"], u.day))
    r = yield Call("amend_arrangement", {**args, "effective_on": u.day.isoformat(), "terms": terms,
                                         **({"reason": u.reason} if u.reason else {})})
    if not r.ok:
        return _failed(r, f"amend {_contract_name(a)} of {u.client}")
    return render("replies/amended", d=r.data, client=u.client)


def plan_end(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    assert u.client is not None and u.day is not None
    rows = yield from _contracts_of(u, ids)
    if isinstance(rows, str):
        return rows
    a = pick_arrangement(u, rows, t.today)
    if isinstance(a, list):
        return _which(u, a, [x for x in rows if x["active"] and x["kind"] != "milestone"])
    r = yield Call("end_arrangement", {"client_id": ids[u.client], "arrangement_id": a["id"],
                                       "ends_on": u.day.isoformat(), **({"reason": u.reason} if u.reason else {})})
    if not r.ok:
        return _failed(r, f"end {_contract_name(a)} of {u.client}")
    return render("replies/ended", d=r.data, client=u.client)


def plan_contract(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    rows = yield from _contracts_of(u, ids)
    if isinstance(rows, str):
        return rows
    assert u.client is not None
    picked = pick_arrangement(u, rows, t.today) if (u.arrangement or u.label) else None
    chosen = [picked] if isinstance(picked, dict) else [a for a in rows if a["kind"] != "milestone"]
    shown = []
    for a in chosen[:6]:
        r = yield Call("arrangement_versions", {"client_id": ids[u.client], "arrangement_id": a["id"]})
        if not r.ok:
            return _failed(r, f"read the versions of {_contract_name(a)}")
        shown.append({**r.data, "title": _contract_name(a)})
    milestones = [a for a in rows if a["kind"] == "milestone"] if not isinstance(picked, dict) else []
    return render("replies/contract", client=u.client, contracts=shown, milestones=milestones)


def _proposal_name(p: dict[str, Any]) -> str:
    return f"{p['arrangement']} version {p['version']} from {p['effective_on']}"


def plan_proposals(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    """List the amendments waiting for finance (a client's, when named); approve or reject the one meant."""
    r = yield Call("pending_amendments", {})
    if not r.ok:
        return _failed(r, "list the amendments waiting for approval")
    rows = [p for p in r.data["amendments"] if not u.client or p["client"] == u.client]
    if u.decision is None:
        return render("replies/proposals", client=u.client, proposals=rows)
    if u.label:
        rows = [p for p in rows if _proposal_name(p) == u.label] or rows
    if not rows:
        return render("replies/proposals", client=u.client, proposals=[])
    if len(rows) > 1:
        names = tuple(_proposal_name(p) for p in rows)
        return _ask(replace(u, ask="arrangement", choices=names, label=None), contracts=names)
    p = rows[0]
    approve = u.decision == "approve"
    r = yield Call("decide_amendment", {"version_id": p["id"], "approve": approve,
                                        "note": (u.note or "") if approve else (u.reason or "")})
    if not r.ok:
        return _failed(r, f"{u.decision} the amendment of {p['arrangement']} for {p['client']}")
    return render("replies/decided", d=r.data, client=p["client"], approved=approve)


def plan_my_time(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    args: dict[str, Any] = {"limit": 20}
    if u.client and u.client in ids:
        args["client_id"] = ids[u.client]
    r = yield Call("my_time_entries", args)
    if not r.ok:
        return _failed(r, "list time entries")
    return render("replies/time_entries", entries=r.data["time_entries"])


def plan_parked(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    r = yield Call("parked_payments", {"status": "parked", "limit": 50})
    if not r.ok:
        return _failed(r, "list parked payments")
    return render("replies/parked", payments=r.data["parked_payments"])


def plan_help(u: Understanding, ids: dict[str, int], t: Turn) -> Plan:
    yield from ()  # a plan with no steps
    return render("replies/help", bound=t.bound, understood=True)


PLANS: dict[str, Callable[[Understanding, dict[str, int], Turn], Plan]] = {
    "status": plan_status, "overdue": plan_overdue, "list_invoices": plan_list, "explain": plan_explain,
    "history": plan_history, "unbilled": plan_unbilled, "approvals": plan_approvals, "draft": plan_draft,
    "issue": plan_issue, "approve": plan_approve, "reject": plan_reject, "void": plan_void, "credit": plan_credit,
    "payment": plan_payment, "log_time": plan_log, "milestone": plan_milestone, "my_time": plan_my_time,
    "parked": plan_parked, "help": plan_help, "send": plan_send, "einvoice_format": plan_einvoice_format,
    "amend": plan_amend, "end_contract": plan_end, "contract": plan_contract, "proposals": plan_proposals,
}


# ---- a turn: understand (or take the answer to our question), ask or act ------------------------------------------

_NO_TARGET = frozenset({"overdue", "approvals", "parked", "help", "my_time", "list_invoices", "history"})


def _new_request(text: str, t: Turn, asked: Understanding) -> bool:
    """Whether a message that follows our question is a new request rather than the answer."""
    fresh = understand(text, t.today, None)
    if fresh.intent is None:
        return False
    if asked.ask in FREE_TEXT:  # "the client cancelled" answers "why?"; "what's overdue?" is a new request
        return fresh.intent in _NO_TARGET or fresh.invoice is not None
    if asked.ask in ("change", "day", "arrangement") and fresh.intent == asked.intent:
        return False  # "4 more seats" answers "what changes?"
    return not (fresh.intent == "status" and fresh.invoice is not None and asked.ask == "invoice")


_CARRIED = frozenset({"status", "overdue", "list_invoices", "explain", "history", "unbilled", "my_time",
                      "einvoice_format", "contract"})
_ELLIPSIS = re.compile(r"^\W*(?:and|what about|how about|same for|also|now)\b", re.I)


def converse(text: str, asked: Understanding | None, t: Turn, before: str = "") -> Plan:
    """The whole turn as a plan: read the message, look the clients up when a name is involved, then ask or act."""
    first = understand(text, t.today, None)
    follow = asked is not None and not _new_request(text, t, asked)
    carry = None
    if not follow and before and (first.intent is None or first.intent == "status") and _ELLIPSIS.match(text):
        carry = understand(before, t.today, None).intent  # "and for Nordwerk?" asks the last question again
        if carry not in _CARRIED:
            carry = None
        else:
            first = understand(text, t.today, None, carry)
    intent = asked.intent if follow and asked is not None else first.intent
    if intent is None:
        return render("replies/help", bound=t.bound, understood=False)
    goal = GOALS[intent]
    if goal is not None and goal not in t.bound:
        return _refusal(goal, t)
    ids: dict[str, int] = {}
    # The clients, to match the name the person used; not needed when they named the invoice itself.
    named_invoice = not follow and first.invoice is not None
    must = intent in ("unbilled", "draft", "log_time", "milestone", "einvoice_format", "amend", "end_contract",
                      "contract") or (
        follow and asked is not None and (asked.client is not None or asked.ask in ("client", "invoice")))
    if "client" in SLOTS[intent] and "find_client" in t.bound and not named_invoice and (
            must or names_something(text)):
        found = yield from catalog(t)
        if isinstance(found, str):
            return found
        ids = found
    names = list(ids)
    if follow and asked is not None:
        u = answer(asked, text, t.today, names)
        if u is None:  # not an answer: ask again, saying what we could not use
            return Ask(render("replies/ask", u=asked, again=text, clients=names), asked)
    else:
        u = understand(text, t.today, names if ids else None, carry)
    if u.intent is None:
        return render("replies/help", bound=t.bound, understood=False)
    if u.ask:
        return _ask(u, clients=names)
    return (yield from PLANS[u.intent](u, ids, t))


class OfflineInterpreter(BaseChatModel):
    """A deterministic stand-in for a model: free text in, tool calls and templated replies out."""

    NAME: ClassVar[str] = "offline"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        warm_up()  # dateparser loads its data on first use: once per process, not in someone's first message

    @property
    def _llm_type(self) -> str:
        return "billable-offline-interpreter"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": "billable-offline-interpreter"}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any,
                   ) -> Runnable[Any, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        bound = frozenset(t["function"]["name"] for t in kwargs.get("tools") or [])
        msg = self.respond(messages, bound)
        n = sum(isinstance(m, AIMessage) for m in messages)
        if msg.tool_calls:  # ids unique in the thread, and deterministic
            msg.tool_calls = [{**tc, "id": f"call_{n + 1}_{i}"} for i, tc in enumerate(msg.tool_calls)]
        msg.response_metadata = {**msg.response_metadata, "model_name": "billable-offline-interpreter",
                                 "finish_reason": "tool_calls" if msg.tool_calls else "stop"}
        msg.usage_metadata = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def respond(self, messages: Sequence[BaseMessage], bound: frozenset[str]) -> AIMessage:
        turn = _turn(messages, bound)
        last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
        if last_human < 0:
            return AIMessage(render("replies/help", bound=bound, understood=False))
        text = _text(messages[last_human])
        results = [_result(m) for m in messages[last_human + 1:] if isinstance(m, ToolMessage)]
        before = next((_text(m) for m in reversed(messages[:last_human]) if isinstance(m, HumanMessage)), "")
        return _drive(converse(text, _asked(messages[:last_human]), turn, before), results, turn)


def _text(m: BaseMessage) -> str:
    c = m.content
    return (c if isinstance(c, str) else " ".join(str(b.get("text", "")) if isinstance(b, dict) else str(b)
                                                     for b in c)).strip()


def _turn(messages: Sequence[BaseMessage], bound: frozenset[str]) -> Turn:
    system = next((_text(m) for m in messages if isinstance(m, SystemMessage)), "")
    today = re.search(r"Today is (\d{4}-\d{2}-\d{2})", system)
    who = re.search(r"You act for (\S+), whose role is ([a-z ]+);", system)
    return Turn(date.fromisoformat(today[1]) if today else date.today(), who[1] if who else "",
                who[2].replace(" ", "_") if who else "", bound)


def _asked(before: Sequence[BaseMessage]) -> Understanding | None:
    """Our question, when the message just before the person's last one was one (what we understood so far)."""
    last_ai = next((m for m in reversed(before) if isinstance(m, AIMessage)), None)
    state = last_ai.response_metadata.get("billable_question") if last_ai is not None else None
    if not isinstance(state, dict):
        return None
    try:
        return Understanding.from_state(state)
    except (TypeError, ValueError):
        return None


def _result(m: ToolMessage) -> Result:
    text = _text(m)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return Result(m.status != "error", data, text)


def _drive(plan: Plan, results: list[Result], turn: Turn) -> AIMessage:
    """Replay this turn's results into the plan; its next step is a tool call, or its end is the reply."""
    try:
        step = next(plan)
        for r in results:
            step = plan.send(r)
    except StopIteration as done:
        if isinstance(done.value, Ask):
            return AIMessage(done.value.text, response_metadata={"billable_question": done.value.u.to_state()})
        return AIMessage(str(done.value))
    if step.name not in turn.bound:
        return AIMessage(_refusal(step.name, turn))
    return AIMessage("", tool_calls=[{"name": step.name, "args": step.args, "id": "call", "type": "tool_call"}])


def _refusal(goal: str, turn: Turn) -> str:
    spec = BY_NAME.get(goal)
    perms = set(spec.needs) if spec else set()
    try:
        has = bool(perms & PERMISSIONS[Role(turn.role)])
    except ValueError:
        has = False
    who = WHO_CAN[sorted(perms)[0]] if perms else "someone else"
    return render("replies/refused", what=_WHAT.get(goal, goal.replace("_", " ")),
                  role=turn.role.replace("_", " "), who=who, channel=has)
