"""The audit log's hash chain: any altered or removed entry is found."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.model.audit_chain import GENESIS, canonical, entry_hash, first_broken

Entry = tuple[int, dict[str, Any], str, str]


def chain(n: int, start_prev: str = GENESIS, first_seq: int = 1) -> list[Entry]:
    out: list[Entry] = []
    prev = start_prev
    for i in range(n):
        seq = first_seq + i
        content = {"seq": seq, "action": "invoice.issued", "after": {"total": f"{seq}.00", "n": [seq]},
                   "actor_label": "fin@x.io"}
        h = entry_hash(prev, content)
        out.append((seq, content, prev, h))
        prev = h
    return out


def test_an_intact_chain_verifies() -> None:
    assert first_broken(chain(10)) is None
    assert first_broken([]) is None


def test_canonical_form_ignores_key_order_but_not_content() -> None:
    assert canonical({"a": 1, "b": {"y": 2, "x": 1}}) == canonical({"b": {"x": 1, "y": 2}, "a": 1})
    assert entry_hash(GENESIS, {"a": 1}) != entry_hash(GENESIS, {"a": 2})
    assert entry_hash(GENESIS, {"a": 1}) != entry_hash("1" * 64, {"a": 1})
    assert len(entry_hash(GENESIS, {})) == 64


def test_an_altered_entry_is_found() -> None:
    entries = chain(6)
    seq, content, prev, h = entries[2]
    entries[2] = (seq, {**content, "after": {"total": "9999.00", "n": [seq]}}, prev, h)
    assert first_broken(entries) == 3


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = chain(6)
    seq, content, prev, _ = entries[2]
    forged = {**content, "actor_label": "mallory"}
    entries[2] = (seq, forged, prev, entry_hash(prev, forged))
    assert first_broken(entries) == 4


def test_a_removed_entry_is_found() -> None:
    entries = chain(6)
    del entries[3]
    assert first_broken(entries) == 4


def test_a_removed_first_entry_is_found() -> None:
    entries = chain(4)
    assert first_broken(entries[1:]) == 1


def test_a_chain_can_be_verified_from_the_middle() -> None:
    entries = chain(8)
    assert first_broken(entries[4:], start_prev=entries[3][3], start_seq=5) is None


@given(st.integers(min_value=1, max_value=30), st.data())
def test_any_single_change_is_found_at_its_seq(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    how = data.draw(st.sampled_from(["content", "hash", "prev", "remove"]))
    seq, content, prev, h = entries[i]
    if how == "content":
        entries[i] = (seq, {**content, "action": "invoice.voided"}, prev, h)
    elif how == "hash":
        entries[i] = (seq, content, prev, "f" * 64)
    elif how == "prev":
        entries[i] = (seq, content, "e" * 64, h)
    else:
        del entries[i]
        if i == n - 1:  # removing the last entry leaves a valid shorter chain: only the head can tell
            assert first_broken(entries) is None
            return
    assert first_broken(entries) == seq
