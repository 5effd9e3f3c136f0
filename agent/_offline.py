"""The offline interpreter: a LangChain chat model of ours that needs no network.

It turns a documented set of phrasings into the same tool calls a real model would make, one step at a time
(look the client up, find the invoice, act), and renders the tool results with the reply templates in
prompts/replies. It reads what a real model reads: the system prompt (today's date, who it acts for), the
person's last message and the tool results of this turn; it takes instructions only from the person's
messages, so text in the books is never obeyed. It is deterministic, so it runs the tests, the evals and the
demo. When it does not understand, it says so and lists what it can do (only what the bound tools allow).

Phrasings (case-insensitive; "Acme" is any client name, "INV-2026-000042" any invoice number, "invoice 12" or
"draft 12" an id):

    status of Acme's March invoice | status of INV-2026-000042 | history of INV-2026-000042
    what's overdue? | what's overdue for Acme?
    what needs approval?
    Acme's invoices | invoices for Acme
    draft Acme for March | draft Acme for 2026-03 | draft Acme for last month
    why did Acme go up? | why did Acme's invoice change? | explain INV-2026-000042
    what's unbilled for Acme?
    issue Acme's March invoice | issue draft 12
    approve INV-2026-000042 [note: ...] | reject INV-2026-000042 because ...
    void INV-2026-000042 because ... | credit 100.00 on INV-2026-000042 because ... | credit INV-... in full because ...
    record a payment of 1,000.00 on INV-2026-000042 [on 2026-04-02] [ref ...]
    log 3h on Acme yesterday [as Engineer]: VPN migration     (asks for the role when not given)
    complete milestone Go-live for Acme
    my time entries
    parked payments | unmatched payments
    help
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from domain.model.roles import PERMISSIONS, WHO_CAN, Role
from prompts import render
from tools import BY_NAME


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


Plan = Generator[Call, Result, str]


@dataclass(frozen=True)
class Turn:
    today: date
    person: str
    role: str
    bound: frozenset[str]


# ---- reading what people write ------------------------------------------------------------------------------

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTH_WORDS = "|".join(sorted(_MONTHS, key=len, reverse=True))
MONTH = rf"(?:this month|last month|previous month|\d{{4}}-\d{{2}}|(?:{_MONTH_WORDS})(?:\s+\d{{4}})?)"
REF = r"(?:invoice\s+|draft\s+|#)?(?P<ref>\d+|[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*-\d+)"
CLIENT = r"(?P<client>.+?)"
# An invoice as people name it: by number or id, or the client's invoice for a month (drafts have no number).
TARGET = rf"(?:(?P<client>.+?)'s\s+(?P<month>{MONTH})\s+(?:invoice|draft)|{REF})"
AMOUNT = r"(?P<amount>\d[\d,]*(?:\.\d+)?)"


def month_of(text: str, today: date) -> str | None:
    t = text.strip().lower()
    if t == "this month":
        return f"{today:%Y-%m}"
    if t in ("last month", "previous month"):
        return f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"
    if m := re.fullmatch(r"(\d{4})-(\d{2})", t):
        return t if 1 <= int(m[2]) <= 12 else None
    if m := re.fullmatch(rf"({_MONTH_WORDS})(?:\s+(\d{{4}}))?", t):
        month = _MONTHS[m[1]]
        year = int(m[2]) if m[2] else (today.year if month <= today.month else today.year - 1)
        return f"{year}-{month:02d}"
    return None


def day_of(text: str | None, today: date) -> date | None:
    t = (text or "").strip().lower().removeprefix("on ").strip()
    if t in ("", "today"):
        return today
    if t == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(t)
    except ValueError:
        return None


def ref_of(text: str) -> str:
    return text.upper() if "-" in text else text.lstrip("#")


def clean(name: str) -> str:
    return name.strip().strip("\"'“”‘’").rstrip("?.!").strip()


def amount_of(text: str) -> str:
    return text.replace(",", "")


# ---- plans: the steps a careful model takes --------------------------------------------------------------------

def _failed(r: Result, what: str) -> str:
    if r.declined:
        return render("replies/declined", what=what)
    return render("replies/failed", what=what, reason=r.text)


def find_client(name: str) -> Generator[Call, Result, dict[str, Any] | str]:
    r = yield Call("find_client", {"name": name})
    if not r.ok:
        return _failed(r, f"look up {name}")
    found = r.data["clients"]
    exact = [c for c in found if c["name"].lower() == name.lower()]
    if len(exact) == 1 or len(found) == 1:
        client: dict[str, Any] = (exact or found)[0]
        return client
    return render("replies/which_client", name=name, clients=found)


def find_invoice(t: Turn, client: str | None, month: str | None, ref: str | None,
                 ) -> Generator[Call, Result, dict[str, Any] | str]:
    """The invoice a person means: by number or id, or the client's invoice for a month (the newest live one)."""
    if ref is None:
        assert client is not None
        c = yield from find_client(clean(client))
        if isinstance(c, str):
            return c
        args: dict[str, Any] = {"client_id": c["id"], "limit": 20}
        if month:
            args["month"] = month
        r = yield Call("list_invoices", args)
        if not r.ok:
            return _failed(r, f"list {c['name']}'s invoices")
        live = [i for i in r.data["invoices"] if i["kind"] == "invoice" and i["status"] != "void"]
        if not live:
            return render("replies/no_invoice", client=c["name"], month=month)
        ref = str(live[0]["id"])
    r = yield Call("invoice_status", {"invoice": ref})
    if not r.ok:
        return _failed(r, f"find invoice {ref}")
    story: dict[str, Any] = r.data
    return story


