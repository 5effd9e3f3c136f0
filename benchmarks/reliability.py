"""The reliability suite's table: what was tried, how many times, what was lost or doubled, and the fuzzer's figures.

Reads what the tests marked `reliability` recorded (artifacts/reliability/*.json) and what the Schemathesis run wrote
(artifacts/fuzz-*.json), prints one table, and with --results appends it to benchmarks/RESULTS.md. `make reliability`
runs the suite heavy (BILLABLE_RELIABILITY=1) and then this.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT / "artifacts"
START = ART / "reliability-start.json"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def rows() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted((ART / "reliability").glob("*.json")):
        out.append(json.loads(path.read_text()))
    for path in sorted(ART.glob("fuzz-*.json")):
        f = json.loads(path.read_text())
        roles = f["roles"]
        out.append({"name": path.stem, "what": f"Schemathesis over the OpenAPI document ({f['backend']}, owner and "
                    f"contractor, {f['cases_per_operation']} cases per operation, fixed seed)",
                    "tried": sum(r["cases"] for r in roles.values()),
                    "times": max(r["operations"] for r in roles.values()), "lost": 0, "doubled": 0,
                    "errors": sum(r["failures"] for r in roles.values()),
                    "note": "operations (times column); errors = server errors or responses off their schema"})
    return out


def table(data: list[dict[str, object]]) -> str:
    lines = ["| What was tried | Tried | Times | Lost | Doubled | Errors | Note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in data:
        lines.append(f"| {r['what']} | {int(r['tried']):,} | {int(r['times']):,} | {r['lost']} | {r['doubled']} | "
                     f"{r['errors']} | {r.get('note', '')} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", action="store_true", help="append the table to benchmarks/RESULTS.md")
    ap.add_argument("--fuzz", action="store_true", help="only the fuzzer's rows (make fuzz)")
    ap.add_argument("--start", action="store_true", help="note the time and load average before the run")
    args = ap.parse_args()
    if args.start:
        ART.mkdir(exist_ok=True)
        START.write_text(json.dumps({"at": _now(), "load": _load()}))
        return 0
    data = [r for r in rows() if not args.fuzz or str(r["name"]).startswith("fuzz")]
    if not data:
        print("no figures recorded: run `make reliability` (or the tests marked reliability) first", file=sys.stderr)
        return 1
    text = table(data)
    bad = sum(int(r["lost"]) + int(r["doubled"]) + int(r["errors"]) for r in data)  # type: ignore[call-overload]
    print(text)
    print(f"\n{len(data)} rows; lost + doubled + errors = {bad}")
    if args.results:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        heavy = all(r.get("heavy", True) for r in data)
        start = json.loads(START.read_text()) if START.exists() else {}
        machine = f"{platform.node()}, {platform.machine()}, Python {platform.python_version()}"
        loads = (f"load average at start ({start['at']}): {start['load']}; " if start else "") + \
            f"at end ({_now()}): {_load()}"
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as f:
            f.write(f"\n## Reliability ({'make reliability' if heavy else 'light, as in make test'}, {_now()}, "
                    f"commit {commit})\n\n- machine: {machine}\n- {loads}\n\n{text}\n\n"
                    f"Lost + doubled + errors: {bad}.\n")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
