"""Seal and open throughput of sealed contact records on one core.

    .venv/bin/python -m bench.crypto_bench [--seconds 2] [--repeat 3]

Not a test: numbers depend on the machine and on what else runs on it, so they are
printed with the machine's description and compared with the aim (a health office
opening at least 8,000 records per second per core), never asserted. The process
pins itself to one CPU so that "per core" means what it says.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography.hazmat.backends.openssl import backend

import crypto

OPEN_AIM_PER_SECOND = 8_000
LOCATION, AREA = "GASTHAUS-ZUR-POST", "TISCH_12"
DISTINCT_ENVELOPES = 256

# A realistic check-in: one guest with full contact data and one companion at the same
# address. Its JSON is about 330 bytes, so it lands in the 512-byte bucket like most.
REALISTIC_RECORD: dict[str, Any] = {
    "firstName": "Jürgen",
    "lastName": "Müller-Lüdenscheidt",
    "street": "Schillerstraße",
    "houseNumber": "12a",
    "zipCode": "99423",
    "city": "Weimar",
    "phone": "+49 3643 123456",
    "email": "juergen.mueller@example.de",
    "additionalPersons": [{"firstName": "Anna", "lastName": "Müller", "sameAddress": True}],
    "note": "",
}
# A family of five, each companion with own phone and e-mail: the 1024-byte bucket.
FAMILY_RECORD: dict[str, Any] = {
    **REALISTIC_RECORD,
    "additionalPersons": [
        {
            "firstName": name,
            "lastName": "Müller-Lüdenscheidt",
            "sameAddress": True,
            "phone": "+49 170 0000000",
            "email": f"{name.lower()}.mueller@example.de",
        }
        for name in ("Anna", "Ben", "Clara", "David")
    ],
}


def machine_context() -> list[str]:
    cpu_model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return [
        f"CPU:          {cpu_model}",
        f"cores:        {os.cpu_count()} logical, benchmark pinned to {_pinned_cpu()}",
        f"load average: {', '.join(f'{load:.2f}' for load in os.getloadavg())}",
        f"Python:       {platform.python_version()} ({platform.python_implementation()})",
        f"cryptography: {metadata.version('cryptography')} ({backend.openssl_version_text()})",
        f"platform:     {platform.platform()}",
    ]


def _pin_to_one_cpu() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _pinned_cpu() -> str:
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        return f"CPU {cpus[0]}" if len(cpus) == 1 else f"CPUs {cpus}"
    return "no CPU (affinity not supported here)"


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second, calling ``operation`` in batches for about ``seconds``."""
    batch = 100
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            operation()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def measure(name: str, operation: Callable[[], object], seconds: float, repeat: int) -> float:
    rate(operation, min(0.2, seconds))  # warm-up: caches, allocator, branch predictors
    rates = [rate(operation, seconds) for _ in range(repeat)]
    best, median = max(rates), statistics.median(rates)
    print(f"{name:<48} {best:>9,.0f}/s best  {median:>9,.0f}/s median  {1e6 / best:7.1f} µs")
    return best


def run(seconds: float, repeat: int) -> None:
    _pin_to_one_cpu()
    print("Sealed contact records: single-core throughput")
    for line in machine_context():
        print(line)
    print(f"timing: {repeat} runs of {seconds:g} s each after a warm-up\n")

    office_key = crypto.generate_private_key()
    spki = crypto.public_key_spki(office_key)
    older_keys = [crypto.generate_private_key() for _ in range(2)]

    def seal(record: dict[str, Any]) -> bytes:
        return crypto.seal_contact_record(spki, record, location_code=LOCATION, area_code=AREA)

    realistic = [seal(REALISTIC_RECORD) for _ in range(DISTINCT_ENVELOPES)]
    family = [seal(FAMILY_RECORD) for _ in range(DISTINCT_ENVELOPES)]
    texts = [crypto.encode_envelope(envelope) for envelope in realistic]
    print(
        f"record sizes: realistic {len(realistic[0])} bytes envelope, "
        f"family of five {len(family[0])} bytes envelope\n"
    )

    def cycling(envelopes: list[Any]) -> Callable[[], Any]:
        return itertools.cycle(envelopes).__next__

    next_realistic, next_family, next_text = cycling(realistic), cycling(family), cycling(texts)
    keys = [*older_keys, office_key]
    context = {"location_code": LOCATION, "area_code": AREA}

    measure("seal (realistic record)", lambda: seal(REALISTIC_RECORD), seconds, repeat)
    measure("seal (family of five)", lambda: seal(FAMILY_RECORD), seconds, repeat)
    open_rate = measure(
        "open (realistic record)",
        lambda: crypto.open_contact_record(office_key, next_realistic(), **context),
        seconds,
        repeat,
    )
    measure(
        "open (family of five)",
        lambda: crypto.open_contact_record(office_key, next_family(), **context),
        seconds,
        repeat,
    )
    measure(
        "open_with_any_key, 3 keys, from base64url text",
        lambda: crypto.open_with_any_key(keys, crypto.decode_envelope(next_text()), **context),
        seconds,
        repeat,
    )
    measure(
        "inspect_envelope (server upload check)",
        lambda: crypto.inspect_envelope(next_realistic()),
        seconds,
        repeat,
    )
    verdict = "meets" if open_rate >= OPEN_AIM_PER_SECOND else "MISSES"
    print(f"\nopen {open_rate:,.0f}/s on one core {verdict} the aim of {OPEN_AIM_PER_SECOND:,}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timed run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per operation")
    arguments = parser.parse_args()
    run(arguments.seconds, arguments.repeat)


if __name__ == "__main__":
    main()
