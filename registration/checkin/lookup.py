"""The area behind a QR code, read for every check-in: in ORM form for the guest page,
as plain values for the JSON API's hot path.

Both forms find the same open area and the responsible office's newest active key
(the key guests must seal to), each in one round trip.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Select, Table, and_, bindparam, select
from sqlalchemy.orm import Session

import crypto
from registration.checkin.errors import UnknownAreaError
from registration.checkin.short_cache import ShortCache
from registration.models import (
    Area,
    Business,
    CheckInMode,
    HealthOffice,
    HealthOfficeKey,
    KeyState,
    Location,
)

# The alphabet of area and location codes (models.new_public_code writes 22 of them;
# older or imported codes are at most 64). Anything else cannot name an area.
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)


def is_code(text: object) -> bool:
    """True if `text` could be an area code; a lookup for anything else is skipped."""
    return isinstance(text, str) and CODE_PATTERN.fullmatch(text) is not None


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


@dataclass(frozen=True)
class AreaContext:
    """An area as the check-in page needs it: where it is and whom it is sealed for."""

    area: Area
    location: Location
    business_name: str
    key: HealthOfficeKey | None
    # Read in the same query: the page names the office, and a lazy load of the
    # location's office would be one more round trip per page.
    office_name: str = ""

    @property
    def can_check_in(self) -> bool:
        return self.key is not None


class SealingKey(Protocol):
    """What a page needs of an office key to seal to it (a HealthOfficeKey or an OfficeKey)."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_spki(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class OfficeKey:
    """An office's active key as plain values, as the check-in API reads it."""

    key_id: str
    public_spki: bytes
    health_office_id: int


class ActiveKey(SealingKey, Protocol):
    """An office's active key as find_area (ORM) or find_checkin_target (values) read it."""

    @property
    def health_office_id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AreaTarget:
    """Where a check-in is stored, as plain values: what store_checkin needs of its area.

    The JSON API reads these in its one Core query (find_checkin_target); the guest
    form and the staff entry, which hold an Area entity, build it with AreaTarget.of.
    """

    area_id: int
    location_id: int
    health_office_id: int | None
    default_stay_minutes: int

    @classmethod
    def of(cls, area: Area) -> AreaTarget:
        location = area.location
        return cls(
            area_id=area.id,
            location_id=location.id,
            health_office_id=location.health_office_id,
            default_stay_minutes=location.default_stay_minutes,
        )


@dataclass(frozen=True, slots=True)
class CheckInTarget:
    """An open area as the check-in API needs it, read as plain values in one query.

    The API stores a check-in and answers with a few names; loading ORM entities for
    that cost more than the rest of the request, so it reads only these columns.
    """

    storage: AreaTarget
    area_code: str
    area_name: str
    location_code: str
    location_name: str
    checkin_mode: CheckInMode
    rotating_secret: bytes
    key: OfficeKey | None


# The hot statements are built once: SQLAlchemy then finds their compiled form in its
# cache by identity, and a request only binds values (no statement construction).
_areas = _table(Area)
_locations = _table(Location)
_businesses = _table(Business)
_keys = _table(HealthOfficeKey)


# The area behind a code with the office's newest active key: the same rule as
# registration.offices.active_key (newest activation first, then the highest id).
_NEWEST_ACTIVE_KEY_FIRST = (HealthOfficeKey.activated_at.desc(), HealthOfficeKey.id.desc())
_FIND_AREA = (
    select(Area, Location, Business.name, HealthOfficeKey, HealthOffice.name)
    .join(Location, Area.location_id == Location.id)
    .join(Business, Location.business_id == Business.id)
    .outerjoin(HealthOffice, HealthOffice.id == Location.health_office_id)
    .outerjoin(
        HealthOfficeKey,
        and_(
            HealthOfficeKey.health_office_id == Location.health_office_id,
            HealthOfficeKey.state == KeyState.ACTIVE,
        ),
    )
    .where(
        Area.code == bindparam("code"),
        Area.archived_at.is_(None),
        Location.archived_at.is_(None),
    )
    .order_by(*_NEWEST_ACTIVE_KEY_FIRST)
    .limit(1)
)


