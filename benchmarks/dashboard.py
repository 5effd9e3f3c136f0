"""Dashboard benchmark: time to first byte of each /app page on a 10,000-invoice book, over real HTTP.

Seeds a book fast with Core inserts (clients, 10,000 invoices over the last 12 months in every state with 4 lines
each, payments, failed deliveries, time entries, events with some dead-lettered), then through the services five
clients' contracts over a year (six arrangements each, amendments dated back over billed months, an arrangement ended
and reopened, the account manager's amendments waiting for finance: versions, adjustments, audit history) and ten
archived clients; sets passwords, starts `uvicorn --factory channels.http.app:create_app` in its own process, signs
in like a browser as owner, account manager, finance and contractor, and measures p50/p99 time to the response
headers of every dashboard page each meets (and of the add and amend forms' previews, the domain's dry runs).
Goal (issue 17): the worst p99 under 200 ms, on each database. Run by `make bench`.

    python benchmarks/dashboard.py [--invoices 10000] [--backend sqlite|postgresql|both] [--requests 40] [--results]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from month_end import drop_database, fresh_database  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from domain.model.roles import Actor, Role  # noqa: E402
from domain.services import clients, contracts, sessions, users  # noqa: E402
from domain.store.clock import Clock  # noqa: E402
from domain.store.db import make_engine  # noqa: E402
from domain.store.migrate import upgrade  # noqa: E402
from domain.store.session import Database  # noqa: E402
from domain.store.tables import (  # noqa: E402
    BillingClaimRow,
    ClientManagerRow,
    ClientRow,
    EventRow,
    InvoiceDeliveryRow,
    InvoiceLineRow,
    InvoiceRow,
    PaymentRow,
    TimeEntryRow,
    UserRow,
)

PASSWORD = "benchmark password 1"
OWNER, MANAGER = "owner@bench.example", "am@bench.example"
FINANCE, CONTRACTOR = "finance@bench.example", "eng@bench.example"
RICH = (1, 21, 41, 2, 3)  # clients with six arrangements, versions, adjustments, proposals (1, 21, 41: the AM's)
ARCHIVED = range(5, 15)
STATES = (["paid"] * 40 + ["partially_paid"] * 10 + ["issued"] * 15 + ["sent"] * 15 + ["viewed"] * 8
          + ["draft"] * 6 + ["pending_approval"] * 4 + ["void"] * 2)


def seed(url: str, invoices: int, today: date) -> dict[str, int]:
    """A book of `invoices` invoices over 12 months for invoices/10 clients; returns a few ids to visit."""
    rng = random.Random(8)
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    n_clients = max(10, invoices // 10)
    tax = {"mode": "standard", "region": "DE", "rate": "19", "section_rates": {},
           "exemption_reason": ""}
    with engine.begin() as conn:
        conn.execute(insert(UserRow), [
            dict(id=1, email=OWNER, name="Bench Owner", role=Role.OWNER.value, token_hash=None, active=True,
                 created_at=now),
            dict(id=2, email=MANAGER, name="Bench Manager", role=Role.ACCOUNT_MANAGER.value, token_hash=None,
                 active=True, created_at=now),
            dict(id=3, email=FINANCE, name="Bench Finance", role=Role.FINANCE.value, token_hash=None, active=True,
                 created_at=now),
            dict(id=4, email=CONTRACTOR, name="Bench Engineer", role=Role.CONTRACTOR.value, token_hash=None,
                 active=True, created_at=now)])
        conn.execute(insert(ClientRow), [
            dict(id=i, name=f"Client {i:05d} Ltd", currency="EUR" if i % 4 else "GBP",
                 billing_emails=[f"ap{i}@client.example"], payment_terms_days=30, tax_profile=tax,
                 po_required=False, po_number="", locale="en_GB", created_at=now) for i in range(1, n_clients + 1)])
        conn.execute(insert(ClientManagerRow), [dict(client_id=i, user_id=2) for i in range(1, n_clients + 1, 20)])
        inv_rows: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        pays: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        seq = 0
        for i in range(1, invoices + 1):
            client = rng.randint(1, n_clients)
            cur = "EUR" if client % 4 else "GBP"
            status = rng.choice(STATES)
            issued = today - timedelta(days=rng.randint(0, 360))
            start = issued.replace(day=1)
            total = rng.randint(50_000, 5_000_000)
            numbered = status not in ("draft", "pending_approval")
            if numbered:
                seq += 1
            paid = total if status == "paid" else total // 3 if status == "partially_paid" else 0
            inv_rows.append(dict(
                id=i, client_id=client, kind="invoice", status=status,
                number=f"INV-B-{seq:06d}" if numbered else None, currency=cur, period_start=start,
                period_end=start + timedelta(days=27), issue_date=issued if numbered else None,
                due_date=issued + timedelta(days=30) if numbered else None, subtotal_minor=total * 100 // 119,
                tax_minor=total - total * 100 // 119, total_minor=total, paid_minor=paid, credited_minor=0,
                tax_breakdown=[], tax_note="", po_number="", checks=[
                    {"code": "amount_threshold", "outcome": "flag", "reason": "over the approval threshold"}]
                if status == "pending_approval" else [], capped=False, reason="", created_at=now,
                issued_at=now if numbered else None))
            for k in range(4):
                amount = total // 4
                lines.append(dict(invoice_id=i, position=k + 1, section=("retainer", "time", "hardware", "time")[k],
                                  description=f"Line {k + 1}", quantity="1", unit="item",
                                  unit_price_minor=amount, amount_minor=amount, tax_rate="19", tax_minor=0,
                                  arrangement_id=None, source={"period": start.strftime("%Y-%m")}, manual=False))
            if paid:
                pays.append(dict(invoice_id=i, amount_minor=paid, currency=cur,
                                 received_on=min(today, issued + timedelta(days=rng.randint(0, 40))), reference="",
                                 created_at=now))
            if numbered:
                deliveries.append(dict(invoice_id=i, token_hash=f"{i:064x}", status="failed" if i % 97 == 0
                                       else "sent", recipients=[], attempts=1, last_error="", created_at=now))
        for lo in range(0, len(inv_rows), 2000):
            conn.execute(insert(InvoiceRow), inv_rows[lo:lo + 2000])
        for lo in range(0, len(lines), 5000):
            conn.execute(insert(InvoiceLineRow), lines[lo:lo + 5000])
        conn.execute(insert(PaymentRow), pays)
        conn.execute(insert(InvoiceDeliveryRow), deliveries)
        conn.execute(insert(TimeEntryRow), [
            dict(client_id=rng.randint(1, n_clients), arrangement_id=None, user_id=4 if k % 3 == 0 else None,
                 person=CONTRACTOR if k % 3 == 0 else "eng@msp.example", role="engineer",
                 day=today - timedelta(days=rng.randint(0, 90)), hours_centi=150,
                 description="work", created_at=now) for k in range(invoices)])
        conn.execute(insert(EventRow), [
            dict(source="billable", event_id=f"e{i}", type="time.logged", subject_ref=None, data={"n": i},
                 status="dead" if i % 50 == 0 else "processed", reason="" if i % 50 else "event.not_yet: ghost",
                 result={}, occurred_at=now, received_at=now, processed_at=now) for i in range(invoices // 5)])
        if engine.dialect.name == "postgresql":
            for table in ("users", "clients", "invoices", "invoice_lines"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
    db = Database(engine, Clock())
    for email in (OWNER, MANAGER, FINANCE, CONTRACTOR):
        sessions.set_password(db.uow(), Actor.system("bench"), email, PASSWORD)
    by_client: dict[int, list[int]] = {}
    for r in inv_rows:
        if r["status"] in ("paid", "issued", "sent"):
            by_client.setdefault(r["client_id"], []).append(r["id"])
    rich = {c: contract_history(db, c, today, by_client.get(c, [])) for c in RICH if c <= n_clients}
    owner = users.actor_by_email(db.uow(), OWNER)
    for c in ARCHIVED:
        if c <= n_clients:
            clients.archive_client(db.uow(), owner, c, "left us")
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    pending = next(r["id"] for r in inv_rows if r["status"] == "pending_approval")
    part = next(r["id"] for r in inv_rows if r["status"] == "partially_paid")
    line = next(i for i, ln in enumerate(lines, 1) if ln["invoice_id"] == part)
    return {"pending": pending, "partially_paid": part, "line": line, "clients": n_clients, "rich": RICH[0],
            **rich[RICH[0]]}


def _month(today: date, back: int) -> date:
    y, m = divmod(today.year * 12 + today.month - 1 - back, 12)
    return date(y, m + 1, 1)


def contract_history(db: Database, client_id: int, today: date, invoice_ids: list[int]) -> dict[str, int]:
    """A client's contract as it grows over a year, through the services (audit entries and all): six arrangements,
    the retainer's and the subscription's last six months billed (lines and claims on its invoices), amendments
    dated back into them (adjustments), one arrangement ended and reopened, and the account manager's proposals
    waiting for finance. Returns the arrangements' ids."""
    owner, finance = users.actor_by_email(db.uow(), OWNER), users.actor_by_email(db.uow(), FINANCE)
    am = users.actor_by_email(db.uow(), MANAGER)
    start = _month(today, 12).isoformat()

    def add(terms: dict[str, Any]) -> int:
        return clients.add_arrangement(db.uow(), owner, client_id, {"starts_on": start, **terms}).id

    ids = {
        "retainer": add({"kind": "retainer", "name": "Managed IT services", "fee": "6500.00", "cycle": "monthly",
                         "billing": "advance", "included_hours": "40"}),
        "tm": add({"kind": "time_and_materials", "name": "Projects and extra support", "default_rate": "115.00",
                   "role_rates": {"Senior engineer": "145.00", "Engineer": "115.00", "Service desk": "85.00"},
                   "person_rates": {"Marta Kowalski": "175.00"}}),
        "subscription": add({"kind": "subscription", "name": "Endpoint protection", "product": "EDR", "seats": 48,
                             "unit_price": "7.50", "cycle": "monthly"}),
        "milestone": add({"kind": "milestone", "name": "Network refresh", "milestones": [
            {"name": "Phase 1: design", "amount": "8000.00"}, {"name": "Phase 2: switches", "amount": "14500.00"},
            {"name": "Phase 3: Wi-Fi", "amount": "9800.00"}]}),
        "pass_through": add({"kind": "pass_through", "name": "Hardware at cost plus 12%", "markup_pct": "12"}),
    }
    ids["sla"] = add({"kind": "sla_credit", "name": "SLA: P1 within 1 hour", "credit_pct": "10",
                      "retainer_arrangement_id": ids["retainer"]})
    if invoice_ids:  # the last six months of the periodic ones, billed on the client's invoices
        with db.engine.begin() as conn:
            for back in range(1, 7):
                first = _month(today, back)
                key = f"{first.isoformat()}..{(_month(today, back - 1) - timedelta(days=1)).isoformat()}"
                inv = invoice_ids[back % len(invoice_ids)]
                for arr, section, amount in ((ids["retainer"], "retainer", 650_000),
                                             (ids["subscription"], "subscription", 36_000)):
                    conn.execute(insert(InvoiceLineRow), [dict(
                        invoice_id=inv, position=10 + back * 2 + (section == "subscription"), section=section,
                        description=f"{section} {key}", quantity="1", unit="month", unit_price_minor=amount,
                        amount_minor=amount, tax_rate="19", tax_minor=0, arrangement_id=arr,
                        source={"period": key}, manual=False)])
                    conn.execute(insert(BillingClaimRow), [dict(kind="period", ref_id=arr, period_key=key,
                                                                invoice_id=inv)])

    def amend(arr: str, back: int, day: int, terms: dict[str, Any], who: Actor = finance) -> None:
        contracts.amend_arrangement(db.uow(), who, client_id, ids[arr], {
            "effective_on": _month(today, back) + timedelta(days=day), "terms": terms, "reason": "as agreed"})

    amend("retainer", 5, 0, {"fee": "6800.00"})
    amend("retainer", 3, 0, {"fee": "7000.00", "included_hours": "45"})
    amend("retainer", 1, 14, {"included_hours": "50"})
    amend("subscription", 4, 9, {"seats": 52})
    amend("subscription", 2, 0, {"seats": 54, "unit_price": "7.25"})
    amend("tm", 2, 0, {"role_rates": {"Engineer": "120.00", "Cloud architect": "165.00"}})
    amend("pass_through", 6, 0, {"markup_pct": "15"})
    contracts.end_arrangement(db.uow(), finance, client_id, ids["pass_through"], {
        "ends_on": _month(today, 2) - timedelta(days=1), "reason": "hardware bought directly"})
    contracts.reopen_arrangement(db.uow(), finance, client_id, ids["pass_through"], {
        "reopens_on": _month(today, 0), "terms": {"markup_pct": "10"}, "reason": "back with us"})
    if client_id in (am.client_ids or ()):  # proposals wait for finance
        amend("subscription", -1, 0, {"seats": 60}, am)
        amend("retainer", -1, 0, {"fee": "7400.00"}, am)
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(client: httpx.Client, email: str) -> None:
    page = client.get("/app/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post("/app/login", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD,
                                        "next": "/app/"})
    assert r.status_code == 303 and "billable_session" in client.cookies, r.text[:300]


