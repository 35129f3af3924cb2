"""Check-in API throughput and latency under gunicorn, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.checkin_bench [--db sqlite|postgres|both] [--seconds 6]

For each database the script creates a throwaway database (a temporary SQLite file,
or a fresh PostgreSQL database `gr_bench` that it drops afterwards), migrates it,
adds one location with a health-office key, seals a pool of envelopes in Python
beforehand (so the load generator does not measure crypto), and starts the real
service with `gunicorn -c python:gastregister.gunicorn_conf gastregister.wsgi:app`. A small asyncio HTTP/1.1
client on the same machine then measures:

  * throughput: closed loop, many keep-alive connections, each check-in with its own
    idempotency key (every request is a new check-in that is really stored);
  * latency at a fixed 200 check-ins/s, open loop (latency counted from the moment a
    request was due, so a stalled server cannot hide queueing);
  * the ceiling: a trivial Flask endpoint under the same gunicorn settings, and the
    ratio of check-ins to it.

The service runs as deploy/gastregister.env configures it: the rate limiter on, its
counters in a Redis server of the benchmark's own, check-ins per client counted by the
proxy (GASTREGISTER_CLIENT_LIMITS_BY_PROXY=true: nginx's limit_req, not part of the
figure), and per area by the proxy too for a check-in that names its area in
X-Gastregister-Area, as the guest page's do (GASTREGISTER_AREA_LIMITS_BY_PROXY=true;
the app still compares the header with the body), and the load generator's address as
the trusted proxy (GASTREGISTER_FORWARDED_ALLOW_IPS), which names each simulated
client in X-Forwarded-For as nginx does. Each client sends CHECKINS_PER_CLIENT
check-ins and the check-ins are spread over AREAS areas, so no limit refuses one.
`--unnamed-areas` sends the check-ins without the header, as a third-party client
would: the app then counts each per area in Redis (the figure before issue 15's
per-area count moved to the proxy). gunicorn writes
no access log, as in production (GASTREGISTER_ACCESS_LOG=off: nginx keeps it).

Goals (issue 15), printed as `GOAL <name> measured=<x> target=<y> ok=<yes|no>` lines that
`python -m bench` collects: server CPU per check-in, check-ins per trivial request, and
the tail at FIXED_RATE check-ins/s for --tail-seconds (max latency, 503 answers).
The machine is shared, so the CPU time per request and the ratio to the trivial endpoint
within one run are the figures to compare; the load average is printed beside them.
Not a test: it exits non-zero if a request failed or the stored rows are off.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import platform
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from flask import Flask

from bench.proc import cpu_seconds, processes
from tests import local_servers

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "gr_bench"
CONNECTIONS = 32
FIXED_RATE = 200
SETTLE_SECONDS = 3.0  # between the closed loop at full load and the steady rate
REQUEST_TIMEOUT = 30.0  # seconds; a request not answered by then counts as failed (599)
# Enough areas that the per-area limit (240 a minute) never refuses a check-in of a run
# (about 2,000 a second at most), and few check-ins per simulated client (30 a minute).
AREAS = 500
CHECKINS_PER_CLIENT = 5
# Issue 15, goals 1 and 3.
TARGET_CPU_MS = 0.7
TARGET_RATIO = 0.4
TARGET_TAIL_MS = 250.0


def goal(name: str, measured: float, target: str, ok: bool) -> None:
    """One line the runner (bench/__main__.py) collects into its summary; the unit is
    part of the name, so both figures are plain numbers."""
    print(f"GOAL {name} measured={measured:.2f} target={target} ok={'yes' if ok else 'no'}")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


# The ceiling: the least a Flask endpoint can do, served by the same gunicorn settings.
trivial_app = Flask("trivial")


@trivial_app.get("/trivial")
def trivial() -> dict[str, bool]:
    return {"ok": True}


def trivial_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """The trivial app as a plain WSGI callable: gunicorn_conf's post_worker_init takes
    any Flask app for the Gastregister app (and looks up its settings), and leaves
    other WSGI apps alone."""
    return trivial_app(environ, start_response)


# --- the load generator -------------------------------------------------------------


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a request and awaits its answer."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        match = re.search(rb"content-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        self.waiter.set_result((int(head[9:12]), b"connection: close" in head))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    async def request(self, data: bytes) -> tuple[int, bool]:
        """Send one request and await its answer; ConnectionError if the server closed
        the connection (keep-alive timeout) or did not answer within REQUEST_TIMEOUT.

        Without both, a request written to a connection the server had just closed
        waited for ever and the run never ended.
        """
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await asyncio.wait_for(self.waiter, REQUEST_TIMEOUT)
        except TimeoutError:
            self.transport.close()
            raise ConnectionError("no answer") from None


async def connect(port: int) -> HttpConnection:
    _transport, protocol = await asyncio.get_running_loop().create_connection(
        HttpConnection, "127.0.0.1", port
    )
    return protocol


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    # The slowest requests of an open loop: (seconds, when due from the start, how sent).
    slowest: list[tuple[float, float, str]] = field(default_factory=list)
    # The load generator's own garbage collections during an open loop.
    client_gc: str = ""

    def add(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)

    def note(self, latency: float, due: float, how: str) -> None:
        """Keep the five slowest requests with how they were sent, to tell a server's
        stall from a connection the client had to open again."""
        self.slowest = sorted([*self.slowest, (latency, due, how)], reverse=True)[:5]

    def slowest_line(self) -> str:
        return ", ".join(
            f"{latency * 1000:.0f} ms at {due:.1f} s ({how})" for latency, due, how in self.slowest
        )

    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    def rate(self) -> float:
        return self.ok() / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return (
            ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else 0.0
        )

    def line(self) -> str:
        return (
            f"{self.rate():8.0f} req/s  p50 {self.percentile(0.50):6.1f} ms  "
            f"p90 {self.percentile(0.90):6.1f} ms  p99 {self.percentile(0.99):6.1f} ms  "
            f"max {max(self.latencies, default=0) * 1000:6.1f} ms  statuses {dict(sorted(self.statuses.items()))}"
        )


RequestFactory = Callable[[], bytes]


async def closed_loop(
    port: int,
    make: RequestFactory,
    seconds: float,
    connections: int,
    *,
    total: int | None = None,
) -> Result:
    """Each connection sends its next request as soon as the previous answer arrived,
    for `seconds`, or until `total` requests were sent (the warm-up: a count, see
    warm_up_count)."""
    result = Result()
    deadline = time.perf_counter() + seconds
    remaining = iter(range(total)) if total is not None else None

    def more() -> bool:
        if remaining is not None:
            return next(remaining, None) is not None
        return time.perf_counter() < deadline

    async def worker() -> None:
        connection = await connect(port)
        while more():
            started = time.perf_counter()
            try:
                status, close = await connection.request(make())
            except ConnectionError:
                result.add(599, time.perf_counter() - started)
                connection = await connect(port)
                continue
            result.add(status, time.perf_counter() - started)
            if close:
                connection = await connect(port)
        if connection.transport is not None:
            connection.transport.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


def warm_up_count() -> int:
    """Check-ins sent before measuring: enough that every worker has seen every area.

    Each worker process learns an area on its first check-in there (the full path) and
    stores later ones in one statement (hot_path). An evening's service has long since
    seen its areas. Three rounds per area and worker, on keep-alive connections, left
    about 500 first check-ins for the first measured round (counted with the lane's
    decisions logged): a keep-alive connection stays with the worker that accepted it,
    and the workers had accepted them unevenly. The warm-up therefore closes every
    connection after one check-in (warm_up_requests), so each goes to whichever worker
    accepts next, and sends six per area and worker: a worker that misses an area is
    then rare (about e**-6 per area and worker at an even spread).
    """
    workers = int(os.environ.get("GASTREGISTER_WORKERS", str((os.cpu_count() or 1) * 2)))
    return AREAS * workers * 6


def warm_up_requests(make: RequestFactory) -> RequestFactory:
    """`make`'s requests, each asking the server to close the connection after it."""

    def closing() -> bytes:
        return make().replace(b"\r\n", b"\r\nConnection: close\r\n", 1)

    return closing


