"""Chat thread ids that say whose thread it is, signed so nobody can make one up for someone else.

`t<user id>.<random>.<signature>`: the owner is checked on every call without a lookup, and a thread exists as
soon as its id is handed out (its memory starts with the first message). Rotating BILLABLE_SECRET_KEY retires
every thread id handed out before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_ID = re.compile(r"^t(\d{1,12})\.([A-Za-z0-9_-]{16})\.([0-9a-f]{24})$")


def _sign(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), f"chat-thread:{body}".encode(), hashlib.sha256).hexdigest()[:24]


def new_thread_id(secret: str, user_id: int) -> str:
    body = f"t{user_id}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_sign(secret, body)}"


def derived_thread_id(secret: str, user_id: int, key: str) -> str:
    """The same thread id every time for a user and an outside conversation key (a Slack thread), unguessable
    without the secret."""
    digest = hmac.new(secret.encode(), f"chat-key:{key}".encode(), hashlib.sha256).digest()
    body = f"t{user_id}.{base64.urlsafe_b64encode(digest).decode()[:16]}"
    return f"{body}.{_sign(secret, body)}"


def owner_of(secret: str, thread_id: str) -> int | None:
    """The user id a thread id was made for, or None if it is not one of ours."""
    m = _ID.match(thread_id)
    if not m:
        return None
    body = f"t{m[1]}.{m[2]}"
    return int(m[1]) if hmac.compare_digest(_sign(secret, body), m[3]) else None
