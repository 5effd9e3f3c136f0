"""A property over generated invoices: lines, rates, reverse charge and exemption, both tax rounding modes, 0-, 2-
and 3-decimal currencies, invoices and credit notes, every format. Each one is either a valid document (zero fatal
XSD / EN 16931 Schematron findings) or refused before any XML is written, for a reason the rules would have
rejected it for (BR-DEC: more than two decimals; BR-CO-17: per-line rounding a currency unit away)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from channels.documents.einvoice import xml
from domain.model.einvoice import FORMATS, EInvoiceError, require_complete, unrepresentable
from domain.model.money import minor_exponent
from tests.einvoice._rules import assert_valid, findings
from tests.einvoice._samples import make

RATES = ("19", "7", "0", "20", "21", "10", "5.5")


@st.composite
def invoices(draw: st.DrawFn) -> tuple[dict[str, object], list[tuple[str, str, str, str, str]]]:
    currency = draw(st.sampled_from(["EUR", "EUR", "JPY", "KWD", "GBP"]))
    mode = draw(st.sampled_from(["standard", "standard", "reverse_charge", "exempt"]))
    credit = draw(st.booleans())
    exp = minor_exponent(currency)
    lines = []
    for i in range(draw(st.integers(1, 5))):
        qty = draw(st.sampled_from(["1", "2", "0.5", "1.25", "12.5", "0.3333", "40", "3"]))
        minor = draw(st.integers(1, 5_000_000))
        price = format(Decimal(minor).scaleb(-exp), "f")
        if not credit and i > 0 and draw(st.integers(0, 4)) == 0:
            price = "-" + price  # an SLA credit
        rate = draw(st.sampled_from(RATES)) if mode == "standard" else "0"
        unit = draw(st.sampled_from(["h", "item", "period", "day", "seat"]))
        lines.append((f"Line {i + 1}", qty, unit, price, rate))
    kw = {"currency": currency, "mode": mode, "rounding": draw(st.sampled_from(["per_line", "per_invoice"])),
          "credit_note": credit, "buyer": "NL" if mode == "reverse_charge" else draw(st.sampled_from(["DE", "GB"])),
          "exemption_reason": "Exempt under Art. 135(1) Directive 2006/112/EC" if mode == "exempt" else ""}
    return kw, lines


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=invoices(), fmt=st.sampled_from(FORMATS))
def test_generated_invoices_are_valid_or_refused_for_a_named_rule(case: tuple[dict[str, object], list[
        tuple[str, str, str, str, str]]], fmt: str) -> None:
    kw, lines = case
    inp = make(lines, **kw)  # type: ignore[arg-type]
    assume(inp.total > 0)  # an invoice the books would issue: something is owed
    problems = unrepresentable(inp)
    if problems:
        with pytest.raises(EInvoiceError) as refused:
            require_complete(fmt, inp)
        assert refused.value.code == "einvoice.not_representable"
        assert all(p.startswith(("BR-DEC", "BR-CO-17")) for p in refused.value.details["problems"])
        return
    require_complete(fmt, inp)
    assert_valid(xml(inp, fmt), f"{fmt} {kw} {lines}", fmt)


def test_what_is_refused_would_really_fail_the_rules() -> None:
    """The refusals are not a way around the rules: written anyway, such invoices fail them, by the same rule."""
    jpy = make([("A", "1", "item", "15", "10"), ("B", "1", "item", "15", "10"), ("C", "1", "item", "25", "10")],
               currency="JPY", rounding="per_line", buyer="GB", iban="")
    assert [p[:9] for p in unrepresentable(jpy)] == ["BR-CO-17:"]
    assert "BR-CO-17" in {f.rule for f in findings(xml(jpy, "peppol"))}
    kwd = make([("Audit", "1", "item", "100.125", "5")], currency="KWD", buyer="GB", iban="")
    assert unrepresentable(kwd)[0].startswith("BR-DEC")
    # the same JPY invoice rounded per invoice is valid
    ok = make([("A", "1", "item", "15", "10"), ("B", "1", "item", "15", "10"), ("C", "1", "item", "25", "10")],
              currency="JPY", rounding="per_invoice", buyer="GB", iban="")
    assert not unrepresentable(ok)
    assert_valid(xml(ok, "peppol"), "JPY per invoice", "peppol")
