"""Money: Decimal amounts, ISO 4217 currencies, half-up rounding to the minor unit, minor-unit storage."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.model.money import Money, check_currency, minor_exponent, minor_to_text, money_sum, round_money

CURRENCIES = ["EUR", "USD", "GBP", "JPY", "KWD", "BHD", "CHF", "ISK", "CLP"]


@pytest.mark.parametrize(("raw", "currency", "expected"), [
    ("2.675", "EUR", "2.68"),    # float round(2.675, 2) gives 2.67
    ("2.665", "EUR", "2.67"),    # HALF_EVEN would give 2.66
    ("2.685", "EUR", "2.69"),    # HALF_EVEN would give 2.68
    ("-2.675", "EUR", "-2.68"),  # half-up rounds away from zero on both sides
    ("0.005", "EUR", "0.01"),
    ("0.0049", "EUR", "0.00"),
    ("2.5", "JPY", "3"),
    ("3.5", "JPY", "4"),
    ("1.0005", "KWD", "1.001"),
    ("1.0004", "KWD", "1.000"),
])
def test_rounding_is_half_up_to_the_minor_unit(raw: str, currency: str, expected: str) -> None:
    assert format(round_money(Decimal(raw), currency), "f") == expected
    assert Money(Decimal(raw), currency).rounded().text == expected


def test_the_defaults_would_have_been_wrong() -> None:
    # Why ROUND_HALF_UP is explicit: Decimal's default (HALF_EVEN) rounds ties to the even cent, and a
    # float cannot even hold 2.675.
    assert Decimal("2.665").quantize(Decimal("0.01")) == Decimal("2.66")
    assert round_money(Decimal("2.665"), "EUR") == Decimal("2.67")
    assert round(2.675, 2) == 2.67
    assert round_money(Decimal("2.675"), "EUR") == Decimal("2.68")


@pytest.mark.parametrize(("currency", "places"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3)])
def test_minor_exponent(currency: str, places: int) -> None:
    assert minor_exponent(currency) == places


def test_jpy_has_no_decimals_and_kwd_three() -> None:
    assert Money.parse("1500", "JPY").text == "1500"
    assert Money.parse("1500", "JPY").minor == 1500
    assert Money.parse("1.234", "KWD").minor == 1234
    assert Money.parse("1.234", "KWD").text == "1.234"
    assert Money.parse("12.5", "EUR").text == "12.50"
    with pytest.raises(ValidationFailed) as e:
        Money.parse("1500.5", "JPY")
    assert e.value.code == "validation.too_precise"
    with pytest.raises(ValidationFailed):
        Money.parse("1.2345", "KWD")


@pytest.mark.parametrize("value", [12.1, 0.1, 1.0, True])
def test_parse_refuses_floats_and_bools(value: object) -> None:
    with pytest.raises(ValidationFailed) as e:
        Money.parse(value, "EUR", field="amount")
    assert e.value.code == "validation.not_a_decimal_string"
    assert e.value.field == "amount"


def test_constructor_refuses_float_amounts_and_float_factors() -> None:
    with pytest.raises(TypeError):
        Money(12.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(Decimal("1"), "EUR") * 1.5  # type: ignore[operator]


def test_arithmetic_refuses_mixed_currencies() -> None:
    eur, usd = Money(Decimal("1"), "EUR"), Money(Decimal("1"), "USD")
    for op in (lambda: eur + usd, lambda: eur - usd, lambda: eur < usd, lambda: eur <= usd, lambda: eur > usd,
               lambda: eur >= usd, lambda: money_sum([eur, usd], "EUR")):
        with pytest.raises(ValidationFailed) as e:
            op()
        assert e.value.code == "money.currency_mismatch"


def test_arithmetic_within_one_currency() -> None:
    a, b = Money.parse("10.10", "EUR"), Money.parse("0.95", "EUR")
    assert (a + b).text == "11.05"
    assert (a - b).text == "9.15"
    assert (-a).text == "-10.10"
    assert (a * 3).text == "30.30"
    assert (a * Decimal("0.5")).text == "5.05"
    assert b < a and a > b and a >= a and a <= a
    assert money_sum([a, b, b], "EUR").text == "12.00"
    assert money_sum([], "JPY") == Money.zero("JPY")
    assert str(a) == "10.10 EUR"


@pytest.mark.parametrize("code", ["XYZ", "eur", "EURO", "", "E1R", "XAU", "XTS", "DEM", "FRF", "VEF", None, 978])
def test_unknown_or_not_invoiceable_currencies_are_refused(code: object) -> None:
    with pytest.raises(ValidationFailed) as e:
        check_currency(code)
    assert e.value.code == "money.bad_currency"
    assert e.value.field == "currency"
    with pytest.raises(ValidationFailed):
        Money.parse("1.00", code)  # type: ignore[arg-type]


def test_unknown_currency_cannot_make_money_at_all() -> None:
    with pytest.raises(ValidationFailed):
        Money(Decimal("1"), "XYZ")
    with pytest.raises(ValidationFailed):
        Money.zero("XYZ")


@pytest.mark.parametrize("code", CURRENCIES)
def test_real_currencies_are_accepted(code: str) -> None:
    assert check_currency(code) == code


@pytest.mark.parametrize(("raw", "code"), [
    ("10.001", "validation.too_precise"),
    ("abc", "validation.not_a_decimal"),
    ("12,50", "validation.not_a_decimal"),
    ("NaN", "validation.not_a_decimal"),
    ("Infinity", "validation.not_a_decimal"),
    ("-1.00", "validation.negative"),
    ("1e30", "validation.not_a_decimal"),
    ("99999999999999", "validation.too_large"),
    ("1.000", "validation.too_precise"),     # a German reader means a thousand: never read as 1.00
    ("10.010", "validation.too_precise"),
    ("1_000", "validation.not_a_decimal"),
    ("1e3", "validation.not_a_decimal"),
    ("1E3", "validation.not_a_decimal"),
    ("١٢٣", "validation.not_a_decimal"),     # Arabic-Indic digits
    ("１２３", "validation.not_a_decimal"),   # full-width digits
    ("12.5٣", "validation.not_a_decimal"),
    ("+5", "validation.not_a_decimal"),
    (".5", "validation.not_a_decimal"),
    ("5.", "validation.not_a_decimal"),
    ("0x10", "validation.not_a_decimal"),
    ("1 000", "validation.not_a_decimal"),
])
def test_parse_refuses_bad_amounts_naming_the_field(raw: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        Money.parse(raw, "EUR", field="unit_price")
    assert e.value.code == code
    assert e.value.field == "unit_price"


def test_parse_accepts_plain_decimals_and_negative_when_asked() -> None:
    assert Money.parse("10.01", "EUR").text == "10.01"
    assert Money.parse("10.1", "EUR").text == "10.10"
    assert Money.parse("1.000", "KWD").text == "1.000"   # three places where the currency has three
    assert Money.parse("1000", "JPY").text == "1000"
    assert Money.parse(" 7 ", "EUR").text == "7.00"
    assert Money.parse(7, "EUR").text == "7.00"
    assert Money.parse(Decimal("7.5"), "EUR").text == "7.50"
    assert Money.parse("-1.50", "EUR", allow_negative=True).minor == -150


@given(st.sampled_from(CURRENCIES), st.integers(min_value=-10**12, max_value=10**12))
def test_minor_units_round_trip(currency: str, minor: int) -> None:
    m = Money.from_minor(minor, currency)
    assert m.minor == minor
    assert Money.parse(m.text, currency, allow_negative=True).minor == minor
    assert minor_to_text(minor, currency) == m.text
    places = minor_exponent(currency)
    assert len(m.text.partition(".")[2]) == places


@given(st.sampled_from(CURRENCIES), st.decimals(min_value=-10**9, max_value=10**9, places=6,
                                                  allow_nan=False, allow_infinity=False))
def test_rounding_is_within_half_a_minor_unit_and_idempotent(currency: str, amount: Decimal) -> None:
    r = round_money(amount, currency)
    half = Decimal(1).scaleb(-minor_exponent(currency)) / 2
    assert abs(r - amount) <= half
    assert round_money(r, currency) == r
    # exact ties go away from zero
    if abs(r - amount) == half:
        assert abs(r) > abs(amount)


@given(st.lists(st.integers(min_value=-10**9, max_value=10**9), max_size=30), st.sampled_from(CURRENCIES))
def test_sum_of_money_is_sum_of_minor_units(minors: list[int], currency: str) -> None:
    total = money_sum([Money.from_minor(n, currency) for n in minors], currency)
    assert total.minor == sum(minors)
