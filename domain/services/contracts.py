"""Contracts that change (issue 13): amend an arrangement's terms from a date, end it on a date, reopen it, cancel a
milestone; an account manager's amendment waits for finance as a proposal.

Every change is a new version of the terms (never an overwrite). A change that reaches back into a period already
invoiced leaves the invoice as it is: the difference becomes an adjustment, billed as a line on the client's next
invoice (its source names the amendment), or proposed as a credit note when the arrangement has ended. Each answer
carries a preview of what the next invoice will contain because of the change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.errors import BadTransition, Conflict, Forbidden, NotFound, ValidationFailed
from domain.model.arrangements import TERMS_BY_KIND, money_fields
from domain.model.lines import WorkEntry
from domain.model.money import minor_exponent, minor_to_text, parse_decimal, round_money
from domain.model.periods import Cycle, Period, period_containing
from domain.model.roles import Actor, Perm, Role
from domain.model.versions import Proration, Version, check_cycle_change, diff, in_force, merge_changes
from domain.services._auth import load_client, require
from domain.services._context import versions_by_arrangement
from domain.services._drafting import TermsCache, base_version, period_total, periodic_lines, reprice_time_line
from domain.services._input import parse_input
from domain.services.views import ArrangementView, AuditEntryView, MilestoneView, View
from domain.store.tables import (
    ArrangementAdjustmentRow,
    ArrangementRow,
    ArrangementVersionRow,
    ClientRow,
)
from domain.store.uow import UnitOfWork

PERIODIC = ("retainer", "subscription")


# ---- inputs and views -----------------------------------------------------------------------------------------------


class AmendmentIn(BaseModel):
    """Terms that change from a date: only the fields named change (rates are merged by name; null removes one)."""

    model_config = ConfigDict(extra="forbid")
    effective_on: date
    terms: dict[str, Any] = Field(min_length=1)
    reason: str = Field(default="", max_length=2000)


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ends_on: date
    reason: str = Field(default="", max_length=2000)


class ReopenIn(BaseModel):
    """Reopen an ended arrangement from a date, with its last terms or changed ones; nothing bills in between."""

    model_config = ConfigDict(extra="forbid")
    reopens_on: date
    terms: dict[str, Any] = Field(default_factory=dict)
    ends_on: date | None = None
    reason: str = Field(default="", max_length=2000)


class VersionView(View):
    id: int | None
    arrangement_id: int
    number: int
    effective_on: date
    terms: dict[str, Any] | None  # None: not in force (a gap between an end and a reopening)
    changes: dict[str, Any]
    status: str  # active | proposed | rejected
    reason: str
    created_by: str
    decided_by: str
    created_at: datetime | None
    # filled in where versions of several arrangements are listed together (proposals waiting for finance)
    client_id: int | None = None
    client_name: str = ""
    arrangement_name: str = ""

    @classmethod
    def of(cls, v: ArrangementVersionRow) -> VersionView:
        return cls(id=v.id, arrangement_id=v.arrangement_id, number=v.number, effective_on=v.effective_on,
                   terms=dict(v.terms) if v.terms is not None else None, changes=dict(v.changes or {}),
                   status=v.status, reason=v.reason, created_by=v.created_by, decided_by=v.decided_by,
                   created_at=v.created_at)


class AdjustmentView(View):
    id: int | None
    arrangement_id: int
    version_id: int | None
    period: str
    section: str
    description: str
    amount: str
    currency: str
    disposition: str  # next_invoice | credit_note
    invoice_id: int | None  # the invoice that billed the period
    billed_on_invoice_id: int | None = None

    @classmethod
    def of(cls, r: ArrangementAdjustmentRow, billed_on: int | None = None) -> AdjustmentView:
        return cls(id=r.id, arrangement_id=r.arrangement_id, version_id=r.version_id, period=r.period_key,
                   section=r.section, description=r.description, amount=minor_to_text(r.amount_minor, r.currency),
                   currency=r.currency, disposition=r.disposition, invoice_id=r.invoice_id,
                   billed_on_invoice_id=billed_on)


class PreviewLine(View):
    description: str
    amount: str
    terms_version: int | None = None


class Preview(View):
    """What the next invoice will contain because of the change."""

    currency: str
    adjustments: list[AdjustmentView] = Field(default_factory=list)  # differences on periods already invoiced
    next_period: str | None = None          # the next period this arrangement bills, with its lines
    next_lines: list[PreviewLine] = Field(default_factory=list)
    note: str = ""


class ChangeResult(View):
    arrangement: ArrangementView
    version: VersionView | None
    preview: Preview


class VersionsView(View):
    arrangement: ArrangementView
    versions: list[VersionView]
    adjustments: list[AdjustmentView]


# ---- helpers ------------------------------------------------------------------------------------------------------


def _load_arrangement(uow: UnitOfWork, actor: Actor, arrangement_id: int, client_id: int | None = None,
                      lock: bool = False) -> tuple[ArrangementRow, ClientRow]:
    row = uow.arrangements.lock(arrangement_id) if lock else uow.arrangements.get(arrangement_id)
    if row is None or (client_id is not None and row.client_id != client_id):
        raise NotFound(f"no arrangement with id {arrangement_id}", code="arrangement.not_found",
                       field="arrangement_id")
    client = load_client(uow, actor, row.client_id)
    return row, client


def _version_rows(uow: UnitOfWork, a: ArrangementRow, statuses: Sequence[str] = ("active",),
                  ) -> list[ArrangementVersionRow]:
    return list(uow.arrangements.versions_for([a.id], statuses))


def _versions(uow: UnitOfWork, a: ArrangementRow) -> list[Version]:
    return versions_by_arrangement(uow, [a.id]).get(a.id) or [base_version(a)]


def first_version(uow: UnitOfWork, a: ArrangementRow, by: Actor) -> ArrangementVersionRow:
    """Store version 1 (the terms the arrangement was made with), for an arrangement that has none yet (a step of
    adding or amending one, not a use case of its own)."""
    row = version_one(uow, a, by)
    uow.arrangements.add(row)
    return row


def version_one(uow: UnitOfWork, a: ArrangementRow, by: Actor) -> ArrangementVersionRow:
    """Version 1 of a new arrangement's terms, not yet added (a book import adds thousands in one flush)."""
    return ArrangementVersionRow(arrangement_id=a.id, number=1, effective_on=a.starts_on or a.created_at.date(),
                                 terms=dict(a.terms), changes={}, status="active", reason="",
                                 created_by=by.email or by.label, decided_by="", created_at=uow.clock.now())


