"""The outbound sync against the local QuickBooks, on both databases: customers (created, updated), items per
arrangement kind, invoices on issue (DocNumber, lines, tax codes), credit memos, voids; 429, 5xx and 5010; a pause on
a refused refresh and the resume after reconnecting; the batch backfill of an existing book; no duplicate when the
invoice is already there; a refusal marks only its task dead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from channels.accounting import connection as conn
from channels.accounting.sync import QuickBooksSync
from domain.model.roles import Actor
from domain.services import accounting, clients, invoicing
from domain.settings import Settings
from domain.store.clock import FixedClock
from domain.store.tables import AccountingMappingRow, AccountingQueueRow
from tests.accounting.helpers import consent
from tests.fakes.quickbooks import FakeQuickBooks
from tests.services.conftest import APRIL, FEBRUARY, MARCH, World, make_world


@pytest.fixture
def world(db, system: Actor) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield make_world(db, system)


def connect(w: World, settings: Settings) -> None:
    owner = w.actor("owner")
    q = consent(conn.start_connect(w.db, settings, owner))
    assert conn.finish_connect(w.db, settings, owner, q["code"], q["state"], q["realmId"]).status == "connected"


@pytest.fixture
def pusher(world: World, qbo_settings: Settings, qbo_http: httpx.Client) -> QuickBooksSync:
    return QuickBooksSync(world.db, qbo_settings, name="test", http=qbo_http)  # the process-wide throttle


def queue(w: World) -> list[AccountingQueueRow]:
    with w.db.uow() as uow:
        rows = list(uow.session.execute(select(AccountingQueueRow).order_by(AccountingQueueRow.id)).scalars())
        uow.session.expunge_all()  # read after the unit of work ends
        return rows


def mapping(w: World, kind: str, local_id: int) -> AccountingMappingRow:
    with w.db.uow() as uow:
        row = uow.session.execute(select(AccountingMappingRow).where(
            AccountingMappingRow.kind == kind, AccountingMappingRow.local_id == local_id)).scalar_one()
        uow.session.expunge_all()
        return row


def test_push_customer_item_invoice_credit_memo_void(world: World, qbo: FakeQuickBooks, qbo_settings: Settings,
                                                    clock: FixedClock, pusher: QuickBooksSync) -> None:
    connect(world, qbo_settings)
    s = pusher
    cid = world.retainer_client("1000.00", name="Nordwerk GmbH")
    world.arrangement(cid, "time_and_materials", default_rate="120.00")
    world.log(cid, MARCH[0] + timedelta(days=2), "2.5")
    inv = world.issued(cid)
    assert [q.topic for q in queue(world)] == ["client.changed", "invoice.issued"]
    assert s.run_once() == 2
    assert [q.status for q in queue(world)] == ["done", "done"]
    [cust] = qbo.all("Customer")
    assert cust["DisplayName"] == "Nordwerk GmbH" and cust["PrimaryEmailAddr"]["Address"] == "ap@client.example"
    [there] = qbo.find("Invoice", DocNumber=inv.number)
    assert there["CustomerRef"]["value"] == cust["Id"] and there["TotalAmt"] == Decimal(inv.total)
    items = {i["Id"]: i["Name"] for i in qbo.all("Item")}
    lines = {items[ln["SalesItemLineDetail"]["ItemRef"]["value"]]: ln for ln in there["Line"]}
    assert set(lines) == {"Retainer", "Time and materials"}
    tm = lines["Time and materials"]["SalesItemLineDetail"]
    assert (tm["Qty"], tm["UnitPrice"], tm["TaxCodeRef"]["value"]) == (Decimal("2.5"), Decimal("120"), "TAX")
    assert lines["Time and materials"]["Amount"] == Decimal("300.00")
    assert there["TxnTaxDetail"]["TotalTax"] == Decimal(inv.tax_total)
    assert there["CurrencyRef"] == {"value": "EUR"} and cust["CurrencyRef"] == {"value": "EUR"}
    m = mapping(world, "invoice", inv.id)
    assert (m.remote_id, m.doc_number, m.pushed_total_minor) == (there["Id"], inv.number, int(Decimal(inv.total) * 100))
    # rid derived from the queue row: a replay would return the same invoice
    assert str(qbo.api_calls("POST", "invoice")[0].request_id).endswith(f"-{queue(world)[1].id}-0.0doc{inv.id}")

    # a changed client is a sparse update of the same customer
    clients.update_client(world.db.uow(), world.system, cid, {"name": "Nordwerk Systems GmbH"})
    assert s.run_once() == 1
    [cust] = qbo.all("Customer")
    assert cust["DisplayName"] == "Nordwerk Systems GmbH" and cust["SyncToken"] == "1"
    assert s.run_once() == 0 and len(qbo.api_calls("POST", "customer")) == 2  # nothing more to do

    # a credit note becomes a credit memo; a void voids (re-reading after a SyncToken conflict)
    cn = invoicing.create_credit_note(world.db.uow(), world.actor("finance"), inv.id, "goodwill", "119.00")
    assert s.run_once() == 1
    [memo] = qbo.all("CreditMemo")
    assert memo["DocNumber"] == cn.number and memo["TotalAmt"] == Decimal("119.00")
    assert memo["CustomerRef"]["value"] == cust["Id"] and mapping(world, "credit_note", cn.id).remote_id == memo["Id"]
    inv2 = world.issued(cid, APRIL)
    invoicing.void_invoice(world.db.uow(), world.actor("finance"), inv2.id, "wrong month")
    qbo.fail_next_update_stale = 1
    assert s.run_once() == 2
    there2 = qbo.find("Invoice", DocNumber=inv2.number)[0]
    assert there2["TotalAmt"] == 0 and there2["PrivateNote"].startswith("Voided - billable")
    assert mapping(world, "invoice", inv2.id).remote_status == "voided"
    assert all(q.status == "done" for q in queue(world))
    assert len(qbo.all("Invoice")) == 2 and s.stats["stale"] == 1


def test_429_5xx_wait_then_push_once(world: World, qbo: FakeQuickBooks, qbo_settings: Settings,
                                     clock: FixedClock, pusher: QuickBooksSync) -> None:
    connect(world, qbo_settings)
    s = pusher
    cid = world.retainer_client(name="Acme GmbH")
    inv = world.issued(cid)
    qbo.inject(429, retry_after=30)
    assert s.run_once() == 0
    head = queue(world)[0]
    assert head.status == "pending" and head.attempts == 1 and "429" in head.last_error
    assert head.run_after == clock.now() + timedelta(seconds=0.05)  # Retry-After, capped by the setting
    assert s.run_once() == 0  # the head waits, and everything behind it
    clock.set(clock.now() + timedelta(seconds=1))
    qbo.inject(503, count=2)
    assert s.run_once() == 0
    clock.set(clock.now() + timedelta(seconds=1))
    assert s.run_once() == 0
    clock.set(clock.now() + timedelta(seconds=1))
    assert s.run_once() == 2
    assert len(qbo.find("Invoice", DocNumber=inv.number)) == 1 and len(qbo.all("Customer")) == 1
    assert s.stats["rate_limited"] == 1 and s.stats["server_errors"] == 2


def test_refused_refresh_pauses_nothing_lost_resumes_in_order(world: World, qbo: FakeQuickBooks,
                                                              qbo_settings: Settings, clock: FixedClock,
                                                              pusher: QuickBooksSync) -> None:
    connect(world, qbo_settings)
    s = pusher
    cid = world.retainer_client(name="Acme GmbH")
    first = world.issued(cid, FEBRUARY)
    assert s.run_once() == 2
    qbo.fail_refresh = True
    clock.set(clock.now() + timedelta(hours=2))
    second = world.issued(cid, MARCH)
    invoicing.void_invoice(world.db.uow(), world.actor("finance"), first.id, "duplicate")
    assert s.run_once() == 0
    status = accounting.connection_status(world.db.uow(), world.actor("finance"))
    assert status.status == "paused" and status.pending == 2
    third = world.issued(cid, APRIL)  # queued while paused
    assert s.run_once() == 0 and len(qbo.all("Invoice")) == 1
    qbo.fail_refresh = False
    connect(world, qbo_settings)
    assert s.run_once() == 3
    numbers = [i["DocNumber"] for i in qbo.all("Invoice")]
    assert numbers == [first.number, second.number, third.number]  # in order, each once
    assert qbo.find("Invoice", DocNumber=first.number)[0]["PrivateNote"].startswith("Voided - billable")


def test_backfill_uses_batches_and_finds_what_is_there(world: World, qbo: FakeQuickBooks,
                                                       qbo_settings: Settings, pusher: QuickBooksSync) -> None:
    issued = []
    for n in range(3):
        cid = world.retainer_client(f"{1000 + n}.00", name=f"Client {n}")
        issued += [world.issued(cid, w) for w in (FEBRUARY, MARCH)]
    issued.append(world.issued(world.retainer_client(name="Client 3")))
    invoicing.void_invoice(world.db.uow(), world.actor("finance"), issued[0].id, "wrong")
    cn = invoicing.create_credit_note(world.db.uow(), world.actor("finance"), issued[1].id, "discount", "10.00")
    assert queue(world) == []  # nothing queued before connecting
    connect(world, qbo_settings)
    s = pusher
    s.batch_size = 3
    # one of them was typed into QuickBooks by hand (or pushed by a run that died before recording it)
    api = s.link.api()
    assert api is not None
    cust = s.push_customer(api, issued[3].client_id)
    item = s.items(api, {"retainer"})["retainer"][0]
    api.create("Invoice", {"DocNumber": issued[3].number, "CustomerRef": {"value": cust}, "Line": [
        {"DetailType": "SalesItemLineDetail", "Amount": Decimal(issued[3].subtotal),
         "SalesItemLineDetail": {"ItemRef": {"value": item}}}]})
    assert s.run_once() == 8  # 7 invoices + 1 credit note
    there = qbo.all("Invoice")
    assert sorted(i["DocNumber"] for i in there) == sorted(str(i.number) for i in issued)  # each once
    assert [m["DocNumber"] for m in qbo.all("CreditMemo")] == [cn.number]
    batches = qbo.api_calls("POST", "batch")
    assert len(batches) == 3 and all(len(c.body["BatchItemRequest"]) <= 3 for c in batches)
    assert qbo.find("Invoice", DocNumber=issued[0].number)[0]["PrivateNote"].startswith("Voided - billable")
    assert accounting.connection_status(world.db.uow(), world.system).backfilled_at is not None
    assert s.run_once() == 0


def test_a_refusal_kills_only_its_task(world: World, qbo: FakeQuickBooks, qbo_settings: Settings,
                                       pusher: QuickBooksSync) -> None:
    connect(world, qbo_settings)
    s = pusher
    a = world.issued(world.retainer_client(name="First Ltd"))
    assert s.run_once() == 2
    finance = world.actor("finance")
    accounting.set_tax_codes(world.db.uow(), finance, {"standard:19": "999"})  # a code that company lacks
    b = world.issued(world.retainer_client(name="Second Ltd"))
    world.retainer_client(name="Third Ltd")
    assert s.run_once() == 3  # Second's customer, its invoice (refused: dead), Third's customer: the queue goes on
    dead = [q for q in queue(world) if q.status == "dead"]
    assert [q.ref_id for q in dead] == [b.id] and "2500" in dead[0].last_error
    assert accounting.connection_status(world.db.uow(), finance).dead == 1
    accounting.set_tax_codes(world.db.uow(), finance, {"standard:19": "TAX"})
    assert accounting.retry_dead(world.db.uow(), finance) == 1
    assert s.run_once() == 1
    assert {i["DocNumber"] for i in qbo.all("Invoice")} == {a.number, b.number}


def test_one_pusher_at_a_time_until_its_lease_runs_out(world: World, qbo: FakeQuickBooks, qbo_settings: Settings,
                                                      clock: FixedClock, pusher: QuickBooksSync) -> None:
    connect(world, qbo_settings)
    inv = world.issued(world.retainer_client(name="Acme GmbH"))
    assert accounting.take_lease(world.db.uow(), world.system, "another worker")
    assert pusher.run_once() == 0 and qbo.find("Invoice", DocNumber=inv.number) == []  # it holds the sync
    clock.set(clock.now() + timedelta(minutes=3))  # and died: its lease ran out
    assert pusher.run_once() == 2 and len(qbo.find("Invoice", DocNumber=inv.number)) == 1
    assert accounting.take_lease(world.db.uow(), world.system, "another worker")  # released after its round