def _open_area_with_newest_key(*columns: Any, office_name: bool = False) -> Select[Any]:
    """`columns` of the open area bound as `code`, its open location and business, and its
    office's newest active key (NULL columns without one): the one rule both the
    check-in lookup and the guest page read an area by."""
    joined = _areas.join(_locations, _areas.c.location_id == _locations.c.id).join(
        _businesses, _locations.c.business_id == _businesses.c.id
    )
    if office_name:
        joined = joined.outerjoin(_offices, _offices.c.id == _locations.c.health_office_id)
    return (
        select(*columns)
        .select_from(
            joined.outerjoin(
                _keys,
                and_(
                    _keys.c.health_office_id == _locations.c.health_office_id,
                    _keys.c.state == KeyState.ACTIVE,
                ),
            )
        )
        .where(
            _areas.c.code == bindparam("code"),
            _areas.c.archived_at.is_(None),
            _locations.c.archived_at.is_(None),
        )
        .order_by(_keys.c.activated_at.desc(), _keys.c.id.desc())
        .limit(1)
    )


_offices = _table(HealthOffice)
_FIND_TARGET = _open_area_with_newest_key(
    _areas.c.id,
    _areas.c.code,
    _areas.c.name,
    _locations.c.id,
    _locations.c.code,
    _locations.c.name,
    _locations.c.checkin_mode,
    _locations.c.rotating_secret,
    _locations.c.default_stay_minutes,
    _locations.c.health_office_id,
    _keys.c.key_id,
    _keys.c.public_spki,
)


@dataclass(frozen=True, slots=True)
class GuestPageArea:
    """An open area as its guest page shows it: plain values, read in one Core query.

    Everything the page's template shows of the area comes from here, so these values
    (with the language) are also the key under which the rendered page is kept
    (checkin.page_cache): a renamed location or a new office key is a new key.
    """

    area_id: int
    area_code: str
    area_name: str
    location_id: int
    location_code: str
    location_name: str
    street: str
    house_number: str
    zip_code: str
    city: str
    capacity: int | None
    default_stay_minutes: int
    checkin_mode: CheckInMode
    rotating_secret: bytes
    business_name: str
    office_name: str
    key: OfficeKey | None

    @property
    def id(self) -> int:
        """The location's id, as occupancy.full_notice_occupancy asks a location for it."""
        return self.location_id

    @property
    def can_check_in(self) -> bool:
        return self.key is not None

    @classmethod
    def of(cls, context: AreaContext) -> GuestPageArea:
        """The same values from an AreaContext (the no-JS form, which holds entities)."""
        area, location, key = context.area, context.location, context.key
        return cls(
            area_id=area.id,
            area_code=area.code,
            area_name=area.name,
            location_id=location.id,
            location_code=location.code,
            location_name=location.name,
            street=location.street,
            house_number=location.house_number,
            zip_code=location.zip_code,
            city=location.city,
            capacity=location.capacity,
            default_stay_minutes=location.default_stay_minutes,
            checkin_mode=location.checkin_mode,
            rotating_secret=location.rotating_secret,
            business_name=context.business_name,
            office_name=context.office_name,
            key=None
            if key is None
            else OfficeKey(
                key_id=key.key_id,
                public_spki=key.public_spki,
                health_office_id=key.health_office_id,
            ),
        )


_FIND_PAGE_AREA = _open_area_with_newest_key(
    _areas.c.id,
    _areas.c.code,
    _areas.c.name,
    _locations.c.id,
    _locations.c.code,
    _locations.c.name,
    _locations.c.street,
    _locations.c.house_number,
    _locations.c.zip_code,
    _locations.c.city,
    _locations.c.capacity,
    _locations.c.default_stay_minutes,
    _locations.c.checkin_mode,
    _locations.c.rotating_secret,
    _businesses.c.name,
    _offices.c.name,
    _locations.c.health_office_id,
    _keys.c.key_id,
    _keys.c.public_spki,
    office_name=True,
)


