"""Pricing: turning contract terms and recorded work into invoice lines."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.model.arrangements import Tier, TimeAndMaterialsTerms
from domain.model.lines import (
    Allowance,
    WorkEntry,
    allocate_included,
    graduated,
    pass_through_line,
    rate_for,
    retainer_line,
    sla_credit_amount,
    subscription_line,
    time_lines,
)
from domain.model.periods import Period

D = Decimal
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


def tm(**kw: object) -> TimeAndMaterialsTerms:
    return TimeAndMaterialsTerms.model_validate({"kind": "time_and_materials", **kw})


def entry(i: int, hours: str, day: int = 1, person: str = "alice", role: str = "engineer") -> WorkEntry:
    return WorkEntry(i, person, role, date(2026, 3, day), D(hours))


# --- included hours ------------------------------------------------------------------------------------------

hours_st = st.decimals(min_value=D("0.01"), max_value=24, places=2, allow_nan=False, allow_infinity=False)
entries_st = st.lists(st.tuples(st.integers(min_value=1, max_value=90), hours_st), max_size=30).map(
    lambda xs: [WorkEntry(i + 1, "p", "r", date(2026, 1, 1) + timedelta(days=d - 1), h)
                for i, (d, h) in enumerate(xs)])
Q1 = [Period(date(2026, 1, 1), date(2026, 1, 31)), Period(date(2026, 2, 1), date(2026, 2, 28)), MARCH]
allowances_st = st.lists(st.decimals(min_value=0, max_value=40, places=2, allow_nan=False, allow_infinity=False),
                         min_size=3, max_size=3).map(
    lambda hs: [Allowance(f"1:{p.key}", p, h) for p, h in zip(Q1, hs, strict=True)])


@given(entries_st, allowances_st,
       st.one_of(st.none(), st.integers(min_value=0, max_value=89).map(lambda d: date(2026, 1, 1) + timedelta(d))))
def test_included_hours_allocation(entries: list[WorkEntry], allowances: list[Allowance], since: date | None) -> None:
    allocs, used = allocate_included(entries, allowances, since)
    assert sorted(a.entry.id for a in allocs) == sorted(e.id for e in entries)
    for a in allocs:
        assert a.included + a.billable == a.entry.hours
        assert a.included >= 0 and a.billable >= 0
        if since is not None and a.entry.day < since:
            assert a.included == 0  # late entries from earlier windows cannot use this window's hours
    assert sum((a.included for a in allocs), D(0)) == sum(used.values(), D(0))
    for allowance in allowances:
        in_period = [a for a in allocs if allowance.period.start <= a.entry.day <= allowance.period.end]
        eligible = sum((a.entry.hours for a in in_period if since is None or a.entry.day >= since), D(0))
        got = used.get(allowance.key, D(0))
        assert got == sum((a.included for a in in_period), D(0))  # a period's hours go to its own work only
        assert got <= allowance.hours                             # never more than it offers
        assert got == min(allowance.hours, eligible)              # and none left unused while work is billed
        # used in date order: once an eligible entry of the period pays overage, no later one uses hours
        ordered = [a for a in sorted(in_period, key=lambda a: (a.entry.day, a.entry.id))
                   if since is None or a.entry.day >= since]
        for earlier, later in itertools.pairwise(ordered):
            if earlier.billable > 0:
                assert later.included == 0


def test_included_hours_example() -> None:
    allocs, used = allocate_included([entry(1, "8", 3), entry(2, "8", 10), entry(3, "9", 17)],
                                     [Allowance("7:march", MARCH, D(10))])
    assert [(a.included, a.billable) for a in allocs] == [(D(8), D(0)), (D(2), D(6)), (D(0), D(9))]
    assert used == {"7:march": D(10)}


# --- graduated tiers -----------------------------------------------------------------------------------------

tiers_st = st.lists(st.integers(min_value=1, max_value=100), min_size=0, max_size=4, unique=True).map(
    lambda bounds: [Tier(up_to_hours=D(b), rate=D(100 - i * 10)) for i, b in enumerate(sorted(bounds))]
    + [Tier(rate=D(40))])


@given(st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False), tiers_st)
def test_graduated_tiers_split_exactly_within_bounds(hours: Decimal, tiers: list[Tier]) -> None:
    split = graduated(hours, tiers)
    assert sum((h for h, _ in split), D(0)) == hours
    assert all(h > 0 for h, _ in split)
    by_rate = dict((r, h) for h, r in split)
    assert len(by_rate) == len(split)  # each tier appears at most once
    lower = D(0)
    for i, tier in enumerate(tiers):
        part = by_rate.get(tier.rate, D(0))
        if tier.up_to_hours is not None:
            assert part <= tier.up_to_hours - lower
            # a tier is only entered once the ones below it are full
            if i + 1 < len(tiers) and by_rate.get(tiers[i + 1].rate, D(0)) > 0:
                assert part == tier.up_to_hours - lower
            lower = tier.up_to_hours


def test_graduated_example_and_exhaustion() -> None:
    tiers = [Tier(up_to_hours=D(10), rate=D(150)), Tier(up_to_hours=D(20), rate=D(130)), Tier(rate=D(110))]
    assert graduated(D(25), tiers) == [(D(10), D(150)), (D(10), D(130)), (D(5), D(110))]
    assert graduated(D(5), tiers, already=D(15)) == [(D(5), D(130))]
    with pytest.raises(ValidationFailed) as e:
        graduated(D(25), tiers[:2])
    assert e.value.code == "tm.tiers_exhausted"


def test_tiers_must_increase_and_only_the_last_is_open() -> None:
    with pytest.raises(ValueError):
        tm(tiers=[{"up_to_hours": "20", "rate": "1"}, {"up_to_hours": "10", "rate": "1"}])
    with pytest.raises(ValueError):
        tm(tiers=[{"rate": "1"}, {"up_to_hours": "10", "rate": "1"}])


# --- rates ---------------------------------------------------------------------------------------------------

def test_rate_precedence_person_then_role_then_default() -> None:
    terms = tm(default_rate="100", role_rates={"engineer": "150"}, person_rates={"alice": "200"})
    assert rate_for(terms, "alice", "engineer") == D(200)
    assert rate_for(terms, "bob", "engineer") == D(150)
    assert rate_for(terms, "bob", "designer") == D(100)


def test_missing_rate_is_an_error_naming_the_rates() -> None:
    terms = tm(role_rates={"engineer": "150"})
    with pytest.raises(ValidationFailed) as e:
        rate_for(terms, "bob", "designer")
    assert e.value.code == "tm.no_rate"
    assert e.value.field == "role_rates"


def test_time_lines_group_by_person_and_role_and_claim_every_entry() -> None:
    terms = tm(default_rate="100", role_rates={"engineer": "150"}, person_rates={"carol": "200"})
    entries = [entry(1, "2", 2, "alice"), entry(2, "3", 3, "alice"), entry(3, "1.5", 4, "bob", "designer"),
               entry(4, "1", 5, "carol")]
    lines, capped = time_lines(7, terms, entries, [], "EUR", D(0))
    assert not capped
    got = {(ln.description.split(" —")[0], ln.quantity, ln.unit_price, ln.amount) for ln in lines}
    assert got == {("alice (engineer)", D(5), D(150), D(750)), ("bob (designer)", D("1.5"), D(100), D(150)),
                   ("carol (engineer)", D(1), D(200), D(200))}
    assert sorted(c for ln in lines for c in ln.claims) == [("time", i, "") for i in (1, 2, 3, 4)]
    assert all(ln.arrangement_id == 7 and ln.source["arrangement_id"] == 7 for ln in lines)
    sources = {i for ln in lines for i in ln.source["time_entry_ids"]}
    assert sources == {1, 2, 3, 4}


def test_included_hours_then_overage_the_walk() -> None:
    terms = tm(default_rate="150")
    lines, _ = time_lines(2, terms, [entry(1, "8", 3), entry(2, "8", 10), entry(3, "9", 17)],
                          [Allowance("1:2026-03-01..2026-03-31", MARCH, D(10))], "EUR", D(0))
    assert [(ln.quantity, ln.amount) for ln in lines] == [(D(10), D(0)), (D(15), D(2250))]
    assert "overage" in lines[1].description
    assert lines[0].source["time_entry_ids"] == [1, 2]
    assert lines[0].source["included_used"] == {"1:2026-03-01..2026-03-31": "10.00"}


# --- not-to-exceed cap ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("billed_before", "hours", "expected_total", "capped"), [
    ("0", "10", "1000.00", False),       # under the cap
    ("0", "12", "1000.00", True),        # 1,200 -> 1,000
    ("400", "10", "600.00", True),       # room left 600
    ("1000", "5", "0.00", True),         # nothing left
    ("1200", "5", "0.00", True),         # already over (it never goes negative)
    ("999.99", "1", "0.01", True),
])
def test_cap_makes_the_time_exactly_the_room_left(billed_before: str, hours: str, expected_total: str,
                                                  capped: bool) -> None:
    terms = tm(default_rate="100", cap="1000")
    lines, was_capped = time_lines(3, terms, [entry(1, hours)], [], "EUR", D(billed_before))
    assert was_capped is capped
    assert sum((ln.amount for ln in lines), D(0)) == D(expected_total)
    if capped:
        adj = lines[-1]
        assert adj.amount < 0 and "cap" in adj.description and adj.source["cap"] == "1000"
        assert adj.claims == []


@given(st.decimals(min_value=0, max_value=2000, places=2, allow_nan=False, allow_infinity=False),
       st.lists(hours_st, min_size=1, max_size=10))
def test_cap_is_never_exceeded(billed_before: Decimal, hours: list[Decimal]) -> None:
    terms = tm(default_rate="123.45", cap="1000")
    entries = [entry(i + 1, str(h)) for i, h in enumerate(hours)]
    lines, capped = time_lines(3, terms, entries, [], "EUR", billed_before)
    amount = sum((ln.amount for ln in lines), D(0))
    room = max(D(1000) - billed_before, D(0))
    uncapped = (sum(hours, D(0)) * D("123.45")).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    if capped:
        assert amount == room < uncapped
    else:
        assert amount == uncapped <= room


# --- retainer, subscription, pass-through, SLA ----------------------------------------------------------------

def test_retainer_line_full_and_prorated() -> None:
    full = retainer_line(1, "Managed services", D(5000), MARCH, D(1), "EUR", "advance")
    assert (full.quantity, full.amount, full.description) == (D(1), D(5000), "Managed services — March 2026")
    assert full.claims == [("period", 1, MARCH.key)]
    assert full.source == {"arrangement_id": 1, "period": MARCH.key,  # its wording as data (issue 12)
                           "text": {"key": "retainer", "params": {"name": "Managed services", "start": "2026-03-01",
                                                                  "end": "2026-03-31", "arrears": 0, "share": ""}}}
    part = retainer_line(1, "", D(5000), MARCH, D(17) / D(31), "EUR", "arrears")
    assert part.amount == D("2741.94")
    assert part.quantity == D("0.5484")
    assert "(in arrears)" in part.description and "prorated 54.84%" in part.description
    assert part.source["text"]["params"] == {"name": "", "start": "2026-03-01", "end": "2026-03-31",
                                                  "arrears": 1, "share": "54.84"}


def test_subscription_line_seats_times_price() -> None:
    line = subscription_line(4, "M365 Business", 12, D("22.50"), MARCH, D(1), "EUR")
    assert (line.quantity, line.unit_price, line.amount, line.unit) == (D(12), D("22.50"), D(270), "seat")
    assert line.claims == [("period", 4, MARCH.key)]
    part = subscription_line(4, "M365 Business", 12, D("22.50"), MARCH, D(17) / D(31), "EUR")
    assert part.amount == D("148.06")
    assert len(str(part.quantity)) <= 12  # a readable quantity, not 28 digits


@pytest.mark.parametrize(("cost", "markup", "amount"), [
    ("1000.00", "0", "1000.00"), ("1000.00", "15", "1150.00"), ("99.99", "12.5", "112.49"),
    ("0.01", "50", "0.02"),
])
def test_pass_through_at_cost_plus_markup(cost: str, markup: str, amount: str) -> None:
    line = pass_through_line(5, 77, "Laptop", D(cost), D(markup), "EUR")
    assert line.amount == D(amount) and line.unit_price == D(amount) and line.quantity == 1
    assert line.claims == [("expense", 77, "")]
    assert line.source["expense_id"] == 77 and line.source["cost"] == cost
    if markup != "0":
        assert f"+ {markup}% markup" in line.description


@given(st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False),
       st.one_of(st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
                 st.none()),
       st.decimals(min_value=0, max_value=200000, places=2, allow_nan=False, allow_infinity=False))
def test_sla_credit_never_above_the_retainer(fee: Decimal, pct: Decimal | None, fixed: Decimal) -> None:
    credit = sla_credit_amount(fee, pct, None if pct is not None else fixed, "EUR")
    assert 0 <= credit <= fee
    if pct is not None:
        assert credit == min(fee, (fee * pct / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP"))
    else:
        assert credit == min(fee, fixed)


def test_sla_credit_examples() -> None:
    assert sla_credit_amount(D(5000), D(10), None, "EUR") == D(500)
    assert sla_credit_amount(D(5000), None, D(250), "EUR") == D(250)
    assert sla_credit_amount(D(5000), None, D(9000), "EUR") == D(5000)


def test_hours_dates_are_sorted_in_allocation_regardless_of_input_order() -> None:
    es = [entry(3, "5", 20), entry(1, "5", 2), entry(2, "5", 2)]
    march = [Allowance("a", MARCH, D(7))]
    allocs, _ = allocate_included(es, march)
    assert [(a.entry.id, a.included) for a in allocs] == [(1, D(5)), (2, D(2)), (3, D(0))]
    assert allocate_included(es, march, since=date(2026, 3, 3))[0][0].included == 0


def test_two_retainers_offering_hours_for_the_same_month_add_up() -> None:
    offers = [Allowance("1:m", MARCH, D(5)), Allowance("2:m", MARCH, D(4))]
    allocs, used = allocate_included([entry(1, "12", 5)], offers)
    assert (allocs[0].included, allocs[0].billable) == (D(9), D(3))
    assert used == {"1:m": D(5), "2:m": D(4)}
