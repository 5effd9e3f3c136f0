"""Interpretation latency of the offline interpreter (goal: p95 < 20 ms per message).

Reads every request of evals/understanding/corpus.jsonl `--rounds` times (the first round meets cold caches; the
one-off loading of dateparser's data is done before, as the chat model does when it is built) and prints p50, p95,
p99 and max per message: wall clock, and the CPU time of the thread (which a busy machine does not inflate).
Run by `make bench`, never by the tests.

    python benchmarks/understanding.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

from agent._understand import understand, warm_up
from evals._understanding import P95_GOAL_MS, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    today, catalogs, requests = load()
    warm_up()
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(args.rounds):
        for r in requests:
            w, c = time.perf_counter(), time.thread_time()
            understand(r.text, today, catalogs[r.catalog])
            cpu.append((time.thread_time() - c) * 1000)
            wall.append((time.perf_counter() - w) * 1000)

    def q(xs: list[float], p: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    print(f"{len(wall)} interpretations ({len(requests)} requests x {args.rounds})")
    for label, xs in (("wall", wall), ("cpu", cpu)):
        print(f"  {label:4}  p50 {q(xs, 0.5):6.2f} ms  p95 {q(xs, 0.95):6.2f} ms  p99 {q(xs, 0.99):6.2f} ms  "
              f"max {max(xs):7.2f} ms")
    print(f"goal p95 < {P95_GOAL_MS:.0f} ms (wall): {'MET' if q(wall, 0.95) < P95_GOAL_MS else 'MISSED'}")


if __name__ == "__main__":
    main()
