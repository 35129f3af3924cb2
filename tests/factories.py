"""Test data, built one way: factories for the models, used by tests/ and bench/.

Each factory takes the session to add to, and keyword overrides for the model's
columns; it adds the object and flushes, so ids and public codes are set, and leaves
the commit to the caller: a unit test's session is rolled back at the end, a live
server or a benchmark needs its rows committed. Times default to the real clock; a
test on a frozen clock passes `now=clock.now()`.

Check-ins are sealed for real with `crypto.seal_contact_record` to the office key,
as the guest page seals them, so every stored envelope opens with the venue's
private key. Only the retention tests, which search the disk for the bytes of one
envelope, and bulk loads (a benchmark's 50,000 visits) pass an `envelope` of their own.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import crypto
from registration.accounts.passwords import hash_password
from registration.database import Base, Database
from registration.models import (
    Area,
    Business,
    CheckIn,
    CheckInSource,
    ExportPackage,
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    JobRun,
    KeyState,
    Location,
    Role,
    TraceRequest,
    TraceRequestState,
    User,
)

PASSWORD = "correct horse battery"

Row = TypeVar("Row", bound=Base)


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def _token() -> str:
    return secrets.token_hex(4)


def _saved(session: Session, row: Row) -> Row:
    session.add(row)
    session.flush()
    return row


# --- guests -------------------------------------------------------------------------------


def contact_record(
    first_name: str = "Erika", last_name: str = "Mustermann", **changes: Any
) -> dict[str, Any]:
    """A guest's contact record as the guest page builds it (docs/FORMAT.md, § record).

    Every value is distinctive text, so a test can search logs and pages for each."""
    record: dict[str, Any] = {
        "firstName": first_name,
        "lastName": last_name,
        "street": "Musterweg",
        "houseNumber": "17b",
        "zipCode": "51147",
        "city": "Köln",
        "phone": "0221 5550123",
        "email": "erika@example.org",
        "additionalPersons": [],
    }
    record.update(changes)
    return record


def stand_in_envelope(size: int = 240) -> bytes:
    """Random bytes in place of a sealed record, for searching the disk for one envelope:
    a real envelope's header (version, suite, key id) is the same in every envelope."""
    return b"\x01" + secrets.token_bytes(size - 1)


# --- health offices ----------------------------------------------------------------------


def health_office(
    session: Session, *, postal_codes: Iterable[str] = (), **overrides: Any
) -> HealthOffice:
    """An office, responsible for `postal_codes`; the name is unique unless given."""
    token = _token()
    values: dict[str, Any] = {
        "name": f"Gesundheitsamt {token}",
        "email": f"amt-{token}@example.invalid",
    }
    values.update(overrides)
    office = HealthOffice(**values)
    office.postal_codes = [HealthOfficePostalCode(postal_code=code) for code in postal_codes]
    return _saved(session, office)


def office_key(
    session: Session,
    office: HealthOffice,
    *,
    private_key: ec.EllipticCurvePrivateKey | None = None,
    now: dt.datetime | None = None,
    **overrides: Any,
) -> tuple[HealthOfficeKey, ec.EllipticCurvePrivateKey]:
    """A key of `office`, active since a day before `now`, and its private half."""
    private_key = private_key or crypto.generate_private_key()
    spki = crypto.public_key_spki(private_key)
    values: dict[str, Any] = {
        "health_office_id": office.id,
        "key_id": crypto.key_id(spki).hex(),
        "public_spki": spki,
        "state": KeyState.ACTIVE,
        "label": "test",
        "activated_at": _now(now) - dt.timedelta(days=1),
    }
    values.update(overrides)
    return _saved(session, HealthOfficeKey(**values)), private_key


# --- accounts ------------------------------------------------------------------------------


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """Argon2 is slow on purpose: each test password is hashed once per run."""
    return hash_password(password)