def _ensure_first(uow: UnitOfWork, actor: Actor, a: ArrangementRow) -> None:
    if not uow.arrangements.versions_for([a.id], ("active", "proposed", "rejected")):
        first_version(uow, a, actor)


def _sync_current(uow: UnitOfWork, a: ArrangementRow) -> None:
    """The arrangement row's terms are those of its newest version with terms (what lists and schedules show)."""
    with_terms = [v for v in _version_rows(uow, a) if v.terms is not None]
    if with_terms:
        a.terms = dict(with_terms[-1].terms or {})


def _proration(uow: UnitOfWork) -> Proration:
    return Proration(uow.workspace.get().amendment_proration or Proration.BY_DAY.value)


def _validated_terms(a: ArrangementRow, client: ClientRow, merged: Mapping[str, Any]) -> dict[str, Any]:
    """Check merged terms with the same model as a new arrangement; the field is named under `terms.`."""
    model = TERMS_BY_KIND[a.kind]
    try:
        t = model.model_validate({**merged, "kind": a.kind, "name": a.name})
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(str(first["msg"]).removeprefix("Value error, "),
                               field=f"terms.{loc}" if loc else "terms") from None
    places = minor_exponent(client.currency)
    for field, amount in money_fields(t).items():
        parse_decimal(amount, f"terms.{field}", max_places=places)
    return t.model_dump(mode="json", exclude={"name", "starts_on", "ends_on", "kind"})


def _describe(changes: Mapping[str, Any]) -> str:
    parts = []
    for k, (b, a) in changes.items():
        if isinstance(b, dict) or isinstance(a, dict):
            parts.append(f"{k.replace('_', ' ')} changed")
        else:
            parts.append(f"{k.replace('_', ' ')} {b} → {a}")
    return ", ".join(parts)


def _amended(changes: Mapping[str, Any], effective_on: date, number: int, proposed: bool = False) -> dict[str, Any]:
    """What an amendment changed, as data for the adjustment's wording (`_describe` is its English): each field
    with its values before and after as the terms store them (a rate table or tier list only as changed)."""
    fields = [{"field": k, "changed": 1} if isinstance(b, dict | list) or isinstance(a, dict | list)
              else {"field": k, "before": b, "after": a} for k, (b, a) in changes.items()]
    return {"changes": fields, "from": effective_on.isoformat(), "version": number, "proposed": int(proposed)}


def _adjustment_text(key: str, **params: Any) -> dict[str, Any]:
    """An adjustment's wording as data, as generated lines carry it in `source["text"]` (`line_text`)."""
    return {"key": key, "params": params}


