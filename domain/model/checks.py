"""Checks run before an invoice is issued. Each is a small function: pass, flag (needs an approver) or block."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from domain.model.parties import Buyer, Missing, Seller, missing_for_invoice


class Outcome(StrEnum):
    PASS = "pass"
    FLAG = "flag"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class CheckResult:
    code: str
    outcome: Outcome
    reason: str
    # what to fill in, as "seller.vat_id" / "buyer.address.postcode" (the legal-data check); kept out of
    # `as_json` (stored checks stay code/outcome/reason) and carried by the refusal's details instead
    fields: tuple[str, ...] = ()

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "outcome": self.outcome.value, "reason": self.reason}


@dataclass(slots=True)
class CheckInput:
    """Everything the checks look at, gathered by the service; amounts in minor units."""

    currency: str
    client_currency: str
    line_currencies: set[str]
    line_amounts: list[int]
    subtotal: int
    tax_by_rate: list[int]
    tax_total: int
    total: int
    billing_emails: list[str]
    po_required: bool
    po_number: str
    manual_lines: int
    capped: bool
    previous_total: int | None        # the client's last issued invoice for the previous period, if any
    recent_same_total: list[str]      # numbers of this client's invoices with the same total, last N days
    first_for_client: bool
    approval_threshold: int | None
    deviation_pct: Decimal
    duplicate_days: int
    issue_date: date
    extra: dict[str, str] = field(default_factory=dict)
    # the parties as they are now (issue 12): what the invoice will say about seller and buyer
    seller: Seller | None = None
    buyer: Buyer | None = None
    reverse_charge: bool = False
    client_id: int | None = None


def _ok(code: str, reason: str = "ok") -> CheckResult:
    return CheckResult(code, Outcome.PASS, reason)


def totals_consistent(c: CheckInput) -> CheckResult:
    if not c.line_amounts:
        return CheckResult("totals", Outcome.BLOCK, "the invoice has no lines")
    if sum(c.line_amounts) != c.subtotal or sum(c.tax_by_rate) != c.tax_total or \
            c.subtotal + c.tax_total != c.total:
        return CheckResult("totals", Outcome.BLOCK, "lines, tax and total do not add up")
    if c.total < 0:
        return CheckResult("totals", Outcome.BLOCK, "the total is negative: issue a credit note instead")
    return _ok("totals")


def within_cap(c: CheckInput) -> CheckResult:
    if c.capped:
        return CheckResult("cap", Outcome.FLAG, "time and materials reached the contract's not-to-exceed cap; "
                                                "the excess was cut")
    return _ok("cap")


def deviation(c: CheckInput) -> CheckResult:
    if c.previous_total is None or c.previous_total == 0:
        return _ok("deviation", "no previous period to compare with")
    change = Decimal(c.total - c.previous_total) / Decimal(abs(c.previous_total)) * 100
    if abs(change) > c.deviation_pct:
        return CheckResult("deviation", Outcome.FLAG,
                           f"total changed {change.quantize(Decimal('0.1'))}% from the previous period "
                           f"(threshold {c.deviation_pct}%)")
    return _ok("deviation")


def duplicate(c: CheckInput) -> CheckResult:
    if c.recent_same_total:
        return CheckResult("duplicate", Outcome.FLAG,
                           f"same client and total as {', '.join(c.recent_same_total)} within "
                           f"{c.duplicate_days} days")
    return _ok("duplicate")


def billing_contact(c: CheckInput) -> CheckResult:
    if not c.billing_emails:
        return CheckResult("billing_contact", Outcome.FLAG, "the client has no billing e-mail to send it to")
    return _ok("billing_contact")


def currency_match(c: CheckInput) -> CheckResult:
    if c.currency != c.client_currency or c.line_currencies - {c.currency}:
        return CheckResult("currency", Outcome.BLOCK,
                           f"invoice in {c.currency} but the client is billed in {c.client_currency}")
    return _ok("currency")


def purchase_order(c: CheckInput) -> CheckResult:
    if c.po_required and not c.po_number.strip():
        return CheckResult("po_required", Outcome.BLOCK,
                           "the client requires a PO number: set it on the client or the invoice")
    return _ok("po_required")


def manual_lines(c: CheckInput) -> CheckResult:
    if c.manual_lines:
        return CheckResult("manual_lines", Outcome.FLAG, f"{c.manual_lines} line(s) were added by hand")
    return _ok("manual_lines")


def first_invoice(c: CheckInput) -> CheckResult:
    if c.first_for_client:
        return CheckResult("first_invoice", Outcome.FLAG, "first invoice for this client")
    return _ok("first_invoice")


def over_threshold(c: CheckInput) -> CheckResult:
    if c.approval_threshold is not None and c.total > c.approval_threshold:
        return CheckResult("threshold", Outcome.FLAG, "total is over the workspace's approval threshold")
    return _ok("threshold")


def legal_data(c: CheckInput) -> CheckResult:
    """Block an invoice that would not be a legal invoice: what Art. 226 VAT Directive, §14 UStG and the UK VAT
    rules ask it to say about seller and buyer, listed field by field with where to fill each in."""
    if c.seller is None or c.buyer is None:
        return CheckResult("legal_data", Outcome.BLOCK, "the seller's and buyer's details were not loaded")
    gaps = missing_for_invoice(c.seller, c.buyer, reverse_charge=c.reverse_charge, buyer_id=c.client_id)
    if not gaps:
        return _ok("legal_data")
    by_party: dict[str, list[Missing]] = {}
    for gap in gaps:
        by_party.setdefault(gap.party, []).append(gap)
    parts = [f"fill in the {'seller' if party == 'seller' else 'client'}'s {', '.join(g.field for g in items)} "
             f"(in {items[0].where})" for party, items in by_party.items()]
    reverse = " and, for the reverse charge, Art. 196" if c.reverse_charge else ""
    return CheckResult("legal_data", Outcome.BLOCK,
                       f"not yet a legal invoice (Art. 226 VAT Directive{reverse}, §14 UStG): " + "; ".join(parts),
                       tuple(f"{g.party}.{g.field}" for g in gaps))


ALL_CHECKS: tuple[Callable[[CheckInput], CheckResult], ...] = (
    totals_consistent, within_cap, deviation, duplicate, billing_contact, currency_match, purchase_order,
    manual_lines, first_invoice, over_threshold, legal_data,
)


def run_checks(c: CheckInput) -> list[CheckResult]:
    return [check(c) for check in ALL_CHECKS]


def verdict(results: list[CheckResult]) -> Outcome:
    """The worst outcome wins: any block blocks, any flag needs an approver."""
    outcomes = {r.outcome for r in results}
    if Outcome.BLOCK in outcomes:
        return Outcome.BLOCK
    if Outcome.FLAG in outcomes:
        return Outcome.FLAG
    return Outcome.PASS
