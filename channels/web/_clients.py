"""The dashboard's client pages (issue 13) and the DATEV download (issue 16).

Clients: a searchable list (archived ones on request) with a form to add one; a client's page with its buyer
details, arrangements, their versions and audit history, open invoices and the proposals waiting for finance; forms
to edit and archive the client, add, amend, end and reopen arrangements and cancel milestones. Every form that changes
terms shows the domain's own preview first (the same service with `dry_run`), and saves only what was previewed.
Like every page here, each handler calls the domain services as the signed-in person; nothing is computed here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from channels.web._routes import (
    NOTICES,
    PER_PAGE,
    SECURITY_HEADERS,
    _call,
    _db,
    _page,
    _posted,
    _redirect,
    _Refused,
    _safe_next,
    _session,
    router,
)
from domain.errors import BillingError, ValidationFailed
from domain.model.arrangements import TERMS_BY_KIND
from domain.model.bounds import Id
from domain.model.parties import DocumentLanguage, EInvoiceFormat
from domain.model.periods import Cycle
from domain.model.roles import Perm, Role
from domain.model.tax import TaxMode
from domain.model.versions import AMENDABLE
from domain.services import clients, contracts, exports, invoicing, users
from domain.services.sessions import WebSession
from domain.services.views import ArrangementView, ClientView

NOTICES.update({  # this module's notices, beside the other pages'
    "client_added": "Client added.", "client_saved": "Client details saved.", "no_change": "Nothing changed.",
    "archived": "Client archived: no new drafts or rules for it; its open invoices run their course.",
    "reactivated": "Client reactivated.", "arrangement_added": "Arrangement added.",
    "amended": "Amendment saved: the new terms apply from their date.",
    "proposed": "Amendment proposed: it waits for finance's approval.",
    "ended": "Arrangement ended.", "reopened": "Arrangement reopened.", "milestone_cancelled": "Milestone cancelled.",
    "amendment_approved": "Amendment approved: it is in force.", "amendment_rejected": "Amendment refused.",
})

OPEN_STATES = ("draft", "pending_approval", "issued", "sent", "viewed", "partially_paid")
KIND_LABELS = {"retainer": "Retainer", "time_and_materials": "Time and materials", "milestone": "Milestones",
               "subscription": "Subscription", "pass_through": "Pass-through", "sla_credit": "SLA credits"}

# How each term is shown in a form and read back: label, widget, hint. The order is the form's.
TERM_FIELDS: dict[str, tuple[str, str, str]] = {
    "product": ("Product", "text", ""),
    "fee": ("Fee per period", "decimal", "e.g. 6500.00"),
    "seats": ("Seats", "int", ""),
    "unit_price": ("Unit price", "decimal", "per seat and period"),
    "cycle": ("Billing cycle", "cycle", ""),
    "billing": ("Billed", "billing", ""),
    "included_hours": ("Included hours", "decimal", "per period"),
    "prorate": ("Prorate partial periods", "bool", ""),
    "default_rate": ("Default hourly rate", "decimal", "empty: none"),
    "role_rates": ("Rates per role", "rates", "one a line: Engineer = 115.00"),
    "person_rates": ("Rates per person", "rates", "one a line: Marta Kowalski = 175.00"),
    "tiers": ("Tiers", "tiers", "one a line: hours up to = rate, and * = rate for every hour beyond"),
    "cap": ("Cap (not to exceed)", "decimal", "over the arrangement's life; empty: none"),
    "threshold_hours": ("Draft at unbilled hours", "decimal", "empty: none"),
    "threshold_amount": ("Draft at unbilled amount", "decimal", "empty: none"),
    "markup_pct": ("Markup (%)", "decimal", ""),
    "credit_pct": ("Credit (% of the retainer)", "decimal", "give this or a fixed credit"),
    "fixed_amount": ("Fixed credit", "decimal", "give this or a percentage"),
    "retainer_arrangement_id": ("Retainer it credits", "retainer", ""),
    "milestones": ("Milestones", "milestones", "one a line: Phase 1: design = 8000.00"),
}


# ---- small readers and writers of form values ----------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]


def _norm(text: str | None) -> str:
    return "\n".join(_lines(text or ""))


def _pairs(text: str, field: str) -> list[tuple[str, str]]:
    out = []
    for ln in _lines(text):
        name, sep, value = ln.rpartition("=")
        if not sep or not name.strip():
            raise ValidationFailed(f"{ln[:60]!r}: write one a line as name = amount", field=field)
        out.append((name.strip(), value.strip()))
    return out


def _text(widget: str, value: Any) -> str:
    """A term's value as the form shows it."""
    if value is None:
        return ""
    if widget == "rates":
        return "\n".join(f"{k} = {v}" for k, v in dict(value).items())
    if widget == "tiers":
        return "\n".join(f"{t.get('up_to_hours') or '*'} = {t.get('rate')}" for t in value)
    if widget == "milestones":
        return "\n".join(f"{m.get('name')} = {m.get('amount')}" for m in value)
    if widget == "bool":
        return "true" if value else "false"
    return str(value)