def plan_status(m: re.Match[str], t: Turn) -> Plan:
    month = month_of(m["month"], t.today) if m.groupdict().get("month") else None
    story = yield from find_invoice(t, m.groupdict().get("client"), month,
                                    ref_of(m["ref"]) if m.groupdict().get("ref") else None)
    if isinstance(story, str):
        return story
    return render("replies/status", inv=story["invoice"], timeline=story["timeline"])


def plan_overdue(m: re.Match[str], t: Turn) -> Plan:
    args: dict[str, Any] = {"overdue": True, "limit": 50}
    who = None
    if m.groupdict().get("client"):
        c = yield from find_client(clean(m["client"]))
        if isinstance(c, str):
            return c
        args["client_id"], who = c["id"], c["name"]
    r = yield Call("list_invoices", args)
    if not r.ok:
        return _failed(r, "list overdue invoices")
    return render("replies/invoices", title="overdue", client=who, invoices=r.data["invoices"])


def plan_parked(m: re.Match[str], t: Turn) -> Plan:
    r = yield Call("parked_payments", {"status": "parked", "limit": 50})
    if not r.ok:
        return _failed(r, "list parked payments")
    return render("replies/parked", payments=r.data["parked_payments"])


def plan_pending(m: re.Match[str], t: Turn) -> Plan:
    r = yield Call("pending_approvals", {})
    if not r.ok:
        return _failed(r, "list invoices pending approval")
    return render("replies/invoices", title="pending approval", client=None, invoices=r.data["pending_approval"])


def plan_client_invoices(m: re.Match[str], t: Turn) -> Plan:
    c = yield from find_client(clean(m["client"]))
    if isinstance(c, str):
        return c
    r = yield Call("list_invoices", {"client_id": c["id"], "limit": 20})
    if not r.ok:
        return _failed(r, f"list {c['name']}'s invoices")
    return render("replies/invoices", title="", client=c["name"], invoices=r.data["invoices"])


def plan_draft(m: re.Match[str], t: Turn) -> Plan:
    month = month_of(m["month"], t.today)
    if month is None:
        return render("replies/failed", what="draft", reason=f"I do not know which month '{m['month']}' is.")
    c = yield from find_client(clean(m["client"]))
    if isinstance(c, str):
        return c
    r = yield Call("draft_invoice", {"client_id": c["id"], "month": month})
    if not r.ok:
        return _failed(r, f"draft {c['name']} for {month}")
    return render("replies/draft", d=r.data["draft"], lines=r.data["lines"])


