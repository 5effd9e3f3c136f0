"""The dashboard's client pages (issue 13) and DATEV download (issue 16) in a real browser, on both databases.

One walk from the list to a client to an amendment previewed (the domain's own dry run, shown before anything is
saved) and saved; archiving that hides a client until asked for, with adding and editing a client; an account
manager's proposal that finance approves; the DATEV file that equals the API's. The other forms (add, end, reopen,
cancel a milestone) over plain HTTP. Tests run in file order on one seeded workspace per backend."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from channels.web._clients import _client_patch, _client_values, _term_changes
from channels.web._render import money
from domain.model.roles import Actor, Role
from domain.services import contracts, users
from domain.services.views import ArrangementView, ClientView
from tests.web.conftest import PASSWORD, Site, query, sign_in_as, text_of


def _client_id(site: Site, prefix: str) -> int:
    return int(query(site.db, "SELECT id FROM clients WHERE name LIKE :n", n=prefix + "%")[0][0])


def _arrangement_id(site: Site, name: str) -> int:
    return int(query(site.db, "SELECT id FROM arrangements WHERE name = :n", n=name)[0][0])


def _versions(site: Site, arrangement_id: int) -> list[tuple[int, str]]:
    return [(int(n), str(s)) for n, s in query(
        site.db, "SELECT number, status FROM arrangement_versions WHERE arrangement_id = :a ORDER BY number",
        a=arrangement_id)]


def _counts(site: Site) -> list[object]:
    return [query(site.db, f"SELECT count(*) FROM {t}")[0][0]
            for t in ("audit_log", "arrangement_versions", "arrangement_adjustments", "clients", "arrangements")]


def test_finance_amends_a_subscription_after_seeing_the_preview(site: Site, page: Page) -> None:
    nordwerk = _client_id(site, "Nordwerk")
    sub = _arrangement_id(site, "Endpoint protection")
    sign_in_as(page, site, Role.FINANCE, "/app/clients")
    expect(page.get_by_role("heading", level=1)).to_have_text("Clients")
    active = query(site.db, "SELECT count(*) FROM clients WHERE archived_at IS NULL")[0][0]
    expect(page.locator("#clients tbody tr")).to_have_count(active)
    site.shot(page, "clients")
    page.get_by_label("Name", exact=True).fill("nordwerk")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#clients tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Nordwerk Maschinenbau GmbH").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nordwerk Maschinenbau GmbH")
    expect(page.locator("#client-vat")).to_have_text("DE287654324")  # the legal (buyer) fields
    expect(page.locator("#client-address")).to_contain_text("73760 Ostfildern")
    owed = query(site.db, "SELECT count(*) FROM invoices WHERE client_id = :c AND kind = 'invoice' AND status IN "
                          "('draft','pending_approval','issued','sent','viewed','partially_paid')", c=nordwerk)[0][0]
    expect(page.locator("#open-invoices tbody tr[data-invoice]")).to_have_count(owed)
    site.shot(page, "client")

    page.get_by_role("link", name="Amend terms of Endpoint protection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Amend Endpoint protection")
    expect(page.get_by_label("Seats")).to_have_value("52")  # the terms in force, from the demo's amendment
    before = _counts(site)
    # bad input: the 422 message beside its field, nothing changed
    page.get_by_label("Takes effect on").fill("2026-04-15")
    page.get_by_label("Seats").fill("0")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_label("Seats")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-terms\\.seats")).to_contain_text("greater than or equal to 1")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    assert _counts(site) == before

    page.get_by_label("Seats").fill("56")
    page.get_by_label("Reason").fill("Werk 3 opens")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_be_visible()
    site.shot(page, "amend-preview")
    assert _counts(site) == before  # a preview keeps nothing
    # what is shown is the domain's own dry run of the same change, line for line
    expected = contracts.amend_arrangement(site.db.uow(), Actor.system("tests"), nordwerk, sub, {
        "effective_on": "2026-04-15", "terms": {"seats": 56}, "reason": "Werk 3 opens"}, dry_run=True).preview
    shown = [re.sub(r"\s+", " ", t).strip() for t in page.locator("#preview tbody tr").all_inner_texts()]
    goes = {"next_invoice": "the next invoice", "credit_note": "a credit note against the invoice that billed it"}
    want = [f"{x.period.replace('..', ' – ')} {x.description} {goes[x.disposition]} {money(x.amount, x.currency)}"
            for x in expected.adjustments] + \
           [f"{ln.description} {ln.terms_version or ''} {money(ln.amount, expected.currency)}".replace("  ", " ")
            for ln in expected.next_lines]
    assert expected.next_lines and shown == want

    # changed after the preview: Save previews the new values again instead of saving them unseen
    page.get_by_label("Seats").fill("57")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#preview")).to_be_visible()
    assert _counts(site) == before
    page.get_by_label("Seats").fill("56")
    page.get_by_role("button", name="Preview again").click()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Amendment saved: the new terms apply from their date.")
    number = max(n for n, _ in _versions(site, sub))
    assert (number, "active") in _versions(site, sub)
    row = page.locator(f"#arr-{sub} table.versions tr[data-version='{number}']")
    expect(row).to_contain_text("seats 52 → 56")
    expect(row).to_contain_text("2026-04-15")
    expect(row).to_contain_text(site.emails[Role.FINANCE])
    page.locator(f"#arr-{sub} summary").click()
    expect(page.locator(f"#arr-{sub} .timeline li[data-action='arrangement.amended']").last).to_contain_text("56")


def test_archived_clients_are_hidden_until_asked_for(site: Site, page: Page) -> None:
    """Also adds a client (a refusal first, beside its field) and edits one."""
    sign_in_as(page, site, Role.OWNER, "/app/clients")
    before = _counts(site)
    page.get_by_label("Legal name").fill("Fjord Data AS")
    page.get_by_label("Currency").fill("NOK")
    page.get_by_label("Tax treatment").select_option("reverse_charge")
    page.get_by_label("Country", exact=True).fill("NO")
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_label("VAT ID")).to_have_attribute("aria-invalid", "true")  # reverse charge needs one
    expect(page.get_by_role("alert")).to_contain_text("vat_id")
    assert _counts(site) == before
    page.get_by_label("VAT ID").fill("NO923609016MVA")
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fjord Data AS")
    fjord = _client_id(site, "Fjord")
    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("City").fill("Bergen")
    page.get_by_role("button", name="Save details").click()
    expect(page.locator("#client-address")).to_contain_text("Bergen")
    assert query(site.db, "SELECT address_city FROM clients WHERE id = :c", c=fjord)[0][0] == "Bergen"

    page.get_by_label("Reason for archiving (optional)").fill("contract not renewed")
    page.get_by_role("button", name="Archive").click()
    expect(page.locator("#archived-note")).to_be_visible()
    assert query(site.db, "SELECT archived_at FROM clients WHERE id = :c", c=fjord)[0][0] is not None
    page.goto("/app/clients")
    expect(page.locator(f"#clients tr[data-client='{fjord}']")).to_have_count(0)
    page.get_by_label("Show archived clients").check()
    page.get_by_role("button", name="Search").click()
    expect(page.locator(f"#clients tr[data-client='{fjord}']")).to_contain_text("Archived")
    site.shot(page, "clients-archived")
    page.get_by_role("link", name="Fjord Data AS").click()
    page.get_by_role("button", name="Reactivate").click()
    page.goto("/app/clients")
    expect(page.locator(f"#clients tr[data-client='{fjord}']")).to_contain_text("Active")
    actions = [a for (a,) in query(site.db, "SELECT action FROM audit_log WHERE subject_type = 'client' AND "
                                            "subject_id = :c ORDER BY seq", c=str(fjord))]
    assert actions == ["client.created", "client.updated", "client.archived", "client.reactivated"]


def test_an_account_managers_amendment_waits_for_finance(site: Site, browser: Browser, page: Page) -> None:
    retainer = _arrangement_id(site, "Managed IT services")
    sign_in_as(page, site, Role.ACCOUNT_MANAGER, "/app/clients")
    names = page.locator("#clients tbody td:first-child").all_inner_texts()
    assert names and not any(n.startswith("Harbour") for n in names)  # their own clients only
    page.get_by_role("link", name="Nordwerk Maschinenbau GmbH").click()
    expect(page.get_by_role("button", name="Archive")).to_have_count(0)
    page.get_by_role("link", name="Propose an amendment of Managed IT services").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Propose an amendment to Managed IT services")
    page.get_by_label("Takes effect on").fill("2026-05-01")
    page.get_by_label("Fee per period").fill("6900.00")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text("6,900.00")
    page.get_by_role("button", name="Propose").click()
    expect(page.get_by_role("status")).to_contain_text("waits for finance")
    number, status = _versions(site, retainer)[-1]
    assert status == "proposed"
    expect(page.locator(f"#arr-{retainer} tr[data-version='{number}']")).to_contain_text("Pending approval")
    expect(page.get_by_role("button", name="Approve amendment")).to_have_count(0)
    fee = query(site.db, "SELECT terms FROM arrangements WHERE id = :a", a=retainer)[0][0]
    assert "6500.00" in str(fee)  # not in force until finance says so

    ctx = browser.new_context(base_url=site.url)
    try:
        fin = ctx.new_page()
        sign_in_as(fin, site, Role.FINANCE, "/app/approvals")
        fin.locator("#proposals a", has_text="Managed IT services").click()
        card = fin.locator("#proposals article").filter(has_text="Managed IT services")
        expect(card).to_contain_text("fee: 6500.00 → 6900.00")
        expect(card.locator(".preview")).to_contain_text("6,900.00")  # what approving it will bill
        site.shot(fin, "amendment-proposal")
        card.get_by_role("button", name="Approve amendment").click()
        expect(fin.get_by_role("status")).to_have_text("Amendment approved: it is in force.")
        expect(fin.locator(f"#arr-{retainer} tr[data-version='{number}']")).to_contain_text("Active")
    finally:
        ctx.close()
    assert _versions(site, retainer)[-1] == (number, "active")
    assert query(site.db, "SELECT decided_by FROM arrangement_versions WHERE arrangement_id = :a AND number = :n",
                 a=retainer, n=number)[0][0] == site.emails[Role.FINANCE]


def test_finance_downloads_the_datev_file_the_api_gives(site: Site, page: Page) -> None:
    month = str(query(site.db, "SELECT min(issue_date) FROM invoices WHERE currency = 'GBP' AND issue_date IS NOT "
                               "NULL")[0][0])[:7]
    sign_in_as(page, site, Role.FINANCE, "/app/exports")
    expect(page.get_by_role("heading", level=1)).to_have_text("Exports")
    page.get_by_label("Month").fill(month)
    page.get_by_role("button", name="Download DATEV file").click()
    expect(page.get_by_label("Exchange rates (for documents not in EUR)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-rates")).to_contain_text("GBP")
    site.shot(page, "exports")
    page.get_by_label("Exchange rates (for documents not in EUR)").fill("GBP:0.8612")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download DATEV file").click()
    download = dl.value
    assert download.suggested_filename == f"EXTF_Buchungsstapel_{month}.csv"
    ours = download.path().read_bytes()
    token = users.rotate_token(site.db.uow(), Actor.system("tests"), site.emails[Role.FINANCE])
    api = httpx.get(f"{site.url}/v1/exports/datev", params={"month": month, "rates": "GBP:0.8612"},
                    headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert api.status_code == 200 and ours == api.content
    assert ours.startswith(b'"EXTF";') and ours.count(b"\r\n") >= 3  # header, columns, bookings

    sign_in_as(page, site, Role.VIEWER)
    assert "Exports" not in text_of(page, "header nav")
    assert page.goto("/app/exports").status == 403  # type: ignore[union-attr]


def _signed_in(site: Site, role: Role) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=site.url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/app/login").text)
    assert token
    r = c.post("/app/login", data={"email": site.emails[role], "password": PASSWORD,
                                   "csrf_token": token.group(1), "next": "/app/clients"})
    assert r.status_code == 303
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/app/clients").text)
    assert csrf
    return c, csrf.group(1)


def test_add_end_reopen_and_cancel_over_the_forms(site: Site) -> None:
    harbour = _client_id(site, "Harbour")
    c, csrf = _signed_in(site, Role.OWNER)
    try:
        r = c.post(f"/app/clients/{harbour}/arrangements", data={
            "csrf_token": csrf, "kind": "subscription", "name": "Backup", "starts_on": "2026-03-01",
            "product": "Cloud backup", "seats": "10", "unit_price": "4.005", "cycle": "monthly"})
        assert r.status_code == 422 and 'id="err-unit_price"' in r.text  # GBP has 2 places
        form = {"csrf_token": csrf, "kind": "subscription", "name": "Backup", "starts_on": "2026-03-01",
                "product": "Cloud backup", "seats": "10", "unit_price": "4.00", "cycle": "monthly"}
        before = _counts(site)
        r = c.post(f"/app/clients/{harbour}/arrangements", data=form)
        previewed = re.search(r'name="previewed" value="([^"]+)"', r.text)
        assert r.status_code == 200 and previewed and 'id="preview"' in r.text and "£40.00" in r.text
        assert _counts(site) == before
        r = c.post(f"/app/clients/{harbour}/arrangements", data={**form, "step": "save",
                                                                 "previewed": previewed.group(1)})
        assert r.status_code == 303
        backup = _arrangement_id(site, "Backup")
        base = f"/app/clients/{harbour}/arrangements/{backup}"
        before = _counts(site)
        form = {"csrf_token": csrf, "ends_on": "2026-04-15", "reason": "moved to their own NAS"}
        r = c.post(f"{base}/end", data=form)
        assert r.status_code == 200 and 'id="preview"' in r.text and "Save" in r.text
        assert _counts(site) == before
        previewed = re.search(r'name="previewed" value="([^"]+)"', r.text)
        assert previewed
        r = c.post(f"{base}/end", data={**form, "step": "save", "previewed": previewed.group(1)})
        assert r.status_code == 303
        assert query(site.db, "SELECT ends_on FROM arrangements WHERE id = :a", a=backup)[0][0] in (
            date(2026, 4, 15), "2026-04-15")
        r = c.post(f"{base}/reopen", data={"csrf_token": csrf, "reopens_on": "2026-04-10", "was.seats": "10",
                                           "terms.seats": "10"})
        assert r.status_code == 422 and 'aria-invalid="true" aria-describedby="err-reopens_on"' in r.text
        form = {"csrf_token": csrf, "reopens_on": "2026-06-01", "was.seats": "10", "terms.seats": "12"}
        r = c.post(f"{base}/reopen", data=form)
        previewed = re.search(r'name="previewed" value="([^"]+)"', r.text)
        assert r.status_code == 200 and previewed and "£48.00" in r.text  # 12 seats at 4.00, from the domain
        r = c.post(f"{base}/reopen", data={**form, "step": "save", "previewed": previewed.group(1)})
        assert r.status_code == 303
        assert _versions(site, backup)[-1][1] == "active" and query(
            site.db, "SELECT ends_on FROM arrangements WHERE id = :a", a=backup)[0][0] is None

        milestone = int(query(site.db, "SELECT id FROM milestones WHERE name LIKE 'Phase 3%'")[0][0])
        nordwerk = _client_id(site, "Nordwerk")
        r = c.post(f"/app/clients/{nordwerk}/milestones/{milestone}/cancel", data={"csrf_token": csrf,
                                                                                  "reason": " "})
        assert r.status_code == 422 and "reason" in r.text
        r = c.post(f"/app/clients/{nordwerk}/milestones/{milestone}/cancel", data={
            "csrf_token": csrf, "reason": "Wi-Fi done by the landlord"})
        assert r.status_code == 303
        assert query(site.db, "SELECT cancel_reason FROM milestones WHERE id = :m", m=milestone)[0][0] == \
            "Wi-Fi done by the landlord"
    finally:
        c.close()


# A page-look test (labels, headings, focus order): one database is enough, the pages' store reads run on both in
# test_scope.py (every page, every role) and in the tests above.
@pytest.mark.parametrize("site", ["sqlite"], indirect=True)
def test_client_pages_have_labels_and_headings_in_order(site: Site, page: Page) -> None:
    nordwerk = _client_id(site, "Nordwerk")
    sub = _arrangement_id(site, "Endpoint protection")
    sign_in_as(page, site, Role.OWNER)
    for path in ["/app/clients", f"/app/clients/{nordwerk}", f"/app/clients/{nordwerk}/edit",
                 f"/app/clients/{nordwerk}/arrangements/new?kind=time_and_materials",
                 f"/app/clients/{nordwerk}/arrangements/{sub}/amend", f"/app/clients/{nordwerk}/arrangements/{sub}/end",
                 "/app/exports", "/app/approvals"]:
        page.goto(path)
        problems = page.evaluate("""() => {
          const out = [];
          for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
            const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
            if (!byFor && !el.closest('label') && !el.getAttribute('aria-label')) out.push('unlabelled ' + el.name);
          }
          const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
          if (new Set(ids).size !== ids.length) out.push('duplicate ids');
          const levels = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
          if (levels[0] !== 1) out.push('first heading is h' + levels[0]);
          if (levels.filter(l => l === 1).length !== 1) out.push('not exactly one h1');
          levels.forEach((l, i) => { if (i && l > levels[i - 1] + 1) out.push(`h${levels[i - 1]} then h${l}`); });
          return out;
        }""")
        assert problems == [], (path, problems)
    sign_in_as(page, site, Role.VIEWER, f"/app/clients/{nordwerk}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nordwerk Maschinenbau GmbH")
    expect(page.locator("main form")).to_have_count(0)  # a viewer reads, and changes nothing
    expect(page.locator("main a", has_text="Amend")).to_have_count(0)


def test_the_edit_form_sends_only_what_changed_and_codes_are_text() -> None:
    """A postcode 1234 -> 01234 is a change (codes are text), a profile keeps its section rates, and an amount
    retyped as 7.5 for 7.50 is not an amendment."""
    old = ClientView(id=1, name="A", currency="EUR", billing_emails=[], payment_terms_days=30,
                     tax_profile={"mode": "standard", "region": "DE", "rate": "19", "section_rates": {"hw": "7"},
                                  "exemption_reason": ""}, po_required=False, po_number="", locale="de_DE",
                     account_manager_ids=[], created_at=datetime(2026, 1, 1, tzinfo=UTC),
                     address={"postcode": "1234", "city": "X"})
    v = _client_values(old)
    assert _client_patch(old, v, None) == {}
    patch = _client_patch(old, {**v, "address.postcode": "01234", "tax_profile.rate": "7"}, None)
    assert patch == {"address": {"postcode": "01234"}, "tax_profile": {
        "mode": "standard", "region": "DE", "rate": "7", "section_rates": {"hw": "7"}}}
    sub = ArrangementView(id=1, client_id=1, kind="subscription", name="S", terms={}, starts_on=None, ends_on=None,
                          active=True)
    assert _term_changes(sub, {"was.unit_price": "7.50", "terms.unit_price": "7.5", "was.seats": "52",
                               "terms.seats": "56"}) == {"seats": "56"}
