"""Counts for the operator's Prometheus, served at `/metrics`.

The service runs as several gunicorn workers on one or more hosts, and the
maintenance runs in a process of its own, possibly elsewhere. So:

* what a worker sees (check-ins, HTTP answers, its connection pool) is counted in
  that worker. With `PROMETHEUS_MULTIPROC_DIR` set, prometheus_client keeps those
  counts in one small file per process, and whichever worker answers a scrape adds
  up every worker's files (the hooks in gastregister/gunicorn_conf.py empty the
  folder at start and drop a dead worker's gauges). Without the variable (demo,
  tests) the counts live in the process.
* what the maintenance did is read from the database (`job_runs`) at scrape time,
  and so are the trace requests: any host can answer for them.

Only counts and times leave: no code, name or id of a business, location, area or
user, and no address. Every label has a small fixed set of values, so a caller can
never turn a label into a channel for data. The functions domain code calls are a
dictionary look-up and an increment, so a check-in pays microseconds for them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import ipaddress
import os
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import Pool, QueuePool

from registration.config import Settings
from registration.database import Database
from registration.session import get_db, get_settings

# prometheus_client decides this once, at import, from the same variable.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

CHECKIN_SOURCES = ("guest_page", "guest_form", "staff_entry")
# The error codes a refused check-in answers with (registration/checkin/errors.py,
# the staff entry's and the service's generic codes); anything else counts as "other".
REFUSAL_REASONS = (
    "invalid_json",
    "invalid",
    "too_large",
    "invalid_envelope",
    "unsupported_envelope_version",
    "unsupported_suite",
    "unknown_area",
    "checkin_unavailable",
    "entrance_code_required",
    "stale_key",
    "idempotency_conflict",
    "arrival_out_of_range",
    "too_many_requests",
    "bad_request",
    "other",
)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
REMOVED_KINDS = ("checkins", "export_packages", "trace_requests_redacted", "audit_events")
PURGE_OUTCOMES = ("succeeded", "failed", "unfinished")
METRICS_ENDPOINT = "metrics.metrics"

# Counters export only their `_total` series, in both modes alike.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client


class _Counters:
    """The per-process counters, created at the first count (see `_counters`)."""

    def __init__(self) -> None:
        accepted = Counter(
            "gastregister_checkins_accepted",
            "Check-ins stored (a retry of a stored check-in is not counted again), by source.",
            ["source"],
            registry=None,
        )
        refused = Counter(
            "gastregister_checkins_refused",
            "Check-ins refused, by the error code the guest or staff member got.",
            ["reason"],
            registry=None,
        )
        responses = Counter(
            "gastregister_http_responses",
            "HTTP responses, by status class (scrapes of /metrics not counted).",
            ["status_class"],
            registry=None,
        )
        unavailable = Counter(
            "gastregister_http_unavailable_responses",
            "HTTP 503 responses: database unreachable, or no health-office key for a check-in.",
            registry=None,
        )
        self.collectors: tuple[Collector, ...] = (accepted, refused, responses, unavailable)
        # Children bound once: every label value exists from the first count, at 0.
        self.accepted = {source: accepted.labels(source) for source in CHECKIN_SOURCES}
        self.refused = {reason: refused.labels(reason) for reason in REFUSAL_REASONS}
        self.responses = {status: responses.labels(status) for status in STATUS_CLASSES}
        self.unavailable = unavailable


class _PoolGauges:
    """This process's connection pool, created when a serving process starts watching it.

    `liveall`: in multiprocess mode each live process has its own series (a `pid`
    label), and gunicorn's child_exit hook drops a dead worker's.
    """

    def __init__(self) -> None:
        self.checked_out = Gauge(
            "gastregister_db_pool_checked_out",
            "Database connections in use, per process.",
            registry=None,
            multiprocess_mode="liveall",
        )
        self.size = Gauge(
            "gastregister_db_pool_size",
            "Configured size of the database connection pool, per process.",
            registry=None,
            multiprocess_mode="liveall",
        )
        self.overflow = Gauge(
            "gastregister_db_pool_overflow",
            "Database connections open beyond the pool size, per process.",
            registry=None,
            multiprocess_mode="liveall",
        )
        self.collectors: tuple[Collector, ...] = (self.checked_out, self.size, self.overflow)


@functools.cache
def _counters() -> _Counters:
    """Created at the first count, not at import: a process that only builds the app
    (the `gastregister` CLI, the maintenance runner) leaves no files in the
    multiprocess folder, which only gunicorn's start empties."""
    return _Counters()


@functools.cache
def _pool_gauges() -> _PoolGauges:
    return _PoolGauges()