def user(
    session: Session,
    *,
    role: Role = Role.BUSINESS_OWNER,
    business: Business | None = None,
    office: HealthOffice | None = None,
    password: str = PASSWORD,
    verified: bool = True,
    totp_secret: str | None = None,
    now: dt.datetime | None = None,
    **overrides: Any,
) -> User:
    """An account of `business` or of `office`; with `totp_secret`, two-factor log-in
    is set up."""
    now = _now(now)
    token = _token()
    values: dict[str, Any] = {
        "email": f"{role.value.replace('_', '-')}-{token}@example.org",
        "password_hash": password_hash(password),
        "role": role,
        "business_id": business.id if business else None,
        "health_office_id": office.id if office else None,
        "email_verified_at": now if verified else None,
        "totp_secret": totp_secret,
        "totp_enabled_at": now if totp_secret else None,
    }
    values.update(overrides)
    values.setdefault("display_name", values["email"].split("@")[0])
    return _saved(session, User(**values))


# --- businesses and their places -------------------------------------------------------------


def business(session: Session, **overrides: Any) -> Business:
    token = _token()
    values: dict[str, Any] = {
        "name": f"Café {token}",
        "contact_email": f"inhaber-{token}@example.org",
    }
    values.update(overrides)
    return _saved(session, Business(**values))


def location(
    session: Session,
    business: Business,
    *,
    office: HealthOffice | None = None,
    areas: Sequence[str] = ("Terrasse",),
    **overrides: Any,
) -> Location:
    """A location of `business` with one area per name in `areas`, in that order;
    `office` is the health office responsible for it."""
    values: dict[str, Any] = {
        "business_id": business.id,
        "name": "Café am Markt",
        "street": "Marktplatz",
        "house_number": "1",
        "zip_code": "10115",
        "city": "Berlin",
        "health_office_id": office.id if office else None,
    }
    values.update(overrides)
    place = Location(**values)
    place.areas = [Area(name=name, sort_key=number) for number, name in enumerate(areas, 1)]
    return _saved(session, place)


@dataclass
class Venue:
    """A place guests can check in to: a business's location, its areas, the health
    office responsible for it and that office's active key (with its private half)."""

    office: HealthOffice
    key: HealthOfficeKey
    private_key: ec.EllipticCurvePrivateKey
    business: Business
    location: Location

    @property
    def areas(self) -> list[Area]:
        return list(self.location.areas)

    @property
    def area(self) -> Area:
        return self.location.areas[0]

    def seal(
        self,
        record: dict[str, Any] | None = None,
        *,
        area: Area | None = None,
        key: HealthOfficeKey | None = None,
    ) -> bytes:
        """An envelope as the guest page seals it at `area` (the first by default)."""
        return crypto.seal_contact_record(
            (key or self.key).public_spki,
            record if record is not None else contact_record(),
            location_code=self.location.code,
            area_code=(area or self.area).code,
        )

    def open(self, envelope: bytes, *, area: Area | None = None) -> dict[str, Any]:
        return crypto.open_contact_record(
            self.private_key,
            envelope,
            location_code=self.location.code,
            area_code=(area or self.area).code,
        )

    def checkin_body(self, arrival: dt.datetime, /, **changes: Any) -> dict[str, Any]:
        """The JSON body of `POST /api/v1/checkins` for one guest arriving at `arrival`;
        `changes` replace its members (an "arrival" among them too)."""
        body: dict[str, Any] = {
            "areaCode": self.area.code,
            "idempotencyKey": str(uuid.uuid4()),
            "envelope": crypto.encode_envelope(self.seal()),
            "persons": 1,
            "arrival": iso(arrival),
        }
        body.update(changes)
        return body


def venue(
    session: Session,
    *,
    office: HealthOffice | None = None,
    private_key: ec.EllipticCurvePrivateKey | None = None,
    business_name: str | None = None,
    areas: Sequence[str] = ("Terrasse",),
    now: dt.datetime | None = None,
    **location_overrides: Any,
) -> Venue:
    """A business with one location and its areas; the location's health office (a new
    one unless `office` is given) has an active key, made from `private_key` if given."""
    if office is None:
        office = health_office(session)
    key, private_key = office_key(session, office, private_key=private_key, now=now)
    owner = business(session, **({"name": business_name} if business_name else {}))
    place = location(session, owner, office=office, areas=areas, **location_overrides)
    return Venue(office, key, private_key, owner, place)


# --- visits -------------------------------------------------------------------------------


