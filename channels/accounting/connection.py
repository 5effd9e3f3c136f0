"""Connecting QuickBooks and opening its API: the OAuth round trip (a signed `state` that names who started it and
expires), tokens encrypted at rest, refreshed before they expire; a refresh QuickBooks refuses pauses the sync (the
domain tells finance and owners) until someone reconnects. Used by the dashboard, the CLI, the outbound sync and the
inbound side (webhooks, CDC)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from datetime import datetime, timedelta

import httpx

from channels.accounting.quickbooks import (
    OAuthError,
    QuickBooksApi,
    QuickBooksAuth,
    Throttle,
    Tokens,
)
from channels.accounting.tokens import TokenCipher
from domain.errors import BillingError, Forbidden, ValidationFailed
from domain.model.accounting import QUICKBOOKS
from domain.model.roles import Actor
from domain.services import accounting
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.accounting")

STATE_TTL = 15 * 60
REFRESH_MARGIN = timedelta(minutes=5)  # refresh this long before the access token expires


class NotConfigured(BillingError):
    code = "accounting.not_configured"
    status = 409


def _sign(settings: Settings, text: str) -> str:
    mac = hmac.new(settings.secret_key.encode(), b"qbo-state:" + text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def make_state(settings: Settings, actor: Actor, now: float | None = None) -> str:
    """A CSRF `state` that says who started the connect and until when it is good, signed with the secret key."""
    body = f"{actor.user_id or 0}.{int((now or time.time()) + STATE_TTL)}.{secrets.token_urlsafe(9)}"
    return f"{body}.{_sign(settings, body)}"


def check_state(settings: Settings, actor: Actor, state: str, now: float | None = None) -> None:
    """Refuse a callback whose state was not made here, for this person, in the last 15 minutes."""
    body, _, sig = state.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or not hmac.compare_digest(sig, _sign(settings, body)):
        raise ValidationFailed("the QuickBooks answer does not belong to a connect started here: start again",
                               field="state")
    if parts[0] != str(actor.user_id or 0):
        raise Forbidden("this QuickBooks connect was started by someone else: start it yourself")
    if int(parts[1]) < (now or time.time()):
        raise ValidationFailed("the QuickBooks connect took longer than 15 minutes: start again", field="state")


def require_configured(settings: Settings) -> None:
    missing = settings.quickbooks_missing()
    if missing:
        raise NotConfigured("QuickBooks is not configured: set " + ", ".join(missing) + " (see README 'Connecting "
                            "QuickBooks')", details={"missing": missing})


def start_connect(db: Database, settings: Settings, actor: Actor) -> str:
    """The Intuit consent URL an owner's browser goes to (after the refusals: not an owner, not configured)."""
    accounting.may_connect(actor)
    require_configured(settings)
    TokenCipher(settings)  # a missing or malformed key is refused now, not after the person consented
    return QuickBooksAuth(settings).authorization_url(make_state(settings, actor))


def _expiries(db: Database, tokens: Tokens) -> tuple[datetime, datetime | None]:
    now = db.clock.now()
    refresh_at = now + timedelta(seconds=tokens.refresh_expires_in) if tokens.refresh_expires_in else None
    return now + timedelta(seconds=tokens.expires_in), refresh_at


