"""Every dashboard route and every document export held to the same scope test as the API's RBAC matrix
(tests/services/test_rbac.py): each role against each route, over real HTTP. A refused route says so with 403 (or
404 for another client's object) and changes nothing; an account manager never sees a client that is not theirs,
on any page, in any export, whatever ids they put in the URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.routing import Route

from channels.web._routes import router
from domain.model.roles import Actor, Role
from domain.services import users
from tests.web.conftest import Site, query, session_cookie

FOREIGN = "Harbour & Finch"  # the demo's one client that is not the account manager's
LETTERS = {Role.OWNER: "O", Role.FINANCE: "F", Role.ACCOUNT_MANAGER: "A", Role.CONTRACTOR: "C", Role.VIEWER: "V"}


@dataclass
class Ids:
    invoice: int        # Harbour's (not the account manager's)
    line: int
    pending: int        # Harbour's invoice waiting for approval, or any Harbour invoice
    parked: int
    event: int
    period: str         # a month in which Harbour has invoices
    client: int = 0     # Harbour itself, one of its arrangements, a version of its terms
    arrangement: int = 0
    version: int = 0
    milestone: int = 0  # any milestone (Harbour has none): refusals come before it is looked up


def ids_of(site: Site) -> Ids:
    inv = query(site.db, "SELECT i.id, i.period_start FROM invoices i JOIN clients c ON c.id = i.client_id "
                         "WHERE c.name LIKE 'Harbour%' AND i.period_start IS NOT NULL ORDER BY i.id")
    assert inv, "the demo has invoices for Harbour & Finch"
    line = query(site.db, "SELECT id FROM invoice_lines WHERE invoice_id = :i ORDER BY id", i=inv[0][0])
    parked = query(site.db, "SELECT id FROM parked_payments ORDER BY id")
    event = query(site.db, "SELECT id FROM events ORDER BY id")
    client = query(site.db, "SELECT id FROM clients WHERE name LIKE 'Harbour%'")
    arrangement = query(site.db, "SELECT id FROM arrangements WHERE client_id = :c AND kind = 'retainer'",
                        c=client[0][0])
    version = query(site.db, "SELECT id FROM arrangement_versions WHERE arrangement_id = :a", a=arrangement[0][0])
    milestone = query(site.db, "SELECT id FROM milestones ORDER BY id")
    return Ids(int(inv[0][0]), int(line[0][0]), int(inv[-1][0]), int(parked[0][0]), int(event[0][0]),
               str(inv[0][1])[:7], int(client[0][0]), int(arrangement[0][0]), int(version[0][0]),
               int(milestone[-1][0]))


# (method, path as the router declares it, who may: O owner F finance A account manager C contractor V viewer).
# Pages with ids are asked for with another client's ids (Harbour's), so an account manager must get 404 there.
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/app/", "OFAV"),
    ("GET", "/app/invoices", "OFAV"),
    ("GET", "/app/invoices/{invoice_id}", "OFV"),
    ("GET", "/app/invoices/{invoice_id}/lines/{line_id}", "OFV"),
    ("GET", "/app/invoices/{invoice_id}/einvoice", "OFV"),
    ("GET", "/app/settings", "OF"),
    ("GET", "/app/approvals", "OFAV"),
    ("GET", "/app/payments", "OF"),
    ("GET", "/app/events", "OF"),
    ("GET", "/app/rules", "OFAV"),
    ("GET", "/app/pilot", "OFAV"),
    ("GET", "/app/time", "OFACV"),
    ("POST", "/app/invoices/{invoice_id}/approve", "OF"),
    ("POST", "/app/invoices/{invoice_id}/reject", "OF"),
    ("POST", "/app/payments/{parked_id}/apply", "OF"),
    ("POST", "/app/payments/{parked_id}/dismiss", "OF"),
    ("POST", "/app/events/{event_id}/retry", "OF"),
    ("POST", "/app/rules", "OF"),
    ("POST", "/app/pilot", "OFAV"),
    ("POST", "/app/settings", "OF"),
    # clients (issue 13): as the API's /v1/clients; an account manager's own clients only (Harbour is not theirs)
    ("GET", "/app/clients", "OFAV"),
    ("GET", "/app/clients/{client_id}", "OFV"),
    ("GET", "/app/clients/{client_id}/edit", "OF"),
    ("GET", "/app/clients/{client_id}/arrangements/new", "OF"),
    ("GET", "/app/clients/{client_id}/arrangements/{arrangement_id}/amend", "OF"),
    ("GET", "/app/clients/{client_id}/arrangements/{arrangement_id}/end", "OF"),
    ("GET", "/app/clients/{client_id}/arrangements/{arrangement_id}/reopen", "OF"),
    ("POST", "/app/clients", "OF"),
    ("POST", "/app/clients/{client_id}/edit", "OF"),
    ("POST", "/app/clients/{client_id}/archive", "OF"),
    ("POST", "/app/clients/{client_id}/reactivate", "OF"),
    ("POST", "/app/clients/{client_id}/arrangements", "OF"),
    ("POST", "/app/clients/{client_id}/arrangements/{arrangement_id}/amend", "OF"),
    ("POST", "/app/clients/{client_id}/arrangements/{arrangement_id}/end", "OF"),
    ("POST", "/app/clients/{client_id}/arrangements/{arrangement_id}/reopen", "OF"),
    ("POST", "/app/clients/{client_id}/milestones/{milestone_id}/cancel", "OF"),
    ("POST", "/app/amendments/{version_id}/approve", "OF"),
    ("POST", "/app/amendments/{version_id}/reject", "OF"),
    # the DATEV download (issue 16): Perm.EXPORT_BOOKS, as GET /v1/exports/datev
    ("GET", "/app/exports", "OF"),
    ("GET", "/app/exports/datev", "OF"),
    # the book import (issue 13): as POST /v1/imports, owners and finance
    ("GET", "/app/import", "OF"),
    ("GET", "/app/import/template", "OF"),
    ("POST", "/app/import", "OF"),
    ("POST", "/app/import/commit", "OF"),
    # the QuickBooks connection (issue 16): the page EXPORT_BOOKS, connecting MANAGE_COMPANY, retrying MANAGE_SETTINGS
    ("GET", "/app/accounting", "OF"),
    ("GET", "/app/accounting/connect", "O"),
    ("GET", "/app/accounting/quickbooks/callback", "O"),
    ("POST", "/app/accounting/disconnect", "O"),
    ("POST", "/app/accounting/retry", "OF"),
    # QuickBooks drift and the client updates proposed from there (issue 16): Perm.EXPORT_BOOKS / MANAGE_CLIENTS
    ("GET", "/app/accounting/drift", "OF"),
    ("POST", "/app/accounting/drift/{invoice_id}/repush", "OF"),
    ("POST", "/app/accounting/drift/{invoice_id}/accept", "OF"),
    ("POST", "/app/accounting/proposals/{proposal_id}/accept", "OF"),
    ("POST", "/app/accounting/proposals/{proposal_id}/refuse", "OF"),
]
# Sign-in and sign-out are for everyone (and tested in test_dashboard.py).
OPEN = {("GET", "/app/login"), ("POST", "/app/login"), ("POST", "/app/logout")}
# The API's document exports, asked for with a bearer token.
EXPORTS: list[tuple[str, str, str]] = [
    ("GET", "/v1/invoices/{invoice_id}/html", "OFV"),
    ("GET", "/v1/invoices/{invoice_id}/pdf", "OFV"),
    ("GET", "/v1/invoices/{invoice_id}/delivery", "OFV"),
    ("GET", "/v1/invoices/{invoice_id}/einvoice", "OFV"),
    ("GET", "/v1/exports/datev?month={period}", "OF"),
]


def test_the_table_names_every_dashboard_route() -> None:
    declared = {(m, r.path) for r in router.routes if isinstance(r, Route) for m in (r.methods or ()) if m != "HEAD"}
    assert declared == {(m, p) for m, p, _ in ROUTES} | OPEN


def _csrf(c: httpx.Client) -> str:
    for path in ("/app/time", "/app/"):
        m = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text)
        if m:
            return m.group(1)
    raise AssertionError("no form with a CSRF token")


def _snapshot(site: Site) -> list[object]:
    return [query(site.db, f"SELECT count(*) FROM {t}")[0][0]
            for t in ("audit_log", "invoices", "payments", "parked_payments", "jobs", "clients", "arrangements",
                      "arrangement_versions", "arrangement_adjustments")] + \
        query(site.db, "SELECT id, archived_at, name FROM clients ORDER BY id") + \
        query(site.db, "SELECT id, ends_on FROM arrangements ORDER BY id") + \
        query(site.db, "SELECT id, cancelled_on FROM milestones ORDER BY id") + \
        query(site.db, "SELECT id, status FROM invoices ORDER BY id") + \
        query(site.db, "SELECT id, status FROM parked_payments ORDER BY id")


@pytest.fixture
def ids(site: Site) -> Ids:
    return ids_of(site)


@pytest.fixture(params=list(LETTERS), ids=[r.value for r in LETTERS])
def role(request: pytest.FixtureRequest) -> Role:
    r: Role = request.param
    return r


@pytest.fixture
def browser_of(site: Site, role: Role) -> Iterator[httpx.Client]:
    """A client with the role's session (signed in once per module over the real route, see session_cookie)."""
    with httpx.Client(base_url=site.url, timeout=30,
                      cookies={"billable_session": session_cookie(site, role)["value"]}) as c:
        yield c


