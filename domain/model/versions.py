"""Versions of an arrangement's terms: which one is in force on a day, how a period splits between them, and what
an amendment may change.

Each version holds the full terms from its effective date until the next version's; a version without terms is a
gap (the arrangement ended and was reopened later). Versions are appended, never overwritten, so an invoice line can
always say which version priced it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.errors import ValidationFailed
from domain.model.periods import Cycle, Period, period_containing


class Proration(StrEnum):
    """How a period that spans an amendment is priced (a workspace setting)."""

    BY_DAY = "by_day"        # each version prices the days it is in force
    FIRST_DAY = "first_day"  # the version in force on the period's first day prices the whole period


@dataclass(frozen=True, slots=True)
class Version:
    id: int | None
    number: int
    effective_on: date
    terms: Mapping[str, Any] | None  # None: not in force (ended, until reopened)


@dataclass(frozen=True, slots=True)
class Span:
    start: date
    end: date  # inclusive
    version: Version

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def ordered(versions: Sequence[Version]) -> list[Version]:
    return sorted(versions, key=lambda v: (v.effective_on, v.number))


def in_force(versions: Sequence[Version], day: date) -> Version:
    """The version in force on `day`; before the first version's date, the first one (the original terms)."""
    vs = ordered(versions)
    current = vs[0]
    for v in vs:
        if v.effective_on <= day:
            current = v
        else:
            break
    return current


def spans(versions: Sequence[Version], lo: date, hi: date) -> list[Span]:
    """[lo, hi] cut into the pieces each version is in force, in order."""
    if hi < lo:
        return []
    vs = ordered(versions)
    out: list[Span] = []
    start = lo
    current = in_force(vs, lo)
    for v in vs:
        if lo < v.effective_on <= hi:
            out.append(Span(start, v.effective_on - timedelta(days=1), current))
            start, current = v.effective_on, v
    out.append(Span(start, hi, current))
    return [s for s in out if s.days > 0]


@dataclass(frozen=True, slots=True)
class Priced:
    """A piece of a period priced by one version: `share` of the period's full amount."""

    start: date
    end: date
    version: Version
    share: Decimal
    whole: bool  # the version prices the whole covered period (no split)


def period_pricing(versions: Sequence[Version], period: Period, starts_on: date | None, ends_on: date | None,
                   mode: Proration, prorate: bool = True) -> list[Priced]:
    """How a period of a periodic arrangement is priced: one piece per version in force (by day), or the whole
    covered part by the version of its first day. Days outside [starts_on, ends_on] and gaps are not billed.
    `prorate=False` (a retainer that bills partial periods in full) only applies when one version prices it all."""
    lo = max(period.start, starts_on) if starts_on else period.start
    hi = min(period.end, ends_on) if ends_on else period.end
    pieces = [s for s in spans(versions, lo, hi) if s.version.terms is not None]
    if not pieces:
        return []
    days = Decimal(period.days)
    if mode == Proration.FIRST_DAY or len({s.version.number for s in pieces}) == 1:
        covered = sum(s.days for s in pieces)
        share = Decimal(covered) / days if prorate else Decimal(1)
        return [Priced(pieces[0].start, pieces[-1].end, pieces[0].version, share, True)]
    return [Priced(s.start, s.end, s.version, Decimal(s.days) / days, False) for s in pieces]


def owner(versions: Sequence[Version], period: Period) -> Version | None:
    """The version whose cycle the period belongs to: the first one in force (with terms) within it."""
    return next((s.version for s in spans(versions, period.start, period.end) if s.version.terms is not None), None)


# ---- what an amendment may change -----------------------------------------------------------------------------------

AMENDABLE: dict[str, frozenset[str]] = {
    "retainer": frozenset({"fee", "cycle", "billing", "included_hours", "prorate"}),
    "time_and_materials": frozenset({"default_rate", "role_rates", "person_rates", "tiers", "cap",
                                     "threshold_hours", "threshold_amount"}),
    "subscription": frozenset({"seats", "unit_price", "cycle", "product"}),
    "pass_through": frozenset({"markup_pct"}),
    "sla_credit": frozenset({"credit_pct", "fixed_amount"}),
    "milestone": frozenset(),
}
MERGED = frozenset({"role_rates", "person_rates"})  # a change names only the rates it changes; null removes one


def merge_changes(kind: str, current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The new terms: `current` with `changes` applied (not yet validated). Refuses unknown fields by name."""
    allowed = AMENDABLE.get(kind, frozenset())
    if not allowed:
        raise ValidationFailed(f"a {kind.replace('_', ' ')} arrangement has no terms to amend: cancel or add "
                               "milestones instead", code="amendment.not_amendable", field="terms")
    if not changes:
        raise ValidationFailed("say which terms change, e.g. {\"seats\": 52}", code="amendment.empty",
                               field="terms")
    out = dict(current)
    for key, value in changes.items():
        if key not in allowed:
            raise ValidationFailed(f"unknown field {key!r} for a {kind.replace('_', ' ')} arrangement; one of "
                                   f"{', '.join(sorted(allowed))}", code="amendment.unknown_field",
                                   field=f"terms.{key}")
        if key in MERGED:
            if not isinstance(value, Mapping):
                raise ValidationFailed("must be an object of name -> rate", field=f"terms.{key}")
            rates = dict(out.get(key) or {})
            for name, rate in value.items():
                if rate is None:
                    rates.pop(name, None)
                else:
                    rates[name] = rate
            out[key] = rates
        else:
            out[key] = value
    return out


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Field -> [before, after] for every field that differs."""
    b, a = dict(before or {}), dict(after or {})
    return {k: [b.get(k), a.get(k)] for k in sorted(set(b) | set(a)) if b.get(k) != a.get(k)}


def check_cycle_change(old: Mapping[str, Any], new: Mapping[str, Any], effective_on: date) -> None:
    """A change of cycle or of advance/arrears starts a new period: it must take effect on a day that begins a
    period under both the old and the new cycle, so no period is billed twice or never."""
    if old.get("cycle") == new.get("cycle") and old.get("billing") == new.get("billing"):
        return
    for c in {old.get("cycle") or "monthly", new.get("cycle") or "monthly"}:
        start = period_containing(effective_on, Cycle(c)).start
        if start != effective_on:
            raise ValidationFailed(
                f"a change of cycle or billing takes effect at the start of a period: {effective_on} is inside the "
                f"{c} period that starts on {start}; choose the first day of a period under both cycles",
                code="amendment.mid_period_cycle", field="effective_on")
