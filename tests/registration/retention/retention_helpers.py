"""Helpers shared by the retention tests: places, check-ins, envelopes, wiping."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from registration.config import Settings
from registration.database import Base, Database
from registration.models import Area, Business, CheckIn, CheckInSource, Location


def wipe(database: Database) -> None:
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@dataclass(frozen=True)
class Place:
    business_id: int
    location_id: int
    area_id: int


def make_place(engine: Engine, name: str = "Zur Post") -> Place:
    with Session(engine) as session:
        business = Business(name=name)
        session.add(business)
        session.flush()
        location = Location(
            business_id=business.id,
            name=name,
            street="Hauptstraße",
            house_number="1",
            zip_code="10115",
            city="Berlin",
        )
        location.areas = [Area(name="Tisch 1")]
        session.add(location)
        session.commit()
        return Place(business.id, location.id, location.areas[0].id)


def sealed_envelope(size: int = 240) -> bytes:
    """Stands in for a sealed record: random bytes nothing else on disk can contain."""
    return b"\x01" + secrets.token_bytes(size - 1)


def add_checkin(
    engine: Engine,
    place: Place,
    arrival: dt.datetime,
    *,
    envelope: bytes | None = None,
    stay: dt.timedelta = dt.timedelta(hours=2),
    departure: dt.datetime | None = None,
) -> CheckIn:
    with Session(engine, expire_on_commit=False) as session:
        checkin = new_checkin(place, arrival, envelope=envelope, stay=stay, departure=departure)
        session.add(checkin)
        session.commit()
        return checkin


def new_checkin(
    place: Place,
    arrival: dt.datetime,
    *,
    envelope: bytes | None = None,
    stay: dt.timedelta = dt.timedelta(hours=2),
    departure: dt.datetime | None = None,
) -> CheckIn:
    return CheckIn(
        id=uuid.uuid4(),
        arrival=arrival,
        location_id=place.location_id,
        area_id=place.area_id,
        departure=departure,
        auto_departure=arrival + stay,
        persons=1,
        source=CheckInSource.GUEST_PAGE,
        key_id="ab" * 32,
        envelope=envelope if envelope is not None else sealed_envelope(),
        checkout_token_hash=secrets.token_bytes(32),
        idempotency_key=uuid.uuid4().hex,
    )


def checkin_exists(engine: Engine, checkin: CheckIn) -> bool:
    with Session(engine) as session:
        return session.get(CheckIn, (checkin.id, checkin.arrival)) is not None


def count_checkins(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM checkins")) or 0)


def with_retention(settings: Settings, days: int) -> Settings:
    return Settings.from_mapping({"retention_days": days}, base=settings)
