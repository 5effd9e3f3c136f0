"""QuickBooks sync benchmark: the first push of an existing book, and issue -> "in QuickBooks" under normal load.

The local QuickBooks Online of the tests (tests/fakes/quickbooks.py) enforces the real limits per company: 10
requests/s, 500/min, 40 batch requests/min, at most 30 payloads per batch; over them it answers 429. intuit-oauth
connects to it over real HTTP, as in production.

1. Backfill: 1,000 issued invoices (50 clients, 20 months each) exist before QuickBooks is connected; the sync pushes
   them (customers, items, then 30 invoices to a batch, each chunk looked up by DocNumber first). Goal: all 1,000 in
   QuickBooks exactly once within 5 minutes, with no 429 (the client keeps under the limits itself).
2. Normal load: with the sync running as the worker runs it (a round, then a 1 s poll when idle), 200 invoices are
   issued at 2 per second; for each, the time from its issue to QuickBooks answering its create. Goal: p99 < 5 s.

Run by `make bench`, never by the tests.

    python benchmarks/accounting.py [--invoices 1000] [--live 200] [--backend sqlite|postgresql] [--results]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.fernet import Fernet

if TYPE_CHECKING:
    from domain.model.roles import Actor
    from domain.store.session import Database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _scratch import drop_database, fresh_database  # noqa: E402  (benchmarks/ is the script's folder)

GOAL_BACKFILL_S = 300.0
GOAL_P99_S = 5.0


def _month(n: int) -> tuple[date, date]:
    """The n-th month counted from January 2024."""
    y, m = 2024 + n // 12, n % 12 + 1
    nxt = date(y + m // 12, m % 12 + 1, 1)
    return date(y, m, 1), date.fromordinal(nxt.toordinal() - 1)


def _issue(db: Database, actor: Actor, client_id: int, window: tuple[date, date]) -> int:
    """Draft, issue (approving when the checks flag it); the invoice's id."""
    from domain.services import invoicing

    draft = invoicing.draft_invoice(db.uow(), actor, client_id, *window)
    inv = invoicing.issue_invoice(db.uow(), actor, draft.id)
    if inv.status == "pending_approval":
        invoicing.approve_invoice(db.uow(), actor, inv.id)
    return inv.id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--live", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="invoices issued per second under normal load")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--results", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()

    from channels.accounting import connection as conn
    from channels.accounting.sync import QuickBooksSync
    from domain.model.roles import Actor
    from domain.services import clients, workspace
    from domain.settings import Settings
    from domain.store.session import Database
    from tests.fakes.quickbooks import CLIENT_ID, CLIENT_SECRET, FakeQuickBooks

    fake = FakeQuickBooks().start()
    folder = Path(tempfile.mkdtemp(prefix="billable-bench-qbo-"))
    url = fresh_database(args.backend, "qbo", folder)
    try:
        db = Database.open(url, migrate=True)
        from tests.support.parties import ADDRESSES, seed_seller

        seed_seller(db)  # the seller's legal details: invoices without them are not issued
        system = Actor.system("benchmark")
        settings = Settings(env="test", database_url=url, quickbooks_client_id=CLIENT_ID,
                            quickbooks_client_secret=CLIENT_SECRET, quickbooks_environment=fake.discovery_url,
                            quickbooks_api_url=fake.base_url, quickbooks_redirect_uri="http://127.0.0.1/cb",
                            accounting_token_key=Fernet.generate_key().decode())
        from domain.services import users

        owner_view, _ = users.add_user(db.uow(), system, users.UserIn(email="owner@books.example", role="owner"))
        owner = users.actor_by_email(db.uow(), owner_view.email)
        workspace.update_settings(db.uow(), system, {"deviation_pct": "100000"})
        n_clients = max(1, args.invoices // 20)
        per_client = args.invoices // n_clients
        print(f"seeding {n_clients * per_client} issued invoices ({n_clients} clients x {per_client} months) ...",
              flush=True)
        ids = []
        for c in range(n_clients):
            cl = clients.create_client(db.uow(), system, {"name": f"Client {c:03d} Ltd", "currency": "EUR",
                                                           "billing_emails": ["ap@client.example"],
                                                           "address": ADDRESSES["DE"],
                                                           "tax_profile": {"mode": "standard", "rate": "19"}})
            clients.add_arrangement(db.uow(), system, cl.id, {"kind": "retainer", "fee": f"{1000 + c}.00",
                                                              "starts_on": "2024-01-01"})
            ids.append(cl.id)
            for m in range(per_client):
                _issue(db, system, cl.id, _month(m))
        total = n_clients * per_client

        # 1. connect, then the backfill
        q = parse_qs(urlsplit(httpx.get(conn.start_connect(db, settings, owner)).headers["location"]).query)
        conn.finish_connect(db, settings, owner, q["code"][0], q["state"][0], q["realmId"][0])
        sync = QuickBooksSync(db, settings, name="bench")  # the process-wide limiter, as the connect used
        api_before = len(fake.api_calls())
        t0 = time.perf_counter()
        while sync.run_once(limit=200):
            pass
        backfill_s = time.perf_counter() - t0
        calls = len(fake.api_calls()) - api_before
        batches = len(fake.api_calls("POST", "batch"))
        there = [i["DocNumber"] for i in fake.all("Invoice")]
        once = len(there) == len(set(there)) == total
        throttled = fake.throttled
        backfill_met = once and backfill_s < GOAL_BACKFILL_S and throttled == 0
        each = "each once" if once else "NOT each once"
        print(f"backfill: {len(set(there))}/{total} invoices in QuickBooks ({each}) in {backfill_s:.1f} s; "
              f"{calls} API calls ({batches} batch), {throttled} answered 429; goal < "
              f"{GOAL_BACKFILL_S:.0f} s, each once, no 429: {'MET' if backfill_met else 'MISSED'}", flush=True)

        # 2. normal load: the sync runs as the worker runs it; invoices are issued at a steady rate
        stop = threading.Event()

        def worker() -> None:
            while not stop.is_set():
                try:
                    busy = sync.run_once()
                except Exception as e:  # a benchmark reports, it does not stop
                    print("sync round failed:", e, flush=True)
                    busy = 0
                if not busy:
                    stop.wait(1.0)

        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        issued_at: dict[int, float] = {}
        for k in range(args.live):
            invoice_id = _issue(db, system, ids[k % len(ids)], _month(per_client + k // len(ids)))
            issued_at[invoice_id] = time.monotonic()
            time.sleep(max(0.0, 1.0 / args.rate))
        deadline = time.monotonic() + 120
        pattern = re.compile(r"doc(\d+)$")
        latencies: dict[int, float] = {}
        while time.monotonic() < deadline and len(latencies) < len(issued_at):
            for call in fake.api_calls("POST", "invoice"):
                found = pattern.search(call.request_id or "")
                if found and call.status == 200 and int(found[1]) in issued_at:
                    latencies.setdefault(int(found[1]), call.at - issued_at[int(found[1])])
            time.sleep(0.2)
        stop.set()
        thread.join(10)
        lat = sorted(latencies.values())
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("inf")
        live_met = len(lat) == args.live and p99 < GOAL_P99_S
        print(f"normal load: {len(lat)}/{args.live} issued invoices in QuickBooks at {args.rate:g}/s; issue -> in "
              f"QuickBooks p50 {p50:.2f} s, p99 {p99:.2f} s; goal p99 < {GOAL_P99_S:.0f} s: "
              f"{'MET' if live_met else 'MISSED'}", flush=True)
        sync.close()
        if args.results:
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
            with (ROOT / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as f:
                f.write(f"\n### QuickBooks sync ({args.backend}, {stamp} UTC, {platform.machine()}, "
                        f"{os.cpu_count()} CPUs)\n\n| figure | value | goal | |\n|---|---|---|---|\n"
                        f"| backfill of {total} invoices | {backfill_s:.1f} s, {calls} calls ({batches} batch), "
                        f"{throttled} x 429 | < {GOAL_BACKFILL_S:.0f} s, each once, no 429 | "
                        f"{'MET' if backfill_met else 'MISSED'} |\n"
                        f"| issue -> in QuickBooks at {args.rate:g}/s | p50 {p50:.2f} s, p99 {p99:.2f} s | p99 < "
                        f"{GOAL_P99_S:.0f} s | {'MET' if live_met else 'MISSED'} |\n")
        db.dispose()
        return 0 if backfill_met and live_met else 1
    finally:
        fake.stop()
        drop_database(url)


if __name__ == "__main__":
    raise SystemExit(main())
