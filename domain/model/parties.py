"""The parties of an invoice: the seller (the workspace) and the buyer (a client), as pure value objects.

Public: the issuing step freezes a `Seller` and a `Buyer` into every invoice it numbers, and the documents and
e-invoices are written from those snapshots. Every identifier is checked by its check digits with a library made
for it (python-stdnum for VAT IDs and tax numbers, schwifty for IBAN and BIC, pycountry for ISO 3166 country
codes), and stored in its compact form ("DE136695976", "DE89370400440532013000"). A field left empty is allowed
here: what an invoice cannot do without is listed by `missing_for_invoice`, which the checks turn into a block
that says what to fill in, so a workspace can be set up step by step.

Values are validated by the pydantic models; a wrong value raises a `ValueError` whose message says what is
wrong and what a right one looks like (the services turn it into a 422 naming the field).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import ean, get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

__all__ = [
    "EAS_SCHEMES",
    "BankAccount",
    "Buyer",
    "Contact",
    "DocumentLanguage",
    "EInvoiceFormat",
    "ElectronicAddress",
    "Missing",
    "PostalAddress",
    "Seller",
    "check_bic",
    "check_country",
    "check_iban",
    "check_tax_number",
    "check_vat_id",
    "missing_for_invoice",
    "missing_for_seller",
]


class EInvoiceFormat(StrEnum):
    """The structured invoice a client receives beside the PDF."""

    NONE = "none"
    FACTURX = "facturx"              # Factur-X / ZUGFeRD, profile EN 16931: PDF/A-3 with CII XML inside
    XRECHNUNG_CII = "xrechnung-cii"  # XRechnung 3.0, CII syntax (German public buyers)
    XRECHNUNG_UBL = "xrechnung-ubl"  # XRechnung 3.0, UBL syntax
    PEPPOL = "peppol"                # Peppol BIS Billing 3.0 (UBL 2.1)


class DocumentLanguage(StrEnum):
    """The language an invoice, its e-mails and reminders are written in (labels, terms, notes)."""

    EN = "en"
    DE = "de"
    NL = "nl"
    FR = "fr"


# Peppol Electronic Address Scheme codes (EAS code list, BIS Billing 3.0 `eas.xml`): BT-34 / BT-49 schemeID.
EAS_SCHEMES: frozenset[str] = frozenset({
    "0002", "0007", "0009", "0037", "0060", "0088", "0096", "0097", "0106", "0130", "0135", "0142", "0151",
    "0183", "0184", "0188", "0190", "0191", "0192", "0193", "0195", "0196", "0198", "0199", "0200", "0201",
    "0202", "0204", "0208", "0209", "0210", "0211", "0212", "0213", "0215", "0216", "0218", "0221", "0230",
    "9901", "9910", "9913", "9914", "9915", "9918", "9919", "9920", "9922", "9923", "9924", "9925", "9926",
    "9927", "9928", "9929", "9930", "9931", "9932", "9933", "9934", "9935", "9936", "9937", "9938", "9939",
    "9940", "9941", "9942", "9943", "9944", "9945", "9946", "9947", "9948", "9949", "9950", "9951", "9952",
    "9953", "9957", "9959",
})

# EAS schemes that are a VAT ID of one country: the identifier is checked as that country's VAT ID.
_EAS_VAT: dict[str, str] = {
    "9910": "HU", "9914": "AT", "9925": "BE", "9926": "BG", "9927": "CH", "9928": "CY", "9929": "CZ",
    "9930": "DE", "9931": "EE", "9932": "GB", "9933": "GR", "9934": "HR", "9935": "IE", "9937": "LT",
    "9938": "LU", "9939": "LV", "9943": "MT", "9944": "NL", "9945": "PL", "9946": "PT", "9947": "RO",
    "9949": "SI", "9950": "SK", "9957": "FR",
}

# Countries without postcodes in everyday addresses: an address there is complete without one.
_NO_POSTCODE = frozenset({"AE", "AG", "AO", "BS", "BZ", "GH", "HK", "IE", "JM", "MO", "QA", "SY", "TV", "UG", "ZW"})

_TEXT = re.compile(r"^[^\x00-\x1f\x7f]*$")  # one line, no control characters
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,40}$")


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _one_line(value: str) -> str:
    if not _TEXT.match(value):
        raise ValueError("must be one line of text, without control characters")
    return value


Line = Annotated[str, BeforeValidator(_strip), AfterValidator(_one_line)]


# ---- identifiers -----------------------------------------------------------------------------------------------


@cache
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def check_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper case ("DE", "GB", "NL")."""
    code = value.strip().upper()
    if code not in _countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, NL, FR)")
    return code