# How late a guest page (GET) may show a change to its area: a new name, an archived
# area, a new office key. Check-ins never use the kept values (the API and the form
# read the area afresh), and a page that seals to a key the office has just replaced
# gets 409 with the current key from the API, which it seals to again.
GUEST_PAGE_STALENESS = dt.timedelta(seconds=2)
GUEST_PAGE_AREAS_EXTENSION = "gastregister.guest_page_areas"


def guest_page_areas() -> ShortCache[str, GuestPageArea]:
    """The kept GuestPageArea values of one app, by area code (the app's extension)."""
    return ShortCache(GUEST_PAGE_STALENESS, max_entries=4096)


def find_guest_page_area(connection: Connection, code: str) -> GuestPageArea:
    """find_area for the guest page (GET): the same area and key, as plain values.

    In Core form: loading three ORM entities cost more than the rest of a kept page.
    The page keeps what it read for GUEST_PAGE_STALENESS (views.page).
    """
    if not is_code(code):
        raise UnknownAreaError
    row = connection.execute(_FIND_PAGE_AREA, {"code": code}).first()
    if row is None:
        raise UnknownAreaError
    *values, health_office_id, key_id, public_spki = row
    key = (
        None
        if key_id is None or health_office_id is None
        else OfficeKey(key_id=key_id, public_spki=public_spki, health_office_id=health_office_id)
    )
    fields = dict(zip(_PAGE_AREA_FIELDS, values, strict=True))
    fields["office_name"] = fields["office_name"] or ""
    return GuestPageArea(**fields, key=key)


_PAGE_AREA_FIELDS = tuple(name for name in GuestPageArea.__dataclass_fields__ if name != "key")


def find_area(session: Session, code: str) -> AreaContext:
    """The open area behind a QR code, with the key guests must seal to (or None).

    One query: the area, its location and business, and the office's newest active
    key, chosen by the same rule as registration.offices.active_key. It runs for every
    check-in, so it is one round trip rather than three.
    """
    if not is_code(code):
        raise UnknownAreaError
    row = session.execute(_FIND_AREA, {"code": code}).first()
    if row is None:
        raise UnknownAreaError
    area, location, business_name, key, office_name = row
    return AreaContext(
        area=area,
        location=location,
        business_name=business_name,
        key=key,
        office_name=office_name or "",
    )


def find_checkin_target(session: Session, code: str) -> CheckInTarget:
    """find_area for the JSON API: the same area and key, as plain column values.

    Read fresh for every request (no cache), so an archived area or a new key takes
    effect at once.
    """
    if not is_code(code):
        raise UnknownAreaError
    # Core execution on the session's connection: no ORM result machinery for 12 values.
    row = session.connection().execute(_FIND_TARGET, {"code": code}).first()
    if row is None:
        raise UnknownAreaError
    (
        area_id,
        area_code,
        area_name,
        location_id,
        location_code,
        location_name,
        checkin_mode,
        rotating_secret,
        default_stay_minutes,
        health_office_id,
        key_id,
        public_spki,
    ) = row
    key = (
        None
        if key_id is None or health_office_id is None
        else OfficeKey(key_id=key_id, public_spki=public_spki, health_office_id=health_office_id)
    )
    return CheckInTarget(
        storage=AreaTarget(
            area_id=area_id,
            location_id=location_id,
            health_office_id=health_office_id,
            default_stay_minutes=default_stay_minutes,
        ),
        area_code=area_code,
        area_name=area_name,
        location_code=location_code,
        location_name=location_name,
        checkin_mode=checkin_mode,
        rotating_secret=rotating_secret,
        key=key,
    )


def current_key_description(key: SealingKey) -> dict[str, str]:
    """What a page needs to seal to `key`: its id and its SPKI as base64url."""
    return {"keyId": key.key_id, "publicKey": crypto.b64url_encode(key.public_spki)}
