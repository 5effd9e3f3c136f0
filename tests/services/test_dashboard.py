"""The dashboard's reads on SQLite and PostgreSQL: the overview's figures against numbers computed independently
from the raw rows, scoping by role, the invoice page's filters and search, and where a line's work came from."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.model.money import minor_to_text
from domain.model.roles import Actor, Role
from domain.services import dashboard, users
from domain.services.demo import DEMO_EMAILS, load_demo
from domain.store.clock import FixedClock
from domain.store.session import Database
from tests.conftest import START, open_database

OWED = ("issued", "sent", "viewed", "partially_paid")


def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def _day(v: object) -> date | None:
    return v if isinstance(v, date) or v is None else date.fromisoformat(str(v)[:10])


def _expected(db: Database, today: date, clients: set[int] | None = None) -> dict[str, Any]:
    """The overview's figures, computed row by row in Python from a plain SELECT."""
    rows = [r for r in _rows(db, "SELECT client_id, status, currency, total_minor, paid_minor, credited_minor, "
                                  "due_date, issue_date, number FROM invoices WHERE kind = 'invoice'")
            if clients is None or r[0] in clients]
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    aging: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    billed: dict[tuple[str, str], int] = defaultdict(int)
    first = date(today.year - (1 if today.month < 12 else 0), (today.month % 12) + 1, 1)
    for _cid, status, cur, total, paid, credited, due, issued, number in rows:
        counts[status] += 1
        amounts[status][cur] += total
        balance = total - paid - credited
        due, issued = _day(due), _day(issued)
        if status in OWED and balance > 0:
            late = (today - due).days if due else 0
            if late > 0:
                counts["overdue"] += 1
                amounts["overdue"][cur] += balance
            bucket = ("current" if late <= 0 else "1-30" if late <= 30 else "31-60" if late <= 60
                      else "61-90" if late <= 90 else "90+")
            aging[bucket][cur] += balance
        if number and status != "void" and issued and first <= issued <= today:
            billed[(issued.strftime("%Y-%m"), cur)] += total
    collected: dict[tuple[str, str], int] = defaultdict(int)
    for cid, amount, cur, received in _rows(db, "SELECT i.client_id, p.amount_minor, p.currency, p.received_on "
                                                "FROM payments p JOIN invoices i ON i.id = p.invoice_id"):
        day = _day(received)
        if (clients is None or cid in clients) and day and first <= day <= today:
            collected[(day.strftime("%Y-%m"), cur)] += amount
    return {"counts": counts, "amounts": amounts, "aging": aging, "billed": billed, "collected": collected}


def _check(ov: dashboard.Overview, exp: dict[str, Any]) -> None:
    for s in ov.states:
        assert s.count == exp["counts"].get(s.state, 0), s.state
        if s.state != "delivery_failed":
            assert {a.currency: a.amount for a in s.amounts} == {
                c: minor_to_text(v, c) for c, v in exp["amounts"].get(s.state, {}).items()}, s.state
    for b in ov.aging:
        assert {a.currency: a.amount for a in b.amounts} == {
            c: minor_to_text(v, c) for c, v in exp["aging"].get(b.bucket, {}).items()}, b.bucket
    for m in ov.monthly:
        assert m.billed_minor == exp["billed"].get((m.month, m.currency), 0), (m.month, m.currency)
        assert m.collected_minor == exp["collected"].get((m.month, m.currency), 0), (m.month, m.currency)
    assert sum(m.billed_minor for m in ov.monthly) == sum(exp["billed"].values())
    assert sum(m.collected_minor for m in ov.monthly) == sum(exp["collected"].values())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         sqlite_template: Path) -> Iterator[Database]:
    """One demo workspace per backend for this module's reads (loading it is the slow part)."""
    clock = FixedClock(START)
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    db = open_database(request.param, tmp_path_factory.mktemp("dash"), sqlite_template, pg, clock)
    load_demo(db.uow(), Actor.system("tests"))
    yield db
    db.dispose()