def _adjustments(uow: UnitOfWork, a: ArrangementRow, client: ClientRow, versions: list[Version], since: date,
                 what: str, version_id: int | None, change: dict[str, Any]) -> list[ArrangementAdjustmentRow]:
    """The differences `versions` make to the periods of `a` already invoiced that end on or after `since`:
    what each period comes to now, less what its invoices (and earlier adjustments) billed. Not stored here.
    `what` says in English what changed (the description), `change` the same as data (the wording)."""
    if a.kind == "time_and_materials":
        return _time_adjustments(uow, a, client, versions, since, what, version_id, change)
    if a.kind not in PERIODIC:
        return []
    cur = client.currency
    exp = minor_exponent(cur)
    mode = _proration(uow)
    earlier: dict[str, int] = {}
    for adj in uow.arrangements.adjustments(a.id):
        earlier[adj.period_key] = earlier.get(adj.period_key, 0) + adj.amount_minor
    ended = a.ends_on is not None and a.ends_on < uow.clock.today()
    out = []
    claimed = uow.claims.period_invoices(a.id)  # the billed periods and their lines: two statements, not two each
    lines = uow.arrangements.period_lines_by_period(a.id) if claimed else {}
    for key in sorted(claimed):
        lo, hi = (date.fromisoformat(x) for x in key.split(".."))
        if hi < since:
            continue
        p = Period(lo, hi)
        billed = sum(amount for _, amount, _ in lines.get(key, [])) + earlier.get(key, 0)
        should = int(round_money(period_total(a, versions, p, mode, cur), cur).scaleb(exp))
        delta = should - billed
        if delta == 0:
            continue
        invoice_id = claimed[key]
        credit = ended and delta < 0
        out.append(ArrangementAdjustmentRow(
            arrangement_id=a.id, client_id=a.client_id, version_id=version_id, period_key=key,
            section="retainer" if a.kind == "retainer" else "subscription",
            description=f"{a.name} — {p.label()}: {what}" + (" (credit)" if delta < 0 else " (difference)"),
            text=_adjustment_text("adjustment", name=a.name, start=lo.isoformat(), end=hi.isoformat(),
                                  change=change, credit=int(delta < 0)),
            amount_minor=delta, currency=cur, disposition="credit_note" if credit else "next_invoice",
            invoice_id=invoice_id, created_at=uow.clock.now()))
    return out


def _time_adjustments(uow: UnitOfWork, a: ArrangementRow, client: ClientRow, versions: list[Version], since: date,
                      what: str, version_id: int | None, change: dict[str, Any]) -> list[ArrangementAdjustmentRow]:
    """Time already invoiced that a change dated back re-prices: each billed time line whose entries reach
    `since`, priced again entry by entry with the version in force on its day, less what it billed (and earlier
    adjustments of it). Lines priced by tiers stay as billed. Not stored here."""
    cur = client.currency
    exp = minor_exponent(cur)
    earlier: dict[str, int] = {}
    for adj in uow.arrangements.adjustments(a.id):
        earlier[adj.period_key] = earlier.get(adj.period_key, 0) + adj.amount_minor
    billed = [ln for ln in uow.arrangements.billed_time_lines(a.id) if ln[3] != 0 and "tier" not in ln[5]]
    wanted = sorted({int(i) for ln in billed for i in ln[5].get("time_entry_ids", [])})
    rows = {e.id: e for e in uow.work.time_entries_by_ids(wanted)}
    ended = a.ends_on is not None and a.ends_on < uow.clock.today()
    cache = TermsCache()
    out = []
    for invoice_id, position, quantity, _unit, amount_minor, src in billed:
        entries = [WorkEntry(e.id, e.person, e.role, e.day, Decimal(e.hours_centi) / 100)
                   for i in src.get("time_entry_ids", []) if (e := rows.get(int(i))) is not None]
        if not entries or max(e.day for e in entries) < since:
            continue
        repriced = reprice_time_line(a, versions, Decimal(quantity), entries, cur, cache)
        if repriced is None:
            continue
        key = f"time:{invoice_id}:{position}"
        delta = int(round_money(repriced[0], cur).scaleb(exp)) - amount_minor - earlier.get(key, 0)
        if delta == 0:
            continue
        inv = uow.invoices.get(invoice_id)
        days = sorted(e.day for e in entries if e.day >= since)
        number = inv.number if inv is not None and inv.number else str(invoice_id)
        out.append(ArrangementAdjustmentRow(
            arrangement_id=a.id, client_id=a.client_id, version_id=version_id, period_key=key, section="time",
            description=f"{a.name or 'Time and materials'} — time of {days[0]}..{days[-1]} on invoice "
                        f"{number}: {what}"
                        + (" (credit)" if delta < 0 else " (difference)"),
            text=_adjustment_text("time_adjustment", name=a.name, start=days[0].isoformat(),
                                  end=days[-1].isoformat(), invoice=number, change=change, credit=int(delta < 0)),
            amount_minor=delta, currency=cur, disposition="credit_note" if ended and delta < 0 else "next_invoice",
            invoice_id=invoice_id, created_at=uow.clock.now()))
    return out


def _preview(uow: UnitOfWork, a: ArrangementRow, client: ClientRow, versions: list[Version],
             adjustments: list[ArrangementAdjustmentRow], since: date) -> Preview:
    cur = client.currency
    adj_views = [AdjustmentView.of(x) for x in adjustments]
    if a.kind not in PERIODIC:
        note = {"time_and_materials": "time logged from the effective date is priced with the new terms",
                "pass_through": "expenses dated from the effective date are marked up with the new terms",
                "sla_credit": "breaches from the effective date are credited with the new terms"}.get(a.kind, "")
        if a.ends_on is not None:
            note = f"work up to {a.ends_on} still bills on the next invoice; nothing after it"
        return Preview(currency=cur, adjustments=adj_views, note=note)
    claimed = {k for i, k in uow.claims.claimed_periods([a.id]) if i == a.id}
    cache = TermsCache()
    day = max(uow.clock.today(), since)
    for _ in range(24):  # the next period not yet invoiced
        v = in_force(versions, day)
        if v.terms is None:
            nxt = [x for x in versions if x.effective_on > day and x.terms is not None]
            if not nxt:
                break
            day = nxt[0].effective_on
            continue
        cycle = Cycle((v.terms or {}).get("cycle") or "monthly")
        p = period_containing(day, cycle)
        if a.ends_on is not None and p.start > a.ends_on:
            break
        if p.key not in claimed:
            lines = periodic_lines(a, versions, p, _proration(uow), cur, cache)
            return Preview(currency=cur, adjustments=adj_views, next_period=p.key, next_lines=[
                PreviewLine(description=ln.description, amount=format(ln.amount, "f"),
                            terms_version=ln.source.get("terms_version")) for ln in lines])
        day = p.end + timedelta(days=1)
    return Preview(currency=cur, adjustments=adj_views,
                   note="nothing more to bill: the arrangement has ended" if a.ends_on else "")


