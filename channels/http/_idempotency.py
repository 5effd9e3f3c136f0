"""`Idempotency-Key` on every POST, as an ASGI middleware around the routes.

The rules live in `domain.services.idempotency` (see its docstring); this layer only speaks HTTP: it reads
the body, authenticates the caller (keys are per user), asks the service to reserve the key or replay,
runs the route, and hands the response back to the service to keep. It never touches the database itself.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.http._deps import ACTOR_STATE_KEY
from channels.http._problems import PROBLEM_JSON, billing_problem, internal_error
from domain.errors import BillingError, Unauthenticated
from domain.model.roles import Actor
from domain.services import idempotency, users
from domain.store.session import Database

log = logging.getLogger("billable.http")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay_receive = _replaying(body, receive)
        db: Database = scope["app"].state.db
        actor = await _authenticate(db, headers.get("authorization", ""))
        if actor is None:  # no principal, no key space: the route answers 401 itself
            await self.app(scope, replay_receive, send)
            return
        scope.setdefault("state", {})[ACTOR_STATE_KEY] = actor
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        request_hash = idempotency.fingerprint("POST", path, body)
        try:
            stored = await run_in_threadpool(idempotency.begin, db.uow(), actor, key, "POST", path, request_hash)
        except BillingError as e:
            await billing_problem(e)(scope, replay_receive, send)
            return
        if stored is not None:
            await _replay(stored)(scope, replay_receive, send)
            return

        captured = _Captured()
        try:
            await self.app(scope, replay_receive, captured.send)
        except Exception:
            # The route crashed: its 500 is the first response too, and a retry replays it (Stripe does).
            failed = internal_error()
            await _keep(db, actor, key, request_hash, failed.status_code, bytes(failed.body))
            await failed(scope, replay_receive, send)
            raise  # so the server logs the traceback
        await _keep(db, actor, key, request_hash, captured.status, captured.body)
        for message in captured.messages:
            await send(message)


async def _authenticate(db: Database, authorization: str) -> Actor | None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        actor: Actor = await run_in_threadpool(users.authenticate_token, db.uow(readonly=True), token.strip())
    except Unauthenticated:
        return None
    return actor


async def _keep(db: Database, actor: Actor, key: str, request_hash: str, status: int, body: bytes) -> None:
    try:
        await run_in_threadpool(idempotency.complete, db.uow(), actor, key, request_hash, status,
                                body.decode("utf-8", errors="replace"))
    except Exception:
        # The client still gets its answer; the key stays in flight until it expires (see the service).
        log.exception("could not store the response for an Idempotency-Key")


def _replay(stored: idempotency.StoredResponse) -> Response:
    body = stored.body.encode("utf-8")
    media = None if not body else PROBLEM_JSON if stored.status >= 400 else "application/json"
    return Response(body or None, status_code=stored.status, media_type=media, headers={REPLAYED: "true"})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay_receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive


class _Captured:
    """Holds the route's response until it is stored, so what is replayed is exactly what was sent."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.status = 500
        self._body: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self._body.append(message.get("body", b""))
        self.messages.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(self._body)


__all__ = ["HEADER", "REPLAYED", "IdempotencyMiddleware"]


