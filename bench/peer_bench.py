"""Check-ins per second against a real peer, prechelt/anwesende, in the same run (issue 15, goal 1).

    .venv/bin/python -m bench.peer_bench --peer-url http://127.0.0.1:8102 [--rounds 4] [--seconds 10]

The shape of the issue's comparison: both services under gunicorn, gthread, 2 workers
x 3 threads, on the same PostgreSQL, and `wrk -t2 -c8 -d10s` POSTing valid
check-ins to each, the two taking turns (which goes first alternates by round, both
running throughout, so a neighbour's burst on this shared machine hits one round, not
the ratio). Each check-in is a new one that is really stored: Gastregister's with its
own idempotency key, spread over AREAS areas (a sealed envelope per area, made in
Python beforehand), naming its area in X-Gastregister-Area as the guest page does;
the peer's a visit form as its page posts it (its CSRF cookie and token, fetched
once, and a new name and e-mail address each). Before each round both databases are analyzed, as
autovacuum would have done by then (`analyze`). The figure of the goal is the median
of the rounds' ratios of requests per second, Gastregister's over the peer's; beside it
each side's server CPU per check-in (gunicorn master and workers, and PostgreSQL: the
postmaster and every backend, those that ended during the phase included), counted
from /proc.

Gastregister runs as deploy/gastregister.env configures it (production, the limiter
on and counting in a Redis server of the benchmark's own, clients and areas counted by
the proxy, no access log); the load generator's address is the trusted proxy. The peer
is not part of this repository and this script does not install it: serve a checkout
of https://github.com/prechelt/anwesende (Django 3.2, its v5.x state) with
config.settings.production, DATABASE_URL on the same PostgreSQL server (database
`anwesende_bench` unless `--peer-database` names another), rooms with seats from its
room import, and `gunicorn --worker-class gthread --workers 2 --threads 3 --bind
127.0.0.1:8102 config.wsgi`. The seats' visit forms (`/S<hash>`, a seat's QR code) are
read from its database, and its stored visits counted there. Needs wrk (Debian:
`apt-get install wrk`).

Without `--peer-url` (or the environment variable GASTREGISTER_BENCH_PEER_URL) it prints
that the peer was not measured and the goal as missed: a figure without the peer's
from the same run would not be the goal's. Not a test.
"""

from __future__ import annotations

import argparse
import html.parser
import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.checkin_bench import (
    AREAS,
    Prepared,
    gunicorn,
    load_average,
    machine_context,
    metrics_folder,
    postgres_database,
    prepare,
    production_env,
    redis_server,
    stored_rows,
)
from bench.proc import cpu_seconds, processes, stat_fields

TARGET_RATIO = 3.0
WORKERS, THREADS = 2, 3  # the comparison: gunicorn gthread 2 x 3 for both
WRK_THREADS, WRK_CONNECTIONS = 2, 8
ROUNDS = 4
SECONDS = 10.0
WARM_UP_SECONDS = 3.0


def goal(measured: float | None, ok: bool) -> None:
    value = "unmeasured" if measured is None else f"{measured:.2f}"
    print(
        f"GOAL checkin-rate-vs-anwesende measured={value} target=>={TARGET_RATIO:g} "
        f"ok={'yes' if ok else 'no'}"
    )


# --- CPU of a process tree, and of PostgreSQL -------------------------------------------


def tree_cpu_seconds(root: int) -> float:
    """CPU time of `root`, its live children, and the children it has reaped.

    cutime/cstime of the root hold what its ended children used (a PostgreSQL backend
    ends with its connection); a live backend is counted as a child. anwesende's
    production settings keep a thread's connection for 60 s (CONN_MAX_AGE), so most
    of its backends are live ones; a peer that closed them per request is counted too.
    """
    fields = stat_fields(root)
    if fields is None:
        return 0.0
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    children = (child for child in processes().values() if int(child[1]) == root)
    return ticks / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(child) for child in children)


def postmaster_pid() -> int | None:
    """The PostgreSQL server's main process on this machine (the parent of a backend)."""
    import psycopg

    from bench.checkin_bench import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL) as admin:
        row = admin.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0
        fields = stat_fields(backend)
    return int(fields[1]) if fields is not None else None


def listener_pid(port: int) -> int | None:
    """The process that listens on 127.0.0.1:`port` (the peer's gunicorn master)."""
    output = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    pids = [int(pid) for pid in re.findall(r"pid=(\d+)", output)]
    if not pids:
        return None
    # gunicorn's workers share the master's socket: the master is the one whose parent
    # is not among them.
    for pid in pids:
        fields = stat_fields(pid)
        if fields is not None and int(fields[1]) not in pids:
            return pid
    return pids[0]