def io_full_microseconds() -> int | None:
    """Linux's cumulative "full" I/O pressure stall time, or None where it is missing."""
    try:
        lines = Path("/proc/pressure/io").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("full "):
            return int(line.rsplit("total=", 1)[1])
    return None


class GarbageCollections:
    """The load generator's own garbage collections during a phase, longest first.

    Latency is taken in this process: a collection here delays reading every answer
    that arrives meanwhile, and would be counted as the server's. A 60 s open loop
    keeps 12,000 tasks alive, so a full collection takes long enough to matter.
    """

    def __init__(self, phase_start: float) -> None:
        self.pauses: list[tuple[float, float, int]] = []  # (seconds, at, generation)
        self._started = 0.0
        self._phase_start = phase_start

    def __enter__(self) -> GarbageCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            at = self._started - self._phase_start
            self.pauses.append((now - self._started, at, info["generation"]))

    def line(self) -> str:
        longest = sorted(self.pauses, reverse=True)[:3]
        return f"{len(self.pauses)} collections" + "".join(
            f", {seconds * 1000:.0f} ms (generation {gen}) at {at:.1f} s"
            for seconds, at, gen in longest
        )


async def open_loop(port: int, make: RequestFactory, seconds: float, rate: int) -> Result:
    """Requests are due at a fixed rate; latency counts from when each was due.

    The load generator's garbage collector is off for the phase: a full collection
    of the phase's own 12,000 tasks took 60-80 ms, and every answer arriving meanwhile
    was counted that much late (seen: the slowest requests at the very moment of a
    collection). Result.client_gc reports collections (none, now) and how late the
    load generator's own event loop ran, so a stall on this side is told apart from
    the server's.
    """
    result = Result()
    idle: list[HttpConnection] = [await connect(port) for _ in range(16)]
    start = time.perf_counter() + 0.05
    total = int(seconds * rate)

    async def one(due: float) -> None:
        data = make()
        how = "kept connection" if idle else "new connection"
        connection = idle.pop() if idle else await connect(port)
        sent = time.perf_counter()
        try:
            status, close = await connection.request(data)
        except ConnectionError as error:
            # An idle connection the server closed meanwhile: once more on a new one.
            how += f", {error} after {(time.perf_counter() - sent) * 1000:.0f} ms, sent again"
            try:
                connection = await connect(port)
                status, close = await connection.request(data)
            except ConnectionError:
                result.add(599, time.perf_counter() - due)
                return
        result.add(status, time.perf_counter() - due)
        result.note(time.perf_counter() - due, due - start, how)
        if not close:
            idle.append(connection)

    lateness: list[tuple[float, float]] = []  # (seconds late, at)
    io_stalls: list[tuple[float, float]] = []  # (seconds every task waited for I/O, at)
    finished = asyncio.Event()

    async def heartbeat() -> None:
        """How late this process's event loop ran a 10 ms timer: a stall of the load
        generator itself (or of the whole machine), which no server caused. And the
        machine's own I/O stalls (pressure stall information, "full": time in which
        every task waited for I/O), which hold back every database commit's fsync."""
        io_before = io_full_microseconds()
        while not finished.is_set():
            expected = time.perf_counter() + 0.01
            await asyncio.sleep(0.01)
            lateness.append((time.perf_counter() - expected, expected - start))
            io_now = io_full_microseconds()
            if io_now is not None and io_before is not None:
                io_stalls.append(((io_now - io_before) / 1e6, expected - start))
            io_before = io_now

    tasks = []
    beating = asyncio.create_task(heartbeat())
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        with GarbageCollections(start) as collections:
            for index in range(total):
                due = start + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(due)))
            await asyncio.gather(*tasks)
    finally:
        gc.enable()
        gc.unfreeze()
        finished.set()
        await beating
    late, at = max(lateness, default=(0.0, 0.0))
    result.client_gc = (
        f"{collections.line()}; its event loop ran late by {late * 1000:.0f} ms at most "
        f"(at {at:.1f} s)"
    )
    if io_stalls:
        stalled = sorted(io_stalls, reverse=True)[:3]
        result.client_gc += "; the machine's I/O held every task back " + ", ".join(
            f"{seconds * 1000:.0f} ms at {when:.1f} s" for seconds, when in stalled
        )
    result.seconds = seconds
    for connection in idle:
        if connection.transport is not None:
            connection.transport.close()
    return result


