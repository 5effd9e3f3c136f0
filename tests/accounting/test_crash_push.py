"""Crash tests of the QuickBooks push: a real worker process (`python -m channels.worker`) killed with SIGKILL at each
step of a push (before it, after QuickBooks created the document but before we recorded it, after recording), in the
batch backfill and in the queue's pushes, then restarted: every invoice is in QuickBooks exactly once, nothing is lost,
every queued task ends done. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, update

from domain.model.roles import Actor
from domain.services import invoicing
from domain.settings import Settings
from domain.store.session import Database
from domain.store.tables import AccountingConnectionRow, AccountingMappingRow, AccountingQueueRow
from tests.accounting.helpers import consent
from tests.fakes.quickbooks import FakeQuickBooks
from tests.services.conftest import APRIL, FEBRUARY, MARCH, make_world
from tests.support.reliability import record

ROOT = Path(__file__).resolve().parents[2]
POINTS = ("accounting_before_push", "accounting_after_push", "accounting_after_record")


def _worker(db: Database, s: Settings, tmp: Path, fault: str | None = None) -> int:
    assert s.quickbooks_client_secret is not None and s.accounting_token_key is not None
    env = {**os.environ, "BILLABLE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
           "PYTHONPATH": str(ROOT), "BILLABLE_QUICKBOOKS_CLIENT_ID": str(s.quickbooks_client_id),
           "BILLABLE_QUICKBOOKS_CLIENT_SECRET": s.quickbooks_client_secret.get_secret_value(),
           "BILLABLE_QUICKBOOKS_ENVIRONMENT": s.quickbooks_environment,
           "BILLABLE_QUICKBOOKS_API_URL": str(s.quickbooks_api_url),
           "BILLABLE_ACCOUNTING_TOKEN_KEY": s.accounting_token_key.get_secret_value(),
           "BILLABLE_QUICKBOOKS_MAX_WAIT_SECONDS": "0"}
    env.pop("BILLABLE_FAULT_AT", None)
    if fault:
        env["BILLABLE_FAULT_AT"] = fault
    proc = subprocess.run([sys.executable, "-m", "channels.worker", "--until-idle", "--tick-every", "0",
                           "--name", fault or "clean"], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=120)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(proc.stderr[-3000:])
    # the killed worker's lease on the sync would run out after two minutes: let it have run out
    with db.uow() as uow:
        uow.session.execute(update(AccountingConnectionRow).values(lease_owner="", lease_until=None))
        uow.commit()
    return proc.returncode


@pytest.mark.reliability
@pytest.mark.slow
def test_a_push_killed_at_each_step_never_duplicates_and_loses_nothing(
        db: Database, qbo: FakeQuickBooks, qbo_settings: Settings, tmp_path: Path) -> None:
    from channels.accounting import connection as conn

    w = make_world(db, Actor.system("tests"))
    # an existing book (the backfill pushes it in a batch) ...
    book = [w.issued(w.retainer_client(f"{1000 + n}.00", name=f"Book {n}")) for n in range(3)]
    owner = w.actor("owner")
    q = consent(conn.start_connect(db, qbo_settings, owner))
    conn.finish_connect(db, qbo_settings, owner, q["code"], q["state"], q["realmId"])
    # killed after QuickBooks took the batch and before we recorded it; the restart finds them by DocNumber
    assert _worker(db, qbo_settings, tmp_path, "accounting_after_push") == -signal.SIGKILL
    assert len(qbo.all("Invoice")) == 3
    assert _worker(db, qbo_settings, tmp_path) == 0
    kills = 1
    live = []
    for n, point in enumerate(POINTS):
        cid = w.retainer_client(name=f"Live {n}")
        live += [w.issued(cid, FEBRUARY), w.issued(cid, MARCH)]
        invoicing.void_invoice(db.uow(), w.actor("finance"), live[-2].id, "wrong period")
        live.append(w.issued(cid, APRIL))
        assert _worker(db, qbo_settings, tmp_path, point) == -signal.SIGKILL
        kills += 1
    assert _worker(db, qbo_settings, tmp_path) == 0
    numbers = Counter(i["DocNumber"] for i in qbo.all("Invoice"))
    expected = {str(i.number) for i in book + live}
    record(f"qbo-crash-{db.engine.dialect.name}", "kill -9 of the worker at each step of a QuickBooks push (backfill "
           f"batch and queued pushes), then a restart ({db.engine.dialect.name})", tried=kills, times=len(expected),
           lost=len(expected - set(numbers)), doubled=sum(c - 1 for c in numbers.values()))
    assert set(numbers) == expected and all(c == 1 for c in numbers.values()), numbers
    with db.uow() as uow:
        statuses = Counter(uow.session.execute(select(AccountingQueueRow.status)).scalars())
        mapped = set(uow.session.execute(select(AccountingMappingRow.doc_number).where(
            AccountingMappingRow.kind == "invoice")).scalars())
    assert statuses == {"done": 3 * 5}  # per live client: its customer, three invoices, a void
    assert mapped == expected
    voided = {str(i.number) for i in live[0::3]}
    assert {i["DocNumber"] for i in qbo.all("Invoice") if str(i.get("PrivateNote")).startswith("Voided")} == voided
    assert len(qbo.all("Customer")) == 6  # each client once, too


@pytest.mark.reliability
@pytest.mark.slow
def test_a_payment_push_killed_at_each_step_is_one_payment_there(
        db: Database, qbo: FakeQuickBooks, qbo_settings: Settings, tmp_path: Path) -> None:
    from channels.accounting import connection as conn

    w = make_world(db, Actor.system("tests"))
    owner = w.actor("owner")
    q = consent(conn.start_connect(db, qbo_settings, owner))
    conn.finish_connect(db, qbo_settings, owner, q["code"], q["state"], q["realmId"])
    inv = w.issued(w.retainer_client("1000.00", name="Payer GmbH"))
    assert _worker(db, qbo_settings, tmp_path) == 0   # the customer and the invoice, cleanly
    # a part payment per crash point, each push killed there (before it, after QuickBooks created the Payment but
    # before we recorded it, after recording), then a clean restart
    for n, point in enumerate(POINTS):
        invoicing.record_payment(db.uow(), w.actor("finance"), inv.id, "100.00", MARCH[1], f"PART-{n}")
        assert _worker(db, qbo_settings, tmp_path, point) == -signal.SIGKILL
    assert _worker(db, qbo_settings, tmp_path) == 0
    refs = Counter(p.get("PaymentRefNum") for p in qbo.all("Payment"))
    expected = {f"PART-{n}" for n in range(len(POINTS))}
    record(f"qbo-crash-payments-{db.engine.dialect.name}", "kill -9 of the worker at each step of a QuickBooks "
           f"payment push, then a restart ({db.engine.dialect.name})", tried=len(POINTS), times=len(expected),
           lost=len(expected - set(refs)), doubled=sum(c - 1 for c in refs.values()))
    assert set(refs) == expected and all(c == 1 for c in refs.values()), refs
    with db.uow() as uow:
        statuses = Counter(uow.session.execute(select(AccountingQueueRow.status)).scalars())
        mapped = set(uow.session.execute(select(AccountingMappingRow.remote_id).where(
            AccountingMappingRow.kind == "payment")).scalars())
    assert statuses == {"done": 2 + len(POINTS)}   # the customer, the invoice, each payment
    assert mapped == {p["Id"] for p in qbo.all("Payment")}
    [there] = qbo.all("Invoice")
    assert there["Balance"] == there["TotalAmt"] - 300


@pytest.fixture(autouse=True)
def _no_fault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLABLE_FAULT_AT", raising=False)
