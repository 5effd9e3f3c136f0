"""EN 16931 e-invoices: the one input every generator reads, and the rules decided before any XML is written.

`EInvoiceInput` is a pure, frozen description of one issued invoice or credit note in EN 16931 terms (business
terms BT-n, groups BG-n). It is built from the invoice's frozen facts by `domain.services.einvoice`; the generators
(Factur-X / XRechnung CII, XRechnung / Peppol UBL, in `channels/documents/einvoice`) turn it into XML and never
touch the database, so they are tested on synthetic input exactly as on the books.

What is decided here, once for every syntax:

* the VAT category of a line (S standard, Z zero rated, E exempt, AE reverse charge) and its exemption reason;
* a negative line (an SLA credit) as a negative quantity at a positive price (BR-27: a price is never negative);
* the line's quantity and price when `quantity x price` does not give its amount exactly (a prorated share, a
  0-decimal currency): one unit at the line's amount, the real quantity kept in the line note;
* what a format needs that the invoice does not say (`missing_for`), listed by the field to fill in;
* whether the invoice's figures can be written as EN 16931 at all (`unrepresentable`): amounts have at most two
  decimals (BR-DEC-*) and each rate's tax is its taxable amount times the rate within one currency unit
  (BR-CO-17).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import ValidationFailed


class EInvoiceFormat(StrEnum):
    FACTURX = "facturx"
    XRECHNUNG_CII = "xrechnung-cii"
    XRECHNUNG_UBL = "xrechnung-ubl"
    PEPPOL = "peppol"


FORMATS: tuple[str, ...] = tuple(f.value for f in EInvoiceFormat)
# What a client may prefer: a format, or none (PDF only).
PREFERENCES: tuple[str, ...] = ("none", *FORMATS)

FORMAT_LABELS: dict[str, str] = {
    "facturx": "Factur-X / ZUGFeRD (EN 16931 profile): a PDF/A-3 with the CII XML inside",
    "xrechnung-cii": "XRechnung 3.0, UN/CEFACT CII XML",
    "xrechnung-ubl": "XRechnung 3.0, UBL 2.1 XML",
    "peppol": "Peppol BIS Billing 3.0, UBL 2.1 XML",
}

# Specification identifiers (BT-24), EINVOICING-FACTS.md "Identifiers".
EN16931 = "urn:cen.eu:en16931:2017"
XRECHNUNG_3 = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
CUSTOMIZATION: dict[str, str] = {
    "facturx": EN16931, "xrechnung-cii": XRECHNUNG_3, "xrechnung-ubl": XRECHNUNG_3, "peppol": PEPPOL_BIS3,
}

INVOICE, CREDIT_NOTE = "380", "381"  # UNTDID 1001

REVERSE_CHARGE_CODE = "VATEX-EU-AE"
REVERSE_CHARGE_TEXT = "Reverse charge"

# Electronic address schemes (EAS) for a VAT ID, by the ID's country prefix: the fallback address of a party that
# has no Peppol ID of its own (Peppol R010/R020 make both addresses mandatory).
VAT_SCHEMES: dict[str, str] = {
    "AT": "9914", "BE": "9925", "DE": "9930", "DK": "0198", "ES": "9920", "FR": "9957", "GB": "9932", "IE": "9935",
    "IT": "0211", "LU": "9938", "NL": "9944", "PL": "9945", "PT": "9946", "SE": "0007",
}

# UN/ECE Recommendation 20 unit codes for the units lines use.
UNIT_CODES: dict[str, str] = {
    "h": "HUR", "hour": "HUR", "hours": "HUR", "hr": "HUR", "day": "DAY", "days": "DAY", "d": "DAY",
    "month": "MON", "months": "MON", "week": "WEE", "year": "ANN", "min": "MIN", "minute": "MIN",
}
ONE = "C62"  # "one": items, seats, periods, a line's amount as a whole


class EInvoiceError(ValidationFailed):
    """The invoice cannot be written in the asked format as it stands; `details["missing"]` lists what to add."""

    code = "einvoice.incomplete"


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    lines: list[str] = Field(default_factory=list)
    city: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    subdivision: str = ""


class Party(BaseModel):
    """Seller (BG-4) or buyer (BG-7)."""

    model_config = ConfigDict(frozen=True)

    name: str
    address: Address = Field(default_factory=Address)
    vat_id: str = ""            # BT-31 / BT-48
    tax_number: str = ""        # BT-32 (seller's national tax number)
    registration: str = ""      # BT-30 legal registration identifier
    legal_info: str = ""        # BT-33 additional legal information (e.g. "HRB 12345, Amtsgericht Stuttgart")
    endpoint: str = ""          # BT-34 / BT-49 electronic address
    endpoint_scheme: str = ""   # its EAS code
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""

    def electronic_address(self) -> tuple[str, str] | None:
        """The party's electronic address and scheme: its own, else its VAT ID under its country's VAT scheme."""
        if self.endpoint and self.endpoint_scheme:
            return self.endpoint, self.endpoint_scheme
        vat = self.vat_id.replace(" ", "").upper()
        scheme = VAT_SCHEMES.get(vat[:2])
        if vat and scheme:
            return vat, scheme
        return None


class Line(BaseModel):
    """An invoice line (BG-25) as written: quantity and net price never give a negative price."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    quantity: Decimal
    unit_code: str
    price: Decimal          # BT-146 net price, >= 0
    net_amount: Decimal     # BT-131
    category: str           # BT-151
    rate: Decimal           # BT-152
    note: str = ""          # BT-127
    period_start: date | None = None
    period_end: date | None = None
    text: dict[str, Any] | None = None  # a generated line's wording as data: the XML writes it in `line_language`


