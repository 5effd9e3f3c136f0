"""The SEPA payment QR code (EPC069-12 "GiroCode") printed on EUR invoices that name the seller's IBAN: a banking
app scans it and fills in payee, IBAN, BIC, amount and the invoice number as the remittance text."""

from __future__ import annotations

from decimal import Decimal

MAX_EPC_AMOUNT = Decimal("999999999.99")


def payment_qr(name: str, iban: str, amount: Decimal | str, currency: str, reference: str,
               bic: str = "") -> str | None:
    """An SVG data URI of the EPC QR code, or None when the standard does not apply (not EUR, no IBAN, nothing
    or too much to pay). Made with `segno.helpers.make_epc_qr` (error correction M, as EPC069-12 asks)."""
    value = Decimal(amount)
    if currency != "EUR" or not iban or not name or not Decimal("0.01") <= value <= MAX_EPC_AMOUNT:
        return None
    from segno import helpers

    qr = helpers.make_epc_qr(name=name[:70], iban=iban.replace(" ", ""), amount=value, text=reference[:140],
                             bic=bic or None)
    uri: str = qr.svg_data_uri(scale=3, border=2)
    return uri
