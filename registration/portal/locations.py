"""A business's locations and their areas: create, change, archive, and the office
each one reports to.

Every query is scoped to one business; views look objects up through
`registration.accounts.access` first, so another business's id is a 404 everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.clock import Clock
from registration.models import (
    Area,
    AuditEvent,
    Business,
    CheckInMode,
    HealthOffice,
    Location,
    User,
    new_public_code,
)
from registration.names import (
    AREA_NAME_LENGTH,
    LOCATION_NAME_LENGTH,
    NameRefusedError,
    clean_name,
)
from registration.offices import active_key, normalize_postal_code, office_for_postal_code
from registration.portal.errors import AreaSpecError, TooManyAreasError

MAX_AREAS_PER_LOCATION = 500
MAX_AREAS_PER_REQUEST = 200
MAX_AREA_NAME = AREA_NAME_LENGTH
STREET_LENGTH = 150
HOUSE_NUMBER_LENGTH = 20
CITY_LENGTH = 100
_SEPARATORS = re.compile(r"[\n;,]+")
_RANGE = re.compile(
    r"^(?P<prefix>.*?)(?P<start>\d{1,4})\s*(?:-|\u2013|\u2014|\.\.|bis|to)\s*(?P<end>\d{1,4})$",
    re.IGNORECASE,
)


def _area_name(text: str) -> str:
    """One area name by the one rule for typed names; AreaSpecError says what is wrong."""
    try:
        return clean_name(text, max_length=AREA_NAME_LENGTH)
    except NameRefusedError as refused:
        raise AreaSpecError(refused.message) from None


# --- locations ---------------------------------------------------------------------


@dataclass(frozen=True)
class LocationDetails:
    name: str
    street: str
    house_number: str
    zip_code: str
    city: str
    default_stay_minutes: int
    capacity: int | None
    checkin_mode: CheckInMode


def _apply(location: Location, details: LocationDetails) -> None:
    # The form has applied the same rule; here it holds for every caller.
    location.name = clean_name(details.name, max_length=LOCATION_NAME_LENGTH)
    location.street = clean_name(details.street, max_length=STREET_LENGTH)
    location.house_number = clean_name(details.house_number, max_length=HOUSE_NUMBER_LENGTH)
    location.zip_code = normalize_postal_code(details.zip_code) or details.zip_code.strip()
    location.city = clean_name(details.city, max_length=CITY_LENGTH)
    location.default_stay_minutes = details.default_stay_minutes
    location.capacity = details.capacity
    location.checkin_mode = details.checkin_mode


def find_location_by_code(session: Session, code: str) -> Location | None:
    location: Location | None = session.scalar(select(Location).where(Location.code == code))
    return location


def create_location(
    session: Session,
    clock: Clock,
    *,
    business: Business,
    created_by: User,
    details: LocationDetails,
    area_spec: str,
    code: str,
) -> Location:
    """A new location with its areas (one default area when none are given).

    `code` comes from the form's one-time creation token, so a second submission of
    the same form hits the unique code and the view shows the first location instead.
    """
    names = parse_area_spec(area_spec) or [_("Main area")]
    location = Location(business_id=business.id, code=code, created_at=clock.now())
    _apply(location, details)
    location.health_office_id = _office_id(session, location.zip_code)
    location.areas = [
        Area(name=name, sort_key=index, created_at=clock.now())
        for index, name in enumerate(names, start=1)
    ]
    session.add(location)
    session.flush()
    record_event(
        session,
        clock,
        action="location.created",
        actor=created_by,
        business_id=business.id,
        location_id=location.id,
        details={"areas": len(names)},
    )
    session.commit()
    return location


def update_location(
    session: Session,
    clock: Clock,
    location: Location,
    *,
    changed_by: User,
    details: LocationDetails,
) -> Location:
    """Change a location's details; a new postal code may give it another office.

    Such a change affects only check-ins from now on: guests seal to the new office's
    key, while stored visits stay sealed for the old office, which alone can ask for
    them (registration.offices.sealed_for_office). The change is audited on its own
    (location.office_changed) and shown on the location page (office_changes).
    """
    old_zip = location.zip_code
    old_office = location.health_office
    _apply(location, details)
    if location.zip_code != old_zip or location.health_office_id is None:
        location.health_office_id = _office_id(session, location.zip_code)
    record_event(
        session,
        clock,
        action="location.changed",
        actor=changed_by,
        business_id=location.business_id,
        location_id=location.id,
        details={"zip_changed": location.zip_code != old_zip},
    )
    old_office_id = old_office.id if old_office is not None else None
    if location.health_office_id != old_office_id:
        session.flush()
        new_office = (
            session.get(HealthOffice, location.health_office_id)
            if location.health_office_id is not None
            else None
        )
        record_event(
            session,
            clock,
            action=OFFICE_CHANGED,
            actor=changed_by,
            business_id=location.business_id,
            location_id=location.id,
            details={
                "from_zip": old_zip,
                "to_zip": location.zip_code,
                "from_office_id": old_office_id,
                "from_office": old_office.name if old_office is not None else None,
                "to_office_id": location.health_office_id,
                "to_office": new_office.name if new_office is not None else None,
            },
        )
    session.commit()
    return location


OFFICE_CHANGED = "location.office_changed"


def office_changes(session: Session, location: Location, *, limit: int = 5) -> list[AuditEvent]:
    """The location's changes of health office, newest first, for its page."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.location_id == location.id, AuditEvent.action == OFFICE_CHANGED)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


