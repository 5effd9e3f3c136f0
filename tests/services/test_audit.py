"""The audit log: every state change writes exactly its entries in the same transaction; a refused call writes
none; tampering with a row, or removing one, is found by verify_chain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.errors import BillingError
from domain.services import audit, billing_run, clients, invoicing, users, work, workspace
from domain.store import uow as uow_module
from tests.support.parties import ADDRESSES
from tests.support.triggers import without_triggers

from .conftest import EMAILS, FEBRUARY, MARCH, World

Step = tuple[str, Callable[[World, dict[str, int]], Any], list[tuple[str, str]]]


def _new(world: World, after: int) -> list[tuple[str, str]]:
    entries = world.call(audit.audit_history, world.system, None, None, 1000, after)
    return [(e.action, e.subject_type) for e in entries]


# Run in order against one growing world; each step's entries are exactly these (action, subject type).
STEPS: list[Step] = [
    ("create_client", lambda w, i: i.__setitem__("client", w.call(clients.create_client, w.system, {
        "name": "Audited AG", "currency": "EUR", "billing_emails": ["a@b.example"],
        "tax_profile": {"rate": "19"}, "address": ADDRESSES["DE"]}).id), [("client.created", "client")]),
    ("update_client", lambda w, i: w.call(clients.update_client, w.system, i["client"], {"payment_terms_days": 14}),
     [("client.updated", "client")]),
    ("add_arrangement", lambda w, i: i.__setitem__("retainer", w.arrangement(
        i["client"], "retainer", fee="1000.00", starts_on="2026-01-01").id), [("arrangement.created", "arrangement")]),
    ("add T&M", lambda w, i: i.__setitem__("tm", w.arrangement(i["client"], "time_and_materials",
                                                                 default_rate="100.00").id),
     [("arrangement.created", "arrangement")]),
    ("add milestones", lambda w, i: i.__setitem__("ms", w.arrangement(i["client"], "milestone", milestones=[
        {"name": "A", "amount": "10.00"}]).milestones[0].id), [("arrangement.created", "arrangement")]),
    ("add pass-through", lambda w, i: i.__setitem__("pt", w.arrangement(i["client"], "pass_through").id),
     [("arrangement.created", "arrangement")]),
    ("add SLA", lambda w, i: i.__setitem__("sla", w.arrangement(i["client"], "sla_credit",
                                                                  fixed_amount="5.00").id),
     [("arrangement.created", "arrangement")]),
    ("log_time", lambda w, i: w.log(i["client"], date(2026, 3, 2), "2"), [("time.logged", "time_entry")]),
    ("record_expense", lambda w, i: w.call(work.record_expense, w.system, {
        "client_id": i["client"], "arrangement_id": i["pt"], "date": "2026-03-03", "description": "Cable",
        "cost": "9.00"}), [("expense.recorded", "expense")]),
    ("complete_milestone", lambda w, i: w.call(work.complete_milestone, w.system, i["ms"], date(2026, 3, 4)),
     [("milestone.completed", "milestone")]),
    ("complete it again", lambda w, i: w.call(work.complete_milestone, w.system, i["ms"]), []),
    ("record_breach", lambda w, i: w.call(work.record_breach, w.system, {
        "client_id": i["client"], "arrangement_id": i["sla"], "occurred_on": "2026-03-05",
        "description": "slow"}), [("sla.breach_recorded", "sla_breach")]),
    ("draft", lambda w, i: i.__setitem__("inv", w.draft(i["client"]).id), [("invoice.drafted", "invoice")]),
    ("draft again", lambda w, i: w.draft(i["client"]), []),
    ("manual line", lambda w, i: w.call(invoicing.add_manual_line, w.actor("finance"), i["inv"], "Fee", "1",
                                        "5.00"), [("invoice.line_added", "invoice")]),
    ("issue (flagged)", lambda w, i: w.call(invoicing.issue_invoice, w.system, i["inv"]),
     [("invoice.flagged", "invoice")]),
    ("reject", lambda w, i: w.call(invoicing.reject_invoice, w.actor("finance2"), i["inv"], "check the fee"),
     [("invoice.rejected", "invoice")]),
    ("issue again", lambda w, i: w.call(invoicing.issue_invoice, w.system, i["inv"]),
     [("invoice.flagged", "invoice")]),
    ("approve", lambda w, i: w.call(invoicing.approve_invoice, w.actor("finance2"), i["inv"]),
     [("invoice.approved", "invoice"), ("invoice.issued", "invoice")]),
    ("payment", lambda w, i: w.call(invoicing.record_payment, w.system, i["inv"], "10.00", date(2026, 4, 2)),
     [("invoice.payment_recorded", "invoice")]),
    ("credit note", lambda w, i: w.call(invoicing.create_credit_note, w.system, i["inv"], "goodwill", "5.00"),
     [("credit_note.issued", "invoice"), ("invoice.credited", "invoice")]),
    ("uncollectible", lambda w, i: w.call(invoicing.mark_uncollectible, w.system, i["inv"], "gone"),
     [("invoice.uncollectible", "invoice")]),
    ("second draft", lambda w, i: i.__setitem__("inv2", w.draft(i["client"], FEBRUARY).id),
     [("invoice.drafted", "invoice")]),
    ("discard", lambda w, i: w.call(invoicing.discard_draft, w.system, i["inv2"]), [("invoice.discarded", "invoice")]),
    ("billing run", lambda w, i: w.call(billing_run.bill_period, w.system, *FEBRUARY),
     [("invoice.drafted", "invoice"), ("invoice.issued", "invoice")]),   # clean: issued straight away
    ("void", lambda w, i: w.call(invoicing.void_invoice, w.system, w.issued(
        w.retainer_client(name="Void Me")).id, "duplicate"), [
        ("client.created", "client"), ("arrangement.created", "arrangement"), ("invoice.drafted", "invoice"),
        ("invoice.flagged", "invoice"), ("invoice.approved", "invoice"), ("invoice.issued", "invoice"),
        ("invoice.voided", "invoice")]),
    ("close_arrangement", lambda w, i: w.call(clients.close_arrangement, w.system, i["tm"]),
     [("arrangement.closed", "arrangement")]),
    ("end it again", lambda w, i: w.call(clients.close_arrangement, w.system, i["tm"]), []),
    ("add_user", lambda w, i: w.call(users.add_user, w.actor("owner"), {"email": "new@x.example", "role": "viewer"}),
     [("user.created", "user")]),
    ("rotate_token", lambda w, i: w.call(users.rotate_token, w.actor("owner"), "new@x.example"),
     [("user.token_rotated", "user")]),
    ("set_active", lambda w, i: w.call(users.set_active, w.actor("owner"), "new@x.example", False),
     [("user.deactivated", "user")]),
    ("update_settings", lambda w, i: w.call(workspace.update_settings, w.actor("owner"), {"duplicate_days": 3}),
     [("workspace.updated", "workspace")]),
]


def test_every_state_change_writes_exactly_its_entries(world: World) -> None:
    ids: dict[str, int] = {}
    for name, step, expected in STEPS:
        seq = world.audit_count()
        step(world, ids)
        assert _new(world, seq) == expected, name
    report = world.call(audit.verify_chain, world.system)
    assert report.ok, report.message


def test_reads_write_nothing(world: World) -> None:
    cid = world.retainer_client()
    inv = world.issued(cid)
    before = world.snapshot()
    finance = world.actor("finance")
    world.call(clients.get_client, finance, cid)
    world.call(clients.list_clients, finance)
    world.call(clients.list_arrangements, finance, cid)
    world.call(invoicing.get_invoice, finance, inv.id)
    world.call(invoicing.list_invoices, finance, status="issued")
    world.call(work.list_time_entries, finance)
    world.call(audit.audit_history, finance)
    world.call(audit.verify_chain, finance)
    world.call(workspace.get_settings, finance)
    assert world.snapshot() == before


def test_entries_say_who_what_when_and_before_after(world: World) -> None:
    finance = world.actor("finance")
    inv = world.issued(world.retainer_client())
    uow = world.db.uow()
    uow.set_cause(event_id="evt_42", rule_id="month-end")
    paid = invoicing.record_payment(uow, finance, inv.id, "100.00", date(2026, 4, 2), "SEPA 9")
    (entry,) = world.call(audit.audit_history, world.system, "invoice", str(inv.id))[-1:]
    assert (entry.action, entry.actor_kind, entry.actor_id, entry.actor) == (
        "invoice.payment_recorded", "person", world.user_ids["finance"], EMAILS["finance"])
    assert entry.at == world.db.clock.now()
    assert entry.cause == {"event_id": "evt_42", "rule_id": "month-end"}
    assert entry.before is not None and entry.after is not None
    assert (entry.before["status"], entry.after["status"]) == ("issued", paid.status)
    assert (entry.before["balance"], entry.after["balance"]) == ("1190.00", "1090.00")
    assert entry.after["amount"] == "100.00" and entry.after["reference"] == "SEPA 9"


def test_a_refused_call_writes_no_entry(world: World) -> None:
    cid = world.retainer_client(po_required=True)
    inv = world.draft(cid)
    refused: list[Callable[[], Any]] = [
        lambda: world.call(invoicing.issue_invoice, world.system, inv.id),                     # blocked: PO
        lambda: world.call(invoicing.issue_invoice, world.actor("viewer"), inv.id),            # forbidden
        lambda: world.call(invoicing.record_payment, world.system, inv.id, "1.00", date(2026, 4, 1)),  # draft
        lambda: world.call(clients.create_client, world.system, {"name": "X", "currency": "XYZ"}),  # invalid
        lambda: world.call(invoicing.draft_invoice, world.system, 4242, *MARCH),               # unknown
    ]
    before = world.snapshot()
    for call in refused:
        with pytest.raises(BillingError):
            call()
    assert world.snapshot() == before


def test_no_change_without_its_entry(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """If writing the audit entry fails, the change it describes is rolled back with it."""
    cid = world.retainer_client()
    before = world.snapshot()

    def broken(keyring: object, prev: str, entry: dict[str, Any]) -> tuple[str, str]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(uow_module, "sign", broken)
    with pytest.raises(RuntimeError):
        world.call(clients.create_client, world.system, {"name": "Lost Ltd", "currency": "EUR"})
    with pytest.raises(RuntimeError):
        world.draft(cid)
    monkeypatch.undo()
    assert world.snapshot() == before
    assert world.call(audit.verify_chain, world.system).ok


def _history(world: World, n: int = 4) -> int:
    """A few invoices' worth of entries; returns how many."""
    for i in range(n):
        world.issued(world.retainer_client(name=f"Chain {i}"))
    return world.audit_count()