def run(coroutine: Awaitable[Result]) -> Result:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


# --- the service under test ---------------------------------------------------------


@dataclass
class Server:
    """A running gunicorn: where it listens and how much CPU it has used."""

    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the gunicorn master and its live workers so far.

        Throughput on a shared 2-core machine swings with the neighbours' load; the
        server's own CPU time per request is the steadier figure to compare changes by.
        """
        return sum(
            cpu_seconds(fields)
            for pid, fields in processes().items()
            if pid == self.pid or int(fields[1]) == self.pid
        )


def measured(server: Server, phase: Awaitable[Result]) -> tuple[Result, float]:
    """Run a load phase; return its result and the server's CPU milliseconds per answer."""
    before = server.cpu_seconds()
    result = run(phase)
    spent = server.cpu_seconds() - before
    return result, spent * 1000 / max(1, len(result.latencies))


@contextmanager
def gunicorn(target: str, env: dict[str, str], log: Path, ready_path: str) -> Iterator[Server]:
    """`gunicorn -c python:gastregister.gunicorn_conf <target>` on a free port, stopped afterwards."""
    environment = {
        **os.environ,
        **env,
        # As deploy/gastregister.env: nginx keeps the access log, gunicorn none.
        "GASTREGISTER_ACCESS_LOG": "off",
        "GASTREGISTER_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    # Any answer will do: the benchmark only needs the server up.
    with local_servers.gunicorn(
        environment, log=log, cwd=ROOT, app=target, ready_path=ready_path, ready_statuses=None
    ) as server:
        time.sleep(1.0)  # let every worker finish importing
        yield Server(server.port, server.process.pid)


def production_env(directory: Path) -> dict[str, str]:
    """The service's environment as deploy/gastregister.env sets it, for a benchmark's
    gunicorn (bench.peer_bench too); the caller adds its database, Redis and metrics."""
    return {
        "GASTREGISTER_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "GASTREGISTER_INSTANCE_PATH": str(directory / "instance"),
        "GASTREGISTER_SCHEDULER": "off",
        # As deploy/gastregister.env: the limiter on, counting in Redis, and the
        # proxy's address (here the load generator's) trusted for X-Forwarded-For.
        "GASTREGISTER_RATELIMIT_ENABLED": "true",
        # nginx counts check-ins per client (deploy/nginx: limit_req, in C and shared
        # memory), and per area those that name their area in X-Gastregister-Area;
        # the app counts the others per area, in Redis.
        "GASTREGISTER_CLIENT_LIMITS_BY_PROXY": "true",
        "GASTREGISTER_AREA_LIMITS_BY_PROXY": "true",
        "GASTREGISTER_FORWARDED_ALLOW_IPS": "127.0.0.1",
        # Production needs a mail server; the benchmark sends no mail.
        "GASTREGISTER_MAIL_SERVER": "127.0.0.1",
    }


# --- databases ------------------------------------------------------------------------


@dataclass
class Prepared:
    url: str
    # Per area: its code and an envelope sealed for it.
    areas: list[tuple[str, str]]


def prepare(url: str) -> Prepared:
    """Migrate, add one location with AREAS areas and a health-office key, and seal an
    envelope for each area."""
    import crypto
    from registration.database import Database
    from registration.migrate import upgrade
    from tests import factories

    database = Database(url)
    with database.engine.begin() as connection:
        upgrade(connection)
    venue = factories.add_venue(
        database,
        business_name="Benchmark GmbH",
        name="Benchmark-Halle",
        areas=[f"Tisch {number}" for number in range(1, AREAS + 1)],
    )
    # Statistics, as a running service has them (autovacuum gathers them within a minute
    # of 500 new areas): without them, PostgreSQL's cached plan found an area among its
    # location's 500 by scanning them all.
    with database.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    database.dispose()
    areas = [(area.code, crypto.encode_envelope(venue.seal(area=area))) for area in venue.areas]
    return Prepared(url, areas)


def client_address(index: int) -> str:
    """The simulated client of the `index`th request: a new one every CHECKINS_PER_CLIENT."""
    number = index // CHECKINS_PER_CLIENT
    return f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"


def checkin_request_factory(
    prepared: Prepared, port: int, *, name_areas: bool = True
) -> RequestFactory:
    """Check-ins as the guest page sends them (through nginx): each names its area in
    X-Gastregister-Area as well as in its body, unless `name_areas` is false."""
    arrival = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    counter = iter(range(10**12))

    def make() -> bytes:
        index = next(counter)
        area_code, envelope = prepared.areas[index % len(prepared.areas)]
        body = (
            f'{{"areaCode":"{area_code}","persons":2,"arrival":"{arrival}","envelope":"'
            + envelope
            + f'","idempotencyKey":"{uuid.uuid4()}"}}'
        ).encode()
        named = f"X-Gastregister-Area: {area_code}\r\n" if name_areas else ""
        return (
            f"POST /api/v1/checkins HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Forwarded-For: {client_address(index)}\r\nX-Forwarded-Proto: https\r\n"
            f"{named}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    return make


def trivial_request_factory(port: int) -> RequestFactory:
    data = f"GET /trivial HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    return lambda: data


def stored_rows(url: str) -> int:
    from sqlalchemy import func, select

    from registration.database import Database
    from registration.models import CheckIn

    database = Database(url)
    try:
        with database.session() as session:
            return int(session.scalar(select(func.count()).select_from(CheckIn)) or 0)
    finally:
        database.dispose()


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


@contextmanager
def sqlite_database(directory: Path) -> Iterator[str]:
    yield f"sqlite:///{directory / 'bench.db'}"


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A Redis server of the benchmark's own for the limiter's counters, as in production
    (deploy/gastregister.env: GASTREGISTER_RATELIMIT_STORAGE=redis://...)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is needed: the rate limiter counts in Redis in production")
    port = local_servers.free_port()
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        local_servers.wait_until(lambda: _answers(port), guard_seconds=20)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- the run --------------------------------------------------------------------------


def metrics_folder(directory: Path, name: str) -> str:
    """A folder for the app's per-worker metric files, as the deployed service has."""
    folder = directory / f"metrics-{name}"
    folder.mkdir(exist_ok=True)
    return str(folder)


def machine_context() -> list[str]:
    cpu = "unknown"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = [
        f"CPU: {cpu}, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}",
        f"Python {platform.python_version()}, Flask {version('flask')}, SQLAlchemy {version('sqlalchemy')}, "
        f"gunicorn {version('gunicorn')}, psycopg {version('psycopg')}, SQLite {sqlite3.sqlite_version}",
    ]
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL) as admin:
            row = admin.execute("SHOW server_version").fetchone()
        lines.append(f"PostgreSQL {row[0] if row else '?'}")
    except Exception as exc:
        lines.append(f"PostgreSQL not reachable ({type(exc).__name__})")
    workers = os.environ.get("GASTREGISTER_WORKERS", str((os.cpu_count() or 1) * 2))
    threads = os.environ.get("GASTREGISTER_THREADS", "4")
    lines.append(
        f"gastregister/gunicorn_conf.py: {workers} workers x {threads} threads (gthread); load generator: "
        f"1 asyncio process on the same machine, {CONNECTIONS} keep-alive connections"
    )
    return lines


ROUNDS = 3


@dataclass
class Phase:
    """One measured phase: its load result and the server's CPU ms per answer."""

    result: Result
    cpu_ms: float


def median_ratio(top: list[Phase], bottom: list[Phase]) -> float:
    """The median over rounds of top's CPU per answer over bottom's, round by round."""
    ratios = sorted(t.cpu_ms / b.cpu_ms for t, b in zip(top, bottom, strict=True) if b.cpu_ms)
    return ratios[len(ratios) // 2] if ratios else 0.0


def median_phase(phases: list[Phase]) -> Phase:
    """The phase with the median CPU per answer (the figures of one phase stay together)."""
    return sorted(phases, key=lambda phase: phase.cpu_ms)[len(phases) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="length of each measured phase (of 2 x rounds)"
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="rounds of trivial and check-in phases"
    )
    parser.add_argument(
        "--tail-seconds", type=float, default=60.0, help=f"length of the {FIXED_RATE}/s phase"
    )
    areas = parser.add_mutually_exclusive_group()
    areas.add_argument(
        "--unnamed-areas",
        action="store_true",
        help="send check-ins without X-Gastregister-Area: the app counts each per area",
    )
    areas.add_argument(
        "--compare-unnamed",
        action="store_true",
        help="each round also measures check-ins without X-Gastregister-Area, for the ratio",
    )
    args = parser.parse_args(argv)
    print("\n".join(machine_context()), flush=True)
    print(
        "Check-ins "
        + (
            "without X-Gastregister-Area: the app counts each per area, in Redis."
            if args.unnamed_areas
            else "name their area in X-Gastregister-Area, as the guest page's do: nginx "
            "counts them per area, the app checks the header against the body."
        )
    )
    print(
        f"Per database: the trivial endpoint and the check-in alternate, {args.rounds} rounds of "
        f"{args.seconds:.0f} s each, both servers running throughout; the median round is "
        "shown (the machine is shared: a neighbour's burst hits one round, not the ratio)."
    )
    failures = 0
    with (
        tempfile.TemporaryDirectory(prefix="gr-bench-") as temporary,
        redis_server(Path(temporary)) as redis_url,
    ):
        directory = Path(temporary)
        log = directory / "gunicorn.log"
        base_env = production_env(directory)
        databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        for number, name in enumerate(databases):
            context = postgres_database() if name == "postgres" else sqlite_database(directory)
            with context as url:
                prepared = prepare(url)
                env = {
                    **base_env,
                    "DATABASE_URL": url,
                    # A Redis database each: the clients' addresses repeat from run to run.
                    "GASTREGISTER_RATELIMIT_STORAGE": f"{redis_url}/{number}",
                    # As deploy/gastregister.env: the metrics shared by the workers (a
                    # folder of the app's own: gunicorn empties it when it starts).
                    "PROMETHEUS_MULTIPROC_DIR": metrics_folder(directory, name),
                }
                with (
                    gunicorn(
                        "bench.checkin_bench:trivial_wsgi", base_env, log, "/trivial"
                    ) as plain,
                    gunicorn("gastregister.wsgi:app", env, log, "/healthz") as server,
                ):
                    plain_make = trivial_request_factory(plain.port)
                    make = checkin_request_factory(
                        prepared, server.port, name_areas=not args.unnamed_areas
                    )
                    run(closed_loop(plain.port, plain_make, 2, CONNECTIONS))
                    warm = run(
                        closed_loop(
                            server.port,
                            warm_up_requests(make),
                            0,
                            CONNECTIONS,
                            total=warm_up_count(),
                        )
                    )
                    print(
                        f"\n{name}: warm-up, every area through every worker: "
                        f"{len(warm.latencies)} check-ins in {warm.seconds:.1f} s",
                        flush=True,
                    )
                    trivial_phases: list[Phase] = []
                    checkin_phases: list[Phase] = []
                    unnamed_phases: list[Phase] = []
                    unnamed_make = checkin_request_factory(prepared, server.port, name_areas=False)
                    for number in range(args.rounds):
                        trivial_phases.append(
                            Phase(
                                *measured(
                                    plain,
                                    closed_loop(plain.port, plain_make, args.seconds, CONNECTIONS),
                                )
                            )
                        )
                        # With --compare-unnamed, the two kinds take turns going first, so
                        # neither gains from its place in the round (a database that grows,
                        # a checkpoint that falls into the second phase).
                        kinds = [(checkin_phases, make)]
                        if args.compare_unnamed:
                            kinds.append((unnamed_phases, unnamed_make))
                            if number % 2:
                                kinds.reverse()
                        for phases, factory in kinds:
                            phases.append(
                                Phase(
                                    *measured(
                                        server,
                                        closed_loop(
                                            server.port, factory, args.seconds, CONNECTIONS
                                        ),
                                    )
                                )
                            )
                    if unnamed_phases:
                        print(
                            f"{name}: server CPU ms per check-in, named/unnamed area, each "
                            "round: "
                            + ", ".join(
                                f"{c.cpu_ms:.2f}/{u.cpu_ms:.2f}"
                                for c, u in zip(checkin_phases, unnamed_phases, strict=True)
                            )
                            + "; median ratio named/unnamed "
                            + f"{median_ratio(checkin_phases, unnamed_phases):.2f} (the "
                            "unnamed went first in every second round)"
                        )
                    throughput_load = load_average()
                    # The steady rate starts on a server at rest: the closed loop before
                    # left every worker's WAL checkpoint and queued writes to settle.
                    time.sleep(SETTLE_SECONDS)
                    fixed = run(open_loop(server.port, make, args.tail_seconds, FIXED_RATE))
                ceiling = median_phase(trivial_phases)
                throughput = median_phase(checkin_phases)
                # Per round, check-ins per trivial request; the median of the rounds.
                ratios = sorted(
                    c.result.rate() / t.result.rate()
                    for t, c in zip(trivial_phases, checkin_phases, strict=True)
                    if t.result.rate()
                )
                ratio = ratios[len(ratios) // 2] if ratios else 0.0
                cpu_ratio = median_ratio(trivial_phases, checkin_phases)
                accepted_total = stored_rows(url)
                rounds = ", ".join(
                    f"{t.cpu_ms:.2f}/{c.cpu_ms:.2f}"
                    for t, c in zip(trivial_phases, checkin_phases, strict=True)
                )
                print(f"{name}: trivial Flask endpoint (ceiling):  {ceiling.result.line()}")
                print(f"{name}: check-ins, closed loop:           {throughput.result.line()}")
                print(f"{name}: server CPU ms per request, trivial/check-in, each round: {rounds}")
                print(
                    f"{name}: server CPU per check-in:       {throughput.cpu_ms:.2f} ms, trivial "
                    f"{ceiling.cpu_ms:.2f} ms (gunicorn master + workers; the database's CPU not "
                    f"included)  ({throughput_load})"
                )
                print(
                    f"{name}: check-ins / trivial endpoint:      {ratio:.2f} by throughput, "
                    f"{cpu_ratio:.2f} by CPU per request"
                )
                print(
                    f"{name}: check-ins at {FIXED_RATE}/s for {args.tail_seconds:.0f} s, open loop: "
                    f"{fixed.line()}  ({load_average()})"
                )
                print(f"{name}: slowest at {FIXED_RATE}/s: {fixed.slowest_line()}")
                print(f"{name}: the load generator: {fixed.client_gc}")
                print(f"{name}: rows stored: {accepted_total} (warm-up included)", flush=True)
                fixed_max = max(fixed.latencies, default=0.0) * 1000
                unavailable = fixed.statuses.get(503, 0)
                goal(
                    f"checkin-cpu-ms-{name}",
                    throughput.cpu_ms,
                    f"<={TARGET_CPU_MS}",
                    throughput.cpu_ms <= TARGET_CPU_MS,
                )
                goal(f"checkin-ratio-{name}", ratio, f">={TARGET_RATIO}", ratio >= TARGET_RATIO)
                goal(
                    f"tail-max-ms-{name}",
                    fixed_max,
                    f"<{TARGET_TAIL_MS:.0f}",
                    fixed_max < TARGET_TAIL_MS,
                )
                goal(f"tail-503-count-{name}", unavailable, "0", unavailable == 0)
                statuses = [phase.result.statuses for phase in checkin_phases] + [fixed.statuses]
                if any(status >= 300 for counts in statuses for status in counts):
                    failures += 1
                    print(f"{name}: some requests failed; see {log}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
