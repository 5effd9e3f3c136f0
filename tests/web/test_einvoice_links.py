"""The dashboard's invoice page names the client's e-invoice format and links every format's download."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from domain.model.roles import Role
from tests.einvoice._rules import assert_valid
from tests.web.conftest import Site, query, sign_in


def test_invoice_page_offers_the_einvoices(site: Site, page: Page) -> None:
    row = query(site.db, "SELECT i.id, i.number FROM invoices i JOIN clients c ON c.id = i.client_id "
                         "WHERE c.einvoice_format = 'facturx' AND i.number IS NOT NULL ORDER BY i.id LIMIT 1")[0]
    sign_in(page, site.emails[Role.FINANCE], next_path=f"/app/invoices/{row[0]}")
    expect(page.locator("#receives")).to_contain_text("Factur-X")
    links = page.locator("section[aria-labelledby=einvoice-h] a")
    expect(links).to_have_count(4)
    expect(page.locator("section[aria-labelledby=einvoice-h] .tag")).to_have_text("the client's format")
    href = page.get_by_role("link", name="XRechnung 3.0, UBL 2.1 XML").get_attribute("href")
    assert href == f"/app/invoices/{row[0]}/einvoice?format=xrechnung-ubl"
    # the link works with the dashboard's session (the XML is a valid document, or the refusal names what to add)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    r = httpx.get(f"{site.url}/app/invoices/{row[0]}/einvoice?format=facturx", cookies=cookies, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text[:300]
    assert f'filename="{row[1]}.pdf"' in r.headers["content-disposition"]
    r = httpx.get(f"{site.url}/app/invoices/{row[0]}/einvoice?format=peppol", cookies=cookies, timeout=120)
    assert r.status_code == 200, r.text[:300]
    assert_valid(r.content, "the dashboard's Peppol download", "peppol")
