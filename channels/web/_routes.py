"""The dashboard's pages and forms. Each handler reads the session, calls one domain service as the signed-in person,
and renders a template; a refusal from the service is shown on the page with its HTTP status."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from channels.documents import default_renderer
from channels.documents.einvoice import build as build_einvoice
from channels.web._render import STATE_LABELS, render
from domain.errors import BillingError, Unauthenticated, ValidationFailed
from domain.model.bounds import INT32_MAX, Id
from domain.model.einvoice import FORMAT_LABELS
from domain.model.parties import Seller, missing_for_seller
from domain.model.periods import Cycle, period_containing
from domain.model.roles import Perm, Role
from domain.services import (
    contracts,
    dashboard,
    events,
    insights,
    invoicing,
    parties,
    payments_parked,
    pilot,
    rules,
    sessions,
    work,
    workspace,
)
from domain.services import delivery as delivery_svc
from domain.services import einvoice as einvoice_svc
from domain.services.sessions import WebSession
from domain.store.session import Database

SESSION_COOKIE = "billable_session"
LOGIN_CSRF_COOKIE = "billable_login_csrf"
MAX_FORM = 1_100_000  # a rules document is at most 1 MB
PER_PAGE = 50
NOTICES = {"approved": "Approved and issued.", "rejected": "Sent back to draft with your reason.",
           "retried": "The event is back in the queue.", "rules_saved": "Rules saved: they apply to the next event.",
           "signed_out": "You are signed out.", "applied": "Payment applied to the invoice.",
           "dismissed": "Payment dismissed with your reason.", "seller_saved": "Seller details saved."}
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

router = APIRouter(prefix="/app", include_in_schema=False)
T = TypeVar("T")


class _SignInFirst(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class _Refused(Exception):
    """A page that cannot be shown or an action refused: rendered as a page with the reason."""

    def __init__(self, ws: WebSession | None, status: int, message: str, title: str = "Not possible") -> None:
        self.ws, self.status, self.message, self.title = ws, status, message, title


def mount(app: FastAPI) -> None:
    """Serve the dashboard under /app on this app (its static files under /app/static)."""
    app.include_router(router)
    app.mount("/app/static", StaticFiles(directory=Path(__file__).parent / "static"), name="app-static")

    async def on_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _SignInFirst)
        return RedirectResponse(f"/app/login?{urlencode({'next': exc.next_path})}", status_code=303)

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return _page(request, exc.ws, "error.html", status=exc.status, title=exc.title, message=exc.message)

    app.add_exception_handler(_SignInFirst, on_sign_in)
    app.add_exception_handler(_Refused, on_refused)


# ---- plumbing -------------------------------------------------------------------------------------------------------


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _page(request: Request, ws: WebSession | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    nav = _nav(ws) if ws is not None else []
    html = render(template, ws=ws, nav=nav, path=request.url.path, csrf=ws.csrf_token if ws else "",
                  notice=NOTICES.get(request.query_params.get("notice", ""), ""), **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _nav(ws: WebSession) -> list[tuple[str, str]]:
    a = ws.actor
    items: list[tuple[str, str]] = []
    if a.can(Perm.VIEW_BOOKS):
        items += [("/app/", "Overview"), ("/app/invoices", "Invoices"), ("/app/clients", "Clients"),
                  ("/app/approvals", "Approvals")]
    if a.can(Perm.PAYMENTS):
        items.append(("/app/payments", "Payments"))
    if a.can(Perm.MANAGE_SETTINGS):
        items.append(("/app/events", "Events"))
    if a.can(Perm.VIEW_BOOKS):
        items += [("/app/rules", "Rules"), ("/app/pilot", "Pilot")]
    if a.can(Perm.LOG_TIME):
        items.append(("/app/time", "Time"))
    if a.can(Perm.EXPORT_BOOKS):
        items.append(("/app/exports", "Exports"))
        items.append(("/app/accounting", "Accounting"))
        items.append(("/app/accounting/drift", "Drift"))
    if a.can(Perm.MANAGE_CLIENTS):
        items.append(("/app/import", "Import"))
    if a.can(Perm.MANAGE_SETTINGS):
        items.append(("/app/settings", "Settings"))
    return items


def _session(request: Request) -> WebSession:
    """The signed-in person, or off to the sign-in page (coming back here after)."""
    try:
        return sessions.session_for(_db(request).uow(readonly=True), request.cookies.get(SESSION_COOKIE, ""))
    except Unauthenticated:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise _SignInFirst(target) from None


def _call(ws: WebSession | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a service; its refusal becomes a page with the reason and the HTTP status the domain gives it."""
    try:
        return fn(*args, **kwargs)
    except BillingError as e:
        raise _Refused(ws, e.status, e.message) from None


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        raise _Refused(None, 413, "That form is too large.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50))


async def _posted(request: Request) -> tuple[WebSession, dict[str, str]]:
    """A form post from a signed-in person, carrying their session's CSRF token; anything else is refused."""
    form = await _form(request)
    try:
        ws = await run_in_threadpool(sessions.session_for, _db(request).uow(readonly=True),
                                     request.cookies.get(SESSION_COOKIE, ""))
    except Unauthenticated:
        raise _Refused(None, 403, "You are not signed in (or your session ended): sign in and try again.",
                       "Sign in first") from None
    if not sessions.csrf_ok(ws, form.get("csrf_token")):
        raise _Refused(ws, 403, "This form did not come from your current session (its security token is missing "
                                "or wrong). Reload the page and try again.", "Form refused")
    return ws, form


def _redirect(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


def _safe_next(value: str | None) -> str:
    # Only our own pages: never an absolute URL or a scheme-relative one (open redirect).
    if value and value.startswith("/app") and not value.startswith("//") and "\\" not in value:
        return value
    return "/app/"


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{value!r} is not a date like 2026-03-31", field=field) from None


def _int(value: str | None, field: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12 or int(value) > INT32_MAX:
        raise ValidationFailed(f"{value[:20]!r} is not a number we can have", field=field)
    return int(value)


# ---- sign in and out ------------------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/app/") -> Response:
    token = secrets.token_urlsafe(24)
    resp = _page(request, None, "login.html", login_csrf=token, next=_safe_next(next), error="", email="")
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/app", httponly=True, samesite="lax",
                    secure=_secure(request))
    return resp


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    next_path = _safe_next(form.get("next"))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    email = form.get("email", "")[:320]
    # Login CSRF: the form must carry the random value this browser was given with it (double submit).
    if not cookie or not secrets.compare_digest(cookie.encode("utf-8", "replace"),
                                                form.get("csrf_token", "").encode("utf-8", "replace")):
        return _page(request, None, "login.html", status=403, login_csrf=cookie, next=next_path, email=email,
                     error="This sign-in form expired or did not come from this site. Reload the page and try again.")
    try:
        signed = await run_in_threadpool(sessions.sign_in, _db(request).uow(), email, form.get("password", ""),
                                         request.headers.get("user-agent", ""),
                                         request.client.host if request.client else "")
    except BillingError as e:
        return _page(request, None, "login.html", status=e.status, login_csrf=cookie, next=next_path, email=email,
                     error=e.message.split(" (")[0] if e.code == "auth.bad_credentials" else e.message)
    resp = _redirect(next_path)
    resp.set_cookie(SESSION_COOKIE, signed.token, max_age=int(sessions.SESSION_TTL.total_seconds()), path="/app",
                    httponly=True, samesite="lax", secure=_secure(request))
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/app")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    try:
        await _posted(request)
    except _Refused as e:
        if e.ws is not None:
            raise
        return _redirect("/app/login")  # already signed out (or the session ended): nothing to end
    await run_in_threadpool(sessions.sign_out, _db(request).uow(), request.cookies.get(SESSION_COOKIE, ""))
    resp = _redirect("/app/login", notice="signed_out")
    resp.delete_cookie(SESSION_COOKIE, path="/app")
    return resp


# ---- overview -------------------------------------------------------------------------------------------------------


@router.get("/")
def overview_page(request: Request) -> Response:
    ws = _session(request)
    if not ws.actor.can(Perm.VIEW_BOOKS):
        return _redirect("/app/time")  # contractors see their own time, nothing of the books
    ov = _call(ws, dashboard.overview, _db(request).uow(readonly=True), ws.actor)
    currencies = sorted({m.currency for m in ov.monthly})
    return _page(request, ws, "overview.html", ov=ov, currencies=currencies)


# ---- invoices -------------------------------------------------------------------------------------------------------


@router.get("/invoices")
def invoices_page(request: Request) -> Response:
    ws = _session(request)
    p = request.query_params
    filters = {k: p.get(k, "") for k in ("client", "state", "from", "to", "overdue", "q")}
    db = _db(request)
    error = ""
    status = 200
    try:
        page = dashboard.invoice_page(
            db.uow(readonly=True), ws.actor, client_id=_int(filters["client"], "client"),
            state=filters["state"] or None, period_from=_date(filters["from"], "from"),
            period_to=_date(filters["to"], "to"), overdue=filters["overdue"] == "1", search=filters["q"],
            page=_int(p.get("page"), "page") or 1, per_page=PER_PAGE)
    except BillingError as e:
        if e.status != 422:
            raise _Refused(ws, e.status, e.message) from None
        error, status = f"{e.field}: {e.message}" if e.field else e.message, 422
        page = dashboard.invoice_page(db.uow(readonly=True), ws.actor, per_page=PER_PAGE)
    failed = dashboard.delivery_failed_ids(db.uow(readonly=True), ws.actor, [i.id for i in page.invoices])
    client_list = insights.find_clients(db.uow(readonly=True), ws.actor, limit=100)
    kept = {k: v for k, v in filters.items() if v}
    return _page(request, ws, "invoices.html", status=status, page=page, filters=filters, clients=client_list,
                 states=dashboard.FILTER_STATES, labels=STATE_LABELS, error=error, failed=failed,
                 page_link=lambda n: "/app/invoices?" + urlencode({**kept, "page": str(n)}))


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, invoice_id: Id) -> Response:
    ws = _session(request)
    db = _db(request)
    story = _call(ws, insights.invoice_story, db.uow(readonly=True), ws.actor, invoice_id)
    failed = dashboard.delivery_failed_ids(db.uow(readonly=True), ws.actor, [invoice_id])
    delivery = delivery_svc.get_delivery(db.uow(readonly=True), ws.actor, invoice_id)
    sections: dict[str, list[Any]] = {}
    for line in story.invoice.lines:
        sections.setdefault(line.section, []).append(line)
    receives = einvoice_svc.client_einvoice(db.uow(readonly=True), ws.actor, story.invoice.client_id)
    return _page(request, ws, "invoice.html", inv=story.invoice, timeline=story.timeline, sections=sections,
                 delivery_failed=bool(failed), delivery=delivery, can_approve=ws.actor.can(Perm.APPROVE),
                 einvoice_formats=list(FORMAT_LABELS.items()), receives=receives)


@router.get("/invoices/{invoice_id}/einvoice")
def einvoice_download(request: Request, invoice_id: Id, format: str | None = None) -> Response:
    """An issued invoice's e-invoice (Factur-X PDF or XML), as the API's GET /v1/invoices/{id}/einvoice gives it."""
    ws = _session(request)
    source = _call(ws, einvoice_svc.einvoice_source, _db(request).uow(readonly=True), ws.actor, invoice_id, format)
    f = build_einvoice(source, default_renderer(request.app.state.settings))
    return Response(f.content, media_type=f.media_type,
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{f.filename}"'})


@router.get("/invoices/{invoice_id}/lines/{line_id}")
def line_page(request: Request, invoice_id: Id, line_id: Id) -> Response:
    ws = _session(request)
    origin = _call(ws, dashboard.line_origin, _db(request).uow(readonly=True), ws.actor, invoice_id, line_id)
    return _page(request, ws, "line.html", o=origin)


@router.get("/approvals")
def approvals_page(request: Request, page: int = 1) -> Response:
    ws = _session(request)
    if not 1 <= page <= 10_000:
        raise _Refused(ws, 422, "page: out of range")
    pending = _call(ws, invoicing.list_invoices, _db(request).uow(readonly=True), ws.actor,
                    status="pending_approval", limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    proposals = _call(ws, contracts.list_proposals, _db(request).uow(readonly=True), ws.actor)  # amendments
    return _page(request, ws, "approvals.html", pending=pending[:PER_PAGE], more=len(pending) > PER_PAGE,
                 page=page, can_approve=ws.actor.can(Perm.APPROVE), proposals=proposals)


@router.post("/invoices/{invoice_id}/approve")
async def approve(request: Request, invoice_id: Id) -> Response:
    ws, form = await _posted(request)
    await run_in_threadpool(_call, ws, invoicing.approve_invoice, _db(request).uow(), ws.actor, invoice_id,
                            form.get("note", "").strip()[:2000])
    return _redirect(f"/app/invoices/{invoice_id}", notice="approved")


@router.post("/invoices/{invoice_id}/reject")
async def reject(request: Request, invoice_id: Id) -> Response:
    ws, form = await _posted(request)
    await run_in_threadpool(_call, ws, invoicing.reject_invoice, _db(request).uow(), ws.actor, invoice_id,
                            form.get("reason", "")[:2000])
    return _redirect(f"/app/invoices/{invoice_id}", notice="rejected")


# ---- unmatched (parked) payments ----------------------------------------------------------------------------------


@router.get("/payments")
def payments_page(request: Request, status: str = "parked") -> Response:
    ws = _session(request)
    rows = _call(ws, payments_parked.list_parked, _db(request).uow(readonly=True), ws.actor,
                 status if status in ("parked", "all") else "parked", limit=PER_PAGE)
    return _page(request, ws, "payments.html", rows=rows, which=status)


@router.post("/payments/{parked_id}/apply")
async def apply_payment(request: Request, parked_id: Id) -> Response:
    ws, form = await _posted(request)

    def apply() -> None:
        ref = form.get("invoice", "").strip()
        if not ref:
            raise ValidationFailed("say which invoice (its number or id)", field="invoice")
        inv = insights.invoice_story(_db(request).uow(readonly=True), ws.actor, ref).invoice
        payments_parked.apply_parked(_db(request).uow(), ws.actor, parked_id, inv.id,
                                     form.get("amount", "").strip() or None)

    await run_in_threadpool(_call, ws, apply)
    return _redirect("/app/payments", notice="applied")


@router.post("/payments/{parked_id}/dismiss")
async def dismiss_payment(request: Request, parked_id: Id) -> Response:
    ws, form = await _posted(request)
    await run_in_threadpool(_call, ws, payments_parked.dismiss_parked, _db(request).uow(), ws.actor, parked_id,
                            form.get("reason", "")[:2000])
    return _redirect("/app/payments", notice="dismissed")


# ---- events, rules, pilot, time ----------------------------------------------------------------------------------


EVENT_TABS = (("", "Recent"), ("rejected", "Rejected"), ("failed", "Dead-lettered and retrying"))


@router.get("/events")
def events_page(request: Request, status: str = "", page: int = 1) -> Response:
    ws = _session(request)
    if status not in dict(EVENT_TABS) or not 1 <= page <= 10_000:
        raise _Refused(ws, 422, "unknown events filter")
    rows = _call(ws, events.list_events, _db(request).uow(readonly=True), ws.actor, status or None,
                 limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    return _page(request, ws, "events.html", rows=rows[:PER_PAGE], more=len(rows) > PER_PAGE, page=page,
                 which=status, tabs=EVENT_TABS)


@router.post("/events/{event_id}/retry")
async def retry(request: Request, event_id: Id) -> Response:
    ws, _form_data = await _posted(request)
    await run_in_threadpool(_call, ws, events.retry_event, _db(request).uow(), ws.actor, event_id)
    return _redirect("/app/events", status="failed", notice="retried")


@router.get("/rules")
def rules_page(request: Request) -> Response:
    ws = _session(request)
    view = _call(ws, rules.get_rules, _db(request).uow(readonly=True), ws.actor)
    return _page(request, ws, "rules.html", view=view, text=view.text, errors=[], bad_lines=set(),
                 can_edit=ws.actor.can(Perm.MANAGE_SETTINGS))


@router.post("/rules")
async def save_rules(request: Request) -> Response:
    ws, form = await _posted(request)
    text = form.get("text", "").replace("\r\n", "\n")
    try:
        await run_in_threadpool(rules.put_rules, _db(request).uow(), ws.actor, text)
    except ValidationFailed as e:
        errors = list(e.details.get("errors") or [{"field": e.field, "message": e.message, "line": None}])
        view = await run_in_threadpool(rules.get_rules, _db(request).uow(readonly=True), ws.actor)
        return _page(request, ws, "rules.html", status=422, view=view, text=text, errors=errors,
                     bad_lines={er.get("line") for er in errors if er.get("line")}, can_edit=True)
    except BillingError as e:
        raise _Refused(ws, e.status, e.message) from None
    return _redirect("/app/rules", notice="rules_saved")


_SELLER_PARTS = ("address", "contact", "bank_account", "electronic_address")


def _settings_page(request: Request, ws: WebSession, seller: Seller, status: int = 200,
                   error: BillingError | None = None) -> Response:
    missing = missing_for_seller(seller)
    return _page(request, ws, "settings.html", status=status, s=seller, missing=missing, error=error,
                 can_edit=ws.actor.can(Perm.MANAGE_COMPANY))


@router.get("/settings")
def settings_page(request: Request) -> Response:
    ws = _session(request)
    if not ws.actor.can(Perm.MANAGE_SETTINGS):
        raise _Refused(ws, 403, "Only owners and finance see the workspace settings.", "Not yours to see")
    seller = _call(ws, parties.get_seller, _db(request).uow(readonly=True), ws.actor)
    return _settings_page(request, ws, seller)


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    """The seller form: every field posted; nested parts by dotted names (address.city)."""
    ws, form = await _posted(request)
    changes: dict[str, Any] = {}
    for key, value in form.items():
        if key == "csrf_token":
            continue
        part, _, sub = key.partition(".")
        if sub and part in _SELLER_PARTS:
            changes.setdefault(part, {})[sub] = value.strip()
        elif not sub:
            changes[key] = value.strip()
    try:
        await run_in_threadpool(parties.update_seller, _db(request).uow(), ws.actor, changes)
    except ValidationFailed as e:
        seller = await run_in_threadpool(parties.get_seller, _db(request).uow(readonly=True), ws.actor)
        return _settings_page(request, ws, seller, status=422, error=e)
    except BillingError as e:
        raise _Refused(ws, e.status, e.message) from None
    return _redirect("/app/settings", notice="seller_saved")


def _month(text: str, ws: WebSession) -> tuple[date, date]:
    try:
        first = date.fromisoformat(text + "-01")
    except ValueError:
        raise _Refused(ws, 422, f"period: {text!r} is not a month like 2026-03") from None
    p = period_containing(first, Cycle.MONTHLY)
    return p.start, p.end


def _pilot(request: Request, ws: WebSession, period: str, actual_csv: str) -> Response:
    db = _db(request)
    settings = _call(ws, workspace.get_settings, db.uow(readonly=True), ws.actor)
    start, end = _month(period, ws)
    rows: list[dict[str, str]] = []
    if actual_csv.strip():
        reader = csv.DictReader(io.StringIO(actual_csv.lstrip("\ufeff")))
        rows = [{k.strip().lower(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
        if rows and not {"client", "amount"} <= set(rows[0]):
            raise _Refused(ws, 422, "actual: the CSV needs a header row with the columns client and amount "
                                    "(and optionally description, number, date, currency)")
    report = _call(ws, pilot.pilot_report, db.uow(readonly=True), ws.actor, start, end, rows)
    return _page(request, ws, "pilot.html", pilot_on=settings.pilot_mode, report=report, period=period,
                 actual=actual_csv)


@router.get("/pilot")
def pilot_page(request: Request, period: str = "") -> Response:
    ws = _session(request)
    return _pilot(request, ws, period or _db(request).clock.today().strftime("%Y-%m"), "")


@router.post("/pilot")
async def pilot_compare(request: Request) -> Response:
    ws, form = await _posted(request)
    return await run_in_threadpool(_pilot, request, ws, form.get("period", ""), form.get("actual", ""))


@router.get("/time")
def time_page(request: Request, page: int = 1) -> Response:
    ws = _session(request)
    if not 1 <= page <= 10_000:
        raise _Refused(ws, 422, "page: out of range")
    rows = _call(ws, work.list_time_entries, _db(request).uow(readonly=True), ws.actor, limit=PER_PAGE + 1,
                 offset=(page - 1) * PER_PAGE)
    return _page(request, ws, "time.html", rows=rows[:PER_PAGE], more=len(rows) > PER_PAGE, page=page,
                 own=ws.actor.role == Role.CONTRACTOR)
