"""Score the offline interpreter's reading of requests on the corpus in evals/understanding (see its README):
per intent, the share understood with the right details, on the development part and the held-out part, and
the time interpreting a message takes (p50, p95)."""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from agent._understand import understand, warm_up

FOLDER = Path(__file__).resolve().parent / "understanding"
STRICT = ("client", "invoice", "period", "day", "amount", "currency", "hours", "reason", "role", "change", "decision",
          "ask")
LOOSE = ("note", "description", "milestone", "reference", "arrangement")
GOALS = {"dev": 0.95, "held_out": 0.90}
P95_GOAL_MS = 20.0


@dataclass(frozen=True)
class Request:
    text: str
    intent: str
    expected: dict[str, Any]
    catalog: str

    @property
    def part(self) -> str:
        """The fixed split: held-out when the first byte of SHA-256(text) is 179 or more (about 30%)."""
        return "held_out" if hashlib.sha256(self.text.encode()).digest()[0] >= 179 else "dev"


@dataclass
class Miss:
    request: Request
    got: dict[str, Any]
    why: list[str]


@dataclass
class Score:
    by_intent: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # part -> intent -> [ok, n]
    misses: list[Miss] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)
    cpu_millis: list[float] = field(default_factory=list)

    def share(self, part: str, intent: str | None = None) -> float:
        rows = self.by_intent.get(part, {})
        ok = sum(v[0] for k, v in rows.items() if intent is None or k == intent)
        n = sum(v[1] for k, v in rows.items() if intent is None or k == intent)
        return ok / n if n else 0.0

    def count(self, part: str) -> int:
        return sum(v[1] for v in self.by_intent.get(part, {}).values())

    def p(self, q: float, cpu: bool = False) -> float:
        """The q-quantile of the time per message, in ms (wall clock; or CPU time of this thread)."""
        ordered = sorted(self.cpu_millis if cpu else self.millis)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def load(folder: Path = FOLDER) -> tuple[date, dict[str, list[str]], list[Request]]:
    meta = json.loads((folder / "clients.json").read_text())
    requests = []
    for line in (folder / "corpus.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        text, intent, catalog = row.pop("text"), row.pop("intent"), row.pop("catalog", "demo")
        requests.append(Request(text, intent, row, catalog))
    return date.fromisoformat(meta["today"]), meta["catalogs"], requests


def _same(key: str, want: Any, got: Any) -> bool:
    if want is None or got is None:
        return want is None and got is None
    if key in ("amount", "hours") and want != "full" and got != "full":
        try:
            return Decimal(str(want)) == Decimal(str(got))
        except InvalidOperation:
            return False
    if key in ("reason", "role") or key in LOOSE:
        return str(want).strip().lower() == str(got).strip().lower()
    return bool(want == got)


def check(request: Request, got_intent: str | None, got: dict[str, Any]) -> list[str]:
    """What is wrong with the reading (nothing: understood with the right details)."""
    why = []
    if (got_intent or "none") != request.intent:
        return [f"intent {got_intent or 'none'}, expected {request.intent}"]
    for key in STRICT:
        if not _same(key, request.expected.get(key), got.get(key)):
            why.append(f"{key} {got.get(key)!r}, expected {request.expected.get(key)!r}")
    for key in LOOSE:
        if key in request.expected and not _same(key, request.expected[key], got.get(key)):
            why.append(f"{key} {got.get(key)!r}, expected {request.expected[key]!r}")
    return why


def score(folder: Path = FOLDER, parts: tuple[str, ...] = ("dev", "held_out")) -> Score:
    today, catalogs, requests = load(folder)
    out = Score()
    warm_up()  # dateparser's data and the caches of the request words, once per process, as the chat model does
    for r in requests:
        if r.part not in parts:
            continue
        started, cpu = time.perf_counter(), time.thread_time()
        u = understand(r.text, today, catalogs[r.catalog])
        out.cpu_millis.append((time.thread_time() - cpu) * 1000)
        out.millis.append((time.perf_counter() - started) * 1000)
        got = u.details()
        why = check(r, u.intent, got)
        cell = out.by_intent.setdefault(r.part, defaultdict(lambda: [0, 0])).setdefault(r.intent, [0, 0])
        cell[1] += 1
        if why:
            out.misses.append(Miss(r, {"intent": u.intent, **got}, why))
        else:
            cell[0] += 1
    return out
