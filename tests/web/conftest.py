"""Browser tests of the dashboard: Playwright drives Debian's Chromium against a real uvicorn server.

One demo workspace per backend (SQLite, PostgreSQL), loaded through the services, serves every test of a module;
tests that change it say so and run in file order. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from channels.http import create_app
from domain.model.roles import Actor, Role
from domain.services import delivery, events, jobs, sessions
from domain.services.demo import DEMO_EMAILS, load_demo
from domain.services.events import Incoming
from domain.store.clock import FixedClock
from domain.store.session import Database
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


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         sqlite_template: Path) -> Iterator[Site]:
    clock = FixedClock(NOW)
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    db = open_database(request.param, tmp_path_factory.mktemp("web"), sqlite_template, pg, clock)
    seed(db)
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
