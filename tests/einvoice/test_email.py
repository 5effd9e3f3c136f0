"""The invoice e-mail carries the client's e-invoice: the XML beside the PDF (Peppol, XRechnung), or the Factur-X
PDF as the PDF; an e-invoice that cannot be made fails the delivery naming the fields, and nothing is sent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader

from channels.documents import Renderer
from channels.email import InvoiceMailer
from domain.services import delivery, outbox, parties
from domain.services.demo import SELLER
from domain.settings import Settings
from tests.documents.conftest import world
from tests.einvoice._rules import assert_valid
from tests.fakes.smtp import SmtpServer
from tests.services.conftest import World

__all__ = ["world"]

NL_BUYER: dict[str, Any] = {
    "address": {"street": "Celsiusweg 31", "postcode": "5928 PR", "city": "Venlo", "country": "NL"},
    "vat_id": "NL819203476B01", "tax_profile": {"mode": "reverse_charge", "region": "NL"},
    "electronic_address": {"scheme": "9944", "identifier": "NL819203476B01"}, "buyer_reference": "VDL-IT-2026"}
DE_BUYER: dict[str, Any] = {
    "address": {"street": "Industriestraße 14", "postcode": "73760", "city": "Ostfildern", "country": "DE"},
    "vat_id": "DE287654324", "locale": "de_DE"}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _send(world: World, smtp: SmtpServer, invoice_id: int) -> None:
    world.call(delivery.send_invoice, world.actor("finance"), invoice_id)
    settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False,
                        smtp_from="bills@seller.example", smtp_timeout=5, public_url="https://bills.example")
    outbox.dispatch_outbox(world.db.uow(), InvoiceMailer(world.db, settings, Renderer()))


def test_the_email_carries_the_clients_einvoice(world: World, smtp: SmtpServer) -> None:
    world.call(parties.update_seller, world.system, SELLER)
    peppol = world.issued(world.retainer_client("6500.00", "Van Dijk Logistiek B.V.", einvoice_format="peppol",
                                                **NL_BUYER))
    _send(world, smtp, peppol.id)
    [msg] = smtp.received
    pdf, xml = list(msg.iter_attachments())
    assert pdf.get_filename() == f"{peppol.number}.pdf" and xml.get_filename() == f"{peppol.number}-peppol.xml"
    assert xml.get_content_type() == "application/xml"
    assert_valid(xml.get_content(), "the e-mailed Peppol invoice", "peppol")

    facturx = world.issued(world.retainer_client("4000.00", "Nordwerk Maschinenbau GmbH",
                                                 einvoice_format="facturx", **DE_BUYER))
    _send(world, smtp, facturx.id)
    [only] = list(smtp.received[1].iter_attachments())  # the Factur-X PDF is the PDF
    assert only.get_filename() == f"{facturx.number}.pdf"
    embedded = PdfReader(io.BytesIO(only.get_content())).attachments["factur-x.xml"][0]
    assert_valid(embedded, "the e-mailed Factur-X invoice", "facturx")


def test_an_einvoice_that_cannot_be_made_fails_the_delivery_naming_the_fields(world: World,
                                                                                smtp: SmtpServer) -> None:
    world.call(parties.update_seller, world.system, SELLER)
    inv = world.issued(world.retainer_client("6500.00", "Stadt Esslingen", einvoice_format="xrechnung-ubl",
                                             **DE_BUYER))  # a public buyer, but no Leitweg-ID (buyer reference)
    _send(world, smtp, inv.id)
    assert not smtp.received
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "failed" and "buyer.buyer_reference" in d.last_error
