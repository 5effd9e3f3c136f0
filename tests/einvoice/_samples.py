"""Synthetic invoices for the e-invoice tests, priced with the domain's own tax arithmetic (line_tax,
invoice_totals): the figures are the ones an issued invoice would store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from domain.model.einvoice import Address, EInvoiceInput, LineFacts, Party, RateFacts, build_input
from domain.model.money import round_money
from domain.model.tax import TaxRounding, invoice_totals, line_tax

SELLER = Party(
    name="Brightline IT Services GmbH",
    address=Address(lines=["Königstraße 10"], city="Stuttgart", postcode="70173", country="DE"),
    vat_id="DE136695976", tax_number="99/815/08151", registration="HRB 12345",
    legal_info="HRB 12345, Amtsgericht Stuttgart", endpoint="DE136695976", endpoint_scheme="9930",
    contact_name="Petra Brandt", contact_phone="+49 711 1234560", contact_email="billing@brightline.example")

BUYERS: dict[str, Party] = {
    "DE": Party(name="Nordwerk Maschinenbau GmbH",
                address=Address(lines=["Hafenstraße 3"], city="Hamburg", postcode="20457", country="DE"),
                vat_id="DE811569869", endpoint="DE811569869", endpoint_scheme="9930",
                contact_email="ap@nordwerk.example"),
    "NL": Party(name="Polder Logistics B.V.",
                address=Address(lines=["Keizersgracht 1"], city="Amsterdam", postcode="1015 CJ", country="NL"),
                vat_id="NL004495445B01"),
    "GB": Party(name="Thames Analytics Ltd",
                address=Address(lines=["1 King William Street"], city="London", postcode="EC4N 7AR", country="GB"),
                vat_id="GB980780684"),
}

IBAN, BIC = "DE89370400440532013000", "COBADEFFXXX"

# (description, quantity, unit, unit price, rate)
Spec = tuple[str, str, str, str, str]


def make(lines: Sequence[Spec], *, currency: str = "EUR", mode: str = "standard", rounding: str = "per_line",
         buyer: str = "DE", credit_note: bool = False, number: str = "INV-2026-000042",
         exemption_reason: str = "", iban: str = IBAN) -> EInvoiceInput:
    facts = []
    triples = []
    for desc, qty, unit, price, rate in lines:
        q, p, r = Decimal(qty), Decimal(price), Decimal(rate)
        amount = round_money(q * p, currency)
        facts.append(LineFacts(description=desc, quantity=q, unit=unit, unit_price=p, amount=amount, rate=r))
        triples.append((amount, r, line_tax(amount, r, currency)))
    totals = invoice_totals(triples, currency, TaxRounding(rounding))
    notes = []
    if mode == "reverse_charge":
        notes.append("Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive "
                     "2006/112/EC).")
    if credit_note:
        notes.append("Credit for the March retainer (service not delivered).")
    return build_input(
        number=("CN-2026-000007" if credit_note else number), credit_note=credit_note,
        issue_date=date(2026, 4, 30), currency=currency, seller=SELLER, buyer=BUYERS[buyer], lines=facts,
        breakdown=[RateFacts(rate=g.rate, taxable=g.taxable, tax=g.tax) for g in totals.by_rate],
        tax_mode=mode, exemption_reason=exemption_reason, due_date=date(2026, 5, 30),
        period_start=date(2026, 4, 1), period_end=date(2026, 4, 30), buyer_reference="04011000-1234512345-06",
        order_reference="PO-7781", preceding_number="INV-2026-000042" if credit_note else "",
        preceding_date=date(2026, 4, 30) if credit_note else None, notes=notes,
        payment_terms="Payable within 30 days of the invoice date, without deduction.", iban=iban,
        bic=BIC if iban else "", account_name=SELLER.name)


CASES: dict[str, EInvoiceInput] = {
    "domestic 19%": make([("Retainer — April 2026", "1", "period", "4000.00", "19"),
                          ("Anna Keller (developer) — 12.50 h", "12.5", "h", "95.00", "19")]),
    "two rates and a zero-rated line": make([("Consulting", "3", "h", "120.00", "19"),
                                             ("Printed manuals", "4", "item", "12.35", "7"),
                                             ("Export paperwork", "1", "item", "10.00", "0")]),
    "SLA credit (negative line)": make([("Managed hosting — April", "1", "period", "1500.00", "19"),
                                        ("SLA credit — outage 2026-04-12", "1", "item", "-150.00", "19")]),
    "prorated retainer (quantity x price is not the amount)": make(
        [("Retainer — April 2026 (prorated 33.33%)", "0.3333", "period", "4000.00", "19")]),
    "reverse charge (NL buyer)": make([("Platform engineering", "40", "h", "110.00", "0")], mode="reverse_charge",
                                      buyer="NL"),
    "exempt": make([("Training course (exempt education)", "1", "item", "2500.00", "0")], mode="exempt",
                   exemption_reason="Art. 132(1)(i) Directive 2006/112/EC: education"),
    "per-invoice rounding": make([("Support", "0.35", "h", "99.99", "19"), ("Support", "0.35", "h", "99.99", "19"),
                                  ("Support", "0.35", "h", "99.99", "19")], rounding="per_invoice"),
    "JPY (0 decimals)": make([("Cloud migration", "3", "day", "120000", "10"), ("Licences", "7", "item", "1234", "10")],
                             currency="JPY", rounding="per_invoice", buyer="GB", iban=""),
    "KWD (3 decimals, whole fils x10)": make([("Security audit", "2", "day", "450.250", "0")], currency="KWD",
                                             mode="reverse_charge", buyer="GB", iban=""),
    "GBP reverse charge, no IBAN": make([("Data pipeline work", "10", "h", "90.00", "0")], currency="GBP",
                                        mode="reverse_charge", buyer="GB", iban=""),
    "credit note": make([("Credit for INV-2026-000042 (19% rate)", "1", "item", "500.00", "19")], credit_note=True),
    "credit note, reverse charge": make([("Credit for INV-2026-000042 (0% rate)", "1", "item", "800.00", "0")],
                                        credit_note=True, mode="reverse_charge", buyer="NL"),
}
