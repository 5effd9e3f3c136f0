"""The QuickBooks Online client: OAuth 2.0 through intuit-oauth (AuthClient) and the v3 Accounting API over httpx.

Amounts travel as JSON numbers and are read with `parse_float=Decimal` and written from Decimals digit for digit:
money never passes through a float. Every URL carries `minorversion` (75 at least: 1-74 are retired). Writes carry a
`requestid` (QuickBooks replays the first response for a repeated id), and the client keeps under the per-realm
limits itself (10 requests/s, 500/min; batch 40/min) so that a 429 is the exception, not the rhythm.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from domain.settings import Settings

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


# ---- errors ----------------------------------------------------------------------------------------------------


class QuickBooksError(Exception):
    """A refusal or failure from QuickBooks: the HTTP status and the Fault's code, message and detail."""

    def __init__(self, status: int, code: str = "", message: str = "", detail: str = "") -> None:
        super().__init__(f"QuickBooks {status} {code}: {detail or message}".strip())
        self.status, self.code, self.message, self.detail = status, code, message, detail


class RateLimited(QuickBooksError):
    """429: wait (Retry-After when given, else the 60 s Intuit asks for) and try again."""

    def __init__(self, status: int, code: str = "", message: str = "", detail: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(status, code, message, detail)
        self.retry_after = retry_after


class ServerError(QuickBooksError):
    """5xx or no answer: transient, try again with backoff (the write carries a requestid, so it happens once)."""


class AuthFailed(QuickBooksError):
    """401: the access token is expired or revoked; refresh, then try once more."""


class StaleObject(QuickBooksError):
    """Fault 5010: the object changed in QuickBooks since we read its SyncToken; re-read and retry."""


class Fault(QuickBooksError):
    """Any other refusal (validation, duplicate name, unknown reference): retrying the same request will not help."""


# ---- limits ----------------------------------------------------------------------------------------------------


class Throttle:
    """Sliding windows per realm, shared by every client in this process: at most `per_second` calls in any second
    and `per_minute` in any minute (batch calls also count against `batch_per_minute`). Blocks until a call fits.
    The windows are `margin` seconds longer than QuickBooks' own: a call is counted there when it arrives, and an
    earlier call that was slower on the way must not make a later one look like the eleventh in a second."""

    def __init__(self, per_second: int = 10, per_minute: int = 500, batch_per_minute: int = 40,
                 sleep: Callable[[float], None] = time.sleep, margin: float = 0.25) -> None:
        self.per_second, self.per_minute, self.batch_per_minute = per_second, per_minute, batch_per_minute
        self.margin = margin
        self.sleep = sleep
        self._calls: dict[str, deque[float]] = {}
        self._batches: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.waited = 0.0

    def wait(self, realm: str, batch: bool = False) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                calls = self._calls.setdefault(realm, deque())
                batches = self._batches.setdefault(realm, deque())
                second, minute = 1 + self.margin, 60 + self.margin
                while calls and calls[0] <= now - minute:
                    calls.popleft()
                while batches and batches[0] <= now - minute:
                    batches.popleft()
                recent = [c for c in calls if c > now - second]
                delay = 0.0
                if len(recent) >= self.per_second:
                    delay = recent[-self.per_second] + second - now
                if len(calls) >= self.per_minute:
                    delay = max(delay, calls[-self.per_minute] + minute - now)
                if batch and len(batches) >= self.batch_per_minute:
                    delay = max(delay, batches[-self.batch_per_minute] + minute - now)
                if delay <= 0:
                    calls.append(now)
                    if batch:
                        batches.append(now)
                    return
            self.waited += delay
            self.sleep(min(delay, 1.0) + 0.001)


THROTTLE = Throttle()


# ---- JSON with Decimals ----------------------------------------------------------------------------------------

_DEC = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def dumps(body: Any) -> str:
    """JSON with every Decimal written as a number with exactly its digits (no float on the way)."""
    def default(v: Any) -> Any:
        if isinstance(v, Decimal):
            return "\u0000dec:" + format(v, "f")
        raise TypeError(f"cannot write {type(v).__name__} as JSON")

    return _DEC.sub(r"\1", json.dumps(body, default=default))


def loads(data: bytes | str) -> Any:
    return json.loads(data, parse_float=Decimal)


# ---- the v3 API ------------------------------------------------------------------------------------------------


class QuickBooksApi:
    """One company's v3 API with an access token. Raises the errors above; returns the parsed JSON (Decimals)."""

    def __init__(self, base_url: str, realm_id: str, access_token: str, minor_version: int = 75,
                 timeout: float = 30.0, http: httpx.Client | None = None, throttle: Throttle | None = None) -> None:
        self.base = f"{base_url.rstrip('/')}/v3/company/{realm_id}"
        self.realm_id = realm_id
        self.access_token = access_token
        self.minor_version = minor_version
        self.http = http or httpx.Client(timeout=timeout)
        self.throttle = throttle or THROTTLE
        self.calls = 0

    def request(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None,
                request_id: str | None = None, content_type: str = "application/json") -> Any:
        query = {**(params or {}), "minorversion": str(self.minor_version)}
        if request_id:
            query["requestid"] = request_id
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        content: str | None = None
        if body is not None:
            headers["Content-Type"] = content_type
            content = body if isinstance(body, str) else dumps(body)
        self.throttle.wait(self.realm_id, batch=path == "batch")
        self.calls += 1
        try:
            r = self.http.request(method, f"{self.base}/{path}", params=query, content=content, headers=headers)
        except httpx.TransportError as e:
            raise ServerError(0, "transport", str(e)) from e
        if r.status_code == 200:
            return loads(r.content)
        raise _error(r)

    # entities ------------------------------------------------------------------------------------------------

    def create(self, entity: str, body: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = self.request("POST", entity.lower(), body=body, request_id=request_id)[entity]
        return out

    def read(self, entity: str, obj_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"{entity.lower()}/{obj_id}")[entity]
        return out

    def update(self, entity: str, body: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
        """A sparse update: `body` has Id, SyncToken and only the fields to change."""
        out: dict[str, Any] = self.request("POST", entity.lower(), body={**body, "sparse": True},
                                           request_id=request_id)[entity]
        return out

    def void_invoice(self, obj_id: str, sync_token: str, request_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = self.request("POST", "invoice", params={"operation": "void"},
                                           body={"Id": obj_id, "SyncToken": sync_token}, request_id=request_id)
        return dict(out["Invoice"])

    def query(self, text: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", "query", params={"query": text}).get("QueryResponse") or {}
        return out

    def find(self, entity: str, field: str, value: str) -> list[dict[str, Any]]:
        """Objects whose `field` equals `value` (quotes escaped as QuickBooks' query language wants)."""
        quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        return list(self.query(f"select * from {entity} where {field} = '{quoted}'").get(entity) or [])

    def batch(self, items: list[dict[str, Any]], request_id: str | None = None) -> list[dict[str, Any]]:
        """Up to 30 operations in one call; one response item per bId (an object or a Fault)."""
        out: list[dict[str, Any]] = self.request("POST", "batch", body={"BatchItemRequest": items},
                                                 request_id=request_id)["BatchItemResponse"]
        return out

    def cdc(self, entities: list[str], changed_since: str) -> dict[str, list[dict[str, Any]]]:
        """Objects changed since an ISO time (30 days back at most), by entity."""
        data = self.request("GET", "cdc", params={"entities": ",".join(entities), "changedSince": changed_since})
        out: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        for resp in data.get("CDCResponse") or []:
            for qr in resp.get("QueryResponse") or []:
                for key, value in qr.items():
                    if isinstance(value, list):
                        out.setdefault(key, []).extend(value)
        return out

    def company_info(self) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"companyinfo/{self.realm_id}")["CompanyInfo"]
        return out

    def close(self) -> None:
        self.http.close()


def _error(r: httpx.Response) -> QuickBooksError:
    code = message = detail = ""
    try:
        data = loads(r.content)
        fault = data.get("Fault") or data.get("fault") or {}
        errors = fault.get("Error") or fault.get("error") or []
        if errors:
            e = errors[0]
            code = str(e.get("code", ""))
            message = str(e.get("Message") or e.get("message") or "")
            detail = str(e.get("Detail") or e.get("detail") or "")
    except (ValueError, AttributeError):
        message = r.text[:300]
    if r.status_code == 429:
        retry = r.headers.get("Retry-After")
        try:
            seconds = float(retry) if retry else None
        except ValueError:
            seconds = None
        return RateLimited(429, code, message, detail, seconds)
    if r.status_code >= 500:
        return ServerError(r.status_code, code, message, detail)
    if r.status_code == 401:
        return AuthFailed(401, code, message, detail)
    if code == "5010":
        return StaleObject(r.status_code, code, message, detail)
    return Fault(r.status_code, code, message, detail)


def fault_of(item: dict[str, Any]) -> QuickBooksError | None:
    """The error of one batch response item, or None when it succeeded."""
    fault = item.get("Fault")
    if not fault:
        return None
    e = (fault.get("Error") or [{}])[0]
    code = str(e.get("code", ""))
    cls = StaleObject if code == "5010" else Fault
    return cls(400, code, str(e.get("Message", "")), str(e.get("Detail", "")))


# ---- OAuth -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int | None
    realm_id: str = ""


class OAuthError(Exception):
    """The token endpoint refused (invalid_grant: the refresh token is revoked or expired; reconnect)."""


class QuickBooksAuth:
    """Intuit's OAuth 2.0 authorization-code flow through intuit-oauth's AuthClient. `environment` is sandbox,
    production, or a discovery-document URL (AuthClient fetches the document when constructed)."""

    def __init__(self, settings: Settings) -> None:
        self.client_id = settings.quickbooks_client_id or ""
        self.client_secret = settings.quickbooks_client_secret.get_secret_value() \
            if settings.quickbooks_client_secret else ""
        self.redirect_uri = settings.quickbooks_redirect()
        self.environment = settings.quickbooks_environment

    def _client(self, **kw: Any) -> Any:
        from intuitlib.client import AuthClient  # imported on use: it pulls in requests and jwt

        return AuthClient(self.client_id, self.client_secret, self.redirect_uri, self.environment, **kw)

    def authorization_url(self, state: str) -> str:
        from intuitlib.enums import Scopes

        client = self._client()
        try:
            return str(client.get_authorization_url([Scopes.ACCOUNTING], state_token=state))
        finally:
            client.close()  # AuthClient is a requests.Session: its pooled connection would linger

    def _tokens(self, client: Any) -> Tokens:
        refresh_in = getattr(client, "x_refresh_token_expires_in", None)
        return Tokens(str(client.access_token), str(client.refresh_token), int(client.expires_in or 3600),
                      int(refresh_in) if refresh_in else None, str(client.realm_id or ""))

    def exchange(self, code: str, realm_id: str) -> Tokens:
        from intuitlib.exceptions import AuthClientError

        client = self._client()
        try:
            client.get_bearer_token(code, realm_id=realm_id)
        except AuthClientError as e:
            raise OAuthError(f"QuickBooks refused the authorization code ({e.status_code}): {e.content!r}") from e
        finally:
            client.close()
        return self._tokens(client)

    def refresh(self, refresh_token: str) -> Tokens:
        from intuitlib.exceptions import AuthClientError

        client = self._client()
        try:
            client.refresh(refresh_token=refresh_token)
        except AuthClientError as e:
            raise OAuthError(f"QuickBooks refused the refresh token ({e.status_code}): {e.content!r}") from e
        finally:
            client.close()
        return self._tokens(client)

    def revoke(self, token: str) -> bool:
        from intuitlib.exceptions import AuthClientError

        client = self._client()
        try:
            return bool(client.revoke(token=token))
        except AuthClientError:
            return False
        finally:
            client.close()
