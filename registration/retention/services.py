"""The maintenance run: every retention rule once, by exactly one runner, recorded.

What is deleted, and when (docs/OPERATIONS.md, "Jobs and monitoring"), lives beside
its data: `checkins` (visits, automatic departures), `office_data` (requests past
their deadlines, export packages, request details), `history` (audit trail, job
runs), with the SQLite batching in `sqlite_batches` and PostgreSQL's day partitions in
`partitions`. Demo data gets no special treatment, so the rules are the same
everywhere. A run records itself as a JobRun row; one failing rule does not keep the
others from deleting on schedule.
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

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.config import Settings
from registration.database import Database
from registration.models import JobRun
from registration.retention.checkins import close_overdue_checkins, purge_expired_checkins
from registration.retention.history import (
    JOB_NAME,
    last_job_run,
    mark_abandoned_runs,
    purge_audit_events,
    purge_job_runs,
)
from registration.retention.lock import exclusive_runner
from registration.retention.office_data import (
    purge_export_packages,
    redact_finished_trace_requests,
    run_request_jobs,
)
from registration.retention.sqlite_batches import checkpoint_sqlite_wal

log = logging.getLogger(__name__)

# The scheduler skips a run when another worker ran this recently (fraction of the interval).
DUE_FRACTION = 0.8
SKIPPED_LOCK_HELD = "lock held, skipped"
SKIPPED_RAN_RECENTLY = "ran recently, skipped"
STOPPED = "stopped"


class MaintenanceStoppedError(RuntimeError):
    """The runner was asked to stop (SIGTERM); the run ends at the next batch boundary."""


def runner_name(role: str) -> str:
    """Who runs: host, process and role, shown in `gastregister status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


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


@dataclass
class _MaintenanceSteps:
    """The steps of one run, in order, each writing what it did into `result`.

    Requests run first, so that a request they expire loses its package in the same run.
    """

    engine: Engine
    clock: Clock
    settings: Settings
    result: MaintenanceResult
    stop: threading.Event | None

    def between_batches(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise MaintenanceStoppedError

    def in_order(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("requests", self.requests),
            ("checkins", self.checkins),
            ("auto_departures", self.departures),
            ("export_packages", self.packages),
            ("trace_requests", self.trace_requests),
            ("audit_events", self.audit),
            ("wal_checkpoint", self.checkpoint),
        ]

    def requests(self) -> None:
        self.result.details["requests"] = run_request_jobs(self.engine, self.clock, self.settings)

    def checkins(self) -> None:
        purge = purge_expired_checkins(
            self.engine, self.clock, self.settings, between_batches=self.between_batches
        )
        self.result.removed["checkins"] = purge.rows
        self.result.details.update(purge.details())

    def departures(self) -> None:
        self.result.details["auto_departures"] = close_overdue_checkins(
            self.engine, self.clock, between_batches=self.between_batches
        )

    def packages(self) -> None:
        self.result.removed["export_packages"] = purge_export_packages(
            self.engine, self.clock, self.settings
        )

    def trace_requests(self) -> None:
        self.result.removed["trace_requests_redacted"] = redact_finished_trace_requests(
            self.engine, self.clock, self.settings
        )

    def audit(self) -> None:
        self.result.removed["audit_events"] = purge_audit_events(
            self.engine, self.clock, self.settings
        )
        purge_job_runs(self.engine, self.clock, self.settings)

    def checkpoint(self) -> None:
        if self.engine.dialect.name == "sqlite":
            complete = checkpoint_sqlite_wal(self.engine)
            self.result.details["wal_checkpoint"] = (
                "truncated" if complete else "busy, retried next run"
            )
            if not complete:
                self.result.errors.append("wal_checkpoint: busy")


def _run_jobs(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    runner: str,
    stop: threading.Event | None,
) -> MaintenanceResult:
    started = time.monotonic()
    result = MaintenanceResult("completed", runner, started_at=clock.now())
    result.job_run_id = _start_job_run(engine, result)
    steps = _MaintenanceSteps(engine, clock, settings, result, stop)
    for name, step in steps.in_order():
        try:
            steps.between_batches()
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


def _start_job_run(engine: Engine, result: MaintenanceResult) -> int:
    """Recorded before the first step, so a runner that dies mid-run leaves a trace."""
    with Session(engine, expire_on_commit=False) as session:
        job_run = JobRun(job=JOB_NAME, started_at=result.started_at, runner=result.runner[:128])
        session.add(job_run)
        session.commit()
        return job_run.id


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
