"""The dashboard in a real browser: sign in, the overview's numbers against the database, filtering and opening
invoices, approving as finance and failing to as an account manager, events, rules, signing out, CSRF and the
accessibility basics. Tests run in file order on one seeded workspace per backend; the ones that change it say so."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from babel.numbers import format_currency
from playwright.sync_api import Page, expect

from domain.model.money import minor_exponent
from domain.model.roles import Role
from tests.einvoice._rules import assert_valid
from tests.web.conftest import NOW, PASSWORD, Site, csrf_of, query, sign_in, sign_in_as, text_of

TODAY = NOW.date()
OWED = ("issued", "sent", "viewed", "partially_paid")


def _pending(site: Site) -> tuple[int, int]:
    rows = query(site.db, "SELECT id, client_id FROM invoices WHERE status = 'pending_approval' ORDER BY id")
    assert rows, "the demo has an invoice waiting for approval"
    return int(rows[0][0]), int(rows[0][1])


def _money(minor: int, currency: str) -> str:
    return str(format_currency(Decimal(minor).scaleb(-minor_exponent(currency)), currency, locale="en_GB"))


def test_sign_in_shows_the_overview_with_the_numbers_in_the_database(site: Site, page: Page) -> None:
    page.goto("/app/")
    expect(page).to_have_url(re.compile(r"/app/login\?next="))  # not signed in: off to sign in first
    site.shot(page, "login")
    sign_in(page, site.emails[Role.OWNER], password="wrong password!!")
    expect(page.get_by_role("alert")).to_contain_text("wrong e-mail or password")
    sign_in(page, site.emails[Role.OWNER])
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    site.shot(page, "overview")

    rows = query(site.db, "SELECT status, currency, total_minor - paid_minor - credited_minor, due_date, total_minor, "
                          "issue_date, number FROM invoices WHERE kind = 'invoice'")
    by_state: dict[str, int] = defaultdict(int)
    for status, *_ in rows:
        by_state[status] += 1
    for state in ("draft", "pending_approval", "issued", "sent", "viewed", "partially_paid", "paid"):
        shown = text_of(page, f"#states tr[data-state={state}] td.count")
        assert shown == str(by_state[state]), state
    assert sum(by_state.values()) >= 4  # the demo has invoices in several states: the check above means something

    def due(d: object) -> date | None:
        return d if isinstance(d, date) or d is None else date.fromisoformat(str(d))

    owed = [(cur, bal, due(d)) for status, cur, bal, d, *_ in rows if status in OWED and bal > 0]
    overdue = [o for o in owed if o[2] is not None and o[2] < TODAY]
    assert text_of(page, "#states tr[data-state=overdue] td.count") == str(len(overdue))
    assert overdue, "the demo has an overdue invoice"
    buckets: dict[str, int] = defaultdict(int)
    for _cur, _bal, d in owed:
        late = (TODAY - d).days if d is not None else 0
        name = ("current" if late <= 0 else "1-30" if late <= 30 else "31-60" if late <= 60
                else "61-90" if late <= 90 else "90+")
        buckets[name] += 1
    for name in ("current", "1-30", "31-60", "61-90", "90+"):
        assert text_of(page, f"#aging tr[data-bucket='{name}'] td.count") == str(buckets[name]), name

    billed: dict[tuple[str, str], int] = defaultdict(int)
    for status, cur, _bal, _d, total, issued, number in rows:
        if number and status != "void" and issued is not None:
            billed[(str(issued)[:7], cur)] += int(total)
    assert billed, "the demo has issued invoices"
    (month, cur), minor = max(billed.items())
    parked = query(site.db, "SELECT count(*) FROM parked_payments WHERE status = 'parked'")[0][0]
    assert parked == 1 and text_of(page, "[data-need=unmatched_payments] strong") == "1"
    assert text_of(page, "[data-need=dead_events] strong") == "1"
    cell = page.locator(f"table.months[data-currency={cur}] tr[data-month='{month}'] td.billed")
    assert (cell.text_content() or "").strip() == _money(minor, cur)
    expect(page.locator("svg.chart").first).to_be_visible()


def test_filter_invoices_and_open_one(site: Site, page: Page) -> None:
    sign_in_as(page, site, Role.FINANCE, "/app/invoices")
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoices")
    total = query(site.db, "SELECT count(*) FROM invoices WHERE kind = 'invoice'")[0][0]
    expect(page.locator("#result-count")).to_contain_text(f"{total} invoice")
    site.shot(page, "invoices")

    page.get_by_label("Overdue only").check()
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"overdue=1"))
    overdue = query(site.db, "SELECT id FROM invoices WHERE kind = 'invoice' AND status IN "
                             "('issued','sent','viewed','partially_paid') AND due_date < :today AND "
                             "total_minor - paid_minor - credited_minor > 0", today=TODAY)
    assert sorted(int(r) for r in page.locator("#invoices tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.invoice)")) == sorted(int(r[0]) for r in overdue)

    page.goto("/app/invoices")
    page.get_by_label("Number or client").fill("Harbour")
    page.get_by_role("button", name="Filter").click()
    harbour = query(site.db, "SELECT count(*) FROM invoices i JOIN clients c ON c.id = i.client_id "
                             "WHERE i.kind = 'invoice' AND c.name LIKE 'Harbour%'")[0][0]
    assert harbour > 0
    expect(page.locator("#invoices tbody tr")).to_have_count(harbour)
    for name in page.locator("#invoices tbody td:nth-child(2)").all_inner_texts():
        assert name.startswith("Harbour")

    page.get_by_label("Number or client").fill("")
    page.get_by_label("State").select_option("partially_paid")
    page.get_by_role("button", name="Filter").click()
    first = page.locator("#invoices tbody tr a").first
    number = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    expect(page.get_by_role("heading", name="Lines by source")).to_be_visible()
    expect(page.locator(".timeline li").first).to_be_visible()  # the story from the audit log
    expect(page.get_by_role("heading", name="Payments and credit notes")).to_be_visible()
    assert "None yet" not in text_of(page, "section[aria-labelledby=pay-h]")  # part-paid: its payment is listed
    expect(page.locator("#delivery")).to_contain_text("queued to ap@nordwerk.example")
    site.shot(page, "invoice")
    page.locator("table.lines a").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Where this line comes from")
    site.shot(page, "line")


def test_an_account_manager_cannot_approve(site: Site, page: Page) -> None:
    invoice_id, _ = _pending(site)
    sign_in_as(page, site, Role.ACCOUNT_MANAGER, "/app/approvals")
    expect(page.get_by_role("heading", level=1)).to_have_text("Approvals")
    expect(page.get_by_role("button", name="Approve and issue")).to_have_count(0)
    expect(page.get_by_text("Only owners and finance can approve")).to_be_visible()
    site.shot(page, "approvals-account-manager")
    # Even a well-formed post with her own session and token is refused by the service, as in the API.
    page.goto("/app/time")
    resp = page.request.post(f"/app/invoices/{invoice_id}/approve", form={"csrf_token": csrf_of(page), "note": ""})
    assert resp.status in (403, 404)
    assert "cannot approve" in resp.text() or "no invoice" in resp.text()
    assert query(site.db, "SELECT status FROM invoices WHERE id = :i", i=invoice_id)[0][0] == "pending_approval"


# A page-look test (labels, headings, focus order): one database is enough, the pages' store reads run on both in
# test_scope.py (every page, every role) and in the tests above.
@pytest.mark.parametrize("site", ["sqlite"], indirect=True)
def test_the_approval_form_works_by_keyboard(site: Site, page: Page) -> None:
    invoice_id, _ = _pending(site)
    sign_in_as(page, site, Role.FINANCE, "/app/approvals")
    note = page.locator(f"#note-{invoice_id}")
    expect(note).to_be_visible()
    seen: list[str] = []
    for _ in range(40):  # from the top of the page, Tab until the form's first field
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        if seen[-1] == f"note-{invoice_id}":
            break
    assert seen[0] == "Skip to content" and seen[-1] == f"note-{invoice_id}", seen
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert order == ["Approve and issue", f"reason-{invoice_id}", "Reject"]
    # Enter in the reason field submits the reject form; the browser refuses it empty (required): nothing changes.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    assert query(site.db, "SELECT status FROM invoices WHERE id = :i", i=invoice_id)[0][0] == "pending_approval"
    site.shot(page, "approvals-keyboard")


def test_a_form_post_without_the_token_or_with_another_sessions_is_refused(site: Site, page: Page) -> None:
    invoice_id, _ = _pending(site)
    sign_in_as(page, site, Role.FINANCE, "/app/approvals")
    finance_token = csrf_of(page)
    no_token = page.request.post(f"/app/invoices/{invoice_id}/approve", form={"note": "no token"})
    assert no_token.status == 403 and "Form refused" in no_token.text()
    # The owner's own session cannot carry finance's token: tokens belong to one session.
    other = page.context.browser.new_context(base_url=site.url) if page.context.browser else None
    assert other is not None
    try:
        owner = other.new_page()
        sign_in_as(owner, site, Role.OWNER)
        stolen = owner.request.post(f"/app/invoices/{invoice_id}/approve", form={"csrf_token": finance_token})
        assert stolen.status == 403 and "Form refused" in stolen.text()
        # And no session at all: refused too.
        anon = page.context.browser.new_context(base_url=site.url) if page.context.browser else None
        assert anon is not None
        resp = anon.request.post(f"/app/invoices/{invoice_id}/approve", form={"csrf_token": finance_token})
        assert resp.status == 403
        anon.close()
    finally:
        other.close()
    assert query(site.db, "SELECT status FROM invoices WHERE id = :i", i=invoice_id)[0][0] == "pending_approval"


def test_finance_approves_a_flagged_invoice(site: Site, page: Page) -> None:
    """Changes the workspace: the pending invoice is issued."""
    invoice_id, _ = _pending(site)
    sign_in_as(page, site, Role.FINANCE, "/app/approvals")
    site.shot(page, "approvals")
    page.locator(f"#note-{invoice_id}").fill("checked with Lena")
    page.locator(f"article[data-invoice='{invoice_id}']").get_by_role("button", name="Approve and issue").click()
    expect(page.get_by_role("status")).to_have_text("Approved and issued.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Issued")
    status, number = query(site.db, "SELECT status, number FROM invoices WHERE id = :i", i=invoice_id)[0]
    assert status == "issued" and number and number in text_of(page, "h1")
    who = query(site.db, "SELECT actor_label FROM audit_log WHERE subject_type = 'invoice' AND subject_id = :i "
                         "AND action = 'invoice.approved'", i=str(invoice_id))
    assert who == [(site.emails[Role.FINANCE],)]
    expect(page.locator(".timeline")).to_contain_text("invoice.approved")


def test_events_show_payloads_and_retry_a_dead_one(site: Site, page: Page) -> None:
    """Changes the workspace: the dead event is queued again."""
    sign_in_as(page, site, Role.OWNER, "/app/events?status=failed")
    dead = query(site.db, "SELECT id FROM events WHERE status = 'dead'")
    assert len(dead) == 1
    row = page.locator(f"#events tr[data-event='{dead[0][0]}']")
    row.get_by_text("Payload").click()
    expect(row.locator("pre")).to_contain_text("ghost")
    site.shot(page, "events")
    row.get_by_role("button", name=re.compile("Retry")).click()
    expect(page.get_by_role("status")).to_have_text("The event is back in the queue.")
    assert query(site.db, "SELECT status FROM events WHERE id = :i", i=dead[0][0])[0][0] == "received"
    page.goto("/app/events?status=rejected")
    expect(page.locator("#events tbody tr")).to_have_count(1)
    expect(page.locator("#events")).to_contain_text("invoice.exploded")


def test_an_unmatched_payment_is_dismissed_with_a_reason(site: Site, page: Page) -> None:
    """Changes the workspace: the parked payment is dismissed."""
    sign_in_as(page, site, Role.FINANCE, "/app/payments")
    parked = query(site.db, "SELECT id FROM parked_payments WHERE status = 'parked'")
    assert len(parked) == 1
    card = page.locator(f"article[data-parked='{parked[0][0]}']")
    expect(card).to_contain_text("INV-1999-000999")
    site.shot(page, "payments")
    card.get_by_label("Reason for dismissing").fill("not ours: refunded to the sender")
    card.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("status")).to_have_text("Payment dismissed with your reason.")
    assert query(site.db, "SELECT status, dismiss_reason FROM parked_payments WHERE id = :i", i=parked[0][0]) == [
        ("dismissed", "not ours: refunded to the sender")]


RULES_BAD = """rules:
  - id: harvest-hours
    on: time.logged
    action: bill_threshold
    params:
      hours: 20
  - id: broken
    on: time.logged
    action: no_such_action
