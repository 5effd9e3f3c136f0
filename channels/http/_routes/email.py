"""Bounces: `POST /v1/email/bounces`, a provider's signed bounce webhook (Postmark-like JSON) or a standard DSN
(RFC 3464, `Content-Type: multipart/report` or `message/rfc822`), both signed with BILLABLE_BOUNCE_SECRET:
`X-Billable-Signature: sha256=<hex HMAC-SHA256 of the body>`. The invoice sent as that Message-ID is flagged
(`bounced`) and audited."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from channels.email import parse_dsn
from channels.http._deps import Uow
from domain.errors import NotFound, Unauthenticated, ValidationFailed
from domain.model.roles import Actor
from domain.services import delivery

router = APIRouter(prefix="/v1/email", tags=["email"])
SIGNATURE = "X-Billable-Signature"
WEBHOOK = Actor.system("bounce webhook")
HARD = {"hardbounce", "bademailaddress", "spamnotification", "manuallydeactivated", "blocked"}


class BounceResult(BaseModel):
    flagged: list[int]
    unknown: list[str]


def _verify(request: Request, body: bytes) -> None:
    secret = request.app.state.settings.bounce_secret
    if secret is None:
        raise Unauthenticated("bounces are not accepted: BILLABLE_BOUNCE_SECRET is not set", field=SIGNATURE)
    given = request.headers.get(SIGNATURE, "").removeprefix("sha256=")
    want = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode("utf-8", "replace"), want.encode()):
        raise Unauthenticated("bad or missing signature", field=SIGNATURE)


def _angle(message_id: str) -> str:
    m = message_id.strip()
    return m if m.startswith("<") else f"<{m}>"


@router.post("/bounces", summary="A bounce: signed Postmark-like JSON or an RFC 3464 DSN")
async def bounces(request: Request, uow: Uow) -> BounceResult:
    body = await request.body()
    _verify(request, body)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    items: list[tuple[str, str, str, bool]] = []
    if ctype in ("multipart/report", "message/rfc822"):
        # multipart/report: the body is the report itself (its boundary is in our Content-Type header);
        # message/rfc822: the body is the whole DSN message, headers included.
        raw = (f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + body
               if ctype == "multipart/report" else body)
        items = [(b.message_id, b.recipient, f"{b.status} {b.diagnostic}".strip(), b.permanent)
                 for b in parse_dsn(raw)]
    else:
        try:
            data: Any = json.loads(body)
        except ValueError as e:
            raise ValidationFailed("the body is neither JSON nor a DSN", field="body") from e
        for d in data if isinstance(data, list) else [data]:
            if not isinstance(d, dict) or not d.get("MessageID"):
                raise ValidationFailed("a bounce needs MessageID", field="MessageID")
            kind = str(d.get("Type", "HardBounce"))
            items.append((_angle(str(d["MessageID"])), str(d.get("Email", "")),
                          f"{kind}: {d.get('Description', '')} {d.get('Details', '')}".strip(),
                          kind.lower() in HARD))
    if not items:
        raise ValidationFailed("no failed recipient of one of our messages in this report", field="body")
    return await run_in_threadpool(_record, uow, items)


def _record(uow: Uow, items: list[tuple[str, str, str, bool]]) -> BounceResult:
    flagged, unknown = [], []
    for message_id, recipient, reason, permanent in items:
        try:
            view = delivery.record_bounce(uow, WEBHOOK, message_id, recipient, reason, permanent)
            flagged.append(view.invoice_id)
        except NotFound:
            unknown.append(message_id)  # not one of ours (or long forgotten): nothing to flag
    return BounceResult(flagged=flagged, unknown=unknown)
