"""The audit log's hash chain: each entry's hash covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical(entry: dict[str, Any]) -> bytes:
    """A stable byte form of an entry: sorted keys, no whitespace, everything as JSON text."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False).encode()


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(entry)).hexdigest()


def first_broken(entries: list[tuple[int, dict[str, Any], str, str]], start_prev: str = GENESIS) -> int | None:
    """Given (seq, content, prev_hash, hash) in order, the seq of the first entry that does not verify."""
    prev = start_prev
    expected_seq: int | None = None
    for seq, content, prev_hash, h in entries:
        if expected_seq is not None and seq != expected_seq:
            return expected_seq  # an entry was removed
        if prev_hash != prev or entry_hash(prev, content) != h:
            return seq
        prev, expected_seq = h, seq + 1
    return None