def test_every_role_against_every_dashboard_page(site: Site, ids: Ids, role: Role,
                                                 browser_of: httpx.Client) -> None:
    letter = LETTERS[role]
    wrong: list[str] = []
    for method, path, allowed in ROUTES:
        if method != "GET":
            continue
        url = path.format(invoice_id=ids.invoice, line_id=ids.line, client_id=ids.client, proposal_id=1,
                          arrangement_id=ids.arrangement)
        if path in ("/app/pilot", "/app/exports/datev"):
            url += f"?period={ids.period}&month={ids.period}&rates=GBP:0.8612"
        r = browser_of.get(url)
        if letter in allowed:
            # may see it: never refused as not theirs (an e-invoice may still say what the seller must fill in)
            if r.status_code in (401, 403, 404) or r.status_code >= 500:
                wrong.append(f"{path}: {r.status_code}, but a {role.value} may see it")
        elif role == Role.CONTRACTOR and path == "/app/" and r.status_code == 303:
            pass  # contractors land on their own time
        elif r.status_code not in (403, 404):
            wrong.append(f"{path}: {r.status_code}, but a {role.value} may not see it")
        if role == Role.ACCOUNT_MANAGER and (FOREIGN in r.text or "Harbour &amp; Finch" in r.text):
            wrong.append(f"{path}: shows another client ({FOREIGN}) to an account manager")
    assert wrong == []


