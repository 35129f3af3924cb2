"""Run every benchmark, one after another: `python -m bench` (or `make bench`).

Each prints its figures with the machine's context. Pass names to run only some:
`python -m bench crypto checkin`. Each module also runs alone with its own options,
e.g. `python -m bench.purge_bench --rows 200000 --db sqlite`.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = {
    "crypto": "bench.crypto_bench",  # seal/open per core in Python (issue 3)
    "browser": "bench.browser_open_bench",  # open 50,000 records in Chromium (issue 3)
    "checkin": "bench.checkin_bench",  # check-in API under gunicorn vs a trivial endpoint (issue 4)
    "export": "bench.export_bench",  # 50,000-visit export: build, CLI and browser decryption (6)
    "purge": "bench.purge_bench",  # purge 1,000,000 check-ins while guests check in (issue 7)
    "guest-page": "bench.guest_page_bench",  # first load on slow 3G, before and after ("the guest's phone")
    "reset": "bench.reset_bench",  # reset request: known vs unknown address (Hardening)
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = 0
    for name in names:
        module = BENCHMARKS[name]
        print(f"\n===== {name}: python -m {module}", flush=True)
        # A process each, so one benchmark's pools and caches do not colour the next.
        failed += subprocess.call([sys.executable, "-m", module]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
