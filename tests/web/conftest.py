"""Browser tests of the dashboard: Playwright drives Debian's Chromium against a real uvicorn server.

One demo workspace per backend (SQLite, PostgreSQL), loaded through the services, serves every test of a module;
tests that change it say so and run in file order. The workspace is loaded once per backend and run, then copied
for each module (SQLite: the file; PostgreSQL: every table's rows and the sequences), so each module starts from
the same state as if it had loaded it itself. Screenshots go to artifacts/screenshots/.

What makes these tests cheap without changing what they prove:
* passwords are hashed with argon2id at its lowest cost (tests/conftest.py's cheap_password_hashing, for the whole
  suite);
* `sign_in_as` signs each role in once per module (over the real sign-in route) and reuses its session cookie in
  the next tests' fresh browser contexts; the sign-in form itself, its CSRF cookie, wrong passwords, throttling
  and signing out are tested in test_dashboard.py with `sign_in`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import Engine, text

from channels.http import create_app
from domain.model.roles import Actor, Role
from domain.services import delivery, events, jobs, sessions
from domain.services.demo import DEMO_EMAILS, load_demo
from domain.services.events import Incoming
from domain.store.clock import FixedClock
from domain.store.db import make_engine
from domain.store.session import Database
from domain.store.tables import metadata
from tests.conftest import open_database
from tests.support.server import LiveServer

CHROMIUM = os.environ.get("BILLABLE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@dataclass
class Site:
    """The dashboard on a live server over a seeded database."""

    backend: str
    url: str
    db: Database
    emails: dict[Role, str]
    cookies: dict[Role, Any] = field(default_factory=dict)  # each role's session cookie (see sign_in_as)

    def shot(self, page: Page, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{self.backend}-{name}.png"), full_page=True)


# The session's `playwright` and `browser` live in tests/conftest.py: one Playwright for every browser test in every
# folder (a second copy of a session fixture, imported into another module, starts a second sync Playwright in the
# same thread, which Playwright refuses).


def seed(db: Database) -> None:
    """The demo workspace, demo users with a password, a payment for an unknown invoice (parked for a person), an
    event that never understood (rejected) and one whose client never appears (dead-lettered after its retries)."""
    system = Actor.system("tests")
    report = load_demo(db.uow(), system)
    for u in report.users:
        sessions.set_password(db.uow(), system, u.user.email, PASSWORD)
    part_paid = next(i for i in report.invoices if i.status == "partially_paid")
    delivery.send_invoice(db.uow(), system, part_paid.id, to=["ap@nordwerk.example"])  # queued (no SMTP here)
    source = events.source_actor("billable")
    events.receive_events(db.uow(), source, "billable", [
        Incoming("pay-unknown", "payment.received",
                 {"invoice_number": "INV-1999-000999", "amount": "10.00", "received_on": "2026-03-30"}),
        Incoming("bad-type", "invoice.exploded", {"x": 1}),
        Incoming("ghost-time", "time.logged", {"entry_ref": "te-ghost", "client_ref": "ghost",
                                               "person": "kim@ghost.example", "role": "developer",
                                               "date": "2026-03-30", "hours": "2", "description": "work"})])
    clock = db.clock
    assert isinstance(clock, FixedClock)
    for _ in range(8):  # the retries' backoff, compressed
        while jobs.process_jobs(db.uow(), "tests", 50):
            pass
        clock.set(clock.now() + timedelta(hours=2))
    clock.set(NOW)


# The seeded workspace, per backend and run: the SQLite file, or PostgreSQL's tables (binary COPY) and sequences.
_SEEDED: dict[str, Any] = {}


def _pg_tables() -> list[str]:
    return [t.name for t in metadata.sorted_tables]


def _pg_dump(engine: Engine) -> tuple[dict[str, bytes], list[tuple[str, int]]]:
    tables: dict[str, bytes] = {}
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for name in _pg_tables():
            with cur.copy(f'COPY "{name}" TO STDOUT (FORMAT binary)') as copy:
                tables[name] = b"".join(bytes(chunk) for chunk in copy)
        sequences = [(str(s), int(v)) for s, v in conn.execute(text(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value FROM pg_sequences "
            "WHERE schemaname = current_schema() AND last_value IS NOT NULL")).all()]
    return tables, sequences


def _pg_restore(engine: Engine, tables: dict[str, bytes], sequences: list[tuple[str, int]]) -> None:
    with engine.begin() as conn:
        names = ", ".join(f'"{n}"' for n in _pg_tables())
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # An exact copy of consistent rows: neither foreign keys nor the books' triggers need to look at it again.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for name, data in tables.items():
            with cur.copy(f'COPY "{name}" FROM STDIN (FORMAT binary)') as copy:
                copy.write(data)
        for seq, value in sequences:
            conn.execute(text("SELECT setval(:s, :v, true)"), {"s": seq, "v": value})


def seeded_database(backend: str, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
                    pg_url: str | None, clock: FixedClock) -> Database:
    """A database holding the seeded workspace (see `seed`): seeded the first time, a copy of it after that."""
    if backend == "sqlite":
        key = f"sqlite:{sqlite_template}"
        if key not in _SEEDED:
            first = open_database("sqlite", tmp_path_factory.mktemp("web-seed"), sqlite_template, None,
                                  FixedClock(NOW))
            seed(first)
            first.dispose()  # closing the last connection checkpoints the WAL into the file we copy
            _SEEDED[key] = Path(str(first.engine.url.database))
        return open_database("sqlite", tmp_path_factory.mktemp("web"), _SEEDED[key], None, clock)
    assert pg_url is not None
    key = f"pg:{pg_url}"
    if key not in _SEEDED:
        db = open_database("postgresql", tmp_path_factory.mktemp("web"), sqlite_template, pg_url, clock)
        seed(db)
        _SEEDED[key] = _pg_dump(db.engine)
        return db
    engine = make_engine(pg_url)
    _pg_restore(engine, *_SEEDED[key])
    return Database(engine, clock)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         sqlite_template: Path) -> Iterator[Site]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    db = seeded_database(request.param, tmp_path_factory, sqlite_template, pg, FixedClock(NOW))
    server = LiveServer(create_app(db))
    url = server.start()
    try:
        yield Site(request.param, url, db, dict(DEMO_EMAILS))
    finally:
        server.stop()
        db.dispose()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, email: str, password: str = PASSWORD, next_path: str = "/app/") -> None:
    page.goto(f"/app/login?next={next_path}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def session_cookie(site: Site, role: Role) -> dict[str, Any]:
    """The session cookie of `role` on `site` (Playwright's shape). The role signs in once per module over the real
    sign-in route (its page for the CSRF token and cookie, then the form's POST); later calls reuse the session."""
    if role not in site.cookies:
        with httpx.Client(base_url=site.url, timeout=30) as c:
            form = c.get("/app/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert form.status_code == 200 and token, form.status_code
            signed = c.post("/app/login", data={"email": site.emails[role], "password": PASSWORD,
                                                "csrf_token": token.group(1), "next": "/app/"})
            assert signed.status_code == 303 and "billable_session" in c.cookies, signed.text[:300]
            site.cookies[role] = {"name": "billable_session", "value": c.cookies["billable_session"],
                                  "domain": httpx.URL(site.url).host, "path": "/app", "httpOnly": True,
                                  "sameSite": "Lax"}
    return dict(site.cookies[role])


def sign_in_as(page: Page, site: Site, role: Role, next_path: str = "/app/") -> None:
    """Open `next_path` signed in as `role`, with the role's session of this module (`session_cookie`), as a
    returning browser would. The sign-in form itself is tested with `sign_in` in test_dashboard.py."""
    page.context.add_cookies([session_cookie(site, role)])  # type: ignore[list-item]
    page.goto(next_path)


def csrf_of(page: Page) -> str:
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value
    return value


def text_of(page: Page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.locator(selector).inner_text()).strip()


def query(db: Database, sql: str, **params: Any) -> list[Any]:
    """Raw SQL, independent of the services under test."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())
