"""The drift page in a real browser (Chromium through Playwright), on SQLite and PostgreSQL, against the local
QuickBooks: finance sees a payment made in QuickBooks as drift, accepts theirs with the button, and the page then
says both books agree; a client update proposed from QuickBooks is refused with its button."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from channels.http import create_app
from domain.services import accounting_inbound, invoicing, sessions
from tests.accounting.inbound_support import Books, books
from tests.fakes.quickbooks import REALM
from tests.support.server import LiveServer
from tests.web.conftest import PASSWORD, sign_in

__all__ = ["books"]


@pytest.fixture
def page(books: Books, browser: Browser) -> Iterator[Page]:
    server = LiveServer(create_app(books.db, books.settings))
    url = server.start()
    ctx = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()
        server.stop()


def test_finance_accepts_a_payment_made_in_quickbooks_from_the_drift_page(books: Books, page: Page) -> None:
    finance = books.world.actor("finance")
    sessions.set_password(books.db.uow(), books.system, finance.email or "", PASSWORD)
    inv = books.issued()
    r = books.push(inv)
    books.fake.make_payment(r["Id"], "250.00")
    cust = books.api.read("Customer", books.customer_id)
    accounting_inbound.propose_client_update(books.db.uow(), books.system, REALM,
                                             {**cust, "CompanyName": "Initech Holding"}, None)

    sign_in(page, finance.email or "", next_path="/app/accounting/drift")
    expect(page.get_by_role("heading", level=1)).to_have_text("QuickBooks: drift")
    item = page.locator(f"article[data-drift='{inv}']")
    expect(item).to_contain_text("payment not synced")
    expect(item).to_contain_text("balance: ours")
    expect(item.get_by_role("button", name="Re-push ours")).to_have_count(0)   # not a fix for this cause
    item.get_by_role("button", name="Accept theirs").click()
    expect(page.get_by_role("status").or_(page.locator(".notice"))).to_contain_text("accepted")
    expect(page.get_by_text("No drift: both books agree.")).to_be_visible()
    assert books.world.call(invoicing.get_invoice, finance, inv).paid == "250.00"

    prop = page.locator("article[data-proposal]")
    expect(prop).to_contain_text("Initech GmbH → Initech Holding")
    prop.get_by_label("Reason (optional)").fill("not their legal name")
    prop.get_by_role("button", name="Refuse").click()
    expect(page.get_by_text("No client updates waiting.")).to_be_visible()
    (done,) = accounting_inbound.list_proposals(books.db.uow(), finance, "refused")
    assert done.note == "not their legal name"