class TaxGroup(BaseModel):
    """One VAT breakdown (BG-23) per category and rate."""

    model_config = ConfigDict(frozen=True)

    category: str
    rate: Decimal
    taxable: Decimal
    tax: Decimal
    exemption_reason: str = ""
    exemption_code: str = ""


class EInvoiceInput(BaseModel):
    """Everything an EN 16931 invoice or credit note says, syntax-neutral. Amounts are in the invoice currency."""

    model_config = ConfigDict(frozen=True)

    number: str                         # BT-1
    type_code: str = INVOICE            # BT-3
    issue_date: date                    # BT-2
    currency: str                       # BT-5
    due_date: date | None = None        # BT-9
    period_start: date | None = None    # BG-14
    period_end: date | None = None
    buyer_reference: str = ""           # BT-10 (Leitweg-ID for German public buyers)
    order_reference: str = ""           # BT-13
    preceding_number: str = ""          # BT-25 (a credit note's invoice)
    preceding_date: date | None = None  # BT-26
    notes: list[str] = Field(default_factory=list)  # BT-22
    payment_terms: str = ""             # BT-20
    seller: Party
    buyer: Party
    iban: str = ""                      # BT-84
    bic: str = ""                       # BT-86
    account_name: str = ""              # BT-85
    lines: list[Line]
    tax_groups: list[TaxGroup]
    line_total: Decimal                 # BT-106
    tax_total: Decimal                  # BT-110
    total: Decimal                      # BT-112
    prepaid: Decimal = Decimal(0)       # BT-113
    payable: Decimal                    # BT-115
    language: str = "en"
    line_language: str = ""             # the document's language for generated line names ("" = as stored)
    reason_text: dict[str, Any] | None = None  # a credit note's reason (its last note) as data, if billable wrote it

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE

    @property
    def payment_means(self) -> str:
        """UNTDID 4461: 58 SEPA credit transfer (IBAN, EUR), 30 credit transfer (IBAN), 1 not defined."""
        if not self.iban:
            return "1"
        return "58" if self.currency == "EUR" else "30"


# ---- deciding line and tax facts ----------------------------------------------------------------------------------

def category_for(mode: str, rate: Decimal) -> str:
    """The VAT category (UNTDID 5305) of a line under a client's tax mode."""
    if mode == "reverse_charge":
        return "AE"
    if mode == "exempt":
        return "E"
    return "S" if rate > 0 else "Z"


def exemption_for(category: str, reason: str) -> tuple[str, str]:
    """(BT-120 text, BT-121 code) for a category: AE carries VATEX-EU-AE, E the client's exemption reason."""
    if category == "AE":
        return REVERSE_CHARGE_TEXT, REVERSE_CHARGE_CODE
    if category == "E":
        return reason or "Exempt from VAT", ""
    return "", ""


def unit_code(unit: str) -> str:
    return UNIT_CODES.get(unit.strip().lower(), ONE)


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")


