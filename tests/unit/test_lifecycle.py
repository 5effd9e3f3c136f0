"""The invoice state machine, generated from its own table: every move in it works, every other is refused."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import BadTransition
from domain.model.lifecycle import IMMUTABLE, OPEN, TRANSITIONS, Status, check_transition, is_overdue

ALLOWED = [(a, b) for a in Status for b in sorted(TRANSITIONS[a])]
REFUSED = [(a, b) for a in Status for b in Status if b not in TRANSITIONS[a]]


def test_the_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert len(ALLOWED) + len(REFUSED) == len(Status) ** 2


@pytest.mark.parametrize(("a", "b"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed_transitions(a: Status, b: Status) -> None:
    check_transition(a.value, b.value)


@pytest.mark.parametrize(("a", "b"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_every_other_transition_names_both_states(a: Status, b: Status) -> None:
    with pytest.raises(BadTransition) as e:
        check_transition(a.value, b.value)
    assert e.value.code == "invoice.bad_transition"
    assert a.value in e.value.message and b.value in e.value.message
    assert e.value.details == {"from": a.value, "to": b.value}


def test_the_shape_of_the_lifecycle() -> None:
    assert TRANSITIONS[Status.PAID] == frozenset() and TRANSITIONS[Status.VOID] == frozenset()
    assert Status.ISSUED in TRANSITIONS[Status.PENDING_APPROVAL]
    assert Status.DRAFT in TRANSITIONS[Status.PENDING_APPROVAL]
    assert Status.VOID not in TRANSITIONS[Status.PARTIALLY_PAID]   # once money arrived, credit notes only
    assert Status.DRAFT not in {b for a in IMMUTABLE for b in TRANSITIONS[a]}  # nothing issued becomes a draft
    assert frozenset(Status) - {Status.DRAFT, Status.PENDING_APPROVAL} == IMMUTABLE
    assert OPEN <= IMMUTABLE


TODAY = date(2026, 4, 1)


@pytest.mark.parametrize(("status", "due", "balance", "overdue"), [
    ("issued", date(2026, 3, 31), 100, True),
    ("sent", date(2026, 3, 31), 100, True),
    ("viewed", date(2026, 3, 31), 100, True),
    ("partially_paid", date(2026, 3, 31), 1, True),
    ("issued", date(2026, 4, 1), 100, False),    # due today is not overdue yet
    ("issued", date(2026, 4, 2), 100, False),
    ("issued", date(2026, 3, 31), 0, False),     # nothing owed
    ("issued", None, 100, False),
    ("paid", date(2026, 3, 1), 0, False),
    ("void", date(2026, 3, 1), 100, False),
    ("uncollectible", date(2026, 3, 1), 100, False),
    ("draft", date(2026, 3, 1), 100, False),
    ("pending_approval", date(2026, 3, 1), 100, False),
])
def test_overdue_is_derived(status: str, due: date | None, balance: int, overdue: bool) -> None:
    assert is_overdue(status, due, balance, TODAY) is overdue


def test_overdue_is_not_a_state() -> None:
    assert "overdue" not in {s.value for s in Status}
