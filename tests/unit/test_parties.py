"""The parties' value objects: identifiers checked by their check digits, stored compact; what an invoice still
needs listed field by field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from domain.model.checks import CheckInput, Outcome, legal_data
from domain.model.parties import (
    BankAccount,
    Buyer,
    ElectronicAddress,
    PostalAddress,
    Seller,
    check_leitweg_id,
    check_vat_id,
    missing_for_invoice,
)

SELLER: dict[str, Any] = {
    "legal_name": "Brightline IT Services GmbH",
    "address": {"street": "Königstraße 28", "postcode": "70173", "city": "Stuttgart", "country": "de"},
    "vat_id": "de 147 820 932", "tax_number": "93815/08152", "registration": "HRB 765432, Amtsgericht Stuttgart",
    "bank_account": {"iban": "DE02 6005 0101 7495 5301 02", "bic": "soladest600"},
    "electronic_address": {"scheme": "9930", "identifier": "DE147820932"},
}


def test_a_valid_seller_is_stored_compact() -> None:
    s = Seller.model_validate(SELLER)
    assert s.vat_id == "DE147820932"
    assert s.address.country == "DE"
    assert (s.bank_account.iban, s.bank_account.bic) == ("DE02600501017495530102", "SOLADEST600")
    assert s.bank_account.iban_formatted == "DE02 6005 0101 7495 5301 02"
    assert s.address.lines() == ["Königstraße 28", "70173 Stuttgart", "Germany"]


@pytest.mark.parametrize("vat_id", ["DE147820932", "NL819203476B01", "GB294506104", "FR40303265045",
                                    "ATU13585627", "CHE-116.281.710 MWST"])
def test_vat_ids_that_pass_their_check_digits(vat_id: str) -> None:
    assert check_vat_id(vat_id)[:2] == vat_id[:2]


@pytest.mark.parametrize(("data", "field"), [
    ({"vat_id": "DE147820931"}, "vat_id"),              # wrong check digit
    ({"vat_id": "147820932"}, "vat_id"),                # no country prefix
    ({"vat_id": "XY12345678"}, "vat_id"),               # no such prefix
    ({"vat_id": "GB294506105"}, "vat_id"),
    ({"bank_account": {"iban": "DE02600501017495530103"}}, "bank_account.iban"),
    ({"bank_account": {"iban": "XX02600501017495530102"}}, "bank_account.iban"),
    ({"bank_account": {"bic": "SOLADEST6"}}, "bank_account.bic"),
    ({"address": {"country": "XX"}}, "address.country"),
    ({"address": {"country": "Germany"}}, "address.country"),
    ({"address": {"street": "line one\nline two"}}, "address.street"),
    ({"address": {"country": "DE"}, "tax_number": "12/345"}, "tax_number"),
    ({"electronic_address": {"scheme": "1234", "identifier": "x"}}, "electronic_address.scheme"),
    ({"electronic_address": {"scheme": "9930", "identifier": "DE147820931"}}, "electronic_address.identifier"),
    ({"electronic_address": {"scheme": "0088", "identifier": "4000001000006"}}, "electronic_address.identifier"),
    ({"electronic_address": {"identifier": "DE147820932"}}, "electronic_address.identifier"),
    ({"electronic_address": {"scheme": "9930"}}, "electronic_address"),
    ({"contact": {"phone": "call me"}}, "contact.phone"),
    ({"contact": {"email": "not-an-address"}}, "contact.email"),
    ({"iban": "DE02600501017495530102"}, "iban"),        # unknown field: nothing is silently dropped
])
def test_wrong_values_are_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        Seller.model_validate(data)
    assert ".".join(str(p) for p in e.value.errors()[0]["loc"]) == field


def test_electronic_addresses_check_their_identifier_by_scheme() -> None:
    assert ElectronicAddress(scheme="9944", identifier="NL819203476B01").identifier == "NL819203476B01"
    assert ElectronicAddress(scheme="9930", identifier="147820932").identifier == "DE147820932"
    assert ElectronicAddress(scheme="0088", identifier="4000001000005").identifier == "4000001000005"
    assert ElectronicAddress(scheme="0204", identifier="04011000-1234512345-06").is_set()
    assert not ElectronicAddress().is_set()


@pytest.mark.parametrize(("value", "ok"), [("04011000-1234512345-06", True), ("991-33333TEST-33", True),
                                           ("04011000-1234512345-07", False), ("04011000", False)])
def test_leitweg_ids_by_their_check_digits(value: str, ok: bool) -> None:
    if ok:
        assert check_leitweg_id(value) == value
    else:
        with pytest.raises(ValueError, match="Leitweg-ID"):
            check_leitweg_id(value)


def test_an_empty_party_is_allowed_while_it_is_filled_in() -> None:
    assert Seller() == Seller.model_validate({})
    assert BankAccount().iban == "" and PostalAddress().is_empty()


def _buyer(**kw: Any) -> Buyer:
    data: dict[str, Any] = {"legal_name": "Van Dijk Logistiek B.V.",
                            "address": {"street": "Celsiusweg 31", "postcode": "5928 PR", "city": "Venlo",
                                        "country": "NL"}, "vat_id": "NL819203476B01"}
    data.update(kw)
    return Buyer.model_validate(data)


def test_nothing_is_missing_from_complete_parties() -> None:
    assert missing_for_invoice(Seller.model_validate(SELLER), _buyer(), reverse_charge=True) == []


def test_what_is_missing_is_listed_field_by_field() -> None:
    gaps = missing_for_invoice(Seller(), _buyer(address={"city": "Venlo", "country": "NL"}, vat_id=""),
                               reverse_charge=True, buyer_id=7)
    assert [(g.party, g.field) for g in gaps] == [
        ("seller", "legal_name"), ("seller", "address.street"), ("seller", "address.postcode"),
        ("seller", "address.city"), ("seller", "address.country"), ("seller", "vat_id"),
        ("buyer", "address.street"), ("buyer", "address.postcode"), ("buyer", "vat_id")]
    assert "PATCH /v1/clients/7" in gaps[-1].where and "Art. 226" in gaps[-1].why


def test_a_german_seller_may_give_its_steuernummer_instead_of_a_vat_id_except_for_reverse_charge() -> None:
    seller = Seller.model_validate({**SELLER, "vat_id": ""})
    assert missing_for_invoice(seller, _buyer(vat_id=""), reverse_charge=False) == []
    assert [g.field for g in missing_for_invoice(seller, _buyer(), reverse_charge=True)] == ["vat_id"]
    british = Seller.model_validate({**SELLER, "vat_id": "", "tax_number": "",
                                     "address": {**SELLER["address"], "country": "GB", "postcode": "N1 7GR"}})
    assert [g.field for g in missing_for_invoice(british, _buyer(), reverse_charge=False)] == ["vat_id"]


def test_an_address_without_postcode_is_complete_where_the_country_has_none() -> None:
    assert PostalAddress(street="1 Main St", city="Dublin", country="IE").missing() == []
    assert PostalAddress(street="1 Main St", city="Berlin", country="DE").missing() == ["postcode"]


def test_the_legal_data_check_blocks_and_says_what_to_fill_in_and_where() -> None:
    base = CheckInput(currency="EUR", client_currency="EUR", line_currencies={"EUR"}, line_amounts=[1], subtotal=1,
                      tax_by_rate=[0], tax_total=0, total=1, billing_emails=[], po_required=False, po_number="",
                      manual_lines=0, capped=False, previous_total=None, recent_same_total=[],
                      first_for_client=False, approval_threshold=None, deviation_pct=Decimal(25),
                      duplicate_days=7, issue_date=date(2026, 4, 1),
                      seller=Seller.model_validate(SELLER), buyer=_buyer(vat_id=""), reverse_charge=True, client_id=3)
    r = legal_data(base)
    assert r.outcome == Outcome.BLOCK
    assert "client's vat_id" in r.reason and "PATCH /v1/clients/3" in r.reason and "Art. 196" in r.reason
    base.buyer = _buyer()
    assert legal_data(base).outcome == Outcome.PASS
    base.seller = None
    assert legal_data(base).outcome == Outcome.BLOCK