def _arrangement_view(uow: UnitOfWork, a: ArrangementRow) -> ArrangementView:
    ms = [MilestoneView.of(m, uow.work.is_claimed("milestone", m.id)) for m in uow.arrangements.milestones(a.id)]
    return ArrangementView.of(a, ms)


def _apply(uow: UnitOfWork, actor: Actor, a: ArrangementRow, client: ClientRow, v: ArrangementVersionRow,
           ) -> list[ArrangementAdjustmentRow]:
    """Put an approved version in force: the row's current terms, and the differences on invoiced periods."""
    _sync_current(uow, a)
    what = f"{_describe(v.changes)} from {v.effective_on} (version {v.number})"
    adjustments = _adjustments(uow, a, client, _versions(uow, a), v.effective_on, what, v.id,
                               _amended(v.changes, v.effective_on, v.number))
    for adj in adjustments:
        uow.arrangements.add(adj)
    return adjustments


def _audit_after(a: ArrangementRow, v: ArrangementVersionRow | None, adjustments: list[ArrangementAdjustmentRow],
                 ) -> dict[str, Any]:
    return {"client_id": a.client_id, "terms": dict(a.terms), "starts_on": a.starts_on, "ends_on": a.ends_on,
            "version": VersionView.of(v).model_dump(mode="json") if v is not None else None,
            "adjustments": [AdjustmentView.of(x).model_dump(mode="json") for x in adjustments]}


@contextmanager
def _trial(uow: UnitOfWork, dry_run: bool) -> Iterator[None]:
    """A dry run does all a change does, to compute its preview, then undoes it: a savepoint rolled back and the
    audit entries it recorded dropped (so a caller's own transaction, if any, commits none of it either)."""
    if not dry_run:
        yield
        return
    audited = len(uow.audit.pending)
    savepoint = uow.session.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()
        del uow.audit.pending[audited:]


# ---- amend -----------------------------------------------------------------------------------------------------------


def amend_arrangement(uow: UnitOfWork, actor: Actor, client_id: int, arrangement_id: int,
                      data: AmendmentIn | Mapping[str, Any], dry_run: bool = False) -> ChangeResult:
    """Change terms from a date: a new version. Owners and finance put it in force at once; an account manager's
    amendment of an own client waits for finance's approval (status `proposed`). `dry_run`: the same checks and
    preview, nothing kept."""
    proposing = actor.role == Role.ACCOUNT_MANAGER
    if not proposing:
        require(actor, Perm.MANAGE_CLIENTS)
    data = parse_input(AmendmentIn, data)
    with uow, _trial(uow, dry_run):
        a, client = _load_arrangement(uow, actor, arrangement_id, client_id, lock=True)
        if a.kind == "milestone":
            raise ValidationFailed("a milestone arrangement has no terms to amend: cancel a milestone instead",
                                   code="amendment.not_amendable", field="terms")
        if not a.active:
            raise BadTransition("this arrangement is closed; add a new one", code="arrangement.closed",
                                field="arrangement_id")
        if a.starts_on is not None and data.effective_on < a.starts_on:
            raise ValidationFailed(f"the arrangement began on {a.starts_on}: an amendment cannot take effect "
                                   "before it", code="amendment.before_start", field="effective_on")
        if a.ends_on is not None and data.effective_on > a.ends_on:
            raise ValidationFailed(f"the arrangement ended on {a.ends_on}: reopen it with the new terms instead",
                                   code="amendment.after_end", field="effective_on")
        _ensure_first(uow, actor, a)
        rows = _version_rows(uow, a, ("active", "proposed"))
        clash = next((r for r in rows if r.effective_on == data.effective_on), None)
        if clash is not None:
            raise ValidationFailed(f"version {clash.number} ({clash.status}) already takes effect on "
                                   f"{data.effective_on}: one change per day; amend from another date or decide "
                                   "that one first", code="amendment.overlap", field="effective_on")
        versions = _versions(uow, a)
        base = in_force(versions, data.effective_on)
        current = dict(base.terms or {})
        merged = merge_changes(a.kind, current, data.terms)
        new_terms = _validated_terms(a, client, merged)
        changes = diff(current, new_terms)
        if not changes:
            raise ValidationFailed("these terms are already in force on that date: nothing changes",
                                   code="amendment.no_change", field="terms")
        check_cycle_change(current, new_terms, data.effective_on)
        number = max((r.number for r in _version_rows(uow, a, ("active", "proposed", "rejected"))), default=1) + 1
        v = uow.arrangements.add(ArrangementVersionRow(
            arrangement_id=a.id, number=number, effective_on=data.effective_on, terms=new_terms, changes=changes,
            status="proposed" if proposing else "active", reason=data.reason.strip(),
            created_by=actor.email or actor.label, decided_by="", created_at=uow.clock.now()))
        before = {"terms": current, "version": base.number}
        if proposing:
            trial = [*versions, Version(v.id, v.number, v.effective_on, new_terms)]
            what = f"{_describe(changes)} from {v.effective_on} (version {v.number}, proposed)"
            adjustments = _adjustments(uow, a, client, trial, v.effective_on, what, v.id,
                                       _amended(changes, v.effective_on, v.number, proposed=True))
            preview = _preview(uow, a, client, trial, adjustments, v.effective_on)
            uow.audit.record(actor, "arrangement.amendment_proposed", "arrangement", a.id, before=before,
                             after=_audit_after(a, v, adjustments))
        else:
            adjustments = _apply(uow, actor, a, client, v)
            preview = _preview(uow, a, client, _versions(uow, a), adjustments, v.effective_on)
            uow.audit.record(actor, "arrangement.amended", "arrangement", a.id, before=before,
                             after=_audit_after(a, v, adjustments))
        result = ChangeResult(arrangement=_arrangement_view(uow, a), version=VersionView.of(v), preview=preview)
        if not dry_run:
            uow.commit()
    return result


