"""Factories for the health-office tests: offices with keys, staff, locations, sealed visits."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import _create_identifier
from sqlalchemy.orm import Session

import crypto
from registration.models import (
    Area,
    Business,
    CheckIn,
    CheckInSource,
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    KeyState,
    Location,
    Role,
    User,
)

PASSWORD = "office-test-password-1"
_PASSWORD_HASH: list[str] = []


def password_hash() -> str:
    """Argon2 is slow on purpose; hash the one test password once per run."""
    if not _PASSWORD_HASH:
        from registration.accounts.passwords import hash_password

        _PASSWORD_HASH.append(hash_password(PASSWORD))
    return _PASSWORD_HASH[0]


@dataclass
class OfficeBundle:
    office: HealthOffice
    admin: User
    staff: User
    private_key: ec.EllipticCurvePrivateKey
    spki: bytes
    key: HealthOfficeKey
    postal_code: str
    totp_secret: str

    @property
    def key_id(self) -> str:
        return crypto.key_id(self.spki).hex()


@dataclass
class LocationBundle:
    business: Business
    owner: User
    location: Location
    areas: list[Area] = field(default_factory=list)


def make_user(
    session: Session,
    email: str,
    role: Role,
    *,
    totp_secret: str | None,
    now: dt.datetime,
    **links: Any,
) -> User:
    user = User(
        email=email,
        password_hash=password_hash(),
        role=role,
        display_name=email.split("@")[0],
        email_verified_at=now,
        totp_secret=totp_secret,
        totp_enabled_at=now if totp_secret else None,
        **links,
    )
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def make_office(db_session: Session, clock: Any) -> Callable[..., OfficeBundle]:
    def make(name: str = "Gesundheitsamt Teststadt", postal_code: str = "10115") -> OfficeBundle:
        now = clock.now()
        office = HealthOffice(name=name, email=f"amt-{postal_code}@test.invalid")
        db_session.add(office)
        db_session.flush()
        db_session.add(HealthOfficePostalCode(postal_code=postal_code, health_office_id=office.id))
        private_key = crypto.generate_private_key()
        spki = crypto.public_key_spki(private_key)
        key = HealthOfficeKey(
            health_office_id=office.id,
            key_id=crypto.key_id(spki).hex(),
            public_spki=spki,
            state=KeyState.ACTIVE,
            label="test",
            activated_at=now - dt.timedelta(days=60),
            created_at=now - dt.timedelta(days=60),
        )
        db_session.add(key)
        secret = pyotp.random_base32()
        slug = f"{postal_code}-{secrets.token_hex(3)}"
        admin = make_user(
            db_session,
            f"admin-{slug}@amt.test",
            Role.HEALTH_OFFICE_ADMIN,
            totp_secret=secret,
            now=now,
            health_office_id=office.id,
        )
        staff = make_user(
            db_session,
            f"staff-{slug}@amt.test",
            Role.HEALTH_OFFICE_STAFF,
            totp_secret=secret,
            now=now,
            health_office_id=office.id,
        )
        db_session.commit()
        return OfficeBundle(office, admin, staff, private_key, spki, key, postal_code, secret)

    return make


@pytest.fixture
def make_location(db_session: Session, clock: Any) -> Callable[..., LocationBundle]:
    def make(
        office: HealthOffice | None,
        *,
        name: str = "Café Test",
        zip_code: str = "10115",
        areas: tuple[str, ...] = ("Terrasse", "Saal"),
    ) -> LocationBundle:
        now = clock.now()
        business = Business(
            name=f"Betrieb {name}", contact_email=f"inhaber-{secrets.token_hex(3)}@test.invalid"
        )
        db_session.add(business)
        db_session.flush()
        owner = make_user(
            db_session,
            f"owner-{secrets.token_hex(4)}@betrieb.test",
            Role.BUSINESS_OWNER,
            totp_secret=None,
            now=now,
            business_id=business.id,
        )
        location = Location(
            business_id=business.id,
            name=name,
            street="Hauptstraße",
            house_number="1",
            zip_code=zip_code,
            city="Teststadt",
            health_office_id=office.id if office else None,
            default_stay_minutes=120,
        )
        location.areas = [Area(name=area, sort_key=i) for i, area in enumerate(areas)]
        db_session.add(location)
        db_session.commit()
        return LocationBundle(business, owner, location, list(location.areas))

    return make


def guest_record(first: str = "Erika", last: str = "Mustermann", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "v": 1,
        "firstName": first,
        "lastName": last,
        "street": "Musterweg",
        "houseNumber": "5",
        "zipCode": "10115",
        "city": "Berlin",
        "phone": "+49 30 1234567",
        "email": "erika@example.org",
        "additionalPersons": [],
        "note": "",
    }
    record.update(extra)
    return record


def seal_visit(
    spki: bytes,
    location: Location,
    area: Area,
    *,
    arrival: dt.datetime,
    departure: dt.datetime | None = None,
    stay: dt.timedelta = dt.timedelta(hours=2),
    record: dict[str, Any] | None = None,
    persons: int | None = None,
    source: CheckInSource = CheckInSource.GUEST_PAGE,
) -> CheckIn:
    """A CheckIn row as the check-in service would store it (sealed to the office key)."""
    record = record or guest_record()
    envelope = crypto.seal_contact_record(
        spki, record, location_code=location.code, area_code=area.code
    )
    return CheckIn(
        id=uuid.uuid4(),
        arrival=arrival,
        location_id=location.id,
        area_id=area.id,
        departure=departure,
        auto_departure=arrival + stay,
        persons=persons or 1 + len(record.get("additionalPersons", [])),
        source=source,
        key_id=crypto.key_id(spki).hex(),
        envelope=envelope,
        checkout_token_hash=hashlib.sha256(secrets.token_bytes(16)).digest(),
        idempotency_key=secrets.token_hex(16),
        received_at=arrival,
    )


def sign_in(client: FlaskClient, user: User, clock: Any) -> None:
    """A session as the accounts log-in leaves it after password and TOTP."""
    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as session:
        session.clear()
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["_id"] = identifier
        session["auth_at"] = int(clock.now().timestamp())
        session.permanent = True


@pytest.fixture
def office_app(app: Flask) -> Flask:
    """The app without CSRF checks: form tests post directly (the browser test covers CSRF)."""
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def request_context(app: Flask) -> Any:
    """Services outside a view still format lazy (translated) messages: give them a request."""
    with app.test_request_context("/amt/"):
        yield