def _vat_module(prefix: str) -> Any:
    """The python-stdnum VAT module for a two-letter prefix: the EU's (with EL and XI), else the country's own."""
    if prefix.lower() in eu_vat.MEMBER_STATES or prefix in ("EL", "XI"):
        return eu_vat
    try:
        module = get_cc_module(prefix.lower(), "vat")
    except (ImportError, ValueError):
        module = None
    return module


def check_vat_id(value: str) -> str:
    """A VAT ID with its country prefix, checked by its check digits; returned compact ("DE136695976").

    EU member states (Greece as EL, Northern Ireland as XI) and the countries python-stdnum knows (GB, CH, NO...)
    are checked; a prefix it does not know is refused, since the invoice could not be checked either."""
    raw = value.strip().upper().replace(" ", "").replace(".", "").replace("-", "")
    if len(raw) < 4 or not raw[:2].isalpha():
        raise ValueError(f"{value!r} is not a VAT ID: give it with its country prefix, e.g. DE123456789, "
                         "NL123456789B01, GB123456789")
    prefix = raw[:2]
    module = _vat_module(prefix)
    if module is None:
        raise ValueError(f"{value!r}: no VAT ID check is known for the prefix {prefix}")
    try:
        if module is eu_vat:
            compact: str = module.validate(raw)
            return compact
        # national modules take the number with or without the prefix; keep the prefix on what we store
        checked: str = module.validate(raw)
        return checked if checked[:2].isalpha() else prefix + checked
    except StdnumError as e:
        raise ValueError(f"{value!r} is not a valid VAT ID ({str(e).lower().rstrip('.')}): check it against "
                         "the VAT registration") from None


# National tax numbers (not VAT IDs) we can check by their structure and check digits, by country.
_TAX_NUMBER_MODULES: dict[str, str] = {"DE": "stdnum.de.stnr", "GB": "stdnum.gb.utr", "AT": "stdnum.at.tin",
                                       "FR": "stdnum.fr.spi", "NL": "stdnum.nl.bsn", "BE": "stdnum.be.nn"}


def check_tax_number(value: str, country: str) -> str:
    """A national tax number (e.g. a German Steuernummer "21/815/08150") checked for the seller's country where
    python-stdnum knows the format; elsewhere kept as given. Returned as given, trimmed: the tax office's own
    spelling is what the invoice should print."""
    text = value.strip()
    name = _TAX_NUMBER_MODULES.get(country.upper())
    if not text or name is None:
        return text
    import importlib

    module = importlib.import_module(name)
    try:
        module.validate(text)
    except StdnumError:
        hint = " (e.g. 21/815/08150 or 2181508150)" if country.upper() == "DE" else ""
        raise ValueError(f"{value!r} is not a valid tax number for {country.upper()}{hint}") from None
    return text


def check_iban(value: str) -> str:
    """An IBAN checked by its country format and mod-97 check digits; returned compact."""
    try:
        return str(IBAN(value).compact)
    except SchwiftyException as e:
        raise ValueError(f"{value!r} is not a valid IBAN: {e}") from None


def check_bic(value: str) -> str:
    """A BIC (SWIFT code, 8 or 11 characters) checked for its structure and country; returned compact."""
    try:
        return str(BIC(value).compact)
    except SchwiftyException as e:
        raise ValueError(f"{value!r} is not a valid BIC: {e}") from None


