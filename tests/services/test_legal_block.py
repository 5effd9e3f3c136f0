"""The legal-data check (issue 12): an invoice that would not say what Art. 226 VAT Directive, §14 UStG and the UK
VAT rules ask about its parties is not issued, on any path. A door refuses it naming each field and where to fill
it in; a billing run leaves it a draft with that reason; filling the fields in lets it through."""

from __future__ import annotations

import pytest

from domain.errors import CheckBlocked
from domain.services import billing_run, clients, invoicing, parties
from tests.support.parties import ADDRESSES, SELLER, blank_seller

from .conftest import MARCH, World

SELLER_GAPS = ["seller.legal_name", "seller.address.street", "seller.address.postcode", "seller.address.city",
               "seller.address.country", "seller.vat_id"]
BUYER_GAPS = ["buyer.address.street", "buyer.address.postcode", "buyer.address.city", "buyer.address.country"]


def test_a_door_refuses_an_invoice_without_the_parties_details_naming_each_field(world: World) -> None:
    blank_seller(world.db)
    cid = world.retainer_client(name="Nowhere GmbH", address={})
    draft = world.draft(cid)
    before = world.snapshot()
    with pytest.raises(CheckBlocked) as refused:
        world.call(invoicing.issue_invoice, world.system, draft.id)
    assert refused.value.status == 422
    assert refused.value.details["missing"] == SELLER_GAPS + BUYER_GAPS
    message = refused.value.message
    assert "fill in the seller's legal_name, address.street" in message and "PATCH /v1/settings/seller" in message
    assert "fill in the client's address.street" in message and f"PATCH /v1/clients/{cid}" in message
    assert "Art. 226 VAT Directive" in message
    assert world.snapshot() == before  # refused: nothing changed

    # each half filled in leaves only the other half; both filled in, it issues
    world.call(parties.update_seller, world.actor("owner"), SELLER)
    with pytest.raises(CheckBlocked) as refused:
        world.call(invoicing.issue_invoice, world.system, draft.id)
    assert refused.value.details["missing"] == BUYER_GAPS
    world.call(clients.update_client, world.system, cid, {"address": ADDRESSES["DE"]})
    issued = world.call(invoicing.issue_invoice, world.system, draft.id)
    if issued.status == "pending_approval":  # its first invoice: flagged, approved by finance
        issued = world.call(invoicing.approve_invoice, world.actor("finance"), draft.id)
    assert issued.status == "issued" and issued.number is not None


def test_a_german_seller_s_steuernummer_will_do_at_home_but_reverse_charge_needs_its_vat_id(world: World) -> None:
    world.call(parties.update_seller, world.actor("owner"), {"vat_id": ""})  # only the Steuernummer is left
    home = world.retainer_client(name="Heimat GmbH")
    abroad = world.retainer_client(name="Polder B.V.", tax_profile={"mode": "reverse_charge", "region": "NL"},
                                   vat_id="NL819203476B01")
    assert world.issued(home).number is not None
    draft = world.draft(abroad)
    with pytest.raises(CheckBlocked) as refused:
        world.call(invoicing.issue_invoice, world.system, draft.id)
    assert refused.value.details["missing"] == ["seller.vat_id"]
    assert "reverse charge, Art. 196" in refused.value.message
    world.call(parties.update_seller, world.actor("owner"), {"vat_id": SELLER["vat_id"]})
    assert world.issued(abroad).number is not None


def test_an_approval_cannot_wave_a_missing_address_through(world: World) -> None:
    cid = world.retainer_client(name="First Ltd")
    draft = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    assert draft.status == "pending_approval"  # flagged: its first invoice
    world.call(clients.update_client, world.system, cid, {"address": {"street": ""}})  # the street is lost
    with pytest.raises(CheckBlocked) as refused:
        world.call(invoicing.approve_invoice, world.actor("finance"), draft.id)
    assert refused.value.details["missing"] == ["buyer.address.street"]


def test_a_billing_run_leaves_an_incomplete_client_s_invoice_a_draft_with_the_reason(world: World) -> None:
    complete = world.retainer_client(name="Complete GmbH")
    world.issued(complete, (MARCH[0].replace(month=2), MARCH[1].replace(month=2, day=28)))
    incomplete = world.retainer_client(name="Incomplete GmbH", address={"city": "Ulm", "country": "DE"})
    world.db.clock.set(world.db.clock.now().replace(day=9))  # past February's duplicate window
    report = world.call(billing_run.bill_period, world.system, *MARCH)
    assert (report.issued, report.blocked) == (1, 1)
    by_client = {i.client_id: i for i in world.call(invoicing.list_invoices, world.system, period_start=MARCH[0])}
    assert by_client[complete].status == "issued"
    draft = by_client[incomplete]
    assert draft.status == "draft" and draft.number is None
    [block] = [c for c in draft.checks if c["outcome"] == "block"]
    assert block["code"] == "legal_data" and "address.street, address.postcode" in block["reason"]
    assert world.audit_actions("invoice", draft.id)[-1] == "invoice.blocked"
    # filled in, the draft goes through (flagged as the client's first invoice: it waits for an approver)
    world.call(clients.update_client, world.system, incomplete, {"address": ADDRESSES["DE"]})
    assert world.call(invoicing.issue_invoice, world.system, draft.id).status == "pending_approval"
