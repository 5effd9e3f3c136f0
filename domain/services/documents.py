"""Invoice documents and the hosted invoice page.

What an invoice document shows, gathered in one read: the invoice with its lines, payments and credit notes,
the client it is addressed to, the seller, the locale to format it in and, for a credit note, the invoice it
corrects. Rendering (Jinja2 templates, Babel formatting, Typst or WeasyPrint PDFs) is the documents channel's job
(`channels/documents`): this module only decides what may be shown, to whom, so every door (HTTP, CLI, the
hosted page, e-mail delivery) shows the same facts under the same rules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import Field

from domain.errors import BadTransition, NotFound
from domain.model.lifecycle import TRANSITIONS, Status
from domain.model.parties import Buyer, Seller
from domain.model.roles import Actor, Perm
from domain.model.snapshot import InvoiceSnapshot
from domain.services._auth import client_scope, require
from domain.services.parties import buyer_of, seller_of
from domain.services.snapshots import frozen_snapshot
from domain.services.views import ClientView, InvoiceView, View
from domain.settings import get_settings
from domain.store.tables import InvoiceDeliveryRow, InvoiceRow
from domain.store.uow import UnitOfWork

HOSTED_PAGE = Actor.system("hosted invoice page")

class DocumentView(View):
    """Everything an invoice or credit note document needs, safe to use after the transaction.

    `seller` is the name the document is headed with; `seller_party` and `buyer_party` are what it says about the
    two parties (names, addresses, VAT IDs, tax number, registration, bank account, buyer reference)."""

    invoice: InvoiceView
    client: ClientView  # issued: as the snapshot says (frozen); a draft: the client as it is
    seller: str
    seller_party: Seller = Seller()
    buyer_party: Buyer = Buyer()
    locale: str
    corrects_number: str | None = None
    payment_terms_days: int
    # where the buyer pays (the seller's bank account): the SEPA payment QR code on EUR invoices
    payee_name: str = ""
    payee_iban: str = ""
    payee_bic: str = ""
    snapshot: InvoiceSnapshot | None = None  # issued: everything the document says, frozen at numbering
    recipients: list[str] = Field(default_factory=list)  # where to send it now: the client's current billing contacts


def _frozen_client(live: ClientView, snap: InvoiceSnapshot) -> ClientView:
    """The client as the issued document names it: every field the snapshot froze, over the live view's
    bookkeeping fields (id, managers) that no document shows."""
    buyer = snap.buyer.model_dump()
    t = snap.terms
    frozen = {k: v for k, v in buyer.items() if k in ClientView.model_fields and k != "id"}
    frozen.update(name=snap.buyer.name, billing_emails=list(snap.buyer.billing_emails), currency=t.currency,
                  tax_profile=dict(t.tax_profile), po_number=t.po_number, locale=t.locale)
    if t.payment_terms_days is not None:
        frozen["payment_terms_days"] = t.payment_terms_days
    if "language" in ClientView.model_fields:
        frozen["language"] = t.language
    return ClientView.model_validate({**live.model_dump(), **frozen})


def document_of(uow: UnitOfWork, inv: InvoiceRow) -> DocumentView:
    """The document of a loaded invoice (inside an open unit of work; no permission check here)."""
    client = uow.clients.get(inv.client_id)
    if client is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound(f"no client with id {inv.client_id}", code="client.not_found", field="client_id")
    view = InvoiceView.of(inv, client.name, uow.clock.today(), list(uow.invoices.payments(inv.id)),
                          list(uow.invoices.credit_notes(inv.id)))
    corrects = None
    if inv.corrects_invoice_id is not None:
        original = uow.invoices.get(inv.corrects_invoice_id)
        corrects = original.number if original is not None else None
    live = ClientView.of(client)
    recipients = [str(e) for e in client.billing_emails]
    if inv.number is not None:  # issued: what it said when numbered, never today's client or seller
        snap = frozen_snapshot(inv)
        frozen = _frozen_client(live, snap)
        bank = snap.seller.details().bank_account
        return DocumentView(invoice=view, client=frozen, seller=snap.seller.name, locale=snap.terms.locale,
                            seller_party=snap.seller.details(), buyer_party=snap.buyer.details(),
                            corrects_number=snap.terms.corrects_number or corrects,
                            payment_terms_days=frozen.payment_terms_days, snapshot=snap, recipients=recipients,
                            payee_name=bank.account_holder or snap.seller.details().legal_name or snap.seller.name,
                            payee_iban=bank.iban, payee_bic=bank.bic)
    ws = uow.workspace.get()  # a draft: its preview shows the details as they are now
    seller = seller_of(ws)
    return DocumentView(invoice=view, client=live, seller=ws.name,
                        seller_party=seller, buyer_party=buyer_of(client),
                        locale=client.locale or ws.locale, corrects_number=corrects,
                        payment_terms_days=client.payment_terms_days, recipients=recipients,
                        payee_name=seller.bank_account.account_holder or seller.legal_name or ws.name,
                        payee_iban=seller.bank_account.iban, payee_bic=seller.bank_account.bic)


def invoice_document(uow: UnitOfWork, actor: Actor, invoice_id: int) -> DocumentView:
    """The document of one invoice or credit note the actor may see (drafts too: a preview)."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        inv = uow.invoices.get(invoice_id)
        scope = client_scope(actor)
        if inv is None or (scope is not None and inv.client_id not in scope):
            raise NotFound(f"no invoice with id {invoice_id}", code="invoice.not_found", field="invoice_id")
        return document_of(uow, inv)


