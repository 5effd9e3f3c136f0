"""Staff passwords and dashboard sign-in sessions.

Passwords are hashed with argon2id (argon2-cffi). A session is a random token in an HttpOnly cookie, stored as its
SHA-256 with the user, a per-session CSRF token and an expiry; signing out, a new password or a deactivated user
ends it.

Failed sign-ins are throttled three ways, so that knowing someone's e-mail is not enough to keep them out:
* per client address (any e-mail): an address that keeps failing is locked, longer each time (up to 30 minutes);
* per e-mail from that address: locked after a few failures, longer each time (up to 30 minutes);
* per e-mail from anywhere: only ever a short delay (at most ACCOUNT_DELAY_CAP), which slows guessing spread over
  many addresses without locking the owner out: their right password from their own address gets in after it.
Rows older than FORGET_AFTER are purged (on each failure, and by `purge_throttle`).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, or_, select, update

from domain.errors import BillingError, NotFound, Unauthenticated, ValidationFailed
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.services.users import actor_for_user, hash_token
from domain.store.tables import LoginThrottleRow, UserRow, WebSessionRow
from domain.store.uow import UnitOfWork

SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
FREE_FAILURES = 5                     # failures of one e-mail from one address before they are locked
FIRST_LOCK = timedelta(minutes=1)     # doubled with each further failure ...
LONGEST_LOCK = timedelta(minutes=30)  # ... up to this
ADDRESS_FREE_FAILURES = 20            # failures from one address (any e-mail) before it is locked
ACCOUNT_FREE_FAILURES = 10            # failures of one e-mail (any address) before each costs a delay ...
ACCOUNT_FIRST_DELAY = timedelta(seconds=1)
ACCOUNT_DELAY_CAP = timedelta(seconds=15)  # ... which never grows past this
FORGET_AFTER = timedelta(days=1)      # a throttle row nobody failed on for this long is deleted

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a wrong e-mail takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Throttled(BillingError):
    code = "auth.throttled"
    status = 429


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the cookie's token (shown once, stored hashed) and the session's CSRF token."""

    token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class WebSession:
    """Who a session cookie speaks for, and the CSRF token its forms must carry."""

    actor: Actor
    name: str
    csrf_token: str
    expires_at: datetime


def set_password(uow: UnitOfWork, actor: Actor, email: str, password: str) -> None:
    """Give a user a password for the dashboard; their open sessions end (whoever knew the old one is out)."""
    require(actor, Perm.MANAGE_USERS)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password")
    if not password.strip():
        raise ValidationFailed("a password cannot be only spaces", field="password")
    hashed = _hasher.hash(password)
    with uow:
        row = uow.users.by_email(email.strip().lower())
        if row is None:
            raise NotFound(f"no user with e-mail {email}", code="user.not_found", field="email")
        row.password_hash = hashed
        ended = _revoke_all(uow, row.id)
        uow.audit.record(actor, "user.password_set", "user", row.id, after={"sessions_ended": ended})
        uow.commit()