# --- wrk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rate: float
    failed: int  # non-2xx/3xx answers and socket errors
    latency: str

    def line(self) -> str:
        return (
            f"{self.rate:,.0f} req/s ({self.requests:,} in {self.seconds:.1f} s, "
            f"{self.failed} failed, latency {self.latency})"
        )


def run_wrk(url: str, script: Path, seconds: float) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed (Debian: apt-get install wrk)")
    completed = subprocess.run(
        [
            wrk,
            f"-t{WRK_THREADS}",
            f"-c{WRK_CONNECTIONS}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(completed.stdout)


def parse_wrk(output: str) -> WrkResult:
    """The figures of wrk's report."""
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if done is None or rate is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    seconds = float(done[2]) / (1000 if done[3] == "ms" else 1)
    failed = 0
    if (status := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) is not None:
        failed += int(status[1])
    if (errors := re.search(r"Socket errors: (.*)", output)) is not None:
        failed += sum(int(number) for number in re.findall(r"\d+", errors[1]))
    latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", output)
    # The distribution's own line: a "+/- Stdev" such as 71.99% ends in 99% too.
    p99 = re.search(r"^\s*99%\s+(\S+)", output, re.MULTILINE)
    described = f"mean {latency[1]}, max {latency[3]}" if latency else "?"
    if p99:
        described += f", p99 {p99[1]}"
    return WrkResult(int(done[1]), seconds, float(rate[1]), failed, described)


def _lua_string(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_\-.:+@/ =%&]*", text):
        raise ValueError("unexpected character for the wrk script")
    return f'"{text}"'


# Every generated script numbers its requests per wrk thread (`tid` is set by setup())
# and names its run by the second wrk started it: warm-up and rounds run the same
# script, and a second run must not repeat the first one's check-ins.
_LUA_THREADS = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
local run = os.time()
"""


def gastregister_script(prepared: Prepared, path: Path) -> None:
    """Check-ins as the guest page posts them through nginx, each with its own key."""
    areas = ",\n".join(
        f"  {{{_lua_string(code)}, {_lua_string(envelope)}}}" for code, envelope in prepared.areas
    )
    path.write_text(
        f"local areas = {{\n{areas}\n}}\n"
        + _LUA_THREADS
        + """
-- Arriving as the run starts, as a guest's phone says.
local arrival = os.date("!%Y-%m-%dT%H:%M:%S.000Z", run)
local prefix = string.format("%s-%x-", """
        + _lua_string(secrets.token_hex(6))
        + """, run)

function request()
  counter = counter + 1
  local area = areas[counter % #areas + 1]
  local key = prefix .. tid .. "-" .. string.format("%012d", counter)
  local body = '{"areaCode":"' .. area[1] .. '","persons":2,"arrival":"' .. arrival ..
    '","envelope":"' .. area[2] .. '","idempotencyKey":"' .. key .. '"}'
  return wrk.format("POST", "/api/v1/checkins", {
    ["Content-Type"] = "application/json",
    ["X-Gastregister-Area"] = area[1],
    ["X-Forwarded-Proto"] = "https",
    ["X-Forwarded-For"] = "10." .. tid .. "." .. (math.floor(counter / 256) % 256) .. "." .. (counter % 256),
  }, body)
end
"""
    )


# --- the peer ----------------------------------------------------------------------------


class _FormFields(html.parser.HTMLParser):
    """The hidden CSRF token of the peer's visit form."""

    def __init__(self) -> None:
        super().__init__()
        self.token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name") == "csrfmiddlewaretoken":
            self.token = values.get("value")


def analyze(*database_urls: str) -> None:
    """Fresh planner statistics for both services' databases before each round, as
    autovacuum keeps them on a running server (it analyzes a table once a tenth of it
    is new: each round adds more than that here). The PostgreSQL of the machines this
    runs on may have autovacuum off (a CI setting); without statistics, a plan chosen
    while today's check-ins were few can stay, and scan them all, for the whole run."""
    import psycopg

    for database_url in database_urls:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("ANALYZE")


@dataclass(frozen=True)
class Peer:
    """The running peer: where it listens, its seats' visit forms, its database."""

    url: str
    seats: list[str]
    database_url: str

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or 80

    def visits(self) -> int:
        import psycopg

        with psycopg.connect(self.database_url) as connection:
            row = connection.execute("SELECT count(*) FROM room_visit").fetchone()
        return int(row[0]) if row else 0

    def csrf(self) -> tuple[str, str]:
        """The CSRF cookie and form token a guest's browser gets with the visit form."""
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", self.port)
        try:
            connection.request("GET", f"/S{self.seats[0]}")
            answer = connection.getresponse()
            page = answer.read().decode("utf-8", "replace")
            cookies = answer.headers.get_all("Set-Cookie") or []
        finally:
            connection.close()
        cookie = next(
            (c.split(";", 1)[0].split("=", 1)[1] for c in cookies if c.startswith("csrftoken=")),
            None,
        )
        form = _FormFields()
        form.feed(page)
        if answer.status != 200 or cookie is None or form.token is None:
            raise SystemExit(f"the peer's visit form /S{self.seats[0]} gave no CSRF token")
        return cookie, form.token

    def script(self, path: Path) -> None:
        """Visits as the peer's form posts them, a new guest each (name, phone, e-mail)."""
        cookie, token = self.csrf()
        seats = ",".join(_lua_string(seat) for seat in self.seats)
        path.write_text(
            f"local seats = {{{seats}}}\n"
            f"local cookie = {_lua_string(cookie)}\n"
            f"local token = {_lua_string(token)}\n"
            + _LUA_THREADS
            + """
function request()
  counter = counter + 1
  local n = tid * 10000000 + counter  -- with run: a new guest each
  local body = "csrfmiddlewaretoken=" .. token ..
    "&givenname=Erika" .. run .. "x" .. n ..
    "&familyname=Mustermann&street_and_number=Takustr.+" .. (counter % 200 + 1) ..
    "&zipcode=" .. string.format("%05d", 10000 + n % 89999) ..
    "&town=Berlin&phone=%2B49+151+" .. string.format("%08d", n % 100000000) ..
    "&email=erika" .. run .. "x" .. n .. "%40example.org" ..
    "&status_3g=22&present_from_dt=08%3A00&present_to_dt=09%3A30" ..
    "&cookie=" .. string.format("c%08d", n % 100000000) .. "&submit=Submit"
  return wrk.format("POST", "/S" .. seats[counter % #seats + 1], {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrftoken=" .. cookie,
  }, body)
end
"""
        )


def find_peer(url: str, database_url: str) -> Peer:
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT s.hash FROM room_seat s JOIN room_room r ON r.id = s.room_id "
            "WHERE r.organization <> 'uni-dummy.de' ORDER BY s.id"
        ).fetchall()
    seats = [str(row[0]) for row in rows]
    if not seats:
        raise SystemExit("the peer has no rooms with seats: import some first")
    return Peer(url.rstrip("/"), seats, database_url)


# --- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    name: str
    url: str
    script: Path
    server_pid: int


@dataclass(frozen=True)
class Measured:
    wrk: WrkResult
    app_ms: float  # gunicorn's CPU per request
    db_ms: float  # PostgreSQL's CPU per request

    def line(self) -> str:
        return (
            f"{self.wrk.line()}; server CPU {self.app_ms + self.db_ms:.2f} ms per check-in "
            f"(gunicorn {self.app_ms:.2f}, PostgreSQL {self.db_ms:.2f})"
        )


@dataclass(frozen=True)
class Comparison:
    """The rounds side by side: Gastregister's check-ins per second over anwesende's, and
    anwesende's server CPU per check-in over Gastregister's, each in round order."""

    rate_ratios: list[float]
    cpu_ratios: list[float]

    @property
    def rate_ratio(self) -> float:
        """The goal's figure: the median round. With an even number of rounds (4 by
        default) that is the mean of the middle two, not the upper one, which favoured
        Gastregister (rounds 2.90, 3.01, 3.48 and 3.74 gave 3.48, not 3.25)."""
        return statistics.median(self.rate_ratios) if self.rate_ratios else 0.0

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.cpu_ratios) if self.cpu_ratios else 0.0


def compare(ours: list[Measured], theirs: list[Measured]) -> Comparison:
    """The rounds compared, each of ours with the peer's of the same round."""
    pairs = list(zip(ours, theirs, strict=True))
    return Comparison(
        rate_ratios=[o.wrk.rate / t.wrk.rate for o, t in pairs if t.wrk.rate],
        cpu_ratios=[
            (t.app_ms + t.db_ms) / (o.app_ms + o.db_ms) for o, t in pairs if o.app_ms + o.db_ms
        ],
    )


def measure(side: Side, postgres: int, seconds: float) -> Measured:
    app_before, db_before = tree_cpu_seconds(side.server_pid), tree_cpu_seconds(postgres)
    result = run_wrk(side.url, side.script, seconds)
    app = tree_cpu_seconds(side.server_pid) - app_before
    db = tree_cpu_seconds(postgres) - db_before
    requests = max(1, result.requests)
    return Measured(result, app * 1000 / requests, db * 1000 / requests)


@contextmanager
def gastregister_server(directory: Path, url: str, redis_url: str) -> Iterator[tuple[int, int]]:
    env = {
        **production_env(directory),
        "GASTREGISTER_RATELIMIT_STORAGE": redis_url,
        "PROMETHEUS_MULTIPROC_DIR": metrics_folder(directory, "peer"),
        "DATABASE_URL": url,
        # The comparison's shape: the peer's gunicorn settings.
        "GASTREGISTER_WORKERS": str(WORKERS),
        "GASTREGISTER_THREADS": str(THREADS),
    }
    with gunicorn("gastregister.wsgi:app", env, directory / "gunicorn.log", "/healthz") as server:
        yield server.port, server.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--peer-url",
        default=os.environ.get("GASTREGISTER_BENCH_PEER_URL"),
        help="where the peer's gunicorn listens, e.g. http://127.0.0.1:8102",
    )
    parser.add_argument(
        "--peer-database",
        default=os.environ.get(
            "GASTREGISTER_BENCH_PEER_DATABASE",
            "postgresql://postgres@127.0.0.1:5432/anwesende_bench",
        ),
        help="the peer's PostgreSQL database (its seats are read from it, its visits counted)",
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args(argv)
    print("\n".join(machine_context()[:3]), flush=True)
    if args.peer_url is None:
        print(
            "The peer (prechelt/anwesende) is not running here: pass --peer-url "
            "(see `python -m bench.peer_bench --help` and this module's docstring)."
        )
        goal(None, False)
        return 0
    peer = find_peer(args.peer_url, args.peer_database)
    postgres = postmaster_pid()
    if postgres is None or listener_pid(peer.port) is None:
        raise SystemExit("cannot find the PostgreSQL server's or the peer's processes")
    print(
        f"Both: gunicorn gthread {WORKERS} workers x {THREADS} threads, PostgreSQL on this "
        f"machine; wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}, {args.rounds} rounds of "
        f"{args.seconds:g} s each, which goes first alternating; peer: {peer.url}, "
        f"{len(peer.seats)} seats; Gastregister: {AREAS} areas"
    )
    with (
        tempfile.TemporaryDirectory(prefix="gr-peer-bench-") as temporary,
        redis_server(Path(temporary)) as redis_url,
        postgres_database() as url,
    ):
        directory = Path(temporary)
        prepared = prepare(url)
        with gastregister_server(directory, url, redis_url) as (port, pid):
            ours = Side("Gastregister", f"http://127.0.0.1:{port}", directory / "gr.lua", pid)
            gastregister_script(prepared, ours.script)
            theirs = Side(
                "anwesende", peer.url, directory / "peer.lua", listener_pid(peer.port) or 0
            )
            peer.script(theirs.script)
            visits_before = peer.visits()
            warm_up: dict[str, int] = {}
            for side in (ours, theirs):
                warm = run_wrk(side.url, side.script, WARM_UP_SECONDS)
                warm_up[side.name] = warm.requests
                print(f"warm-up {side.name}: {warm.line()}", flush=True)
            measured_ours: list[Measured] = []
            measured_theirs: list[Measured] = []
            for number in range(args.rounds):
                analyze(url, peer.database_url)
                order = [(ours, measured_ours), (theirs, measured_theirs)]
                if number % 2:
                    order.reverse()
                for side, results in order:
                    results.append(measure(side, postgres, args.seconds))
                    print(f"round {number + 1} {side.name:12} {results[-1].line()}", flush=True)
                print(f"  ({load_average()})", flush=True)
            time.sleep(1.0)
            stored = stored_rows(url)
            visits = peer.visits() - visits_before
    answered_ours = warm_up[ours.name] + sum(m.wrk.requests for m in measured_ours)
    answered_theirs = warm_up[theirs.name] + sum(m.wrk.requests for m in measured_theirs)
    failed = sum(m.wrk.failed for m in measured_ours + measured_theirs)
    # Every answer a new row (wrk stops with a few requests unanswered, which may be
    # stored): an answer without a row was no check-in.
    missing = max(0, answered_ours - stored) + max(0, answered_theirs - visits)
    comparison = compare(measured_ours, measured_theirs)
    ratio = comparison.rate_ratio
    print(
        f"stored: Gastregister {stored:,} check-ins for {answered_ours:,} answers, anwesende "
        f"{visits:,} visits for {answered_theirs:,} answers (warm-up included; its table "
        f"held {visits_before:,} visits before the run); failed answers {failed}"
    )
    print(
        "check-ins per second, Gastregister / anwesende, each round: "
        + ", ".join(f"{value:.2f}" for value in comparison.rate_ratios)
        + f"; median {ratio:.2f}. Server CPU per check-in, anwesende / Gastregister: median "
        f"{comparison.cpu_ratio:.2f}"
    )
    if missing:
        print(f"{missing} answers stored nothing: the figures are not of check-ins")
    ok = ratio >= TARGET_RATIO and failed == 0 and missing == 0
    goal(ratio, ok)
    return 1 if failed or missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