def plan_explain(m: re.Match[str], t: Turn) -> Plan:
    groups = m.groupdict()
    month = month_of(groups["month"], t.today) if groups.get("month") else None
    story = yield from find_invoice(t, groups.get("client"), month,
                                    ref_of(groups["ref"]) if groups.get("ref") else None)
    if isinstance(story, str):
        return story
    r = yield Call("explain_invoice", {"invoice": str(story["invoice"]["id"])})
    if not r.ok:
        return _failed(r, "explain the invoice")
    return render("replies/explain", x=r.data)


def plan_unbilled(m: re.Match[str], t: Turn) -> Plan:
    c = yield from find_client(clean(m["client"]))
    if isinstance(c, str):
        return c
    r = yield Call("unbilled_work", {"client_id": c["id"]})
    if not r.ok:
        return _failed(r, f"find {c['name']}'s unbilled work")
    return render("replies/unbilled", u=r.data)


def _act(t: Turn, m: re.Match[str], tool: str, want: str, args: Callable[[dict[str, Any]], dict[str, Any]],
         what: str) -> Plan:
    """Find the invoice, check it is in the state the action needs, then call the tool (the gate asks first)."""
    groups = m.groupdict()
    month = month_of(groups["month"], t.today) if groups.get("month") else None
    story = yield from find_invoice(t, groups.get("client"), month,
                                    ref_of(groups["ref"]) if groups.get("ref") else None)
    if isinstance(story, str):
        return story
    inv = story["invoice"]
    if want and inv["status"] not in want.split("|"):
        return render("replies/wrong_state", inv=inv, what=what, want=want.replace("|", " or "))
    r = yield Call(tool, {"invoice_id": inv["id"], **args(inv)})
    if not r.ok:
        return _failed(r, f"{what} {inv['number'] or 'draft #' + str(inv['id'])}")
    return render("replies/done", tool=tool, data=r.data)


_OPEN = "issued|sent|viewed|partially_paid|uncollectible"


def plan_issue(m: re.Match[str], t: Turn) -> Plan:
    return (yield from _act(t, m, "issue_invoice", "draft", lambda inv: {}, "issue"))


def plan_approve(m: re.Match[str], t: Turn) -> Plan:
    note = (m.groupdict().get("note") or "").strip()
    return (yield from _act(t, m, "approve_invoice", "pending_approval",
                            lambda inv: {"note": note} if note else {}, "approve"))


def plan_reject(m: re.Match[str], t: Turn) -> Plan:
    reason = (m.groupdict().get("reason") or "").strip()
    if not reason:
        return render("replies/need_reason", what="reject", example="reject INV-2026-000042 because the PO is missing")
    return (yield from _act(t, m, "reject_invoice", "pending_approval", lambda inv: {"reason": reason}, "reject"))


def plan_send(m: re.Match[str], t: Turn) -> Plan:
    return (yield from _act(t, m, "send_invoice", _OPEN, lambda inv: {}, "send"))


def plan_void(m: re.Match[str], t: Turn) -> Plan:
    reason = (m.groupdict().get("reason") or "").strip()
    if not reason:
        return render("replies/need_reason", what="void", example="void INV-2026-000042 because it was a duplicate")
    return (yield from _act(t, m, "void_invoice", "issued|sent|viewed", lambda inv: {"reason": reason}, "void"))


def plan_credit(m: re.Match[str], t: Turn) -> Plan:
    reason = (m.groupdict().get("reason") or "").strip()
    if not reason:
        return render("replies/need_reason", what="credit",
                      example="credit 100.00 on INV-2026-000042 because of the outage")
    amount = amount_of(m["amount"]) if m.groupdict().get("amount") else None
    return (yield from _act(t, m, "credit_note", _OPEN,
                            lambda inv: {"reason": reason, **({"amount": amount} if amount else {})}, "credit"))


