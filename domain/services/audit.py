"""Reading and verifying the audit log."""

from __future__ import annotations

from collections.abc import Callable

from domain.errors import ValidationFailed
from domain.model.audit_chain import GENESIS, mismatch
from domain.model.roles import Actor, Perm, Role
from domain.services._auth import require
from domain.services.views import AuditEntryView, VerifyReport
from domain.store.uow import UnitOfWork, audit_content

SUBJECT_TYPES = ("invoice", "client", "arrangement", "time_entry", "expense", "milestone", "sla_breach", "user",
                 "workspace", "event", "rule", "parked_payment", "digest",
                 "client_update_proposal", "accounting_payment")  # issue 16, inbound


def audit_history(uow: UnitOfWork, actor: Actor, subject_type: str | None = None, subject_id: str | None = None,
                  limit: int = 200, after_seq: int = 0) -> list[AuditEntryView]:
    """Audit entries in order, optionally for one subject. Account managers may read their clients' only."""
    require(actor, Perm.VIEW_BOOKS)
    if subject_type is not None and subject_type not in SUBJECT_TYPES:
        raise ValidationFailed(f"unknown subject_type {subject_type!r}; one of {', '.join(SUBJECT_TYPES)}",
                               field="subject_type")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("must be between 1 and 1000", field="limit")
    with uow:
        if actor.role != Role.ACCOUNT_MANAGER:
            return [AuditEntryView.of(r) for r in uow.audit_log.for_subject(subject_type, subject_id, limit, after_seq)]
        # Account managers read their clients' entries only. The client sits inside each entry's snapshot, so
        # filter here, reading on until the page is full: a page must not come back short (or empty) just
        # because other clients' entries came first.
        allowed = actor.client_ids or frozenset()
        out: list[AuditEntryView] = []
        while len(out) < limit:
            rows = uow.audit_log.for_subject(subject_type, subject_id, 1000, after_seq)
            for r in rows:
                if client_of(r) in allowed:
                    out.append(AuditEntryView.of(r))
                    if len(out) == limit:
                        break
            if len(rows) < 1000:
                break
            after_seq = rows[-1].seq
        return out


def client_of(row: object) -> int | None:
    """The client an audit entry is about (its snapshots' client id, or the client it names), if any."""
    for snap in (getattr(row, "after", None), getattr(row, "before", None)):
        if isinstance(snap, dict) and isinstance(snap.get("client_id"), int):
            return int(snap["client_id"])
    if getattr(row, "subject_type", None) == "client":
        return int(getattr(row, "subject_id", 0))
    return None


def verify_chain(uow: UnitOfWork, actor: Actor, progress: Callable[[int, int], None] | None = None,
                 chunk: int = 2000) -> VerifyReport:
    """Check every entry's signature (HMAC with the audit key that signed it) and link from the first entry;
    report the first entry that was altered, removed or not signed with a configured key."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        total = uow.audit_log.count()
        prev, after, expected, checked = GENESIS, 0, 1, 0
        while True:
            rows = uow.audit_log.chunk(after, chunk)
            if not rows:
                break
            for r in rows:
                if r.seq != expected:
                    return VerifyReport(ok=False, entries=total, first_broken_seq=expected,
                                        message=f"entry {expected} was removed")
                # The entry itself first (its MAC covers the link it records), then that link.
                why = mismatch(uow.keyring, r.key_id, r.prev_hash, audit_content(r), r.hash)
                if why is None and r.prev_hash != prev:
                    why = f"does not follow entry {r.seq - 1}: an entry was replaced or removed"
                if why is not None:
                    return VerifyReport(ok=False, entries=total, first_broken_seq=r.seq,
                                        message=f"entry {r.seq} ({r.action}, {r.at:%Y-%m-%d %H:%M}) {why}")
                prev, expected = r.hash, r.seq + 1
                checked += 1
            after = rows[-1].seq
            if progress:
                progress(checked, total)
        head = uow.audit_log.head()
        if head is not None and (head.last_seq != expected - 1 or head.last_hash != prev):
            return VerifyReport(ok=False, entries=total, first_broken_seq=expected,
                                message=f"entries after {expected - 1} were removed")
        return VerifyReport(ok=True, entries=total, first_broken_seq=None,
                            message=f"all {total} entries verify")
