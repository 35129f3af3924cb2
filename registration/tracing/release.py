"""The owner's release: the step between a health office's request and its download.

The release is an authorisation step on the server, not a second key that an owner
could lose (Luca's venue owners lost theirs, and with them their guests' data). The owner gives it in the business portal; when the operator
enabled it, the deadline gives it too (registration.tracing.jobs), through this same
function, so an automatic release is audited and packaged exactly like a manual one.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.models import TraceRequest, TraceRequestState, User
from registration.tracing.errors import ReleaseNotPossibleError
from registration.tracing.notices import notify_office_of_release
from registration.tracing.packages import build_export_package


def release_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    *,
    released_by: User | None,
    automatic: bool = False,
) -> TraceRequest:
    """Mark a waiting request as released, audit it, commit, then tell the health office.

    Raises ReleaseNotPossibleError unless the request is waiting (state `requested`):
    a second click or a release after an abort changes nothing. The mail is a notice
    only; when it fails the release still stands and the office sees it in its portal.
    """
    if trace_request.state != TraceRequestState.REQUESTED:
        raise ReleaseNotPossibleError
    now = clock.now()
    trace_request.state = TraceRequestState.RELEASED
    trace_request.released_at = now
    trace_request.released_by_id = released_by.id if released_by else None
    location = trace_request.location
    record_event(
        session,
        clock,
        action="request.released",
        actor=released_by,
        actor_label="" if released_by else "system: release deadline passed",
        health_office_id=trace_request.health_office_id,
        business_id=location.business_id,
        location_id=location.id,
        trace_request_id=trace_request.id,
        details={"automatic": automatic},
    )
    # Sealed together with the release: visits that retention deletes before the
    # office's first download are not lost to the request.
    build_export_package(session, clock, settings, trace_request)
    session.commit()
    notify_office_of_release(settings, trace_request, automatic=automatic)
    return trace_request
