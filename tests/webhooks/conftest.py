"""Webhook tests: a live server (tests.support.fixtures) with event sources configured, and signers for each
scheme. The server's signature clock is pinned to NOW so the tolerance tests are exact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels.webhooks import _signatures as sig
from domain.settings import Settings
from tests.support.fixtures import ServedApp, api, api_server, as_user, people, server

__all__ = ["api", "api_server", "as_user", "people", "server"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
NOW = 1_775_000_000  # 2026-03-31 23:33:20 UTC
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WHSEC_OLD = "whsec_" + "c2VjcmV0LWZyb20tbGFzdC15ZWFy"
SECRETS = {"billable": f"{WHSEC} {WHSEC_OLD}", "harvest": WHSEC, "hubspot": "c5f6a7b8-hubspot-client-secret",
           "jira": "jira-admin-webhook-secret", "toggl": "toggl-subscription-secret"}
PUBLIC_URL = "https://billing.brightline.example"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.fixture
def hooks(api_server: ServedApp, server: str) -> Iterator[Hooks]:
    """The live server with every source configured, its signature clock at NOW; a client to post with."""
    app = api_server.app
    saved = app.state.settings
    app.state.settings = Settings(webhook_secrets=SECRETS, public_url=PUBLIC_URL, hubspot_token=None)
    app.state.webhook_clock = lambda: float(NOW)
    client = httpx.Client(base_url=server, timeout=30)
    try:
        yield Hooks(client, app)
    finally:
        client.close()
        app.state.settings = saved
        del app.state.webhook_clock


class Hooks:
    def __init__(self, http: httpx.Client, app: Any) -> None:
        self.http = http
        self.app = app

    def standard(self, body: bytes, msg_id: str = "msg_2vN7f0xK", ts: int = NOW, secret: str = WHSEC,
                 source: str = "billable", headers: dict[str, str] | None = None) -> httpx.Response:
        h = {"webhook-id": msg_id, "webhook-timestamp": str(ts),
             "webhook-signature": sig.standard_webhooks_sign(secret, msg_id, ts, body),
             "content-type": "application/json", **(headers or {})}
        return self.http.post(f"/v1/events/{source}", content=body, headers={k: v for k, v in h.items() if v})

    def hubspot(self, body: bytes, ts_ms: int = NOW * 1000, secret: str = SECRETS["hubspot"]) -> httpx.Response:
        signature = sig.hubspot_sign(secret, "POST", f"{PUBLIC_URL}/v1/events/hubspot", body, ts_ms)
        return self.http.post("/v1/events/hubspot", content=body, headers={
            "X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(ts_ms),
            "X-HubSpot-Signature-Version": "v3", "content-type": "application/json"})

    def jira(self, body: bytes, identifier: str = "e9a4b6e2-1b0c-4c0e-9a56-0b1c7f2d8a11",
             secret: str = SECRETS["jira"]) -> httpx.Response:
        return self.http.post("/v1/events/jira", content=body, headers={
            "X-Hub-Signature": sig.hex_sign(secret, body), "X-Atlassian-Webhook-Identifier": identifier,
            "X-Atlassian-Webhook-Flow": "Primary", "content-type": "application/json"})

    def toggl(self, body: bytes, secret: str = SECRETS["toggl"]) -> httpx.Response:
        return self.http.post("/v1/events/toggl", content=body, headers={
            "X-Webhook-Signature-256": sig.hex_sign(secret, body), "content-type": "application/json"})
