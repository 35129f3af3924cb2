"""Server CPU per guest page (GET /c/<code>) as present check-ins grow, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.guest_page_cpu_bench [--db sqlite|postgres|both] [--seconds 5]
        [--rounds 3] [--in-process-pages 300]

For each database: a throwaway database with one venue (no capacity, as most have) and a
second one with a capacity, the real service under gunicorn as deployed
(bench.checkin_bench.gunicorn: production mode, no access log, the rate limiter on with
its counters in a Redis server of the benchmark's own), and a closed loop of page loads
at each step of the curve: 0, 5,000, 10,000 and 20,000 check-ins present at the venue
(added directly in the database, each with its own row, not yet departed). Each page
is a new visitor's (no cookie), the costliest case: a session and a CSRF token are made.

What the CPU figure is: the user + system time of every gunicorn process (master and
workers) per page, so gunicorn's own HTTP work is in it, and on SQLite the database's
too (it runs inside the workers); PostgreSQL's CPU is not. Issue 15 measured the app
in-process (6.2 ms), without gunicorn: to compare, the same gunicorn serves a trivial
Flask endpoint first, and its CPU per request is printed as the floor (gunicorn + Flask),
with "page - floor" as the app's own share beside each step; and each step also loads
the page IN_PROCESS_PAGES times in the benchmark's own process, through the WSGI app
with the same settings (the issue's way), and prints that CPU per page.

The machine is shared, and a neighbour's load only ever adds CPU time to a request
(cache misses, frequency, steal), never takes it away: so each step is measured in
--rounds rounds and the least CPU per page of them is the step's figure.

Goals of issue 15, for each database and for either venue (`-capacity` for the one with
a capacity): `guest-page-cpu-ms-<db>[-capacity]` (the most CPU per page over the curve,
at most 2 ms) and `guest-page-flat-<db>[-capacity]` (20,000 present over none, at most
1.25). The machine is shared: compare figures of one run, beside its load average.
Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.checkin_bench import (
    PG_ADMIN_URL,
    Server,
    closed_loop,
    goal,
    gunicorn,
    load_average,
    machine_context,
    measured,
    metrics_folder,
    redis_server,
    sqlite_database,
    trivial_request_factory,
)

STEPS = (0, 5_000, 10_000, 20_000)
# A database of its own: bench.checkin_bench's (gr_bench) may be in use by its own run.
PG_DATABASE = "gr_bench_guest_page"
CONNECTIONS = 8
TARGET_CPU_MS = 2.0
TARGET_FLATNESS = 1.25


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this benchmark, dropped afterwards."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


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


class InProcess:
    """The service's WSGI app in this process, with the servers' settings: the app's own
    CPU per page, without gunicorn (as issue 15 measured it)."""

    def __init__(self, env: dict[str, str], pages: int) -> None:
        from gastregister.app import create_app
        from registration.config import Settings

        self.app = create_app(Settings.from_env({**os.environ, **env}))
        self.pages = pages

    def cpu_per_page(self, code: str) -> float:
        from werkzeug.test import EnvironBuilder

        headers = {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_FORWARDED_FOR": "10.9.0.1",
            "HTTP_X_FORWARDED_PROTO": "https",
            "HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9",
            "HTTP_ACCEPT_ENCODING": "br, gzip",
        }

        def load() -> None:
            environ = EnvironBuilder(path=f"/c/{code}", environ_base=headers).get_environ()
            statuses: list[str] = []

            def start_response(status: str, *_: object) -> Callable[[bytes], object]:
                statuses.append(status)
                return len  # the write() callable of PEP 3333, never called by Flask

            b"".join(self.app(environ, start_response))
            if not statuses[0].startswith("200"):
                raise SystemExit(f"in-process page: {statuses[0]}")

        for _ in range(20):
            load()
        started = time.process_time()
        for _ in range(self.pages):
            load()
        return (time.process_time() - started) * 1000 / self.pages


def curve(
    server: Server,
    url: str,
    venue: Any,
    seconds: float,
    name: str,
    label: str,
    floor: float,
    in_process: InProcess,
    rounds: int,
) -> list[float]:
    from bench.checkin_bench import run

    request = page_request(server.port, venue.area.code)
    present = 0
    cpu: list[float] = []
    for step in STEPS:
        add_present(url, venue, step - present)
        present = step
        run(closed_loop(server.port, lambda: request, 1, CONNECTIONS))
        measurements = [
            measured(server, closed_loop(server.port, lambda: request, seconds, CONNECTIONS))
            for _ in range(rounds)
        ]
        for result, _cpu in measurements:
            if set(result.statuses) != {200}:
                raise SystemExit(f"{name} {label}: pages failed: {result.statuses}")
        result, per_page = min(measurements, key=lambda measurement: measurement[1])
        own = min(in_process.cpu_per_page(venue.area.code) for _ in range(rounds))
        cpu.append(per_page)
        print(
            f"{name} {label}: {step:6d} present: {per_page:5.2f} ms CPU per page "
            f"(page - floor {per_page - floor:5.2f} ms; in-process {own:5.2f} ms)  "
            f"{result.line()}  ({load_average()})",
            flush=True,
        )
    return cpu


def floor_cpu(env: dict[str, str], log: Path, seconds: float, rounds: int) -> float:
    """gunicorn's and Flask's own CPU per request: a trivial endpoint, same settings."""
    from bench.checkin_bench import run

    with gunicorn("bench.checkin_bench:trivial_wsgi", env, log, "/trivial") as server:
        make = trivial_request_factory(server.port)
        run(closed_loop(server.port, make, 1, CONNECTIONS))
        result, per_request = min(
            (
                measured(server, closed_loop(server.port, make, seconds, CONNECTIONS))
                for _ in range(rounds)
            ),
            key=lambda measurement: measurement[1],
        )
    print(
        f"floor (trivial Flask endpoint, same gunicorn): {per_request:5.2f} ms CPU per request  "
        f"{result.line()}  ({load_average()})",
        flush=True,
    )
    return per_request


def goals(name: str, label: str, cpu: list[float]) -> None:
    """The two goals of one curve: the most CPU per page, and 20,000 present over none."""
    worst = max(cpu)
    flatness = cpu[-1] / cpu[0]
    goal(f"guest-page-cpu-ms-{name}{label}", worst, f"<={TARGET_CPU_MS}", worst <= TARGET_CPU_MS)
    goal(
        f"guest-page-flat-{name}{label}",
        flatness,
        f"<={TARGET_FLATNESS}",
        flatness <= TARGET_FLATNESS,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per step (least CPU counts)")
    parser.add_argument(
        "--in-process-pages", type=int, default=300, help="pages per in-process round"
    )
    args = parser.parse_args(argv)
    print("\n".join(machine_context()), flush=True)
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    with (
        tempfile.TemporaryDirectory(prefix="gr-bench-") as temporary,
        redis_server(Path(temporary)) as redis_url,
    ):
        directory = Path(temporary)
        log = directory / "gunicorn.log"
        base_env = {
            "GASTREGISTER_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "GASTREGISTER_INSTANCE_PATH": str(directory / "instance"),
            "GASTREGISTER_SCHEDULER": "off",
            "GASTREGISTER_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "GASTREGISTER_MAIL_SERVER": "127.0.0.1",
            # As deploy/gastregister.env: the limiter on, counting in Redis. The page
            # has no limit of its own; the limiter's work on every request is measured.
            "GASTREGISTER_RATELIMIT_ENABLED": "true",
        }
        floor = floor_cpu(base_env, log, args.seconds, args.rounds)
        for number, name in enumerate(databases):
            context = postgres_database() if name == "postgres" else sqlite_database(directory)
            with context as url:
                venues = prepare(url)
                env = {
                    **base_env,
                    "DATABASE_URL": url,
                    "GASTREGISTER_RATELIMIT_STORAGE": f"{redis_url}/{number}",
                    # As deploy/gastregister.env: the metrics shared by the workers (a
                    # folder of the app's own: gunicorn empties it when it starts).
                    "PROMETHEUS_MULTIPROC_DIR": metrics_folder(directory, name),
                }
                in_process = InProcess(
                    {**env, "GASTREGISTER_INSTANCE_PATH": str(directory / "in-process")},
                    args.in_process_pages,
                )
                with gunicorn("gastregister.wsgi:app", env, log, "/healthz") as server:
                    print()
                    plain = curve(
                        server,
                        url,
                        venues["plain"],
                        args.seconds,
                        name,
                        "no capacity",
                        floor,
                        in_process,
                        args.rounds,
                    )
                    limited = curve(
                        server,
                        url,
                        venues["limited"],
                        args.seconds,
                        name,
                        "capacity 50,000",
                        floor,
                        in_process,
                        args.rounds,
                    )
                in_process.app.extensions["gastregister.db"].dispose()
                goals(name, "", plain)
                goals(name, "-capacity", limited)
    return 0


if __name__ == "__main__":
    sys.exit(main())
