"""Factories for portal tests: businesses with owners, a health office with a key, logins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

import crypto
from registration.accounts.passwords import hash_password
from registration.clock import FrozenClock
from registration.models import (
    Area,
    Business,
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    KeyState,
    Location,
    Role,
    TraceRequest,
    User,
)
from tests.registration.portal.portal_helpers import OFFICE_ZIP, PASSWORD, Tenant, login


@pytest.fixture
def office(db_session: Session, clock: FrozenClock) -> HealthOffice:
    office = HealthOffice(name="Gesundheitsamt Mitte", email="amt@example.invalid")
    office.postal_codes = [HealthOfficePostalCode(postal_code=OFFICE_ZIP)]
    spki = crypto.public_key_spki(crypto.generate_private_key())
    office.keys = [
        HealthOfficeKey(
            key_id=crypto.key_id(spki).hex(),
            public_spki=spki,
            state=KeyState.ACTIVE,
            activated_at=clock.now() - dt.timedelta(days=30),
        )
    ]
    db_session.add(office)
    db_session.commit()
    return office


@pytest.fixture
def make_tenant(db_session: Session, office: HealthOffice) -> Callable[..., Tenant]:
    counter = iter(range(1, 1000))

    def make(name: str = "Café", *, staff: bool = False) -> Tenant:
        number = next(counter)
        business = Business(name=f"{name} {number}", contact_email=f"owner{number}@example.org")
        owner = User(
            email=f"{'staff' if staff else 'owner'}{number}-{name.lower()}@example.org",
            password_hash=hash_password(PASSWORD),
            role=Role.BUSINESS_STAFF if staff else Role.BUSINESS_OWNER,
            business=business,
            email_verified_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        location = Location(
            business=business,
            name=f"{name} am Markt",
            street="Markt",
            house_number="1",
            zip_code=OFFICE_ZIP,
            city="Berlin",
            health_office_id=office.id,
            capacity=40,
        )
        area = Area(name="Tisch 1", sort_key=1)
        location.areas = [area]
        db_session.add_all([business, owner, location])
        db_session.commit()
        return Tenant(business, owner, location, area)

    return make


@pytest.fixture
def make_trace_request(
    db_session: Session, clock: FrozenClock, office: HealthOffice
) -> Callable[[Location], TraceRequest]:
    def make(location: Location) -> TraceRequest:
        now = clock.now()
        trace_request = TraceRequest(
            health_office_id=office.id,
            location_id=location.id,
            window_start=now - dt.timedelta(hours=5),
            window_end=now - dt.timedelta(hours=1),
            case_reference="AZ 2026-0042",
            reason="Positive test of a guest",
            created_at=now,
            release_deadline=now + dt.timedelta(hours=24),
        )
        db_session.add(trace_request)
        db_session.commit()
        return trace_request

    return make


@pytest.fixture
def owner_client(app: Flask, make_tenant: Callable[..., Tenant]) -> tuple[FlaskClient, Tenant]:
    tenant = make_tenant("Alpha")
    client = app.test_client()
    login(client, tenant.owner.email)
    return client, tenant