def _check_eas_id(scheme: str, identifier: str) -> str:
    country = _EAS_VAT.get(scheme)
    if country is not None:
        vat = check_vat_id(identifier if identifier[:2].isalpha() else
                           ("EL" if country == "GR" else country) + identifier)
        return vat
    if scheme == "0088":  # GLN: 13 digits with the GS1 check digit
        try:
            gln: str = ean.validate(identifier)
        except StdnumError:
            raise ValueError(f"{identifier!r} is not a valid GLN (13 digits with a GS1 check digit)") from None
        if len(gln) != 13:
            raise ValueError(f"{identifier!r} is not a valid GLN (13 digits with a GS1 check digit)")
        return gln
    if scheme == "0204":  # Leitweg-ID: coarse address, optional fine address, check digits (mod 97-10)
        return check_leitweg_id(identifier)
    return identifier


_LEITWEG = re.compile(r"^[0-9]{2,12}(-[0-9A-Z]{1,30})?-[0-9]{2}$")


def check_leitweg_id(value: str) -> str:
    """A German Leitweg-ID (e.g. 991-01234-44): its structure and its two check digits (ISO 7064 mod 97-10)."""
    text = value.strip().upper()
    if not _LEITWEG.match(text):
        raise ValueError(f"{value!r} is not a Leitweg-ID (e.g. 04011000-1234512345-06: coarse address, "
                         "optional fine address, two check digits)")
    from stdnum.iso7064 import mod_97_10

    body = text.replace("-", "")
    if not mod_97_10.is_valid(body):
        raise ValueError(f"{value!r} is not a valid Leitweg-ID: the check digits do not match")
    return text


# ---- value objects ---------------------------------------------------------------------------------------------


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PostalAddress(_Value):
    """A postal address. Empty parts are allowed while it is being filled in; `missing()` says what an invoice
    still needs (street, postcode where the country uses them, city, country)."""

    street: Line = Field(default="", max_length=200, examples=["Königstraße 10"])
    additional: Line = Field(default="", max_length=200, description="A second address line (building, floor)")
    postcode: Line = Field(default="", max_length=20, examples=["70173"])
    city: Line = Field(default="", max_length=100, examples=["Stuttgart"])
    region: Line = Field(default="", max_length=100, description="State, county or province, where used")
    country: str = Field(default="", description="ISO 3166-1 alpha-2 code", examples=["DE"])

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, v: object) -> object:
        return check_country(v) if isinstance(v, str) and v.strip() else v

    def missing(self) -> list[str]:
        """The parts an invoice needs that are still empty."""
        out = [name for name in ("street", "city", "country") if not getattr(self, name)]
        if not self.postcode and self.country not in _NO_POSTCODE:
            out.insert(1, "postcode")
        return out

    def lines(self) -> list[str]:
        """The address as printed, one line each (the country by its English name)."""
        place = " ".join(p for p in (self.postcode, self.city) if p)
        country = pycountry.countries.get(alpha_2=self.country) if self.country else None
        return [p for p in (self.street, self.additional, place, self.region,
                            country.name if country is not None else "") if p]

    def is_empty(self) -> bool:
        return not any((self.street, self.additional, self.postcode, self.city, self.region, self.country))


class Contact(_Value):
    """Who to ask about an invoice."""

    name: Line = Field(default="", max_length=200)
    email: EmailStr | None = None
    phone: Line = Field(default="", max_length=40, examples=["+49 711 1234560"])

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if v and not _PHONE.match(v):
            raise ValueError("must be a telephone number: digits, spaces, + ( ) / . - (e.g. +49 711 1234560)")
        return v


