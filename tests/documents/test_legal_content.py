"""What the law asks an invoice to say (Art. 226 VAT Directive, §14 UStG, UK VAT Regulations reg. 14), on the
document every door renders (HTML, PDF, hosted page): both parties' names and addresses, VAT IDs, the seller's
tax number, registration and bank account, the service period, per-rate taxable amounts, rates and tax, and for
reverse charge the words with their legal reference (the UK's own for a buyer in the UK)."""

from __future__ import annotations

import html as H
import re
from typing import Any

import pytest

from channels.documents import Renderer
from domain.services import documents, parties
from tests.documents.conftest import full_client, issued_full
from tests.services.conftest import MARCH, World
from tests.support.parties import blank_seller

SELLER: dict[str, Any] = {
    "legal_name": "Brightline IT Services GmbH",
    "address": {"street": "Königstraße 28", "postcode": "70173", "city": "Stuttgart", "country": "DE"},
    "vat_id": "DE147820932", "tax_number": "93815/08152", "registration": "HRB 765432, Amtsgericht Stuttgart",
    "contact": {"name": "Tom Okafor", "email": "billing@brightline.example", "phone": "+49 711 2205 3140"},
    "bank_account": {"iban": "DE02600501017495530102", "bic": "SOLADEST600", "bank_name": "BW-Bank"},
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def text_of(html: str) -> str:
    body = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", H.unescape(re.sub(r"<[^>]+>", " ", body)))


def _render(world: World, renderer: Renderer, **client: Any) -> str:
    world.call(parties.update_seller, world.actor("owner"), SELLER)
    inv = issued_full(world, **client)
    return text_of(renderer.html(world.call(documents.invoice_document, world.system, inv.id)))


def test_a_german_invoice_names_both_parties_and_everything_14_ustg_asks(world: World, renderer: Renderer) -> None:
    text = _render(world, renderer, address={"street": "Industriestraße 14", "postcode": "73760",
                                            "city": "Ostfildern", "country": "DE"}, vat_id="DE287654324")
    for needle in (
            # the seller: name, full address, VAT ID and Steuernummer, registration, contact, bank account
            "Brightline IT Services GmbH", "Königstraße 28", "70173 Stuttgart", "Deutschland",
            "USt-IdNr.: DE147820932", "Steuernummer: 93815/08152", "Handelsregister: HRB 765432, Amtsgericht Stuttgart",
            "Kontakt: Tom Okafor", "IBAN: DE02 6005 0101 7495 5301 02", "BIC: SOLADEST600",
            "Kontoinhaber: Brightline IT Services GmbH",
            # the buyer: name, full address, VAT ID
            "Nordwerk Maschinenbau GmbH Industriestraße 14 73760 Ostfildern Deutschland USt-IdNr.: DE287654324",
            # the service period, per-rate taxable amount, rate and tax
            "Leistungszeitraum 1. März 2026 – 31. März 2026", "Bemessungsgrundlage", "19 %"):
        assert needle in text, needle
    assert "Steuerschuldnerschaft" not in text


@pytest.mark.parametrize(("country", "vat_id", "language", "words"), [
    ("NL", "NL819203476B01", "nl_NL",
     ["BTW verlegd", "artikel 196, Richtlijn 2006/112/EG", "Btw-nummer: NL819203476B01", "Reden van vrijstelling"]),
    ("GB", "GB294506104", "en_GB",
     ["Reverse charge: customer to account for the VAT to HMRC (VAT Act 1994, section 8).",
      "VAT ID: GB294506104", "Exemption reason", "United Kingdom"]),
    ("FR", "FR40303265045", "fr_FR", ["Autoliquidation", "2006/112/CE", "N° TVA : FR40303265045"]),
])
def test_reverse_charge_says_so_with_its_legal_reference_and_the_buyers_vat_id(
        world: World, renderer: Renderer, country: str, vat_id: str, language: str, words: list[str]) -> None:
    text = _render(world, renderer, name="Buyer Ltd", locale=language, reverse_charge=True,
                   address={"street": "Main Street 1", "postcode": "1234", "city": "Town", "country": country},
                   vat_id=vat_id)
    for needle in words:
        assert needle in text, needle
    if country == "GB":
        assert "Article 196" not in text  # a buyer in the UK gets the UK's wording, not the Directive's


def test_a_draft_without_seller_details_still_renders_and_shows_what_it_has(world: World,
                                                                           renderer: Renderer) -> None:
    # it cannot be issued like this (the legal-data check blocks it), but its preview shows what there is
    blank_seller(world.db)
    draft = world.draft(full_client(world), MARCH)
    text = text_of(renderer.html(world.call(documents.invoice_document, world.system, draft.id)))
    assert "IBAN" not in text and "USt-IdNr.: DE" not in text and "Nordwerk Maschinenbau GmbH" in text
