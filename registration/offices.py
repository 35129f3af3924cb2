"""Which health office is responsible for a location, and which key guests seal to.

These rules sit in the shared core because three sides apply them: the guest page
seals to the responsible office's active key, the business portal assigns an office
to a new location by its postal code, and a trace request may only name a location
in the asking office's jurisdiction. Creating an office is here too, so the
operator's command applies the same e-mail rule as every other address we mail to.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.clock import Clock
from registration.mail import is_plausible_address
from registration.models import (
    CheckIn,
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    KeyState,
    Location,
)
from registration.names import OFFICE_NAME_LENGTH, NameRefusedError, clean_name

# Five ASCII digits: `\d` alone also takes other scripts' digits, which no office lists.
POSTAL_CODE = re.compile(r"[0-9]{5}", re.ASCII)


def normalize_postal_code(text: str) -> str | None:
    """A German postal code as five ASCII digits, or None for anything else.

    The one reading of a postal code, used wherever one enters (the location form and
    service, the office's postal codes, the lookup of the responsible office). NFKC
    folds fullwidth digits (U+FF10 to U+FF19, as a Japanese or Chinese input method types
    them) to ASCII: before, they passed the form's check, matched no office and left
    the location without one. Digits of other scripts are refused.
    """
    code = unicodedata.normalize("NFKC", text).strip()
    return code if POSTAL_CODE.fullmatch(code) else None


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
    code = normalize_postal_code(postal_code)
    if code is None:
        return None
    office: HealthOffice | None = session.scalar(
        select(HealthOffice)
        .join(HealthOfficePostalCode)
        .where(HealthOfficePostalCode.postal_code == code)
    )
    return office


def sealed_for_office(office_id: int) -> ColumnElement[bool]:
    """SQL condition for "this check-in was sealed to one of the office's keys".

    A record belongs to the office it was sealed for, whatever happened to its
    location since: a postal-code change sends new check-ins to another office, while
    the stored ones stay readable only by the first. A key never changes its office,
    so the key id names the office for good.
    """
    return CheckIn.key_id.in_(
        select(HealthOfficeKey.key_id).where(HealthOfficeKey.health_office_id == office_id)
    )


def jurisdiction_clause(office_id: int) -> ColumnElement[bool]:
    """SQL condition for "this location is in the office's jurisdiction".

    The location's own health office decides (its check-ins are sealed to that
    office's key); a location without one falls to the office of its postal code.
    A location that moved to another office (its postal code changed) stays in the
    first office's jurisdiction while visits sealed for it are stored: only that
    office can ask for them (requests match only its own records, sealed_for_office).
    """
    codes = select(HealthOfficePostalCode.postal_code).where(
        HealthOfficePostalCode.health_office_id == office_id
    )
    return or_(
        Location.health_office_id == office_id,
        and_(Location.health_office_id.is_(None), Location.zip_code.in_(codes)),
        exists(
            select(CheckIn.id).where(
                CheckIn.location_id == Location.id, sealed_for_office(office_id)
            )
        ),
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
    try:
        name = clean_name(name, max_length=OFFICE_NAME_LENGTH)
    except NameRefusedError as refused:
        raise OfficeRefusedError(refused.message) from None
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


def _lookup_name(name: str) -> str:
    """The name as `create_health_office` stored it, or as typed if it could never be one."""
    try:
        return clean_name(name, max_length=OFFICE_NAME_LENGTH)
    except NameRefusedError:
        return name


def office_named(session: Session, name: str) -> HealthOffice | None:
    office: HealthOffice | None = session.scalar(
        select(HealthOffice).where(HealthOffice.name == _lookup_name(name))
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
    typed = list(codes)
    invalid = sorted({code.strip() for code in typed if normalize_postal_code(code) is None})
    if invalid:
        raise InvalidPostalCodesError(invalid)
    unique = sorted({code for code in map(normalize_postal_code, typed) if code is not None})
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
