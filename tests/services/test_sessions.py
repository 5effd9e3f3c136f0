"""Dashboard sign-in: argon2 passwords, sessions that end (expiry, sign-out, new password, deactivation), CSRF
tokens per session, and throttled failures, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from domain.errors import Forbidden, Unauthenticated, ValidationFailed
from domain.model.roles import Actor, Role
from domain.services import sessions, users
from domain.services.demo import DEMO_EMAILS
from domain.store.clock import FixedClock
from domain.store.session import Database


def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


@pytest.fixture
def demo(db: Database, system: Actor) -> Database:
    """The demo's people (their e-mails and roles), without the rest of the demo."""
    for role, email in DEMO_EMAILS.items():
        users.add_user(db.uow(), system, users.UserIn(email=email, role=role))
    return db


def test_passwords_sessions_and_their_end(demo: Database, system: Actor) -> None:
    db = demo
    email = DEMO_EMAILS[Role.FINANCE]
    with pytest.raises(ValidationFailed):
        sessions.set_password(db.uow(), system, email, "short")
    viewer = users.actor_by_email(db.uow(), DEMO_EMAILS[Role.VIEWER])
    with pytest.raises(Forbidden):
        sessions.set_password(db.uow(), viewer, email, "a long enough password")
    sessions.set_password(db.uow(), system, email, "a long enough password")
    stored = _rows(db, "SELECT password_hash FROM users WHERE email = :e", e=email)[0][0]
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored

    signed = sessions.sign_in(db.uow(), email.upper(), "a long enough password", "tests")
    ws = sessions.session_for(db.uow(), signed.token)
    assert ws.actor.email == email and ws.actor.role == Role.FINANCE
    assert sessions.csrf_ok(ws, signed.csrf_token) and not sessions.csrf_ok(ws, "") and not sessions.csrf_ok(ws, "x")
    assert _rows(db, "SELECT count(*) FROM web_sessions WHERE token_hash = :t", t=signed.token)[0][0] == 0  # hashed

    # expiry
    clock = db.clock
    assert isinstance(clock, FixedClock)
    start = clock.now()
    clock.set(start + sessions.SESSION_TTL + timedelta(seconds=1))
    with pytest.raises(Unauthenticated):
        sessions.session_for(db.uow(), signed.token)
    clock.set(start)
    # a new password ends every session
    sessions.set_password(db.uow(), system, email, "another long password")
    with pytest.raises(Unauthenticated):
        sessions.session_for(db.uow(), signed.token)
    # sign-out ends this one; deactivating the user ends all
    again = sessions.sign_in(db.uow(), email, "another long password")
    sessions.sign_out(db.uow(), again.token)
    with pytest.raises(Unauthenticated):
        sessions.session_for(db.uow(), again.token)
    third = sessions.sign_in(db.uow(), email, "another long password")
    users.set_active(db.uow(), system, email, False)
    with pytest.raises(Unauthenticated):
        sessions.session_for(db.uow(), third.token)
    with pytest.raises(Unauthenticated):
        sessions.sign_in(db.uow(), email, "another long password")


def test_failed_sign_ins_lock_the_email_for_a_while(demo: Database, system: Actor) -> None:
    db = demo
    email = DEMO_EMAILS[Role.OWNER]
    sessions.set_password(db.uow(), system, email, "the right password")
    for _ in range(sessions.FREE_FAILURES):
        with pytest.raises(Unauthenticated):
            sessions.sign_in(db.uow(), email, "a wrong password")
    with pytest.raises(sessions.Throttled) as locked:
        sessions.sign_in(db.uow(), email, "the right password")  # even the right one, while locked
    assert locked.value.details["retry_after"] <= 61
    clock = db.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(minutes=2))
    assert sessions.sign_in(db.uow(), email, "the right password").token  # and success forgets the failures
    assert _rows(db, "SELECT count(*) FROM login_throttle WHERE email = :e", e=email)[0][0] == 0
    # an unknown e-mail is refused the same way, and throttled the same way
    with pytest.raises(Unauthenticated) as unknown:
        sessions.sign_in(db.uow(), "nobody@nowhere.example", "whatever it is")
    assert unknown.value.code == "auth.bad_credentials"
