"""Checks before issue: each returns pass, flag or block for a tiny input; the worst outcome wins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.model import checks as ck
from domain.model.checks import CheckInput, CheckResult, Outcome, run_checks, verdict
from domain.model.parties import Buyer, Seller

SELLER = Seller.model_validate({"legal_name": "Brightline IT Services GmbH", "vat_id": "DE147820932", "address": {
    "street": "Königstraße 28", "postcode": "70173", "city": "Stuttgart", "country": "DE"}})
BUYER = Buyer.model_validate({"legal_name": "Polder B.V.", "vat_id": "NL819203476B01", "address": {
    "street": "Keizersgracht 1", "postcode": "1015 CJ", "city": "Amsterdam", "country": "NL"}})

P, F, B = Outcome.PASS, Outcome.FLAG, Outcome.BLOCK


def clean(**kw: Any) -> CheckInput:
    """An invoice every check passes: 100.00 + 19.00 tax, a contact, a previous total of 119.00."""
    base: dict[str, Any] = dict(
        currency="EUR", client_currency="EUR", line_currencies={"EUR"}, line_amounts=[6000, 4000], subtotal=10000,
        tax_by_rate=[1900], tax_total=1900, total=11900, billing_emails=["ap@client.example"], po_required=False,
        po_number="", manual_lines=0, capped=False, previous_total=11900, recent_same_total=[],
        first_for_client=False, approval_threshold=None, deviation_pct=Decimal(25), duplicate_days=7,
        issue_date=date(2026, 4, 1), seller=SELLER, buyer=BUYER, client_id=7)
    base.update(kw)
    return CheckInput(**base)


def test_a_clean_invoice_passes_every_check() -> None:
    results = run_checks(clean())
    assert [r.outcome for r in results] == [P] * len(ck.ALL_CHECKS)
    assert verdict(results) == P
    assert len({r.code for r in results}) == len(results)


CASES: list[tuple[Callable[[CheckInput], CheckResult], dict[str, Any], Outcome]] = [
    (ck.totals_consistent, {}, P),
    (ck.totals_consistent, {"line_amounts": []}, B),
    (ck.totals_consistent, {"subtotal": 10001, "total": 11901}, B),
    (ck.totals_consistent, {"tax_by_rate": [1800]}, B),
    (ck.totals_consistent, {"total": 11901}, B),
    (ck.totals_consistent, {"line_amounts": [-20000], "subtotal": -20000, "tax_by_rate": [0], "tax_total": 0,
                            "total": -20000}, B),
    (ck.totals_consistent, {"line_amounts": [0], "subtotal": 0, "tax_by_rate": [0], "tax_total": 0, "total": 0}, P),
    (ck.within_cap, {}, P),
    (ck.within_cap, {"capped": True}, F),
    (ck.deviation, {}, P),
    (ck.deviation, {"previous_total": None}, P),
    (ck.deviation, {"previous_total": 0}, P),
    (ck.deviation, {"previous_total": 9520}, P),     # +25.0% exactly: not over
    (ck.deviation, {"previous_total": 9519}, F),     # +25.01%
    (ck.deviation, {"previous_total": 15866}, P),    # -24.997%
    (ck.deviation, {"previous_total": 15867}, F),    # -25.002%
    (ck.deviation, {"previous_total": 20000, "deviation_pct": Decimal(50)}, P),
    (ck.duplicate, {}, P),
    (ck.duplicate, {"recent_same_total": ["INV-2026-000007"]}, F),
    (ck.billing_contact, {}, P),
    (ck.billing_contact, {"billing_emails": []}, F),
    (ck.currency_match, {}, P),
    (ck.currency_match, {"client_currency": "USD"}, B),
    (ck.currency_match, {"line_currencies": {"EUR", "USD"}}, B),
    (ck.purchase_order, {}, P),
    (ck.purchase_order, {"po_required": True}, B),
    (ck.purchase_order, {"po_required": True, "po_number": "   "}, B),
    (ck.purchase_order, {"po_required": True, "po_number": "PO-4711"}, P),
    (ck.purchase_order, {"po_number": "PO-4711"}, P),
    (ck.manual_lines, {}, P),
    (ck.manual_lines, {"manual_lines": 2}, F),
    (ck.first_invoice, {}, P),
    (ck.first_invoice, {"first_for_client": True}, F),
    (ck.over_threshold, {}, P),
    (ck.over_threshold, {"approval_threshold": 11900}, P),   # at the threshold: not over
    (ck.over_threshold, {"approval_threshold": 11899}, F),
    (ck.legal_data, {}, P),
    (ck.legal_data, {"reverse_charge": True}, P),
    (ck.legal_data, {"seller": None}, B),
    (ck.legal_data, {"seller": Seller()}, B),
    (ck.legal_data, {"buyer": BUYER.model_copy(update={"address": BUYER.address.model_copy(update={"city": ""})})},
     B),
    (ck.legal_data, {"buyer": BUYER.model_copy(update={"vat_id": ""})}, P),   # no reverse charge: not needed
    (ck.legal_data, {"buyer": BUYER.model_copy(update={"vat_id": ""}), "reverse_charge": True}, B),
]


@pytest.mark.parametrize(("check", "changes", "outcome"), CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_each_check(check: Callable[[CheckInput], CheckResult], changes: dict[str, Any], outcome: Outcome) -> None:
    result = check(clean(**changes))
    assert result.outcome == outcome
    assert result.code and result.reason
    assert result.as_json() == {"code": result.code, "outcome": outcome.value, "reason": result.reason}
    # the same input through all checks gives the same result for this one
    assert result in run_checks(clean(**changes))


def test_every_check_is_covered_by_a_pass_and_a_non_pass_case() -> None:
    for check in ck.ALL_CHECKS:
        outcomes = {o for c, _, o in CASES if c is check}
        assert P in outcomes and outcomes - {P}, check.__name__


def test_reasons_say_what_is_wrong() -> None:
    r = ck.deviation(clean(previous_total=5000))
    assert "138.0%" in r.reason and "threshold 25%" in r.reason
    assert "INV-2026-000007" in ck.duplicate(clean(recent_same_total=["INV-2026-000007"])).reason
    assert "PO" in ck.purchase_order(clean(po_required=True)).reason


@pytest.mark.parametrize(("outcomes", "expected"), [
    ([], P), ([P], P), ([P, P], P), ([P, F], F), ([F, P, F], F), ([P, B], B), ([F, B, P], B), ([B, F], B),
])
def test_verdict_the_worst_outcome_wins(outcomes: list[Outcome], expected: Outcome) -> None:
    assert verdict([CheckResult(f"c{i}", o, "r") for i, o in enumerate(outcomes)]) == expected
