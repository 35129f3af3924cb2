"""Fixtures of the health-office tests: offices with keys and staff, locations, a request."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from registration.models import HealthOffice, Role
from tests import factories
from tests.health_export.office_support import LocationBundle, OfficeBundle


@pytest.fixture
def make_office(db_session: Session, clock: Any) -> Callable[..., OfficeBundle]:
    def make(name: str = "Gesundheitsamt Teststadt", postal_code: str = "10115") -> OfficeBundle:
        now = clock.now()
        office = factories.health_office(
            db_session,
            name=name,
            email=f"amt-{postal_code}@test.invalid",
            postal_codes=[postal_code],
        )
        key, private_key = factories.office_key(
            db_session,
            office,
            activated_at=now - dt.timedelta(days=60),
            created_at=now - dt.timedelta(days=60),
        )
        secret = pyotp.random_base32()
        slug = f"{postal_code}-{secrets.token_hex(3)}"
        admin = factories.user(
            db_session,
            role=Role.HEALTH_OFFICE_ADMIN,
            office=office,
            email=f"admin-{slug}@amt.test",
            totp_secret=secret,
            now=now,
        )
        staff = factories.user(
            db_session,
            role=Role.HEALTH_OFFICE_STAFF,
            office=office,
            email=f"staff-{slug}@amt.test",
            totp_secret=secret,
            now=now,
        )
        db_session.commit()
        return OfficeBundle(
            office, admin, staff, private_key, key.public_spki, key, postal_code, secret
        )

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
        business = factories.business(
            db_session,
            name=f"Betrieb {name}",
            contact_email=f"inhaber-{secrets.token_hex(3)}@test.invalid",
        )
        owner = factories.user(
            db_session,
            business=business,
            email=f"owner-{secrets.token_hex(4)}@betrieb.test",
            now=clock.now(),
        )
        location = factories.location(
            db_session,
            business,
            office=office,
            areas=areas,
            name=name,
            street="Hauptstraße",
            zip_code=zip_code,
            city="Teststadt",
            default_stay_minutes=120,
        )
        db_session.commit()
        return LocationBundle(business, owner, location, list(location.areas))

    return make


@pytest.fixture
def office_app(app: Flask) -> Flask:
    """The app without CSRF checks: form tests post directly (the browser test covers CSRF)."""
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def request_context(app: Flask) -> Iterator[None]:
    """Services outside a view still format lazy (translated) messages: give them a request."""
    with app.test_request_context("/amt/"):
        yield
