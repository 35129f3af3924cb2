"""What /healthz says about maintenance: did deletion happen on schedule?

A run is overdue when no run succeeded within two intervals. A run dated in the
future (a host whose clock was ahead, or a clock set back since) is reported as clock
skew: it proves nothing about deletion now (and once counted as "ran recently", which
silently stopped every scheduled run).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.config import Settings
from registration.health import HealthFinding
from registration.models import JobRun
from registration.retention.history import last_job_run
from registration.session import get_clock, get_session, get_settings

OVERDUE_AFTER_INTERVALS = 2
# Hosts' clocks differ by a little even when NTP works; only more counts as skew.
CLOCK_SKEW_TOLERANCE = dt.timedelta(minutes=1)

PROBLEM_REASONS = {
    "overdue": "maintenance_overdue",
    "never_ran": "maintenance_overdue",
    "run_dated_in_future": "clock_skew",
}


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def purge_summary(
    session: Session, clock: Clock, settings: Settings, watching_since: dt.datetime
) -> dict[str, Any]:
    """The last finished run and whether deletion is on schedule.

    `problem` is None, "last_run_failed" (reported; becomes "overdue" if no run
    succeeds within two intervals), "overdue", "never_ran" (nothing succeeded
    within two intervals of this process's start) or "run_dated_in_future".
    """
    now = clock.now()
    last = last_job_run(session)
    success: JobRun | None = last
    if last is not None and not last.succeeded:
        success = last_job_run(session, succeeded=True)
    overdue_after = dt.timedelta(minutes=OVERDUE_AFTER_INTERVALS * settings.purge_interval_minutes)
    dated_ahead = any(
        run is not None and run.started_at > now + CLOCK_SKEW_TOLERANCE for run in (last, success)
    )
    problem: str | None = None
    if dated_ahead:
        problem = "run_dated_in_future"
    elif success is None:
        problem = "never_ran" if now - watching_since > overdue_after else None
    elif now - success.started_at > overdue_after:
        problem = "overdue"
    if problem is None and last is not None and not last.succeeded:
        problem = "last_run_failed"
    details = last.details if last is not None else {}
    return {
        "last_run": _iso(last.started_at if last is not None else None),
        "duration_ms": details.get("duration_ms"),
        "removed": details.get("removed", {}),
        "ok": bool(last is not None and last.succeeded and problem is None),
        "last_success": _iso(success.started_at if success is not None else None),
        "problem": problem,
    }


def purge_health() -> HealthFinding:
    """/healthz provider (registration.health): runs in the probe's app context."""
    watching_since: dt.datetime = current_app.extensions["gastregister.started_at"]
    summary = purge_summary(get_session(), get_clock(), get_settings(), watching_since)
    reason = PROBLEM_REASONS.get(summary["problem"] or "")
    return HealthFinding({"purge": summary}, [reason] if reason else [])