def _value(widget: str, text: str, field: str) -> Any:
    """A term's form text as the service takes it (validated there)."""
    text = text.strip()
    if widget == "rates":
        return dict(_pairs(text, field))
    if widget == "tiers":
        return [{"up_to_hours": None if k in ("*", "") else k, "rate": v} for k, v in _pairs(text, field)]
    if widget == "milestones":
        return [{"name": k, "amount": v} for k, v in _pairs(text, field)]
    if widget == "bool":
        return text == "true"
    return text or None


def _same(a: str, b: str, numeric: bool = False) -> bool:
    """Unchanged text; for amounts and counts, the same number (7.5 is 7.50), never for codes like postcodes."""
    a, b = _norm(a), _norm(b)
    if a == b or not numeric:
        return a == b
    try:
        return Decimal(a) == Decimal(b)
    except (InvalidOperation, ValueError):
        return False


def _fingerprint(form: Mapping[str, str]) -> str:
    """What a preview showed: Save keeps only exactly that (changed values are previewed again first)."""
    kept = sorted((k, _norm(v)) for k, v in form.items() if k not in ("csrf_token", "step", "previewed"))
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:32]


def _field_error(e: BillingError) -> dict[str, str]:
    return {"field": e.field or "", "message": e.message, "status": str(e.status)}


async def _posted_multi(request: Request) -> tuple[WebSession, dict[str, str], dict[str, list[str]]]:
    """A form post as single values and, for repeated names (checkboxes), every value."""
    ws, form = await _posted(request)
    multi: dict[str, list[str]] = {}
    for k, v in parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True,
                          max_num_fields=200):
        multi.setdefault(k, []).append(v)
    return ws, form, multi


