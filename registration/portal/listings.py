"""What the owner's pages list: the business's people, the health office's requests
about its locations, and its audit entries.

Each list is scoped to one business id, so no page can show another business's rows.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.models import (
    AuditEvent,
    Location,
    StaffInvitation,
    TraceRequest,
    TraceRequestState,
    User,
)


def members_of(session: Session, business_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User).where(User.business_id == business_id).order_by(User.role, User.email)
        )
    )


def open_invitations(session: Session, clock: Clock, business_id: int) -> list[StaffInvitation]:
    return list(
        session.scalars(
            select(StaffInvitation)
            .where(
                StaffInvitation.business_id == business_id,
                StaffInvitation.accepted_at.is_(None),
                StaffInvitation.expires_at > clock.now(),
            )
            .order_by(StaffInvitation.created_at)
        )
    )


def trace_requests_of(session: Session, business_id: int) -> list[TraceRequest]:
    return list(
        session.scalars(
            select(TraceRequest)
            .join(Location, TraceRequest.location_id == Location.id)
            .where(Location.business_id == business_id)
            .order_by(TraceRequest.created_at.desc(), TraceRequest.id.desc())
        )
    )


def waiting_requests(session: Session, business_id: int) -> int:
    count = session.scalar(
        select(func.count(TraceRequest.id))
        .join(Location, TraceRequest.location_id == Location.id)
        .where(
            Location.business_id == business_id,
            TraceRequest.state == TraceRequestState.REQUESTED,
        )
    )
    return int(count or 0)


def audit_events_of(session: Session, business_id: int, *, limit: int = 500) -> list[AuditEvent]:
    """Every audit entry about the business or one of its locations, newest first."""
    location_ids = select(Location.id).where(Location.business_id == business_id)
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                or_(
                    AuditEvent.business_id == business_id,
                    AuditEvent.location_id.in_(location_ids),
                )
            )
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )
