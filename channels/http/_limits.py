"""The outermost layer of the app: what no request may be, whatever route it is for.

* Too large: a body larger than `max_body_bytes` (1 MB by default) is refused with 413 problem+json before anything
  parses or authenticates it. A declared Content-Length over the limit is refused before a byte of the body is
  read; a body without one (chunked) is counted as it streams in and refused the moment it passes the limit, so the
  server never holds more than the limit of it.
* NUL characters: no text we keep may hold one (PostgreSQL refuses them in text and JSON), so a body, path or query
  carrying one (raw, JSON-escaped or URL-encoded) is refused with 422 naming where, before any route sees it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.http._problems import problem

DEFAULT_MAX_BODY = 1_048_576


def _detail(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes; send less (or split it)"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit: the app's HTTP error handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _detail(limit))
        self.code, self.field = "http.too_large", "body"


class NulInRequest(HTTPException):
    """Raised from `receive` when the complete body carries a NUL character."""

    def __init__(self) -> None:
        super().__init__(422, _NUL_DETAIL)
        self.code, self.field = "validation.nul_character", "body"


_NUL_DETAIL = "the request carries a NUL character (\\u0000), which no text may hold; remove it"
_NUL_FORMS = (b"\x00", b"\\u0000", b"%00", b"%5Cu0000", b"%5cu0000")
_BINARY = ("application/pdf", "application/octet-stream", "image/", "audio/", "video/")


def _has_nul(data: bytes) -> bool:
    return any(form in data for form in _NUL_FORMS)


class BodyLimit:
    """ASGI middleware: 413 for any HTTP request whose body is (or is declared) larger than `limit` bytes; 422 for
    one whose body, path or query carries a NUL character."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_MAX_BODY, larger: dict[str, int] | None = None) -> None:
        # `larger`: path -> its own limit (a book import's CSV files may be larger than any other request)
        self.app, self.default, self.larger = app, limit, dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", "").rstrip("/"), self.default)
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return
        if "\x00" in scope.get("path", "") or _has_nul(scope.get("query_string", b"")):
            await _refuse_nul(scope, receive, send, "query")
            return
        seen = 0
        started = False
        check_nul = not _header(scope, b"content-type").startswith(_BINARY)
        body = bytearray()

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise BodyTooLarge(limit)
                if check_nul:
                    body.extend(chunk)  # at most `limit` bytes, checked whole (a NUL may straddle two chunks)
                    if not message.get("more_body", False) and _has_nul(bytes(body)):
                        raise NulInRequest()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(scope, receive, send, limit)
        except NulInRequest:
            if started:
                raise
            await _refuse_nul(scope, receive, send, "body")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1").lower()
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            text = value.strip()
            # A malformed length is the server's (h11's) to refuse; a huge one is ours.
            if not (text.isdigit() and text.isascii()):
                return None
            return int(text) if len(text) <= 18 else 10**18
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = problem(413, "http.too_large", _detail(limit), field="body", details={"max_bytes": limit},
                       headers={"Connection": "close"})
    await response(scope, receive, send)


async def _refuse_nul(scope: Scope, receive: Receive, send: Send, where: str) -> None:
    await problem(422, "validation.nul_character", _NUL_DETAIL, field=where)(scope, receive, send)
