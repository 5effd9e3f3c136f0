"""One `make bench` run, one section of benchmarks/RESULTS.md.

    python benchmarks/session.py start LOG          the heading: date, commit, machine, load average at start
    python benchmarks/session.py run LOG [--info] -- benchmarks/X.py ARGS...
                                                    runs one benchmark, its output to the terminal and to LOG
    python benchmarks/session.py end LOG            every figure with a goal, the load average at end, a summary

`run` writes a marker line naming the command before the benchmark's output, and a note when it exits with an error
(the other benchmarks still run). `end` copies each output line that states a goal and MET or MISSED, under the
command that printed it, into RESULTS.md after the heading; `--info` runs are copied apart, as information, and are
not counted (e.g. the ingest figures on SQLite: issue 17 judges PostgreSQL). It ends with a one-line summary: how many
goals are MET, and which are MISSED. The benchmarks are run without their own `--results` here, so each figure is
written once; `--results` stays for a benchmark run by hand.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("RESULTS.md")
MARK = "==> "
INFO_MARK = "==> (information) "
FAILED = "!!! "
VERDICT = re.compile(r"\b(MET|MISSED)\b")


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


def _append(text: str) -> None:
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(text)


def start(log: Path) -> str:
    """The section's heading; empties the log of the previous run."""
    log.write_text("", encoding="utf-8")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"\n## make bench, {now}, commit {_commit()}\n\n- machine: {platform.node()}, "
            f"{platform.machine()}, Python {platform.python_version()}\n- load average at start: {_load()}\n")
    _append(text)
    return text


def run(log: Path, command: list[str], info: bool) -> int:
    """Run one benchmark (a script under benchmarks/ and its arguments) with this Python; never fails the session."""
    shown = " ".join([Path(command[0]).name, *command[1:]])
    with log.open("a", encoding="utf-8") as out:
        out.write(f"{INFO_MARK if info else MARK}{shown}\n")
        out.flush()
        print(f"{INFO_MARK if info else MARK}{shown}", flush=True)
        proc = subprocess.Popen([sys.executable, *command], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out.write(line)
        rc = proc.wait()
        if rc != 0:
            out.write(f"{FAILED}{shown} exited with status {rc}\n")
            print(f"{FAILED}{shown} exited with status {rc}", flush=True)
    return 0


def collect(lines: list[str]) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]], list[str]]:
    """(judged, information, failures): each benchmark command with its lines that state a goal and a verdict."""
    judged: list[tuple[str, list[str]]] = []
    info: list[tuple[str, list[str]]] = []
    failures: list[str] = []
    current: list[str] | None = None
    for raw in lines:
        line = raw.strip()
        if raw.startswith(INFO_MARK):
            info.append((raw[len(INFO_MARK):].strip(), []))
            current = info[-1][1]
        elif raw.startswith(MARK):
            judged.append((raw[len(MARK):].strip(), []))
            current = judged[-1][1]
        elif raw.startswith(FAILED):
            failures.append(raw[len(FAILED):].strip())
        elif VERDICT.search(line) and "goal" in line:
            if current is None:  # output without a marker (an older Makefile): judged
                judged.append(("", []))
                current = judged[-1][1]
            current.append(line)
    return judged, info, failures


def summary(judged: list[tuple[str, list[str]]], failures: list[str]) -> str:
    """One line: goals met, and the ones missed (a line with two goals counts two)."""
    met, missed = 0, []
    for command, found in judged:
        for line in found:
            verdicts = VERDICT.findall(line)
            met += verdicts.count("MET")
            if "MISSED" in verdicts:  # what it measures (the line's start) and its goal (the end)
                short = line if len(line) <= 140 else f"{line[:70]} ... {line[-60:]}"
                missed.append(f"{command.split()[0] if command else '?'}: {short}")
    text = f"make bench: {met} goals MET, {len(missed)} MISSED"
    text += ("; missed: " + " | ".join(missed)) if missed else ""
    if failures:
        text += f"; {len(failures)} benchmark(s) exited with an error: " + ", ".join(failures)
    return text


def end(log: Path) -> str:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    judged, info, failures = collect(lines)
    line = summary(judged, failures)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["- figures with a goal:\n"]
    for command, found in judged:
        parts.append(f"  - `{command}`\n" if command else "")
        parts += [f"    - {v}\n" for v in found] or ["    - (no figure with a goal printed)\n"]
    if info:
        parts.append("- information, not judged:\n")
        for command, found in info:
            parts.append(f"  - `{command}`\n")
            parts += [f"    - {v}\n" for v in found]
    parts += [f"- exited with an error: `{f}`\n" for f in failures]
    parts.append(f"- load average at end ({now}): {_load()}\n- summary: {line}\n")
    _append("".join(parts))
    return line


def main(argv: list[str]) -> int:
    usage = "usage: python benchmarks/session.py start LOG | run LOG [--info] -- SCRIPT ARGS... | end LOG"
    if len(argv) < 3 or argv[1] not in ("start", "run", "end"):
        print(usage, file=sys.stderr)
        return 2
    log = Path(argv[2])
    if argv[1] == "start":
        print(start(log).strip())
        return 0
    if argv[1] == "run":
        rest = argv[3:]
        info = bool(rest) and rest[0] == "--info"
        rest = rest[1:] if info else rest
        if not rest or rest[0] != "--" or len(rest) < 2:
            print(usage, file=sys.stderr)
            return 2
        return run(log, rest[1:], info)
    print(end(log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
