"""Dashboard sign-in: argon2 passwords, sessions that end (expiry, sign-out, new password, deactivation), CSRF
tokens per session, and throttled failures, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from argon2 import Type
from sqlalchemy import text

from domain.errors import Forbidden, Unauthenticated, ValidationFailed
from domain.model.roles import Actor, Role
from domain.services import sessions, users
from domain.services.demo import DEMO_EMAILS
from domain.store.clock import FixedClock
from domain.store.session import Database
from tests.conftest import PRODUCTION_HASHER


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


def test_passwords_are_hashed_with_the_production_parameters(db: Database, system: Actor,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite hashes cheaply (tests/conftest.py); the product's hasher is argon2id at 64 MiB, 3 passes, 4 lanes
    (RFC 9106's second recommendation), and a password stored at a lower cost is re-hashed at the next sign-in."""
    [production] = PRODUCTION_HASHER
    assert (production.time_cost, production.memory_cost, production.parallelism) == (3, 65536, 4)
    assert production.type is Type.ID
    users.add_user(db.uow(), system, users.UserIn(email="kim@books.example", role=Role.FINANCE))
    sessions.set_password(db.uow(), system, "kim@books.example", "a long enough password")  # the suite's cheap hash
    monkeypatch.setattr(sessions, "_hasher", production)
    monkeypatch.setattr(sessions, "_DUMMY_HASH", production.hash("x"))
    assert sessions.sign_in(db.uow(), "kim@books.example", "a long enough password").token
    stored = _rows(db, "SELECT password_hash FROM users WHERE email = 'kim@books.example'")[0][0]
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # the cheap hash was replaced at sign-in


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


def test_an_attacker_who_knows_the_owners_email_cannot_keep_them_out(demo: Database, system: Actor) -> None:
    """Throttled per address and per account: an attacker's address is locked for long; the account as a whole is
    only ever slowed down, so the owner's right password from another address gets in after a short delay."""
    db = demo
    clock = db.clock
    assert isinstance(clock, FixedClock)
    email = DEMO_EMAILS[Role.OWNER]
    sessions.set_password(db.uow(), system, email, "the right password")
    attacker, owner = "203.0.113.66", "198.51.100.7"
    locked_for: list[int] = []
    for _ in range(40):
        try:
            sessions.sign_in(db.uow(), email, "a wrong guess", address=attacker)
        except sessions.Throttled as e:
            locked_for.append(int(e.details["retry_after"]))
            clock.set(clock.now() + timedelta(seconds=1))
        except Unauthenticated:
            pass
    assert locked_for and max(locked_for) > sessions.ACCOUNT_DELAY_CAP.total_seconds()  # the attacker: long locks
    # the owner, from their own address, while the attacker is locked out
    try:
        sessions.sign_in(db.uow(), email, "the right password", address=owner)
    except sessions.Throttled as e:
        assert int(e.details["retry_after"]) <= sessions.ACCOUNT_DELAY_CAP.total_seconds() + 1
        clock.set(clock.now() + sessions.ACCOUNT_DELAY_CAP + timedelta(seconds=1))
    assert sessions.sign_in(db.uow(), email, "the right password", address=owner).token
    # the attacker's address is still locked, for any e-mail, even with the right password
    with pytest.raises(sessions.Throttled):
        sessions.sign_in(db.uow(), email, "the right password", address=attacker)


def test_many_addresses_guessing_one_account_only_delay_it(demo: Database, system: Actor) -> None:
    db = demo
    clock = db.clock
    assert isinstance(clock, FixedClock)
    email = DEMO_EMAILS[Role.FINANCE]
    sessions.set_password(db.uow(), system, email, "the right password")
    for i in range(60):
        with pytest.raises((Unauthenticated, sessions.Throttled)):
            sessions.sign_in(db.uow(), email, "a wrong guess", address=f"192.0.2.{i}")
    waited = 0
    while True:
        try:
            assert sessions.sign_in(db.uow(), email, "the right password", address="198.51.100.9").token
            break
        except sessions.Throttled as e:
            assert int(e.details["retry_after"]) <= sessions.ACCOUNT_DELAY_CAP.total_seconds() + 1
            clock.set(clock.now() + timedelta(seconds=int(e.details["retry_after"])))
            waited += int(e.details["retry_after"])
    assert waited <= sessions.ACCOUNT_DELAY_CAP.total_seconds() + 1


def test_old_throttle_rows_are_purged(demo: Database, system: Actor) -> None:
    db = demo
    clock = db.clock
    assert isinstance(clock, FixedClock)
    for i in range(5):
        with pytest.raises(Unauthenticated):
            sessions.sign_in(db.uow(), f"nobody{i}@nowhere.example", "whatever it is", address=f"192.0.2.{i}")
    assert _rows(db, "SELECT count(*) FROM login_throttle")[0][0] > 0
    clock.set(clock.now() + sessions.FORGET_AFTER + timedelta(minutes=1))
    assert sessions.purge_throttle(db.uow()) > 0
    assert _rows(db, "SELECT count(*) FROM login_throttle")[0][0] == 0
