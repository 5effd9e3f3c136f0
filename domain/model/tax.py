"""Tax profiles and the invoice's tax arithmetic (EN 16931 BR-CO-17: per-rate totals, rounded)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.model.money import round_money

REVERSE_CHARGE_NOTE = ("Reverse charge: VAT to be accounted for by the recipient "
                       "(Article 196, Council Directive 2006/112/EC).")
# A UK business buying services from abroad accounts for the VAT itself (VAT Act 1994, section 8; HMRC VAT Notice
# 741A): the UK's own words on its invoices, not the Directive's. (The exact wording HMRC expects for cross-border
# services is unconfirmed: /work/shared/design/EINVOICING-FACTS.md.)
REVERSE_CHARGE_NOTE_UK = "Reverse charge: customer to account for the VAT to HMRC (VAT Act 1994, section 8)."


class TaxMode(StrEnum):
    STANDARD = "standard"
    EXEMPT = "exempt"
    REVERSE_CHARGE = "reverse_charge"


class TaxRounding(StrEnum):
    PER_LINE = "per_line"
    PER_INVOICE = "per_invoice"


def _rate(value: object, field: str) -> Decimal:
    if isinstance(value, float | bool):
        raise ValueError(f"{field} must be a decimal string such as \"19\" or \"7.5\"")
    try:
        d = Decimal(str(value))
    except Exception:
        raise ValueError(f"{field} {value!r} is not a number") from None
    if not d.is_finite() or d < 0 or d > 100:
        raise ValueError(f"{field} must be between 0 and 100 (percent)")
    return d


class TaxProfile(BaseModel):
    """A client's tax treatment. Rates are percentages; `section_rates` overrides per section.

    The client's VAT ID is a fact about the buyer, not its treatment: it is the client's `vat_id`
    (domain.model.parties.Buyer), which reverse charge requires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: TaxMode = TaxMode.STANDARD
    region: str = ""
    rate: Decimal = Decimal(0)
    section_rates: dict[str, Decimal] = Field(default_factory=dict)
    exemption_reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: object) -> object:
        if isinstance(data, dict) and "tax_id" in data:
            raise ValueError("tax_id has moved: give the client's VAT ID as the client's vat_id")
        return data

    @field_validator("rate", mode="before")
    @classmethod
    def _check_rate(cls, v: object) -> Decimal:
        return _rate(v, "rate")

    @field_validator("section_rates", mode="before")
    @classmethod
    def _check_section_rates(cls, v: object) -> dict[str, Decimal]:
        if not isinstance(v, dict):
            raise ValueError("section_rates must be an object of section -> rate")
        return {str(k): _rate(r, f"section_rates.{k}") for k, r in v.items()}

    @model_validator(mode="after")
    def _consistent(self) -> TaxProfile:
        if self.mode == TaxMode.EXEMPT and not self.exemption_reason.strip():
            raise ValueError("exemption_reason is required when mode is exempt")
        return self

    def rate_for(self, section: str) -> Decimal:
        if self.mode != TaxMode.STANDARD:
            return Decimal(0)
        return self.section_rates.get(section, self.rate)

    def invoice_note(self, buyer_vat_id: str = "", buyer_country: str = "") -> str:
        """The legal note the invoice must carry, if any (reverse charge: with the buyer's VAT ID; a buyer in the
        UK gets the UK's wording)."""
        if self.mode == TaxMode.REVERSE_CHARGE:
            note = REVERSE_CHARGE_NOTE_UK if buyer_country == "GB" else REVERSE_CHARGE_NOTE
            return note + (f" Customer VAT ID: {buyer_vat_id}." if buyer_vat_id else "")
        if self.mode == TaxMode.EXEMPT:
            return f"Exempt from tax: {self.exemption_reason}"
        return ""

    def as_json(self) -> dict[str, object]:
        return {
            "mode": self.mode.value, "region": self.region,
            "rate": format(self.rate, "f"),
            "section_rates": {k: format(v, "f") for k, v in self.section_rates.items()},
            "exemption_reason": self.exemption_reason,
        }


@dataclass(frozen=True, slots=True)
class RateTotal:
    rate: Decimal
    taxable: Decimal
    tax: Decimal


def line_tax(amount: Decimal, rate: Decimal, currency: str) -> Decimal:
    return round_money(amount * rate / Decimal(100), currency)


def tax_breakdown(lines: Iterable[tuple[Decimal, Decimal, Decimal]], currency: str,
                  rounding: TaxRounding) -> list[RateTotal]:
    """Per-rate totals from (net amount, rate, line tax) triples, sorted by rate.

    Per line: the rate's tax is the sum of the rounded line taxes. Per invoice: taxable x rate, rounded.
    """
    groups: dict[Decimal, list[tuple[Decimal, Decimal]]] = {}
    for amount, rate, ltax in lines:
        groups.setdefault(rate, []).append((amount, ltax))
    out = []
    for rate in sorted(groups):
        taxable = sum((a for a, _ in groups[rate]), Decimal(0))
        if rounding == TaxRounding.PER_LINE:
            tax = sum((t for _, t in groups[rate]), Decimal(0))
        else:
            tax = line_tax(taxable, rate, currency)
        out.append(RateTotal(rate, taxable, tax))
    return out


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    by_rate: list[RateTotal]


def invoice_totals(lines: Iterable[tuple[Decimal, Decimal, Decimal]], currency: str,
                   rounding: TaxRounding) -> InvoiceTotals:
    """Subtotal, tax and total of an invoice from its (net amount, rate, line tax) triples.

    The invoice's tax is the sum of its per-rate totals (BR-CO-17), never a separate rounding of the whole.
    """
    triples = list(lines)
    by_rate = tax_breakdown(triples, currency, rounding)
    subtotal = sum((a for a, _, _ in triples), Decimal(0))
    tax = sum((g.tax for g in by_rate), Decimal(0))
    return InvoiceTotals(subtotal, tax, subtotal + tax, by_rate)
