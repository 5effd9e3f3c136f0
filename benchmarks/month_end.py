"""Month-end benchmark: N clients with a retainer and T&M hours, drafted, checked, issued, numbered, audited.

Prints invoices/s, peak RSS and the ratio to a raw-SQL floor that writes the same rows, on SQLite and
PostgreSQL. Run by `make bench` (never by the tests). Each phase runs in its own process so its peak RSS is
its own.

    python benchmarks/month_end.py [--clients 10000] [--backend sqlite|postgresql|both] [--batch 500]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _scratch import drop_database, fresh_database  # noqa: E402  (benchmarks/ is the script's folder)
from sqlalchemy import insert, text, update  # noqa: E402

from domain.store.db import json_text, make_engine  # noqa: E402
from domain.store.migrate import upgrade  # noqa: E402
from domain.store.tables import (  # noqa: E402
    ArrangementRow,
    ClientRow,
    InvoiceRow,
    NumberCounterRow,
    TimeEntryRow,
    WorkspaceRow,
)

START, END = date(2026, 3, 1), date(2026, 3, 31)
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
FEB = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ENTRIES_PER_CLIENT = 3


def seed(url: str, clients: int) -> None:
    """Clients, a 1,000 EUR retainer with 5 included hours and T&M at 120/h each, and 3 entries of 3 h."""
    engine = make_engine(url)
    upgrade(engine)
    tax = {"mode": "standard", "region": "DE", "rate": "19", "section_rates": {},
           "exemption_reason": ""}
    with engine.begin() as conn:
        for lo in range(0, clients, 2000):
            ids = range(lo + 1, min(lo + 2000, clients) + 1)
            conn.execute(insert(ClientRow), [dict(id=i, name=f"Client {i:05d} Ltd", currency="EUR",
                                                  billing_emails=[f"ap{i}@client.example"], payment_terms_days=30,
                                                  tax_profile=tax, po_required=False, po_number="",
                                                  locale="en_GB", created_at=NOW, address_street=f"Hafenstraße {i}",
                                                  address_postcode="20457", address_city="Hamburg",
                                                  address_country="DE") for i in ids])
            conn.execute(insert(ArrangementRow), [
                dict(id=2 * i - 1, client_id=i, kind="retainer", name="Managed services",
                     terms={"fee": "1000.00", "cycle": "monthly", "billing": "advance", "included_hours": "5",
                            "prorate": True}, starts_on=date(2026, 1, 1), ends_on=None, active=True,
                     created_at=NOW) for i in ids] + [
                dict(id=2 * i, client_id=i, kind="time_and_materials", name="Project work",
                     terms={"default_rate": "120.00", "role_rates": {}, "person_rates": {}, "tiers": []},
                     starts_on=None, ends_on=None, active=True, created_at=NOW) for i in ids])
            # Last month's invoice, issued, so March is a regular month (not a first invoice) and compares equal.
            conn.execute(insert(InvoiceRow), [
                dict(client_id=i, kind="invoice", status="paid", number=f"INV-2026-{i:06d}", currency="EUR",
                     period_start=date(2026, 2, 1), period_end=date(2026, 2, 28), issue_date=date(2026, 2, 1),
                     due_date=date(2026, 3, 3), subtotal_minor=148000, tax_minor=28120, total_minor=176120,
                     paid_minor=176120, credited_minor=0, tax_breakdown=[], tax_note="", po_number="", checks=[],
                     capped=False, reason="", created_at=FEB, issued_at=FEB) for i in ids])
            conn.execute(insert(TimeEntryRow), [
                dict(client_id=i, arrangement_id=None, user_id=None, person=f"eng{k}@msp.example",
                     role="engineer", day=date(2026, 3, 3 + 7 * k), hours_centi=300,
                     description="Patching and monitoring", created_at=NOW)
                for i in ids for k in range(ENTRIES_PER_CLIENT)])
        conn.execute(insert(NumberCounterRow).values(key="INV-2026-{seq}", last_value=clients))
        # The seller's legal data, as an invoice needs it to be issued (the legal-data check)
        conn.execute(update(WorkspaceRow).where(WorkspaceRow.id == 1).values(
            legal_name="Billable Demo GmbH", address_street="Königstraße 10", address_postcode="70173",
            address_city="Stuttgart", address_country="DE", vat_id="DE136695976"))
        if engine.dialect.name == "postgresql":
            for table in ("clients", "arrangements"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
    engine.dispose()


def phase_service(url: str, batch: int) -> dict[str, Any]:
    from domain.model.roles import Actor
    from domain.services.billing_run import bill_period
    from domain.store.clock import FixedClock
    from domain.store.session import Database

    db = Database.open(url, clock=FixedClock(NOW))
    t0, c0 = time.perf_counter(), time.process_time()
    report = bill_period(db.uow(), Actor.system("month-end benchmark"), START, END, batch_size=batch)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    db.dispose()
    return {"elapsed": elapsed, "cpu": cpu, "issued": report.issued, "flagged": report.flagged,
            "failed": report.failed}


CHECKS = ("totals", "cap", "deviation", "duplicate", "billing_contact", "currency", "po_required", "manual_lines",
          "first_invoice", "threshold", "legal_data")
SELLER = {"name": "My company", "legal_name": "Billable Demo GmbH",
          "address": {"street": "Königstraße 10", "additional": "", "postcode": "70173", "city": "Stuttgart",
                      "region": "", "country": "DE"},
          "vat_id": "DE136695976", "tax_number": "", "registration": "",
          "contact": {"name": "", "email": None, "phone": ""},
          "bank_account": {"iban": "", "bic": "", "bank_name": "", "account_holder": ""},
          "electronic_address": {"scheme": "", "identifier": ""}}


def _floor_snapshot(cid: int, number: str, lines: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The frozen legal snapshot billable stores on an issued invoice (issue 12), built as plain dicts."""
    return {
        "schema_version": 1, "kind": "invoice", "number": number, "seller": SELLER,
        "buyer": {"name": f"Client {cid:05d} Ltd", "client_id": cid, "billing_emails": [f"ap{cid}@client.example"],
                  "legal_name": f"Client {cid:05d} Ltd",
                  "address": {"street": f"Hafenstraße {cid}", "additional": "", "postcode": "20457", "city": "Hamburg",
                              "region": "", "country": "DE"},
                  "vat_id": "", "buyer_reference": "", "electronic_address": {"scheme": "", "identifier": ""},
                  "einvoice_format": "none", "language": "en"},
        "terms": {"currency": "EUR", "issue_date": "2026-04-01", "due_date": "2026-05-01", "payment_terms_days": 30,
                  "po_number": "", "period_start": "2026-03-01", "period_end": "2026-03-31", "locale": "en_GB",
                  "language": "en", "tax_mode": "standard", "reverse_charge": False, "tax_note": "",
                  "tax_rounding": "per_line", "tax_profile": {"mode": "standard", "region": "DE", "rate": "19",
                                                              "section_rates": {}, "exemption_reason": ""},
                  "corrects_number": None, "corrects_issue_date": None, "reason": ""},
        "lines": [{"position": ln[1], "description": ln[3], "quantity": ln[4], "unit": ln[5],
                   "unit_price": f"{ln[6] / 100:.2f}", "amount": f"{ln[7] / 100:.2f}", "tax_rate": "19",
                   "tax_category": "S", "tax": f"{ln[9] / 100:.2f}", "section": ln[2]} for ln in lines],
        "tax": [{"category": "S", "rate": "19", "taxable": "1480.00", "tax": "281.20", "exemption_reason": "",
                 "exemption_code": ""}],
        "totals": {"net": "1480.00", "tax": "281.20", "gross": "1761.20"}}


