"""A small HTTP client for the API, users with tokens, and a snapshot of the database to prove 'unchanged'."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from domain.model.roles import Actor, Role
from domain.services import users
from domain.store.session import Database
from domain.store.tables import metadata


class Api:
    """httpx against the live server, as one user. `api.post(path, json=..., key=...)` sends an
    Idempotency-Key when `key` is given (`key=True`: a fresh random one)."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url
        self.token = token
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def as_(self, token: str | None) -> Api:
        """Another client of the same server, as someone else (close it, or use the `as_user` fixture)."""
        return Api(self.base_url, token)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.patch(path, **kw)

    def post(self, path: str, json: Any = None, key: str | bool | None = None, **kw: Any) -> httpx.Response:
        return self.http.post(path, json=json, headers=_with_key(kw.pop("headers", None), key), **kw)

    def ok(self, method: str, path: str, status: int | None = None, key: str | bool | None = None,
           **kw: Any) -> Any:
        """Call and insist on the given status (any 2xx by default); return the JSON body."""
        r = self.http.request(method, path, headers=_with_key(kw.pop("headers", None), key), **kw)
        good = r.status_code == status if status is not None else 200 <= r.status_code < 300
        assert good, f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def close(self) -> None:
        self.http.close()


def _with_key(headers: dict[str, str] | None, key: str | bool | None) -> dict[str, str]:
    out = dict(headers or {})
    if key:
        out["Idempotency-Key"] = uuid.uuid4().hex if key is True else key
    return out


def make_user(db: Database, email: str, role: Role | str) -> str:
    """Create a user directly through the service (as the CLI does) and return their API token."""
    _, token = users.add_user(db.uow(), Actor.system("tests"), users.UserIn(email=email, role=Role(role)))
    return token


def row_counts(db: Database, skip: tuple[str, ...] = ("idempotency_keys",)) -> dict[str, int]:
    """Rows per table: equal before and after a refused request means the request changed nothing."""
    with db.engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables if t.name not in skip}