def decide_amendment(uow: UnitOfWork, actor: Actor, version_id: int, approve: bool, note: str = "",
                     dry_run: bool = False) -> ChangeResult:
    """Finance approves (puts in force) or rejects an account manager's proposed amendment. `dry_run`: what
    approving it would do now, nothing kept."""
    require(actor, Perm.APPROVE)
    if not approve and not note.strip():
        raise ValidationFailed("say why it is rejected", field="note")
    with uow, _trial(uow, dry_run):
        v = uow.arrangements.version(version_id, for_update=True)
        if v is None:
            raise NotFound(f"no amendment with id {version_id}", code="amendment.not_found", field="version_id")
        a, client = _load_arrangement(uow, actor, v.arrangement_id, lock=True)
        if v.status != "proposed":
            raise BadTransition(f"this amendment is {v.status}, not waiting for a decision", field="status")
        if actor.email and actor.email == v.created_by:
            raise Forbidden("an amendment needs an approver who did not propose it", field="version_id")
        before = VersionView.of(v).model_dump(mode="json")
        v.decided_by = actor.email or actor.label
        if note.strip():
            v.reason = (v.reason + "\n" if v.reason else "") + f"{v.decided_by}: {note.strip()}"
        adjustments: list[ArrangementAdjustmentRow] = []
        if approve:
            if a.ends_on is not None and v.effective_on > a.ends_on:
                raise ValidationFailed(f"the arrangement ended on {a.ends_on} since this was proposed: reject it",
                                       code="amendment.after_end", field="effective_on")
            v.status = "active"
            uow.flush()
            adjustments = _apply(uow, actor, a, client, v)
        else:
            v.status = "rejected"
        uow.flush()
        uow.audit.record(actor, "arrangement.amendment_approved" if approve else "arrangement.amendment_rejected",
                         "arrangement", a.id, before=before, after=_audit_after(a, v, adjustments))
        preview = _preview(uow, a, client, _versions(uow, a), adjustments, v.effective_on)
        result = ChangeResult(arrangement=_arrangement_view(uow, a), version=VersionView.of(v), preview=preview)
        if not dry_run:
            uow.commit()
    return result


def list_proposals(uow: UnitOfWork, actor: Actor) -> list[VersionView]:
    """Amendments waiting for finance (account managers: those of their own clients)."""
    require(actor, Perm.VIEW_BOOKS)
    from domain.services._auth import client_scope

    with uow:
        out = []
        proposals = uow.arrangements.proposals(client_scope(actor))
        # their arrangements and clients in two statements, not two per proposal
        arrangements = {a.id: a for a in uow.arrangements.get_many(sorted({v.arrangement_id for v in proposals}))}
        names = {c.id: c.name for c in uow.clients.get_many(sorted({a.client_id for a in arrangements.values()}))}
        for v in proposals:
            a = arrangements.get(v.arrangement_id)
            out.append(VersionView.of(v).model_copy(update={
                "client_id": a.client_id if a else None, "client_name": names.get(a.client_id, "") if a else "",
                "arrangement_name": a.name if a else ""}))
        return out


def seats_on(uow: UnitOfWork, a: ArrangementRow, day: date) -> int | None:
    """The seat count of a subscription in force on a day."""
    seats = (in_force(_versions(uow, a), day).terms or {}).get("seats")
    return int(seats) if seats is not None else None


