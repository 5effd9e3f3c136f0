"""Webhook signature schemes, verified before anything else is read (see shared/design/EXTERNAL-FACTS.md).

* Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
  "{id}.{timestamp}.{body}">` (several space-separated entries allowed), secrets `whsec_<base64 key>`, a tolerance
  both ways (5 minutes).
* HubSpot v3: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256(client secret, method + URI + body + timestamp),
  `X-HubSpot-Request-Timestamp` in milliseconds, older than 5 minutes is refused (we refuse as far ahead too).
* QuickBooks Online: `intuit-signature` = base64 HMAC-SHA256(the app's verifier token, raw body); no signed
  timestamp either (a redelivery is a duplicate by its event id).
* `sha256=<hex HMAC-SHA256(secret, body)>`: Jira Cloud's `X-Hub-Signature`, Toggl Track's
  `X-Webhook-Signature-256`. They carry no signed timestamp; a replayed delivery is a duplicate by its event id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from domain.settings import whsec_key


class SignatureError(Exception):
    """Not authentic: `code` says which check failed, `field` names the header."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.lower())
    if not value:
        raise SignatureError("webhook.signature_missing" if "signature" in name.lower() else
                             "webhook.header_missing", name, f"the {name} header is missing")
    return value


def _fresh(ts: int, now: float, tolerance: int, field: str) -> None:
    if now - ts > tolerance:
        raise SignatureError("webhook.timestamp_too_old", field,
                             f"the timestamp is {int(now - ts)} s old; at most {tolerance} s are accepted")
    if ts - now > tolerance:
        raise SignatureError("webhook.timestamp_in_future", field,
                             f"the timestamp is {int(ts - now)} s ahead of our clock; at most {tolerance} s are "
                             "accepted")


def _int(value: str, field: str) -> int:
    # ASCII digits only, and not absurdly many: int() alone would take "١٢٣", "+1_0" or 5,000 digits.
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 15:
        raise SignatureError("webhook.timestamp_invalid", field, f"the {field} header is not a number")
    return int(text)


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison of two header values; a non-ASCII one simply does not match (hmac's str
    comparison raises TypeError on it)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def standard_webhooks_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(whsec_key(secret), f"{msg_id}.{timestamp}.".encode("utf-8", "replace") + body,
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_standard_webhooks(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float,
                             tolerance: int = 300) -> tuple[str, int]:
    """(webhook-id, webhook-timestamp) of an authentic delivery; raises SignatureError saying what is wrong."""
    msg_id = _header(headers, "webhook-id")
    raw_ts = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    ts = _int(raw_ts, "webhook-timestamp")
    _fresh(ts, now, tolerance, "webhook-timestamp")
    given = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    for secret in secrets:
        expected = standard_webhooks_sign(secret, msg_id, ts, body).split(",", 1)[1]
        if any(_same(expected, g) for g in given):
            return msg_id, ts
    raise SignatureError("webhook.signature_invalid", "webhook-signature",
                         "no v1 signature matches the body with our secret")


def hubspot_sign(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    source = method.upper().encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def verify_hubspot_v3(headers: Mapping[str, str], method: str, uri: str, body: bytes, secrets: Sequence[str],
                      now: float, tolerance: int = 300) -> int:
    """The request timestamp (ms) of an authentic HubSpot request."""
    signature = _header(headers, "X-HubSpot-Signature-v3")
    ts_ms = _int(_header(headers, "X-HubSpot-Request-Timestamp"), "X-HubSpot-Request-Timestamp")
    _fresh(ts_ms // 1000, now, tolerance, "X-HubSpot-Request-Timestamp")
    for secret in secrets:
        if _same(hubspot_sign(secret, method, uri, body, ts_ms), signature.strip()):
            return ts_ms
    raise SignatureError("webhook.signature_invalid", "X-HubSpot-Signature-v3",
                         "the signature does not match method + URI + body + timestamp with our client secret")


def hex_sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hex_hmac(headers: Mapping[str, str], header: str, body: bytes, secrets: Sequence[str]) -> None:
    given = _header(headers, header).strip()
    for secret in secrets:
        if _same(hex_sign(secret, body), given):
            return
    raise SignatureError("webhook.signature_invalid", header, "the signature does not match the body with our secret")


def intuit_sign(verifier_token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def verify_intuit(headers: Mapping[str, str], body: bytes, verifier_tokens: Sequence[str]) -> None:
    """QuickBooks Online's `intuit-signature`; a malformed or non-ASCII value simply does not match."""
    given = _header(headers, "intuit-signature").strip()
    for token in verifier_tokens:
        if _same(intuit_sign(token, body), given):
            return
    raise SignatureError("webhook.signature_invalid", "intuit-signature",
                         "the signature does not match the body with our verifier token")