@pytest.mark.parametrize(("sql", "broken"), [
    ("UPDATE audit_log SET after = '{\"status\": \"paid\"}' WHERE seq = 3", 3),
    ("UPDATE audit_log SET actor_label = 'mallory@evil.example' WHERE seq = 3", 3),
    ("UPDATE audit_log SET action = 'invoice.voided' WHERE seq = 12", 12),
    ("UPDATE audit_log SET subject_id = '999' WHERE seq = 20", 20),
    ("UPDATE audit_log SET hash = 'ffff' WHERE seq = 5", 5),
    ("UPDATE audit_log SET prev_hash = 'ffff' WHERE seq = 7", 7),
    ("DELETE FROM audit_log WHERE seq = 6", 6),
    ("DELETE FROM audit_log WHERE seq = 1", 1),
])
def test_tampering_is_found_at_the_first_broken_entry(world: World, sql: str, broken: int) -> None:
    """The triggers refuse these statements (tests/services/test_frozen_books.py); someone who can drop the
    triggers (the tables' owner) gets them through, and verify names the first entry they broke."""
    total = _history(world)
    assert world.call(audit.verify_chain, world.system).ok
    with world.db.engine.begin() as conn:
        without_triggers(conn)
        assert conn.execute(text(sql)).rowcount == 1
    report = world.call(audit.verify_chain, world.system, chunk=4)   # small chunks: the seams are checked too
    assert not report.ok
    assert report.first_broken_seq == broken
    assert str(broken) in report.message
    assert report.entries in (total, total - 1)


