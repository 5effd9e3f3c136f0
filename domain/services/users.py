"""People and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from domain.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from domain.model.roles import Actor, Perm, Role
from domain.services._auth import require
from domain.services._input import parse_input
from domain.services.views import UserView
from domain.store.tables import UserRow
from domain.store.uow import UnitOfWork


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "bl_" + secrets.token_urlsafe(32)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    role: Role
    name: str = Field(default="", max_length=200)


def add_user(uow: UnitOfWork, actor: Actor, data: UserIn | Mapping[str, Any]) -> tuple[UserView, str]:
    """Create a user and return them with a fresh API token (shown once, stored hashed)."""
    require(actor, Perm.MANAGE_USERS)
    data = parse_input(UserIn, data)
    with uow:
        if uow.users.by_email(data.email):
            raise Conflict(f"a user with e-mail {data.email} already exists", code="user.exists", field="email")
        token = new_token()
        row = uow.users.add(UserRow(email=data.email.lower(), name=data.name, role=data.role.value,
                                    token_hash=hash_token(token), active=True, created_at=uow.clock.now()))
        uow.audit.record(actor, "user.created", "user", row.id, after={"email": row.email, "role": row.role})
        view = UserView.of(row)
        uow.commit()
    return view, token


def rotate_token(uow: UnitOfWork, actor: Actor, email: str) -> str:
    """Replace a user's API token; the old one stops working at once."""
    require(actor, Perm.MANAGE_USERS)
    with uow:
        row = uow.users.by_email(email)
        if row is None:
            raise NotFound(f"no user with e-mail {email}", code="user.not_found", field="email")
        token = new_token()
        row.token_hash = hash_token(token)
        uow.audit.record(actor, "user.token_rotated", "user", row.id)
        uow.commit()
    return token


def set_active(uow: UnitOfWork, actor: Actor, email: str, active: bool) -> UserView:
    require(actor, Perm.MANAGE_USERS)
    with uow:
        row = uow.users.by_email(email)
        if row is None:
            raise NotFound(f"no user with e-mail {email}", code="user.not_found", field="email")
        if not active and row.active and row.role == Role.OWNER.value and uow.users.active_owners() == 1:
            raise Conflict("this is the last active owner: add another owner first, or nobody could manage "
                           "users any more", code="user.last_owner", field="email")
        before = {"active": row.active}
        row.active = active
        uow.audit.record(actor, "user.activated" if active else "user.deactivated", "user", row.id,
                         before=before, after={"active": active})
        view = UserView.of(row)
        uow.commit()
    return view


def list_users(uow: UnitOfWork, actor: Actor) -> list[UserView]:
    require(actor, Perm.MANAGE_USERS)
    with uow:
        return [UserView.of(u) for u in uow.users.list()]


def actor_for_user(uow: UnitOfWork, row: UserRow) -> Actor:
    role = Role(row.role)
    scope = uow.users.managed_client_ids(row.id) if role == Role.ACCOUNT_MANAGER else None
    return Actor.person(row.id, row.email, role, scope)


def authenticate_token(uow: UnitOfWork, token: str) -> Actor:
    """The actor behind a bearer token, or a refusal that says what to do."""
    if not token:
        raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <token>' (make one with "
                              "`billable users add EMAIL --role ROLE`)", field="Authorization")
    with uow:
        row = uow.users.by_token_hash(hash_token(token))
        if row is None or not row.active:
            raise Unauthenticated("unknown or revoked token", field="Authorization")
        return actor_for_user(uow, row)


def actor_by_email(uow: UnitOfWork, email: str) -> Actor:
    """The actor for an active user (CLI --as, Slack mapping)."""
    with uow:
        row = uow.users.by_email(email)
        if row is None or not row.active:
            raise ValidationFailed(f"no active user with e-mail {email}", code="user.not_found", field="email")
        return actor_for_user(uow, row)
