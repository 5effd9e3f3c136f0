"""Frozen at issue (issue 12): an issued invoice and its credit note say, through every door, what they said when
they were numbered, whatever is edited on the client and the workspace afterwards. Drafts follow the live rows."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import httpx

from agent import Chat
from channels.email._smtp import build_message
from channels.slack import _blocks
from domain.model.snapshot import InvoiceSnapshot
from domain.services import clients, delivery, documents, invoicing, parties, sessions, workspace
from domain.services._issuing import approval_payload
from domain.settings import Settings
from tests.agent.conftest import SETTINGS
from tests.documents.conftest import full_client, issued_full
from tests.services.conftest import EMAILS, MARCH, World
from tests.support.fixtures import Clients, api_server, as_user, people, server

__all__ = ["api_server", "as_user", "people", "server"]

PASSWORD = "correct horse battery staple"


def _main(html: str) -> str:
    """The dashboard page's own content, without the chrome (which names the workspace as it is now) and without
    the client's e-invoice preference for the next sending (which format it receives now, and what that needs)."""
    found = re.search(r"<main.*?</main>", html, re.S)
    assert found is not None, html[:500]
    page = re.sub(r'<p id="receives">.*?</p>', "", found.group(0), flags=re.S)
    page = re.sub(r' <span class="tag">the client\'s format</span>', "", page)
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def _doors(world: World, as_user: Clients, server: str, ids: list[int], token: str, cookie: str) -> dict[str, Any]:
    """Every door's output for the issued documents: API, HTML, PDF, hosted page, dashboard, e-mail, Slack, chat."""
    out: dict[str, Any] = {}
    for i in ids:
        out[f"api {i}"] = as_user.finance.get(f"/v1/invoices/{i}").json()
        out[f"html {i}"] = as_user.finance.get(f"/v1/invoices/{i}/html").text
        out[f"pdf {i}"] = as_user.finance.get(f"/v1/invoices/{i}/pdf").content
        with httpx.Client(base_url=server, cookies={"billable_session": cookie}) as web:
            page = web.get(f"/app/invoices/{i}")
            assert page.status_code == 200, page.text[:300]
            out[f"dashboard {i}"] = _main(page.text)
        doc = world.call(documents.invoice_document, world.system, i)
        mail = build_message(delivery.Attempt(document=doc, message_id="<m@x>", recipients=["x@y.example"],
                                              token=token), Settings(_env_file=None), b"%PDF")
        out[f"e-mail {i}"] = (mail["Subject"], mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        with world.db.uow() as uow:
            inv = uow.invoices.get(i)
            assert inv is not None
            out[f"slack card {i}"] = json.dumps(_blocks.approval_card(approval_payload(uow, inv)))
        xml = as_user.finance.get(f"/v1/invoices/{i}/einvoice", params={"format": "xrechnung-ubl"})
        out[f"e-invoice {i}"] = (xml.status_code, xml.text)
    out["hosted"] = httpx.get(f"{server}/i/{token}").text
    out["list"] = as_user.finance.get("/v1/invoices").json()
    chat = Chat.open(world.db, SETTINGS)
    try:
        finance = world.actor("finance")
        number = out[f"api {ids[0]}"]["number"]
        out["chat"] = chat.send(finance, chat.open_thread(finance), f"status of {number}").text
    finally:
        chat.close()
    return out


def _parties(world: World, client_id: int) -> None:
    """Seller and buyer details worth freezing: legal names, addresses, VAT IDs, bank account, e-invoice address."""
    parties.update_seller(world.db.uow(), world.system, {
        "legal_name": "Brightline IT Services GmbH", "vat_id": "DE136695976", "tax_number": "",
        "registration": "HRB 12345, Amtsgericht Stuttgart",
        "address": {"street": "Königstraße 10", "postcode": "70173", "city": "Stuttgart", "country": "DE"},
        "contact": {"name": "Anna Beck", "email": "billing@brightline.example", "phone": "+49 711 1234560"},
        "bank_account": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
        "electronic_address": {"scheme": "9930", "identifier": "DE136695976"}})
    world.call(clients.update_client, world.system, client_id, {
        "address": {"street": "Industriestraße 5", "postcode": "80331", "city": "München", "country": "DE"},
        "buyer_reference": "04011000-1234512345-06", "einvoice_format": "xrechnung-ubl", "language": "de",
        "electronic_address": {"scheme": "0204", "identifier": "04011000-1234512345-06"}})


def _edit_everything(world: World, client_id: int) -> None:
    world.call(clients.update_client, world.system, client_id, {
        "name": "Renamed Holding AG", "billing_emails": ["new@renamed.example"], "payment_terms_days": 7,
        "tax_profile": {"mode": "standard", "region": "AT", "rate": "20"}, "po_required": True,
        "po_number": "PO-NEW-1", "locale": "en_US",
        "address": {"street": "Ringstraße 1", "postcode": "1010", "city": "Wien", "country": "AT"},
        "buyer_reference": "NEW-REF", "einvoice_format": "peppol", "language": "en",
        "electronic_address": {"scheme": "0088", "identifier": "4000001123452"}})
    parties.update_seller(world.db.uow(), world.system, {
        "legal_name": "Someone Else GmbH", "vat_id": "", "registration": "HRB 99999, Amtsgericht Berlin",
        "address": {"street": "Unter den Linden 1", "postcode": "10117", "city": "Berlin", "country": "DE"},
        "contact": {"name": "Other Person", "email": "other@else.example", "phone": "+49 30 1234567"},
        "bank_account": {"iban": "", "bic": ""}, "electronic_address": {"scheme": "", "identifier": ""}})
    workspace.update_settings(world.db.uow(), world.system, {
        "name": "Someone Else Ltd", "locale": "fr_FR", "tax_rounding": "per_invoice",
        "invoice_number_format": "X-{yyyy}-{seq:04}", "credit_note_number_format": "Y-{yyyy}-{seq:04}"})


def test_editing_the_client_and_workspace_after_issue_changes_no_door(world: World, as_user: Clients,
                                                                       server: str) -> None:
    cid = full_client(world)
    _parties(world, cid)
    inv = world.call(invoicing.get_invoice, world.system, world.issued(cid, MARCH).id)
    note = world.call(invoicing.create_credit_note, world.actor("finance"), inv.id, "goodwill", "100.00")
    token = as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/hosted-link")["token"]
    httpx.get(f"{server}/i/{token}")  # the client's first view (it marks the invoice viewed): done before
    sessions.set_password(world.db.uow(), world.system, EMAILS["finance"], PASSWORD)
    cookie = sessions.sign_in(world.db.uow(), EMAILS["finance"], PASSWORD).token
    before = _doors(world, as_user, server, [inv.id, note.id], token, cookie)
    assert "Nordwerk Maschinenbau GmbH" in before[f"html {inv.id}"] and "Nordwerk" in before["hosted"]
    assert before[f"e-invoice {inv.id}"][0] == 200 and "DE136695976" in before[f"e-invoice {inv.id}"][1]

    _edit_everything(world, inv.client_id)
    after = _doors(world, as_user, server, [inv.id, note.id], token, cookie)
    for door in before:
        assert after[door] == before[door], door
    # what was frozen: the parties, the terms and the tax, from the snapshot
    with world.db.uow() as uow:
        row = uow.invoices.get(inv.id)
        assert row is not None and row.snapshot is not None
        snap = InvoiceSnapshot.model_validate(row.snapshot)
    assert (snap.buyer.name, snap.seller.name, snap.terms.locale, snap.terms.payment_terms_days) == (
        "Nordwerk Maschinenbau GmbH", "My company", "de_DE", 30)
    seller, buyer = snap.seller.details(), snap.buyer.details()
    assert (seller.legal_name, seller.vat_id, seller.address.city, seller.bank_account.iban) == (
        "Brightline IT Services GmbH", "DE136695976", "Stuttgart", "DE89370400440532013000")
    assert (buyer.address.city, buyer.buyer_reference, snap.terms.language) == ("München", "04011000-1234512345-06",
                                                                                "de")
    assert [(g.category, g.rate) for g in snap.tax] == [("S", "19")]
    assert snap.totals.gross == inv.total and len(snap.lines) == len(inv.lines)


def test_a_draft_follows_the_live_rows_until_it_is_issued(world: World) -> None:
    cid = full_client(world)
    draft = world.draft(cid, MARCH)
    world.call(clients.update_client, world.system, cid, {"name": "Nordwerk AG"})
    doc = world.call(documents.invoice_document, world.system, draft.id)
    assert doc.invoice.client_name == doc.client.name == "Nordwerk AG"
    with world.db.uow() as uow:
        row = uow.invoices.get(draft.id)
        assert row is not None and row.snapshot is None


def test_a_credit_note_keeps_the_tax_treatment_of_the_invoice_it_corrects(world: World) -> None:
    inv = issued_full(world, reverse_charge=True, name="Van Dijk B.V.", locale="nl_NL")
    world.call(clients.update_client, world.system, inv.client_id,
               {"tax_profile": {"mode": "standard", "region": "NL", "rate": "21"}})
    note = world.call(invoicing.create_credit_note, world.actor("finance"), inv.id, "goodwill", "50.00")
    with world.db.uow() as uow:
        row = uow.invoices.get(note.id)
        assert row is not None and row.snapshot is not None
        snap = InvoiceSnapshot.model_validate(row.snapshot)
    assert snap.kind == "credit_note" and snap.terms.reverse_charge and snap.terms.corrects_number == inv.number
    assert snap.terms.corrects_issue_date == inv.issue_date and snap.terms.due_date is None
    assert [(g.category, g.exemption_code) for g in snap.tax] == [("AE", "VATEX-EU-AE")]
    assert all(ln.tax_category == "AE" for ln in snap.lines) and snap.totals.gross == "50.00"
    assert date.fromisoformat(str(snap.terms.issue_date)) == world.db.clock.today()
