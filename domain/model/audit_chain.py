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


def first_broken(entries: list[tuple[int, dict[str, Any], str, str]], start_prev: str = GENESIS,
                 start_seq: int = 1) -> int | None:
    """Given (seq, content, prev_hash, hash) in order, the seq of the first entry that does not verify.

    `start_prev` and `start_seq` let a verifier start in the middle, from an entry it has already checked.
    A removed entry is reported by its own (missing) seq, even when it was the first.
    """
    prev, expected = start_prev, start_seq
    for seq, content, prev_hash, h in entries:
        if seq != expected:
            return expected  # an entry was removed
        if prev_hash != prev or entry_hash(prev, content) != h:
            return seq
        prev, expected = h, seq + 1
    return None