def _revoke_all(uow: UnitOfWork, user_id: int) -> int:
    result = uow.session.execute(update(WebSessionRow).where(
        WebSessionRow.user_id == user_id, WebSessionRow.revoked_at.is_(None)).values(revoked_at=uow.clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)


def _lock_for(failures: int, free: int = FREE_FAILURES, first: timedelta = FIRST_LOCK,
              cap: timedelta = LONGEST_LOCK) -> timedelta | None:
    if failures < free:
        return None
    lock: timedelta = min(first * (2 ** min(failures - free, 30)), cap)
    return lock


@dataclass(frozen=True, slots=True)
class _Key:
    """A throttle row's key and how it locks. Keys share the login_throttle table (its `email` column)."""

    key: str
    what: str
    free: int
    first: timedelta
    cap: timedelta


def _keys(email: str, address: str) -> list[_Key]:
    addr = address.strip()[:60] or "unknown"
    return [_Key(f"addr:{addr}", "sign-ins from your address", ADDRESS_FREE_FAILURES, FIRST_LOCK, LONGEST_LOCK),
            _Key(f"pair:{email[:250]}|{addr}", "sign-ins for this e-mail from your address", FREE_FAILURES,
                 FIRST_LOCK, LONGEST_LOCK),
            _Key(email[:320], "sign-ins for this e-mail", ACCOUNT_FREE_FAILURES, ACCOUNT_FIRST_DELAY,
                 ACCOUNT_DELAY_CAP)]


def sign_in(uow: UnitOfWork, email: str, password: str, user_agent: str = "", address: str = "") -> SignedIn:
    """Check an e-mail and password and open a session. The same refusal for a wrong e-mail or password.
    `address` is the client's network address (throttled on its own, see the module's docstring)."""
    key = email.strip().lower()[:320]
    if not key:
        raise ValidationFailed("enter your e-mail", field="email")
    if not password:
        raise ValidationFailed("enter your password", field="password")
    keys = _keys(key, address)
    with uow:
        now = uow.clock.now()
        rows = {k.key: uow.session.get(LoginThrottleRow, k.key, with_for_update=True) for k in keys}
        for k in keys:
            throttle = rows[k.key]
            if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
                wait = int((throttle.locked_until - now).total_seconds()) + 1
                raise Throttled(f"too many failed {k.what}: try again in {wait} seconds",
                                field="email", details={"retry_after": wait})
        row = uow.users.by_email(key)
        if not _verify(row.password_hash if row is not None and row.active else None, password[:MAX_PASSWORD]):
            for k in keys:
                throttle = rows[k.key]
                if throttle is None:
                    throttle = LoginThrottleRow(email=k.key, failures=0)
                    uow.session.add(throttle)
                throttle.failures += 1
                throttle.last_failed_at = now
                lock = _lock_for(throttle.failures, k.free, k.first, k.cap)
                throttle.locked_until = now + lock if lock else None
            uow.flush()
            _purge(uow, now)
            uow.commit()
            raise Unauthenticated("wrong e-mail or password (ask an owner to set one: "
                                  "`billable users set-password EMAIL`)", code="auth.bad_credentials",
                                  field="password")
        assert row is not None
        for k in keys[1:]:  # success forgets this e-mail's failures; the address's stay (it may guess others)
            if rows[k.key] is not None:
                uow.session.delete(rows[k.key])
        if _hasher.check_needs_rehash(row.password_hash or ""):
            row.password_hash = _hasher.hash(password)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + SESSION_TTL
        # Ended sessions are of no further use: each sign-in sweeps its user's.
        uow.session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id, or_(
            WebSessionRow.expires_at < now, WebSessionRow.revoked_at.is_not(None))))
        session = WebSessionRow(token_hash=hash_token(token), user_id=row.id, csrf_token=csrf,
                                user_agent=user_agent[:300], created_at=now, expires_at=expires)
        uow.session.add(session)
        uow.flush()
        uow.audit.record(actor_for_user(uow, row), "user.signed_in", "user", row.id,
                         after={"session": session.id, "channel": "dashboard"})
        uow.commit()
    return SignedIn(token, csrf, expires)


def _purge(uow: UnitOfWork, now: datetime) -> int:
    result = uow.session.execute(delete(LoginThrottleRow).where(
        LoginThrottleRow.last_failed_at < now - FORGET_AFTER,
        or_(LoginThrottleRow.locked_until.is_(None), LoginThrottleRow.locked_until < now)))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_throttle(uow: UnitOfWork) -> int:
    """Delete throttle rows nobody failed on for FORGET_AFTER (and no longer locked); how many went."""
    with uow:
        gone = _purge(uow, uow.clock.now())
        uow.commit()
    return gone


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, password) and hashed is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session_for(uow: UnitOfWork, token: str) -> WebSession:
    """The signed-in user behind a session cookie, or a refusal (missing, unknown, expired, revoked, inactive)."""
    if not token:
        raise Unauthenticated("not signed in", field="session")
    with uow:
        found = uow.session.execute(select(WebSessionRow, UserRow).join(UserRow, UserRow.id == WebSessionRow.user_id)
                                    .where(WebSessionRow.token_hash == hash_token(token))).first()
        if found is None:
            raise Unauthenticated("not signed in", field="session")
        session, user = found
        if session.revoked_at is not None or session.expires_at <= uow.clock.now() or not user.active:
            raise Unauthenticated("your session has ended: sign in again", code="auth.session_ended",
                                  field="session")
        return WebSession(actor_for_user(uow, user), user.name or user.email, session.csrf_token,
                          session.expires_at)


def csrf_ok(session: WebSession, presented: str | None) -> bool:
    """Whether a form carried this session's CSRF token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(session.csrf_token.encode(), (presented or "").encode())


def sign_out(uow: UnitOfWork, token: str) -> None:
    """End the session behind a cookie (nothing happens for an unknown or ended one)."""
    with uow:
        session = uow.session.execute(select(WebSessionRow).where(
            WebSessionRow.token_hash == hash_token(token), WebSessionRow.revoked_at.is_(None))).scalar_one_or_none()
        if session is None:
            return
        session.revoked_at = uow.clock.now()
        user = uow.users.get(session.user_id)
        if user is not None:
            uow.audit.record(actor_for_user(uow, user), "user.signed_out", "user", user.id,
                             after={"session": session.id, "channel": "dashboard"})
        uow.commit()


def end_sessions(uow: UnitOfWork, actor: Actor, email: str) -> int:
    """Sign a user out everywhere (a lost laptop); returns how many sessions ended."""
    require(actor, Perm.MANAGE_USERS)
    with uow:
        row = uow.users.by_email(email.strip().lower())
        if row is None:
            raise NotFound(f"no user with e-mail {email}", code="user.not_found", field="email")
        ended = _revoke_all(uow, row.id)
        uow.audit.record(actor, "user.sessions_ended", "user", row.id, after={"sessions_ended": ended})
        uow.commit()
    return ended