def test_the_overview_matches_the_rows_today_and_months_later(demo: Database) -> None:
    db = demo
    owner = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.OWNER])
    ov = dashboard.overview(db.uow(), owner)
    exp = _expected(db, ov.today)
    assert sum(exp["counts"].values()) >= 4 and exp["billed"] and exp["collected"]  # the checks mean something
    _check(ov, exp)
    assert len(ov.months) == 12 and ov.months[-1] == ov.today.strftime("%Y-%m")
    assert ov.needs_you.approvals == exp["counts"]["pending_approval"] and ov.needs_you.dead_events == 0
    # 75 days on, what was current is late: the buckets move, still matching the rows
    clock = db.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(days=75))
    try:
        later = dashboard.overview(db.uow(), owner)
        exp_later = _expected(db, later.today)
        _check(later, exp_later)
        assert {b.bucket for b in later.aging if b.count} - {"current"}, "something is late by then"
    finally:
        clock.set(START)


def test_an_account_manager_sees_their_clients_figures_only(demo: Database) -> None:
    db = demo
    am = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.ACCOUNT_MANAGER])
    assert am.client_ids
    ov = dashboard.overview(db.uow(), am)
    _check(ov, _expected(db, ov.today, set(am.client_ids)))
    assert ov.needs_you.approvals is None and ov.needs_you.dead_events is None  # not theirs to act on
    everyone = _rows(db, "SELECT count(*) FROM invoices WHERE kind = 'invoice'")[0][0]
    page = dashboard.invoice_page(db.uow(), am)
    assert page.total < everyone and {i.client_id for i in page.invoices} <= set(am.client_ids)
    contractor = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.CONTRACTOR])
    with pytest.raises(Forbidden):
        dashboard.overview(db.uow(), contractor)


def test_the_invoice_page_filters_searches_and_pages(demo: Database) -> None:
    db = demo
    owner = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.OWNER])
    every = _rows(db, "SELECT i.id, c.name, i.status, i.number FROM invoices i JOIN clients c ON c.id = i.client_id "
                      "WHERE i.kind = 'invoice' ORDER BY i.id DESC")
    page = dashboard.invoice_page(db.uow(), owner, per_page=2)
    assert page.total == len(every) and [i.id for i in page.invoices] == [r[0] for r in every[:2]]
    page2 = dashboard.invoice_page(db.uow(), owner, per_page=2, page=2)
    assert [i.id for i in page2.invoices] == [r[0] for r in every[2:4]]
    harbour = dashboard.invoice_page(db.uow(), owner, search="harbour")
    assert sorted(i.id for i in harbour.invoices) == sorted(r[0] for r in every if r[1].startswith("Harbour"))
    numbered = next(r for r in every if r[3])
    assert [i.id for i in dashboard.invoice_page(db.uow(), owner, search=numbered[3]).invoices] == [numbered[0]]
    drafts = dashboard.invoice_page(db.uow(), owner, state="draft")
    assert sorted(i.id for i in drafts.invoices) == sorted(r[0] for r in every if r[2] == "draft")
    overdue = dashboard.invoice_page(db.uow(), owner, state="overdue")
    assert overdue.total >= 1 and all(i.overdue for i in overdue.invoices)
    for bad in ({"state": "lost"}, {"page": 0}, {"per_page": 1000},
                {"period_from": date(2026, 3, 1), "period_to": date(2026, 2, 1)}):
        with pytest.raises(ValidationFailed):
            dashboard.invoice_page(db.uow(), owner, **bad)  # type: ignore[arg-type]


def test_a_line_tells_where_its_work_came_from(demo: Database) -> None:
    db = demo
    owner = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.OWNER])
    rows = _rows(db, "SELECT l.invoice_id, l.id, l.source FROM invoice_lines l")
    with_time = next(r for r in rows if "time_entry_ids" in str(r[2]))
    origin = dashboard.line_origin(db.uow(), owner, with_time[0], with_time[1])
    assert origin.time_entries and origin.arrangement is not None
    source = json.loads(with_time[2]) if isinstance(with_time[2], str) else with_time[2]
    assert sorted(t.id for t in origin.time_entries) == sorted(source["time_entry_ids"])
    with pytest.raises(NotFound):
        dashboard.line_origin(db.uow(), owner, with_time[0], 10**9)
