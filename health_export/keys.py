"""Which public key a record is sealed to, and which keys may still open records."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from health_export.models import HealthOfficeKey, KeyState


def active_key(session: Session, health_office_id: int) -> HealthOfficeKey | None:
    """The newest active key of an office: guests always seal to this one."""
    key: HealthOfficeKey | None = session.scalar(
        select(HealthOfficeKey)
        .where(
            HealthOfficeKey.health_office_id == health_office_id,
            HealthOfficeKey.state == KeyState.ACTIVE,
        )
        .order_by(HealthOfficeKey.activated_at.desc(), HealthOfficeKey.id.desc())
        .limit(1)
    )
    return key
