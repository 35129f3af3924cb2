"""The audit trail and the maintenance's own job history: kept, read and cut back.

Audit entries (which hold no contact data) and job runs are deleted after
`audit_retention_days`; `last_job_run` is how status, health and metrics read the
runs.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.config import Settings
from registration.models import AuditEvent, JobRun

log = logging.getLogger(__name__)


JOB_NAME = "maintenance"
RUNNER_DIED = "runner died"


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