def phase_floor(url: str, batch: int) -> dict[str, Any]:
    """The same rows as billable writes, with plain executemany and JSON built as plain dicts: per invoice the
    invoice (with its checks and frozen snapshot), its 4 lines (with their sources), 4 claims, 2 audit entries
    (drafted, issued, with their summaries), 1 outbox message (invoice.issued); per batch the counter and the
    audit head. `main` asserts that both phases wrote the same number of rows to every table."""
    engine = make_engine(url)
    t0, c0 = time.perf_counter(), time.process_time()
    raw = engine.raw_connection()
    cur = raw.cursor()
    pg = engine.dialect.name == "postgresql"
    ph = "%s" if pg else "?"
    cur.execute("SELECT id, client_id, day FROM time_entries ORDER BY client_id, id")
    entries: dict[int, list[int]] = {}
    for eid, cid, _day in cur.fetchall():
        entries.setdefault(cid, []).append(eid)
    cur.execute("SELECT id FROM clients ORDER BY id")
    client_ids = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT last_value FROM number_counters WHERE key = 'INV-2026-{seq}'")
    seq, prev, number = 0, "0" * 64, cur.fetchone()[0]
    now = NOW.replace(tzinfo=None) if not pg else NOW

    def ins(table: str, cols: list[str], rows: list[tuple[Any, ...]], returning: bool = False) -> list[int]:
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))})"
        if returning:
            out = []
            for r in rows:
                cur.execute(sql + " RETURNING id", r)
                out.append(cur.fetchone()[0])
            return out
        cur.executemany(sql, rows)
        return []

    inv_cols = ["client_id", "kind", "status", "number", "currency", "period_start", "period_end", "issue_date",
                "due_date", "subtotal_minor", "tax_minor", "total_minor", "paid_minor", "credited_minor",
                "tax_breakdown", "tax_note", "po_number", "checks", "capped", "reason", "created_at", "issued_at",
                "snapshot"]
    line_cols = ["invoice_id", "position", "section", "description", "quantity", "unit", "unit_price_minor",
                 "amount_minor", "tax_rate", "tax_minor", "arrangement_id", "source", "manual"]
    checks = json_text([{"code": c, "outcome": "pass", "reason": "ok"} for c in CHECKS])
    period = "2026-03-01..2026-03-31"
    for lo in range(0, len(client_ids), batch):
        chunk = client_ids[lo:lo + batch]
        inv_rows, inv_lines = [], []
        for cid in chunk:
            number += 1
            subtotal = 100000 + 4 * 12000
            tax = subtotal * 19 // 100
            ret, tm = 2 * cid - 1, 2 * cid
            e0, e1, e2 = entries[cid]
            lines: list[tuple[Any, ...]] = [
                (None, 1, "retainer", "Managed services — March 2026", "1", "period", 100000, 100000, "19", 19000, ret,
                 {"arrangement_id": ret, "period": period, "text": {"key": "retainer", "params": {
                     "name": "Managed services", "start": "2026-03-01", "end": "2026-03-31", "arrears": 0,
                     "share": ""}}, "terms_version": 1}),
                (None, 2, "time", "Included hours used — 5.00 h of 5.00 h", "5", "h", 0, 0, "19", 0, tm,
                 {"arrangement_id": tm, "time_entry_ids": [e0, e1], "included_hours": "5.00",
                  "included_used": {f"{ret}:{period}": "5.00"},
                  "text": {"key": "included_hours", "params": {"hours": "5.00", "offered": "5.00"}},
                  "terms_version": 1})]
            for pos, (entry, hours) in enumerate(((e1, 1), (e2, 3)), start=3):
                person = f"eng{pos - 2}@msp.example"
                lines.append((None, pos, "time", f"{person} (engineer) — overage {hours}.00 h", str(hours), "h", 12000,
                              12000 * hours, "19", 12000 * hours * 19 // 100, tm,
                              {"arrangement_id": tm, "time_entry_ids": [entry], "text": {
                                  "key": "person_hours", "params": {"person": person, "role": "engineer",
                                                                    "hours": f"{hours}.00", "overage": 1}},
                               "terms_version": 1}))
            num = f"INV-2026-{number:06d}"
            inv_rows.append((cid, "invoice", "issued", num, "EUR", START, END, NOW.date(),
                             date(2026, 5, 1), subtotal, tax, subtotal + tax, 0, 0,
                             json_text([{"rate": "19", "taxable": "1480.00", "tax": "281.20"}]), "", "",
                             checks, False, "", now, now, json_text(_floor_snapshot(cid, num, lines))))
            inv_lines.append(lines)
        inv_ids = ins("invoices", inv_cols, inv_rows, returning=True)
        line_rows, claims, audits, outbox = [], [], [], []
        for inv_id, cid, lines, inv in zip(inv_ids, chunk, inv_lines, inv_rows, strict=True):
            line_rows.extend((inv_id, *ln[1:11], json_text(ln[11]), False) for ln in lines)
            claims.append(("period", 2 * cid - 1, period, inv_id))
            claims.extend(("time", e, "", inv_id) for e in entries[cid])
            summary = {"status": "draft", "number": None, "client_id": cid, "currency": "EUR",
                       "period": ["2026-03-01", "2026-03-31"], "total": "1761.20", "balance": "1761.20", "lines": 4}
            issued = {**summary, "status": "issued", "number": inv[3]}
            for action, before, after in (("invoice.drafted", None, summary), ("invoice.issued", summary, issued)):
                seq += 1
                content = {"seq": seq, "action": action, "subject_id": str(inv_id), "before": before, "after": after}
                h = hashlib.sha256(prev.encode() + json.dumps(content, sort_keys=True).encode()).hexdigest()
                audits.append((seq, now, "system", None, "floor", action, "invoice", str(inv_id), "{}",
                               json_text(before) if before is not None else None, json_text(after), prev, h, "local"))
                prev = h
            outbox.append(("invoice.issued", json_text({
                "schema_version": 1, "invoice_id": inv_id, "number": inv[3], "kind": "invoice", "status": "issued",
                "client_id": cid, "client_name": f"Client {cid:05d} Ltd", "currency": "EUR", "total": "1761.20",
                "subtotal": "1480.00", "tax": "281.20", "balance": "1761.20", "issue_date": "2026-04-01",
                "due_date": "2026-05-01", "period": ["2026-03-01", "2026-03-31"], "via": "billing_run",
                "po_number": ""}), "{}", "pending", 0, now, "", now))
        ins("invoice_lines", line_cols, line_rows)
        ins("billing_claims", ["kind", "ref_id", "period_key", "invoice_id"], claims)
        ins("audit_log", ["seq", "at", "actor_kind", "actor_id", "actor_label", "action", "subject_type",
                          "subject_id", "cause", "before", "after", "prev_hash", "hash", "key_id"], audits)
        ins("outbox", ["topic", "payload", "cause", "status", "attempts", "run_after", "last_error", "created_at"],
            outbox)
        cur.execute(f"UPDATE audit_head SET last_seq = {ph}, last_hash = {ph} WHERE id = 1", (seq, prev))
        cur.execute(f"UPDATE number_counters SET last_value = {ph} WHERE key = 'INV-2026-{{seq}}'", (number,))
        raw.commit()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    raw.close()
    engine.dispose()
    return {"elapsed": elapsed, "cpu": cpu, "issued": len(client_ids)}


