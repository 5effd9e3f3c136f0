"""Hostile deliveries to every unauthenticated door answer 401 or 422 problem+json, never 500: non-ASCII signature,
timestamp and CSRF values, timestamps that are not numbers or are out of range, signed bodies that are deeply nested
or carry out-of-range values. Nothing is stored for an unauthentic one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from channels.webhooks import _signatures as sig
from domain.store.session import Database
from tests.support.api import row_counts
from tests.support.fixtures import ServedApp
from tests.webhooks.conftest import NOW, SECRETS, WHSEC, Hooks, body_of, fixture

NON_ASCII = "v1,é☃".encode()  # as raw header bytes: the server reads them as Latin-1
DEEP = b"[" * 100_000 + b"]" * 100_000


def _problem(r: httpx.Response, *status: int) -> None:
    assert r.status_code in status, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"


def _post(hooks: Hooks, source: str, body: bytes, headers: dict[str, str | bytes]) -> httpx.Response:
    return hooks.http.post(f"/v1/events/{source}", content=body, headers={"content-type": "application/json",
                                                                           **headers})


@pytest.mark.parametrize("source,headers", [
    ("billable", {"webhook-id": "m", "webhook-timestamp": str(NOW), "webhook-signature": NON_ASCII}),
    ("billable", {"webhook-id": "m", "webhook-timestamp": "١٧٧٥٠٠٠٠٠٠".encode(), "webhook-signature": "v1,x"}),
    ("billable", {"webhook-id": "m", "webhook-timestamp": "9" * 400, "webhook-signature": "v1,x"}),
    ("billable", {"webhook-id": "m", "webhook-timestamp": "NaN", "webhook-signature": "v1,x"}),
    ("harvest", {"webhook-id": "mé".encode(), "webhook-timestamp": str(NOW), "webhook-signature": NON_ASCII}),
    ("hubspot", {"X-HubSpot-Signature-v3": NON_ASCII, "X-HubSpot-Request-Timestamp": str(NOW * 1000)}),
    ("hubspot", {"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "1e12"}),
    ("jira", {"X-Hub-Signature": "sha256=é".encode()}),
    ("toggl", {"X-Webhook-Signature-256": "sha256=☃".encode()}),
])
def test_hostile_signature_headers_are_401(hooks: Hooks, db: Database, source: str,
                                           headers: dict[str, str | bytes]) -> None:
    before = row_counts(db)
    _problem(_post(hooks, source, b"{}", headers), 401)
    assert row_counts(db) == before


def test_signed_but_deeply_nested_or_out_of_range_bodies_are_422(hooks: Hooks, db: Database) -> None:
    _problem(hooks.standard(DEEP, msg_id="deep"), 422)
    _problem(hooks.standard(b'{"type": "time.logged", "data": ' + DEEP + b"}", msg_id="deep2"), 422)
    _problem(hooks.toggl(DEEP), 422)
    _problem(hooks.jira(DEEP), 422)
    epic = fixture("jira_epic_done.json")
    epic["timestamp"] = 10 ** 20
    _problem(hooks.jira(body_of(epic), identifier="far-future"), 422)
    deal = fixture("hubspot_deal_closedwon.json")
    for e in deal:
        e["occurredAt"] = -(10 ** 19)
    _problem(hooks.hubspot(body_of(deal)), 422)
    _problem(hooks.hubspot(DEEP), 422)
    _problem(hooks.standard(DEEP, source="harvest", msg_id="deep3"), 422)


@pytest.fixture
def bounce_secret(api_server: ServedApp) -> Iterator[None]:
    before = api_server.app.state.settings
    api_server.app.state.settings = before.model_copy(update={"bounce_secret": SecretStr("bounce-secret")})
    yield
    api_server.app.state.settings = before


def test_a_bounce_with_a_non_ascii_signature_is_401(hooks: Hooks, db: Database, bounce_secret: None) -> None:
    r = hooks.http.post("/v1/email/bounces", content=b"{}", headers={"X-Billable-Signature": "sha256=é".encode(),
                                                                     "content-type": "application/json"})
    _problem(r, 401)


def test_sign_in_with_a_non_ascii_csrf_value_is_refused_not_a_crash(hooks: Hooks) -> None:
    r = hooks.http.post("/app/login", data={"email": "a@b.example", "password": "x" * 12, "csrf_token": "é☃"},
                        headers={"Cookie": "billable_login_csrf=abc"})
    assert r.status_code == 403
    r = hooks.http.post("/app/login", data={"email": "a@b.example", "password": "x" * 12, "csrf_token": "abc"},
                        headers={"Cookie": "billable_login_csrf=\"\\303\\251\""})
    assert r.status_code == 403


def test_the_signers_used_above_are_the_servers(hooks: Hooks) -> None:
    # A control: the same doors accept a well-signed delivery, so the refusals above are about the hostile parts.
    assert hooks.standard(body_of(fixture("billable_time_logged.json")), msg_id="ok").status_code == 202
    assert sig.hex_sign(SECRETS["jira"], b"{}").startswith("sha256=") and WHSEC.startswith("whsec_")