def ttfb(client: httpx.Client, path: str) -> float:
    """Seconds from sending the request to having the status line and headers (the first byte and then some)."""
    t0 = time.perf_counter()
    with client.stream("GET", path) as r:
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, (path, r.status_code)
        r.read()
    return elapsed


def csrf_of(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def ttfb_post(client: httpx.Client, path: str, form: dict[str, str]) -> float:
    """A form's preview (the domain's dry run): seconds to the status line and headers, as `ttfb`."""
    t0 = time.perf_counter()
    with client.stream("POST", path, data=form) as r:
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, (path, r.status_code, r.read()[:300])
        body = r.read()
        assert b"Not possible" not in body, (path, body[:500])
    return elapsed


def pages(ids: dict[str, int], today: date) -> list[tuple[str, str, list[str | tuple[str, dict[str, str]]]]]:
    """(role, email, pages): GET paths, and (path, form) previews posted with the session's CSRF token."""
    c = f"/app/clients/{ids['rich']}"
    arr = f"{c}/arrangements"
    amend = (f"{arr}/{ids['retainer']}/amend", {"effective_on": (today - timedelta(days=3)).isoformat(),
                                                "was.fee": "7000.00", "terms.fee": "7250.00", "reason": "bench",
                                                "step": "preview"})
    owner: list[str | tuple[str, dict[str, str]]] = [
        "/app/", "/app/invoices", "/app/invoices?state=overdue", "/app/invoices?q=Client+00042",
        "/app/invoices?page=150", f"/app/invoices/{ids['partially_paid']}", f"/app/invoices/{ids['pending']}",
        f"/app/invoices/{ids['partially_paid']}/lines/{ids['line']}", "/app/approvals", "/app/events",
        "/app/events?status=failed", "/app/rules", "/app/time", "/app/payments", "/app/pilot", "/app/settings",
        "/app/clients", "/app/clients?q=Client+0004", "/app/clients?archived=1", "/app/clients?page=20", c,
        f"{c}/edit", f"{arr}/new", f"{arr}/new?kind=time_and_materials", f"{arr}/new?kind=sla_credit",
        f"{arr}/{ids['retainer']}/amend", f"{arr}/{ids['subscription']}/end", f"{arr}/{ids['pass_through']}/reopen",
        amend, (f"{arr}", {"kind": "retainer", "name": "Backup", "fee": "900.00", "cycle": "monthly",
                          "billing": "advance", "starts_on": today.replace(day=1).isoformat(), "step": "preview"}),
        "/app/import", "/app/exports", "/app/accounting", "/app/accounting/drift"]
    manager: list[str | tuple[str, dict[str, str]]] = [
        "/app/", "/app/invoices", "/app/invoices?state=overdue", "/app/clients", c, "/app/approvals",
        f"{arr}/{ids['retainer']}/amend", amend]
    finance: list[str | tuple[str, dict[str, str]]] = ["/app/approvals", c]
    return [("owner", OWNER, owner), ("account manager", MANAGER, manager), ("finance", FINANCE, finance),
            ("contractor", CONTRACTOR, ["/app/time"])]


def measure(url: str, ids: dict[str, int], requests: int) -> list[tuple[str, str, float, float]]:
    out = []
    for who, email, paths in pages(ids, date.today()):
        with httpx.Client(base_url=url, timeout=30) as client:
            sign_in(client, email)
            for page in paths:
                if isinstance(page, tuple):
                    path, form = page
                    form = {**form, "csrf_token": csrf_of(client, path if "/amend" in path else path + "/new")}

                    def once(path: str = path, form: dict[str, str] = form) -> float:
                        return ttfb_post(client, path, form)
                    label = f"POST {path} (preview)"
                else:
                    def once(path: str = page) -> float:  # type: ignore[misc]
                        return ttfb(client, path)
                    label = page
                for _ in range(3):
                    once()  # warm-up
                times = sorted(once() for _ in range(requests))
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                out.append((who, label, statistics.median(times) * 1000, p99 * 1000))
    return out


def run(backend: str, invoices: int, requests: int) -> list[tuple[str, str, float, float]]:
    url = fresh_database(backend, "dash")
    try:
        t0 = time.perf_counter()
        ids = seed(url, invoices, date.today())
        print(f"[{backend}] seeded {invoices} invoices in {time.perf_counter() - t0:.1f} s", flush=True)
        port = free_port()
        env = {**os.environ, "BILLABLE_DATABASE_URL": url, "BILLABLE_ENV": "development"}
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "channels.http.app:create_app",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                                   "--no-access-log"], env=env, cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            return measure(base, ids, requests)
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        drop_database(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--invoices", type=int, default=10_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--results", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = ap.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    table = ["| backend | as | page | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    worst = 0.0
    verdicts = []
    for backend in backends:
        figures = run(backend, args.invoices, args.requests)
        for who, path, p50, p99 in figures:
            line = f"| {backend} | {who} | `{path}` | {p50:.1f} | {p99:.1f} |"
            table.append(line)
            print(line, flush=True)
        who, path, _, p99 = max(figures, key=lambda f: f[3])
        worst = max(worst, p99)
        verdicts.append(f"[{backend}] dashboard worst p99 time to first byte {p99:.1f} ms ({who}, {path}) of "
                        f"{len(figures)} pages, goal < 200 ms: {'MET' if p99 < 200 else 'MISSED'}")
    verdict = "under" if worst < 200 else "OVER"
    for line in verdicts:
        print(line, flush=True)
    if args.results:
        load = os.getloadavg()[0]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        section = [f"## Dashboard: time to first byte ({stamp}, commit {commit})", "",
                   f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
                   f"load average {load:.1f} at the end (other suites share these CPUs: treat as pessimistic)",
                   f"- command: `python benchmarks/dashboard.py --invoices {args.invoices} --backend {args.backend} "
                   f"--requests {args.requests} --results`",
                   f"- workload: {args.invoices:,} invoices over 12 months in every state (4 lines each), "
                   f"{args.invoices // 10:,} clients ({len(ARCHIVED)} archived, {len(RICH)} with six arrangements, "
                   f"versions, adjustments and proposals), payments, failed deliveries, {args.invoices:,} time "
                   f"entries, {args.invoices // 5:,} events; uvicorn in its own process, one signed-in client per "
                   f"role, sequential requests, time to the response headers",
                   f"- worst p99: {worst:.1f} ms ({verdict} the 200 ms target)", *(f"- {v}" for v in verdicts),
                   "", *table, ""]
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as f:
            f.write("\n" + "\n".join(section))


if __name__ == "__main__":
    main()
