"""Pilot mode: billable drafts and holds everything (nothing issued, nothing sent) while people go on billing with
their old system; the pilot report then compares what billable would have billed with what they actually billed.

Lines are compared per client, net of tax, in the client's currency: the same amount is a match (the closest
description wins), a line whose description resembles one of theirs but whose amount differs is a difference, and
the rest are missing on one side or the other.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from datetime import date
from datetime import date as Day
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.errors import ValidationFailed
from domain.model.money import Money, parse_decimal
from domain.model.periods import check_window
from domain.model.roles import Actor, Perm
from domain.services._auth import client_scope, load_client, require
from domain.services._input import refusal
from domain.store.tables import ClientRow
from domain.store.uow import UnitOfWork


def set_client_pilot(uow: UnitOfWork, actor: Actor, client_id: int, on: bool) -> dict[str, Any]:
    """Put one client in (or out of) pilot mode: its drafts are held, nothing is issued or sent for it."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        client = load_client(uow, actor, client_id)
        if uow.pilot.set(client.id, on, uow.clock.now()):
            uow.audit.record(actor, "client.pilot_on" if on else "client.pilot_off", "client", client.id,
                             before={"pilot": not on}, after={"pilot": on})
        uow.commit()
    return {"client_id": client_id, "pilot": on}


class ActualLine(BaseModel):
    """One line of the old system's export: who, what, how much (net of tax)."""

    model_config = ConfigDict(extra="ignore")
    client: str = Field(min_length=1)
    amount: str
    description: str = ""
    number: str = ""
    date: Day | None = None
    currency: str | None = None

    @field_validator("amount")
    @classmethod
    def _amount(cls, v: str) -> str:
        try:
            parse_decimal(v.strip().replace(",", ""), "amount", allow_negative=True)
        except ValidationFailed as e:
            raise ValueError(e.message) from None
        return v.strip().replace(",", "")


Status = Literal["matched", "differs", "missing_in_billable", "missing_in_actual"]


class Comparison(BaseModel):
    client: str
    status: Status
    billable_description: str | None = None
    actual_description: str | None = None
    billable_amount: str | None = None
    actual_amount: str | None = None
    difference: str | None = None
    currency: str
    invoice: str | None = None   # ours: number, or "draft #id"
    actual_number: str | None = None


class ClientTotals(BaseModel):
    client: str
    currency: str
    billable: str
    actual: str
    difference: str


class PilotReport(BaseModel):
    period_start: date
    period_end: date
    counts: dict[str, int]
    clients: list[ClientTotals]
    lines: list[Comparison]
    unknown_clients: list[str]


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.casefold(), b.casefold()).ratio()


def _find_client(by_name: Mapping[str, ClientRow], by_ref: Mapping[str, ClientRow], by_id: Mapping[int, ClientRow],
                 name: str) -> ClientRow | None:
    key = name.strip()
    if key.isdigit() and int(key) in by_id:
        return by_id[int(key)]
    return by_ref.get(key) or by_name.get(key.casefold())