def line_of(position: int, description: str, quantity: Decimal, unit: str, unit_price: Decimal, amount: Decimal,
            category: str, rate: Decimal, period_start: date | None = None,
            period_end: date | None = None, text: dict[str, Any] | None = None) -> Line:
    """A stored line as EN 16931 writes it. Kept as is when quantity x price is its amount; else one unit
    (negative for a credit line) at the amount, with the real quantity and price in the line note, so
    quantity x price = amount holds in every syntax (Peppol R120) and no price is negative (BR-27)."""
    exact = quantity * unit_price == amount and unit_price >= 0 and quantity != 0
    if exact:
        return Line(id=str(position), name=description, quantity=quantity, unit_code=unit_code(unit),
                    price=unit_price, net_amount=amount, category=category, rate=rate,
                    period_start=period_start, period_end=period_end, text=text)
    if unit_price < 0 and quantity * unit_price == amount:  # an SLA credit: 1 x -10 is written -1 x 10
        return Line(id=str(position), name=description, quantity=-quantity, unit_code=unit_code(unit),
                    price=-unit_price, net_amount=amount, category=category, rate=rate,
                    period_start=period_start, period_end=period_end, text=text)
    note = f"{_plain(quantity)} {unit} x {_plain(unit_price)}"
    return Line(id=str(position), name=description, quantity=Decimal(-1 if amount < 0 else 1), unit_code=ONE,
                price=abs(amount), net_amount=amount, category=category, rate=rate, note=note,
                period_start=period_start, period_end=period_end, text=text)


# ---- what a format needs ------------------------------------------------------------------------------------------

def missing_for(fmt: str, inp: EInvoiceInput) -> list[str]:
    """The fields to fill in before the invoice can be written in `fmt`, named as the settings and client name them
    (`seller.vat_id`, `buyer.address`...). Empty when nothing is missing."""
    out: list[str] = []
    s, b = inp.seller, inp.buyer
    if not (s.address.city and s.address.postcode and s.address.country and s.address.lines):
        out.append("seller.address")                       # BR-08/BR-09, BR-DE-3/4
    if not b.address.country or not b.address.city:
        out.append("buyer.address")                        # BR-10/BR-11, BR-DE-8/9
    categories = {g.category for g in inp.tax_groups}
    if not (s.vat_id or s.tax_number) or (categories & {"AE", "K", "G"} and not s.vat_id):
        out.append("seller.vat_id")                        # BR-CO-26, BR-S-02, BR-AE-02
    if "AE" in categories and not (b.vat_id or b.registration):
        out.append("buyer.vat_id")                         # BR-AE-02
    if fmt in ("xrechnung-cii", "xrechnung-ubl"):
        if not inp.buyer_reference:
            out.append("buyer.buyer_reference")            # BR-DE-15 (Leitweg-ID for public buyers)
        if not (s.contact_name and s.contact_phone and s.contact_email):
            out.append("seller.contact")                   # BR-DE-2, BR-DE-5/6/7
    if fmt in ("xrechnung-cii", "xrechnung-ubl", "peppol"):
        if s.electronic_address() is None:
            out.append("seller.electronic_address")        # Peppol R020, BR-DE via R020
        if b.electronic_address() is None:
            out.append("buyer.electronic_address")         # Peppol R010
    if fmt == "peppol" and not (inp.buyer_reference or inp.order_reference):
        out.append("buyer.buyer_reference")                # Peppol R003
    return list(dict.fromkeys(out))


