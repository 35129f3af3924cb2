"""Postal codes decide which health office is responsible for a location."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from registration.models import HealthOffice, HealthOfficePostalCode, Location


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


def postal_codes_of(session: Session, office_id: int) -> list[str]:
    return list(
        session.scalars(
            select(HealthOfficePostalCode.postal_code)
            .where(HealthOfficePostalCode.health_office_id == office_id)
            .order_by(HealthOfficePostalCode.postal_code)
        )
    )
