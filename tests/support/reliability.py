"""Figures of the reliability tests (marked `reliability`): what was tried, how many times, what was lost or doubled.

`make test` runs them light; `make reliability` sets BILLABLE_RELIABILITY=1 for the heavy versions and prints one
table of every figure recorded here (benchmarks/reliability.py), which also goes into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

HEAVY = os.environ.get("BILLABLE_RELIABILITY") == "1"
OUT = Path(__file__).resolve().parents[2] / "artifacts" / "reliability"
T = TypeVar("T")


def scale(light: T, heavy: T) -> T:
    """The light figure in `make test`, the heavy one in `make reliability`."""
    return heavy if HEAVY else light


def record(name: str, what: str, tried: int, times: int = 1, lost: int = 0, doubled: int = 0,
           errors: int = 0, note: str = "") -> None:
    """One row of the table (per test and backend), kept in artifacts/reliability/<name>.json."""
    OUT.mkdir(parents=True, exist_ok=True)
    row = {"name": name, "what": what, "tried": tried, "times": times, "lost": lost, "doubled": doubled,
           "errors": errors, "note": note, "heavy": HEAVY}
    (OUT / f"{name}.json").write_text(json.dumps(row, indent=2))
