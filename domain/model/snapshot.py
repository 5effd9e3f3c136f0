"""What an issued invoice or credit note says, frozen when it is numbered: seller, buyer, terms, lines and tax.

Public. The issuing step (`domain.services._issuing`) builds an `InvoiceSnapshot` when it numbers an invoice, and
`create_credit_note` when it numbers a credit note; it is stored on the invoice (`invoices.snapshot`, JSON) and
never changes. Every door that shows an issued document (HTML and PDF, the hosted page, e-mails, the dashboard,
the API, Slack, the agent) and the e-invoice writers read the parties and terms from it, never from the live
workspace and client rows, so editing either afterwards changes nothing issued. Drafts have no snapshot.

Amounts are decimal strings in `terms.currency` (never floats); rates are percentages as decimal strings; dates
are ISO 8601. Where each field goes in EN 16931 (the e-invoice writers' map):

| snapshot                                  | EN 16931                                                       |
|-------------------------------------------|----------------------------------------------------------------|
| `kind`, `number`, `terms.issue_date`      | BT-3 (380 invoice, 381 credit note), BT-1, BT-2                |
| `terms.currency`, `terms.due_date`        | BT-5, BT-9; `terms.payment_terms_days` -> BT-20 (text)         |
| `terms.po_number`, `buyer.buyer_reference`| BT-13, BT-10                                                   |
| `terms.period_start`, `terms.period_end`  | BG-14 (BT-73, BT-74)                                           |
| `terms.corrects_number`, `_issue_date`    | BG-3 (BT-25, BT-26): the invoice a credit note corrects        |
| `terms.tax_note`                          | BT-22 (the legal note, e.g. the reverse-charge wording)        |
| `seller.*` / `buyer.*`                    | BG-4 / BG-7 (name BT-27/44, address BG-5/8, VAT ID BT-31/48)   |
| `lines[]`                                 | BG-25 (BT-126, 153, 129, 130, 146, 131, 151, 152)              |
| `tax[]`                                   | BG-23 (BT-116 taxable, 117 tax, 118 category, 119 rate, 120/121)|
| `totals`                                  | BG-22 (BT-106/109 net, BT-110 tax, BT-112 gross, BT-115 due)    |

The parties carry every field `domain.model.parties` had for the workspace and the client at issue (legal name,
address, VAT ID, tax number, registration, contact, bank account, electronic address, buyer reference, e-invoice
format, language); `seller.details()` and `buyer.details()` give them back as the parties' models. Fields a
later build adds are kept (`extra="allow"`), and nothing is validated again on reading, so a snapshot written by an
older build always reads.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.model import parties
from domain.model.tax import TaxMode

SCHEMA_VERSION = 1

# UNCL5305 duty or tax category codes (EN 16931 BT-118 / BT-151)
STANDARD, ZERO_RATED, EXEMPT, REVERSE_CHARGE = "S", "Z", "E", "AE"
VATEX_REVERSE_CHARGE = "VATEX-EU-AE"  # BT-121 for category AE


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Party(_Frozen):
    """A party as the document names it: `name` is what it is called on the document (the workspace's or
    client's name), and every other field of the party the rows had at issue follows (legal name, address, VAT
    ID, tax number, registration, contact, bank account, electronic address, buyer reference...)."""

    name: str


def _construct(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """A party model from frozen data, nested models included, without checking it again (it was checked when it
    was entered; a check that tightens later must not make an issued invoice unreadable)."""
    fields: dict[str, Any] = {}
    for name, value in data.items():
        if name not in model.model_fields:
            continue
        sub = model.model_fields[name].annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel) and isinstance(value, dict):
            value = _construct(sub, value)
        fields[name] = value
    return model.model_construct(**fields)


class Seller(Party):
    """The seller (the workspace): its name and the fields of `domain.model.parties.Seller`."""

    def details(self) -> parties.Seller:
        """The frozen seller as the parties' model (legal name, address, VAT ID, bank account...)."""
        result: parties.Seller = _construct(parties.Seller, self.model_dump())
        return result


class Buyer(Party):
    """The buyer (the client): its id in the books, the billing contacts it had at issue, and the fields of
    `domain.model.parties.Buyer`."""

    client_id: int
    billing_emails: list[str] = []

    def details(self) -> parties.Buyer:
        """The frozen buyer as the parties' model (legal name, address, VAT ID, buyer reference...)."""
        result: parties.Buyer = _construct(parties.Buyer, self.model_dump())
        return result


class Terms(_Frozen):
    currency: str
    issue_date: dt.date
    due_date: dt.date | None = None
    payment_terms_days: int | None = None  # None on a credit note: nothing to pay
    po_number: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    locale: str  # how numbers and dates are written (Babel locale, e.g. de_DE)
    language: str  # the document's language (ISO 639-1, e.g. "de")
    tax_mode: TaxMode
    reverse_charge: bool
    tax_note: str = ""
    tax_rounding: str
    tax_profile: dict[str, Any] = {}
    corrects_number: str | None = None
    corrects_issue_date: dt.date | None = None
    reason: str = ""  # a credit note's reason


class Line(_Frozen):
    position: int
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str  # net
    tax_rate: str
    tax_category: str
    tax: str
    section: str


class TaxGroup(_Frozen):
    """One rate's part of the tax breakdown (BG-23): the category and rate, the taxable amount and its tax."""

    category: str
    rate: str
    taxable: str
    tax: str
    exemption_reason: str = ""
    exemption_code: str = ""


class Totals(_Frozen):
    net: str
    tax: str
    gross: str


class InvoiceSnapshot(_Frozen):
    """An issued invoice or credit note, as it was numbered (see the module's docstring for the field map)."""

    schema_version: Literal[1] = 1
    kind: Literal["invoice", "credit_note"]
    number: str
    seller: Seller
    buyer: Buyer
    terms: Terms
    lines: list[Line]
    tax: list[TaxGroup]
    totals: Totals


def tax_category(mode: TaxMode, rate: Decimal) -> str:
    """The UNCL5305 category of a line or rate group under a tax treatment."""
    if mode == TaxMode.REVERSE_CHARGE:
        return REVERSE_CHARGE
    if mode == TaxMode.EXEMPT:
        return EXEMPT
    return STANDARD if rate > 0 else ZERO_RATED


def exemption(mode: TaxMode, exemption_reason: str) -> tuple[str, str]:
    """BT-120 and BT-121 of a rate group: the reason a group carries no tax, and its code where there is one."""
    if mode == TaxMode.REVERSE_CHARGE:
        return "Reverse charge", VATEX_REVERSE_CHARGE
    if mode == TaxMode.EXEMPT:
        return exemption_reason, ""
    return "", ""