def _to_client(client_id: int, notice: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/app/clients/{client_id}?notice={notice}#{anchor}", status_code=303)


def _can_change_terms(ws: WebSession) -> bool:
    return ws.actor.can(Perm.MANAGE_CLIENTS) or ws.actor.role == Role.ACCOUNT_MANAGER


# ---- the client list -----------------------------------------------------------------------------------------------

CLIENT_KEYS = ("name", "currency", "billing_emails", "payment_terms_days", "tax_profile.mode", "tax_profile.region",
               "tax_profile.rate", "tax_profile.exemption_reason", "po_required", "po_number", "locale",
               "address.street", "address.additional", "address.postcode", "address.city", "address.region",
               "address.country", "vat_id", "buyer_reference", "electronic_address.scheme",
               "electronic_address.identifier", "einvoice_format", "language")


def _client_values(c: ClientView) -> dict[str, str]:
    tp = c.tax_profile
    return {"name": c.name, "currency": c.currency, "billing_emails": ", ".join(c.billing_emails),
            "payment_terms_days": str(c.payment_terms_days), "tax_profile.mode": str(tp.get("mode") or "standard"),
            "tax_profile.region": str(tp.get("region") or ""), "tax_profile.rate": str(tp.get("rate") or ""),
            "tax_profile.exemption_reason": str(tp.get("exemption_reason") or ""),
            "po_required": "1" if c.po_required else "", "po_number": c.po_number, "locale": c.locale,
            **{f"address.{k}": str(getattr(c.address, k) or "") for k in
               ("street", "additional", "postcode", "city", "region", "country")},
            "vat_id": c.vat_id, "buyer_reference": c.buyer_reference,
            "electronic_address.scheme": c.electronic_address.scheme,
            "electronic_address.identifier": c.electronic_address.identifier,
            "einvoice_format": c.einvoice_format.value, "language": c.language.value}


def _posted_values(form: Mapping[str, str]) -> dict[str, str]:
    return {k: form.get(k, "").strip() for k in CLIENT_KEYS}


def _emails(text: str) -> list[str]:
    return [e for e in text.replace(";", ",").replace("\n", ",").replace(" ", ",").split(",") if e.strip()]


def _new_client(v: Mapping[str, str], managers: list[int]) -> dict[str, Any]:
    """The add form as the service's ClientIn (empty optional fields left out: their defaults apply)."""
    data: dict[str, Any] = {"name": v["name"], "currency": v["currency"].upper(),
                            "billing_emails": _emails(v["billing_emails"]), "po_required": v["po_required"] == "1",
                            "account_manager_ids": managers}
    tax = {k: v[f"tax_profile.{k}"] for k in ("mode", "region", "rate", "exemption_reason") if v[f"tax_profile.{k}"]}
    if tax:
        data["tax_profile"] = tax
    for part in ("address", "electronic_address"):
        sub = {k.split(".", 1)[1]: x for k, x in v.items() if k.startswith(part + ".") and x}
        if sub:
            data[part] = sub
    for k in ("payment_terms_days", "po_number", "locale", "vat_id", "buyer_reference", "einvoice_format",
              "language"):
        if v[k]:
            data[k] = v[k]
    return data


def _client_patch(old: ClientView, v: Mapping[str, str], managers: list[int] | None) -> dict[str, Any]:
    """Only what the person changed: a profile keeps its section rates, an address its other parts."""
    was = _client_values(old)
    changed = {k for k in CLIENT_KEYS if k != "currency" and not _same(v[k], was[k])}
    patch: dict[str, Any] = {}
    for k in changed:
        part, _, sub = k.partition(".")
        if part in ("address", "electronic_address"):
            patch.setdefault(part, {})[sub] = v[k]
        elif part == "tax_profile":
            profile = {**old.tax_profile, **{x: v[f"tax_profile.{x}"] for x in
                                             ("mode", "region", "rate", "exemption_reason")}}
            patch["tax_profile"] = {x: y for x, y in profile.items() if y != "" or x == "region"}
        elif k == "billing_emails":
            patch[k] = _emails(v[k])
        elif k == "po_required":
            patch[k] = v[k] == "1"
        else:
            patch[k] = v[k]
    if managers is not None and sorted(managers) != sorted(old.account_manager_ids):
        patch["account_manager_ids"] = managers
    return patch


def _managers(request: Request, ws: WebSession) -> list[Any] | None:
    """The account managers to choose from, for those who may see the users (owners); else None."""
    if not ws.actor.can(Perm.MANAGE_USERS):
        return None
    # inactive ones too: unticking nobody must not drop a manager already assigned
    return [u for u in users.list_users(_db(request).uow(readonly=True), ws.actor)
            if u.role == Role.ACCOUNT_MANAGER.value]


def _ids(values: list[str]) -> list[int]:
    return [int(x) for x in values if x.isascii() and x.isdigit() and len(x) < 12]


def _client_form_context(request: Request, ws: WebSession) -> dict[str, Any]:
    return {"tax_modes": [m.value for m in TaxMode], "formats": [f.value for f in EInvoiceFormat],
            "languages": [lang.value for lang in DocumentLanguage], "managers": _managers(request, ws)}


def _list(request: Request, ws: WebSession, q: str, archived: bool, page: int, status: int = 200,
          values: dict[str, str] | None = None, chosen: list[int] | None = None,
          error: dict[str, str] | None = None) -> Response:
    rows = _call(ws, clients.list_clients, _db(request).uow(readonly=True), ws.actor, q or None, PER_PAGE + 1,
                 (page - 1) * PER_PAGE, include_archived=archived)
    return _page(request, ws, "clients.html", status=status, rows=rows[:PER_PAGE], more=len(rows) > PER_PAGE,
                 page=page, q=q, archived=archived, can_add=ws.actor.can(Perm.MANAGE_CLIENTS),
                 v=values or {"currency": "EUR", "payment_terms_days": "30", "tax_profile.mode": "standard",
                              "einvoice_format": "none", "locale": "en_GB"},
                 chosen=chosen or [], error=error, **_client_form_context(request, ws))


@router.get("/clients")
def clients_page(request: Request, q: str = "", archived: str = "", page: int = 1) -> Response:
    ws = _session(request)
    if not 1 <= page <= 10_000:
        raise _Refused(ws, 422, "page: out of range")
    return _list(request, ws, q.strip()[:200], archived == "1", page)


@router.post("/clients")
async def add_client(request: Request) -> Response:
    ws, form, multi = await _posted_multi(request)
    values = _posted_values(form)
    chosen = _ids(multi.get("account_manager_ids", []))
    try:
        view = await run_in_threadpool(clients.create_client, _db(request).uow(), ws.actor,
                                       _new_client(values, chosen))
    except ValidationFailed as e:
        return await run_in_threadpool(_list, request, ws, "", False, 1, 422, values, chosen, _field_error(e))
    except BillingError as e:
        raise _Refused(ws, e.status, e.message) from None
    return _redirect(f"/app/clients/{view.id}", notice="client_added")


# ---- one client ----------------------------------------------------------------------------------------------------


def _changes_of(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    """An audit entry's before and after as rows of (what, before, after), terms field by field."""
    b, a = dict(before or {}), dict(after or {})
    bt, at = dict(b.pop("terms", None) or {}), dict(a.pop("terms", None) or {})
    out = [(f"terms: {k}", _show(bt.get(k)), _show(at.get(k))) for k in sorted(set(bt) | set(at))
           if bt.get(k) != at.get(k)]
    for k in ("ends_on", "starts_on", "status", "active", "cancelled_on", "reason"):
        if k in a and (not b or k in b) and b.get(k) != a.get(k):
            out.append((k.replace("_", " "), _show(b.get(k)), _show(a.get(k))))
    return out


def _show(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_show(x)}" for k, x in v.items()) or "—"
    if isinstance(v, list):
        return "; ".join(_show(x) for x in v) or "—"
    return str(v)


def _client_page(request: Request, ws: WebSession, client_id: int) -> Response:
    db = _db(request)
    client = _call(ws, clients.get_client, db.uow(readonly=True), ws.actor, client_id)
    # every arrangement with its versions, adjustments and first 100 audit entries, and the client's proposals:
    # one read with a fixed number of statements (one service call per arrangement was 20 statements each)
    book = _call(ws, contracts.client_contracts, db.uow(readonly=True), ws.actor, client_id, 100)
    details = [{"a": d.arrangement, "versions": d.versions, "adjustments": d.adjustments,
                "history": [(e, _changes_of(e.before, e.after)) for e in d.history]} for d in book.arrangements]
    invoices = [i for i in _call(ws, invoicing.list_invoices, db.uow(readonly=True), ws.actor, client_id=client_id,
                                 kind="invoice", limit=200) if i.status in OPEN_STATES]
    proposals = []
    for p in book.proposals:
        preview, problem = None, ""
        if ws.actor.can(Perm.APPROVE) and p.id is not None:
            try:  # what approving it would do now: the domain's own dry run
                preview = contracts.decide_amendment(db.uow(), ws.actor, p.id, True, dry_run=True).preview
            except BillingError as e:
                problem = e.message
        proposals.append({"v": p, "preview": preview, "problem": problem})
    managers = _managers(request, ws)
    names = {u.id: u.name or u.email for u in managers} if managers is not None else {}
    return _page(request, ws, "clients_view.html", c=client, details=details, invoices=invoices,
                 proposals=proposals, kinds=KIND_LABELS, manager_names=names,
                 can_manage=ws.actor.can(Perm.MANAGE_CLIENTS), can_propose=_can_change_terms(ws),
                 can_approve=ws.actor.can(Perm.APPROVE), back=f"/app/clients/{client_id}")


@router.get("/clients/{client_id}")
def client_page(request: Request, client_id: Id) -> Response:
    ws = _session(request)
    return _client_page(request, ws, client_id)


def _edit(request: Request, ws: WebSession, client_id: int, status: int = 200, values: dict[str, str] | None = None,
          chosen: list[int] | None = None, error: dict[str, str] | None = None) -> Response:
    if not ws.actor.can(Perm.MANAGE_CLIENTS):
        raise _Refused(ws, 403, "Only owners and finance change a client's details.", "Not yours to change")
    client = _call(ws, clients.get_client, _db(request).uow(readonly=True), ws.actor, client_id)
    return _page(request, ws, "clients_edit.html", status=status, c=client, v=values or _client_values(client),
                 chosen=client.account_manager_ids if chosen is None else chosen, error=error,
                 **_client_form_context(request, ws))


@router.get("/clients/{client_id}/edit")
def edit_client_page(request: Request, client_id: Id) -> Response:
    return _edit(request, _session(request), client_id)


@router.post("/clients/{client_id}/edit")
async def edit_client(request: Request, client_id: Id) -> Response:
    ws, form, multi = await _posted_multi(request)
    values = _posted_values(form)
    chosen = _ids(multi.get("account_manager_ids", [])) if form.get("managers_shown") == "1" else None

    def save() -> str:
        old = clients.get_client(_db(request).uow(readonly=True), ws.actor, client_id)
        patch = _client_patch(old, values, chosen)
        if not patch:
            return "no_change"
        clients.update_client(_db(request).uow(), ws.actor, client_id, patch)
        return "client_saved"

    try:
        notice = await run_in_threadpool(save)
    except ValidationFailed as e:
        return await run_in_threadpool(_edit, request, ws, client_id, 422, values, chosen, _field_error(e))
    except BillingError as e:
        raise _Refused(ws, e.status, e.message) from None
    return _redirect(f"/app/clients/{client_id}", notice=notice)


@router.post("/clients/{client_id}/archive")
async def archive_client(request: Request, client_id: Id) -> Response:
    ws, form = await _posted(request)
    await run_in_threadpool(_call, ws, clients.archive_client, _db(request).uow(), ws.actor, client_id,
                            form.get("reason", "")[:2000])
    return _redirect(f"/app/clients/{client_id}", notice="archived")


@router.post("/clients/{client_id}/reactivate")
async def reactivate_client(request: Request, client_id: Id) -> Response:
    ws, _form_data = await _posted(request)
    await run_in_threadpool(_call, ws, clients.reactivate_client, _db(request).uow(), ws.actor, client_id)
    return _redirect(f"/app/clients/{client_id}", notice="reactivated")


@router.post("/clients/{client_id}/milestones/{milestone_id}/cancel")
async def cancel_milestone(request: Request, client_id: Id, milestone_id: Id) -> Response:
    ws, form = await _posted(request)
    try:
        await run_in_threadpool(contracts.cancel_milestone, _db(request).uow(), ws.actor, milestone_id,
                                form.get("reason", "")[:2000], client_id=client_id)
    except BillingError as e:
        raise _Refused(ws, e.status, f"{e.field}: {e.message}" if e.status == 422 and e.field else e.message,
                       "Not cancelled") from None
    return _redirect(f"/app/clients/{client_id}", notice="milestone_cancelled")


# ---- a new arrangement ---------------------------------------------------------------------------------------------


def _kind_fields(kind: str) -> list[str]:
    model = TERMS_BY_KIND[kind]
    return [f for f in TERM_FIELDS if f in model.model_fields]


def _new_arrangement(request: Request, ws: WebSession, client_id: int, kind: str, status: int = 200,
                     values: dict[str, str] | None = None, error: dict[str, str] | None = None,
                     preview: contracts.Preview | None = None, previewed: str = "") -> Response:
    if not ws.actor.can(Perm.MANAGE_CLIENTS):
        raise _Refused(ws, 403, "Only owners and finance add arrangements.", "Not yours to change")
    db = _db(request)
    client = _call(ws, clients.get_client, db.uow(readonly=True), ws.actor, client_id)
    if kind and kind not in TERMS_BY_KIND:
        raise _Refused(ws, 422, f"kind: one of {', '.join(TERMS_BY_KIND)}")
    retainers = [a for a in _call(ws, clients.list_arrangements, db.uow(readonly=True), ws.actor, client_id)
                 if a.kind == "retainer"] if kind == "sla_credit" else []
    fields = [{"name": f, "label": TERM_FIELDS[f][0], "widget": TERM_FIELDS[f][1], "hint": TERM_FIELDS[f][2]}
              for f in _kind_fields(kind)] if kind else []
    return _page(request, ws, "clients_arrangement.html", status=status, c=client, kind=kind, kinds=KIND_LABELS,
                 fields=fields, v=values or {}, error=error, retainers=retainers, cycles=[c.value for c in Cycle],
                 preview=preview, previewed=previewed)


@router.get("/clients/{client_id}/arrangements/new")
def new_arrangement_page(request: Request, client_id: Id, kind: str = "") -> Response:
    return _new_arrangement(request, _session(request), client_id, kind)


@router.post("/clients/{client_id}/arrangements")
async def add_arrangement(request: Request, client_id: Id) -> Response:
    """Previewed first (the domain's dry run of adding it), added when that preview is confirmed unchanged."""
    ws, form = await _posted(request)
    kind = form.get("kind", "")
    if kind not in TERMS_BY_KIND:
        raise _Refused(ws, 422, f"kind: one of {', '.join(TERMS_BY_KIND)}")
    values = {k: v for k, v in form.items() if k not in ("csrf_token", "step", "previewed")}
    fingerprint = _fingerprint(values)
    saving = form.get("step") == "save" and form.get("previewed") == fingerprint

    def add() -> ArrangementView | contracts.Preview:
        data: dict[str, Any] = {"kind": kind}
        for k in ("name", "starts_on", "ends_on"):
            if values.get(k, "").strip():
                data[k] = values[k].strip()
        for f in _kind_fields(kind):
            text = values.get(f, "")
            if text.strip():
                data[f] = _value(TERM_FIELDS[f][1], text, f)
        if not saving:
            return contracts.preview_arrangement(_db(request).uow(), ws.actor, client_id, data)
        return clients.add_arrangement(_db(request).uow(), ws.actor, client_id, data)

    try:
        done = await run_in_threadpool(add)
    except ValidationFailed as e:
        return await run_in_threadpool(_new_arrangement, request, ws, client_id, kind, 422, values, _field_error(e))
    except BillingError as e:
        raise _Refused(ws, e.status, e.message) from None
    if isinstance(done, contracts.Preview):
        return await run_in_threadpool(_new_arrangement, request, ws, client_id, kind, 200, values, None, done,
                                       fingerprint)
    return _to_client(client_id, "arrangement_added", f"arr-{done.id}")


# ---- amend, end, reopen: preview first, then save ------------------------------------------------------------------

CHANGE_TITLES = {"amend": "Amend", "end": "End", "reopen": "Reopen"}


def _term_rows(a: ArrangementView, base: Mapping[str, Any], form: Mapping[str, str] | None) -> list[dict[str, str]]:
    """The amendable terms with what the form showed (`was`) and what is posted now."""
    rows = []
    for f in TERM_FIELDS:
        if f not in AMENDABLE.get(a.kind, frozenset()):
            continue
        label, widget, hint = TERM_FIELDS[f]
        was = form.get(f"was.{f}", "") if form is not None else _text(widget, base.get(f))
        value = form.get(f"terms.{f}", was) if form is not None else was
        rows.append({"name": f"terms.{f}", "field": f, "label": label, "widget": widget, "hint": hint, "was": was,
                     "value": value})
    return rows


def _term_changes(a: ArrangementView, form: Mapping[str, str]) -> dict[str, Any]:
    """Only the terms the person changed in the form; rates by name (a removed name is removed)."""
    out: dict[str, Any] = {}
    for f in AMENDABLE.get(a.kind, frozenset()):
        widget = TERM_FIELDS[f][1]
        new, was = form.get(f"terms.{f}"), form.get(f"was.{f}", "")
        if new is None or _same(new, was, numeric=widget in ("decimal", "int")):
            continue
        if widget == "rates":
            before, after = dict(_pairs(was, f"terms.{f}")), dict(_pairs(new, f"terms.{f}"))
            out[f] = {**{k: None for k in before if k not in after},
                      **{k: v for k, v in after.items() if k not in before or not _same(v, before[k], True)}}
        else:
            out[f] = _value(widget, new, f"terms.{f}")
    return out


def _change_page(request: Request, ws: WebSession, mode: str, client_id: int, arrangement_id: int,
                 form: Mapping[str, str] | None = None) -> Response:
    """The amend / end / reopen form; posted, a preview (dry run) or, when that preview is confirmed, the change."""
    if not (ws.actor.can(Perm.MANAGE_CLIENTS) or (mode == "amend" and ws.actor.role == Role.ACCOUNT_MANAGER)):
        raise _Refused(ws, 403, "Only owners and finance change arrangements (account managers propose "
                                "amendments for their own clients).", "Not yours to change")
    db = _db(request)
    vv = _call(ws, contracts.list_versions, db.uow(readonly=True), ws.actor, client_id, arrangement_id)
    client = _call(ws, clients.get_client, db.uow(readonly=True), ws.actor, client_id)
    a = vv.arrangement
    with_terms = [v for v in vv.versions if v.status == "active" and v.terms is not None]
    base = dict(with_terms[-1].terms or {}) if with_terms else dict(a.terms)
    rows = _term_rows(a, base, form) if mode in ("amend", "reopen") and a.kind != "milestone" else []
    keys = {"amend": ("effective_on", "reason"), "end": ("ends_on", "reason"),
            "reopen": ("reopens_on", "ends_on", "reason")}[mode]
    values = {k: (form or {}).get(k, "") for k in keys}
    proposing = mode == "amend" and ws.actor.role == Role.ACCOUNT_MANAGER
    preview = None
    error: dict[str, str] | None = None
    status = 200
    fingerprint = ""
    if form is not None:
        fingerprint = _fingerprint({k: v for k, v in form.items() if k.startswith(("terms.", "was."))} | values)
        saving = form.get("step") == "save" and form.get("previewed") == fingerprint
        try:
            terms = _term_changes(a, form) if rows else {}
            if mode == "amend":
                result = contracts.amend_arrangement(
                    db.uow(), ws.actor, client_id, arrangement_id,
                    {"effective_on": values["effective_on"] or None, "terms": terms, "reason": values["reason"]},
                    dry_run=not saving)
            elif mode == "end":
                result = contracts.end_arrangement(
                    db.uow(), ws.actor, client_id, arrangement_id,
                    {"ends_on": values["ends_on"] or None, "reason": values["reason"]}, dry_run=not saving)
            else:
                result = contracts.reopen_arrangement(
                    db.uow(), ws.actor, client_id, arrangement_id,
                    {"reopens_on": values["reopens_on"] or None, "terms": terms,
                     "ends_on": values["ends_on"] or None, "reason": values["reason"]}, dry_run=not saving)
        except BillingError as e:
            if e.status not in (409, 422):
                raise _Refused(ws, e.status, e.message) from None
            error, status = _field_error(e), e.status
        else:
            if saving:
                notice = {"amend": "proposed" if proposing else "amended", "end": "ended", "reopen": "reopened"}
                return _to_client(client_id, notice[mode], f"arr-{arrangement_id}")
            preview = result.preview
    return _page(request, ws, "clients_change.html", status=status, mode=mode, title=CHANGE_TITLES[mode], c=client,
                 a=a, versions=vv.versions, rows=rows, v=values, error=error, preview=preview,
                 previewed=fingerprint, proposing=proposing, cycles=[c.value for c in Cycle], kinds=KIND_LABELS,
                 action=f"/app/clients/{client_id}/arrangements/{arrangement_id}/{mode}")


def _change_routes(mode: str) -> None:
    path = "/clients/{client_id}/arrangements/{arrangement_id}/" + mode

    def show(request: Request, client_id: Id, arrangement_id: Id) -> Response:
        return _change_page(request, _session(request), mode, client_id, arrangement_id)

    async def post(request: Request, client_id: Id, arrangement_id: Id) -> Response:
        ws, form = await _posted(request)
        return await run_in_threadpool(_change_page, request, ws, mode, client_id, arrangement_id, form)

    show.__name__, post.__name__ = f"{mode}_arrangement_page", f"{mode}_arrangement"
    router.get(path)(show)
    router.post(path)(post)


for _mode in ("amend", "end", "reopen"):
    _change_routes(_mode)


# ---- proposals: finance decides ------------------------------------------------------------------------------------


def _decide(approve: bool) -> Callable[..., Any]:
    async def decide(request: Request, version_id: Id) -> Response:
        ws, form = await _posted(request)
        back = _safe_next(form.get("back"))
        await run_in_threadpool(_call, ws, contracts.decide_amendment, _db(request).uow(), ws.actor, version_id,
                                approve, form.get("note", "").strip()[:2000])
        return _redirect(back, notice="amendment_approved" if approve else "amendment_rejected")

    decide.__name__ = "approve_amendment" if approve else "reject_amendment"
    return decide


router.post("/amendments/{version_id}/approve")(_decide(True))
router.post("/amendments/{version_id}/reject")(_decide(False))


# ---- exports for the accountant (DATEV) -----------------------------------------------------------------------------


def _rates(text: str) -> dict[str, str]:
    out = {}
    for item in text.replace(";", ",").replace(" ", ",").split(","):
        if not item.strip():
            continue
        cur, sep, rate = item.strip().partition(":")
        if not sep or len(cur) != 3:
            raise ValidationFailed(f"{item.strip()[:30]!r}: write a rate as CUR:units-per-EUR, e.g. GBP:0.8612",
                                   field="rates")
        out[cur.upper()] = rate
    return out


def _exports_page(request: Request, ws: WebSession, month: str, rates: str, status: int = 200,
                  error: dict[str, str] | None = None) -> Response:
    if not ws.actor.can(Perm.EXPORT_BOOKS):
        raise _Refused(ws, 403, "Only owners and finance export the books.", "Not yours to see")
    return _page(request, ws, "exports.html", status=status, month=month, rates=rates, error=error)


@router.get("/exports")
def exports_page(request: Request) -> Response:
    ws = _session(request)
    last_month = date.fromordinal(_db(request).clock.today().replace(day=1).toordinal() - 1)
    return _exports_page(request, ws, last_month.strftime("%Y-%m"), "")


@router.get("/exports/datev")
def datev_download(request: Request, month: str = "", rates: str = "") -> Response:
    """The month's DATEV Buchungsstapel, exactly as the API's GET /v1/exports/datev gives it."""
    ws = _session(request)
    month, rates = month.strip()[:20], rates.strip()[:500]
    try:
        out = exports.export_datev(_db(request).uow(readonly=True), ws.actor, month, _rates(rates))
    except ValidationFailed as e:
        return _exports_page(request, ws, month, rates, 422, _field_error(e))
    except BillingError as e:
        raise _Refused(ws, e.status, e.message) from None
    return Response(out.content, media_type="text/csv; charset=windows-1252",
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{out.filename}"'})
