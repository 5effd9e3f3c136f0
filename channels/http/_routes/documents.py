"""Invoice documents: the HTML and the PDF of an invoice or credit note, as its client will see them."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from channels.documents import Renderer, default_renderer
from channels.documents.einvoice import build
from channels.http._deps import CurrentActor, Uow
from domain.model.bounds import Id
from domain.services import delivery, documents, einvoice

router = APIRouter(prefix="/v1/invoices", tags=["documents"])


def get_renderer(request: Request) -> Renderer:
    """The app's renderer (its templates checked when first made, before any document is rendered)."""
    return default_renderer(request.app.state.settings)


Docs = Annotated[Renderer, Depends(get_renderer)]


class HostedLink(BaseModel):
    invoice_id: Id
    url: str
    token: str


def pdf_response(body: bytes, number: str | None, invoice_id: Id) -> Response:
    name = (number or f"draft-{invoice_id}") + ".pdf"
    return Response(body, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/{invoice_id}/html", response_class=HTMLResponse, summary="The invoice document as HTML")
def invoice_html(invoice_id: Id, actor: CurrentActor, uow: Uow, renderer: Docs) -> HTMLResponse:
    return HTMLResponse(renderer.html(documents.invoice_document(uow, actor, invoice_id)))


@router.get("/{invoice_id}/pdf", response_class=Response, summary="The invoice document as PDF",
            responses={200: {"content": {"application/pdf": {}}}})
def invoice_pdf(invoice_id: Id, actor: CurrentActor, uow: Uow, renderer: Docs) -> Response:
    doc = documents.invoice_document(uow, actor, invoice_id)
    return pdf_response(renderer.pdf(doc), doc.invoice.number, invoice_id)


@router.get("/{invoice_id}/einvoice", response_class=Response,
            summary="The e-invoice of an issued invoice or credit note: Factur-X PDF, XRechnung CII or UBL, Peppol",
            responses={200: {"content": {"application/pdf": {}, "application/xml": {}}}})
def invoice_einvoice(invoice_id: Id, actor: CurrentActor, uow: Uow, renderer: Docs,
                     format: str | None = None) -> Response:
    """`format`: facturx, xrechnung-cii, xrechnung-ubl or peppol; by default the client's e-invoice format. A 422
    names `format` when it is unknown (or the client has none), or the fields to fill in when the invoice lacks
    what the format needs."""
    f = build(einvoice.einvoice_source(uow, actor, invoice_id, format), renderer)
    return Response(f.content, media_type=f.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{f.filename}"',
                             "X-Einvoice-Format": f.format})


class RevokedLink(BaseModel):
    invoice_id: Id
    link_version: int


@router.post("/{invoice_id}/hosted-link", summary="The link of an issued invoice's hosted page (owners and finance; "
                                                  "each ask is audited)")
def hosted_link(invoice_id: Id, actor: CurrentActor, uow: Uow, request: Request) -> HostedLink:
    token = documents.hosted_token(uow, actor, invoice_id)
    base = str(request.app.state.settings.public_url).rstrip("/")
    return HostedLink(invoice_id=invoice_id, url=f"{base}/i/{token}", token=token)


@router.post("/{invoice_id}/hosted-link/revoke", summary="End the invoice's hosted link (owners and finance)")
def revoke_hosted_link(invoice_id: Id, actor: CurrentActor, uow: Uow) -> RevokedLink:
    return RevokedLink(**documents.revoke_hosted_link(uow, actor, invoice_id))


class SendRequest(BaseModel):
    to: list[str] | None = None  # default: the client's billing e-mails


@router.post("/{invoice_id}/send", summary="E-mail an issued invoice (queued; the outbox sends it)")
def send_invoice(invoice_id: Id, actor: CurrentActor, uow: Uow, body: SendRequest | None = None
                 ) -> delivery.DeliveryView:
    return delivery.send_invoice(uow, actor, invoice_id, body.to if body else None)


@router.get("/{invoice_id}/delivery", summary="How the invoice's e-mail went (null: never sent)")
def get_delivery(invoice_id: Id, actor: CurrentActor, uow: Uow) -> delivery.DeliveryView | None:
    return delivery.get_delivery(uow, actor, invoice_id)