def preview_arrangement(uow: UnitOfWork, actor: Actor, client_id: int, data: Mapping[str, Any]) -> Preview:
    """What the next invoice will contain because of a new arrangement: `clients.add_arrangement` run as a dry run
    (the same checks; nothing kept)."""
    from domain.services import clients  # clients builds on this module

    require(actor, Perm.MANAGE_CLIENTS)
    with uow, _trial(uow, True):
        view = clients.add_arrangement(uow, actor, client_id, dict(data))
        a, client = _load_arrangement(uow, actor, view.id, client_id)
        if a.kind == "milestone":
            return Preview(currency=client.currency, note="each milestone bills on the next invoice once it is "
                                                          "completed; nothing before")
        p = _preview(uow, a, client, _versions(uow, a), [], a.starts_on or uow.clock.today())
        first = date.fromisoformat(p.next_period.split("..")[0]) if p.next_period else None
        if first is not None and a.starts_on is not None and a.starts_on < first:
            p = p.model_copy(update={"note": f"it begins on {a.starts_on}: the periods before {first} bill too, "
                                             "as they fall due (shown: the next one)"})
        return p


# ---- end, reopen ----------------------------------------------------------------------------------------------------


def end_arrangement(uow: UnitOfWork, actor: Actor, client_id: int, arrangement_id: int,
                    data: EndIn | Mapping[str, Any], dry_run: bool = False) -> ChangeResult:
    """End an arrangement on a date: its last period is prorated, work up to the end still bills on the next
    invoice, nothing bills after. An end inside a period billed in advance proposes a credit note for the rest.
    `dry_run`: the same checks and preview, nothing kept."""
    require(actor, Perm.MANAGE_CLIENTS)
    data = parse_input(EndIn, data)
    with uow, _trial(uow, dry_run):
        a, client = _load_arrangement(uow, actor, arrangement_id, client_id, lock=True)
        if not a.active:
            raise BadTransition("this arrangement is already closed", code="arrangement.closed",
                                field="arrangement_id")
        if a.starts_on is not None and data.ends_on < a.starts_on:
            raise ValidationFailed(f"the arrangement began on {a.starts_on}: it cannot end before that",
                                   code="arrangement.end_before_start", field="ends_on")
        if a.ends_on == data.ends_on:
            raise ValidationFailed(f"it already ends on {a.ends_on}", code="arrangement.no_change", field="ends_on")
        _ensure_first(uow, actor, a)
        later = [r for r in _version_rows(uow, a, ("active", "proposed")) if r.effective_on > data.ends_on]
        if any(r.status == "proposed" for r in later):
            raise ValidationFailed("an amendment proposed after that date waits for a decision: decide it first",
                                   code="amendment.pending", field="ends_on")
        before = {"ends_on": a.ends_on, "terms": dict(a.terms)}
        a.ends_on = data.ends_on
        uow.flush()
        what = f"ended on {data.ends_on}" + (f" ({data.reason.strip()})" if data.reason.strip() else "")
        adjustments = _adjustments(uow, a, client, _versions(uow, a), data.ends_on + timedelta(days=1), what, None,
                                   {"ended": data.ends_on.isoformat(), "reason": data.reason.strip()})
        if a.ends_on < uow.clock.today() or any(x.amount_minor < 0 for x in adjustments):
            for adj in adjustments:
                if adj.amount_minor < 0:
                    adj.disposition = "credit_note"
        for adj in adjustments:
            uow.arrangements.add(adj)
        uow.audit.record(actor, "arrangement.ended", "arrangement", a.id, before=before,
                         after={**_audit_after(a, None, adjustments), "reason": data.reason.strip()})
        preview = _preview(uow, a, client, _versions(uow, a), adjustments, data.ends_on)
        result = ChangeResult(arrangement=_arrangement_view(uow, a), version=None, preview=preview)
        if not dry_run:
            uow.commit()
    return result


