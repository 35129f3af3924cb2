"""Health-office data: requests past their deadlines, packages, and request details.

An export package goes when it has expired, when its request is closed, aborted or
expired, or when its request's window starts before the retention cut-off (the
visits it holds are due for deletion themselves). A finished request's personal parts
(case reference and reason) are blanked a retention period later; the row stays for
the audit trail.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.config import Settings
from registration.models import ExportPackage, TraceRequest, TraceRequestNote, TraceRequestState
from registration.retention.checkins import retention_cutoff
from registration.retention.sqlite_batches import (
    SQLITE_BATCH_PAUSE_SECONDS,
    SQLITE_PACKAGE_BATCH_ROWS,
)

REDACTED = "[gelöscht]"
FINISHED_REQUEST_STATES = (
    TraceRequestState.CLOSED,
    TraceRequestState.ABORTED,
    TraceRequestState.EXPIRED,
    TraceRequestState.DECLINED,
)


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
    """Blank case reference, reason and the notes between owner and office of requests
    finished more than a retention period ago; the request row itself stays for the
    audit trail."""
    finished_at = func.coalesce(
        TraceRequest.closed_at,
        TraceRequest.aborted_at,
        TraceRequest.expired_at,
        TraceRequest.declined_at,
        TraceRequest.created_at,
    )
    due = select(TraceRequest.id).where(
        TraceRequest.state.in_(FINISHED_REQUEST_STATES),
        finished_at < retention_cutoff(clock, settings),
    )
    with engine.begin() as connection:
        connection.execute(
            update(TraceRequestNote)
            .where(TraceRequestNote.trace_request_id.in_(due), TraceRequestNote.text != REDACTED)
            .values(text=REDACTED)
        )
        return connection.execute(
            update(TraceRequest)
            .where(
                TraceRequest.state.in_(FINISHED_REQUEST_STATES),
                finished_at < retention_cutoff(clock, settings),
                or_(TraceRequest.case_reference != REDACTED, TraceRequest.reason != REDACTED),
            )
            .values(case_reference=REDACTED, reason=REDACTED)
        ).rowcount