class BankAccount(_Value):
    """Where the buyer pays: IBAN and BIC (checked by schwifty), and optionally the bank's name."""

    iban: str = Field(default="", examples=["DE89370400440532013000"])
    bic: str = Field(default="", examples=["COBADEFFXXX"])
    bank_name: Line = Field(default="", max_length=200)
    account_holder: Line = Field(default="", max_length=200, description="When it is not the seller's legal name")

    @field_validator("iban", mode="before")
    @classmethod
    def _iban(cls, v: object) -> object:
        return check_iban(v) if isinstance(v, str) and v.strip() else v

    @field_validator("bic", mode="before")
    @classmethod
    def _bic(cls, v: object) -> object:
        return check_bic(v) if isinstance(v, str) and v.strip() else v

    @property
    def iban_formatted(self) -> str:
        """The IBAN in groups of four, as printed on an invoice."""
        return str(IBAN(self.iban).formatted) if self.iban else ""


class ElectronicAddress(_Value):
    """Where e-invoices are delivered (BT-34 seller / BT-49 buyer): a Peppol EAS scheme code and an identifier
    (e.g. scheme 9930 with a German VAT ID, 0088 with a GLN, 0204 with a Leitweg-ID). Empty when not set."""

    scheme: str = Field(default="", examples=["9930"], description="Peppol EAS code (e.g. 9930 DE VAT, 0088 GLN, "
                                                                     "0204 Leitweg-ID, 0106 NL KvK, 9944 NL VAT)")
    identifier: str = Field(default="", max_length=100, examples=["DE136695976"])

    @field_validator("scheme", mode="before")
    @classmethod
    def _scheme(cls, v: object) -> object:
        if isinstance(v, str) and v.strip() and v.strip() not in EAS_SCHEMES:
            raise ValueError(f"{v!r} is not a Peppol EAS scheme code (e.g. 9930 German VAT ID, 0088 GLN, "
                             "0204 Leitweg-ID, 0208 Belgian enterprise number, 9944 Dutch VAT ID)")
        return v

    @field_validator("identifier")
    @classmethod
    def _identifier(cls, v: str, info: ValidationInfo) -> str:
        scheme = info.data.get("scheme", "")
        if v and not scheme:
            raise ValueError("give the scheme (a Peppol EAS code) with the identifier")
        return _check_eas_id(scheme, v) if v and scheme else v

    @model_validator(mode="after")
    def _both(self) -> ElectronicAddress:
        if self.scheme and not self.identifier:
            raise ValueError("give the identifier with the scheme, or neither")
        return self

    def is_set(self) -> bool:
        return bool(self.scheme and self.identifier)


def _vat(value: object) -> object:
    if isinstance(value, str) and value.strip():
        return check_vat_id(value)
    return value


VatId = Annotated[str, BeforeValidator(_vat), Field(default="", examples=["DE136695976"])]


class Seller(_Value):
    """The seller as an invoice shows it (the workspace): Art. 226 (5) VAT Directive, §14 (4) UStG, UK VAT reg. 14.

    `tax_number` is the national tax number (German Steuernummer), which §14 UStG accepts instead of the VAT ID
    for domestic supplies; `registration` is free text (register, number and court, e.g. "HRB 12345, Amtsgericht
    Stuttgart")."""

    legal_name: Line = Field(default="", max_length=200, examples=["Brightline IT Services GmbH"])
    address: PostalAddress = Field(default_factory=PostalAddress)
    vat_id: VatId = ""
    tax_number: Line = Field(default="", max_length=40, examples=["99/815/08151"])
    registration: Line = Field(default="", max_length=200, examples=["HRB 12345, Amtsgericht Stuttgart"])
    contact: Contact = Field(default_factory=Contact)
    bank_account: BankAccount = Field(default_factory=BankAccount)
    electronic_address: ElectronicAddress = Field(default_factory=ElectronicAddress)

    @field_validator("tax_number")
    @classmethod
    def _tax_number(cls, v: str, info: ValidationInfo) -> str:
        address = info.data.get("address")
        if v and isinstance(address, PostalAddress) and address.country:
            return check_tax_number(v, address.country)
        return v


