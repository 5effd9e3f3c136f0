"""Events through the worker, on SQLite and PostgreSQL: facts recorded once, rules fired, out-of-order handled."""

from __future__ import annotations

from datetime import timedelta

from domain.store.clock import FixedClock
from domain.store.tables import EventRow, InvoiceRow, TimeEntryRow
from tests.events.conftest import TM_RULES, Events, at


def _time(entry: str, hours: str, day: str = "2026-03-10", client: str = "acme", **kw: object) -> dict[str, object]:
    return {"entry_ref": entry, "client_ref": client, "person": "kim@acme.example", "role": "developer",
            "date": day, "hours": hours, "description": "work", **kw}


def test_a_duplicate_event_is_stored_once_and_does_nothing(ev: Events) -> None:
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    first = ev.receive("time.logged", _time("te-1", "2"), "evt-1")
    again = ev.receive("time.logged", _time("te-1", "2"), "evt-1")
    assert first.accepted == ["evt-1"] and again.duplicates == ["evt-1"] and not again.accepted
    assert ev.work() == 1
    assert ev.count(EventRow) == 1 and ev.count(TimeEntryRow) == 1
    assert ev.event("billable", "evt-1").status == "processed"


def test_invalid_data_is_stored_as_rejected_naming_the_field(ev: Events) -> None:
    receipt = ev.receive("time.logged", {"entry_ref": "te-1", "client_ref": "acme"}, "evt-bad")
    assert receipt.rejected and receipt.rejected[0]["field"].startswith("data.")
    row = ev.event("billable", "evt-bad")
    assert row.status == "rejected" and ("person" in row.reason or "role" in row.reason)
    assert ev.work() == 0  # never queued


def test_an_update_before_its_creation_creates_and_the_late_creation_is_ignored(ev: Events) -> None:
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    ev.receive("time.updated", _time("te-1", "3"), "e-upd", at=at("2026-03-10T12:00:00"))
    ev.work()
    ev.receive("time.logged", _time("te-1", "2"), "e-new", at=at("2026-03-10T10:00:00"))
    ev.work()
    assert ev.event("billable", "e-new").status == "ignored"
    with ev.db.uow() as uow:
        entry = uow.work.time_entry_by_ref("te-1")
        assert entry is not None and entry.hours_centi == 300


def test_a_deletion_wins_over_an_older_update_that_arrives_after_it(ev: Events) -> None:
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    ev.receive("time.logged", _time("te-1", "2"), "e1", at=at("2026-03-10T10:00:00"))
    ev.receive("time.deleted", {"entry_ref": "te-1"}, "e3", at=at("2026-03-10T12:00:00"))
    ev.work()
    ev.receive("time.updated", _time("te-1", "5"), "e2", at=at("2026-03-10T11:00:00"))
    ev.work()
    assert ev.count(TimeEntryRow) == 0
    assert ev.event("billable", "e2").status == "ignored"


def test_22_hours_reach_the_threshold_and_draft_one_tm_invoice(ev: Events) -> None:
    ev.rules(TM_RULES)
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    for i, hours in enumerate(["8", "8", "6"]):
        ev.receive("time.logged", _time(f"te-{i}", hours, f"2026-03-{10 + i}"), f"e{i}")
        ev.work()
        drafted = ev.invoices()
        assert len(drafted) == (1 if i == 2 else 0)
    inv = ev.invoices()[0]
    assert inv.total_minor == 22 * 150 * 100 * 119 // 100
    assert inv.status == "pending_approval"  # a first invoice for a client always waits for an approver
    assert ev.outbox_topics() == ["approval.requested"]
    assert [m.topic for m in ev.sent] == ["approval.requested"]
    result = ev.event("billable", "e2").result
    assert result["rules"][0]["rule"] == "tm-threshold"
    assert result["rules"][0]["outcome"].startswith("threshold reached")


def test_editing_a_billed_time_entry_is_dead_lettered_with_the_reason_then_retried(ev: Events) -> None:
    ev.rules(TM_RULES)
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    ev.receive("time.logged", _time("te-1", "21"), "e1", at=at("2026-03-10T10:00:00"))
    ev.work()
    assert len(ev.invoices()) == 1
    ev.receive("time.updated", _time("te-1", "20"), "e2", at=at("2026-03-10T11:00:00"))
    ev.work()
    dead = ev.event("billable", "e2")
    assert dead.status == "dead" and "time.already_billed" in dead.reason and "credit note" in dead.reason
    assert "event.dead" in ev.outbox_topics()
    from domain.services import events
    failed = events.list_events(ev.db.uow(), ev.system, status="failed")
    assert [f.id for f in failed] == [dead.id]
    view = events.retry_event(ev.db.uow(), ev.system, dead.id)
    assert view.status == "received" and view.attempts == 0
    ev.work()
    assert ev.event("billable", "e2").status == "dead"


