"""An owner connects QuickBooks from the dashboard in a real browser: Connect -> Intuit's (local) consent -> the
callback -> the page shows the company and realm; finance sees it but has no Connect button; Disconnect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from channels.http import create_app
from domain.model.roles import Actor, Role
from domain.services import accounting, sessions, users
from domain.settings import Settings
from domain.store.clock import FixedClock
from tests.conftest import START, open_database
from tests.fakes.quickbooks import REALM, FakeQuickBooks
from tests.support.server import LiveServer
from tests.web.conftest import PASSWORD, sign_in

OWNER, FINANCE = "olivia@owner.example", "fin@books.example"


@pytest.fixture(params=["sqlite", "postgresql"])
def app_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, qbo_settings: Settings,
            qbo: FakeQuickBooks) -> Iterator[tuple[str, object]]:
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    db = open_database(request.param, tmp_path, sqlite_template, pg, FixedClock(START))
    system = Actor.system("tests")
    for email, role in ((OWNER, Role.OWNER), (FINANCE, Role.FINANCE)):
        users.add_user(db.uow(), system, users.UserIn(email=email, role=role))
        sessions.set_password(db.uow(), system, email, PASSWORD)
    app = create_app(db, qbo_settings)
    server = LiveServer(app)
    url = server.start()
    app.state.settings = qbo_settings.model_copy(update={
        "quickbooks_redirect_uri": url + "/app/accounting/quickbooks/callback", "public_url": url})
    try:
        yield url, db
    finally:
        server.stop()
        db.dispose()


def test_owner_connects_quickbooks_from_the_dashboard(app_url: tuple[str, object], browser: Browser,
                                                      qbo: FakeQuickBooks) -> None:
    url, db = app_url
    ctx = browser.new_context(base_url=url)
    ctx.set_default_timeout(10_000)
    try:
        fin: Page = ctx.new_page()
        sign_in(fin, FINANCE, next_path="/app/accounting")
        expect(fin.locator("#qbo-status")).to_have_text("disconnected")
        assert fin.locator("#qbo-connect").count() == 0  # only owners connect
        fin.close()
        ctx.clear_cookies()
        page = ctx.new_page()
        sign_in(page, OWNER, next_path="/app/accounting")
        page.get_by_role("link", name="Connect QuickBooks").click()  # -> Intuit -> back to the callback
        page.wait_for_url("**/app/accounting?notice=qbo_connected")
        expect(page.locator("#qbo-status")).to_have_text("connected")
        expect(page.locator("#qbo-company")).to_have_text("Nordlicht Books Ltd")
        expect(page.locator("#qbo-realm")).to_have_text(REALM)
        assert [c.path for c in qbo.calls if c.path.startswith("/oauth2")] == [
            "/oauth2/v1/authorize", "/oauth2/v1/tokens/bearer"]
        view = accounting.connection_status(db.uow(), Actor.system("t"))  # type: ignore[attr-defined]
        assert view.status == "connected" and view.connected_by == OWNER
        problems = page.evaluate("""() => {
          const out = [];
          const levels = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
          if (levels[0] !== 1 || levels.filter(l => l === 1).length !== 1) out.push('h1');
          levels.forEach((l, i) => { if (i && l > levels[i - 1] + 1) out.push(`h${levels[i - 1]} then h${l}`); });
          if (!document.querySelector('main')) out.push('no main landmark');
          return out;
        }""")
        assert problems == []
        page.get_by_role("button", name="Disconnect").click()
        page.wait_for_url("**notice=qbo_disconnected")
        expect(page.locator("#qbo-status")).to_have_text("disconnected")
        assert any(c.path == "/oauth2/v1/tokens/revoke" for c in qbo.calls)
    finally:
        ctx.close()
