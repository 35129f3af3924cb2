"""Scheduled work on trace requests; the retention scheduler calls `run_request_jobs`.

- Automatic release: when the operator enables it, a request the owner has not
  answered by its deadline is released as if the owner had done it (the same
  release function: audited as automatic, packaged, the office told by mail).
- Expiry: a request nobody released before its visits left the retention period
  expires (there is nothing left to release); a released request whose package
  expired before anyone downloaded it expires; a downloaded one is closed.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.models import TraceRequest, TraceRequestState
from registration.tracing.notices import notify_request_change
from registration.tracing.packages import current_package
from registration.tracing.release import release_trace_request
from registration.tracing.requests import OPEN_STATES, change_state, expire_trace_request

log = logging.getLogger("gastregister.tracing.jobs")
State = TraceRequestState


def run_request_jobs(session: Session, clock: Clock, settings: Settings) -> dict[str, int]:
    """One pass over open requests; returns counts for the job log. Commits per request,
    so one failing request does not hold back the others."""
    now = clock.now()
    counts = {"auto_released": 0, "expired": 0, "closed": 0}
    retention_start = now - dt.timedelta(days=settings.retention_days)
    pending = list(
        session.scalars(
            select(TraceRequest)
            .where(TraceRequest.state.in_(OPEN_STATES))
            .order_by(TraceRequest.id)
        )
    )
    for trace_request in pending:
        try:
            outcome = _run_one(session, clock, settings, trace_request, now, retention_start)
        except Exception:
            session.rollback()
            log.exception("trace request job failed for request %s", trace_request.id)
            continue
        if outcome:
            counts[outcome] += 1
    return counts


def _run_one(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    now: dt.datetime,
    retention_start: dt.datetime,
) -> str | None:
    if trace_request.state in (State.REQUESTED, State.QUERIED):
        if trace_request.window_end < retention_start:
            expire_trace_request(session, clock, settings, trace_request, why="retention_passed")
            return "expired"
        # An open question holds the automatic release until the office has answered.
        if (
            trace_request.state is State.REQUESTED
            and settings.auto_release_after_deadline
            and trace_request.release_deadline <= now
        ):
            release_trace_request(
                session, clock, settings, trace_request, released_by=None, automatic=True
            )
            return "auto_released"
        return None
    package = current_package(session, trace_request)
    released_at = trace_request.released_at or trace_request.created_at
    expires_at = (
        package.expires_at
        if package is not None
        else released_at + dt.timedelta(days=settings.export_package_days)
    )
    if expires_at > now:
        return None
    if trace_request.state is State.RELEASED:
        expire_trace_request(session, clock, settings, trace_request, why="package_expired")
        return "expired"
    change_state(trace_request, State.CLOSED, now)
    record_event(
        session,
        clock,
        action="office.request.closed",
        actor_label="system (package expired)",
        health_office_id=trace_request.health_office_id,
        business_id=trace_request.location.business_id,
        location_id=trace_request.location_id,
        trace_request_id=trace_request.id,
        details={"automatic": True},
    )
    session.commit()
    notify_request_change(session, settings, trace_request, State.CLOSED)
    return "closed"
