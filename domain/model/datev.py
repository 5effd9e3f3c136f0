"""DATEV's EXTF "Buchungsstapel" (format 700/21, version 13): the CSV a German tax adviser imports.

Pure: bookings in, text out. The header line and the 125 column names follow DATEV's interface description
(developer.datev.de "Buchungsstapel"); amounts use a decimal comma, dates TTMM (the year comes from the header's
period), text fields are quoted, lines end with CRLF and the file is Windows-1252.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

ENCODING = "cp1252"

_INFO = [name for i in range(1, 9) for name in (f"Beleginfo - Art {i}", f"Beleginfo - Inhalt {i}")]
_EXTRA = [name for i in range(1, 21) for name in (f"Zusatzinformation - Art {i}", f"Zusatzinformation - Inhalt {i}")]

COLUMNS: tuple[str, ...] = (
    "Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz",
    "WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum", "Belegfeld 1",
    "Belegfeld 2", "Skonto", "Buchungstext", "Postensperre", "Diverse Adressnummer", "Geschäftspartnerbank",
    "Sachverhalt", "Zinssperre", "Beleglink", *_INFO, "KOST1 - Kostenstelle", "KOST2 - Kostenstelle",
    "Kost-Menge", "EU-Land u. UStID (Bestimmung)", "EU-Steuersatz (Bestimmung)", "Abw. Versteuerungsart",
    "Sachverhalt L+L", "Funktionsergänzung L+L", "BU 49 Hauptfunktionstyp", "BU 49 Hauptfunktionsnummer",
    "BU 49 Funktionsergänzung", *_EXTRA, "Stück", "Gewicht", "Zahlweise", "Forderungsart", "Veranlagungsjahr",
    "Zugeordnete Fälligkeit", "Skontotyp", "Auftragsnummer", "Buchungstyp", "USt-Schlüssel (Anzahlungen)",
    "EU-Mitgliedstaat (Anzahlungen)", "Sachverhalt L+L (Anzahlungen)", "EU-Steuersatz (Anzahlungen)",
    "Erlöskonto (Anzahlungen)", "Herkunft-Kz", "Buchungs GUID", "KOST-Datum", "SEPA-Mandatsreferenz",
    "Skontosperre", "Gesellschaftername", "Beteiligtennummer", "Identifikationsnummer", "Zeichnernummer",
    "Postensperre bis", "Bezeichnung SoBil-Sachverhalt", "Kennzeichen SoBil-Buchung", "Festschreibung",
    "Leistungsdatum", "Datum Zuord. Steuerperiode", "Fälligkeit", "Generalumkehr (GU)", "Steuersatz", "Land",
    "Abrechnungsreferenz", "BVV-Position", "EU-Land u. UStID (Ursprung)", "EU-Steuersatz (Ursprung)",
    "Abw. Skontokonto",
)
assert len(COLUMNS) == 125, len(COLUMNS)
_COL = {name: i for i, name in enumerate(COLUMNS)}
# Columns DATEV reads as text (quoted); the others are numbers or dates (bare).
_TEXT = {"Soll/Haben-Kennzeichen", "WKZ Umsatz", "WKZ Basis-Umsatz", "BU-Schlüssel", "Belegfeld 1", "Belegfeld 2",
         "Buchungstext", "EU-Land u. UStID (Bestimmung)", "Land"}

# Belegfeld 1 is the key DATEV matches open items by: only these characters, at most 36 of them.
_BELEG_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789$&%*+-/")


class Chart(StrEnum):
    SKR03 = "SKR03"
    SKR04 = "SKR04"


class Revenue(StrEnum):
    """What kind of revenue a booking is, which picks its account in the chart."""

    STANDARD_19 = "standard_19"       # domestic, 19 % (an automatic account: DATEV splits off the VAT)
    STANDARD_7 = "standard_7"         # domestic, 7 %
    REVERSE_CHARGE_EU = "reverse_charge_eu"  # services to an EU business, § 13b UStG / Art. 196
    NON_EU = "non_eu"                 # services to a business outside the EU, not taxable in Germany
    EXEMPT = "exempt"                 # tax-exempt supplies
    ZERO = "zero"                     # other 0 % supplies


# Defaults (mein.kiehl.de, haufe.de; see ACCOUNTING-FACTS.md). A tax adviser may map them otherwise.
DEFAULT_REVENUE_ACCOUNTS: dict[Chart, dict[str, int]] = {
    Chart.SKR03: {"standard_19": 8400, "standard_7": 8300, "reverse_charge_eu": 8336, "non_eu": 8338,
                  "exempt": 8100, "zero": 8338},
    Chart.SKR04: {"standard_19": 4400, "standard_7": 4300, "reverse_charge_eu": 4336, "non_eu": 4338,
                  "exempt": 4100, "zero": 4338},
}
DEFAULT_DEBTOR_START = 10000  # personal accounts of debtors start here with 4-digit ledger accounts

EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
    "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"})


def revenue_kind(mode: str, rate: Decimal, buyer_country: str) -> str:
    """Classify one tax group of an invoice (its tax mode, rate and the buyer's country) for the account map."""
    if mode == "reverse_charge":
        return Revenue.REVERSE_CHARGE_EU.value if buyer_country.upper() in EU_COUNTRIES | {"", "EL"} \
            else Revenue.NON_EU.value
    if mode == "exempt":
        return Revenue.EXEMPT.value
    if rate == 0:
        return Revenue.NON_EU.value if buyer_country and buyer_country.upper() not in EU_COUNTRIES \
            else Revenue.ZERO.value
    return f"standard_{format(rate.normalize(), 'f')}"


@dataclass(frozen=True)
class Booking:
    """One line of the Buchungsstapel: `amount` (positive) on `account`, debit (S) or credit (H)."""

    amount: Decimal
    debit: bool
    account: int
    contra_account: int
    doc_date: date
    doc_number: str
    text: str
    currency: str = "EUR"
    rate: Decimal | None = None            # foreign currency units per 1 EUR, for a booking not in EUR
    base_amount: Decimal | None = None     # the amount in EUR, for a booking not in EUR
    eu_vat_id: str = ""                    # the buyer's VAT ID, for intra-EU reverse-charge supplies
    service_date: date | None = None
    tax_rate: Decimal | None = None
    due_date: date | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("a booking's amount is positive; the side says debit or credit")


@dataclass(frozen=True)
class Header:
    consultant_number: int   # Beraternummer
    client_number: int       # Mandantennummer
    fiscal_year_start: date
    account_length: int
    period_from: date
    period_to: date
    label: str
    chart: Chart
    created_at: datetime
    exported_by: str = "billable"
    currency: str = "EUR"


def _amount(d: Decimal) -> str:
    return format(d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f").replace(".", ",")


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def doc_field(number: str) -> str:
    """Belegfeld 1: the invoice number with only the characters DATEV allows, at most 36."""
    return "".join(c if c in _BELEG_OK else "-" for c in number)[:36]


def _line(values: Sequence[str]) -> str:
    return ";".join(values)


def header_line(h: Header) -> str:
    fields: list[str] = [
        _quote("EXTF"), "700", "21", _quote("Buchungsstapel"), "13",
        h.created_at.strftime("%Y%m%d%H%M%S") + f"{h.created_at.microsecond // 1000:03d}", "", _quote("BL"),
        _quote(h.exported_by[:25]), "", str(h.consultant_number), str(h.client_number),
        h.fiscal_year_start.strftime("%Y%m%d"), str(h.account_length), h.period_from.strftime("%Y%m%d"),
        h.period_to.strftime("%Y%m%d"), _quote(h.label[:30]), _quote(""), "1", "0", "0", _quote(h.currency),
        "", "", "", "", _quote(h.chart.value[-2:]), "", "", "", "",
    ]
    assert len(fields) == 31
    return _line(fields)


def booking_line(b: Booking) -> str:
    row = [""] * len(COLUMNS)

    def put(col: str, value: str) -> None:
        row[_COL[col]] = _quote(value) if col in _TEXT else value

    put("Umsatz (ohne Soll/Haben-Kz)", _amount(b.amount))
    put("Soll/Haben-Kennzeichen", "S" if b.debit else "H")
    if b.currency != "EUR":
        if b.rate is None or b.base_amount is None:
            raise ValueError(f"a booking in {b.currency} needs its rate and EUR amount")
        put("WKZ Umsatz", b.currency)
        put("Kurs", format(b.rate.quantize(Decimal("0.000001")), "f").replace(".", ","))
        put("Basis-Umsatz", _amount(b.base_amount))
        put("WKZ Basis-Umsatz", "EUR")
    put("Konto", str(b.account))
    put("Gegenkonto (ohne BU-Schlüssel)", str(b.contra_account))
    put("Belegdatum", b.doc_date.strftime("%d%m"))
    put("Belegfeld 1", doc_field(b.doc_number))
    put("Buchungstext", b.text[:60])
    if b.eu_vat_id:
        put("EU-Land u. UStID (Bestimmung)", b.eu_vat_id[:15])
    if b.service_date:
        put("Leistungsdatum", b.service_date.strftime("%d%m%Y"))
    if b.due_date:
        put("Fälligkeit", b.due_date.strftime("%d%m%Y"))
    put("Festschreibung", "0")
    return _line(row)


def render(header: Header, bookings: Iterable[Booking]) -> str:
    """The whole file as text (encode with ENCODING): header, column names, one line per booking, CRLF."""
    lines = [header_line(header), _line(COLUMNS)]
    lines += [booking_line(b) for b in bookings]
    return "\r\n".join(lines) + "\r\n"


def encode(text: str) -> bytes:
    """Windows-1252, as DATEV reads it; characters it cannot hold become '?' rather than failing the export."""
    return text.encode(ENCODING, errors="replace")
