"""The pure e-invoice decisions: categories, lines as EN 16931 writes them, what a format needs, what cannot be
written; and the SEPA payment QR code's payload."""

from __future__ import annotations

from decimal import Decimal

import pytest

from channels.documents._qr import epc_qr, payment_qr
from domain.errors import ValidationFailed
from domain.model.einvoice import (
    Party,
    category_for,
    exemption_for,
    line_of,
    missing_for,
    parse_format,
    require_complete,
)
from tests.einvoice._samples import CASES, SELLER


def test_categories_and_exemptions() -> None:
    assert category_for("standard", Decimal(19)) == "S"
    assert category_for("standard", Decimal(0)) == "Z"
    assert category_for("reverse_charge", Decimal(0)) == "AE"
    assert category_for("exempt", Decimal(0)) == "E"
    assert exemption_for("AE", "") == ("Reverse charge", "VATEX-EU-AE")
    assert exemption_for("E", "Art. 132 education") == ("Art. 132 education", "")
    assert exemption_for("S", "ignored") == ("", "")


def test_lines_never_carry_a_negative_price_and_always_multiply_out() -> None:
    sla = line_of(1, "SLA credit", Decimal(1), "item", Decimal("-150.00"), Decimal("-150.00"), "S", Decimal(19))
    assert (sla.quantity, sla.price, sla.net_amount, sla.note) == (Decimal(-1), Decimal("150.00"),
                                                                   Decimal("-150.00"), "")
    hours = line_of(2, "Work", Decimal("12.5"), "h", Decimal("95.00"), Decimal("1187.50"), "S", Decimal(19))
    assert (hours.quantity, hours.unit_code, hours.note) == (Decimal("12.5"), "HUR", "")
    share = line_of(3, "Prorated", Decimal("0.3333"), "period", Decimal("33.33"), Decimal("11.11"), "S", Decimal(19))
    assert (share.quantity, share.price, share.unit_code) == (Decimal(1), Decimal("11.11"), "C62")
    assert share.note == "0.3333 period x 33.33"
    for ln in (sla, hours, share):
        assert ln.quantity * ln.price == ln.net_amount and ln.price >= 0


def test_what_each_format_needs_is_listed_by_field() -> None:
    inp = CASES["reverse charge (NL buyer)"]
    for fmt in ("facturx", "xrechnung-cii", "xrechnung-ubl", "peppol"):
        assert missing_for(fmt, inp) == []
    bare_seller = Party(name="Bare GmbH")
    bare = inp.model_copy(update={"seller": bare_seller, "buyer_reference": "", "order_reference": "",
                                  "buyer": Party(name="Polder Logistics B.V.")})
    assert missing_for("facturx", bare) == ["seller.address", "buyer.address", "seller.vat_id", "buyer.vat_id"]
    assert missing_for("xrechnung-ubl", bare)[4:] == ["buyer.buyer_reference", "seller.contact",
                                                      "seller.electronic_address", "buyer.electronic_address"]
    assert "buyer.buyer_reference" in missing_for("peppol", bare)
    with pytest.raises(ValidationFailed) as e:
        require_complete("xrechnung-ubl", bare)
    assert e.value.code == "einvoice.incomplete" and e.value.field == "seller.address"
    assert e.value.details["missing"] == missing_for("xrechnung-ubl", bare)
    # a party without its own e-invoice address is reached by its VAT ID under its country's scheme
    assert SELLER.model_copy(update={"endpoint": ""}).electronic_address() == ("DE136695976", "9930")
    assert Party(name="X", vat_id="XX123").electronic_address() is None


def test_formats_are_parsed_or_refused_naming_the_field() -> None:
    assert parse_format(" Peppol ").value == "peppol"
    with pytest.raises(ValidationFailed) as e:
        parse_format("ubl")
    assert e.value.field == "format" and "xrechnung-ubl" in e.value.message


def test_payment_qr_only_for_euros_with_an_iban() -> None:
    import base64
    import urllib.parse

    uri = payment_qr("Brightline IT Services GmbH", "DE89 3704 0044 0532 0130 00", Decimal("4759.25"), "EUR",
                     "INV-2026-000042", bic="COBADEFFXXX")
    assert uri is not None and uri.startswith("data:image/svg+xml")
    svg = urllib.parse.unquote(uri.split(",", 1)[1]) if ";base64" not in uri else base64.b64decode(
        uri.split(",", 1)[1]).decode()
    assert "<svg" in svg
    assert payment_qr("X", "DE89370400440532013000", Decimal("10.00"), "GBP", "INV-1") is None
    assert payment_qr("X", "", Decimal("10.00"), "EUR", "INV-1") is None
    assert payment_qr("X", "DE89370400440532013000", Decimal("0.00"), "EUR", "INV-1") is None


def test_the_epc_code_uses_error_correction_m() -> None:
    qr = epc_qr("Brightline IT Services GmbH", "DE89370400440532013000", "4759.25", "EUR", "INV-2026-000042",
                "COBADEFFXXX")
    assert qr is not None and qr.error == "M" and qr.mode == "byte"
