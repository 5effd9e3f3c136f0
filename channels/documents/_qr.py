"""The SEPA payment QR code (EPC069-12 "GiroCode") printed on EUR invoices that name the seller's IBAN: a banking
app scans it and fills in payee, IBAN, BIC, amount and the invoice number as the remittance text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

MAX_EPC_AMOUNT = Decimal("999999999.99")


def epc_qr(name: str, iban: str, amount: Decimal | str, currency: str, reference: str, bic: str = "") -> Any:
    """The EPC QR code (a `segno.QRCode`, error correction M as EPC069-12 asks), or None when the standard does
    not apply: not EUR, no IBAN or payee name, nothing (or too much) to pay."""
    value = Decimal(amount)
    if currency != "EUR" or not iban or not name or not Decimal("0.01") <= value <= MAX_EPC_AMOUNT:
        return None
    from segno import helpers

    return helpers.make_epc_qr(name=name[:70], iban=iban.replace(" ", ""), amount=value, text=reference[:140],
                               bic=bic or None)


def payment_qr(name: str, iban: str, amount: Decimal | str, currency: str, reference: str,
               bic: str = "") -> str | None:
    """The EPC QR code as an SVG data URI for the document, or None (see `epc_qr`)."""
    qr = epc_qr(name, iban, amount, currency, reference, bic)
    if qr is None:
        return None
    uri: str = qr.svg_data_uri(scale=3, border=2)
    return uri