def test_an_unknown_client_is_retried_with_backoff_then_processed_when_it_appears(ev: Events) -> None:
    clock = ev.db.clock
    assert isinstance(clock, FixedClock)
    ev.arrangement(ev.client("Other", ref="other"), kind="time_and_materials", default_rate="100.00")
    ev.receive("time.logged", _time("te-1", "2", client="newco"), "e1")
    ev.work()
    view = ev.event("billable", "e1")
    assert view.status == "received", view.reason
    from domain.services import events
    [failed] = events.list_events(ev.db.uow(), ev.system, status="failed")
    assert failed.status == "retrying" and failed.attempts == 1 and "newco" in failed.last_error
    ev.work()  # not yet due: nothing happens
    assert events.get_event(ev.db.uow(), ev.system, view.id).attempts == 1
    cid = ev.client("NewCo", ref="newco")
    ev.arrangement(cid, kind="time_and_materials", default_rate="100.00")
    clock.set(clock.now() + timedelta(seconds=6))
    ev.work()
    assert ev.event("billable", "e1").status == "processed"


def test_a_client_that_never_appears_is_dead_after_five_attempts(ev: Events) -> None:
    clock = ev.db.clock
    assert isinstance(clock, FixedClock)
    ev.receive("time.logged", _time("te-1", "2", client="ghost"), "e1")
    for _ in range(6):
        ev.work()
        clock.set(clock.now() + timedelta(hours=1))
    row = ev.event("billable", "e1")
    assert row.status == "dead" and "event.not_yet" in row.reason and "ghost" in row.reason


def test_every_step_is_audited_with_the_event_as_its_cause(ev: Events) -> None:
    ev.rules(TM_RULES)
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    ev.receive("time.logged", _time("te-1", "21"), "e1")
    ev.work()
    row = ev.event("billable", "e1")
    with ev.db.uow() as uow:
        audit = [(a.action, dict(a.cause)) for a in uow.audit_log.for_subject(None, None, limit=500)]
    assert ("events.received", {"event_ids": [row.id]}) in audit  # receipt: one entry per transaction
    entries = [(a, c) for a, c in audit if c.get("event_id") == row.id]
    actions = [a for a, _ in entries]
    assert {"time.logged", "invoice.drafted", "invoice.flagged", "event.processed"} <= set(actions)
    drafted = next(c for a, c in entries if a == "invoice.drafted")
    assert drafted["rule_id"] == "tm-threshold" and drafted["event"] == "billable/e1"


def test_invoices_in_the_result_are_the_ones_the_event_made(ev: Events) -> None:
    ev.rules(TM_RULES)
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    ev.receive("time.logged", _time("te-1", "21"), "e1")
    ev.work()
    [inv] = ev.invoices()
    assert isinstance(inv, InvoiceRow)
    assert ev.event("billable", "e1").result["rules"][0]["invoices"][0]["invoice_id"] == inv.id


def test_one_batch_creating_updating_and_deleting_the_same_entries_ends_as_one_by_one_would(ev: Events) -> None:
    """The worker looks up a batch's entries and clients in advance: entries made, changed and removed inside the
    same batch must still be seen as they are at each step."""
    cid = ev.client()
    ev.client("Beta BV", ref="beta")
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    ev.receive("time.logged", _time("te-old", "1"), "e0")
    ev.work()
    ev.receive("time.logged", _time("te-1", "2"), "e1", at=at("2026-03-10T10:00:00"))
    ev.receive("time.updated", _time("te-1", "4"), "e2", at=at("2026-03-10T11:00:00"))
    ev.receive("time.deleted", {"entry_ref": "te-old"}, "e3", at=at("2026-03-10T12:00:00"))
    ev.receive("time.logged", _time("te-old", "7"), "e4", at=at("2026-03-10T13:00:00"))
    ev.receive("time.logged", _time("te-2", "3", client="nobody"), "e5")
    assert ev.work() == 5  # one batch
    with ev.db.uow() as uow:
        one, old = uow.work.time_entry_by_ref("te-1"), uow.work.time_entry_by_ref("te-old")
        assert one is not None and one.hours_centi == 400
        assert old is not None and old.hours_centi == 700  # deleted, then logged again: a new entry
        assert uow.work.time_entry_by_ref("te-2") is None
    assert [ev.event("billable", e).status for e in ("e1", "e2", "e3", "e4")] == ["processed"] * 4
    assert ev.event("billable", "e5").status == "received"  # no client "nobody" yet: retried later, alone


def test_in_one_batch_a_draft_leaves_other_clients_hours_counted_and_its_own_counted_afresh(ev: Events) -> None:
    """A batch keeps each client's unbilled hours in memory: a draft resets only its own client's figure."""
    ev.rules(TM_RULES)
    acme, beta = ev.client(), ev.client("Beta BV", ref="beta")
    for cid in (acme, beta):
        ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    ev.receive("time.logged", _time("a1", "15"), "e1")
    ev.receive("time.logged", _time("b1", "15", client="beta"), "e2")
    ev.work()
    ev.receive("time.logged", _time("a2", "6"), "e3")                 # acme 21 h: drafted
    ev.receive("time.logged", _time("b2", "3", client="beta"), "e4")  # beta 18 h
    ev.receive("time.logged", _time("a3", "4"), "e5")                 # acme 4 h since its draft
    ev.receive("time.logged", _time("b3", "2", client="beta"), "e6")  # beta 20 h: drafted
    assert ev.work() == 4  # one batch
    hours = {e: ev.event("billable", e).result["rules"][0]["unbilled_hours"] for e in ("e3", "e4", "e5", "e6")}
    assert hours == {"e3": "21", "e4": "18", "e5": "4", "e6": "20"}
    assert sorted((i.client_id, i.subtotal_minor) for i in ev.invoices()) == [(acme, 315000), (beta, 300000)]
