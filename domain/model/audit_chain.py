"""The audit log's chain: each entry's MAC covers its content and the previous entry's MAC, keyed (HMAC-SHA256)
with a secret held outside the database, so whoever can write to the database still cannot rewrite an entry and
recompute the chain after it. `entry_hash` is the plain SHA-256 chain of entries written before keys (legacy: the
migration to keys checks it, then re-signs every entry)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
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


# ---- keyed chain (HMAC-SHA256): what a writer without the key cannot recompute ------------------------------------

@dataclass(frozen=True)
class Keyring:
    """The audit keys: new entries are signed with `current_id`'s key; an entry verifies with the key its id names,
    so retired keys stay here (by id) for as long as entries they signed are kept."""

    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise ValueError(f"the current audit key {self.current_id!r} is not among the keys")

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]


def entry_mac(key_id: str, key: bytes, prev_hash: str, entry: dict[str, Any]) -> str:
    """HMAC-SHA256 over the key id, the previous entry's MAC and the entry: a chain nobody without the key can
    extend or rewrite (the key id is covered, so an entry cannot be passed off as signed by another key)."""
    message = key_id.encode() + b"\n" + prev_hash.encode() + b"\n" + canonical(entry)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(keyring: Keyring, prev_hash: str, entry: dict[str, Any]) -> tuple[str, str]:
    """(key id, MAC) of a new entry."""
    return keyring.current_id, entry_mac(keyring.current_id, keyring.current, prev_hash, entry)


def mismatch(keyring: Keyring, key_id: str | None, prev_hash: str, entry: dict[str, Any], mac: str) -> str | None:
    """Why an entry (after `prev_hash`) does not verify, or None when it does."""
    if not key_id:
        return "is not signed with an audit key (written or rewritten outside billable)"
    key = keyring.keys.get(key_id)
    if key is None:
        return (f"is signed with audit key {key_id!r}, which is not configured (list retired keys in "
                "BILLABLE_AUDIT_OLD_KEYS)")
    if not hmac.compare_digest(entry_mac(key_id, key, prev_hash, entry), mac):
        return "does not match its signature: it was altered"
    return None
