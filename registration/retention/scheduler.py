"""The in-process timer that runs maintenance every `purge_interval_minutes`.

Each gunicorn worker (and each host) starts its own scheduler: there is no master
process to rely on, and any one of them surviving keeps deletion on schedule. The
database lock (`lock`) lets exactly one of them run at a time, and a run that finds
another worker ran less than an interval ago skips, so more workers do not mean
more runs. Within one process the scheduler starts at most once, also when the
application is created twice; tests switch it off (`scheduler_enabled=False`).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import random
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.config import Settings
from registration.database import Database
from registration.retention.services import last_job_run, run_maintenance, runner_name
from registration.session import get_clock, get_session, get_settings

log = logging.getLogger(__name__)

JOB_ID = "gastregister-maintenance"
# The first run comes soon after start, spread so that workers starting together
# do not all reach for the lock in the same second.
FIRST_RUN_DELAY_SECONDS = (20.0, 90.0)

_started: dict[int, BackgroundScheduler] = {}
_starting = threading.Lock()


def register_scheduler(app: Flask, settings: Settings) -> None:
    """Add the purge to /healthz and start this process's scheduler (unless switched off)."""
    app.extensions.setdefault("gastregister.health_providers", []).append(purge_health)
    if not settings.scheduler_enabled:
        return
    start_scheduler(app, settings)


def start_scheduler(app: Flask, settings: Settings) -> BackgroundScheduler | None:
    """Start the scheduler of this process; None if it already runs.

    Keyed by process id: a scheduler inherited through fork has no thread in the
    child, so a forked worker starts its own.
    """
    with _starting:
        pid = os.getpid()
        if pid in _started:
            return None
        scheduler = BackgroundScheduler(timezone=dt.UTC, daemon=True)
        delay = random.uniform(*FIRST_RUN_DELAY_SECONDS)  # noqa: S311 - jitter, not security
        scheduler.add_job(
            scheduled_maintenance,
            "interval",
            minutes=settings.purge_interval_minutes,
            args=(app, settings),
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=settings.purge_interval_minutes * 60,
            next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay),
        )
        scheduler.start()
        _started[pid] = scheduler
        if len(_started) == 1:
            atexit.register(stop_scheduler)
        log.info("maintenance scheduled every %d minutes", settings.purge_interval_minutes)
        return scheduler


def stop_scheduler() -> None:
    """Stop this process's scheduler (at exit, and in tests)."""
    with _starting:
        scheduler = _started.pop(os.getpid(), None)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=False)


def running_scheduler() -> BackgroundScheduler | None:
    return _started.get(os.getpid())


def scheduled_maintenance(app: Flask, settings: Settings) -> None:
    """The scheduler's job: never raises, because APScheduler would only log it anyway.

    It runs in an app context because some steps (automatic release) send translated
    notification mails.
    """
    database: Database = app.extensions["gastregister.db"]
    clock: Clock = app.extensions["gastregister.clock"]
    try:
        with app.app_context():
            result = run_maintenance(
                database, clock, settings, runner_name("scheduler"), only_if_due=True
            )
    except Exception:
        log.exception("maintenance run failed before it could record itself")
        return
    if result.skipped:
        log.debug("maintenance %s", result.reason)
    elif result.ok:
        log.info("maintenance done in %d ms: %s", result.duration_ms, result.removed)
    else:
        log.error("maintenance finished with errors: %s", ", ".join(result.errors))


def purge_summary(session: Session, clock: Clock, settings: Settings) -> dict[str, Any]:
    """The last finished run, for /healthz: ok only if it succeeded and is recent."""
    last = last_job_run(session)
    if last is None:
        return {"last_run": None, "duration_ms": None, "removed": {}, "ok": False}
    stale_after = dt.timedelta(minutes=3 * settings.purge_interval_minutes)
    recent = clock.now() - last.started_at <= stale_after
    return {
        "last_run": last.started_at.isoformat(),
        "duration_ms": last.details.get("duration_ms"),
        "removed": last.details.get("removed", {}),
        "ok": bool(last.succeeded and recent),
    }


def purge_health() -> dict[str, Any]:
    """/healthz provider (registration.health)."""
    return {"purge": purge_summary(get_session(), get_clock(), get_settings())}
