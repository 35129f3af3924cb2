"""Server CPU per guest page (GET /c/<code>) as present check-ins grow, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.guest_page_cpu_bench [--db sqlite|postgres|both] [--seconds 5]

For each database: a throwaway database with one venue (no capacity, as most have) and a
second one with a capacity, the real service under gunicorn as deployed
(bench.checkin_bench.gunicorn), and a closed loop of page loads at each step of the
curve: 0, 5,000, 10,000 and 20,000 check-ins present at the venue (added directly in
the database, each with its own row, not yet departed). It prints the gunicorn
processes' CPU time per page (the database's own CPU not included; on SQLite it runs
inside the workers) beside the load average, and the goals of issue 15:
`guest-page-cpu-ms-<db>` (at most 2 ms at every step) and `guest-page-flat-<db>` (the
slowest step over the fastest, at most 1.25). Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import secrets
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.checkin_bench import (
    Server,
    closed_loop,
    goal,
    gunicorn,
    load_average,
    machine_context,
    measured,
    postgres_database,
    sqlite_database,
)

STEPS = (0, 5_000, 10_000, 20_000)
CONNECTIONS = 8
TARGET_CPU_MS = 2.0
TARGET_FLATNESS = 1.25


def prepare(url: str) -> dict[str, Any]:
    """Migrate and add two venues: one without a capacity, one with."""
    from registration.database import Database
    from registration.migrate import upgrade
    from tests import factories

    database = Database(url)
    with database.engine.begin() as connection:
        upgrade(connection)
    plain = factories.add_venue(database, business_name="Bench GmbH", name="Ohne Obergrenze")
    limited = factories.add_venue(
        database, business_name="Bench GmbH", name="Mit Obergrenze", capacity=50_000
    )
    database.dispose()
    return {"plain": plain, "limited": limited}


def add_present(url: str, venue: Any, count: int) -> None:
    """`count` more check-ins at `venue`, all present now (arrived in the last hour)."""
    from sqlalchemy import insert

    from registration.database import Database
    from registration.models import CheckIn, CheckInSource

    now = dt.datetime.now(dt.UTC)
    database = Database(url)
    rows = []
    for index in range(count):
        arrival = now - dt.timedelta(seconds=(index % 3600))
        rows.append(
            {
                "id": uuid.uuid4(),
                "arrival": arrival,
                "location_id": venue.location.id,
                "area_id": venue.area.id,
                "departure": None,
                "auto_departure": arrival + dt.timedelta(hours=4),
                "persons": 1,
                "source": CheckInSource.GUEST_PAGE,
                "key_id": venue.key.key_id,
                "envelope": b"\x02" + secrets.token_bytes(300),
                "checkout_token_hash": hashlib.sha256(secrets.token_bytes(16)).digest(),
                "idempotency_key_hash": secrets.token_hex(32),
                "submission_digest": None,
                "received_at": arrival,
            }
        )
    try:
        with database.engine.begin() as connection:
            for start in range(0, len(rows), 2000):
                connection.execute(insert(CheckIn), rows[start : start + 2000])
    finally:
        database.dispose()


def page_request(port: int, code: str) -> bytes:
    return (
        f"GET /c/{code} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Forwarded-For: 10.9.0.1\r\n"
        "X-Forwarded-Proto: https\r\nAccept-Language: de-DE,de;q=0.9\r\n"
        "Accept-Encoding: br, gzip\r\n\r\n"
    ).encode()


def curve(
    server: Server, url: str, venue: Any, seconds: float, name: str, label: str
) -> list[float]:
    from bench.checkin_bench import run

    request = page_request(server.port, venue.area.code)
    present = 0
    cpu: list[float] = []
    for step in STEPS:
        add_present(url, venue, step - present)
        present = step
        run(closed_loop(server.port, lambda: request, 1, CONNECTIONS))
        result, per_page = measured(
            server, closed_loop(server.port, lambda: request, seconds, CONNECTIONS)
        )
        cpu.append(per_page)
        print(
            f"{name} {label}: {step:6d} present: {per_page:5.2f} ms CPU per page  "
            f"{result.line()}  ({load_average()})",
            flush=True,
        )
    return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    args = parser.parse_args(argv)
    print("\n".join(machine_context()), flush=True)
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="gr-bench-") as temporary:
        directory = Path(temporary)
        log = directory / "gunicorn.log"
        for name in databases:
            context = postgres_database() if name == "postgres" else sqlite_database(directory)
            with context as url:
                venues = prepare(url)
                env = {
                    "GASTREGISTER_ENV": "production",
                    "SECRET_KEY": secrets.token_urlsafe(48),
                    "GASTREGISTER_INSTANCE_PATH": str(directory / "instance"),
                    "GASTREGISTER_SCHEDULER": "off",
                    "GASTREGISTER_FORWARDED_ALLOW_IPS": "127.0.0.1",
                    "GASTREGISTER_MAIL_SERVER": "127.0.0.1",
                    # One client loads the page many times; its limit is not measured here.
                    "GASTREGISTER_RATELIMIT_ENABLED": "false",
                    "DATABASE_URL": url,
                }
                with gunicorn("gastregister.wsgi:app", env, log, "/healthz") as server:
                    print()
                    plain = curve(server, url, venues["plain"], args.seconds, name, "no capacity")
                    limited = curve(
                        server, url, venues["limited"], args.seconds, name, "capacity 50,000"
                    )
                worst = max(plain + limited)
                flatness = max(max(plain) / min(plain), max(limited) / min(limited))
                goal(
                    f"guest-page-cpu-ms-{name}", worst, f"<={TARGET_CPU_MS}", worst <= TARGET_CPU_MS
                )
                goal(
                    f"guest-page-flat-{name}",
                    flatness,
                    f"<={TARGET_FLATNESS}",
                    flatness <= TARGET_FLATNESS,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
