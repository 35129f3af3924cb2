"""Test data for check-in tests: an office with an active key, a business, a location, an area."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

import crypto
from registration.models import (
    Area,
    Business,
    CheckInMode,
    HealthOffice,
    HealthOfficeKey,
    KeyState,
    Location,
)

GUEST = {
    "firstName": "Erika",
    "lastName": "Mustermann",
    "street": "Heidestraße",
    "houseNumber": "17b",
    "zipCode": "51147",
    "city": "Köln",
    "phone": "0221 5550123",
    "email": "erika@example.de",
    "additionalPersons": [],
}


@dataclass
class Venue:
    office: HealthOffice
    key: HealthOfficeKey
    private_key: ec.EllipticCurvePrivateKey
    business: Business
    location: Location
    area: Area

    def seal(
        self, record: dict[str, Any] | None = None, *, key: HealthOfficeKey | None = None
    ) -> bytes:
        return crypto.seal_contact_record(
            (key or self.key).public_spki,
            record or GUEST,
            location_code=self.location.code,
            area_code=self.area.code,
        )

    def open(self, envelope: bytes) -> dict[str, Any]:
        return crypto.open_contact_record(
            self.private_key, envelope, location_code=self.location.code, area_code=self.area.code
        )


def add_key(
    session: Session, office: HealthOffice, now: dt.datetime
) -> tuple[HealthOfficeKey, ec.EllipticCurvePrivateKey]:
    private_key = crypto.generate_private_key()
    spki = crypto.public_key_spki(private_key)
    key = HealthOfficeKey(
        health_office_id=office.id,
        key_id=crypto.key_id(spki).hex(),
        public_spki=spki,
        state=KeyState.ACTIVE,
        label="test",
        activated_at=now,
    )
    session.add(key)
    session.flush()
    return key, private_key


def create_venue(
    session: Session,
    now: dt.datetime,
    *,
    capacity: int | None = None,
    mode: CheckInMode = CheckInMode.STATIC,
    stay_minutes: int = 120,
) -> Venue:
    office = HealthOffice(name=f"Gesundheitsamt Test {secrets.token_hex(4)}")
    session.add(office)
    session.flush()
    key, private_key = add_key(session, office, now - dt.timedelta(days=1))
    business = Business(name="Café Testfall")
    session.add(business)
    session.flush()
    location = Location(
        business_id=business.id,
        name="Café am Dom",
        street="Domkloster",
        house_number="4",
        zip_code="50667",
        city="Köln",
        health_office_id=office.id,
        default_stay_minutes=stay_minutes,
        capacity=capacity,
        checkin_mode=mode,
    )
    location.areas = [Area(name="Terrasse", sort_key=1)]
    session.add(location)
    session.commit()
    return Venue(office, key, private_key, business, location, location.areas[0])


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
