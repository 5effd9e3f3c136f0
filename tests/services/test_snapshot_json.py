"""The snapshot `freeze` writes is exactly what the snapshot models would write (issue 17): `freeze` builds the JSON
directly instead of validating an `InvoiceSnapshot` per invoice, so it is compared here, key for key and in key
order, with the models' own output on varied invoices and credit notes (reverse charge, exempt, no VAT ID, several
rates and lines, other currencies and languages, full seller and buyer details), and read back by the models."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.model import snapshot
from domain.model.tax import TaxMode
from domain.services import _issuing
from domain.services._issuing import _language, _profile, _text, freeze, seller_snapshot
from domain.services.parties import buyer_of, seller_of
from domain.store.tables import ClientRow, InvoiceLineRow, InvoiceRow, WorkspaceRow

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _model_snapshot(inv: InvoiceRow, client: ClientRow, ws: WorkspaceRow,
                    corrects: InvoiceRow | None = None) -> dict[str, Any]:
    """The snapshot as the models build it: `freeze` before issue 17, kept as the yardstick."""
    assert inv.number is not None and inv.issue_date is not None
    cur = inv.currency
    profile = _profile(client)
    original = (snapshot.InvoiceSnapshot.model_validate(corrects.snapshot)
                if corrects is not None and corrects.snapshot else None)
    mode = original.terms.tax_mode if original is not None else profile.mode
    buyer = snapshot.Buyer(name=client.name, client_id=client.id,
                           billing_emails=[str(e) for e in client.billing_emails],
                           **buyer_of(client).model_dump(mode="json"))
    seller = snapshot.Seller(name=ws.name, **seller_of(ws).model_dump(mode="json"))
    locale = client.locale or ws.locale
    credit = inv.kind == "credit_note"
    terms = snapshot.Terms(
        currency=cur, issue_date=inv.issue_date, due_date=None if credit else inv.due_date,
        payment_terms_days=None if credit else client.payment_terms_days, po_number=inv.po_number,
        period_start=inv.period_start, period_end=inv.period_end, locale=locale,
        language=str(buyer.model_dump().get("language") or _language(locale)), tax_mode=mode,
        reverse_charge=mode == TaxMode.REVERSE_CHARGE, tax_note=inv.tax_note, tax_rounding=ws.tax_rounding,
        tax_profile=original.terms.tax_profile if original is not None else profile.as_json(),
        corrects_number=corrects.number if corrects is not None else None,
        corrects_issue_date=corrects.issue_date if corrects is not None else None,
        reason=inv.reason if credit else "")
    reason, code = snapshot.exemption(mode, str(terms.tax_profile.get("exemption_reason", "")))
    frozen = snapshot.InvoiceSnapshot(
        kind="credit_note" if credit else "invoice", number=inv.number, seller=seller, buyer=buyer, terms=terms,
        lines=[snapshot.Line(position=ln.position, description=ln.description, quantity=ln.quantity, unit=ln.unit,
                             unit_price=_text(ln.unit_price_minor, cur), amount=_text(ln.amount_minor, cur),
                             tax_rate=ln.tax_rate, tax_category=snapshot.tax_category(mode, Decimal(ln.tax_rate)),
                             tax=_text(ln.tax_minor, cur), section=ln.section) for ln in inv.lines],
        tax=[snapshot.TaxGroup(category=snapshot.tax_category(mode, Decimal(g["rate"])), rate=g["rate"],
                               taxable=g["taxable"], tax=g["tax"],
                               exemption_reason=reason if Decimal(g["tax"]) == 0 else "",
                               exemption_code=code if Decimal(g["tax"]) == 0 else "")
             for g in inv.tax_breakdown],
        totals=snapshot.Totals(net=_text(inv.subtotal_minor, cur), tax=_text(inv.tax_minor, cur),
                               gross=_text(inv.total_minor, cur)))
    dumped: dict[str, Any] = frozen.model_dump(mode="json")
    return dumped


def _workspace(full: bool) -> WorkspaceRow:
    ws = WorkspaceRow(id=1, name="Brightline", tax_rounding="per_line", locale="en_GB", legal_name="Brightline GmbH",
                      address_street="Königstraße 10", address_postcode="70173", address_city="Stuttgart",
                      address_country="DE", vat_id="DE136695976")
    if full:
        ws.tax_number, ws.registration = "21/815/08150", "HRB 12345, Amtsgericht Stuttgart"
        ws.contact_name, ws.contact_email, ws.contact_phone = "Accounts", "ar@brightline.example", "+49 711 1234560"
        ws.bank_account_iban, ws.bank_account_bic = "DE89370400440532013000", "COBADEFFXXX"
        ws.electronic_address_scheme, ws.electronic_address_identifier = "9930", "DE136695976"
    return ws


CLIENTS: dict[str, dict[str, Any]] = {
    "standard": dict(tax_profile={"mode": "standard", "region": "DE", "rate": "19", "section_rates": {},
                                  "exemption_reason": ""}),
    "several rates": dict(tax_profile={"mode": "standard", "region": "DE", "rate": "19",
                                       "section_rates": {"pass_through": "7", "sla_credit": "0"}},
                          po_number="PO-7", locale="de_DE", language="de", einvoice_format="xrechnung-cii",
                          buyer_reference="04011000-1234512345-06", electronic_address_scheme="0204",
                          electronic_address_identifier="04011000-1234512345-06", address_region="BW"),
    "reverse charge": dict(tax_profile={"mode": "reverse_charge"}, vat_id="NL123456782B90", address_country="NL",
                           address_city="Amsterdam", address_postcode="1011 AB", language="nl", locale="nl_NL"),
    "reverse charge, no VAT ID": dict(tax_profile={"mode": "reverse_charge"}, address_country="GB",
                                      address_city="London", address_postcode="EC1A 1BB", locale="en_GB"),
    "exempt": dict(tax_profile={"mode": "exempt", "exemption_reason": "§4 Nr. 21 UStG"}, billing_emails=[],
                   locale="", language="fr", address_country="FR", address_city="Paris"),
    "no address": dict(tax_profile={}, address_street="", address_city="", address_postcode="",
                       address_country="", currency="JPY"),
}


def _client(name: str, **kw: Any) -> ClientRow:
    values: dict[str, Any] = dict(id=7, name=f"{name.title()} Ltd", currency="EUR", billing_emails=["ap@c.example"],
                                  payment_terms_days=14, po_required=False, po_number="", locale="en_GB",
                                  address_street="Hafenstraße 1", address_postcode="20457", address_city="Hamburg",
                                  address_country="DE", vat_id="", einvoice_format="none", language="en")
    values.update(kw)
    return ClientRow(**values)


def _invoice(client: ClientRow, ws: WorkspaceRow, sections: list[tuple[str, str, int]]) -> InvoiceRow:
    inv = InvoiceRow(id=11, client_id=client.id, kind="invoice", status="draft", currency=client.currency,
                     period_start=date(2026, 3, 1), period_end=date(2026, 3, 31), po_number=client.po_number,
                     created_at=NOW, paid_minor=0, credited_minor=0, checks=[], reason="", capped=False)
    profile = _profile(client)
    inv.tax_note = profile.invoice_note(client.vat_id, client.address_country)
    invoicing_lines(inv, client, sections)
    _issuing._recompute(inv, ws)
    inv.number, inv.issue_date = "INV-2026-000011", NOW.date()
    inv.due_date = NOW.date() + timedelta(days=client.payment_terms_days)
    return inv


def invoicing_lines(inv: InvoiceRow, client: ClientRow, sections: list[tuple[str, str, int]]) -> None:
    from domain.model.lines import DraftLine
    from domain.services.invoicing import _add_lines

    _add_lines(inv, [DraftLine(section, f"{section} line", Decimal(qty), "h", Decimal(price),
                               Decimal(price) * Decimal(qty), 3, {"arrangement_id": 3}, [])
                     for section, price, qty in sections], _profile(client))


LINES = [("retainer", "1000.00", 1), ("time", "120.00", 4), ("pass_through", "33.33", 3), ("sla_credit", "-50.00", 1),
         ("time", "0", 5)]


@pytest.mark.parametrize("kind", sorted(CLIENTS))
@pytest.mark.parametrize("full_seller", [False, True])
def test_freeze_writes_what_the_snapshot_models_write(kind: str, full_seller: bool) -> None:
    ws = _workspace(full_seller)
    kw = dict(CLIENTS[kind])
    client = _client(kind, **kw)
    lines = [(s, p if client.currency == "EUR" else p.split(".")[0], q) for s, p, q in LINES]
    expected = _invoice(client, ws, lines)
    got = _invoice(client, ws, lines)
    want = _model_snapshot(expected, client, ws)
    freeze(got, client, ws)
    assert json.dumps(got.snapshot) == json.dumps(want)  # the same keys in the same order, the same values
    # what a run passes in (the seller read once, the buyer read for the checks) changes nothing
    shared = _invoice(client, ws, lines)
    freeze(shared, client, ws, seller=seller_snapshot(ws, seller_of(ws)), buyer=buyer_of(client))
    assert json.dumps(shared.snapshot) == json.dumps(want)
    read = snapshot.InvoiceSnapshot.model_validate(got.snapshot)
    assert read.model_dump(mode="json") == got.snapshot

    # its credit note keeps the invoice's treatment, as the models did
    note = InvoiceRow(id=12, client_id=client.id, kind="credit_note", status="issued", currency=client.currency,
                      period_start=got.period_start, period_end=got.period_end, tax_note=got.tax_note,
                      po_number=got.po_number, corrects_invoice_id=got.id, reason="goodwill", created_at=NOW)
    note.lines.append(InvoiceLineRow(position=1, section="credit", description="Credit", quantity="1", unit="item",
                                     unit_price_minor=-10, amount_minor=-10, tax_rate=expected.lines[0].tax_rate,
                                     tax_minor=-2, arrangement_id=None, source={}, manual=False))
    _issuing._recompute(note, ws, credit_note=True)
    note.number, note.issue_date = "CN-2026-000001", NOW.date() + timedelta(days=3)
    want_note = _model_snapshot(note, client, ws, corrects=got)
    client.tax_profile = {"mode": "standard", "rate": "25"}  # changed since: the note keeps the invoice's
    freeze(note, client, ws, corrects=got)
    assert json.dumps(note.snapshot) == json.dumps(want_note)


def test_invoices_frozen_with_one_seller_share_no_dicts() -> None:
    ws = _workspace(True)
    client = _client("standard", **CLIENTS["standard"])
    seller = seller_snapshot(ws)
    a, b = _invoice(client, ws, LINES[:2]), _invoice(client, ws, LINES[:2])
    freeze(a, client, ws, seller=seller)
    freeze(b, client, ws, seller=seller)
    assert a.snapshot is not None and b.snapshot is not None
    a.snapshot["seller"]["address"]["city"] = "Ulm"
    assert b.snapshot["seller"]["address"]["city"] == seller["address"]["city"] == "Stuttgart"