def build_checkin(
    area: Area,
    key: HealthOfficeKey,
    *,
    arrival: dt.datetime,
    record: dict[str, Any] | None = None,
    envelope: bytes | None = None,
    departure: dt.datetime | None = None,
    stay: dt.timedelta = dt.timedelta(hours=2),
    persons: int | None = None,
    **overrides: Any,
) -> CheckIn:
    """A check-in as the check-in service stores it, not yet added to a session (for
    loading many at once). `record` is sealed to `key` for `area` and its location,
    unless an `envelope` is given; persons counts the record's additional persons."""
    record = record if record is not None else contact_record()
    idempotency_key = overrides.pop("idempotency_key", uuid.uuid4().hex)
    source = overrides.get("source", CheckInSource.GUEST_PAGE)
    if envelope is None:  # format v2, as the guest page seals it
        envelope = crypto.seal_contact_record(
            key.public_spki,
            record,
            location_code=area.location.code,
            area_code=area.code,
            visit=crypto.VisitBinding(arrival, idempotency_key, source.value),
        )
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "arrival": arrival,
        "location_id": area.location_id,
        "area_id": area.id,
        "departure": departure,
        "auto_departure": arrival + stay,
        "persons": persons or 1 + len(record.get("additionalPersons", [])),
        "source": CheckInSource.GUEST_PAGE,
        "key_id": key.key_id,
        "envelope": envelope,
        "checkout_token_hash": hashlib.sha256(secrets.token_bytes(16)).digest(),
        # Like checkin.storage.idempotency_key_hash, without the settings' key.
        "idempotency_key_hash": hashlib.sha256(idempotency_key.encode()).hexdigest(),
    }
    values.update(overrides)
    return CheckIn(**values)


def checkin(session: Session, area: Area, key: HealthOfficeKey, **values: Any) -> CheckIn:
    """`build_checkin`, added and flushed."""
    return _saved(session, build_checkin(area, key, **values))


def iso(moment: dt.datetime) -> str:
    """A time as the guest page sends it: ISO 8601 in UTC with a Z."""
    return moment.isoformat().replace("+00:00", "Z")


# --- requests, packages, jobs ------------------------------------------------------------------


def trace_request(
    session: Session,
    office: HealthOffice,
    place: Location,
    *,
    now: dt.datetime | None = None,
    **overrides: Any,
) -> TraceRequest:
    """A request of `office` for a four-hour window at `place` ending an hour before
    `now`, made at `now`, with a day left until the release deadline."""
    now = _now(now)
    values: dict[str, Any] = {
        "health_office_id": office.id,
        "location_id": place.id,
        "window_start": now - dt.timedelta(hours=5),
        "window_end": now - dt.timedelta(hours=1),
        "case_reference": "AZ 2026-0042",
        "reason": "Positive test of a guest",
        "state": TraceRequestState.REQUESTED,
        "created_at": now,
        "release_deadline": now + dt.timedelta(hours=24),
    }
    values.update(overrides)
    return _saved(session, TraceRequest(**values))


def export_package(
    session: Session, request: TraceRequest, *, expires_at: dt.datetime, **overrides: Any
) -> ExportPackage:
    values: dict[str, Any] = {
        "trace_request_id": request.id,
        "expires_at": expires_at,
        "sha256": "0" * 64,
        "content": stand_in_envelope(),
    }
    values.update(overrides)
    return _saved(session, ExportPackage(**values))


def job_run(
    session: Session,
    *,
    started_at: dt.datetime,
    job: str = "maintenance",
    **overrides: Any,
) -> JobRun:
    """A maintenance run; unfinished unless `finished_at` is given."""
    values: dict[str, Any] = {"job": job, "started_at": started_at, "runner": "test"}
    values.update(overrides)
    return _saved(session, JobRun(**values))


# --- committed data -----------------------------------------------------------------------


@contextmanager
def committing(bind: Engine | Database) -> Iterator[Session]:
    """A session of its own on `bind`, committed at the end; what it made stays readable
    after it closes. For live servers, other processes and benchmarks."""
    engine = bind.engine if isinstance(bind, Database) else bind
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.commit()


def add_venue(bind: Engine | Database, **overrides: Any) -> Venue:
    """`venue`, committed."""
    with committing(bind) as session:
        return venue(session, **overrides)


def wipe(bind: Engine | Database) -> None:
    """Delete every row: for tests and benchmarks that commit for real, where nothing
    can be rolled back (live servers, maintenance runs, other processes)."""
    engine = bind.engine if isinstance(bind, Database) else bind
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