class Buyer(_Value):
    """The buyer as an invoice shows it (a client): name, address, VAT ID, and what its e-invoices need.

    `buyer_reference` is BT-10: a German public buyer's Leitweg-ID, or whatever reference the buyer asked to be
    quoted (XRechnung requires it). The VAT ID is required on the invoice where the buyer accounts for the VAT
    (reverse charge, Art. 226 (4))."""

    legal_name: Line = Field(default="", max_length=200)
    address: PostalAddress = Field(default_factory=PostalAddress)
    vat_id: VatId = ""
    buyer_reference: Line = Field(default="", max_length=100, examples=["04011000-1234512345-06"])
    electronic_address: ElectronicAddress = Field(default_factory=ElectronicAddress)
    einvoice_format: EInvoiceFormat = EInvoiceFormat.NONE
    language: DocumentLanguage = DocumentLanguage.EN


# ---- what an invoice cannot do without ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Missing:
    """One thing to fill in before an invoice can be issued: the field (as the API names it) and where."""

    party: str   # "seller" or "buyer"
    field: str   # e.g. "address.postcode", "vat_id"
    where: str   # the door to fill it in at, for the person reading the refusal
    why: str     # the rule that asks for it

    def describe(self) -> str:
        return f"{self.party} {self.field.replace('_', ' ')} ({self.where}; {self.why})"


SELLER_WHERE = "workspace settings: PATCH /v1/settings/seller, billable settings seller, or Settings in the dashboard"
BUYER_WHERE = "the client: PATCH /v1/clients/{id}, billable clients update {id}, or the client's page"


def missing_for_seller(seller: Seller, *, reverse_charge: bool = False) -> list[Missing]:
    """What the seller's details still lack for an invoice (see `missing_for_invoice`)."""
    out: list[Missing] = []
    if not seller.legal_name:
        out.append(Missing("seller", "legal_name", SELLER_WHERE, "Art. 226 (5) VAT Directive"))
    out += [Missing("seller", f"address.{p}", SELLER_WHERE, "Art. 226 (5) VAT Directive")
            for p in seller.address.missing()]
    national_ok = seller.address.country == "DE" and bool(seller.tax_number) and not reverse_charge
    if not seller.vat_id and not national_ok:
        why = ("Art. 226 (3) VAT Directive: reverse charge needs the seller's VAT ID" if reverse_charge else
               "Art. 226 (3) VAT Directive; a German seller may give its Steuernummer (tax_number) instead")
        out.append(Missing("seller", "vat_id", SELLER_WHERE, why))
    return out


def missing_for_invoice(seller: Seller, buyer: Buyer, *, reverse_charge: bool, buyer_id: int | None = None,
                        ) -> list[Missing]:
    """What the law asks an invoice to say about its parties and is still empty (Art. 226 VAT Directive, §14 UStG,
    UK VAT Regulations reg. 14): the seller's legal name and full address, the seller's VAT ID (or, for a German
    seller, its Steuernummer, which §14 (4) no. 2 UStG accepts for domestic supplies; never for reverse charge,
    where Art. 226 (3) asks for the VAT ID under which the service was supplied), the buyer's name and full
    address, and the buyer's VAT ID where the reverse charge applies."""
    out = missing_for_seller(seller, reverse_charge=reverse_charge)
    buyer_where = BUYER_WHERE.replace("{id}", str(buyer_id) if buyer_id is not None else "ID")
    if not buyer.legal_name:
        out.append(Missing("buyer", "name", buyer_where, "Art. 226 (5) VAT Directive"))
    out += [Missing("buyer", f"address.{p}", buyer_where, "Art. 226 (5) VAT Directive")
            for p in buyer.address.missing()]
    if reverse_charge and not buyer.vat_id:
        out.append(Missing("buyer", "vat_id", buyer_where,
                           "Art. 226 (4) VAT Directive: the reverse charge needs the buyer's VAT ID"))
    return out