JSON_COLUMNS = (("invoices", "snapshot"), ("invoices", "checks"), ("invoice_lines", "source"), ("audit_log", "after"),
                ("outbox", "payload"))


def written(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Rows in every table, and characters in the JSON columns a run writes most of (both phases start alike)."""
    from domain.store.tables import Base

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
                for t in sorted(Base.metadata.tables)}
        chars = {f"{t}.{c}": int(conn.execute(text(f"SELECT coalesce(sum(length(CAST({c} AS TEXT))), 0) FROM {t}"))
                                 .scalar_one()) for t, c in JSON_COLUMNS}
    engine.dispose()
    return rows, chars


def run_phase(phase: str, url: str, batch: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, "--url", url, "--batch", str(batch)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--phase", choices=["service", "floor"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        result = phase_service(args.url, args.batch) if args.phase == "service" else phase_floor(args.url, args.batch)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"month-end benchmark: {args.clients} clients, batch {args.batch}, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for backend in backends:
        urls = []
        try:
            figures = {}
            for phase in ("service", "floor"):
                url = fresh_database(backend, phase)
                urls.append(url)
                print(f"[{backend}] seeding {args.clients} clients for the {phase} run...", flush=True)
                seed(url, args.clients)
                seeded = written(url)[0]
                print(f"[{backend}] {phase} run...", flush=True)
                figures[phase] = run_phase(phase, url, args.batch)
                figures[phase]["written"] = written(url)
            s, f = figures["service"], figures["floor"]
            # The floor must write what billable writes, row for row, so the ratio compares like with like.
            (s_rows, s_chars), (f_rows, f_chars) = s["written"], f["written"]
            diff = {t: (s_rows[t], f_rows[t]) for t in s_rows if s_rows[t] != f_rows[t]}
            assert not diff, f"the floor does not write the rows billable writes (table: billable, floor): {diff}"
            print(f"[{backend}] rows written by each: " + ", ".join(
                f"{t} {s_rows[t] - seeded[t]}" for t in s_rows if s_rows[t] != seeded[t]))
            print(f"[{backend}] JSON characters (billable / floor): " + ", ".join(
                f"{k} {s_chars[k]} / {f_chars[k]}" for k in s_chars))
            assert s["issued"] + s["flagged"] == args.clients, s
            rate = args.clients / s["elapsed"]
            ratio = s["elapsed"] / f["elapsed"]
            print(f"[{backend}] billable: {s['elapsed']:.1f} s ({s['cpu']:.1f} s CPU), {rate:.0f} invoices/s, peak RSS "
                  f"{s['peak_rss_mb']:.0f} MB (issued {s['issued']}, flagged {s['flagged']}, failed {s['failed']})")
            print(f"[{backend}] raw-SQL floor: {f['elapsed']:.1f} s ({f['cpu']:.1f} s CPU), "
                  f"{args.clients / f['elapsed']:.0f} invoices/s, "
                  f"peak RSS {f['peak_rss_mb']:.0f} MB")
            print(f"[{backend}] month-end ratio to the raw-SQL floor: {ratio:.2f}, goal <= 3x: "
                  f"{'MET' if ratio <= 3 else 'MISSED'}", flush=True)
            print(f"[{backend}] month-end peak RSS: {s['peak_rss_mb']:.0f} MB, goal < 300 MB: "
                  f"{'MET' if s['peak_rss_mb'] < 300 else 'MISSED'}", flush=True)
        finally:
            for url in urls:
                drop_database(url)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
