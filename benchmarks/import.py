"""Book import benchmark (issue 13): N clients with 2 arrangements each (a retainer and T&M with role rates) and
one opening time entry each, as the three CSV files, through `imports.import_book`: a dry run, then the commit, then
the same files again (which must change nothing). On SQLite and PostgreSQL; run by `make bench` (never by the tests).

    python benchmarks/import.py [--clients 5000] [--backend sqlite|postgresql|both] [--results]
    python benchmarks/import.py --clients 5000 --write book/     # only write the three CSV files (the README's tour)

Goal: the commit of 5,000 clients with 2 arrangements each in under 30 s on this machine (wall clock; the CPU time
of the process is printed beside it, since a 2-core machine shared with other runs stretches the wall clock).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _scratch import drop_database, fresh_database  # noqa: E402  (benchmarks/ is the script's folder)
from sqlalchemy import func, select  # noqa: E402

from domain.model.roles import Actor  # noqa: E402
from domain.services import imports, users  # noqa: E402
from domain.store.clock import FixedClock  # noqa: E402
from domain.store.db import make_engine  # noqa: E402
from domain.store.migrate import upgrade  # noqa: E402
from domain.store.session import Database  # noqa: E402
from domain.store.tables import ArrangementRow, AuditRow, ClientRow, TimeEntryRow  # noqa: E402

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
GOAL_SECONDS = 30.0


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


def book(n: int) -> dict[str, str]:
    """The three CSV files of a book of n clients (German and Dutch, some reverse charge)."""
    clients = _csv(["external_id", "name", "currency", "billing_emails", "payment_terms_days", "tax_mode",
                    "tax_region", "tax_rate", "address_street", "address_postcode", "address_city",
                    "address_country", "locale"],
                   [[f"C-{i:05d}", f"Client {i:05d} GmbH", "EUR", f"ap{i}@client{i}.example", "30", "standard",
                     "DE", "19", f"Hauptstraße {i % 200 + 1}", "70173", "Stuttgart", "DE", "de_DE"]
                    for i in range(1, n + 1)])
    arrangements = _csv(["external_id", "client_external_id", "kind", "name", "starts_on", "fee",
                         "included_hours", "default_rate", "role_rates"],
                        [row for i in range(1, n + 1) for row in (
                            [f"A-{i:05d}-R", f"C-{i:05d}", "retainer", "Managed services", "2026-01-01",
                             f"{1000 + i % 500}.00", "5", "", ""],
                            [f"A-{i:05d}-T", f"C-{i:05d}", "time_and_materials", "Project work", "2026-01-01", "",
                             "", "120.00", "Engineer=120.00;Architect=150.00"])])
    time_csv = _csv(["external_id", "client_external_id", "arrangement_external_id", "person", "role", "date",
                     "hours", "description"],
                    [[f"T-{i:05d}", f"C-{i:05d}", f"A-{i:05d}-T", "eng@msp.example", "Engineer", "2026-03-30",
                      "2.50", "Opening balance"] for i in range(1, n + 1)])
    return {"clients": clients, "arrangements": arrangements, "time": time_csv}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f} on {os.cpu_count()} CPUs"


def run(backend: str, n: int) -> list[str]:
    url = fresh_database(backend, "import")
    try:
        engine = make_engine(url)
        upgrade(engine)
        db = Database(engine, FixedClock(NOW))
        users.add_user(db.uow(), Actor.system("bench"), users.UserIn(email="owner@msp.example", role="owner"))
        owner = users.actor_by_email(db.uow(), "owner@msp.example")
        files = book(n)
        size = sum(len(v.encode()) for v in files.values())
        t0, c0 = time.perf_counter(), time.process_time()
        dry = imports.import_book(db.uow(), owner, files, dry_run=True)
        t_dry, c_dry = time.perf_counter() - t0, time.process_time() - c0
        assert dry.problem_count == 0, dry.problems[:5]
        t0, c0 = time.perf_counter(), time.process_time()
        done = imports.import_book(db.uow(), owner, files, dry_run=False)
        t_commit, c_commit = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        again = imports.import_book(db.uow(), owner, files, dry_run=False)
        t_again = time.perf_counter() - t0
        with db.engine.connect() as conn:
            counts = {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
                      for t in (ClientRow, ArrangementRow, TimeEntryRow, AuditRow)}
        engine.dispose()
        assert done.clients.new == n and done.arrangements.new == 2 * n and done.time.new == n, done
        assert again.clients.unchanged == n and again.arrangements.new == 0 and again.time.new == 0, again
        assert counts["clients"] == n and counts["arrangements"] == 2 * n, counts
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows = n * 4
        lines = [
            f"[{backend}] {n} clients, {2 * n} arrangements, {n} time entries ({size / 1e6:.1f} MB of CSV); audit "
            f"entries written: {counts['audit_log']}; peak RSS {rss:.0f} MB; load average {_load()}",
            f"[{backend}] dry run: {t_dry:.1f} s (CPU {c_dry:.1f} s, {rows / t_dry:.0f} rows/s)",
            f"[{backend}] second run of the same files (changes nothing): {t_again:.1f} s",
            f"[{backend}] import commit of {n} clients with 2 arrangements each: {t_commit:.1f} s "
            f"(CPU {c_commit:.1f} s, {rows / t_commit:.0f} rows/s), goal < {GOAL_SECONDS:.0f} s: "
            f"{'MET' if t_commit < GOAL_SECONDS else 'MISSED'}"]
        for line in lines:
            print(line, flush=True)
        return lines
    finally:
        drop_database(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=5000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--write", type=Path, metavar="DIR", help="only write the book's three CSV files into DIR")
    ap.add_argument("--results", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = ap.parse_args()
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, text in book(args.clients).items():
            (args.write / f"{name}.csv").write_text(text, encoding="utf-8")
        print(f"wrote {args.write}/clients.csv, arrangements.csv, time.csv ({args.clients} clients)")
        return
    print(f"import benchmark: {args.clients} clients, {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}", flush=True)
    lines: list[str] = []
    for backend in (["sqlite", "postgresql"] if args.backend == "both" else [args.backend]):
        lines += run(backend, args.clients)
    if args.results:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with (Path(__file__).with_name("RESULTS.md")).open("a", encoding="utf-8") as f:
            f.write(f"\n## Book import ({stamp}, `python benchmarks/import.py --clients {args.clients}`)\n\n"
                    + "".join(f"- {line}\n" for line in lines))


if __name__ == "__main__":
    main()