def reopen_arrangement(uow: UnitOfWork, actor: Actor, client_id: int, arrangement_id: int,
                       data: ReopenIn | Mapping[str, Any], dry_run: bool = False) -> ChangeResult:
    """Reopen an ended arrangement from a date with a new version (its last terms, or changed ones); the days
    between the end and the reopening bill nothing. `dry_run`: the same checks and preview, nothing kept."""
    require(actor, Perm.MANAGE_CLIENTS)
    data = parse_input(ReopenIn, data)
    with uow, _trial(uow, dry_run):
        a, client = _load_arrangement(uow, actor, arrangement_id, client_id, lock=True)
        if a.ends_on is None:
            raise BadTransition("this arrangement has not ended: amend it instead", code="arrangement.not_ended",
                                field="arrangement_id")
        if data.reopens_on <= a.ends_on:
            raise ValidationFailed(f"it ended on {a.ends_on}: reopen it from a later day", field="reopens_on")
        if data.ends_on is not None and data.ends_on < data.reopens_on:
            raise ValidationFailed("the new end is before the reopening", code="arrangement.end_before_start",
                                   field="ends_on")
        _ensure_first(uow, actor, a)
        versions = _versions(uow, a)
        last = next((v for v in reversed(versions) if v.terms is not None), versions[-1])
        current = dict(last.terms or {})
        new_terms = _validated_terms(a, client, merge_changes(a.kind, current, data.terms)) if data.terms \
            else current
        if a.kind != "milestone":
            check_cycle_change(current, new_terms, data.reopens_on)
        before = {"ends_on": a.ends_on, "terms": dict(a.terms)}
        number = max((r.number for r in _version_rows(uow, a, ("active", "proposed", "rejected"))), default=1)
        gap_from = a.ends_on + timedelta(days=1)
        if gap_from < data.reopens_on:
            number += 1
            uow.arrangements.add(ArrangementVersionRow(
                arrangement_id=a.id, number=number, effective_on=gap_from, terms=None,
                changes={"ended": [None, str(a.ends_on)]}, status="active", reason=data.reason.strip(),
                created_by=actor.email or actor.label, decided_by="", created_at=uow.clock.now()))
        number += 1
        v = uow.arrangements.add(ArrangementVersionRow(
            arrangement_id=a.id, number=number, effective_on=data.reopens_on, terms=new_terms,
            changes={**diff(current, new_terms), "reopened": [str(a.ends_on), str(data.reopens_on)]},
            status="active", reason=data.reason.strip(), created_by=actor.email or actor.label, decided_by="",
            created_at=uow.clock.now()))
        a.ends_on = data.ends_on
        a.active = True
        uow.flush()
        _sync_current(uow, a)
        uow.audit.record(actor, "arrangement.reopened", "arrangement", a.id, before=before,
                         after=_audit_after(a, v, []))
        preview = _preview(uow, a, client, _versions(uow, a), [], data.reopens_on)
        result = ChangeResult(arrangement=_arrangement_view(uow, a), version=VersionView.of(v), preview=preview)
        if not dry_run:
            uow.commit()
    return result


