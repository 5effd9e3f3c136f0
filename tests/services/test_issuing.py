"""One issuing step, whatever the door or path: the same decision, the same audit, the same events (the outbox's
typed catalogue), for issue, approve, the billing run and the rules; events where the thing happens."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from domain.errors import CheckBlocked
from domain.model import outbox_events as ev
from domain.model.events import PaymentReceived
from domain.services import billing_run, invoicing, payments_parked, workspace
from domain.store.tables import OutboxRow

from .conftest import FEBRUARY, MARCH, World


def _events(world: World, topic: str | None = None) -> list[ev.BookEvent]:
    """Every outbox message as its typed event (all of them must parse), in order."""
    with world.db.uow() as uow:
        rows = uow.session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars().all()
        out = []
        for r in rows:
            e = ev.parse(r.topic, r.payload)
            assert e is not None and e.topic == r.topic, (r.topic, r.payload)
            out.append(e)
    return [e for e in out if topic is None or e.topic == topic]


def _issued(world: World) -> list[ev.InvoiceIssued]:
    return [e for e in _events(world, "invoice.issued") if isinstance(e, ev.InvoiceIssued)]


def test_every_path_issues_with_one_invoice_issued_event_saying_which_path(world: World) -> None:
    door = world.retainer_client(name="Door")
    flagged = world.retainer_client(name="Approved")  # a first invoice is flagged
    run = world.retainer_client(name="Run")
    world.issued(door, FEBRUARY)  # flagged (first), then approved
    world.issued(run, FEBRUARY)
    world.db.clock.set(world.db.clock.now().replace(day=9))  # past February's duplicate window
    issued = world.call(invoicing.issue_invoice, world.system, world.draft(door).id)
    pending = world.call(invoicing.issue_invoice, world.system, world.draft(flagged).id)
    assert pending.status == "pending_approval"
    approved = world.call(invoicing.approve_invoice, world.actor("finance"), pending.id, "known client")
    report = world.call(billing_run.bill_period, world.system, *MARCH, client_ids=[run])
    assert report.issued == 1
    events = _issued(world)
    assert [(e.number, e.via) for e in events][-3:] == [
        (issued.number, "issue"), (approved.number, "approval"), ("INV-2026-000005", "billing_run")]
    # one per number, never twice; each with what accounting needs
    assert len({e.number for e in events}) == len(events) == 5
    e = events[-1]
    assert (e.client_name, e.currency, e.total, e.balance, e.schema_version) == ("Run", "EUR", "1190.00", "1190.00", 1)
    assert e.issue_date == world.db.clock.today() and e.due_date is not None and e.period == ["2026-03-01",
                                                                                                 "2026-03-31"]
    # the approval: asked once, decided once, then issued, in that order
    mine = [x.topic for x in _events(world) if getattr(x, "invoice_id", None) == approved.id]
    assert mine == ["approval.requested", "approval.decided", "invoice.issued"]


def test_every_path_audits_the_same_story(world: World) -> None:
    a = world.retainer_client(name="Door")
    b = world.retainer_client(name="Run")
    door = world.call(invoicing.issue_invoice, world.system, world.draft(a).id)
    world.call(billing_run.bill_period, world.system, *MARCH, client_ids=[b])
    (run,) = world.call(invoicing.list_invoices, world.system, client_id=b)
    for inv in (door, run):  # both first invoices: flagged, the same way
        assert world.audit_actions("invoice", inv.id) == ["invoice.drafted", "invoice.flagged"]
    for inv in (door, run):
        world.call(invoicing.approve_invoice, world.actor("finance"), inv.id)
        assert world.audit_actions("invoice", inv.id)[-2:] == ["invoice.approved", "invoice.issued"]


def test_a_block_is_refused_at_a_door_and_recorded_and_announced_by_a_run(world: World) -> None:
    at_door = world.retainer_client(name="Door", po_required=True)
    in_run = world.retainer_client(name="Run", po_required=True)
    draft = world.draft(at_door)
    before = world.snapshot()
    with pytest.raises(CheckBlocked) as refused:
        world.call(invoicing.issue_invoice, world.system, draft.id)
    assert "purchase order" in refused.value.message.lower() or "po" in refused.value.message.lower()
    assert world.snapshot() == before  # refused: nothing changed, nothing announced
    world.call(billing_run.bill_period, world.system, *MARCH, client_ids=[in_run])
    [blocked] = _events(world, "invoice.blocked")
    assert isinstance(blocked, ev.InvoiceBlocked) and blocked.client_name == "Run" and blocked.number is None
    assert blocked.checks and all(f.outcome == "block" for f in blocked.checks)


def test_money_events_come_from_where_the_money_moves(world: World) -> None:
    cid = world.retainer_client(name="Payer")
    inv = world.issued(cid)
    world.call(invoicing.record_payment, world.actor("finance"), inv.id, "190.00", date(2026, 4, 1), "bank 1")
    world.call(invoicing.create_credit_note, world.actor("finance"), inv.id, "goodwill", "1000.00")
    [paid] = _events(world, "payment.recorded")
    assert isinstance(paid, ev.PaymentRecorded) and (paid.amount, paid.balance, paid.status) == (
        "190.00", "1000.00", "partially_paid")
    [credited] = _events(world, "invoice.credited")
    assert isinstance(credited, ev.InvoiceCredited) and (credited.amount, credited.balance, credited.status) == (
        "1000.00", "0.00", "paid") and credited.credit_note_number.startswith("CN-")
    [settled] = _events(world, "invoice.paid")
    assert isinstance(settled, ev.InvoicePaid) and settled.by == "credit_note" and settled.invoice_id == inv.id

    other = world.issued(world.retainer_client(name="Voided"))
    world.call(invoicing.void_invoice, world.actor("finance"), other.id, "wrong client")
    third = world.issued(world.retainer_client(name="Gone"))
    world.call(invoicing.mark_uncollectible, world.actor("finance"), third.id, "insolvent")
    [voided] = _events(world, "invoice.voided")
    [gone] = _events(world, "invoice.uncollectible")
    assert isinstance(voided, ev.InvoiceVoided) and (voided.number, voided.reason) == (other.number, "wrong client")
    assert isinstance(gone, ev.InvoiceUncollectible) and (gone.balance, gone.reason) == ("1190.00", "insolvent")


def test_a_parked_payment_applied_later_is_a_payment_like_any_other(world: World) -> None:
    inv = world.issued(world.retainer_client(name="Later"))
    data = PaymentReceived.model_validate({"invoice_number": "INV-1999-000001", "amount": "1190.00",
                                           "currency": "EUR", "received_on": "2026-04-10"})
    with world.db.uow() as uow:
        assert payments_parked.receive_payment(uow, world.system, None, data)["parked"] == "unknown_invoice"
        uow.commit()
    [parked] = world.call(payments_parked.list_parked, world.actor("finance"))
    world.call(payments_parked.apply_parked, world.actor("finance"), parked.id, inv.id)
    assert [e.topic for e in _events(world)][-3:] == ["payment.parked", "payment.recorded", "invoice.paid"]


def test_drafting_says_whether_it_made_the_draft(world: World) -> None:
    cid = world.retainer_client()
    first = world.call(invoicing.draft_invoice, world.system, cid, *MARCH)
    again = world.call(invoicing.draft_invoice, world.system, cid, *MARCH)
    assert (first.created, again.created, again.id) == (True, False, first.id)


def test_the_catalogue_reads_old_topics_and_refuses_nothing_it_does_not_know() -> None:
    old = ev.parse("notify.delivery_failed", {"invoice_id": 1, "number": "INV-1", "error": "550"})
    assert isinstance(old, ev.DeliveryFailed) and old.topic == "delivery.failed"
    assert ev.parse("payment.parked", {"amount": "1.00"}) is None  # unreadable: shown as fields, never crashes
    assert ev.parse("no.such.topic", {}) is None
    # every topic is unique and every model says its version
    assert len(ev.CATALOGUE) == len({m.topic for m in ev.CATALOGUE.values()})
    sample: dict[str, Any] = {"invoice_id": 1, "message_id": "<m@x>"}
    assert ev.parse("invoice.email", sample) == ev.InvoiceEmail(invoice_id=1, message_id="<m@x>", schema_version=1)
    # the shared bases (what is owed after a change, the mailer's work orders) keep each payload's fields
    ref = {"schema_version", "invoice_id", "number", "kind", "status", "client_id", "client_name", "currency", "total"}
    topics = ("invoice.credited", "invoice.uncollectible", "payment.recorded", "invoice.email", "invoice.reminder")
    assert {t: set(ev.CATALOGUE[t].model_fields) for t in topics} == {
        "invoice.credited": ref | {"credit_note_id", "credit_note_number", "amount", "balance", "reason"},
        "invoice.uncollectible": ref | {"balance", "reason"},
        "payment.recorded": ref | {"amount", "balance", "received_on", "reference", "payment_id"},
        "invoice.email": {"schema_version", "invoice_id", "message_id"},
        "invoice.reminder": {"schema_version", "invoice_id", "step"}}


def test_send_on_issue_follows_the_one_step_on_every_path(world: World) -> None:
    workspace.update_settings(world.db.uow(), world.system, {"send_on_issue": True})
    door = world.retainer_client(name="Door")
    run = world.retainer_client(name="Run")
    world.issued(door, FEBRUARY)
    world.issued(run, FEBRUARY)
    world.db.clock.set(world.db.clock.now().replace(day=9))
    world.call(invoicing.issue_invoice, world.system, world.draft(door).id)
    world.call(billing_run.bill_period, world.system, *MARCH, client_ids=[run])
    emails = [e for e in _events(world, "invoice.email") if isinstance(e, ev.InvoiceEmail)]
    assert len(emails) == len(_issued(world)) == 4
