"""Which health office is responsible for a location, and which key guests seal to.

These rules sit in the shared core because three sides apply them: the guest page
seals to the responsible office's active key, the business portal assigns an office
to a new location by its postal code, and a trace request may only name a location
in the asking office's jurisdiction. Creating an office is here too, so the
operator's command applies the same e-mail rule as every other address we mail to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.clock import Clock
from registration.mail import is_plausible_address
from registration.models import (
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    KeyState,
    Location,
)

POSTAL_CODE = re.compile(r"\d{5}")


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


class OfficeRefusedError(ValueError):
    """An office change the rules do not allow; the message is translated for the operator."""


def create_health_office(
    session: Session,
    clock: Clock,
    *,
    name: str,
    email: str,
    phone: str = "",
    address: str = "",
    actor_label: str,
) -> HealthOffice:
    """A new office under a unique name whose notices go to a plausible address (audited)."""
    name = name.strip()
    email = email.strip()
    if not name:
        raise OfficeRefusedError(_("The health office needs a name."))
    if not is_plausible_address(email):
        raise OfficeRefusedError(_("Please enter a valid e-mail address."))
    if session.scalar(select(HealthOffice).where(HealthOffice.name == name)) is not None:
        raise OfficeRefusedError(_("A health office named %(name)s exists already.", name=name))
    office = HealthOffice(name=name, email=email, phone=phone.strip(), address=address.strip())
    session.add(office)
    session.flush()
    record_event(
        session,
        clock,
        action="office.created",
        actor_label=actor_label,
        health_office_id=office.id,
        details={"name": name},
    )
    session.commit()
    return office


def office_named(session: Session, name: str) -> HealthOffice | None:
    office: HealthOffice | None = session.scalar(
        select(HealthOffice).where(HealthOffice.name == name.strip())
    )
    return office


class InvalidPostalCodesError(ValueError):
    """Some codes are not five digits; nothing was changed."""

    def __init__(self, invalid: list[str]) -> None:
        super().__init__(", ".join(invalid))
        self.invalid = invalid


class PostalCodesTakenError(ValueError):
    """Some codes belong to another office's jurisdiction; nothing was changed."""

    def __init__(self, taken: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{code} ({holder})" for code, holder in taken))
        self.taken = taken


@dataclass(frozen=True)
class PostalCodesAdded:
    added: int
    already_there: int
    locations_assigned: int


def add_postal_codes(
    session: Session, clock: Clock, office: HealthOffice, codes: Iterable[str], *, actor_label: str
) -> PostalCodesAdded:
    """Widen an office's jurisdiction by postal codes, all or nothing (audited).

    A postal code has one responsible office, so a code held by another office refuses
    the whole change. Locations with these codes and no office yet are assigned to this
    one: their guests seal to its key from now on.
    """
    unique = sorted({code.strip() for code in codes})
    invalid = [code for code in unique if not POSTAL_CODE.fullmatch(code)]
    if invalid:
        raise InvalidPostalCodesError(invalid)
    taken = session.execute(
        select(HealthOfficePostalCode.postal_code, HealthOffice.name)
        .join(HealthOffice)
        .where(
            HealthOfficePostalCode.postal_code.in_(unique),
            HealthOfficePostalCode.health_office_id != office.id,
        )
    ).all()
    if taken:
        raise PostalCodesTakenError([(code, holder) for code, holder in taken])
    known = set(
        session.scalars(
            select(HealthOfficePostalCode.postal_code).where(
                HealthOfficePostalCode.health_office_id == office.id
            )
        )
    )
    added = [code for code in unique if code not in known]
    session.add_all(
        HealthOfficePostalCode(postal_code=code, health_office_id=office.id) for code in added
    )
    orphans = list(
        session.scalars(
            select(Location).where(
                Location.zip_code.in_(unique), Location.health_office_id.is_(None)
            )
        )
    )
    for location in orphans:
        location.health_office_id = office.id
    record_event(
        session,
        clock,
        action="office.postal_codes.added",
        actor_label=actor_label,
        health_office_id=office.id,
        details={"added": len(added), "locations_assigned": len(orphans)},
    )
    session.commit()
    return PostalCodesAdded(len(added), len(unique) - len(added), len(orphans))
