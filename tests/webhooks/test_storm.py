"""A webhook storm: 1,000 deliveries of the same event, 16 at a time, against a real server -> one event, one
invoice (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from channels.webhooks import _signatures as sig
from domain.model.roles import Actor
from domain.services import clients, jobs, rules
from domain.store.session import Database
from domain.store.tables import EventRow, InvoiceRow, JobRow
from tests.events.conftest import TM_RULES
from tests.support.api import row_counts
from tests.support.reliability import record
from tests.webhooks.conftest import NOW, WHSEC, Hooks, body_of, fixture


@pytest.mark.reliability
@pytest.mark.slow
def test_a_thousand_deliveries_of_one_event_make_one_event_and_one_invoice(hooks: Hooks, db: Database) -> None:
    system = Actor.system("tests")
    rules.put_rules(db.uow(), system, TM_RULES)
    cid = clients.create_client(db.uow(), system, {"name": "Acme GmbH", "currency": "EUR", "external_ref": "acme",
                                                   "billing_emails": ["ap@acme.example"]}).id
    clients.add_arrangement(db.uow(), system, cid, {"kind": "time_and_materials", "default_rate": "150.00"})
    body = body_of(fixture("billable_time_logged.json"))  # 21 hours: over the 20-hour threshold
    headers = {"webhook-id": "msg_storm", "webhook-timestamp": str(NOW), "content-type": "application/json",
               "webhook-signature": sig.standard_webhooks_sign(WHSEC, "msg_storm", NOW, body)}
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    with httpx.Client(base_url=str(hooks.http.base_url), timeout=60, limits=limits) as http:

        def deliver(_: int) -> int:
            return http.post("/v1/events/billable", content=body, headers=headers).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(deliver, range(1000)))
    assert statuses.count(202) == 1 and statuses.count(200) == 999
    while jobs.process_jobs(db.uow(), "storm", 50):
        pass
    counts = row_counts(db)
    events, invoices = counts[EventRow.__tablename__], counts[InvoiceRow.__tablename__]
    record(f"storm-{db.engine.dialect.name}", f"webhook storm: 1,000 deliveries of one event, 16 at a time "
           f"({db.engine.dialect.name})", tried=len(statuses), lost=1 - min(events, invoices, 1),
           doubled=max(events - 1, 0) + max(invoices - 1, 0), errors=sum(1 for s in statuses if s >= 500))
    assert (counts[EventRow.__tablename__], counts[JobRow.__tablename__], counts[InvoiceRow.__tablename__]) == (1, 1, 1)