def loaded_invoice(uow: UnitOfWork, actor: Actor, invoice_id: int, for_update: bool = False) -> InvoiceRow:
    inv = uow.invoices.get(invoice_id, for_update=for_update)
    scope = client_scope(actor)
    if inv is None or (scope is not None and inv.client_id not in scope):
        raise NotFound(f"no invoice with id {invoice_id}", code="invoice.not_found", field="invoice_id")
    return inv


def link_token(invoice_id: int, version: int) -> str:
    """The hosted page's token: an HMAC-SHA256 of the invoice id and the link's version under the secret key
    (256 bits: unguessable, so the link itself is the permission to read that one invoice). Derived, not stored:
    the database keeps only its hash. Changing BILLABLE_SECRET_KEY changes every link (send the invoices again)."""
    key = get_settings().secret_key.encode()
    mac = hmac.new(key, f"billable hosted link:{invoice_id}:{version}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def delivery_row(uow: UnitOfWork, inv: InvoiceRow) -> InvoiceDeliveryRow:
    """The invoice's delivery row, made on first need with its hosted link (version 1)."""
    row = uow.deliveries.get(inv.id, for_update=True)
    if row is None:
        row = uow.deliveries.add(InvoiceDeliveryRow(invoice_id=inv.id, token_hash=token_hash(link_token(inv.id, 1)),
                                                    link_version=1, created_at=uow.clock.now()))
    elif row.token_hash is None:  # a row from before links were hashed: its old link is gone, this is the new one
        row.token_hash = token_hash(link_token(inv.id, row.link_version))
    return row


def row_token(row: InvoiceDeliveryRow) -> str:
    return link_token(row.invoice_id, row.link_version)


def hosted_token(uow: UnitOfWork, actor: Actor, invoice_id: int) -> str:
    """The token of an issued invoice's hosted page (`/i/{token}`), for someone who may issue invoices (the link
    shows the invoice to whoever has it); each time it is handed out is audited."""
    require(actor, Perm.ISSUE)
    with uow:
        inv = loaded_invoice(uow, actor, invoice_id, for_update=True)
        if inv.number is None:
            raise BadTransition("a draft has no hosted page: issue it first", code="invoice.not_issued",
                                field="invoice_id", details={"status": inv.status})
        row = delivery_row(uow, inv)
        uow.audit.record(actor, "invoice.link_shared", "invoice", inv.id,
                         after={"client_id": inv.client_id, "link_version": row.link_version})
        uow.commit()
        return row_token(row)


def revoke_hosted_link(uow: UnitOfWork, actor: Actor, invoice_id: int) -> dict[str, int]:
    """End an invoice's hosted link (owners and finance): the old link answers 404 from now on; the next one
    handed out is new."""
    require(actor, Perm.VOID)
    with uow:
        inv = loaded_invoice(uow, actor, invoice_id, for_update=True)
        if inv.number is None:
            raise BadTransition("a draft has no hosted page", code="invoice.not_issued", field="invoice_id",
                                details={"status": inv.status})
        row = delivery_row(uow, inv)
        before = {"client_id": inv.client_id, "link_version": row.link_version}
        row.link_version += 1
        row.token_hash = token_hash(link_token(inv.id, row.link_version))
        uow.audit.record(actor, "invoice.link_revoked", "invoice", inv.id, before=before,
                         after={"client_id": inv.client_id, "link_version": row.link_version})
        uow.commit()
        return {"invoice_id": inv.id, "link_version": row.link_version}


def open_hosted(uow: UnitOfWork, token: str, staff: Actor | None) -> DocumentView:
    """The invoice behind a hosted-page token. The first view by someone who is not logged-in staff is recorded
    (and audited), and moves an issued or sent invoice to viewed; staff views and later views change nothing."""
    with uow:
        row = uow.deliveries.by_token_hash(token_hash(token), for_update=True) if 20 <= len(token) <= 100 else None
        if row is None:
            raise NotFound("no invoice at this link", code="invoice.not_found", field="token")
        inv = uow.invoices.get(row.invoice_id, for_update=True)
        if inv is None:  # pragma: no cover - cascades with the invoice
            raise NotFound("no invoice at this link", code="invoice.not_found", field="token")
        if staff is not None or row.first_viewed_at is not None:
            return document_of(uow, inv)
        before = {"status": inv.status, "client_id": inv.client_id, "first_viewed_at": None}
        row.first_viewed_at = uow.clock.now()
        if Status.VIEWED in TRANSITIONS[Status(inv.status)]:
            inv.status = Status.VIEWED.value
        uow.audit.record(HOSTED_PAGE, "invoice.viewed", "invoice", inv.id, before=before,
                         after={"status": inv.status, "client_id": inv.client_id,
                                "first_viewed_at": row.first_viewed_at.isoformat()})
        uow.flush()
        doc = document_of(uow, inv)
        uow.commit()
        return doc