def process_collectors() -> list[Collector]:
    """This process's metrics, for a scrape without multiprocess mode."""
    collectors = list(_counters().collectors)
    if _pool_gauges.cache_info().currsize:
        collectors.extend(_pool_gauges().collectors)
    return collectors


# --- what domain code calls --------------------------------------------------------


def checkin_accepted(source: str) -> None:
    """A check-in was stored for the first time (`source`: a CheckInSource value)."""
    _counters().accepted[source].inc()


def checkin_refused(reason: str) -> None:
    """A check-in was refused with this error code (unknown codes count as "other")."""
    refused = _counters().refused
    (refused.get(reason) or refused["other"]).inc()


def http_response(status: int) -> None:
    counters = _counters()
    counters.responses[f"{min(max(status // 100, 1), 5)}xx"].inc()
    if status == 503:
        counters.unavailable.inc()


# --- the connection pool -------------------------------------------------------------


# What the gauges hold (checked out, size, overflow): an event writes only what changed.
_pool_written: list[tuple[int, int, int]] = [(-1, -1, -1)]


def _record_pool(pool: QueuePool, *, returning: bool) -> None:
    """Write this process's pool state after the event that is happening.

    SQLAlchemy fires `checkin` before the connection is back in the pool (and before
    a connection beyond the pool size is closed), so that case is computed ahead.
    Threads may interleave, so a gauge can lag by one event; the next one corrects it.
    """
    size = pool.size()
    checked_out = pool.checkedout()
    idle = pool.checkedin()
    if returning:
        checked_out -= 1
        idle = min(idle + 1, size)
    state = (max(checked_out, 0), size, max(checked_out + idle - size, 0))
    previous = _pool_written[0]
    if state == previous:
        return
    _pool_written[0] = state
    gauges = _pool_gauges()
    if state[0] != previous[0]:
        gauges.checked_out.set(state[0])
    if state[1] != previous[1]:
        gauges.size.set(state[1])
    if state[2] != previous[2]:
        gauges.overflow.set(state[2])


_watched_pools: weakref.WeakSet[Pool] = weakref.WeakSet()