def pilot_report(uow: UnitOfWork, actor: Actor, period_start: date, period_end: date,
                 actual: Sequence[ActualLine | Mapping[str, Any]]) -> PilotReport:
    """Compare the invoices billable drafted for the period with the lines actually billed (old system's CSV)."""
    require(actor, Perm.VIEW_BOOKS)
    check_window(period_start, period_end)
    rows: list[ActualLine] = []
    for i, a in enumerate(actual):
        try:
            rows.append(a if isinstance(a, ActualLine) else ActualLine.model_validate(a))
        except ValidationError as e:
            err = refusal(e)
            raise ValidationFailed(f"row {i + 1}: {err.field}: {err.message}", code="pilot.bad_row",
                                   field=f"rows.{i}.{err.field}") from None
    with uow:
        # An account manager compares only their own clients: others' are not theirs to see (their rows in the
        # CSV come back as unknown clients, as a client that does not exist would).
        scope = client_scope(actor)
        invoices = uow.invoices.list(period_start=period_start, period_end=period_end, kind="invoice",
                                     limit=100_000)
        # Without rows to match by name or reference, only the clients of the period's invoices are read (the page
        # opens with no CSV: reading every client, with its managers, cost more than the report)
        candidates = uow.clients.list(limit=100_000) if rows else uow.clients.get_many(
            sorted({inv.client_id for inv in invoices}))
        all_clients = [c for c in candidates if scope is None or c.id in scope]
        by_id = {c.id: c for c in all_clients}
        by_name = {c.name.strip().casefold(): c for c in all_clients}
        by_ref = {c.external_ref: c for c in all_clients if c.external_ref}
        ours: dict[int, list[tuple[str, Decimal, str]]] = {}
        for inv in invoices:
            if inv.status == "void" or inv.period_start is None or not period_start <= inv.period_start <= period_end:
                continue
            if inv.client_id not in by_id:
                continue
            label = inv.number or f"draft #{inv.id}"
            for ln in inv.lines:
                ours.setdefault(inv.client_id, []).append(
                    (ln.description, Money.from_minor(ln.amount_minor, inv.currency).amount, label))
        theirs: dict[int, list[ActualLine]] = {}
        unknown: list[str] = []
        for r in rows:
            c = _find_client(by_name, by_ref, by_id, r.client)
            if c is None:
                unknown.append(r.client)
                continue
            theirs.setdefault(c.id, []).append(r)
        lines: list[Comparison] = []
        totals: list[ClientTotals] = []
        for cid in sorted(set(ours) | set(theirs), key=lambda i: by_id[i].name):
            client = by_id[cid]
            lines += _compare(client, ours.get(cid, []), theirs.get(cid, []))
            cur = client.currency
            b = sum((a for _, a, _ in ours.get(cid, [])), Decimal(0))
            t = sum((Decimal(r.amount) for r in theirs.get(cid, [])), Decimal(0))
            totals.append(ClientTotals(client=client.name, currency=cur, billable=Money(b, cur).text,
                                       actual=Money(t, cur).text, difference=Money(b - t, cur).text))
    counts = {s: sum(1 for ln in lines if ln.status == s)
              for s in ("matched", "differs", "missing_in_billable", "missing_in_actual")}
    return PilotReport(period_start=period_start, period_end=period_end, counts=counts, clients=totals, lines=lines,
                       unknown_clients=sorted(set(unknown)))


def _compare(client: ClientRow, ours: list[tuple[str, Decimal, str]], theirs: list[ActualLine]) -> list[Comparison]:
    cur = client.currency
    left = list(ours)
    right = list(theirs)
    out: list[Comparison] = []

    def text(d: Decimal) -> str:
        return Money(d, cur).text

    # 1. same amount: a match (the most similar description first)
    for r in list(right):
        same = [o for o in left if o[1] == Decimal(r.amount)]
        if same:
            o = max(same, key=lambda x: _similar(x[0], r.description))
            left.remove(o)
            right.remove(r)
            out.append(Comparison(client=client.name, status="matched", billable_description=o[0],
                                  actual_description=r.description, billable_amount=text(o[1]),
                                  actual_amount=text(Decimal(r.amount)), difference=text(Decimal(0)), currency=cur,
                                  invoice=o[2], actual_number=r.number or None))
    # 2. resembling descriptions, other amounts: a difference
    pairs = sorted(((_similar(o[0], r.description), i, j) for i, o in enumerate(left) for j, r in enumerate(right)),
                   reverse=True)
    used_l: set[int] = set()
    used_r: set[int] = set()
    for score, i, j in pairs:
        if score < 0.5 or i in used_l or j in used_r:
            continue
        used_l.add(i)
        used_r.add(j)
        o, r = left[i], right[j]
        out.append(Comparison(client=client.name, status="differs", billable_description=o[0],
                              actual_description=r.description, billable_amount=text(o[1]),
                              actual_amount=text(Decimal(r.amount)), difference=text(o[1] - Decimal(r.amount)),
                              currency=cur, invoice=o[2], actual_number=r.number or None))
    # 3. the rest: on one side only
    for i, o in enumerate(left):
        if i not in used_l:
            out.append(Comparison(client=client.name, status="missing_in_actual", billable_description=o[0],
                                  billable_amount=text(o[1]), difference=text(o[1]), currency=cur, invoice=o[2]))
    for j, r in enumerate(right):
        if j not in used_r:
            out.append(Comparison(client=client.name, status="missing_in_billable", actual_description=r.description,
                                  actual_amount=text(Decimal(r.amount)), difference=text(-Decimal(r.amount)),
                                  currency=cur, actual_number=r.number or None))
    return out


