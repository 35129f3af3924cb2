"""The retention rules, and the maintenance run that applies them.

What is deleted, and when (docs/OPERATIONS.md, "Jobs and monitoring"):

* a check-in when its arrival is older than `retention_days` (default 28);
* an export package when it has expired, when its request is closed, aborted or
  expired, or when its request's window starts before the retention cut-off (the
  visits it holds are due for deletion themselves);
* a trace request's personal parts (case reference and reason) once the request is
  closed, aborted or expired and a retention period has passed since; the row stays
  for the audit trail;
* audit entries (which hold no contact data) and job runs after
  `audit_retention_days`.

Check-ins still open when their automatic departure has passed get it as their
departure. Demo data gets no special treatment, so the rules are the same everywhere.

Every statement is set-based. On SQLite, deletions run in short batches so a guest's
check-in never waits long for the write lock, and the WAL is checkpointed and
truncated afterwards so deleted envelopes are not left in it (`secure_delete` already
zeroes them in the database file). On PostgreSQL, whole expired day partitions are
dropped (see `partitions`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Engine,
    TextClause,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.config import Settings
from registration.database import Database, UTCDateTime
from registration.models import (
    AuditEvent,
    CheckIn,
    ExportPackage,
    JobRun,
    TraceRequest,
    TraceRequestState,
)
from registration.retention import partitions
from registration.retention.lock import exclusive_runner

log = logging.getLogger(__name__)

JOB_NAME = "maintenance"
REDACTED = "[gelöscht]"
FINISHED_REQUEST_STATES = (
    TraceRequestState.CLOSED,
    TraceRequestState.ABORTED,
    TraceRequestState.EXPIRED,
)
# SQLite: rows per write transaction, and the pause after each one that lets
# waiting check-ins take the write lock before the next batch does.
SQLITE_BATCH_ROWS = 1000
SQLITE_PACKAGE_BATCH_ROWS = 20
SQLITE_BATCH_PAUSE_SECONDS = 0.02
# The scheduler skips a run when another worker ran this recently (fraction of the interval).
DUE_FRACTION = 0.8
SKIPPED_LOCK_HELD = "lock held, skipped"
SKIPPED_RAN_RECENTLY = "ran recently, skipped"
RUNNER_DIED = "runner died"
STOPPED = "stopped"


class MaintenanceStoppedError(RuntimeError):
    """The runner was asked to stop (SIGTERM); the run ends at the next batch boundary."""


def runner_name(role: str) -> str:
    """Who runs: host, process and role, shown in `gastregister status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def retention_cutoff(clock: Clock, settings: Settings) -> dt.datetime:
    """Visits that arrived before this moment are older than the retention period."""
    return clock.now() - dt.timedelta(days=settings.retention_days)


def _keep_going() -> None:
    """Default for callers that never ask a run to stop early."""


# --- check-ins -------------------------------------------------------------------------


def _sqlite_batches(
    engine: Engine,
    statement: TextClause,
    params: dict[str, Any],
    *,
    batch_rows: int = SQLITE_BATCH_ROWS,
    between_batches: Callable[[], None] = _keep_going,
) -> int:
    """Repeat a `... WHERE rowid IN (SELECT ... LIMIT :batch)` statement until it runs dry.

    Each batch is its own short write transaction. The WAL is checkpointed by this
    connection right after each batch, outside the write lock: otherwise the next
    guest to commit would find a long WAL and copy it back itself (SQLite's
    auto-checkpoint runs in whichever connection commits), and the WAL would grow to
    gigabytes over a big purge. The pause lets guests waiting for the write lock in.
    """
    total = 0
    with engine.connect() as connection:
        dbapi = connection.connection.dbapi_connection
        if dbapi is None:  # pragma: no cover - a fresh connection always has one
            raise RuntimeError("no database connection")
        dbapi.execute("PRAGMA wal_autocheckpoint=0")
        while True:
            with connection.begin():
                changed = connection.execute(statement, {**params, "batch": batch_rows}).rowcount
            dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)")
            total += changed
            between_batches()
            if changed < batch_rows:
                return total
            time.sleep(SQLITE_BATCH_PAUSE_SECONDS)


# Through the (location_id, arrival) index, one seek per location: no table scan.
_SQLITE_DELETE_EXPIRED = text(
    "DELETE FROM checkins WHERE rowid IN ("
    " SELECT c.rowid FROM locations AS l CROSS JOIN checkins AS c ON c.location_id = l.id"
    " WHERE c.arrival < :cutoff LIMIT :batch)"
).bindparams(bindparam("cutoff", type_=UTCDateTime()))

# Through the (area_id, departure) index: only open visits are looked at.
_SQLITE_CLOSE_OVERDUE = text(
    "UPDATE checkins SET departure = auto_departure WHERE rowid IN ("
    " SELECT c.rowid FROM areas AS a CROSS JOIN checkins AS c"
    " ON c.area_id = a.id AND c.departure IS NULL"
    " WHERE c.auto_departure <= :now LIMIT :batch)"
).bindparams(bindparam("now", type_=UTCDateTime()))


def close_overdue_checkins(
    engine: Engine, clock: Clock, *, between_batches: Callable[[], None] = _keep_going
) -> int:
    """Give every visit whose automatic departure has passed that departure."""
    now = clock.now()
    if engine.dialect.name == "sqlite":
        return _sqlite_batches(
            engine, _SQLITE_CLOSE_OVERDUE, {"now": now}, between_batches=between_batches
        )
    with engine.begin() as connection:
        return connection.execute(
            update(CheckIn)
            .where(CheckIn.departure.is_(None), CheckIn.auto_departure <= now)
            .values(departure=CheckIn.auto_departure)
        ).rowcount


@dataclass
class CheckinPurge:
    """What the check-in purge removed."""

    rows: int = 0
    partitions: partitions.PartitionReport | None = None
    warnings: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.partitions is not None:
            found["partitions"] = {
                "created": len(self.partitions.created),
                "dropped": self.partitions.dropped,
                "rewritten": self.partitions.rewritten,
                "moved_from_default": self.partitions.moved_from_default,
            }
        if self.warnings:
            found["warnings"] = self.warnings
        return found


def purge_expired_checkins(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    *,
    between_batches: Callable[[], None] = _keep_going,
) -> CheckinPurge:
    """Delete every visit that arrived before the retention cut-off."""
    cutoff = retention_cutoff(clock, settings)
    if engine.dialect.name == "sqlite":
        rows = _sqlite_batches(
            engine, _SQLITE_DELETE_EXPIRED, {"cutoff": cutoff}, between_batches=between_batches
        )
        return CheckinPurge(rows=rows)
    with engine.connect() as connection:
        partitioned = partitions.is_partitioned(connection)
    if not partitioned:
        with engine.begin() as connection:
            rows = connection.execute(delete(CheckIn).where(CheckIn.arrival < cutoff)).rowcount
        return CheckinPurge(rows=rows)
    return _purge_partitioned(engine, clock, settings, cutoff)


def _purge_partitioned(
    engine: Engine, clock: Clock, settings: Settings, cutoff: dt.datetime
) -> CheckinPurge:
    """Drop expired days whole, delete the rest of the boundary day, rewrite what had
    rows deleted, and create the coming days' partitions."""
    result = CheckinPurge(partitions=partitions.PartitionReport())
    report = result.partitions
    if report is None:  # pragma: no cover - set just above; narrows the type
        raise RuntimeError("partition report missing")
    try:
        _, result.rows = partitions.drop_expired_partitions(engine, cutoff, report)
    except Exception as exc:
        # The rows are still deleted below, row by row; the drop is retried next run.
        log.warning("could not drop expired partitions (%s); deleting their rows instead", exc)
        result.warnings.append(f"partitions not dropped: {type(exc).__name__}")
    with engine.begin() as connection:
        deleted = partitions.delete_expired_rows(connection, cutoff)
    result.rows += sum(deleted.values())
    if deleted:
        partitions.rewrite_partitions(engine, sorted(deleted), report)
    partitions.ensure_partitions(engine, clock, settings, report)
    return result


# --- health-office data ----------------------------------------------------------------


def purge_export_packages(engine: Engine, clock: Clock, settings: Settings) -> int:
    """Delete packages that expired, whose request is finished, or whose window has
    passed the retention period (they hold copies of visits that are due for deletion)."""
    now = clock.now()
    finished_requests = select(TraceRequest.id).where(
        or_(
            TraceRequest.state.in_(FINISHED_REQUEST_STATES),
            TraceRequest.window_start < retention_cutoff(clock, settings),
        )
    )
    due = or_(
        ExportPackage.expires_at <= now, ExportPackage.trace_request_id.in_(finished_requests)
    )
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            return connection.execute(delete(ExportPackage).where(due)).rowcount
    # Packages can be megabytes each: a few per transaction keeps the write lock short.
    total = 0
    while True:
        with engine.begin() as connection:
            batch = select(ExportPackage.id).where(due).limit(SQLITE_PACKAGE_BATCH_ROWS)
            removed = connection.execute(
                delete(ExportPackage).where(ExportPackage.id.in_(batch.scalar_subquery()))
            ).rowcount
        total += removed
        if removed < SQLITE_PACKAGE_BATCH_ROWS:
            return total
        time.sleep(SQLITE_BATCH_PAUSE_SECONDS)


def redact_finished_trace_requests(engine: Engine, clock: Clock, settings: Settings) -> int:
    """Blank case reference and reason of requests finished more than a retention
    period ago; the request row itself stays for the audit trail."""
    finished_at = func.coalesce(
        TraceRequest.closed_at,
        TraceRequest.aborted_at,
        TraceRequest.expired_at,
        TraceRequest.created_at,
    )
    with engine.begin() as connection:
        return connection.execute(
            update(TraceRequest)
            .where(
                TraceRequest.state.in_(FINISHED_REQUEST_STATES),
                finished_at < retention_cutoff(clock, settings),
                or_(TraceRequest.case_reference != REDACTED, TraceRequest.reason != REDACTED),
            )
            .values(case_reference=REDACTED, reason=REDACTED)
        ).rowcount


# --- audit trail and job history -------------------------------------------------------


def purge_audit_events(engine: Engine, clock: Clock, settings: Settings) -> int:
    """Delete audit entries older than `audit_retention_days`, oldest first.

    Only a prefix (by id) is removed, so the hash chain stays unbroken from the first
    kept entry on (registration.audit.verify_chain checks it from there).
    """
    cutoff = clock.now() - dt.timedelta(days=settings.audit_retention_days)
    first_kept = (
        select(func.min(AuditEvent.id)).where(AuditEvent.occurred_at >= cutoff).scalar_subquery()
    )
    due = AuditEvent.occurred_at < cutoff
    condition = or_(
        AuditEvent.id < first_kept,
        # No entry is young enough to keep: everything old may go.
        first_kept.is_(None),
    )
    statement = delete(AuditEvent).where(due, condition)
    with engine.begin() as connection:
        return connection.execute(statement).rowcount


def purge_job_runs(engine: Engine, clock: Clock, settings: Settings) -> int:
    """Job history is kept as long as the audit trail."""
    cutoff = clock.now() - dt.timedelta(days=settings.audit_retention_days)
    with engine.begin() as connection:
        return connection.execute(
            delete(JobRun).where(JobRun.job == JOB_NAME, JobRun.started_at < cutoff)
        ).rowcount


def checkpoint_sqlite_wal(engine: Engine, *, attempts: int = 4) -> bool:
    """Copy the WAL into the database file and truncate it to zero bytes, so deleted
    envelopes are not left in old WAL frames. A checkpoint holds writers back while it
    waits, so it waits briefly and tries again rather than waiting long once."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA busy_timeout=250")
        for attempt in range(attempts):
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy == 0:
                return True
            time.sleep(0.5 * (attempt + 1))
        return False
    finally:
        connection.close()


# --- the maintenance run ---------------------------------------------------------------


@dataclass
class MaintenanceResult:
    """The outcome of one maintenance run, as stored in its JobRun row."""

    status: str  # "completed", "failed" or "skipped"
    runner: str
    reason: str = ""
    job_run_id: int | None = None
    started_at: dt.datetime | None = None
    duration_ms: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"


def run_request_jobs(engine: Engine, clock: Clock, settings: Settings) -> dict[str, int]:
    """Expire overdue trace requests and release automatically (registration.tracing.jobs).

    Runs first, so that a request it expires loses its package in the same run.
    """
    from registration.tracing.jobs import (
        run_request_jobs as run_jobs,  # the scheduler's only caller
    )

    with Session(engine, expire_on_commit=False) as session:
        counts = run_jobs(session, clock, settings)
        session.commit()
    return counts


def last_job_run(
    session: Session, *, finished: bool = True, succeeded: bool | None = None
) -> JobRun | None:
    """The newest maintenance run in the order runs were recorded (by id), not by the
    time they say they started: a run dated by a clock that was wrong must not hide
    the runs recorded after it."""
    query = select(JobRun).where(JobRun.job == JOB_NAME)
    if finished:
        query = query.where(JobRun.finished_at.is_not(None))
    if succeeded is not None:
        query = query.where(JobRun.succeeded.is_(succeeded))
    return session.scalars(query.order_by(JobRun.id.desc()).limit(1)).first()


def _ran_recently(engine: Engine, clock: Clock, settings: Settings) -> bool:
    """Did another runner delete successfully less than an interval ago?

    A run dated in the future is not recent: it was recorded by a host whose clock was
    ahead, or before this clock was set back. Counting it as recent would stop every
    scheduled run until real time caught up with it, weeks past the retention period.
    """
    with Session(engine) as session:
        last = last_job_run(session, succeeded=True)
    if last is None:
        return False
    age = clock.now() - last.started_at
    interval = dt.timedelta(minutes=settings.purge_interval_minutes)
    return dt.timedelta(0) <= age < interval * DUE_FRACTION


def run_maintenance(
    database: Database,
    clock: Clock,
    settings: Settings,
    runner: str,
    *,
    only_if_due: bool = False,
    stop: threading.Event | None = None,
) -> MaintenanceResult:
    """Run every retention job once, if no other runner is at it.

    `only_if_due` (the timers) also skips when another runner succeeded less than an
    interval ago, so N web workers do not mean N runs per interval. `gastregister
    purge` runs regardless, but still never beside another runner. Setting `stop`
    ends the run at the next batch boundary, recorded as failed ("stopped").
    """
    engine = database.engine
    with exclusive_runner(database, runner) as lock:
        if lock is None:
            return MaintenanceResult("skipped", runner, reason=SKIPPED_LOCK_HELD)
        abandoned = mark_abandoned_runs(engine, clock)
        if only_if_due and _ran_recently(engine, clock, settings):
            return MaintenanceResult("skipped", runner, reason=SKIPPED_RAN_RECENTLY)
        result = _run_jobs(engine, clock, settings, runner, stop)
        if abandoned:
            result.details["abandoned_runs"] = abandoned
        return result


def mark_abandoned_runs(engine: Engine, clock: Clock) -> int:
    """Mark runs that never finished as failed: their runner died (killed, host lost).

    Only called by the lock's holder, and every run happens under the lock, so an
    unfinished run found now can only belong to a runner that is gone. Without this
    it would stay "running" in `status` forever and hide that deletion was cut short.
    """
    with engine.begin() as connection:
        marked = connection.execute(
            update(JobRun)
            .where(JobRun.job == JOB_NAME, JobRun.finished_at.is_(None))
            .values(
                finished_at=clock.now(),
                succeeded=False,
                details={"duration_ms": None, "removed": {}, "errors": [RUNNER_DIED]},
            )
        ).rowcount
    if marked:
        log.warning("marked %d earlier maintenance run(s) as failed: runner died", marked)
    return marked


def _run_jobs(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    runner: str,
    stop: threading.Event | None,
) -> MaintenanceResult:
    started = time.monotonic()
    result = MaintenanceResult("completed", runner, started_at=clock.now())
    with Session(engine, expire_on_commit=False) as session:
        job_run = JobRun(job=JOB_NAME, started_at=result.started_at, runner=runner[:128])
        session.add(job_run)
        session.commit()
        result.job_run_id = job_run.id

    def between_batches() -> None:
        if stop is not None and stop.is_set():
            raise MaintenanceStoppedError

    def requests() -> None:
        result.details["requests"] = run_request_jobs(engine, clock, settings)

    def checkins() -> None:
        purge = purge_expired_checkins(engine, clock, settings, between_batches=between_batches)
        result.removed["checkins"] = purge.rows
        result.details.update(purge.details())

    def departures() -> None:
        result.details["auto_departures"] = close_overdue_checkins(
            engine, clock, between_batches=between_batches
        )

    def packages() -> None:
        result.removed["export_packages"] = purge_export_packages(engine, clock, settings)

    def trace_requests() -> None:
        result.removed["trace_requests_redacted"] = redact_finished_trace_requests(
            engine, clock, settings
        )

    def audit() -> None:
        result.removed["audit_events"] = purge_audit_events(engine, clock, settings)
        purge_job_runs(engine, clock, settings)

    def checkpoint() -> None:
        if engine.dialect.name == "sqlite":
            complete = checkpoint_sqlite_wal(engine)
            result.details["wal_checkpoint"] = "truncated" if complete else "busy, retried next run"
            if not complete:
                result.errors.append("wal_checkpoint: busy")

    steps: list[tuple[str, Callable[[], None]]] = [
        ("requests", requests),
        ("checkins", checkins),
        ("auto_departures", departures),
        ("export_packages", packages),
        ("trace_requests", trace_requests),
        ("audit_events", audit),
        ("wal_checkpoint", checkpoint),
    ]
    for name, step in steps:
        try:
            between_batches()
            step()
        except MaintenanceStoppedError:
            log.warning("maintenance stopped on request during %s", name)
            result.errors.append(f"{name}: {STOPPED}")
            break
        except Exception as exc:
            # One failing rule must not keep the others from deleting on schedule.
            log.exception("maintenance step %s failed", name)
            result.errors.append(f"{name}: {type(exc).__name__}")
    if result.errors:
        result.status = "failed"
    result.duration_ms = round((time.monotonic() - started) * 1000)
    _finish_job_run(engine, clock, result)
    return result


def _finish_job_run(engine: Engine, clock: Clock, result: MaintenanceResult) -> None:
    details: dict[str, Any] = {
        "duration_ms": result.duration_ms,
        "removed": result.removed,
        **result.details,
    }
    if result.errors:
        details["errors"] = result.errors
    with Session(engine) as session:
        session.execute(
            update(JobRun)
            .where(JobRun.id == result.job_run_id)
            .values(finished_at=clock.now(), succeeded=result.ok, details=details)
        )
        session.commit()
