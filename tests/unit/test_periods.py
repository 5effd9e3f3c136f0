"""Billing periods: calendar months, quarters and years, and the share of a period a contract covers."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.model.periods import Cycle, Period, check_window, coverage, period_containing, periods_between


@pytest.mark.parametrize(("day", "cycle", "start", "end"), [
    (date(2026, 3, 15), Cycle.MONTHLY, date(2026, 3, 1), date(2026, 3, 31)),
    (date(2026, 2, 28), Cycle.MONTHLY, date(2026, 2, 1), date(2026, 2, 28)),
    (date(2024, 2, 29), Cycle.MONTHLY, date(2024, 2, 1), date(2024, 2, 29)),
    (date(2026, 12, 31), Cycle.MONTHLY, date(2026, 12, 1), date(2026, 12, 31)),
    (date(2026, 1, 1), Cycle.QUARTERLY, date(2026, 1, 1), date(2026, 3, 31)),
    (date(2026, 5, 20), Cycle.QUARTERLY, date(2026, 4, 1), date(2026, 6, 30)),
    (date(2026, 12, 31), Cycle.QUARTERLY, date(2026, 10, 1), date(2026, 12, 31)),
    (date(2026, 7, 4), Cycle.YEARLY, date(2026, 1, 1), date(2026, 12, 31)),
])
def test_period_containing(day: date, cycle: Cycle, start: date, end: date) -> None:
    assert period_containing(day, cycle) == Period(start, end)


def test_periods_between_lists_every_overlapping_period_in_order() -> None:
    months = periods_between(date(2026, 1, 15), date(2026, 4, 1), Cycle.MONTHLY)
    assert [p.start.month for p in months] == [1, 2, 3, 4]
    quarters = periods_between(date(2025, 12, 31), date(2026, 4, 1), Cycle.QUARTERLY)
    assert [(p.start, p.end) for p in quarters] == [(date(2025, 10, 1), date(2025, 12, 31)),
                                                    (date(2026, 1, 1), date(2026, 3, 31)),
                                                    (date(2026, 4, 1), date(2026, 6, 30))]
    assert periods_between(date(2026, 3, 1), date(2026, 3, 31), Cycle.YEARLY) == [
        Period(date(2026, 1, 1), date(2026, 12, 31))]


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
       st.integers(min_value=0, max_value=800), st.sampled_from(list(Cycle)))
def test_periods_tile_the_calendar(first: date, span: int, cycle: Cycle) -> None:
    last = first + timedelta(days=span)
    ps = periods_between(first, last, cycle)
    assert ps[0].start <= first <= ps[0].end
    assert ps[-1].start <= last <= ps[-1].end
    for a, b in itertools.pairwise(ps):
        assert b.start == a.end + timedelta(days=1)  # no gap, no overlap
    for p in ps:
        assert p.start.day == 1 and p == period_containing(p.start, cycle)


def test_key_days_and_label() -> None:
    march = Period(date(2026, 3, 1), date(2026, 3, 31))
    assert march.key == "2026-03-01..2026-03-31"
    assert march.days == 31
    assert march.label() == "March 2026"
    assert Period(date(2026, 1, 1), date(2026, 3, 31)).label() == "2026-01-01 to 2026-03-31"


def test_coverage_of_a_contract_starting_15_march_is_17_of_31() -> None:
    march = Period(date(2026, 3, 1), date(2026, 3, 31))
    assert coverage(march, date(2026, 3, 15), None) == Decimal(17) / Decimal(31)
    assert coverage(march, None, None) == 1
    assert coverage(march, date(2026, 1, 1), date(2026, 12, 31)) == 1
    assert coverage(march, None, date(2026, 3, 10)) == Decimal(10) / Decimal(31)
    assert coverage(march, date(2026, 3, 10), date(2026, 3, 19)) == Decimal(10) / Decimal(31)
    assert coverage(march, date(2026, 4, 1), None) == 0
    assert coverage(march, None, date(2026, 2, 28)) == 0
    q1 = Period(date(2026, 1, 1), date(2026, 3, 31))
    assert coverage(q1, date(2026, 3, 1), None) == Decimal(31) / Decimal(90)


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)), st.sampled_from(list(Cycle)),
       st.one_of(st.none(), st.dates(min_value=date(2019, 1, 1), max_value=date(2031, 12, 31))),
       st.one_of(st.none(), st.dates(min_value=date(2019, 1, 1), max_value=date(2031, 12, 31))))
def test_coverage_is_a_fraction_of_days(day: date, cycle: Cycle, starts: date | None, ends: date | None) -> None:
    p = period_containing(day, cycle)
    c = coverage(p, starts, ends)
    assert 0 <= c <= 1
    covered = sum(1 for i in range(p.days) if (starts is None or p.start + timedelta(days=i) >= starts)
                  and (ends is None or p.start + timedelta(days=i) <= ends))
    assert c == Decimal(covered) / Decimal(p.days)


def test_window_order() -> None:
    check_window(date(2026, 3, 1), date(2026, 3, 1))
    with pytest.raises(ValidationFailed) as e:
        check_window(date(2026, 3, 31), date(2026, 3, 1))
    assert e.value.field == "period_end"
    assert e.value.code == "validation.period_order"
