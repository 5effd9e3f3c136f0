"""Idempotency keys for requests that change things (HTTP POSTs), with Stripe's semantics.

A client sends `Idempotency-Key: <key>` with a request it may retry. The key is scoped to the authenticated
principal (two users may use the same key without meeting) and kept for 24 hours.

- The first request with a key *reserves* it: an `in_flight` row, committed before the request runs, so a
  concurrent duplicate sees it. Two reservations racing for one key are settled by the unique constraint on
  (principal, key): the loser's insert fails, it re-reads the winner's row, and gets 409 (or the replay).
- When the request is done its response (status and body) is stored; the same key with the same request
  (method, path and body) replays that response exactly, whatever it was: a 201, a 4xx refusal, or a 5xx.
  Storing failures as well as successes is deliberate: the client learns the one true outcome of the
  request, and a retry can never turn a refusal into a second, different execution.
- Request-shape validation failures (the body did not parse) are stored too: Stripe instead lets such a
  key be reused, but storing them keeps one rule ("a key answers one request, once") and needs no
  release step that could race. The client fixes the body and sends it with a new key.
- The same key with a different method, path or body is refused (`idempotency.mismatch`, 422): it is a
  client bug, and executing it would make the key mean two things.
- The same key while the first request is still running is refused (`idempotency.in_flight`, 409); the
  client retries a moment later and gets the replay.
- Keys older than 24 hours may be purged (`purge_expired`); an expired key is treated as new.

A reservation whose process died mid-request stays in flight until the key expires: the request's effect
may or may not have committed, so nothing re-runs it on the client's behalf. The client checks (GET) and
continues with a new key. These rows are transport bookkeeping, not the books: they are not audited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from domain.errors import IdempotencyInFlight, IdempotencyMismatch, ValidationFailed
from domain.model.roles import Actor
from domain.store.tables import IdempotencyKeyRow
from domain.store.uow import UnitOfWork

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
IN_FLIGHT = "in_flight"
COMPLETED = "completed"


class BadIdempotencyKey(ValidationFailed):
    code = "idempotency.bad_key"
    status = 400


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to a request, to be replayed exactly."""

    status: int
    body: str


def principal_of(actor: Actor) -> str:
    """Whose key space a request uses: one per user (system actors share theirs by label)."""
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"{actor.kind.value}:{actor.label or actor.role.value}"[:100]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of what the request asks for. JSON bodies are canonicalised (key order and whitespace do not
    matter, so a retry from another client library still matches); other bodies are hashed as bytes."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode() if body.strip() else b""
    except (ValueError, UnicodeDecodeError):
        canonical = b"raw:" + body
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise BadIdempotencyKey(f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters (a UUID is ideal)",
                                field="Idempotency-Key")
    return key


def begin(uow: UnitOfWork, actor: Actor, key: str, method: str, path: str, request_hash: str,
          ) -> StoredResponse | None:
    """Reserve `key` for this request and return None (run it, then `complete`), or return the stored first
    response to replay. Refuses a key in use for another request, or one whose request is still running."""
    check_key(key)
    principal = principal_of(actor)
    try:
        with uow:
            now = uow.clock.now()
            row = uow.idempotency.get(principal, key)
            if row is not None and row.created_at < now - TTL:
                uow.idempotency.purge_before(now - TTL)  # expired: the key is free again
                row = None
            if row is None:
                uow.idempotency.add(IdempotencyKeyRow(
                    principal=principal, key=key, method=method.upper()[:10], path=path[:500],
                    request_hash=request_hash, state=IN_FLIGHT, created_at=now))
                uow.commit()
                return None
            return _answer(row, method, path, request_hash)
    except IntegrityError:
        pass  # a concurrent request with the same key reserved it first: read what it holds
    with uow:
        row = uow.idempotency.get(principal, key)
        if row is None:  # pragma: no cover - it won, then expired and was purged within this call
            raise IdempotencyInFlight("a request with this Idempotency-Key is being processed; retry shortly",
                                      field="Idempotency-Key")
        return _answer(row, method, path, request_hash)


def _answer(row: IdempotencyKeyRow, method: str, path: str, request_hash: str) -> StoredResponse:
    if row.method != method.upper()[:10] or row.path != path[:500] or row.request_hash != request_hash:
        what = "method" if row.method != method.upper()[:10] else "path" if row.path != path[:500] else "body"
        raise IdempotencyMismatch(
            f"this Idempotency-Key was used for a different request ({what} differs: first used for "
            f"{row.method} {row.path}); use a new key for a new request", field="Idempotency-Key",
            details={"differs": what})
    if row.state != COMPLETED or row.response_status is None:
        raise IdempotencyInFlight("a request with this Idempotency-Key is still being processed; retry "
                                  "shortly to get its response", field="Idempotency-Key")
    return StoredResponse(row.response_status, row.response_body or "")


def complete(uow: UnitOfWork, actor: Actor, key: str, request_hash: str, status: int, body: str) -> None:
    """Store the response to the request that reserved `key`, for replays."""
    principal = principal_of(actor)
    with uow:
        row = uow.idempotency.get(principal, key)
        if row is None or row.state != IN_FLIGHT or row.request_hash != request_hash:
            return  # purged or taken over meanwhile (only after expiry): nothing of ours to complete
        row.state = COMPLETED
        row.response_status = status
        row.response_body = body
        uow.commit()


def purge_expired(uow: UnitOfWork, actor: Actor, older_than: timedelta = TTL) -> None:
    """Forget keys older than the retention period (24 h by default)."""
    del actor  # maintenance: any principal may tidy up; nothing of the books changes
    with uow:
        uow.idempotency.purge_before(uow.clock.now() - older_than)
        uow.commit()
