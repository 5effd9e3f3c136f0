"""Shared steps of the accounting tests: consent at the fake's authorize endpoint as a browser would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from channels.accounting.quickbooks import QuickBooksApi, QuickBooksAuth, Throttle, Tokens
from domain.settings import Settings


def consent(authorize_url: str) -> dict[str, str]:
    """Follow the consent URL like a browser whose user clicks Connect: the callback's query (code, state, realmId)."""
    r = httpx.get(authorize_url, follow_redirects=False)
    assert r.status_code == 302, r.text
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def tokens(settings: Settings, state: str = "s1") -> Tokens:
    auth = QuickBooksAuth(settings)
    q = consent(auth.authorization_url(state))
    assert q["state"] == state
    return auth.exchange(q["code"], q["realmId"])


def api(settings: Settings, http: httpx.Client, throttle: Throttle | None = None) -> QuickBooksApi:
    t = tokens(settings)
    return QuickBooksApi(settings.quickbooks_base_url(), t.realm_id, t.access_token, http=http,
                         throttle=throttle or Throttle())