def set_archived(
    session: Session, clock: Clock, location: Location, *, archived: bool, changed_by: User
) -> None:
    """Archiving stops new check-ins; stored visits stay until their retention ends."""
    if archived == (location.archived_at is not None):
        return  # a repeated click changes nothing
    location.archived_at = clock.now() if archived else None
    record_event(
        session,
        clock,
        action="location.archived" if archived else "location.restored",
        actor=changed_by,
        business_id=location.business_id,
        location_id=location.id,
    )
    session.commit()


def renew_display_secret(
    session: Session, clock: Clock, location: Location, *, renewed_by: User
) -> None:
    """A new address for the entrance screen; the old one stops working at once.

    For a screen link that got out of hand (forwarded, left on an old tablet). The
    rotating codes' own secret stays, so guests who are filling in the form right now
    keep their admission.
    """
    location.display_secret = new_public_code()
    record_event(
        session,
        clock,
        action="location.display_renewed",
        actor=renewed_by,
        business_id=location.business_id,
        location_id=location.id,
    )
    session.commit()


def _office_id(session: Session, zip_code: str) -> int | None:
    office = office_for_postal_code(session, zip_code)
    return office.id if office else None


def responsible_office(session: Session, location: Location) -> HealthOffice | None:
    """The location's health office; looked up again when the operator added one since."""
    if location.health_office_id is None:
        office_id = _office_id(session, location.zip_code)
        if office_id is not None:
            location.health_office_id = office_id
            session.commit()
    return location.health_office


def can_check_in(session: Session, location: Location) -> bool:
    """Guests can check in only with an office that has an active key."""
    if location.archived_at is not None or location.health_office_id is None:
        return False
    return active_key(session, location.health_office_id) is not None


def locations_of(session: Session, business_id: int, *, archived: bool = False) -> list[Location]:
    condition = Location.archived_at.is_not(None) if archived else Location.archived_at.is_(None)
    return list(
        session.scalars(
            select(Location)
            .where(Location.business_id == business_id, condition)
            .order_by(Location.name, Location.id)
        )
    )


# --- areas -------------------------------------------------------------------------


def parse_area_spec(spec: str) -> list[str]:
    """'Tisch 1-20, Terrasse' gives Tisch 1 … Tisch 20 and Terrasse (order kept, no repeats).

    Ranges may use a hyphen, en or em dash, '..', 'bis' or 'to'."""
    names: list[str] = []
    for raw_part in _SEPARATORS.split(spec):
        part = _area_name(raw_part)
        if not part:
            continue
        match = _RANGE.match(part)
        if match:
            start, end = int(match["start"]), int(match["end"])
            if end < start:
                raise AreaSpecError(
                    _("In “%(part)s” the range must count upwards.", part=part[:40])
                )
            if end - start + 1 > MAX_AREAS_PER_REQUEST:
                raise AreaSpecError(
                    _("At most %(count)s areas at once.", count=MAX_AREAS_PER_REQUEST)
                )
            prefix = match["prefix"]
            names.extend(f"{prefix}{number}".strip() for number in range(start, end + 1))
        else:
            names.append(part)
        if len(names) > MAX_AREAS_PER_REQUEST:
            raise AreaSpecError(_("At most %(count)s areas at once.", count=MAX_AREAS_PER_REQUEST))
    names = [_area_name(name) for name in names]  # a range's names are checked too
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(name.casefold(), name)
    return list(unique.values())


def active_areas(location: Location) -> list[Area]:
    return [area for area in location.areas if area.archived_at is None]


def add_areas(
    session: Session, clock: Clock, location: Location, names: Sequence[str], *, added_by: User
) -> list[Area]:
    """Add the named areas; names that already exist are skipped, so a repeat adds nothing."""
    existing = {area.name.casefold() for area in active_areas(location)}
    new_names = [name for name in names if name.casefold() not in existing]
    if len(existing) + len(new_names) > MAX_AREAS_PER_LOCATION:
        raise TooManyAreasError(
            _("A location can have at most %(count)s active areas.", count=MAX_AREAS_PER_LOCATION)
        )
    next_key = max((area.sort_key for area in location.areas), default=0) + 1
    created = [
        Area(location_id=location.id, name=name, sort_key=next_key + index, created_at=clock.now())
        for index, name in enumerate(new_names)
    ]
    if created:
        session.add_all(created)
        session.flush()
        record_event(
            session,
            clock,
            action="areas.created",
            actor=added_by,
            business_id=location.business_id,
            location_id=location.id,
            details={"count": len(created)},
        )
    session.commit()
    session.refresh(location)
    return created


def archive_area(session: Session, clock: Clock, area: Area, *, archived_by: User) -> None:
    """The area's QR code stops working; its stored visits stay until retention ends."""
    if area.archived_at is not None:
        return
    area.archived_at = clock.now()
    record_event(
        session,
        clock,
        action="area.archived",
        actor=archived_by,
        business_id=area.location.business_id,
        location_id=area.location_id,
        details={"area": area.id},
    )
    session.commit()