"""


def test_rules_are_validated_on_save_with_the_error_on_its_line(site: Site, page: Page) -> None:
    sign_in_as(page, site, Role.OWNER, "/app/rules")
    before = query(site.db, "SELECT count(*) FROM rule_sets")[0][0]
    page.get_by_label("Rules (YAML)").fill(RULES_BAD)
    page.get_by_role("button", name="Check and save").click()
    alert = page.locator("#rule-errors")
    expect(alert).to_contain_text("Line 9")
    expect(page.locator("#line-9")).to_have_class("bad")
    expect(page.get_by_label("Rules (YAML)")).to_have_attribute("aria-invalid", "true")
    assert query(site.db, "SELECT count(*) FROM rule_sets")[0][0] == before  # nothing saved
    site.shot(page, "rules-error")


def test_a_contractor_sees_only_their_time(site: Site, page: Page) -> None:
    sign_in_as(page, site, Role.CONTRACTOR)
    expect(page).to_have_url(re.compile(r"/app/time$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your time")
    people = set(page.locator("#time tbody td:nth-child(2)").all_inner_texts())
    assert people and len(people) == 1
    site.shot(page, "time-contractor")
    page.goto("/app/invoices")
    expect(page.get_by_role("alert")).to_contain_text("contractor cannot view books")


def test_a_viewer_can_change_nothing(site: Site, page: Page) -> None:
    invoice_id = query(site.db, "SELECT max(id) FROM invoices")[0][0]
    before = query(site.db, "SELECT status FROM invoices WHERE id = :i", i=invoice_id)[0][0]
    sign_in_as(page, site, Role.VIEWER, "/app/rules")
    expect(page.get_by_role("button", name="Check and save")).to_have_count(0)  # read-only view
    token = csrf_of(page)  # the sign-out form's: a valid token of her own session
    for path, form in ((f"/app/invoices/{invoice_id}/approve", {}), (f"/app/invoices/{invoice_id}/reject",
                                                                     {"reason": "no"}),
                       ("/app/rules", {"text": "rules: []\n"}), ("/app/events/1/retry", {})):
        resp = page.request.post(path, form={"csrf_token": token, **form})
        assert resp.status == 403 and "viewer cannot" in resp.text(), path
    assert query(site.db, "SELECT status FROM invoices WHERE id = :i", i=invoice_id)[0][0] == before


def test_the_owner_edits_the_seller_and_a_wrong_iban_changes_nothing(site: Site, page: Page) -> None:
    sign_in_as(page, site, Role.OWNER, "/app/settings")
    expect(page.get_by_label("Legal name")).to_have_value("Brightline IT Services GmbH")
    expect(page.get_by_label("IBAN")).to_have_value("DE02 6005 0101 7495 5301 02")
    before = query(site.db, "SELECT bank_account_iban, registration FROM workspace")[0]
    page.get_by_label("IBAN").fill("DE02 6005 0101 7495 5301 03")
    page.get_by_label("Registration").fill("HRB 1, Amtsgericht Stuttgart")
    page.get_by_role("button", name="Check and save").click()
    expect(page.locator("#seller-error")).to_contain_text("bank_account.iban")
    expect(page.get_by_label("IBAN")).to_have_attribute("aria-invalid", "true")
    assert query(site.db, "SELECT bank_account_iban, registration FROM workspace")[0] == before
    page.get_by_label("IBAN").fill("DE02 6005 0101 7495 5301 02")
    page.get_by_label("Registration").fill("HRB 765432, Amtsgericht Stuttgart")
    page.get_by_label("Phone").fill("+49 711 2205 3141")
    page.get_by_role("button", name="Check and save").click()
    expect(page.get_by_role("status")).to_have_text("Seller details saved.")
    assert query(site.db, "SELECT contact_phone FROM workspace")[0][0] == "+49 711 2205 3141"
    site.shot(page, "settings-seller")


def test_finance_sees_the_seller_read_only(site: Site, page: Page) -> None:
    sign_in_as(page, site, Role.FINANCE, "/app/settings")
    expect(page.get_by_label("VAT ID")).to_have_value("DE147820932")
    expect(page.get_by_role("button", name="Check and save")).to_have_count(0)
    resp = page.request.post("/app/settings", form={"csrf_token": csrf_of(page), "vat_id": "DE287654324"})
    assert resp.status == 403 and "only owners" in resp.text()
    assert query(site.db, "SELECT vat_id FROM workspace")[0][0] == "DE147820932"


# A page-look test (labels, headings, focus order): one database is enough, the pages' store reads run on both in
# test_scope.py (every page, every role) and in the tests above.
@pytest.mark.parametrize("site", ["sqlite"], indirect=True)
def test_pages_have_labels_and_headings_in_order(site: Site, page: Page) -> None:
    invoice_id = query(site.db, "SELECT min(id) FROM invoices")[0][0]
    pages = ["/app/login", "/app/", "/app/invoices", f"/app/invoices/{invoice_id}", "/app/approvals", "/app/events",
             "/app/rules", "/app/pilot", "/app/time", "/app/payments?status=all", "/app/settings"]
    for path in pages:
        if path == "/app/login":
            page.goto(path)  # signed out: the sign-in page itself
            expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        elif path == "/app/":
            sign_in_as(page, site, Role.OWNER, path)
        else:
            page.goto(path)
        problems = page.evaluate("""() => {
          const out = [];
          for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
            const byFor = el.id && document.querySelector(`label[for="${el.id}"]`);
            if (!byFor && !el.closest('label') && !el.getAttribute('aria-label')) out.push('unlabelled ' + el.name);
          }
          const levels = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
          if (levels[0] !== 1) out.push('first heading is h' + levels[0]);
          if (levels.filter(l => l === 1).length !== 1) out.push('not exactly one h1');
          levels.forEach((l, i) => { if (i && l > levels[i - 1] + 1) out.push(`h${levels[i - 1]} then h${l}`); });
          if (!document.documentElement.lang) out.push('no lang');
          if (!document.querySelector('main')) out.push('no main landmark');
          return out;
        }""")
        assert problems == [], (path, problems)


def test_sign_out_ends_the_session(site: Site, page: Page) -> None:
    sign_in(page, site.emails[Role.VIEWER])
    cookie = next(c for c in page.context.cookies() if c["name"] == "billable_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain http here
    site.shot(page, "overview-viewer")
    expect(page.get_by_role("button", name="Approve and issue")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/app/")
    expect(page).to_have_url(re.compile(r"/app/login"))
    # The old cookie, replayed, is dead: the session was revoked on the server.
    replay = page.context.browser.new_context(base_url=site.url) if page.context.browser else None
    assert replay is not None
    try:
        replay.add_cookies([{**cookie}])  # type: ignore[typeddict-item]
        r = replay.request.get("/app/", max_redirects=0)
        assert r.status == 303 and "/app/login" in r.headers["location"]
    finally:
        replay.close()


def test_failed_sign_ins_are_throttled(site: Site, page: Page) -> None:
    email = "nobody-" + site.backend + "@brightline.example"
    for _ in range(5):
        sign_in(page, email, password="not the password")
        expect(page.get_by_role("alert")).to_contain_text("wrong e-mail or password")
    sign_in(page, email, password=PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("too many failed sign-ins")
    # the lock is on this e-mail from this address (the account alone only ever adds a short delay)
    until = query(site.db, "SELECT locked_until FROM login_throttle WHERE email LIKE :e", e=f"pair:{email}|%")[0][0]
    assert until is not None and str(until) > str(NOW - timedelta(seconds=1))[:10]


def test_the_session_cookie_is_secure_over_https(site: Site) -> None:
    """Behind a TLS-terminating proxy (X-Forwarded-Proto: https) the cookies get Secure as well."""
    with httpx.Client(base_url=site.url, headers={"X-Forwarded-Proto": "https"}) as client:
        form = client.get("/app/login")
        assert "Secure" in form.headers["set-cookie"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        signed = client.post("/app/login", headers={"Cookie": f"billable_login_csrf={token.group(1)}"},
                             data={"csrf_token": token.group(1), "email": site.emails[Role.VIEWER],
                                   "password": PASSWORD, "next": "/app/"})
        assert signed.status_code == 303
        cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("billable_session="))
        assert {"HttpOnly", "Secure", "SameSite=lax"} <= {p.strip() for p in cookie.split(";")}


def test_invoice_page_offers_the_einvoices(site: Site, page: Page) -> None:
    """The invoice page names the client's e-invoice format and links every format's download (issue 12)."""
    row = query(site.db, "SELECT i.id, i.number FROM invoices i JOIN clients c ON c.id = i.client_id "
                         "WHERE c.einvoice_format = 'facturx' AND i.number IS NOT NULL ORDER BY i.id LIMIT 1")[0]
    sign_in_as(page, site, Role.FINANCE, f"/app/invoices/{row[0]}")
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
