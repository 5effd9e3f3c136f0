"""The hosted invoice page: `/i/{token}` (no login; the unguessable token is the permission) and its PDF.

A logged-in staff member (a valid bearer token) sees the page without it counting as the client's view."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from channels.http._deps import Uow, bearer, get_db
from channels.http._routes.documents import Docs, pdf_response
from domain.errors import BillingError
from domain.model.roles import Actor
from domain.services import documents, users
from domain.store.session import Database

router = APIRouter(tags=["hosted page"])


def staff_or_none(db: Annotated[Database, Depends(get_db)],
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor | None:
    if credentials is None:
        return None
    try:
        return users.authenticate_token(db.uow(readonly=True), credentials.credentials)
    except BillingError:
        return None  # a stale token is not staff: the page is public anyway


Staff = Annotated[Actor | None, Depends(staff_or_none)]


@router.get("/i/{token}", response_class=HTMLResponse, summary="The hosted invoice page (no login)")
def hosted_page(token: str, uow: Uow, staff: Staff, renderer: Docs) -> HTMLResponse:
    doc = documents.open_hosted(uow, token, staff)
    return HTMLResponse(renderer.html(doc, {"pdf": f"/i/{token}/pdf"}),
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 "X-Robots-Tag": "noindex"})


@router.get("/i/{token}/pdf", response_class=Response, summary="The hosted invoice's PDF (no login)",
            responses={200: {"content": {"application/pdf": {}}}})
def hosted_pdf(token: str, uow: Uow, staff: Staff, renderer: Docs) -> Response:
    doc = documents.open_hosted(uow, token, staff)
    response = pdf_response(renderer.pdf(doc), doc.invoice.number, doc.invoice.id)
    response.headers["Cache-Control"] = "no-store"
    return response
