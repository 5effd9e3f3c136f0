"""Questions people ask about the books, answered from the books and the audit log (the agent's reads).

Each is one use case: an invoice's story (its state now and who did what, when and why, with entry seqs), an
explanation of an invoice (each line's source, and the change from the previous period line by line with the
reasons the audit log holds), the work not billed yet, and finding clients by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.errors import NotFound, ValidationFailed
from domain.model.lifecycle import Status
from domain.model.money import minor_to_text
from domain.model.roles import Actor, Perm
from domain.services._auth import client_scope, load_client, require
from domain.services.views import InvoiceView, format_hours
from domain.store.tables import AuditRow, InvoiceRow
from domain.store.uow import UnitOfWork


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClientRef(_View):
    id: int
    name: str
    currency: str


class TimelineEntry(_View):
    """One audit entry, told: who (and as what), when, what, why; `seq` cites the entry."""

    seq: int
    at: datetime
    who: str
    actor_kind: str
    action: str
    why: str
    cause: dict[str, Any]


class InvoiceStory(_View):
    invoice: InvoiceView
    timeline: list[TimelineEntry]


class LineChange(_View):
    """What one part of the bill (an arrangement's section, or the manual lines) was then and is now."""

    label: str
    section: str
    arrangement_id: int | None
    previous: str
    current: str
    change: str
    previous_hours: str | None = None
    current_hours: str | None = None


class LineSource(_View):
    position: int
    section: str
    description: str
    amount: str
    source: str


class AmendmentCause(_View):
    """A change of contract terms an invoice is priced with and its previous invoice was not: which arrangement,
    which version, from when, what changed (field -> [before, after]), who made it (a person, the agent for one, an
    event), who approved it, why; and the audit entry that records it."""

    arrangement_id: int
    arrangement: str
    version: int
    effective_on: date
    changes: dict[str, Any]
    by: str
    decided_by: str
    reason: str
    seq: int | None
    lines: list[int]  # positions of this invoice's lines it priced or adjusted


class Explanation(_View):
    invoice: InvoiceView
    lines: list[LineSource]
    previous: InvoiceView | None
    total_change: str | None
    changes: list[LineChange]
    reasons: list[TimelineEntry]
    amendments: list[AmendmentCause] = []


class UnbilledTime(_View):
    id: int
    date: date
    person: str
    role: str
    hours: str
    description: str


class UnbilledWork(_View):
    client: ClientRef
    through: date
    hours: str
    time_entries: list[UnbilledTime]
    expenses: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    sla_breaches: list[dict[str, Any]]


# ---- finding clients ----------------------------------------------------------------------------------------

def find_clients(uow: UnitOfWork, actor: Actor, name: str = "", limit: int = 20) -> list[ClientRef]:
    """Clients whose name contains `name` (all when blank), by name. Anyone who may read the books or log time
    may look clients up (contractors need a client to log time against); account managers see their own."""
    if not (actor.can(Perm.VIEW_BOOKS) or actor.can(Perm.LOG_TIME)):
        require(actor, Perm.VIEW_BOOKS)
    if not 1 <= limit <= 100:
        raise ValidationFailed("must be between 1 and 100", field="limit")
    with uow:
        return [ClientRef(id=i, name=n, currency=c)
                for i, n, c in uow.clients.refs(client_scope(actor), name.strip() or None, limit)]


# ---- an invoice's story --------------------------------------------------------------------------------------

def _why(row: AuditRow) -> str:
    """The reason an entry holds, in a few words: a note, a reason, the checks that flagged or blocked."""
    after = row.after or {}
    parts: list[str] = []
    for key in ("reason", "note", "line"):
        if after.get(key):
            parts.append(f"{key}: {after[key]}")
    for key in ("flags", "blocks"):
        for check in after.get(key) or []:
            if isinstance(check, dict):
                parts.append(f"{check.get('outcome', key[:-1])} {check.get('code', '')}: {check.get('reason', '')}")
    if after.get("amount"):
        parts.append(f"amount {after['amount']}" + (f" received {after['received_on']}" if after.get("received_on")
                                                     else ""))
    if after.get("credit_note"):
        parts.append(f"credit note {after['credit_note']}")
    if row.action == "invoice.issued" and after.get("number"):
        parts.append(f"numbered {after['number']}")
    for key in ("event_id", "rule", "rule_id", "message_id", "source"):
        if (row.cause or {}).get(key):
            parts.append(f"{key.replace('_', ' ')} {row.cause[key]}")
    return "; ".join(parts)


def _entry(row: AuditRow) -> TimelineEntry:
    return TimelineEntry(seq=row.seq, at=row.at, who=row.actor_label, actor_kind=row.actor_kind, action=row.action,
                         why=_why(row), cause=dict(row.cause or {}))


def _invoice_view(uow: UnitOfWork, inv: InvoiceRow, detail: bool = True) -> InvoiceView:
    client = uow.clients.get(inv.client_id)
    return InvoiceView.of(inv, client.name if client else "?", uow.clock.today(),
                          list(uow.invoices.payments(inv.id)) if detail else None,
                          list(uow.invoices.credit_notes(inv.id)) if detail else None)


def _resolve(uow: UnitOfWork, actor: Actor, ref: str | int) -> InvoiceRow:
    """An invoice by number (INV-2026-000042) or id (42, "#42"); out of scope looks like unknown."""
    text = str(ref).strip().lstrip("#")
    inv = uow.invoices.get(int(text)) if text.isdigit() else uow.invoices.by_number(text)
    scope = client_scope(actor)
    if inv is None or (scope is not None and inv.client_id not in scope):
        raise NotFound(f"no invoice {ref}", code="invoice.not_found", field="invoice")
    return inv


def invoice_story(uow: UnitOfWork, actor: Actor, ref: str | int) -> InvoiceStory:
    """An invoice's state now and its timeline from the audit log (credit notes against it included)."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        inv = _resolve(uow, actor, ref)
        rows = list(uow.audit_log.for_subject("invoice", str(inv.id), limit=500))
        for note in uow.invoices.credit_notes(inv.id):
            rows += uow.audit_log.for_subject("invoice", str(note.id), limit=50)
        return InvoiceStory(invoice=_invoice_view(uow, inv), timeline=[_entry(r) for r in sorted(rows,
                                                                                              key=lambda r: r.seq)])


# ---- explaining an invoice -------------------------------------------------------------------------------------

def _source_text(src: dict[str, Any]) -> str:
    parts = []
    if "period" in src:
        parts.append(f"period {src['period']}")
    if "time_entry_ids" in src:
        ids = src["time_entry_ids"]
        parts.append(f"{len(ids)} time entr{'y' if len(ids) == 1 else 'ies'}")
    if "included_hours" in src:
        parts.append(f"{src['included_hours']} h included")
    for key, label in (("milestone_id", "milestone"), ("expense_id", "expense"), ("breach_id", "SLA breach"),
                       ("invoice_number", "corrects")):
        if key in src:
            parts.append(f"{label} {src[key]}")
    if "markup_pct" in src:
        parts.append(f"cost {src.get('cost')} + {src['markup_pct']}%")
    if "cap" in src:
        parts.append(f"cap {src['cap']}, billed before {src.get('billed_before')}")
    if src.get("manual"):
        parts.append("added by hand" + (f" by {src['by']}" if src.get("by") else ""))
    if src.get("adjusts_period"):
        parts.append(f"adjusts period {src['adjusts_period']} (an amendment)")
    if int(src.get("terms_version") or 1) > 1:  # the first version goes without saying
        parts.append(f"priced by version {src['terms_version']} of the terms")
    return ", ".join(parts)


def _buckets(uow: UnitOfWork, inv: InvoiceRow) -> dict[tuple[str, int | None], tuple[str, int, Decimal | None]]:
    """The invoice's amounts by (section, arrangement): label, amount in minor units, hours (time only)."""
    out: dict[tuple[str, int | None], tuple[str, int, Decimal | None]] = {}
    for ln in inv.lines:
        key = ("manual", None) if ln.manual else (ln.section, ln.arrangement_id)
        arr = uow.arrangements.get(ln.arrangement_id) if ln.arrangement_id is not None else None
        label = "manual lines" if ln.manual else f"{ln.section.replace('_', ' ')}" + (f" ({arr.name})" if arr else "")
        _, amount, hours = out.get(key, (label, 0, None))
        if ln.unit == "h":
            hours = (hours or Decimal(0)) + Decimal(ln.quantity)
        out[key] = (label, amount + ln.amount_minor, hours)
    return out


def _previous(uow: UnitOfWork, inv: InvoiceRow) -> InvoiceRow | None:
    """The client's latest numbered, not void, invoice for a period before this one's."""
    if inv.period_start is None:
        return None
    rows = uow.invoices.list(client_id=inv.client_id, kind="invoice", limit=500)
    earlier = [r for r in rows if r.id != inv.id and r.number and r.status != Status.VOID.value
               and r.period_start is not None and r.period_start < inv.period_start]
    return max(earlier, key=lambda r: (r.period_start or date.min, r.id), default=None)


def _delta(now: int, then: int, currency: str) -> str:
    diff = now - then
    return ("+" if diff > 0 else "") + minor_to_text(diff, currency)


def _hours(h: Decimal | None) -> str | None:
    return None if h is None else format_hours(int(h * 100))


def explain_invoice(uow: UnitOfWork, actor: Actor, ref: str | int) -> Explanation:
    """Each line with its source; the change from the previous period, part by part; the reasons on record."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        inv = _resolve(uow, actor, ref)
        cur = inv.currency
        lines = [LineSource(position=ln.position, section=ln.section, description=ln.description,
                            amount=minor_to_text(ln.amount_minor, cur), source=_source_text(dict(ln.source)))
                 for ln in inv.lines]
        prev = _previous(uow, inv)
        changes: list[LineChange] = []
        if prev is not None:
            now, then = _buckets(uow, inv), _buckets(uow, prev)
            for key in sorted(set(now) | set(then), key=lambda k: (k[0], k[1] or 0)):
                label, amount, hours = now.get(key) or (then[key][0], 0, None)
                _, before, before_hours = then.get(key) or (label, 0, None)
                if amount == before and hours == before_hours:
                    continue
                changes.append(LineChange(label=label, section=key[0], arrangement_id=key[1],
                                          previous=minor_to_text(before, cur), current=minor_to_text(amount, cur),
                                          change=_delta(amount, before, cur), previous_hours=_hours(before_hours),
                                          current_hours=_hours(hours)))
            changes.sort(key=lambda c: -abs(Decimal(c.change)))
        reasons = [_entry(r) for r in uow.audit_log.for_subject("invoice", str(inv.id), limit=500)]
        return Explanation(invoice=_invoice_view(uow, inv), lines=lines,
                           previous=_invoice_view(uow, prev, detail=False) if prev else None,
                           total_change=_delta(inv.total_minor, prev.total_minor, cur) if prev else None,
                           changes=changes, reasons=reasons, amendments=_amendments(uow, inv, prev))


def _versions_named(inv: InvoiceRow) -> dict[tuple[int, int], list[int]]:
    """(arrangement id, version number) -> positions of the lines that name it (priced by it or adjusting for it);
    an adjustment names its version by id, kept as (arrangement id, -version id) until looked up."""
    out: dict[tuple[int, int], list[int]] = {}
    for ln in inv.lines:
        src = dict(ln.source or {})
        arr = src.get("arrangement_id") or ln.arrangement_id
        if arr is None:
            continue
        if src.get("amendment_version_id"):
            out.setdefault((int(arr), -int(src["amendment_version_id"])), []).append(ln.position)
        elif src.get("terms_version"):
            out.setdefault((int(arr), int(src["terms_version"])), []).append(ln.position)
    return out


def _amendments(uow: UnitOfWork, inv: InvoiceRow, prev: InvoiceRow | None) -> list[AmendmentCause]:
    """The amendments behind a change: versions of the terms (other than the first) that price or adjust lines of
    this invoice and priced none of the previous one's, each with the audit entry that recorded it."""
    now = _versions_named(inv)
    then = {(a, n) for a, n in _versions_named(prev)} if prev is not None else set()
    arr_ids = sorted({a for a, _ in now})
    rows = uow.arrangements.versions_for(arr_ids, ("active",)) if arr_ids else []
    by_id = {v.id: v for v in rows}
    by_number = {(v.arrangement_id, v.number): v for v in rows}
    then_numbers = {(a, by_id[-n].number if n < 0 and -n in by_id else n) for a, n in then}
    cited: dict[int, tuple[Any, list[int]]] = {}
    for (arr, n), positions in sorted(now.items()):
        v = by_id.get(-n) if n < 0 else by_number.get((arr, n))
        if v is None or v.number <= 1 or not v.changes or (n > 0 and (arr, v.number) in then_numbers):
            continue
        cited.setdefault(v.id, (v, []))[1].extend(positions)
    out = []
    for v, positions in sorted(cited.values(), key=lambda x: (x[0].arrangement_id, x[0].number)):
        a = uow.arrangements.get(v.arrangement_id)
        entry = next((e for e in uow.audit_log.for_subject("arrangement", str(v.arrangement_id), limit=500)
                      if e.action in ("arrangement.amended", "arrangement.amendment_approved")
                      and ((e.after or {}).get("version") or {}).get("number") == v.number), None)
        out.append(AmendmentCause(
            arrangement_id=v.arrangement_id, arrangement=(a.name or a.kind.replace("_", " ")) if a else "?",
            version=v.number, effective_on=v.effective_on,
            changes={k: val for k, val in dict(v.changes).items() if k not in ("ended", "reopened")},
            by=entry.actor_label if entry is not None else v.created_by, decided_by=v.decided_by, reason=v.reason,
            seq=entry.seq if entry is not None else None, lines=sorted(set(positions))))
    return out


# ---- work not billed yet -----------------------------------------------------------------------------------

def _dicts(rows: Sequence[Any], fields: Sequence[str]) -> list[dict[str, Any]]:
    return [{f: getattr(r, f) for f in fields} for r in rows]


def unbilled_work(uow: UnitOfWork, actor: Actor, client_id: int, through: date | None = None,
                  limit: int = 50) -> UnbilledWork:
    """Recorded work no live invoice bills yet: time, expenses, completed milestones, SLA breaches."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        client = load_client(uow, actor, client_id)
        day = through or uow.clock.today()
        time = list(uow.work.unbilled_time_for([client.id], day))
        expenses = uow.work.unbilled_expenses_for([client.id], day)
        milestones = uow.work.unbilled_milestones_for([client.id], day)
        breaches = uow.work.unbilled_breaches_for([client.id], day)
        return UnbilledWork(
            client=ClientRef(id=client.id, name=client.name, currency=client.currency), through=day,
            hours=format_hours(sum(t.hours_centi for t in time)),
            time_entries=[UnbilledTime(id=t.id, date=t.day, person=t.person, role=t.role,
                                       hours=format_hours(t.hours_centi), description=t.description)
                          for t in time[-limit:]],
            expenses=[{**d, "cost": minor_to_text(e.cost_minor, e.currency), "currency": e.currency}
                      for d, e in zip(_dicts(expenses, ("id", "day", "description")), expenses, strict=True)],
            milestones=[{**d, "amount": minor_to_text(m.amount_minor, m.currency), "currency": m.currency}
                        for d, m in zip(_dicts(milestones, ("id", "name", "completed_on")), milestones,
                                        strict=True)],
            sla_breaches=_dicts(breaches, ("id", "occurred_on", "description")))
