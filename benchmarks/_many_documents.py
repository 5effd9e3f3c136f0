"""The documents of many invoices (issue 17: 10,000 invoices' PDF and e-invoice, queued for e-mail, in under 20
minutes on 2 cores), through the product's own path.

N clients (the month-end benchmark's: a retainer and T&M hours) are billed by `bill_period` with the workspace's
`send_on_issue` on, so each invoice's e-mail is queued in its issuing transaction (not timed: that is the month-end
benchmark's figure). Half the clients are German and receive Factur-X (the PDF made PDF/A-3b with the CII XML
inside), half English and receive XRechnung CII (the XML beside the PDF). Then PROCESSES worker processes (spawned:
`channels.worker.Worker` with the product's sender, so `InvoiceMailer` renders the PDF and the e-invoice, builds the
e-mail and hands it over SMTP, and the delivery is recorded) drain the outbox on PostgreSQL into a local SMTP server
that counts what it is given. Timed: from the workers' start until both are done.

The machine is shared, so besides the wall clock the figure adds up the CPU seconds it took (the workers, their
PostgreSQL backends, the SMTP server) and divides them by 2 cores: the time on 2 cores of our own.

    python benchmarks/_many_documents.py URL SMTP_PORT     # one worker process (render.py starts them)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _scratch import drop_database, fresh_database  # noqa: E402
from month_end import END, NOW, START, seed  # noqa: E402

MANY_DEFAULT = 1_000  # 10,000 would take ~12 min of 2 quiet cores (hours on the shared machine): projected
PROCESSES = 2
GOAL_INVOICES, GOAL_SECONDS, CORES = 10_000, 20 * 60, 2


def _prepare(url: str, n: int) -> float:
    """Seed N clients with their e-invoice formats, and bill them with send_on_issue on: N e-mails queued."""
    from sqlalchemy import update

    from domain.model.roles import Actor
    from domain.services.billing_run import bill_period
    from domain.store.clock import FixedClock
    from domain.store.session import Database
    from domain.store.tables import ClientRow, WorkspaceRow
    from tests.support.parties import seed_seller

    seed(url, n)
    db = Database.open(url, clock=FixedClock(NOW))
    seed_seller(db)
    with db.engine.begin() as conn:
        conn.execute(update(WorkspaceRow).values(send_on_issue=True))
        conn.execute(update(ClientRow).where(ClientRow.id % 2 == 1).values(
            einvoice_format="facturx", locale="de_DE", language="de"))
        conn.execute(update(ClientRow).where(ClientRow.id % 2 == 0).values(
            einvoice_format="xrechnung-cii", buyer_reference="04011000-1234512345-06",
            electronic_address_scheme="9930", electronic_address_identifier="DE811569869"))
    t = time.perf_counter()
    report = bill_period(db.uow(), Actor.system("documents benchmark"), START, END, batch_size=500)
    issued = time.perf_counter() - t
    db.dispose()
    if report.issued != n:
        raise SystemExit(f"issued {report.issued} of {n} invoices ({report.flagged} flagged, {report.failed} failed)")
    return issued


def drain(url: str, smtp_port: int) -> None:
    """One worker process: the product's worker, with its sender, until the outbox is empty; prints its figures."""
    from channels.worker import Worker
    from domain.settings import Settings
    from domain.store.clock import FixedClock
    from domain.store.session import Database

    settings = Settings(database_url=url, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_starttls=False,
                        smtp_from="billing@brightline.example", templates_dir=None)
    db = Database.open(url, clock=FixedClock(NOW))  # the issue date's clock: no dunning tick in the way
    worker = Worker.for_settings(db, settings, name=f"documents-{os.getpid()}", tick_every=0)
    t, c = time.perf_counter(), time.process_time()
    handled = worker.run_until_idle()
    print(json.dumps({"handled": handled, "cpu": time.process_time() - c, "wall": time.perf_counter() - t}))
    db.dispose()


