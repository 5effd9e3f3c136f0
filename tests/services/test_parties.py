"""The parties through the services: the seller's details (owners), a client's buyer details (owners, finance).
Every identifier is checked; a wrong one is refused naming the field and changes nothing; changes are audited."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import ValidationFailed
from domain.model.parties import DocumentLanguage, EInvoiceFormat
from domain.services import clients, parties
from tests.support.parties import blank_seller

from .conftest import World

SELLER: dict[str, Any] = {
    "legal_name": "Brightline IT Services GmbH",
    "address": {"street": "Königstraße 28", "postcode": "70173", "city": "Stuttgart", "country": "DE"},
    "vat_id": "DE147820932", "tax_number": "93815/08152", "registration": "HRB 765432, Amtsgericht Stuttgart",
    "contact": {"name": "Tom Okafor", "email": "billing@brightline.example", "phone": "+49 711 2205 3140"},
    "bank_account": {"iban": "DE02600501017495530102", "bic": "SOLADEST600", "bank_name": "BW-Bank"},
    "electronic_address": {"scheme": "9930", "identifier": "DE147820932"},
}


def test_the_owner_sets_the_seller_part_by_part_and_each_change_is_audited(world: World) -> None:
    owner = world.actor("owner")
    blank_seller(world.db)  # as a freshly migrated workspace has it
    assert world.call(parties.get_seller, owner).legal_name == ""
    s = world.call(parties.update_seller, owner, SELLER)
    assert s.model_dump(mode="json") == {**SELLER, "bank_account": {**SELLER["bank_account"], "account_holder": ""},
                                         "address": {**SELLER["address"], "additional": "", "region": ""}}
    # a nested part merges: a new postcode keeps the street
    s = world.call(parties.update_seller, owner, {"address": {"postcode": "70174"}})
    assert (s.address.street, s.address.postcode) == ("Königstraße 28", "70174")
    assert world.call(parties.get_seller, world.actor("viewer")) == s
    assert world.audit_actions("workspace").count("workspace.seller_updated") == 2
    # the same values again change nothing, so they tell the audit log nothing
    world.call(parties.update_seller, owner, {"address": {"postcode": "70174"}})
    assert world.audit_actions("workspace").count("workspace.seller_updated") == 2


@pytest.mark.parametrize(("changes", "field"), [
    ({"vat_id": "DE147820931"}, "vat_id"),
    ({"bank_account": {"iban": "DE02600501017495530103"}}, "bank_account.iban"),
    ({"address": {"country": "Deutschland"}}, "address.country"),
    ({"tax_number": "1"}, "tax_number"),
    ({"legal_name": None}, "legal_name"),
    ({"electronic_address": {"scheme": "9930", "identifier": "DE147820931"}}, "electronic_address.identifier"),
])
def test_a_wrong_seller_value_is_refused_by_field_and_nothing_changes(world: World, changes: dict[str, Any],
                                                                      field: str) -> None:
    owner = world.actor("owner")
    world.call(parties.update_seller, owner, SELLER)
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.call(parties.update_seller, owner, {"legal_name": "Changed GmbH", **changes})
    assert e.value.field == field and e.value.status == 422
    assert world.snapshot() == before


def test_a_client_is_created_and_changed_with_its_buyer_details(world: World) -> None:
    c = world.client("Van Dijk Logistiek B.V.", locale="nl_NL", tax_profile={"mode": "reverse_charge"},
                     vat_id="nl 8192.03476.B01",
                     address={"street": "Celsiusweg 31", "postcode": "5928 PR", "city": "Venlo", "country": "nl"},
                     electronic_address={"scheme": "9944", "identifier": "NL819203476B01"}, einvoice_format="peppol")
    assert (c.vat_id, c.address.country, c.language, c.einvoice_format) == (
        "NL819203476B01", "NL", DocumentLanguage.NL, EInvoiceFormat.PEPPOL)
    finance = world.actor("finance")
    c = world.call(clients.update_client, finance, c.id, {"address": {"street": "Celsiusweg 33"},
                                                          "language": "en", "buyer_reference": "PO-77"})
    assert (c.address.street, c.address.city, c.language, c.buyer_reference) == (
        "Celsiusweg 33", "Venlo", DocumentLanguage.EN, "PO-77")
    assert world.call(clients.get_client, finance, c.id) == c
    updated = [a for a in world.audit_actions("client") if a == "client.updated"]
    assert len(updated) == 1


def test_the_old_tax_profile_tax_id_lands_in_the_clients_vat_id(world: World) -> None:
    c = world.client("Old API SARL", tax_profile={"mode": "reverse_charge", "tax_id": "FR40303265045"})
    assert c.vat_id == "FR40303265045" and "tax_id" not in c.tax_profile


WRONG_BUYER_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"vat_id": "NL819203477B01"}, "vat_id"),
    ({"vat_id": ""}, "vat_id"),  # reverse charge needs it
    ({"address": {"country": "XX"}}, "address.country"),
    ({"electronic_address": {"scheme": "0204", "identifier": "04011000-1234512345-07"}},
     "electronic_address.identifier"),
    ({"einvoice_format": "edifact"}, "einvoice_format"),
    ({"language": "es"}, "language"),
    ({"tax_profile": {"mode": "reverse_charge", "tax_id": "XX"}}, "vat_id"),
]


def test_a_wrong_buyer_value_is_refused_by_field_and_nothing_changes(world: World) -> None:
    c = world.client("Van Dijk", tax_profile={"mode": "reverse_charge"}, vat_id="NL819203476B01")
    before = world.snapshot()
    for changes, field in WRONG_BUYER_VALUES:  # one client: each refusal changes nothing
        with pytest.raises(ValidationFailed) as e:
            world.call(clients.update_client, world.system, c.id, {"name": "Renamed", **changes})
        assert e.value.field == field, changes
        assert world.snapshot() == before, changes


def test_a_reverse_charge_client_needs_a_vat_id(world: World) -> None:
    with pytest.raises(ValidationFailed) as e:
        world.call(clients.create_client, world.system, {"name": "No VAT ID BV", "currency": "EUR",
                                                         "tax_profile": {"mode": "reverse_charge"}})
    assert e.value.field == "vat_id" and "reverse charge" in e.value.message
