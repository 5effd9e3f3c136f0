"""Money as a value object: Decimal amounts, ISO 4217 currencies, half-up rounding to the minor unit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_precision

from domain.errors import ValidationFailed

# Codes that are not legal tender one can invoice in (funds, metals, testing), should CLDR list them as tender.
_NOT_INVOICEABLE = frozenset({"XAU", "XAG", "XPT", "XPD", "XTS", "XXX", "XBA", "XBB", "XBC", "XBD", "XDR",
                              "XSU", "XUA", "BOV", "CLF", "COU", "MXV", "USN", "UYI", "UYW", "CHE", "CHW"})

# Amounts at or above this (in major units) are refused: surely a typo, and beyond what Decimal's 28 digits and a
# BIGINT of minor units can carry through an invoice's arithmetic.
MAX_AMOUNT = Decimal(10) ** 13

# What a decimal string may look like: ASCII digits, an optional minus and decimal point, nothing else. Python's
# Decimal() would also take Unicode digits, "1_000", "1e3" and "+5"; people and exports never mean those.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@cache
def _currencies() -> frozenset[str]:
    """Currencies that are legal tender somewhere today (CLDR): not DEM, FRF or VEF, which no longer exist."""
    current = {code for entries in get_global("territory_currencies").values()
               for code, _start, end, tender in entries if tender and end is None}
    return frozenset(c for c in current if len(c) == 3 and c.isupper()) - _NOT_INVOICEABLE


def check_currency(code: object, field: str = "currency") -> str:
    """Return the ISO 4217 code if it is one we can invoice in, else raise naming the field."""
    if not isinstance(code, str) or code.upper() not in _currencies() or code != code.upper():
        raise ValidationFailed(f"{code!r} is not an ISO 4217 currency code (e.g. EUR, USD, GBP)",
                               code="money.bad_currency", field=field)
    return code


@cache
def minor_exponent(currency: str) -> int:
    """Digits after the decimal point for a currency: 2 for EUR, 0 for JPY, 3 for KWD."""
    return int(get_currency_precision(currency))


@cache
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_exponent(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (Decimal's default HALF_EVEN is wrong for invoices)."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)


def parse_decimal(value: object, field: str, *, max_places: int | None = None,
                  allow_negative: bool = False) -> Decimal:
    """Parse a decimal given as a string (or Decimal/int); floats are refused because they lose cents."""
    if isinstance(value, (bool, float)):
        raise ValidationFailed("must be a decimal string such as \"12.50\", not a JSON number",
                               code="validation.not_a_decimal_string", field=field)
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 60 or not _PLAIN_DECIMAL.fullmatch(text):
            raise ValidationFailed(f"{value[:60]!r} is not a decimal number: write plain digits with a point for "
                                   "decimals, like 1234.50 (no grouping, exponent or other scripts' digits)",
                                   code="validation.not_a_decimal", field=field)
        try:
            d = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
            raise ValidationFailed(f"{value!r} is not a decimal number", code="validation.not_a_decimal",
                                   field=field) from None
        places = len(text.partition(".")[2])
        if max_places is not None and places > max_places:
            # Written digits count, zeros too: "1.000" in a 2-place currency may mean a thousand (German grouping).
            raise ValidationFailed(f"has {places} decimal places; at most {max_places} here (is the point a "
                                   "thousands separator? write 1000.00)", code="validation.too_precise",
                                   field=field)
    else:
        raise ValidationFailed("must be a decimal string", code="validation.not_a_decimal_string",
                               field=field)
    if not d.is_finite():
        raise ValidationFailed("must be a finite number", code="validation.not_a_decimal", field=field)
    if d < 0 and not allow_negative:
        raise ValidationFailed("must not be negative", code="validation.negative", field=field)
    if abs(d) >= MAX_AMOUNT:
        raise ValidationFailed(f"must be less than {MAX_AMOUNT:,}", code="validation.too_large", field=field)
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    if max_places is not None and -exponent > max_places and d != d.quantize(Decimal(1).scaleb(-max_places)):
        raise ValidationFailed(f"has more than {max_places} decimal places", code="validation.too_precise",
                               field=field)
    return d


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency. Arithmetic refuses to mix currencies."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")
        if self.currency not in _currencies():
            check_currency(self.currency)

    @classmethod
    def parse(cls, value: object, currency: str, field: str = "amount", *,
              allow_negative: bool = False) -> Money:
        """Money from user input: a decimal string with no more places than the currency has."""
        check_currency(currency)
        d = parse_decimal(value, field, max_places=minor_exponent(currency), allow_negative=allow_negative)
        return cls(round_money(d, currency), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(round_money(Decimal(0), currency), currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(minor).scaleb(-minor_exponent(currency)), currency)

    @property
    def minor(self) -> int:
        """Integer minor units, the stored form."""
        return int(round_money(self.amount, self.currency).scaleb(minor_exponent(self.currency)))

    def rounded(self) -> Money:
        return Money(round_money(self.amount, self.currency), self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValidationFailed(f"cannot combine {self.currency} with {other.currency}",
                                   code="money.currency_mismatch", field="currency")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise TypeError("multiply Money by Decimal, never float")
        return Money(self.amount * Decimal(factor), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.text} {self.currency}"

    @property
    def text(self) -> str:
        """The amount as the decimal string that travels in JSON ("1234.50")."""
        return format(round_money(self.amount, self.currency), "f")


def money_sum(items: list[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for m in items:
        total = total + m
    return total


def minor_to_text(minor: int, currency: str) -> str:
    """Integer minor units to the JSON decimal string (what `Money.from_minor(minor, currency).text` says)."""
    if currency not in _currencies():
        check_currency(currency)
    # An integer scaled by the currency's exponent already has exactly its minor digits: nothing to round.
    return format(Decimal(minor).scaleb(-minor_exponent(currency)), "f")
