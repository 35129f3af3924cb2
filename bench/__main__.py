"""Run every benchmark, one after another: `python -m bench` (or `make bench`).

Each prints its figures with the machine's context. Pass names to run only some:
`python -m bench crypto checkin`. Each module also runs alone with its own options,
e.g. `python -m bench.purge_bench --rows 200000 --db sqlite`.

A benchmark that measures a goal of issue 15 prints a line
`GOAL <name> measured=<x> target=<y> ok=<yes|no>` for it; the runner collects those
lines and ends with a summary of every goal, ✓ or ✗, beside the load average.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

BENCHMARKS = {
    "crypto": "bench.crypto_bench",  # seal/open per core in Python (issue 3)
    "browser": "bench.browser_open_bench",  # open 50,000 records in Chromium (issue 3)
    "checkin": "bench.checkin_bench",  # check-in API under gunicorn vs a trivial endpoint (issue 4)
    "peer": "bench.peer_bench",  # check-ins per second vs prechelt/anwesende, same run (issue 15)
    "export": "bench.export_bench",  # 50,000-visit export: build, CLI and browser decryption (6)
    "purge": "bench.purge_bench",  # purge 1,000,000 check-ins while guests check in (issue 7)
    "guest-page": "bench.guest_page_bench",  # first load on slow 3G, before and after ("the guest's phone")
    "guest-page-cpu": "bench.guest_page_cpu_bench",  # server CPU per guest page, 0 to 20,000 present (15)
    "reset": "bench.reset_bench",  # reset request: known vs unknown address (Hardening)
}


GOAL_LINE = re.compile(
    r"^GOAL (?P<name>\S+) measured=(?P<measured>\S+) target=(?P<target>\S+) ok=(?P<ok>yes|no)$"
)


@dataclass(frozen=True)
class Goal:
    benchmark: str
    name: str
    measured: str
    target: str
    ok: bool


def goals_in(benchmark: str, line: str) -> list[Goal]:
    match = GOAL_LINE.match(line.strip())
    if match is None:
        return []
    return [
        Goal(benchmark, match["name"], match["measured"], match["target"], match["ok"] == "yes")
    ]


def run_benchmark(name: str, module: str) -> tuple[int, list[Goal]]:
    """Run one benchmark in a process of its own, echoing its output as it comes."""
    goals: list[Goal] = []
    # A process each, so one benchmark's pools and caches do not colour the next.
    with subprocess.Popen(
        [sys.executable, "-m", module], stdout=subprocess.PIPE, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            goals += goals_in(name, line)
    return process.returncode, goals


def summary(goals: list[Goal]) -> list[str]:
    one, five, fifteen = os.getloadavg()
    lines = [f"\n===== goals of issue 15 (load average now {one:.2f} {five:.2f} {fifteen:.2f})"]
    width = max((len(goal.name) for goal in goals), default=0)
    for goal in goals:
        mark = "✓" if goal.ok else "✗"
        lines.append(
            f"{mark} {goal.name:<{width}}  {goal.measured:>10}  target {goal.target:<8}"
            f"  ({goal.benchmark})"
        )
    if not goals:
        lines.append("(no benchmark printed a goal)")
    return lines


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = 0
    goals: list[Goal] = []
    for name in names:
        module = BENCHMARKS[name]
        print(f"\n===== {name}: python -m {module}", flush=True)
        returncode, found = run_benchmark(name, module)
        failed += returncode != 0
        goals += found
    print("\n".join(summary(goals)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
