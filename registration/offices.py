"""Which health office is responsible for a location, and which key guests seal to.

These rules sit in the shared core because three sides apply them: the guest page
seals to the responsible office's active key, the business portal assigns an office
to a new location by its postal code, and a trace request may only name a location
in the asking office's jurisdiction.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from registration.models import (
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    KeyState,
    Location,
)


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


def office_for_postal_code(session: Session, postal_code: str) -> HealthOffice | None:
    office: HealthOffice | None = session.scalar(
        select(HealthOffice)
        .join(HealthOfficePostalCode)
        .where(HealthOfficePostalCode.postal_code == postal_code.strip())
    )
    return office


def jurisdiction_clause(office_id: int) -> ColumnElement[bool]:
    """SQL condition for "this location is in the office's jurisdiction".

    The location's own health office decides (its check-ins are sealed to that
    office's key); a location without one falls to the office of its postal code.
    """
    codes = select(HealthOfficePostalCode.postal_code).where(
        HealthOfficePostalCode.health_office_id == office_id
    )
    return or_(
        Location.health_office_id == office_id,
        and_(Location.health_office_id.is_(None), Location.zip_code.in_(codes)),
    )


def location_in_jurisdiction(session: Session, office_id: int, location_id: int) -> Location | None:
    """The location if the office may ask for it, else None (callers answer 404)."""
    location: Location | None = session.scalar(
        select(Location).where(Location.id == location_id, jurisdiction_clause(office_id))
    )
    return location


def search_locations(
    session: Session, office_id: int, query: str, *, limit: int = 50
) -> list[Location]:
    """Locations in the jurisdiction whose name, street, city or postal code match."""
    statement = select(Location).where(jurisdiction_clause(office_id))
    for word in query.split()[:5]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(
                Location.name.ilike(pattern, escape="\\"),
                Location.street.ilike(pattern, escape="\\"),
                Location.city.ilike(pattern, escape="\\"),
                Location.zip_code.ilike(pattern, escape="\\"),
            )
        )
    return list(session.scalars(statement.order_by(Location.name, Location.id).limit(limit)))