class _Sink:
    """An SMTP server that accepts every message and counts it (keeping 10,000 e-mails would cost a gigabyte)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from tests.fakes.smtp import free_port

        self.count, self.size, self.first = 0, 0, b""
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        self.size += len(envelope.content)
        self.first = self.first or envelope.content
        return "250 Message accepted for delivery"

    def start(self) -> int:
        self.controller.start()
        return self.port


def _backend_cpu(url: str, stop: threading.Event, seen: dict[int, float]) -> None:
    """Poll the CPU seconds of the database's PostgreSQL backends (the server runs here: /proc tells)."""
    import psycopg

    tick = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        while not stop.wait(0.5):
            pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                               "AND pid <> pg_backend_pid()")]
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                seen[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime


def many_documents(n: int) -> list[str]:
    """The figure for N invoices, and its projection to 10,000 when N is smaller."""
    from email import message_from_bytes, policy

    from sqlalchemy import func, select

    from domain.store.db import make_engine
    from domain.store.tables import InvoiceDeliveryRow

    url = fresh_database("postgresql", "documents")
    try:
        issue_s = _prepare(url, n)
        sink = _Sink()
        port = sink.start()
        stop, backends = threading.Event(), dict[int, float]()
        poller = threading.Thread(target=_backend_cpu, args=(url, stop, backends), daemon=True)
        poller.start()
        load0, c0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
        procs = [subprocess.Popen([sys.executable, __file__, url, str(port)], stdout=subprocess.PIPE, text=True)
                 for _ in range(PROCESSES)]
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        wall, sink_cpu = time.perf_counter() - t0, time.process_time() - c0
        time.sleep(0.6)
        stop.set()
        poller.join()
        sink.controller.stop()
        engine = make_engine(url)
        with engine.connect() as conn:
            sent = conn.execute(select(func.count()).where(InvoiceDeliveryRow.status == "sent")).scalar_one()
        engine.dispose()
    finally:
        drop_database(url)
    if sent != n or sink.count != n:
        raise SystemExit(f"{sent} deliveries sent and {sink.count} e-mails received, of {n} invoices")
    first = message_from_bytes(sink.first, policy=policy.default)
    attached = [part.get_filename() for part in first.iter_attachments()]
    worker_cpu = sum(o["cpu"] for o in outs)
    pg_cpu = sum(backends.values())
    total_cpu = worker_cpu + pg_cpu + sink_cpu
    on_cores = total_cpu / CORES
    per = total_cpu / n
    at_goal = on_cores * GOAL_INVOICES / n
    lines = [f"documents of {n:,} invoices (issued with send_on_issue; half Factur-X PDF, half PDF + XRechnung CII "
             f"XML; "
             f"e.g. {', '.join(str(a) for a in attached)}), queued e-mails sent by {PROCESSES} worker processes "
             f"through InvoiceMailer to a local SMTP server ({sink.size / n / 1024:.0f} KiB an e-mail): wall "
             f"{wall:.0f} s on the shared machine (load average {load0:.1f} at the start, "
             f"{os.getloadavg()[0]:.1f} at the end); CPU {total_cpu:.0f} s = workers {worker_cpu:.0f} s + their "
             f"PostgreSQL backends {pg_cpu:.0f} s + SMTP server {sink_cpu:.0f} s, {per * 1000:.0f} ms an invoice: "
             f"{on_cores:.0f} s on {CORES} cores of our own (issuing them, not part of it: {issue_s:.0f} s wall)"]
    label = "" if n == GOAL_INVOICES else f"PROJECTION from {n:,} (CPU per invoice x {GOAL_INVOICES:,}), "
    # one line (make bench keeps only the lines with a verdict), the measurement first
    return [f"{lines[0]}; so the documents of {GOAL_INVOICES:,} invoices on {CORES} cores: {label}"
            f"{at_goal / 60:.1f} min (goal < {GOAL_SECONDS // 60} min: {'MET' if at_goal < GOAL_SECONDS else 'MISSED'}"
            f"); by this shared machine's wall clock {wall * GOAL_INVOICES / n / 60:.1f} min"]


if __name__ == "__main__":
    drain(sys.argv[1], int(sys.argv[2]))
