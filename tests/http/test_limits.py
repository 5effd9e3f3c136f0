"""The request size limit: a body over the limit (1 MB by default, BILLABLE_MAX_BODY_BYTES) is refused with 413
problem+json before it is parsed or authenticated, whether it declares its length or streams in chunks."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from domain.settings import Settings
from domain.store.session import Database
from tests.support.api import Api, row_counts
from tests.support.fixtures import ServedApp


def _raw(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send a request by hand (headers that promise a body we never send) and read the answer."""
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(head + body)
        out = b""
        while b"\r\n\r\n" not in out or len(out) < 200:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def test_a_declared_200_mb_body_is_413_before_a_byte_is_read(api_server: ServedApp) -> None:
    head = (b"POST /v1/clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 209715200\r\n\r\n")
    answer = _raw(api_server.url, head, b'{"name": ')
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"application/problem+json" in rest
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["code"] == "http.too_large" and body["details"] == {"max_bytes": 1_048_576}


def _chunks(total: int, size: int = 65536) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size


def test_a_streamed_body_over_the_limit_is_413_not_401(api_server: ServedApp) -> None:
    with httpx.Client(base_url=api_server.url, timeout=30) as c:
        for path in ("/v1/clients", "/v1/events/billable", "/app/login", "/v1/email/bounces"):
            r = c.post(path, content=_chunks(3_000_000), headers={"content-type": "application/json"})
            assert r.status_code == 413 and r.json()["code"] == "http.too_large", (path, r.status_code)
            assert r.headers["content-type"] == "application/problem+json"
        # under the limit: the request goes on to authentication as usual
        assert c.post("/v1/clients", content=_chunks(500_000)).status_code == 401


def test_the_limit_is_a_setting() -> None:
    assert Settings(_env_file=None).max_body_bytes == 1_048_576
    assert Settings(_env_file=None, max_body_bytes=5_000_000).max_body_bytes == 5_000_000


def test_a_nul_character_anywhere_in_a_request_is_422_naming_where(api: Api, db: Database) -> None:
    before = row_counts(db)
    for body in ('{"name": "Acme\\u0000", "currency": "EUR"}', '{"name": "Acme\u0000", "currency": "EUR"}'):
        r = api.post("/v1/clients", content=body.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["code"] == "validation.nul_character", r.text
        assert r.json()["field"] == "body"
    r = api.get("/v1/invoices?status=%00draft")
    assert r.status_code == 422 and r.json()["field"] == "query"
    assert api.post("/v1/clients", content=b"name=x%00", headers={
        "content-type": "application/x-www-form-urlencoded"}).status_code == 422
    assert row_counts(db) == before