def test_removing_the_last_entries_is_found(world: World) -> None:
    total = _history(world)
    with world.db.engine.begin() as conn:
        without_triggers(conn)
        conn.execute(text(f"DELETE FROM audit_log WHERE seq >= {total - 1}"))
    report = world.call(audit.verify_chain, world.system)
    assert not report.ok and report.first_broken_seq == total - 1
    assert "removed" in report.message


def _rewrite(world: World, seq: int, sign: Callable[[str, dict[str, Any]], tuple[str | None, str]]) -> None:
    """An attacker with write access (triggers dropped) edits entry `seq` and recomputes every link after it."""
    from domain.store.tables import AuditRow
    from domain.store.uow import audit_content

    with world.db.engine.begin() as conn:
        without_triggers(conn)
        s = Session(bind=conn)
        rows = s.scalars(select(AuditRow).where(AuditRow.seq >= seq).order_by(AuditRow.seq)).all()
        prev = rows[0].prev_hash
        rows[0].actor_label = "mallory@evil.example"
        for row in rows:
            row.prev_hash = prev
            row.key_id, row.hash = sign(prev, audit_content(row))
            prev = row.hash
        s.flush()
        conn.execute(text("UPDATE audit_head SET last_hash = :h WHERE id = 1"), {"h": prev})