def plan_payment(m: re.Match[str], t: Turn) -> Plan:
    day = day_of(m.groupdict().get("day"), t.today)
    ref = (m.groupdict().get("reference") or "").strip()
    return (yield from _act(t, m, "record_payment", _OPEN, lambda inv: {
        "amount": amount_of(m["amount"]), "received_on": (day or t.today).isoformat(),
        **({"reference": ref} if ref else {})}, "record a payment on"))


def plan_log(m: re.Match[str], t: Turn) -> Plan:
    role = (m.groupdict().get("role") or "").strip()
    if not role:
        return render("replies/ask_role", hours=m["hours"], client=clean(m["client"]))
    day = day_of(m.groupdict().get("day"), t.today)
    if day is None:
        return render("replies/failed", what="log time", reason=f"I do not know which day '{m['day']}' is.")
    c = yield from find_client(clean(m["client"]))
    if isinstance(c, str):
        return c
    r = yield Call("log_time", {"client_id": c["id"], "date": day.isoformat(), "hours": amount_of(m["hours"]),
                                "role": role, "description": m["description"].strip()})
    if not r.ok:
        return _failed(r, "log the time")
    return render("replies/logged", e=r.data["logged"], client=c["name"])


def plan_milestone(m: re.Match[str], t: Turn) -> Plan:
    c = yield from find_client(clean(m["client"]))
    if isinstance(c, str):
        return c
    r = yield Call("client_arrangements", {"client_id": c["id"]})
    if not r.ok:
        return _failed(r, f"read {c['name']}'s contracts")
    name = clean(m["name"]).lower()
    found = [ms for a in r.data["arrangements"] for ms in a["milestones"] if name in ms["name"].lower()]
    if len(found) != 1:
        return render("replies/which_milestone", name=m["name"], client=c["name"],
                      milestones=[ms for a in r.data["arrangements"] for ms in a["milestones"]])
    r = yield Call("complete_milestone", {"milestone_id": found[0]["id"]})
    if not r.ok:
        return _failed(r, "complete the milestone")
    return render("replies/done", tool="complete_milestone", data=r.data)


def plan_einvoice_format(m: re.Match[str], t: Turn) -> Plan:
    c = yield from find_client(clean(m["client"]))
    if isinstance(c, str):
        return c
    r = yield Call("client_einvoice_format", {"client_id": c["id"]})
    if not r.ok:
        return _failed(r, f"read {c['name']}'s e-invoice format")
    return render("replies/einvoice_format", e=r.data)


def plan_my_time(m: re.Match[str], t: Turn) -> Plan:
    r = yield Call("my_time_entries", {"limit": 20})
    if not r.ok:
        return _failed(r, "list time entries")
    return render("replies/time_entries", entries=r.data["time_entries"])


def plan_help(m: re.Match[str], t: Turn) -> Plan:
    yield from ()  # a plan with no steps
    return render("replies/help", bound=t.bound, understood=True)


