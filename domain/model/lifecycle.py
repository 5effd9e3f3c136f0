"""The invoice state machine: allowed transitions in one table; overdue is derived, never stored."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from domain.errors import BadTransition


class Status(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    ISSUED = "issued"
    SENT = "sent"
    VIEWED = "viewed"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.DRAFT: frozenset({S.PENDING_APPROVAL, S.ISSUED}),
    S.PENDING_APPROVAL: frozenset({S.ISSUED, S.DRAFT}),  # approve issues; reject sends back to draft
    S.ISSUED: frozenset({S.SENT, S.VIEWED, S.PARTIALLY_PAID, S.PAID, S.VOID, S.UNCOLLECTIBLE}),
    S.SENT: frozenset({S.VIEWED, S.PARTIALLY_PAID, S.PAID, S.VOID, S.UNCOLLECTIBLE}),
    S.VIEWED: frozenset({S.PARTIALLY_PAID, S.PAID, S.VOID, S.UNCOLLECTIBLE}),
    S.PARTIALLY_PAID: frozenset({S.PARTIALLY_PAID, S.PAID, S.UNCOLLECTIBLE}),
    S.PAID: frozenset(),
    S.VOID: frozenset(),
    S.UNCOLLECTIBLE: frozenset({S.PARTIALLY_PAID, S.PAID}),  # money can still arrive after a write-off
}

# States whose contents are frozen: corrections are credit notes, never edits.
IMMUTABLE = frozenset(S) - {S.DRAFT, S.PENDING_APPROVAL}
# States in which money is owed and payments are accepted.
OPEN = frozenset({S.ISSUED, S.SENT, S.VIEWED, S.PARTIALLY_PAID, S.UNCOLLECTIBLE})


def check_transition(current: str, target: str) -> None:
    """Raise a domain error naming both states when the move is not in the table."""
    cur, tgt = Status(current), Status(target)
    if tgt not in TRANSITIONS[cur]:
        raise BadTransition(f"an invoice cannot go from {cur.value} to {tgt.value}", field="status",
                            details={"from": cur.value, "to": tgt.value})


def is_overdue(status: str, due_date: date | None, balance_minor: int, today: date) -> bool:
    """Overdue: issued, due date passed, money still owed."""
    return (Status(status) in OPEN and Status(status) != S.UNCOLLECTIBLE and due_date is not None
            and due_date < today and balance_minor > 0)