@pytest.mark.parametrize("how", ["plain sha-256", "another key", "the key id of the real one"])
def test_an_edited_entry_with_the_chain_recomputed_is_found_without_the_key(world: World, how: str) -> None:
    """The attack a plain hash chain misses: edit an entry and recompute every hash after it. Without the audit
    key (held outside the database) no recomputation verifies; verify names the edited entry."""
    from domain.model.audit_chain import entry_hash, entry_mac

    _history(world)
    real = world.db.keyring.current_id
    forge = {"plain sha-256": lambda prev, c: (None, entry_hash(prev, c)),
             "another key": lambda prev, c: ("mallory", entry_mac("mallory", b"guess", prev, c)),
             "the key id of the real one": lambda prev, c: (real, entry_mac(real, b"guess", prev, c))}[how]
    _rewrite(world, 4, forge)
    report = world.call(audit.verify_chain, world.system)
    assert not report.ok and report.first_broken_seq == 4
    assert report.message.startswith("entry 4 (")


def test_verify_reports_progress(world: World) -> None:
    total = _history(world, 2)
    seen: list[tuple[int, int]] = []
    report = world.call(audit.verify_chain, world.system, lambda done, of: seen.append((done, of)), 5)
    assert report.ok and report.entries == total
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_cause_of_any_type_is_stored_as_json_and_verifies(world: World) -> None:
    import uuid

    event = uuid.uuid4()
    uow = world.db.uow()
    uow.set_cause(event_id=event, received_on=date(2026, 4, 1), message_id=None)
    c = clients.create_client(uow, world.system, {"name": "Caused Ltd", "currency": "EUR"})
    (entry,) = world.call(audit.audit_history, world.system, "client", str(c.id))
    assert entry.cause == {"event_id": str(event), "received_on": "2026-04-01"}
    assert world.call(audit.verify_chain, world.system).ok


@pytest.mark.parametrize("entries", [1, uow_module._APPEND_MAX, uow_module._APPEND_MAX + 1, 250])
def test_one_commit_of_many_entries_extends_the_chain(world: World, entries: int) -> None:
    """However many entries a transaction writes (one INSERT with the head's update on PostgreSQL up to
    _APPEND_MAX, COPY beyond), they follow the head in order, the head moves to the last, and the chain verifies;
    a None before/after reads back as None."""
    seq = world.audit_count()
    with world.db.uow() as uow:
        for i in range(entries):
            uow.audit.record(world.system, "test.bulk", "test", i, before=None, after={"i": i, "name": "Müller"})
        uow.commit()
    assert world.audit_count() == seq + entries
    with world.db.uow(readonly=True) as uow:
        head = uow.audit_log.head()
        rows = uow.audit_log.for_subject("test", None, limit=1000, after_seq=seq)
        assert head is not None and head.last_seq == seq + entries == rows[-1].seq
        assert head.last_hash == rows[-1].hash
        assert [r.after for r in rows] == [{"i": i, "name": "Müller"} for i in range(entries)]
        assert {r.before for r in rows} == {None}
    report = world.call(audit.verify_chain, world.system)
    assert report.ok, report.message