def finish_connect(db: Database, settings: Settings, actor: Actor, code: str, state: str, realm_id: str,
                   http: httpx.Client | None = None) -> accounting.ConnectionView:
    """The OAuth callback: check the state, trade the code for tokens, read the company's name, store it all."""
    accounting.may_connect(actor)
    require_configured(settings)
    check_state(settings, actor, state)
    if not code or not realm_id:
        raise ValidationFailed("QuickBooks sent no authorization code or company (realmId)", field="code")
    cipher = TokenCipher(settings)
    try:
        tokens = QuickBooksAuth(settings).exchange(code, realm_id)
    except OAuthError as e:
        raise ValidationFailed(str(e), field="code") from None
    api = QuickBooksApi(settings.quickbooks_base_url(), realm_id, tokens.access_token,
                        settings.quickbooks_minor_version, http=http)
    try:
        name = str(api.company_info().get("CompanyName") or "")
    except Exception as e:  # the company's name is a nicety: the connection stands without it
        log.warning("QuickBooks company info failed: %s", e)
        name = ""
    finally:
        if http is None:
            api.close()
    access_at, refresh_at = _expiries(db, tokens)
    return accounting.save_connection(
        db.uow(), actor, realm_id=realm_id, company_name=name, access_token=cipher.encrypt(tokens.access_token),
        refresh_token=cipher.encrypt(tokens.refresh_token), access_expires_at=access_at,
        refresh_expires_at=refresh_at)


def disconnect(db: Database, settings: Settings, actor: Actor) -> accounting.ConnectionView:
    """Disconnect and revoke the grant at Intuit (best effort: the tokens are forgotten here either way)."""
    view, refresh_ct = accounting.disconnect(db.uow(), actor)
    if refresh_ct and not settings.quickbooks_missing():
        try:
            QuickBooksAuth(settings).revoke(TokenCipher(settings).decrypt(refresh_ct))
        except Exception as e:
            log.warning("revoking the QuickBooks grant failed (the tokens are forgotten here anyway): %s", e)
    return view


class Connection:
    """The connected company's API for a system actor (the sync, the inbound side), with fresh tokens."""

    def __init__(self, db: Database, settings: Settings, actor: Actor | None = None,
                 http: httpx.Client | None = None, throttle: Throttle | None = None) -> None:
        self.db, self.settings = db, settings
        self.actor = actor or Actor.system("accounting sync")
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=30.0)
        self.throttle = throttle
        self._api: QuickBooksApi | None = None
        self.prefix = "b"
        self.tax_codes: dict[str, str] = {}

    def api(self, force_refresh: bool = False) -> QuickBooksApi | None:
        """The API with a valid access token; None when not connected, paused, or the refresh just failed (which
        pauses the sync)."""
        sec = accounting.connection_secrets(self.db.uow(), self.actor)
        if sec is None or sec.status != "connected":
            self._api = None
            return None
        self.prefix, self.tax_codes = sec.prefix, sec.tax_codes
        cipher = TokenCipher(self.settings)
        now = self.db.clock.now()
        access = cipher.decrypt(sec.access_token)
        if force_refresh or not access or sec.access_expires_at is None or sec.access_expires_at - now < REFRESH_MARGIN:
            try:
                tokens = QuickBooksAuth(self.settings).refresh(cipher.decrypt(sec.refresh_token))
            except OAuthError as e:
                log.warning("QuickBooks refresh refused: pausing the sync (%s)", e)
                accounting.pause(self.db.uow(), self.actor, f"QuickBooks refused to refresh the connection: {e}. "
                                 "An owner must reconnect QuickBooks; nothing is lost meanwhile.")
                self._api = None
                return None
            access_at, refresh_at = _expiries(self.db, tokens)
            accounting.store_tokens(self.db.uow(), self.actor, access_token=cipher.encrypt(tokens.access_token),
                                    refresh_token=cipher.encrypt(tokens.refresh_token),
                                    access_expires_at=access_at,
                                    refresh_expires_at=refresh_at)
            access = tokens.access_token
        if self._api is None or self._api.realm_id != sec.realm_id:
            self._api = QuickBooksApi(self.settings.quickbooks_base_url(), sec.realm_id, access,
                                      self.settings.quickbooks_minor_version, http=self.http, throttle=self.throttle)
        self._api.access_token = access
        return self._api

    def close(self) -> None:
        if self._own_http:
            self.http.close()


__all__ = ["QUICKBOOKS", "Connection", "NotConfigured", "check_state", "disconnect", "finish_connect",
           "make_state", "start_connect"]