def list_versions(uow: UnitOfWork, actor: Actor, client_id: int, arrangement_id: int) -> VersionsView:
    """Every version of an arrangement's terms (proposed and rejected ones too) and the adjustments they left."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        a, _client = _load_arrangement(uow, actor, arrangement_id, client_id)
        rows = _version_rows(uow, a, ("active", "proposed", "rejected"))
        versions = [VersionView.of(r) for r in rows] or [VersionView(
            id=None, arrangement_id=a.id, number=1, effective_on=a.starts_on or a.created_at.date(),
            terms=dict(a.terms), changes={}, status="active", reason="", created_by="", decided_by="",
            created_at=a.created_at)]
        adjustments = [AdjustmentView.of(x, uow.work.is_claimed("adjustment", x.id))
                       for x in uow.arrangements.adjustments(a.id)]
        return VersionsView(arrangement=_arrangement_view(uow, a), versions=versions, adjustments=adjustments)


class ArrangementDetail(View):
    """One arrangement as a client's page shows it: its versions and adjustments (`list_versions`) and the first
    entries of its audit history (`audit.audit_history` of the arrangement)."""

    arrangement: ArrangementView
    versions: list[VersionView]
    adjustments: list[AdjustmentView]
    history: list[AuditEntryView]


class ClientContracts(View):
    """Every arrangement of a client with its details, and its amendments waiting for finance (`list_proposals`,
    this client's only)."""

    arrangements: list[ArrangementDetail]
    proposals: list[VersionView]


def client_contracts(uow: UnitOfWork, actor: Actor, client_id: int, history: int = 100) -> ClientContracts:
    """What `clients.list_arrangements`, `list_versions` and the audit history of each arrangement, and
    `list_proposals` say about one client, read with a fixed number of statements however many arrangements,
    versions, milestones and adjustments it has (a client's page)."""
    from domain.services import audit  # audit reads views only; imported here as list_proposals does

    require(actor, Perm.VIEW_BOOKS)
    if not 1 <= history <= 1000:
        raise ValidationFailed("must be between 1 and 1000", field="history")
    with uow:
        client = load_client(uow, actor, client_id)
        rows = uow.arrangements.for_client(client_id, active_only=False)
        ids = [a.id for a in rows]
        milestones = uow.arrangements.milestones_for(ids)
        billed = uow.work.claimed_by("milestone", [m.id for m in milestones])
        versions = uow.arrangements.versions_for(ids, ("active", "proposed", "rejected"))
        adjustments = uow.arrangements.adjustments_for(ids)
        credited = uow.work.claimed_by("adjustment", [x.id for x in adjustments])
        entries = uow.audit_log.first_for_subjects("arrangement", [str(i) for i in ids], history)
        out = []
        for a in rows:
            ms = [MilestoneView.of(m, billed.get(m.id)) for m in milestones if m.arrangement_id == a.id]
            mine = [VersionView.of(v) for v in versions if v.arrangement_id == a.id] or [VersionView(
                id=None, arrangement_id=a.id, number=1, effective_on=a.starts_on or a.created_at.date(),
                terms=dict(a.terms), changes={}, status="active", reason="", created_by="", decided_by="",
                created_at=a.created_at)]
            log = [AuditEntryView.of(e) for e in entries if e.subject_id == str(a.id)]
            if actor.role == Role.ACCOUNT_MANAGER:  # their clients' entries only, as audit_history reads them
                kept = [e for e in log if audit.client_of(e) in (actor.client_ids or frozenset())]
                # entries left out of a full first page: later ones may fill it, so read on as audit_history does
                log = kept if len(kept) == len(log) or len(log) < history else audit.audit_history(
                    uow, actor, "arrangement", str(a.id), history)
            out.append(ArrangementDetail(
                arrangement=ArrangementView.of(a, ms), versions=mine,
                adjustments=[AdjustmentView.of(x, credited.get(x.id)) for x in adjustments
                             if x.arrangement_id == a.id],
                history=log))
        names = {a.id: a.name for a in rows}
        proposals = [VersionView.of(v).model_copy(update={
            "client_id": client.id, "client_name": client.name, "arrangement_name": names[v.arrangement_id]})
            for v in sorted(versions, key=lambda v: v.id) if v.status == "proposed"]
        return ClientContracts(arrangements=out, proposals=proposals)


def credit_proposed(uow: UnitOfWork, actor: Actor, adjustment_id: int, client_id: int | None = None,
                    ) -> AdjustmentView:
    """Issue the credit note an ended arrangement's adjustment proposes, against the invoice that billed the period
    (tax at that period's rate); the adjustment is then settled, never credited twice."""
    from domain.services import invoicing  # invoicing drafts through clients, which builds on this module

    require(actor, Perm.VOID)
    with uow:
        adj = uow.arrangements.adjustment(adjustment_id)
        if adj is None or (client_id is not None and adj.client_id != client_id):
            raise NotFound(f"no adjustment with id {adjustment_id}", code="adjustment.not_found",
                           field="adjustment_id")
        load_client(uow, actor, adj.client_id)
        if adj.disposition != "credit_note" or adj.invoice_id is None:
            raise BadTransition("this adjustment goes on the next invoice, not on a credit note",
                                code="adjustment.not_a_credit", field="adjustment_id")
        done = uow.work.is_claimed("adjustment", adj.id)
        if done is not None:
            raise Conflict(f"already credited by credit note {done}", code="adjustment.credited",
                           field="adjustment_id")
        rates = [Decimal(tax_rate) for _, _, tax_rate in uow.arrangements.period_line_rates(
            adj.arrangement_id, adj.period_key)] or _time_line_rate(uow, adj) or [Decimal(0)]
        net = Decimal(-adj.amount_minor).scaleb(-minor_exponent(adj.currency))
        gross = round_money(net + net * rates[0] / 100, adj.currency)
        note = invoicing.create_credit_note(uow, actor, adj.invoice_id, adj.description, format(gross, "f"),
                                            reason_text=adj.text)
        if not uow.claims.claim_many([("adjustment", adj.id, "", note.id)]):
            raise Conflict("credited by someone else a moment ago", code="adjustment.credited",
                           field="adjustment_id")
        uow.audit.record(actor, "adjustment.credited", "adjustment", adj.id,
                         after={**AdjustmentView.of(adj, note.id).model_dump(mode="json"), "credit_note": note.number})
        view = AdjustmentView.of(adj, note.id)
        uow.commit()
    return view


def _time_line_rate(uow: UnitOfWork, adj: ArrangementAdjustmentRow) -> list[Decimal]:
    """The tax rate of the time line a re-pricing adjustment ("time:<invoice id>:<position>") corrects."""
    parts = adj.period_key.split(":")
    if len(parts) != 3 or parts[0] != "time":
        return []
    inv = uow.invoices.get(int(parts[1]))
    return [Decimal(ln.tax_rate) for ln in (inv.lines if inv is not None else []) if ln.position == int(parts[2])]


# ---- milestones ----------------------------------------------------------------------------------------------------


def cancel_milestone(uow: UnitOfWork, actor: Actor, milestone_id: int, reason: str, client_id: int | None = None,
                     ) -> MilestoneView:
    """Cancel a milestone: it is never billed. One already billed needs a credit note instead."""
    require(actor, Perm.MANAGE_CLIENTS)
    if not reason or not reason.strip():
        raise ValidationFailed("say why the milestone is cancelled", field="reason")
    with uow:
        m = uow.arrangements.milestone(milestone_id)
        if m is None or (client_id is not None and m.client_id != client_id):
            raise NotFound(f"no milestone with id {milestone_id}", code="milestone.not_found", field="milestone_id")
        load_client(uow, actor, m.client_id)
        billed = uow.work.is_claimed("milestone", m.id)
        if billed is not None:
            raise Conflict(f"this milestone is billed on invoice {billed}: credit it instead",
                           code="milestone.billed", field="milestone_id")
        if m.cancelled_on is not None:
            raise BadTransition(f"already cancelled on {m.cancelled_on}", code="milestone.cancelled",
                                field="milestone_id")
        before = MilestoneView.of(m).model_dump(mode="json")
        m.cancelled_on = uow.clock.today()
        m.cancel_reason = reason.strip()
        uow.flush()
        view = MilestoneView.of(m)
        uow.audit.record(actor, "milestone.cancelled", "milestone", m.id, before=before,
                         after={**view.model_dump(mode="json"), "reason": m.cancel_reason})
        uow.commit()
    return view
