"""Money's properties under many examples: minor units round-trip, rounding stays within half a minor unit and is
idempotent, sums of money are sums of minor units, and a plain decimal string parses to exactly what it says.
make test: 300 examples each; make reliability: 10,000."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model.money import Money, minor_exponent, money_sum, round_money
from tests.support.reliability import record, scale

EXAMPLES = scale(300, 10_000)
CURRENCIES = ["EUR", "USD", "GBP", "JPY", "KWD", "CHF", "BHD"]
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.reliability
def test_money_properties_hold_for_every_example() -> None:
    tried = {"round_trip": 0, "rounding": 0, "sum": 0, "parse": 0}
    broken = {k: 0 for k in tried}

    @SETTINGS
    @given(st.sampled_from(CURRENCIES), st.integers(min_value=-10**12, max_value=10**12))
    def round_trip(currency: str, minor: int) -> None:
        tried["round_trip"] += 1
        if Money.from_minor(minor, currency).minor != minor:
            broken["round_trip"] += 1

    @SETTINGS
    @given(st.sampled_from(CURRENCIES), st.decimals(min_value=-10**9, max_value=10**9, places=6,
                                                     allow_nan=False, allow_infinity=False))
    def rounding(currency: str, amount: Decimal) -> None:
        tried["rounding"] += 1
        r = round_money(amount, currency)
        half = Decimal(1).scaleb(-minor_exponent(currency)) / 2
        if abs(r - amount) > half or round_money(r, currency) != r:
            broken["rounding"] += 1

    @SETTINGS
    @given(st.lists(st.integers(min_value=-10**9, max_value=10**9), max_size=30), st.sampled_from(CURRENCIES))
    def sums(minors: list[int], currency: str) -> None:
        tried["sum"] += 1
        if money_sum([Money.from_minor(m, currency) for m in minors], currency).minor != sum(minors):
            broken["sum"] += 1

    @SETTINGS
    @given(st.sampled_from(CURRENCIES), st.integers(min_value=0, max_value=10**12))
    def parse(currency: str, minor: int) -> None:
        tried["parse"] += 1
        text = Money.from_minor(minor, currency).text
        if Money.parse(text, currency).minor != minor:
            broken["parse"] += 1

    for prop in (round_trip, rounding, sums, parse):
        prop()
    record("money", "hypothesis money properties (round trip, rounding, sums, parsing)", tried=sum(tried.values()),
           times=EXAMPLES, errors=sum(broken.values()), note=", ".join(f"{k} {v:,}" for k, v in tried.items()))
    assert broken == {k: 0 for k in tried}
    assert all(v >= EXAMPLES // 2 for v in tried.values())