def _decimals(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def unrepresentable(inp: EInvoiceInput) -> list[str]:
    """Why these figures cannot be an EN 16931 document (empty when they can): more than two decimals in an amount
    (BR-DEC-*), or a rate's tax a currency unit or more away from its taxable amount times the rate (BR-CO-17,
    which per-line rounding reaches with many lines in a currency without cents)."""
    out: list[str] = []
    amounts = [inp.line_total, inp.tax_total, inp.total, inp.payable, inp.prepaid]
    amounts += [ln.net_amount for ln in inp.lines] + [v for g in inp.tax_groups for v in (g.taxable, g.tax)]
    if any(_decimals(a) > 2 for a in amounts):
        out.append(f"BR-DEC: EN 16931 amounts have at most 2 decimals; this {inp.currency} invoice has amounts with 3")
    for g in inp.tax_groups:
        expected = (abs(g.taxable) * g.rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if g.rate and abs(abs(g.tax) - expected) >= 1:  # the UBL rule is strict (< 1), the CII one not
            out.append(f"BR-CO-17: the {_plain(g.rate)}% tax {g.tax} {inp.currency} is more than one unit away from "
                       f"{_plain(g.rate)}% of {g.taxable} (rounding per line); round tax per invoice")
    return out


def require_complete(fmt: str, inp: EInvoiceInput) -> None:
    """Raise `EInvoiceError` naming what to fill in (or why the figures cannot be written) for `fmt`."""
    missing = missing_for(fmt, inp)
    if missing:
        raise EInvoiceError(f"a {fmt} e-invoice needs {', '.join(missing)}: fill in the workspace settings "
                            "(seller) and the client (buyer), then ask again", field=missing[0],
                            details={"missing": missing, "format": fmt})
    problems = unrepresentable(inp)
    if problems:
        raise EInvoiceError("; ".join(problems), code="einvoice.not_representable", field="tax_rounding",
                            details={"problems": problems, "format": fmt})


def parse_format(value: str | None, field: str = "format") -> EInvoiceFormat:
    """A format name from a door, or a refusal naming the field and the formats there are."""
    try:
        return EInvoiceFormat(str(value).strip().lower())
    except ValueError:
        raise ValidationFailed(f"unknown e-invoice format {value!r}; one of {', '.join(FORMATS)}",
                               code="einvoice.bad_format", field=field) from None


# ---- building the input from an invoice's facts ---------------------------------------------------------------------

class LineFacts(BaseModel):
    """A stored line as the invoice says it (net amount, rate in percent)."""

    model_config = ConfigDict(frozen=True)

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    rate: Decimal
    period_start: date | None = None
    period_end: date | None = None
    text: dict[str, Any] | None = None  # the line's `source["text"]`, if the domain wrote it


class RateFacts(BaseModel):
    """One line of the invoice's tax summary: rate, taxable amount, tax."""

    model_config = ConfigDict(frozen=True)

    rate: Decimal
    taxable: Decimal
    tax: Decimal


def build_input(*, number: str, credit_note: bool, issue_date: date, currency: str, seller: Party, buyer: Party,
                lines: list[LineFacts], breakdown: list[RateFacts], tax_mode: str = "standard",
                exemption_reason: str = "", due_date: date | None = None, period_start: date | None = None,
                period_end: date | None = None, buyer_reference: str = "", order_reference: str = "",
                preceding_number: str = "", preceding_date: date | None = None, notes: list[str] | None = None,
                payment_terms: str = "", iban: str = "", bic: str = "", account_name: str = "",
                language: str = "en", line_language: str = "",
                reason_text: dict[str, Any] | None = None) -> EInvoiceInput:
    """The EN 16931 input of an invoice or credit note from what it says: the stored lines and tax summary are
    written as they are (the e-invoice and the PDF agree to the cent), each rate becoming one VAT breakdown of the
    category the client's tax mode gives it."""
    out_lines = [line_of(i, ln.description, ln.quantity, ln.unit, ln.unit_price, ln.amount,
                         category_for(tax_mode, ln.rate), ln.rate, ln.period_start, ln.period_end, ln.text)
                 for i, ln in enumerate(lines, start=1)]
    groups = []
    for g in breakdown:
        category = category_for(tax_mode, g.rate)
        reason, code = exemption_for(category, exemption_reason)
        groups.append(TaxGroup(category=category, rate=g.rate, taxable=g.taxable, tax=g.tax,
                               exemption_reason=reason, exemption_code=code))
    line_total = sum((ln.amount for ln in lines), Decimal(0))
    tax_total = sum((g.tax for g in breakdown), Decimal(0))
    total = line_total + tax_total
    return EInvoiceInput(
        number=number, type_code=CREDIT_NOTE if credit_note else INVOICE, issue_date=issue_date, currency=currency,
        due_date=due_date, period_start=period_start, period_end=period_end, buyer_reference=buyer_reference,
        order_reference=order_reference, preceding_number=preceding_number, preceding_date=preceding_date,
        notes=[n for n in (notes or []) if n.strip()], payment_terms=payment_terms, seller=seller, buyer=buyer,
        iban=iban, bic=bic, account_name=account_name, lines=out_lines, tax_groups=groups, line_total=line_total,
        tax_total=tax_total, total=total, payable=total, language=language, line_language=line_language,
        reason_text=reason_text if notes and notes[-1].strip() else None)