# (pattern, the tool the request is about (None: always allowed), plan). First match wins.
_B = r"(?:because|as|reason:?|:|,|-)\s*(?P<reason>.+)"
Rule = tuple[re.Pattern[str], str | None, Callable[[re.Match[str], Turn], Plan]]
RULES: list[Rule] = [(re.compile(p, re.I | re.S), goal, fn) for p, goal, fn in [
    (r"^\s*(?:help|what can you do|\?)\s*[?!.]?\s*$", None, plan_help),
    (rf"^\s*log\s+(?P<hours>\d+(?:[.,]\d+)?)\s*h(?:ours?|rs?)?\s+(?:on|for)\s+{CLIENT}"
     r"(?:\s+(?P<day>today|yesterday|(?:on\s+)?\d{4}-\d{2}-\d{2}))?(?:\s+as\s+(?P<role>[^:]+?))?\s*:\s*"
     r"(?P<description>.+)$", "log_time", plan_log),
    (rf"^\s*draft\s+(?:an?\s+|the\s+)?(?:invoice\s+)?(?:for\s+)?{CLIENT}\s+for\s+(?P<month>.+?)\s*[.!]?$",
     "draft_invoice", plan_draft),
    (rf"^\s*issue\s+{TARGET}\s*[.!]?$", "issue_invoice", plan_issue),
    (rf"^\s*approve\s+{TARGET}\s*(?:[,:-]|\s)?\s*(?:(?:with\s+)?note:?\s*(?P<note>.+))?$", "approve_invoice",
     plan_approve),
    (rf"^\s*reject\s+{TARGET}\s*(?:{_B})?$", "reject_invoice", plan_reject),
    (rf"^\s*void\s+{REF}\s*(?:{_B})?$", "void_invoice", plan_void),
    (rf"^\s*(?:send|e-?mail)\s+{TARGET}(?:\s+to\s+the\s+client)?\s*[.!]?$", "send_invoice", plan_send),
    (rf"^\s*(?:credit|issue\s+a\s+credit\s+note\s+(?:of|for))\s+(?:{AMOUNT}(?:\s+[A-Z]{{3}})?\s+(?:on|against|for)\s+)?"
     rf"{REF}(?:\s+in\s+full)?\s*(?:{_B})?$", "credit_note", plan_credit),
    (rf"^\s*(?:record\s+(?:a\s+)?payment\s+of|received|got)\s+{AMOUNT}(?:\s+[A-Z]{{3}})?\s+(?:on|for|against)\s+"
     rf"{REF}(?:\s+(?:received\s+)?(?P<day>today|yesterday|on\s+\d{{4}}-\d{{2}}-\d{{2}}))?"
     r"(?:\s*,?\s*ref(?:erence)?:?\s+(?P<reference>.+))?\s*$", "record_payment", plan_payment),
    (rf"^\s*complete\s+milestone\s+(?P<name>.+?)\s+(?:for|of|on)\s+{CLIENT}\s*[.!]?$", "complete_milestone",
     plan_milestone),
    (rf"^\s*(?:why\s+(?:did|has|is|was)\s+{CLIENT}(?:'s\s+(?:(?P<month>{MONTH})\s+)?(?:invoice|bill))?\s+"
     r"(?:go(?:ne)?\s+up|go(?:ne)?\s+down|gone\s+up|change[ds]?|increased?|decreased?|higher|lower|so\s+high|"
     rf"different)|explain\s+(?:(?P<client2>.+?)'s\s+(?P<month2>{MONTH})\s+invoice|{REF}))\s*[?.!]?\s*$",
     "explain_invoice", plan_explain),
    (rf"^\s*(?:what(?:'s|\s+is)\s+the\s+)?(?:status|history|audit(?:\s+trail)?|timeline)\s+(?:of|for)\s+"
     rf"(?:{CLIENT}'s\s+(?P<month>{MONTH})\s+invoice|the\s+(?P<month2>{MONTH})\s+invoice\s+(?:of|for)\s+"
     rf"(?P<client2>.+?)|{REF})\s*[?.!]?\s*$", "invoice_status", plan_status),
    (r"^.*\b(?:(?:parked|unmatched|unapplied)\s+payments?|payments?\s+(?:that\s+)?(?:are\s+|were\s+)?"
     r"(?:parked|unmatched))\b.*$", "parked_payments", plan_parked),
    (rf"^.*\boverdue\b(?:\s+(?:for|at|with)\s+{CLIENT})?\s*[?.!]?\s*$", "list_invoices", plan_overdue),
    (r"^.*\b(?:pending\s+approvals?|needs?\s+(?:an\s+)?approval|awaiting\s+approval|waiting\s+for\s+approval|"
     r"to\s+approve)\b.*$", "pending_approvals", plan_pending),
    (rf"^.*\b(?:unbilled|not\s+(?:been\s+)?billed(?:\s+yet)?)\b\s+(?:work\s+)?(?:for|on|at)\s+{CLIENT}\s*[?.!]?\s*$",
     "unbilled_work", plan_unbilled),
    (rf"^\s*(?:(?:list|show)(?:\s+me)?\s+)?(?:{CLIENT}'s\s+invoices|invoices\s+(?:for|of)\s+(?P<client2>.+?))"
     r"\s*[?.!]?\s*$", "list_invoices", plan_client_invoices),
    (r"^.*\bmy\s+(?:time(?:\s+entries)?|hours|timesheets?)\b.*$", "my_time_entries", plan_my_time),
    (rf"^\s*(?:which|what)\s+(?:e-?invoice\s+format|format|e-?invoices?|kind\s+of\s+e-?invoice)\s+(?:does|do|will)\s+"
     rf"{CLIENT}\s+(?:receive|get|use|need)\s*[?.!]?\s*$", "client_einvoice_format", plan_einvoice_format),
]]

