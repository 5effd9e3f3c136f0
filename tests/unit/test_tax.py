"""Tax profiles and the invoice's tax arithmetic (EN 16931 BR-CO-17: per-rate totals, rounded)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.model.money import round_money
from domain.model.tax import (
    REVERSE_CHARGE_NOTE,
    TaxMode,
    TaxProfile,
    TaxRounding,
    invoice_totals,
    line_tax,
    tax_breakdown,
)

D = Decimal
RATES = [D("0"), D("7"), D("19"), D("20"), D("5.5"), D("21"), D("8.1")]


def _triples(lines: list[tuple[Decimal, Decimal]], currency: str = "EUR") -> list[tuple[Decimal, Decimal, Decimal]]:
    return [(a, r, line_tax(a, r, currency)) for a, r in lines]


def test_line_tax_rounds_half_up() -> None:
    assert line_tax(D("0.50"), D("19"), "EUR") == D("0.10")   # 0.095
    assert line_tax(D("2.50"), D("7"), "EUR") == D("0.18")    # 0.175
    assert line_tax(D("-2.50"), D("7"), "EUR") == D("-0.18")  # credits round symmetrically
    assert line_tax(D("1000"), D("10"), "JPY") == D("100")
    assert line_tax(D("1.005"), D("10"), "KWD") == D("0.101")  # 0.1005


def test_per_line_and_per_invoice_rounding_differ_per_rate() -> None:
    lines = [(D("0.13"), D("10"))] * 3 + [(D("1.00"), D("19"))]
    per_line = tax_breakdown(_triples(lines), "EUR", TaxRounding.PER_LINE)
    per_invoice = tax_breakdown(_triples(lines), "EUR", TaxRounding.PER_INVOICE)
    assert [(g.rate, g.taxable, g.tax) for g in per_line] == [(D("10"), D("0.39"), D("0.03")),
                                                              (D("19"), D("1.00"), D("0.19"))]
    # BR-CO-17: the rate's tax is its taxable amount times the rate, rounded once.
    assert [(g.rate, g.taxable, g.tax) for g in per_invoice] == [(D("10"), D("0.39"), D("0.04")),
                                                                 (D("19"), D("1.00"), D("0.19"))]


def test_breakdown_is_sorted_by_rate_and_groups_equal_rates() -> None:
    lines = [(D("10"), D("19")), (D("5"), D("7")), (D("3"), D("19.0")), (D("1"), D("0"))]
    groups = tax_breakdown(_triples(lines), "EUR", TaxRounding.PER_LINE)
    assert [g.rate for g in groups] == [D("0"), D("7"), D("19")]
    assert groups[2].taxable == D("13")


line_st = st.tuples(st.decimals(min_value=-5000, max_value=50000, places=2, allow_nan=False, allow_infinity=False),
                    st.sampled_from(RATES))


@given(st.lists(line_st, min_size=1, max_size=25), st.sampled_from(list(TaxRounding)))
def test_invoice_tax_is_the_sum_of_the_per_rate_totals(lines: list[tuple[Decimal, Decimal]],
                                                       rounding: TaxRounding) -> None:
    totals = invoice_totals(_triples(lines), "EUR", rounding)
    assert totals.tax == sum((g.tax for g in totals.by_rate), D(0))
    assert totals.subtotal == sum((a for a, _ in lines), D(0))
    assert totals.subtotal == sum((g.taxable for g in totals.by_rate), D(0))
    assert totals.total == totals.subtotal + totals.tax
    for g in totals.by_rate:
        assert g.tax == round_money(g.tax, "EUR")  # every per-rate total is in whole cents
        if rounding == TaxRounding.PER_INVOICE:
            assert g.tax == round_money(g.taxable * g.rate / 100, "EUR")
        else:
            assert g.tax == sum((line_tax(a, r, "EUR") for a, r in lines if r == g.rate), D(0))


@given(st.lists(line_st, min_size=1, max_size=25))
def test_per_line_tax_rounds_each_line_and_stays_close_to_per_invoice(lines: list[tuple[Decimal, Decimal]]) -> None:
    per_line = invoice_totals(_triples(lines), "EUR", TaxRounding.PER_LINE)
    per_invoice = invoice_totals(_triples(lines), "EUR", TaxRounding.PER_INVOICE)
    for a, r, t in _triples(lines):
        assert t == round_money(a * r / 100, "EUR")
        assert abs(t - a * r / 100) <= D("0.005")
    # each line's rounding is off by at most half a cent, and the per-invoice figure by at most half a cent
    assert abs(per_line.tax - per_invoice.tax) <= D("0.005") * (len(lines) + len(per_invoice.by_rate))


def test_standard_profile_rates_by_section() -> None:
    p = TaxProfile(rate="19", section_rates={"pass_through": "7"})
    assert p.rate_for("retainer") == D("19")
    assert p.rate_for("pass_through") == D("7")
    assert p.invoice_note() == ""


def test_exempt_gives_zero_and_the_reason() -> None:
    p = TaxProfile(mode=TaxMode.EXEMPT, rate="19", exemption_reason="Art. 132(1)(i) education services")
    assert p.rate_for("retainer") == 0
    assert p.invoice_note() == "Exempt from tax: Art. 132(1)(i) education services"


def test_reverse_charge_gives_zero_and_the_legal_note() -> None:
    p = TaxProfile(mode="reverse_charge", rate="19", region="FR")
    assert p.rate_for("time") == 0
    assert p.invoice_note("FR40303265045").startswith(REVERSE_CHARGE_NOTE)
    assert "Article 196" in p.invoice_note()
    assert "FR40303265045" in p.invoice_note("FR40303265045")


@pytest.mark.parametrize(("data", "field"), [
    ({"rate": "100.01"}, "rate"),
    ({"rate": "150"}, "rate"),
    ({"rate": "-1"}, "rate"),
    ({"rate": 19.0}, "rate"),
    ({"rate": "abc"}, "rate"),
    ({"rate": "NaN"}, "rate"),
    ({"section_rates": {"time": "101"}}, "section_rates"),
    ({"mode": "exempt"}, ""),
    ({"tax_id": "DE147820932"}, ""),  # moved to the client's vat_id
    ({"mode": "zero"}, "mode"),
    ({"rates": "19"}, "rates"),
])
def test_bad_profiles_are_refused(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        TaxProfile.model_validate(data)
    loc = ".".join(str(p) for p in e.value.errors()[0]["loc"])
    assert loc.startswith(field)


def test_rate_of_exactly_100_and_0_are_allowed() -> None:
    assert TaxProfile(rate="100").rate == 100
    assert TaxProfile(rate="0").rate == 0


def test_profile_json_round_trip() -> None:
    p = TaxProfile(mode="standard", region="DE", rate="19", section_rates={"pass_through": "7"})
    assert TaxProfile.model_validate(p.as_json()) == p
    assert p.as_json()["rate"] == "19"