def watch_pool(pool: Pool) -> None:
    """Keep the pool gauges current from the pool's own events (once per pool)."""
    if not isinstance(pool, QueuePool) or pool in _watched_pools:
        return
    _watched_pools.add(pool)

    def checked_out(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        _record_pool(pool, returning=False)

    def checked_in(_dbapi_connection: Any, _record: Any) -> None:
        _record_pool(pool, returning=True)

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    _record_pool(pool, returning=False)


# --- facts from the database, read at scrape time -------------------------------------


def _timestamp(moment: dt.datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


class DatabaseFacts:
    """Maintenance runs and trace requests, as the shared database records them."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "gastregister_database_up", "1 if the database answered this scrape's queries."
        )
        try:
            with self.database.session() as session:
                facts = list(self._facts(session))
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from facts

    def _facts(self, session: Any) -> Iterator[Metric]:
        from registration.models import JobRun, TraceRequest, TraceRequestState
        from registration.retention.services import JOB_NAME, last_job_run

        interval = GaugeMetricFamily(
            "gastregister_purge_interval_seconds",
            "Configured interval between maintenance runs.",
        )
        interval.add_metric([], self.settings.purge_interval_minutes * 60)
        yield interval

        counts = dict.fromkeys(PURGE_OUTCOMES, 0)
        finished = JobRun.finished_at.is_not(None)
        rows = session.execute(
            select(finished, JobRun.succeeded, func.count())
            .where(JobRun.job == JOB_NAME)
            .group_by(finished, JobRun.succeeded)
        )
        for is_finished, succeeded, count in rows:
            outcome = "unfinished" if not is_finished else "succeeded" if succeeded else "failed"
            counts[outcome] += count
        runs = GaugeMetricFamily(
            "gastregister_purge_runs",
            "Maintenance runs recorded in the database, by outcome. Rows older than the "
            "audit retention are deleted, so compare with delta(), not rate().",
            labels=["outcome"],
        )
        for outcome, count in counts.items():
            runs.add_metric([outcome], count)
        yield runs

        last_success = session.scalar(
            select(func.max(JobRun.finished_at)).where(
                JobRun.job == JOB_NAME, JobRun.succeeded.is_(True)
            )
        )
        success = GaugeMetricFamily(
            "gastregister_purge_last_success_timestamp_seconds",
            "When the last successful maintenance run finished (Unix time; 0: never).",
        )
        success.add_metric([], _timestamp(last_success))
        yield success

        last = last_job_run(session)
        if last is not None:
            yield from self._last_run(last)

        states = dict.fromkeys((state.value for state in TraceRequestState), 0)
        for state, count in session.execute(
            select(TraceRequest.state, func.count()).group_by(TraceRequest.state)
        ):
            states[TraceRequestState(state).value] = count
        requests = GaugeMetricFamily(
            "gastregister_trace_requests",
            "Health-office trace requests, by state.",
            labels=["state"],
        )
        for state, count in states.items():
            requests.add_metric([state], count)
        yield requests

    def _last_run(self, last: Any) -> Iterator[Metric]:
        details = last.details if isinstance(last.details, dict) else {}
        finished_at = GaugeMetricFamily(
            "gastregister_purge_last_run_timestamp_seconds",
            "When the last maintenance run finished (Unix time).",
        )
        finished_at.add_metric([], _timestamp(last.finished_at))
        yield finished_at
        succeeded = GaugeMetricFamily(
            "gastregister_purge_last_run_succeeded",
            "1 if the last maintenance run succeeded, 0 if a step failed.",
        )
        succeeded.add_metric([], 1 if last.succeeded else 0)
        yield succeeded
        duration_ms = details.get("duration_ms")
        if not isinstance(duration_ms, int):
            duration_ms = round((last.finished_at - last.started_at).total_seconds() * 1000)
        duration = GaugeMetricFamily(
            "gastregister_purge_last_run_duration_seconds",
            "How long the last maintenance run took.",
        )
        duration.add_metric([], duration_ms / 1000)
        yield duration
        removed_rows = details.get("removed")
        removed_rows = removed_rows if isinstance(removed_rows, dict) else {}
        removed = GaugeMetricFamily(
            "gastregister_purge_last_run_removed_rows",
            "Rows the last maintenance run deleted (or redacted), by kind.",
            labels=["kind"],
        )
        for kind in REMOVED_KINDS:
            count = removed_rows.get(kind)
            removed.add_metric([kind], count if isinstance(count, int) else 0)
        yield removed


# --- the endpoint ---------------------------------------------------------------------

bp = Blueprint("metrics", __name__)


def parse_networks(
    entries: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def address_allowed(
    address: str | None,
    networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> bool:
    """Whether a client address lies in an allowed network; an IPv4 client seen on an
    IPv6 socket (::ffff:a.b.c.d) counts as its IPv4 address."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(
        candidate in network
        for candidate in candidates
        for network in networks
        if candidate.version == network.version
    )


def scrape_allowed(settings: Settings) -> bool:
    """A bearer token, when one is sent, must be the configured one (compared in
    constant time); without one, the client address must be allowed. The address is
    REMOTE_ADDR after ProxyFix: a request through the proxy carries the real client's."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, presented = header.partition(" ")
        expected = settings.metrics_token
        return (
            bool(expected)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(presented.strip().encode(), expected.encode())
        )
    networks = current_app.extensions["gastregister.metrics_networks"]
    return address_allowed(request.remote_addr, networks)


def scrape_registry(database: Database, settings: Settings) -> CollectorRegistry:
    registry = CollectorRegistry()
    if MULTIPROCESS:
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
    else:
        for collector in process_collectors():
            registry.register(collector)
    registry.register(DatabaseFacts(database, settings))
    return registry


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; a 404 like any unknown page for everyone not allowed."""
    settings = get_settings()
    if not scrape_allowed(settings):
        abort(404)
    body = generate_latest(scrape_registry(get_db(), settings))
    response = Response(body, mimetype=None, content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response


def count_response(response: Response) -> Response:
    if request.endpoint != METRICS_ENDPOINT:
        http_response(response.status_code)
    return response


def register_metrics(app: Flask, settings: Settings) -> None:
    """The endpoint, the response counter, and the pool gauges of this app's engine."""
    from registration.extensions import csrf, limiter

    app.extensions["gastregister.metrics_networks"] = parse_networks(settings.metrics_allow)
    csrf.exempt(bp)
    limiter.exempt(bp)
    app.register_blueprint(bp)
    app.after_request(count_response)

    database: Database = app.extensions["gastregister.db"]
    pool = database.engine.pool

    # Watched from the first request on: a process that never serves (the CLI) never
    # writes a pool gauge, whose file would outlive it in the multiprocess folder.
    @app.before_request
    def watch_pool_once() -> None:
        if pool not in _watched_pools:
            watch_pool(pool)


# --- gunicorn hooks (gastregister/gunicorn_conf.py) ----------------------------------


def clear_multiprocess_directory() -> None:
    """At the master's start: counts left by a previous run would add to this one's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def worker_exited(pid: int) -> None:
    """A dead worker's gauges (its pool) go; its counters stay in the sums."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
