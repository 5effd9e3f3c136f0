"""Invoices issued before snapshots were kept (migration 0013): no door reads them from today's client row; the
backfill freezes what they say from the details at backfill time, audited, once."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from domain.errors import Forbidden
from domain.services import clients, documents, einvoice, exports, invoicing, snapshots
from domain.store.tables import InvoiceRow
from tests.support.triggers import without_triggers

from .conftest import MARCH, World


def _forget_snapshots(world: World) -> None:
    """As a database upgraded from before 0013 has them: numbered, without a snapshot (only the tables' owner can
    empty one: the triggers refuse it to the application)."""
    with world.db.engine.begin() as conn:
        without_triggers(conn)
        conn.execute(update(InvoiceRow).values(snapshot=None))


def test_old_invoices_are_refused_until_backfilled_then_frozen_as_they_were_at_backfill(world: World) -> None:
    cid = world.retainer_client(name="Old Customer GmbH")
    inv = world.issued(cid, MARCH)
    note = world.call(invoicing.create_credit_note, world.actor("finance"), inv.id, "goodwill", "10.00")
    _forget_snapshots(world)
    # no live fallback: every door refuses rather than print today's client as if the invoice had said it
    for door in (lambda: world.call(documents.invoice_document, world.system, inv.id),
                 lambda: world.call(einvoice.einvoice_source, world.system, inv.id, "facturx"),
                 lambda: world.call(exports.export_datev, world.system, "2026-04")):
        with pytest.raises(snapshots.NotFrozen) as refused:
            door()
        assert refused.value.status == 409 and "billable invoices backfill-snapshots" in refused.value.message
    with pytest.raises(Forbidden):
        world.call(snapshots.backfill_snapshots, world.actor("finance"))

    world.call(clients.update_client, world.system, cid, {"name": "Renamed Before Backfill GmbH"})
    report = world.call(snapshots.backfill_snapshots, world.actor("owner"))
    assert report.frozen == 2 and report.numbers == [inv.number, note.number]  # the invoice before its note
    assert world.audit_actions("invoice", inv.id)[-1] == "invoice.snapshot_backfilled"
    assert world.audit_actions("invoice", note.id)[-1] == "invoice.snapshot_backfilled"

    def said() -> str:
        doc = world.call(documents.invoice_document, world.system, inv.id)
        return f"{doc.client.name} | {doc.buyer_party.address.city}"

    before = said()
    assert before == "Renamed Before Backfill GmbH | Ostfildern"
    world.call(clients.update_client, world.system, cid, {"name": "Renamed After GmbH",
                                                         "address": {"city": "Esslingen"}})
    assert said() == before  # frozen now: later edits change nothing issued
    assert world.call(documents.invoice_document, world.system, note.id).corrects_number == inv.number
    assert world.call(exports.export_datev, world.system, "2026-04").bookings > 0
    assert world.call(snapshots.backfill_snapshots, world.system).frozen == 0  # safe to run again


def test_a_frozen_snapshot_never_changes_but_an_empty_one_may_be_set_once(world: World) -> None:
    inv = world.issued(world.retainer_client(), MARCH)
    with pytest.raises(IntegrityError), world.db.engine.begin() as conn:  # set: the trigger refuses any change
        conn.execute(update(InvoiceRow).where(InvoiceRow.id == inv.id).values(snapshot={"number": "forged"}))
    with pytest.raises(IntegrityError), world.db.engine.begin() as conn:  # nor may it be emptied
        conn.execute(update(InvoiceRow).where(InvoiceRow.id == inv.id).values(snapshot=None))