def test_every_role_against_every_dashboard_form(site: Site, ids: Ids, role: Role,
                                                 browser_of: httpx.Client) -> None:
    """Posts only the refusals (the allowed ones are tested where they do something): nothing changes."""
    letter = LETTERS[role]
    csrf = _csrf(browser_of)
    wrong: list[str] = []
    forms = {"/app/rules": {"text": "rules: []\n"}, "/app/pilot": {"period": ids.period,
                                                                  "actual": f"client,amount\n{FOREIGN},1.00\n"},
             "/app/invoices/{invoice_id}/reject": {"reason": "scope test"},
             "/app/payments/{parked_id}/apply": {"invoice": str(ids.invoice)},
             "/app/payments/{parked_id}/dismiss": {"reason": "scope test"},
             "/app/clients": {"name": "Scope Ltd", "currency": "EUR"},
             "/app/clients/{client_id}/edit": {"name": "Scope Ltd"},
             "/app/clients/{client_id}/archive": {"reason": "scope test"},
             "/app/clients/{client_id}/arrangements": {"kind": "retainer", "fee": "1.00"},
             "/app/clients/{client_id}/arrangements/{arrangement_id}/amend": {
                 "effective_on": "2026-04-15", "was.fee": "2750.00", "terms.fee": "1.00", "step": "save"},
             "/app/clients/{client_id}/arrangements/{arrangement_id}/end": {"ends_on": "2026-04-15", "step": "save"},
             "/app/clients/{client_id}/arrangements/{arrangement_id}/reopen": {"reopens_on": "2026-06-01"},
             "/app/clients/{client_id}/milestones/{milestone_id}/cancel": {"reason": "scope test"},
             "/app/amendments/{version_id}/reject": {"note": "scope test"}}
    for method, path, allowed in ROUTES:
        if method != "POST":
            continue
        before = _snapshot(site)
        url = path.format(invoice_id=ids.pending, parked_id=ids.parked, event_id=ids.event, client_id=ids.client,
                          proposal_id=1,
                          arrangement_id=ids.arrangement, milestone_id=ids.milestone, version_id=ids.version)
        r = browser_of.post(url, data={"csrf_token": csrf, **forms.get(path, {})})
        if path == "/app/pilot" and letter in allowed:
            if r.status_code != 200:
                wrong.append(f"{path}: {r.status_code}, but a {role.value} may compare")
            shown = re.sub(r"<textarea.*?</textarea>", "", r.text, flags=re.S)  # their own CSV, echoed
            if role == Role.ACCOUNT_MANAGER and re.search(r"<td[^>]*>\s*Harbour", shown):
                wrong.append(f"{path}: compares another client ({FOREIGN}) for an account manager")
            continue
        if letter in allowed:
            continue
        if r.status_code not in (403, 404):
            wrong.append(f"POST {path}: {r.status_code}, but a {role.value} may not")
        if _snapshot(site) != before:
            wrong.append(f"POST {path}: refused but the database changed")
        if role == Role.ACCOUNT_MANAGER and FOREIGN.replace("&", "&amp;") in r.text:
            wrong.append(f"POST {path}: names another client ({FOREIGN}) to an account manager")
    assert wrong == []


def test_every_role_against_every_document_export(site: Site, ids: Ids, role: Role) -> None:
    token = users.rotate_token(site.db.uow(), Actor.system("tests"), site.emails[role])
    letter = LETTERS[role]
    wrong: list[str] = []
    with httpx.Client(base_url=site.url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as c:
        for method, path, allowed in EXPORTS:
            r = c.request(method, path.format(invoice_id=ids.invoice, period=ids.period))
            if letter in allowed and (r.status_code in (401, 403, 404) or r.status_code >= 500):
                wrong.append(f"{path}: {r.status_code}, but a {role.value} may export it")
            if letter not in allowed and r.status_code not in (403, 404):
                wrong.append(f"{path}: {r.status_code}, but a {role.value} may not export it")
            if role == Role.ACCOUNT_MANAGER and b"Harbour" in r.content:
                wrong.append(f"{path}: exports another client ({FOREIGN}) to an account manager")
    assert wrong == []
