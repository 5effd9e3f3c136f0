"""With a model, nothing is written until the person says yes (issue 14). A real openai client over a socket talks to
a scripted model that proposes EVERY write tool at once (and a read), as each role, on SQLite and PostgreSQL:

- the proposal is one confirmation listing every write the role's agent has, each with its server-computed effect;
- "no": the books are exactly as they were (every table's rows, the audit chain and its head);
- "yes": the writes the role may do happen; the others are refused by the domain (or were never the role's tools).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from agent import MEMORY_TABLES, Channel, Chat
from domain.model.roles import Actor, Role
from domain.services import audit, clients, contracts, invoicing, payments_parked, work
from domain.services.payments_parked import Reason
from domain.settings import Settings
from domain.store.session import Database
from domain.store.tables import Base
from evals import Seeded
from tests.agent.conftest import SETTINGS
from tests.fakes.openai_server import Reply, ScriptedOpenAI
from tests.fakes.openai_server import text as say
from tests.support.parties import ADDRESSES
from tools import Kind, tools_for

SYSTEM = Actor.system("tests")
WRITES = {"draft_invoice", "add_manual_line", "log_time", "complete_milestone", "reject_invoice", "issue_invoice",
          "approve_invoice", "void_invoice", "credit_note", "record_payment", "send_invoice", "apply_parked_payment",
          "dismiss_parked_payment", "amend_arrangement", "end_arrangement", "decide_amendment"}


def _settings(srv: ScriptedOpenAI) -> Settings:
    return SETTINGS.model_copy(update={"model": "local-model", "model_base_url": srv.base_url,
                                       "model_api_key": "test-key"})


def _targets(books: Seeded) -> dict[str, int]:
    """Something for every write to act on, each on its own rows (a turn's tools run concurrently)."""
    db, ids = books.db, books.ids
    fin2 = books.actor("finance2")
    out = {"initech_draft": invoicing.draft_invoice(db.uow(), SYSTEM, ids["initech"], date(2026, 3, 1),
                                                    date(2026, 3, 31)).id,
           "globex_draft": invoicing.draft_invoice(db.uow(), SYSTEM, ids["globex"], date(2026, 4, 1),
                                                   date(2026, 4, 30)).id}
    hooli = clients.create_client(db.uow(), SYSTEM, clients.ClientIn.model_validate({
        "name": "Hooli BV", "currency": "EUR", "billing_emails": ["ap@hooli.example"],
        "tax_profile": {"mode": "standard", "rate": "21"}, "address": ADDRESSES["NL"]})).id
    clients.add_arrangement(db.uow(), SYSTEM, hooli, {"kind": "time_and_materials", "default_rate": "100.00"})
    work.log_time(db.uow(), SYSTEM, {"client_id": hooli, "person": "jonas@books.example", "role": "Engineer",
                                     "date": date(2026, 3, 9), "hours": "3", "description": "Audit"})
    d = invoicing.draft_invoice(db.uow(), fin2, hooli, date(2026, 3, 1), date(2026, 3, 31))
    invoicing.add_manual_line(db.uow(), fin2, d.id, "Travel", "1", "80.00")
    pending = invoicing.issue_invoice(db.uow(), fin2, d.id)
    assert pending.status == "pending_approval"
    out["hooli_pending"] = pending.id
    arr = clients.add_arrangement(db.uow(), SYSTEM, ids["acme"], {
        "kind": "milestone", "name": "Migration", "milestones": [{"name": "Go-live", "amount": "8000.00"}]})
    out["milestone"] = next(a for a in clients.list_arrangements(db.uow(), books.actor("owner"), ids["acme"])
                            if a.id == arr.id).milestones[0].id
    owner = books.actor("owner")
    out["acme_retainer"] = next(a.id for a in clients.list_arrangements(db.uow(), owner, ids["acme"])
                                if a.kind == "retainer")
    out["globex_tm"] = next(a.id for a in clients.list_arrangements(db.uow(), owner, ids["globex"])
                            if a.kind == "time_and_materials")
    acme_tm = next(a.id for a in clients.list_arrangements(db.uow(), owner, ids["acme"])
                   if a.kind == "time_and_materials")
    proposed = contracts.amend_arrangement(db.uow(), books.actor("account_manager"), ids["acme"], acme_tm,
                                           {"effective_on": "2026-06-01", "terms": {"default_rate": "160.00"}})
    assert proposed.version is not None and proposed.version.id is not None
    out["proposal"] = proposed.version.id
    for key in ("parked_apply", "parked_dismiss"):
        out[key] = payments_parked.park(db.uow(), SYSTEM, amount=Decimal("50.00"), currency="EUR",
                                        received_on=date(2026, 3, 30), reason=Reason.UNKNOWN_INVOICE,
                                        detail="no invoice is numbered INV-9", invoice_number="INV-9").id
    return out


def _everything(books: Seeded, t: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    """Every write tool, plus a second log_time for someone else, plus a read."""
    ids = books.ids
    return [
        ("invoice_status", {"invoice": "INV-2026-000002"}),
        ("record_payment", {"invoice_id": ids["initech_january"], "amount": "100.00", "reference": "TR-1"}),
        ("log_time", {"client_id": ids["acme"], "date": "2026-03-31", "hours": "2", "role": "Engineer",
                      "description": "Firewall change"}),
        ("log_time", {"client_id": ids["acme"], "date": "2026-03-31", "hours": "1", "role": "Engineer",
                      "person": "owner@books.example"}),
        ("draft_invoice", {"client_id": ids["acme"], "month": "2026-04"}),
        ("add_manual_line", {"invoice_id": t["initech_draft"], "description": "Cabling", "quantity": "2",
                             "unit_price": "45.00"}),
        ("complete_milestone", {"milestone_id": t["milestone"]}),
        ("reject_invoice", {"invoice_id": ids["acme_march"], "reason": "the visit is in the retainer"}),
        ("issue_invoice", {"invoice_id": t["globex_draft"]}),
        ("approve_invoice", {"invoice_id": t["hooli_pending"]}),
        ("void_invoice", {"invoice_id": ids["globex_february"], "reason": "duplicate"}),
        ("credit_note", {"invoice_id": ids["globex_march"], "reason": "goodwill", "amount": "100.00"}),
        ("send_invoice", {"invoice_id": ids["globex_march"]}),
        ("apply_parked_payment", {"parked_payment_id": t["parked_apply"], "invoice_id": ids["initech_january"]}),
        ("dismiss_parked_payment", {"parked_payment_id": t["parked_dismiss"], "reason": "refunded"}),
        ("amend_arrangement", {"client_id": ids["acme"], "arrangement_id": t["acme_retainer"],
                               "effective_on": "2026-05-01", "terms": {"fee": "5500.00"}}),
        ("end_arrangement", {"client_id": ids["globex"], "arrangement_id": t["globex_tm"], "ends_on": "2026-04-30"}),
        ("decide_amendment", {"version_id": t["proposal"], "approve": True, "note": "agreed"}),
    ]


def _proposal(calls: list[tuple[str, dict[str, Any]]]) -> Reply:
    return Reply(tool_calls=[{"id": f"call_{i}", "name": n, "arguments": json.dumps(a)}
                             for i, (n, a) in enumerate(calls, 1)])


def books_state(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the books (the agent's own memory tables aside), in key order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in MEMORY_TABLES:
                continue
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def _audit_actions(db: Database, after_seq: int) -> list[str]:
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT action FROM audit_log WHERE seq > :s ORDER BY seq"),
                                           {"s": after_seq})]


def _last_seq(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(seq), 0) FROM audit_log")).scalar_one())


# What each role's "yes" does, per call (by position in _everything): done, refused by the domain, or not a tool
# of that role's agent (so never proposed).
DONE, REFUSED, ABSENT = "done", "refused", "absent"
ALL_DONE = [DONE] * 18
EXPECTED: dict[str, list[str]] = {
    "owner": ALL_DONE,
    "finance": ALL_DONE,
    # Acme is theirs; Initech's draft is not (the domain answers "no invoice" for another's client). Their
    # amendment of Acme's retainer is a proposal for finance; ending a contract is not theirs to do.
    "account_manager": [DONE, ABSENT, DONE, DONE, DONE, REFUSED, DONE] + [ABSENT] * 8 + [DONE, ABSENT, ABSENT],
    # Their own time only: logging someone else's is refused by the domain.
    "contractor": [ABSENT, ABSENT, DONE, REFUSED] + [ABSENT] * 14,
    "viewer": [DONE] + [ABSENT] * 17,
}


def _outcomes(tool_messages: dict[str, str], n: int) -> list[str]:
    out = []
    for i in range(1, n + 1):
        content = tool_messages[f"call_{i}"]
        out.append(ABSENT if "is not a valid tool" in content else
                   REFUSED if content.startswith("refused (") else
                   "rejected" if "User rejected the tool call" in content else DONE)
    return out


@pytest.fixture
def targets(books: Seeded) -> dict[str, int]:
    return _targets(books)


# A viewer's agent has no write tool: nothing waits, so there is no yes to give.
ANSWERS = [(who, answer) for who in EXPECTED for answer in ("reject", "approve")
           if not (who == "viewer" and answer == "approve")]


@pytest.mark.parametrize(("who", "answer"), ANSWERS)
def test_every_write_waits_and_no_changes_nothing(books: Seeded, targets: dict[str, int], who: str,
                                                  answer: str) -> None:
    person = books.actor(who)
    calls = _everything(books, targets)
    mine = {s.name for s in tools_for(person.role, Channel.HTTP) if s.kind is Kind.WRITE}
    proposed = [(n, a) for n, a in calls if n in mine]
    before, seq = books_state(books.db), _last_seq(books.db)
    with ScriptedOpenAI([_proposal(calls), say("Done as you said.")]) as srv:
        chat = Chat.open(books.db, _settings(srv))
        try:
            thread = chat.open_thread(person)
            asked = chat.send(person, thread, "pay, log, draft, add, complete, reject, issue, approve, void, "
                                              "credit, send, apply, dismiss, amend, end and decide, all at once")
            if not proposed:  # nothing to wait for: the read ran, the writes are not this agent's tools
                assert asked.pending is None and len(srv.requests) == 2
            else:
                assert len(srv.requests) == 1  # nothing ran yet: not even the read
                assert books_state(books.db) == before  # and nothing is written while it waits
                pending = asked.pending
                assert pending is not None
                assert [a["name"] for a in pending.actions] == [n for n, _ in proposed]
                if len(proposed) > 1:
                    assert pending.summary.startswith(f"These {len(proposed)} changes, together")
                    for i, effect in enumerate(pending.effects, 1):
                        assert f"\n{i}. {effect}" in pending.summary
                assert "Please confirm" in asked.text
                done = chat.decide(person, thread, pending.id, answer)
                assert done.pending is None and done.text == "Done as you said."
        finally:
            chat.close()
    tool_messages = {m["tool_call_id"]: m["content"] for m in srv.requests[-1].messages if m["role"] == "tool"}
    outcomes = _outcomes(tool_messages, len(calls))
    assert outcomes[0] == (DONE if who != "contractor" else ABSENT)  # the read ran (after the decision)
    if answer == "reject" and proposed:
        assert books_state(books.db) == before  # every row of every table, the audit entries and their head
        assert _last_seq(books.db) == seq
        assert [o for (n, _), o in zip(calls, outcomes, strict=True) if n in mine] == ["rejected"] * len(proposed)
        return
    assert outcomes == EXPECTED[who]
    added = _audit_actions(books.db, seq)
    if who == "viewer":
        assert added == [] and books_state(books.db) == before
    elif who == "contractor":
        assert added == ["time.logged"]
    elif who == "account_manager":
        assert sorted(added) == ["arrangement.amendment_proposed", "invoice.drafted", "milestone.completed",
                                 "time.logged", "time.logged"]
    else:
        assert {"invoice.payment_recorded", "time.logged", "invoice.drafted", "invoice.line_added",
                "milestone.completed", "invoice.rejected", "invoice.approved", "invoice.voided",
                "credit_note.issued", "invoice.delivery_queued", "payment.parked_applied",
                "payment.parked_dismissed", "arrangement.amended", "arrangement.ended",
                "arrangement.amendment_approved"} <= set(added)
        assert {"invoice.issued", "invoice.flagged"} & set(added)  # issued, or flagged for an approver
    assert audit.verify_chain(books.db.uow(), books.actor("owner")).ok


def test_where_nobody_can_confirm_a_model_gets_no_write_tool(books_lite: Seeded) -> None:
    """billable ask without --yes (the script channel): the model is offered reads only; a write it names anyway
    is not a tool it has, and nothing is written."""
    owner = books_lite.actor("owner")
    before = books_state(books_lite.db)
    calls = [("log_time", {"client_id": books_lite.ids["acme"], "date": "2026-03-31", "hours": "2",
                           "role": "Engineer"}),
             ("draft_invoice", {"client_id": books_lite.ids["globex"], "month": "2026-04"})]
    with ScriptedOpenAI([_proposal(calls), say("I can't change anything here.")]) as srv:
        chat = Chat.open(books_lite.db, _settings(srv))
        try:
            reply = chat.send(owner, chat.open_thread(owner), "log 2h and draft Globex", Channel.SCRIPT)
        finally:
            chat.close()
    assert reply.pending is None and reply.text == "I can't change anything here."
    offered = set(srv.requests[0].tool_names)
    assert offered and not offered & WRITES
    assert all("is not a valid tool" in m["content"] for m in srv.requests[1].messages if m["role"] == "tool")
    assert books_state(books_lite.db) == before


def test_every_write_has_a_preview_and_reads_none() -> None:
    from tools import TOOLS

    assert {s.name for s in TOOLS if s.kind is Kind.WRITE} == WRITES
    assert all((s.preview is not None) == (s.kind is Kind.WRITE) for s in TOOLS)
    assert not [s for s in tools_for(Role.OWNER, Channel.SCRIPT) if s.kind is Kind.WRITE]