# What each goal tool is, for a refusal ("you can't approve invoices").
_WHAT = {"log_time": "log time", "draft_invoice": "draft invoices", "issue_invoice": "issue invoices",
         "approve_invoice": "approve invoices", "reject_invoice": "reject invoices", "void_invoice": "void invoices",
         "credit_note": "issue credit notes", "record_payment": "record payments", "send_invoice": "send invoices",
         "complete_milestone": "complete milestones", "explain_invoice": "read invoices",
         "invoice_status": "read invoices", "list_invoices": "read invoices", "pending_approvals": "read invoices",
         "unbilled_work": "read the books", "my_time_entries": "see time entries",
         "parked_payments": "see parked payments", "client_einvoice_format": "read the books"}


class _Groups:
    """A match whose alternative groups (client2, month2) answer for the main ones."""

    def __init__(self, m: re.Match[str]) -> None:
        self.m = m
        g = dict(m.groupdict())
        for alt in ("client", "month"):
            if not g.get(alt) and g.get(alt + "2"):
                g[alt] = g[alt + "2"]
        self.g = g

    def groupdict(self) -> dict[str, Any]:
        return self.g

    def __getitem__(self, key: str) -> Any:
        return self.g[key]


class OfflineInterpreter(BaseChatModel):
    """A deterministic stand-in for a model: phrasings in, tool calls and templated replies out."""

    NAME: ClassVar[str] = "offline"

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

    # ---- the interpreter proper ----------------------------------------------------------------------------

    def respond(self, messages: Sequence[BaseMessage], bound: frozenset[str]) -> AIMessage:
        turn = _turn(messages, bound)
        last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
        if last_human < 0:
            return AIMessage(render("replies/help", bound=bound, understood=False))
        text = _text(messages[last_human])
        text = _follow_up(messages[:last_human], text)
        results = [_result(m) for m in messages[last_human + 1:] if isinstance(m, ToolMessage)]
        for pattern, goal, plan in RULES:
            m = pattern.match(text)
            if m is None:
                continue
            if goal is not None and goal not in bound:
                return AIMessage(_refusal(goal, turn))
            return _drive(plan(_Groups(m), turn), results, turn)  # type: ignore[arg-type]
        return AIMessage(render("replies/help", bound=bound, understood=False))


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


def _follow_up(before: Sequence[BaseMessage], text: str) -> str:
    """An answer to the interpreter's own question ("which role?") completes the request it was about."""
    last_ai = next((m for m in reversed(before) if isinstance(m, AIMessage)), None)
    if last_ai is None or last_ai.response_metadata.get("billable_question") != "role":
        return text
    if any(p.match(text) for p, _, _ in RULES):
        return text  # a new request, not an answer
    asked = next((_text(m) for m in reversed(before) if isinstance(m, HumanMessage)), "")
    role = re.sub(r"^(?:as|as an?|role:?)\s+", "", text.strip().rstrip(".!"), flags=re.I)
    head, sep, tail = asked.partition(":")
    return f"{head} as {role}{sep}{tail}" if sep else text


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
        text = str(done.value)
        meta = {"billable_question": "role"} if text.startswith("Which role") else {}
        return AIMessage(text, response_metadata=meta)
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

