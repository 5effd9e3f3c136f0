"""Gapless numbering under concurrency with aborted transactions: workers issue drafts at once, and one issue in ten
is aborted after its number was taken (a crash before commit). The committed numbers are 1..N with no gap and no
duplicate; the aborted drafts stay drafts with no number. make test: 16 workers, 200 issues on PostgreSQL;
make reliability: 16 workers, 5,000 issues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.model.roles import Actor
from domain.services import audit, invoicing
from domain.store.clock import FixedClock
from domain.store.session import Database
from tests.conftest import START, open_database
from tests.services.test_concurrency import prepare_drafts, run_workers
from tests.support.reliability import record, scale

WORKERS = 16


class Aborted(Exception):
    """The injected crash: raised inside the issuing transaction, after the number was written."""


@pytest.fixture
def pg_db(pg_url: str, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    database = open_database("postgresql", tmp_path, sqlite_template, pg_url, FixedClock(START))
    yield database
    database.dispose()


@pytest.mark.reliability
@pytest.mark.slow
def test_16_workers_issue_with_one_in_ten_aborted_and_the_numbers_stay_gapless(pg_db: Database) -> None:
    clients, periods = scale((4, 50), (50, 100))
    drafts = prepare_drafts(pg_db, n_clients=clients, n_periods=periods)
    system = Actor.system("tests")
    aborted = set(drafts[::10])

    def issue(invoice_id: int) -> object:
        uow = pg_db.uow()
        if invoice_id in aborted:
            def crash() -> None:
                raise Aborted(invoice_id)
            uow._write_audit = crash  # type: ignore[method-assign]  # fails at commit, number already flushed
        return invoicing.issue_invoice(uow, system, invoice_id)

    issued, errors = run_workers(WORKERS, drafts, issue)
    assert all(isinstance(e, Aborted) for e in errors) and len(errors) == len(aborted)
    numbers = sorted(v.number for v in issued)  # type: ignore[attr-defined]
    expected = [f"INV-2026-{n:06d}" for n in range(1, len(drafts) - len(aborted) + 1)]
    with pg_db.uow() as uow:
        left = {i.id: (i.status, i.number) for i in uow.invoices.list(status=["draft"], limit=100_000)}
    lost = len(set(expected) - set(numbers))
    doubled = len(numbers) - len(set(numbers))
    record("numbering", f"{WORKERS} workers issuing {len(drafts):,} drafts, {len(aborted):,} aborted after "
           "numbering (PostgreSQL)", tried=len(drafts), lost=lost + len(set(aborted) - set(left)), doubled=doubled,
           errors=len(errors) - len(aborted))
    assert numbers == expected  # no gap, no duplicate
    assert set(left) == aborted and all(n is None for _, n in left.values())
    assert audit.verify_chain(pg_db.uow(), system).ok
