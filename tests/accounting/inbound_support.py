"""Shared steps of the inbound and drift tests: books with people in every role, a company connected to the local
QuickBooks through the real OAuth flow, invoices put there as a clean push leaves them (the customer, the invoice
with our number and totals, the mappings), and the worker with its inbound chores, as `billable worker` runs it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from channels.accounting import connection as conn
from channels.accounting.inbound import ApiReader, Inbound
from channels.accounting.quickbooks import THROTTLE, QuickBooksApi, Throttle
from channels.worker import Worker
from domain.model.roles import Actor
from domain.services import accounting, invoicing
from domain.settings import Settings
from domain.store.session import Database
from tests.accounting.helpers import consent
from tests.fakes.quickbooks import FakeQuickBooks
from tests.services.conftest import World, make_world
from tests.support.fixtures import ServedApp


@dataclass
class Books:
    db: Database
    world: World
    settings: Settings
    fake: FakeQuickBooks
    api: QuickBooksApi
    client_id: int
    customer_id: str
    item_id: str
    sent: list[Any]
    http: httpx.Client
    throttle: Throttle

    @property
    def system(self) -> Actor:
        return self.world.system

    def connection(self) -> conn.Connection:
        return conn.Connection(self.db, self.settings, http=self.http, throttle=self.throttle)

    def reader(self) -> ApiReader:
        api = self.connection().api()
        assert api is not None
        return ApiReader(api)

    def worker(self) -> Worker:
        w = Worker(self.db, self.sent.append, tick_every=0, observe=None)
        w.inbound = Inbound(self.db, self.settings, self.connection())
        return w

    def run(self) -> int:
        """The worker until nothing is left: reads what webhooks named, then runs the jobs."""
        return self.worker().run_until_idle()

    def issued(self, window: Any = None) -> int:
        from tests.services.conftest import MARCH

        return self.world.issued(self.client_id, window or MARCH).id

    def push(self, invoice_id: int) -> dict[str, Any]:
        """Our issued invoice as QuickBooks has it after a clean push: DocNumber, net line, tax, total; mapped."""
        inv = self.world.call(invoicing.get_invoice, self.system, invoice_id)
        body = {"DocNumber": inv.number, "CustomerRef": {"value": self.customer_id},
                "PrivateNote": f"billable invoice {invoice_id}",  # as the sync writes it
                "TxnTaxDetail": {"TotalTax": Decimal(inv.tax_total)},
                "Line": [{"DetailType": "SalesItemLineDetail", "Amount": Decimal(inv.subtotal),
                          "SalesItemLineDetail": {"ItemRef": {"value": self.item_id}}}]}
        created = self.api.create("Invoice", body)
        assert Decimal(str(created["TotalAmt"])) == Decimal(inv.total)
        accounting.put_mapping(self.db.uow(), self.system, "invoice", invoice_id, created["Id"],
                               created["SyncToken"], doc_number=inv.number or "")
        self.settle_queue(invoice_id)
        return created

    def settle_queue(self, invoice_id: int, status: str = "done") -> None:
        """What the outbound sync did with this invoice's queued work: pushed it (done) or gave up (dead)."""
        from sqlalchemy import update

        from domain.store.tables import AccountingQueueRow

        with self.db.uow() as uow:
            uow.session.execute(update(AccountingQueueRow).where(AccountingQueueRow.ref_id == invoice_id,
                                                                 AccountingQueueRow.subject != "payment",
                                                                 AccountingQueueRow.status == "pending")
                                .values(status=status))
            uow.commit()

    def balance(self, invoice_id: int) -> str:
        return self.world.call(invoicing.get_invoice, self.system, invoice_id).balance


def connect(db: Database, settings: Settings, owner: Actor, http: httpx.Client) -> None:
    q = consent(conn.start_connect(db, settings, owner))
    conn.finish_connect(db, settings, owner, q["code"], q["state"], q["realmId"], http=http)


@pytest.fixture
def books(db: Database, system: Actor, qbo: FakeQuickBooks, qbo_settings: Settings) -> Iterator[Books]:
    world = make_world(db, system)
    http = httpx.Client(timeout=30)
    connect(db, qbo_settings, world.actor("owner"), http)
    # the process-wide limiter, as the inbound side's own connections use: two limiters for one company in one
    # process would together go over QuickBooks' 10 requests/s
    books = Books(db, world, qbo_settings, qbo, None, 0, "", "", [], http, THROTTLE)  # type: ignore[arg-type]
    api = books.connection().api()
    assert api is not None
    client = world.client("Initech GmbH", address={"street": "Alte Straße 1", "postcode": "10115",
                                                   "city": "Berlin", "country": "DE"})
    world.arrangement(client.id, "retainer", fee="1000.00", starts_on="2025-01-01")
    cust = api.create("Customer", {"DisplayName": "Initech GmbH", "CompanyName": "Initech GmbH",
                                   "PrimaryEmailAddr": {"Address": "ap@client.example"},
                                   "BillAddr": {"Line1": "Alte Straße 1", "PostalCode": "10115", "City": "Berlin",
                                                "Country": "DE"}})
    item = api.create("Item", {"Name": "Retainer", "Type": "Service", "IncomeAccountRef": {"value": "1"}})
    accounting.put_mapping(db.uow(), system, "customer", client.id, cust["Id"], cust["SyncToken"])
    books.api, books.client_id, books.customer_id, books.item_id = api, client.id, cust["Id"], item["Id"]
    try:
        yield books
    finally:
        books.http.close()


@pytest.fixture
def hook_url(books: Books, api_server: ServedApp, server: str) -> Iterator[str]:
    """Our live server, serving these books with the QuickBooks settings (its verifier token)."""
    app = api_server.app
    saved = app.state.settings
    app.state.settings = books.settings.model_copy(update={"public_url": server})
    try:
        yield f"{server}/webhooks/quickbooks"
    finally:
        app.state.settings = saved


def count(books: Books, table: type, **where: object) -> int:
    """Rows of `table` in the books' database, with the given column values."""
    with books.db.uow() as uow:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(getattr(table, k) == v)
        return int(uow.session.execute(q).scalar_one())
