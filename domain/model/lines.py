"""Turning contract terms and recorded work into invoice lines, each keeping its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.errors import ValidationFailed
from domain.model.arrangements import Tier, TimeAndMaterialsTerms
from domain.model.money import round_money
from domain.model.periods import Period

SECTIONS = ("retainer", "time", "milestone", "subscription", "pass_through", "sla_credit", "manual")


@dataclass(slots=True)
class DraftLine:
    """A line before it is stored. `claims` are the keys that make billing it twice impossible."""

    section: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    arrangement_id: int | None = None
    source: dict[str, Any] = field(default_factory=dict)
    claims: list[tuple[str, int, str]] = field(default_factory=list)  # (kind, ref id, period key)
    manual: bool = False


@dataclass(frozen=True, slots=True)
class WorkEntry:
    id: int
    person: str
    role: str
    day: date
    hours: Decimal


def fmt_hours(h: Decimal) -> str:
    return format(h.quantize(Decimal("0.01")), "f")


def _pct(share: Decimal) -> str:
    return format((share * 100).quantize(Decimal("0.01")), "f")


def line_text(key: str, **params: str | int) -> dict[str, Any]:
    """A generated line's wording as data (`source["text"]`): documents write it in the client's language; the
    English `description` stays what the API, audit and accounting see. Params are machine values only."""
    return {"key": key, "params": params}


def _period(period: Period) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


def retainer_line(arrangement_id: int, name: str, fee: Decimal, period: Period, share: Decimal,
                  currency: str, billing: str) -> DraftLine:
    amount = round_money(fee * share, currency)
    prorated = share < 1
    desc = f"{name or 'Retainer'} — {period.label()}"
    if billing == "arrears":
        desc += " (in arrears)"
    if prorated:
        desc += f" (prorated {format((share * 100).quantize(Decimal('0.01')), 'f')}%)"
    return DraftLine("retainer", desc, share.quantize(Decimal("0.0001")) if prorated else Decimal(1),
                     "period", fee, amount, arrangement_id,
                     {"arrangement_id": arrangement_id, "period": period.key,
                      "text": line_text("retainer", name=name, **_period(period), arrears=int(billing == "arrears"),
                                   share=_pct(share) if prorated else "")},
                     [("period", arrangement_id, period.key)])


def subscription_line(arrangement_id: int, product: str, seats: int, unit_price: Decimal, period: Period,
                      share: Decimal, currency: str) -> DraftLine:
    amount = round_money(unit_price * seats * share, currency)
    desc = f"{product} — {seats} seat{'s' if seats != 1 else ''}, {period.label()}"
    if share < 1:
        desc += f" (prorated {format((share * 100).quantize(Decimal('0.01')), 'f')}%)"
    qty = (Decimal(seats) * share).quantize(Decimal("0.0001")) if share < 1 else Decimal(seats)
    return DraftLine("subscription", desc, qty, "seat",
                     unit_price, amount, arrangement_id,
                     {"arrangement_id": arrangement_id, "period": period.key,
                      "text": line_text("subscription", product=product, seats=seats, **_period(period),
                                   share=_pct(share) if share < 1 else "")},
                     [("period", arrangement_id, period.key)])


def rate_for(terms: TimeAndMaterialsTerms, person: str, role: str) -> Decimal:
    if person in terms.person_rates:
        return terms.person_rates[person]
    if role in terms.role_rates:
        return terms.role_rates[role]
    if terms.default_rate is not None:
        return terms.default_rate
    raise ValidationFailed(f"no rate for {person} ({role}): add a person, role or default rate to the "
                           "time and materials arrangement", code="tm.no_rate", field="role_rates")


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one entry's hours split between the retainer's included hours and billable overage."""

    entry: WorkEntry
    included: Decimal
    billable: Decimal


@dataclass(frozen=True, slots=True)
class Allowance:
    """Included hours a retainer period still offers this invoice; only work done in that period uses them."""

    key: str          # "<retainer arrangement id>:<period key>": how invoices record what they used
    period: Period
    hours: Decimal


def allocate_included(entries: list[WorkEntry], allowances: list[Allowance], since: date | None = None,
                      ) -> tuple[list[Allocation], dict[str, Decimal]]:
    """Consume included hours first, in date order, each entry from the period it was worked in; the rest is
    billable. Returns the allocations and the hours used of each allowance.

    Entries dated before `since` (late catch-up from earlier windows) cannot use this window's hours.
    """
    remaining = {a.key: a.hours for a in allowances}
    used: dict[str, Decimal] = {}
    out = []
    for e in sorted(entries, key=lambda e: (e.day, e.id)):
        took = Decimal(0)
        if since is None or e.day >= since:
            for a in allowances:
                if took == e.hours:
                    break
                if a.period.start <= e.day <= a.period.end and remaining[a.key] > 0:
                    take = min(e.hours - took, remaining[a.key])
                    remaining[a.key] -= take
                    used[a.key] = used.get(a.key, Decimal(0)) + take
                    took += take
        out.append(Allocation(e, took, e.hours - took))
    return out, used


