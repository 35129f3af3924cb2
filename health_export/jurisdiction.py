"""Postal codes decide which health office is responsible for a location."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from health_export.models import HealthOffice, HealthOfficePostalCode


def office_for_postal_code(session: Session, postal_code: str) -> HealthOffice | None:
    office: HealthOffice | None = session.scalar(
        select(HealthOffice)
        .join(HealthOfficePostalCode)
        .where(HealthOfficePostalCode.postal_code == postal_code.strip())
    )
    return office
