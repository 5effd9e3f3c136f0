"""QuickBooks inbound benchmark: how fast the webhook answers, the catch-up, and the drift report of a whole book.

The local QuickBooks Online of the tests (tests/fakes/quickbooks.py, the real limits) and a real billable server
(uvicorn) on SQLite or PostgreSQL:

1. Webhook answer: 300 signed notifications (one payment each, the legacy format), one after another over a
   keep-alive connection; the time until our answer. Intuit gives up after 3 s; goal p99 < 300 ms.
2. Catch-up: payments made in QuickBooks with no webhook (lost), one per invoice; the CDC catch-up then the worker
   until idle. Goal: every payment recorded exactly once, in < 60 s.
3. Drift report: every issued invoice compared with QuickBooks (pushed by the real sync first). Goal: 100 invoices
   a query (so 1,000 invoices = 10 queries), the report in < 10 s for the book.

Run by `make bench`, never by the tests.

    python benchmarks/accounting_inbound.py [--invoices 200] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _scratch import drop_database, fresh_database  # noqa: E402  (benchmarks/ is the script's folder)

GOAL_ACK_P99_MS = 300.0
GOAL_CATCH_UP_S = 60.0
GOAL_DRIFT_S = 10.0


def _month(n: int) -> tuple[date, date]:
    y, m = 2024 + n // 12, n % 12 + 1
    nxt = date(y + m // 12, m % 12 + 1, 1)
    return date(y, m, 1), date.fromordinal(nxt.toordinal() - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    from channels.accounting import connection as conn
    from channels.accounting.inbound import Inbound, reader
    from channels.accounting.sync import QuickBooksSync
    from channels.http import create_app
    from channels.worker import Worker
    from domain.model.roles import Actor
    from domain.services import accounting_drift, clients, invoicing, users, workspace
    from domain.settings import Settings
    from domain.store.session import Database
    from domain.store.tables import AccountingPaymentInRow, PaymentRow
    from tests.fakes.quickbooks import CLIENT_ID, CLIENT_SECRET, VERIFIER_TOKEN, FakeQuickBooks
    from tests.support.parties import ADDRESSES, seed_seller
    from tests.support.server import LiveServer

    fake = FakeQuickBooks().start()
    folder = Path(tempfile.mkdtemp(prefix="billable-bench-qboin-"))
    url = fresh_database(args.backend, "qboin", folder)
    ok = True
    try:
        db = Database.open(url, migrate=True)
        seed_seller(db)
        system = Actor.system("benchmark")
        settings = Settings(env="test", database_url=url, quickbooks_client_id=CLIENT_ID,
                            quickbooks_client_secret=CLIENT_SECRET, quickbooks_environment=fake.discovery_url,
                            quickbooks_api_url=fake.base_url, quickbooks_redirect_uri="http://127.0.0.1/cb",
                            quickbooks_webhook_verifier_token=VERIFIER_TOKEN,
                            accounting_token_key=Fernet.generate_key().decode())
        owner_view, _ = users.add_user(db.uow(), system, users.UserIn(email="owner@books.example", role="owner"))
        owner = users.actor_by_email(db.uow(), owner_view.email)
        workspace.update_settings(db.uow(), system, {"deviation_pct": "100000"})
        q = parse_qs(urlsplit(httpx.get(conn.start_connect(db, settings, owner)).headers["location"]).query)
        conn.finish_connect(db, settings, owner, q["code"][0], q["state"][0], q["realmId"][0])
        n_clients = max(1, args.invoices // 20)
        per_client = args.invoices // n_clients
        print(f"seeding and pushing {n_clients * per_client} issued invoices ...", flush=True)
        ids: list[int] = []
        for c in range(n_clients):
            cl = clients.create_client(db.uow(), system, {"name": f"Client {c:03d} Ltd", "currency": "EUR",
                                                           "billing_emails": ["ap@client.example"],
                                                           "address": ADDRESSES["DE"],
                                                           "tax_profile": {"mode": "standard", "rate": "19"}})
            clients.add_arrangement(db.uow(), system, cl.id, {"kind": "retainer", "fee": f"{1000 + c}.00",
                                                              "starts_on": "2024-01-01"})
            for m in range(per_client):
                d = invoicing.draft_invoice(db.uow(), system, cl.id, *_month(m))
                inv = invoicing.issue_invoice(db.uow(), system, d.id)
                if inv.status == "pending_approval":
                    invoicing.approve_invoice(db.uow(), system, inv.id)
                ids.append(inv.id)
        # the process-wide per-company limiter, as the worker's own connections use: two limiters for one company
        # in one process together go over 10 requests/s and QuickBooks answers 429
        sync = QuickBooksSync(db, settings, name="bench")
        while sync.run_once(limit=200):
            pass

        # 1. the webhook's answer
        server = LiveServer(create_app(db, settings))
        base = server.start()
        times = []
        with httpx.Client(base_url=base, timeout=30) as http:
            for k in range(args.webhooks):
                body = fake.webhook_body([("Payment", str(900_000 + k), "Create")])
                t0 = time.perf_counter()
                r = http.post("/webhooks/quickbooks", content=body, headers={"intuit-signature": fake.sign(body)})
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
        server.stop()
        times.sort()
        p50, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
        met = p99 < GOAL_ACK_P99_MS
        ok &= met
        print(f"webhook answer: {len(times)} signed notifications, p50 {p50:.1f} ms, p99 {p99:.1f} ms; goal p99 < "
              f"{GOAL_ACK_P99_MS:.0f} ms: {'MET' if met else 'MISSED'}", flush=True)

        # 2. lost webhooks: payments made there, found by the catch-up, recorded once
        from domain.services import accounting

        for inv_id in ids:
            m = accounting.get_mapping(db.uow(), "invoice", inv_id)
            assert m is not None
            fake.make_payment(m.remote_id, "10.00")
        worker = Worker(db, lambda _m: None, tick_every=0, observe=None)
        worker.inbound = Inbound(db, settings, sync.link)
        t0 = time.perf_counter()
        report = worker.inbound.catch_up(force=True)
        worker.run_until_idle()
        catch_s = time.perf_counter() - t0
        with db.uow() as uow:
            from sqlalchemy import func, select

            recorded = uow.session.execute(select(func.count()).select_from(PaymentRow)).scalar_one()
            keys = uow.session.execute(select(func.count()).select_from(AccountingPaymentInRow)).scalar_one()
        met = recorded == keys == len(ids) and catch_s < GOAL_CATCH_UP_S
        ok &= met
        print(f"catch-up: {report.objects if report else 0} changes read, {recorded}/{len(ids)} payments recorded "
              f"({keys} keys) in {catch_s:.1f} s; goal each once, < {GOAL_CATCH_UP_S:.0f} s: "
              f"{'MET' if met else 'MISSED'}", flush=True)

        # 3. the drift report of the whole book
        calls_before = len(fake.api_calls("GET", "query"))
        t0 = time.perf_counter()
        drift = accounting_drift.drift_report(db.uow(), owner, reader(db, settings, sync.link))
        drift_s = time.perf_counter() - t0
        queries = len(fake.api_calls("GET", "query")) - calls_before
        met = drift_s < GOAL_DRIFT_S and queries <= math.ceil(len(ids) / 100) and not drift.items
        ok &= met
        print(f"drift report: {drift.checked} invoices compared in {drift_s:.2f} s with {queries} queries, "
              f"{len(drift.items)} differences; goal < {GOAL_DRIFT_S:.0f} s, <= {math.ceil(len(ids) / 100)} "
              f"queries, none: {'MET' if met else 'MISSED'}", flush=True)
        sync.close()
        db.dispose()
        return 0 if ok else 1
    finally:
        fake.stop()
        drop_database(url)


if __name__ == "__main__":
    raise SystemExit(main())