def graduated(hours: Decimal, tiers: list[Tier], already: Decimal = Decimal(0)) -> list[tuple[Decimal, Decimal]]:
    """Split `hours` (after `already` billed hours) across graduated tiers: [(hours, rate), ...]."""
    out: list[tuple[Decimal, Decimal]] = []
    pos, left, lower = already, hours, Decimal(0)
    for tier in tiers:
        upper = tier.up_to_hours
        if upper is not None and pos >= upper:
            lower = upper
            continue
        room = left if upper is None else min(left, upper - max(pos, lower))
        if room > 0:
            out.append((room, tier.rate))
            left -= room
            pos += room
        if left <= 0:
            break
        lower = upper if upper is not None else lower
    if left > 0:
        raise ValidationFailed("hours exceed the last tier: give the last tier no up_to_hours",
                               code="tm.tiers_exhausted", field="tiers")
    return out


def time_lines(arrangement_id: int, terms: TimeAndMaterialsTerms, entries: list[WorkEntry],
               allowances: list[Allowance], currency: str, billed_so_far: Decimal,
               included_since: date | None = None) -> tuple[list[DraftLine], bool]:
    """Lines for time entries: included hours first, overage priced by person/role or tiers, then the cap.

    Returns the lines and whether the not-to-exceed cap cut the amount. The included-hours line records in its
    source how much of each period's allowance it used (`included_used`), so no later invoice grants it again.
    """
    allocs, used_by_key = allocate_included(entries, allowances, included_since)
    lines: list[DraftLine] = []
    used = [a for a in allocs if a.included > 0]
    if used:
        hours = sum((a.included for a in used), Decimal(0))
        offered = sum((a.hours for a in allowances), Decimal(0))
        lines.append(DraftLine("time", f"Included hours used — {fmt_hours(hours)} h of {fmt_hours(offered)} h",
                               hours, "h", Decimal(0), Decimal(0), arrangement_id,
                               {"arrangement_id": arrangement_id, "time_entry_ids": [a.entry.id for a in used],
                                "included_hours": fmt_hours(offered),
                                "included_used": {k: fmt_hours(v) for k, v in used_by_key.items()},
                                "text": line_text("included_hours", hours=fmt_hours(hours),
                                                  offered=fmt_hours(offered))},
                               []))
    billable = [a for a in allocs if a.billable > 0]
    if terms.tiers:
        total = sum((a.billable for a in billable), Decimal(0))
        if total > 0:
            ids = [a.entry.id for a in billable]
            for i, (h, rate) in enumerate(graduated(total, terms.tiers)):
                lines.append(DraftLine("time", f"Time and materials — tier {i + 1}, {fmt_hours(h)} h",
                                       h, "h", rate, round_money(h * rate, currency), arrangement_id,
                                       {"arrangement_id": arrangement_id, "time_entry_ids": ids, "tier": i + 1,
                                        "text": line_text("tier", tier=i + 1, hours=fmt_hours(h))}))
    else:
        groups: dict[tuple[str, str, Decimal], list[Allocation]] = {}
        for a in billable:
            key = (a.entry.person, a.entry.role, rate_for(terms, a.entry.person, a.entry.role))
            groups.setdefault(key, []).append(a)
        for (person, role, rate), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            h = sum((a.billable for a in group), Decimal(0))
            label = "overage " if used else ""
            lines.append(DraftLine("time", f"{person} ({role}) — {label}{fmt_hours(h)} h", h, "h", rate,
                                   round_money(h * rate, currency), arrangement_id,
                                   {"arrangement_id": arrangement_id,
                                    "time_entry_ids": [a.entry.id for a in group],
                                    "text": line_text("person_hours", person=person, role=role, hours=fmt_hours(h),
                                                 overage=int(bool(used)))}))
    # Every entry is claimed, included or not, so no hour is ever billed (or used up) twice.
    claim_line = next((ln for ln in lines), None)
    if claim_line is not None:
        claim_line.claims.extend(("time", e.id, "") for e in entries)
    capped = False
    if terms.cap is not None:
        amount = sum((ln.amount for ln in lines), Decimal(0))
        room = max(terms.cap - billed_so_far, Decimal(0))
        if amount > room:
            cut = round_money(room - amount, currency)
            lines.append(DraftLine("time", f"Not-to-exceed cap of {format(terms.cap, 'f')} reached — adjustment",
                                   Decimal(1), "item", cut, cut, arrangement_id,
                                   {"arrangement_id": arrangement_id, "cap": format(terms.cap, "f"),
                                    "billed_before": format(billed_so_far, "f"),
                                    "text": line_text("cap", cap=format(terms.cap, "f"))}))
            capped = True
    return lines, capped


def pass_through_line(arrangement_id: int, expense_id: int, description: str, cost: Decimal,
                      markup_pct: Decimal, currency: str) -> DraftLine:
    amount = round_money(cost * (1 + markup_pct / 100), currency)
    desc = description + (f" (cost {format(cost, 'f')} + {format(markup_pct.normalize(), 'f')}% markup)"
                          if markup_pct else "")
    return DraftLine("pass_through", desc, Decimal(1), "item", amount, amount, arrangement_id,
                     {"arrangement_id": arrangement_id, "expense_id": expense_id, "cost": format(cost, "f"),
                      "markup_pct": format(markup_pct, "f"),
                      "text": line_text("pass_through", description=description, cost=format(cost, "f"),
                                   markup=format(markup_pct.normalize(), "f") if markup_pct else "")},
                     [("expense", expense_id, "")])


def sla_credit_amount(retainer_fee: Decimal, credit_pct: Decimal | None, fixed: Decimal | None,
                      currency: str) -> Decimal:
    """The credit for one breach, never more than the period's retainer fee."""
    raw = retainer_fee * credit_pct / 100 if credit_pct is not None else (fixed or Decimal(0))
    return round_money(min(raw, retainer_fee), currency)
