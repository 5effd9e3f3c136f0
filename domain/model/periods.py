"""Billing periods: calendar months, quarters and years, and the share of a period a contract covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.errors import ValidationFailed
from domain.model.bounds import MAX_WINDOW_DAYS, check_day


class Cycle(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


_MONTHS = {Cycle.MONTHLY: 1, Cycle.QUARTERLY: 3, Cycle.YEARLY: 12}


@dataclass(frozen=True, slots=True, order=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def key(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        if self.start.day == 1 and self.end == _add_months(self.start, 1) - timedelta(days=1):
            return self.start.strftime("%B %Y")
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def check_window(start: date, end: date, field: str = "period_end", start_field: str = "period_start") -> None:
    """A window to draft or bill: in 1900-2999, in order, and at most a year long (a longer one is a typo, and would
    claim decades of periods at once)."""
    check_day(start, start_field)
    check_day(end, field)
    if end < start:
        raise ValidationFailed("the period ends before it starts", code="validation.period_order",
                               field=field)
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise ValidationFailed(f"a period covers at most one year ({MAX_WINDOW_DAYS} days); bill a longer one a "
                               "year at a time", code="validation.period_too_long", field=field)


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def period_containing(day: date, cycle: Cycle) -> Period:
    """The calendar period (month, quarter, year) that contains `day`."""
    n = _MONTHS[cycle]
    first_month = ((day.month - 1) // n) * n + 1
    start = date(day.year, first_month, 1)
    return Period(start, _add_months(start, n) - timedelta(days=1))


def periods_between(first: date, last: date, cycle: Cycle) -> list[Period]:
    """Every calendar period that overlaps [first, last], in order."""
    out: list[Period] = []
    p = period_containing(first, cycle)
    while p.start <= last:
        out.append(p)
        p = period_containing(p.end + timedelta(days=1), cycle)
    return out


def coverage(period: Period, starts_on: date | None, ends_on: date | None) -> Decimal:
    """The fraction of the period a contract running [starts_on, ends_on] covers, by days."""
    lo = max(period.start, starts_on) if starts_on else period.start
    hi = min(period.end, ends_on) if ends_on else period.end
    if hi < lo:
        return Decimal(0)
    return Decimal((hi - lo).days + 1) / Decimal(period.days)
