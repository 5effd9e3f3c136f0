"""Marks a `make bench` run in benchmarks/RESULTS.md: `start` writes a heading with the date, the commit and the load
average before the benchmarks run; `end` copies every line of their output that states a goal and MET or MISSED,
and the load average after them, so each figure below it can be read
against how busy the machine was (a 2-core machine at load 6 gives other figures than a quiet one)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=RESULTS.parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True, cwd=RESULTS.parent).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[1] not in ("start", "end"):
        print("usage: python benchmarks/session.py start | end [BENCH_OUTPUT]", file=sys.stderr)
        return 2
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if argv[1] == "start":
        text = (f"\n## make bench, {now}, commit {_commit()}\n\n- machine: {platform.node()}, "
                f"{platform.machine()}, Python {platform.python_version()}\n- load average at start: {_load()}\n")
    else:
        verdicts = []
        if len(argv) == 3 and Path(argv[2]).exists():
            verdicts = [line.strip() for line in Path(argv[2]).read_text(encoding="utf-8").splitlines()
                        if " MET" in line or "MISSED" in line]
        met = sum(1 for v in verdicts if "MISSED" not in v)
        text = (f"- figures with a goal: {met} met, {len(verdicts) - met} missed\n"
                + "".join(f"  - {v}\n" for v in verdicts) + f"- load average at end ({now}): {_load()}\n")
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(text)
    print(text.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
