"""Bounces: the RFC 3464 parser, and POST /v1/email/bounces (signed Postmark-like JSON, or a DSN) over real HTTP
-> the invoice sent as that Message-ID is flagged bounced and audited; bad signatures are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from channels.email import parse_dsn
from domain.services import delivery
from tests.documents.conftest import issued_full
from tests.services.conftest import World
from tests.support.fixtures import Clients, ServedApp, api_server, as_user, people, server

__all__ = ["api_server", "as_user", "people", "server"]

SECRET = "bounce-secret-for-tests"


def dsn(message_id: str, recipient: str = "ap@client.example", action: str = "failed",
        status: str = "5.1.1") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.client.example\r\n"
        "To: billing@seller.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"\r\n\r\n'
        "--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--BOUNDARY\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.client.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <ap@client.example>: Recipient address rejected\r\n\r\n"
        "--BOUNDARY\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: Invoice INV-2026-000001\r\n\r\n"
        "--BOUNDARY--\r\n").encode()


def test_dsn_parser_finds_the_original_message_and_the_failed_recipient() -> None:
    [b] = parse_dsn(dsn("<inv1.abc@billable.invalid>"))
    assert b.message_id == "<inv1.abc@billable.invalid>" and b.recipient == "ap@client.example"
    assert b.permanent and b.status == "5.1.1" and "Recipient address rejected" in b.diagnostic
    [d] = parse_dsn(dsn("<x@y>", action="delayed", status="4.4.1"))
    assert not d.permanent
    assert parse_dsn(b"Subject: hello\r\n\r\nnot a report") == []
    assert parse_dsn(dsn("<x@y>", action="delivered")) == []


@pytest.fixture
def bounce_secret(api_server: ServedApp) -> Iterator[None]:
    before = api_server.app.state.settings
    api_server.app.state.settings = before.model_copy(update={"bounce_secret": SecretStr(SECRET)})
    try:
        yield
    finally:
        api_server.app.state.settings = before


def signed(body: bytes) -> dict[str, str]:
    return {"X-Billable-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def test_bounce_webhook_and_dsn_flag_the_invoice(world: World, as_user: Clients, bounce_secret: None) -> None:
    inv = issued_full(world)
    sent = world.call(delivery.send_invoice, world.actor("finance"), inv.id)
    assert sent.message_id is not None
    web = as_user.anonymous
    body = json.dumps({"RecordType": "Bounce", "Type": "HardBounce", "MessageID": sent.message_id.strip("<>"),
                       "Email": "ap@client.example", "Description": "The server was unable to deliver"}).encode()
    assert web.post("/v1/email/bounces", content=body, headers={"Content-Type": "application/json"}).status_code == 401
    bad = {"Content-Type": "application/json", "X-Billable-Signature": "sha256=" + "0" * 64}
    assert web.post("/v1/email/bounces", content=body, headers=bad).status_code == 401
    r = web.post("/v1/email/bounces", content=body, headers={"Content-Type": "application/json", **signed(body)})
    assert r.status_code == 200 and r.json() == {"flagged": [inv.id], "unknown": []}
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "bounced" and "HardBounce" in d.last_error
    assert world.audit_actions("invoice", inv.id).count("invoice.bounced") == 1

    raw = dsn(sent.message_id)
    r = web.post("/v1/email/bounces", content=raw, headers={"Content-Type": "message/rfc822", **signed(raw)})
    assert r.status_code == 200 and r.json()["flagged"] == [inv.id]
    assert world.audit_actions("invoice", inv.id).count("invoice.bounced") == 2

    other = dsn("<not-ours@elsewhere>")
    r = web.post("/v1/email/bounces", content=other, headers={"Content-Type": "message/rfc822", **signed(other)})
    assert r.status_code == 200 and r.json() == {"flagged": [], "unknown": ["<not-ours@elsewhere>"]}
