"""E-invoices: "the e-invoice of invoice X in format F", and which format a client receives.

`einvoice_source` is the one use case every door calls (HTTP, CLI, the e-mail, the dashboard): it checks the actor
may see the invoice, that it is issued (an e-invoice needs its number), picks the format (the asked one, else the
client's), builds the pure `EInvoiceInput` from what the invoice says, and refuses, naming the fields to fill in,
when the format needs something the invoice does not say. Turning the source into bytes (XML, or a Factur-X PDF
from the rendered document) is the documents channel's job (`channels.documents.einvoice.build`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.errors import BadTransition, ValidationFailed
from domain.model.einvoice import (
    FORMAT_LABELS,
    Address,
    EInvoiceFormat,
    EInvoiceInput,
    LineFacts,
    Party,
    RateFacts,
    build_input,
    missing_for,
    parse_format,
    require_complete,
)
from domain.model.parties import Buyer, PostalAddress, Seller
from domain.model.roles import Actor, Perm
from domain.services._auth import load_client, require
from domain.services.documents import DocumentView, document_of, loaded_invoice
from domain.services.parties import buyer_of, seller_of
from domain.services.snapshots import frozen_snapshot
from domain.services.views import View
from domain.store.tables import ClientRow, InvoiceRow, WorkspaceRow
from domain.store.uow import UnitOfWork


class EInvoiceSource(View):
    """What a door needs to hand out one e-invoice: the input, the format, and the document (for Factur-X's PDF)."""

    input: EInvoiceInput
    format: str
    document: DocumentView


class ClientEInvoice(View):
    """Which e-invoice a client receives, and what is still missing for it."""

    client_id: int
    client_name: str
    format: str          # "none" or a format
    label: str
    missing: list[str]


def client_format(client: ClientRow) -> str:
    """The client's preferred e-invoice format ("none" when it receives the PDF only)."""
    value = client.einvoice_format or "none"
    return value if value in FORMAT_LABELS else "none"


def _choose(fmt: str | None, client: ClientRow) -> EInvoiceFormat:
    if fmt:
        return parse_format(fmt)
    preferred = client_format(client)
    if preferred == "none":
        raise ValidationFailed(f"{client.name} receives no e-invoice: ask for one with format (one of "
                               f"{', '.join(FORMAT_LABELS)}), or set the client's e-invoice format",
                               code="einvoice.no_format", field="format")
    return EInvoiceFormat(preferred)


def _address(a: PostalAddress) -> Address:
    return Address(lines=[p for p in (a.street, a.additional) if p], city=a.city, postcode=a.postcode,
                   country=a.country, subdivision=a.region)


def party_of_seller(seller: Seller, name: str) -> Party:
    """The seller's details (domain.model.parties) as EN 16931's BG-4: the registration ("HRB 12345, Amtsgericht
    Stuttgart") is the seller's additional legal information (BT-33)."""
    return Party(name=seller.legal_name or name, address=_address(seller.address), vat_id=seller.vat_id,
                 tax_number=seller.tax_number, legal_info=seller.registration,
                 endpoint=seller.electronic_address.identifier, endpoint_scheme=seller.electronic_address.scheme,
                 contact_name=seller.contact.name, contact_phone=seller.contact.phone,
                 contact_email=str(seller.contact.email or ""))


def party_of_buyer(buyer: Buyer, name: str, email: str = "") -> Party:
    """The buyer's details as EN 16931's BG-7."""
    return Party(name=buyer.legal_name or name, address=_address(buyer.address), vat_id=buyer.vat_id,
                 endpoint=buyer.electronic_address.identifier, endpoint_scheme=buyer.electronic_address.scheme,
                 contact_email=email)


def _seller(ws: WorkspaceRow) -> Party:
    return party_of_seller(seller_of(ws), ws.name)


def _buyer(client: ClientRow) -> Party:
    return party_of_buyer(buyer_of(client), client.name,
                          str(client.billing_emails[0]) if client.billing_emails else "")


def _d(text: str) -> Decimal:
    return Decimal(text)


def input_from_document(doc: DocumentView, seller: Party, buyer: Party, *, tax_mode: str = "standard",
                        exemption_reason: str = "", buyer_reference: str = "", preceding_date: date | None = None,
                        iban: str = "", bic: str = "", account_name: str = "") -> EInvoiceInput:
    """The EN 16931 input of an issued invoice's document and its parties (pure: no database)."""
    v = doc.invoice
    credit = v.kind == "credit_note"
    issue = v.issue_date or (v.issued_at.date() if v.issued_at else v.created_at.date())
    lines = [LineFacts(description=ln.description, quantity=_d(ln.quantity), unit=ln.unit,
                       unit_price=_d(ln.unit_price), amount=_d(ln.amount), rate=_d(ln.tax_rate),
                       text=ln.source.get("text") if isinstance(ln.source.get("text"), dict) else None)
             for ln in v.lines]
    breakdown = [RateFacts(rate=_d(g["rate"]), taxable=_d(g["taxable"]), tax=_d(g["tax"])) for g in v.tax_by_rate]
    reason_text = next((ln.source["reason_text"] for ln in v.lines
                        if isinstance(ln.source.get("reason_text"), dict)), None) if credit else None
    terms = (f"Credit note for invoice {doc.corrects_number or ''}: the amount is credited against it."
             if credit else f"Payable within {doc.payment_terms_days} days of the invoice date.")
    return build_input(
        number=v.number or "", credit_note=credit, issue_date=issue, currency=v.currency, seller=seller,
        buyer=buyer, lines=lines, breakdown=breakdown, tax_mode=tax_mode, exemption_reason=exemption_reason,
        due_date=None if credit else v.due_date, period_start=v.period_start, period_end=v.period_end,
        buyer_reference=buyer_reference, order_reference=v.po_number, preceding_number=doc.corrects_number or "",
        preceding_date=preceding_date, notes=[v.tax_note, v.reason if credit else ""], payment_terms=terms,
        iban=iban, bic=bic, account_name=account_name, language=doc.locale[:2] or "en",
        line_language=str(doc.client.language or ""), reason_text=reason_text)


def input_of(uow: UnitOfWork, inv: InvoiceRow, doc: DocumentView) -> EInvoiceInput:
    """The EN 16931 input of a loaded, issued invoice (inside an open unit of work; no permission check here): the
    parties, tax treatment and references it was numbered with (its frozen snapshot)."""
    snap = frozen_snapshot(inv)
    t = snap.terms
    frozen_seller, frozen_buyer = snap.seller.details(), snap.buyer.details()
    emails = snap.buyer.billing_emails
    return input_from_document(
        doc, party_of_seller(frozen_seller, snap.seller.name),
        party_of_buyer(frozen_buyer, snap.buyer.name, emails[0] if emails else ""),
        tax_mode=t.tax_mode.value, exemption_reason=str(t.tax_profile.get("exemption_reason", "") or ""),
        buyer_reference=frozen_buyer.buyer_reference, preceding_date=t.corrects_issue_date,
        iban=frozen_seller.bank_account.iban, bic=frozen_seller.bank_account.bic,
        account_name=frozen_seller.bank_account.account_holder or frozen_seller.legal_name)


def einvoice_source(uow: UnitOfWork, actor: Actor, invoice_id: int, fmt: str | None = None) -> EInvoiceSource:
    """The e-invoice of an issued invoice or credit note in `fmt` (default: the client's format)."""
    require(actor, Perm.VIEW_BOOKS)
    chosen = parse_format(fmt) if fmt else None  # an unknown format is refused before anything is read
    with uow:
        inv = loaded_invoice(uow, actor, invoice_id)
        if inv.number is None:
            raise BadTransition("a draft has no e-invoice: issue it first (an e-invoice needs its number)",
                                code="invoice.not_issued", field="invoice_id", details={"status": inv.status})
        client = uow.clients.get(inv.client_id)
        assert client is not None
        f = chosen or _choose(None, client)
        doc = document_of(uow, inv)
        inp = input_of(uow, inv, doc)
    require_complete(f.value, inp)
    return EInvoiceSource(input=inp, format=f.value, document=doc)


def client_einvoice(uow: UnitOfWork, actor: Actor, client_id: int) -> ClientEInvoice:
    """Which e-invoice format a client receives and what its invoices still need for it."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        client = load_client(uow, actor, client_id)
        fmt = client_format(client)
        missing: list[str] = []
        if fmt != "none":
            mode = str(dict(client.tax_profile or {}).get("mode", "standard"))
            zero = [RateFacts(rate=Decimal(0), taxable=Decimal(0), tax=Decimal(0))] if mode != "standard" else []
            probe = build_input(number="-", credit_note=False, issue_date=uow.clock.today(),
                                currency=client.currency, seller=_seller(uow.workspace.get()), buyer=_buyer(client),
                                lines=[], breakdown=zero, tax_mode=mode, buyer_reference=client.buyer_reference,
                                order_reference=client.po_number)
            missing = missing_for(fmt, probe)
        label = FORMAT_LABELS.get(fmt, "no e-invoice: the PDF only")
        return ClientEInvoice(client_id=client.id, client_name=client.name, format=fmt, label=label, missing=missing)
