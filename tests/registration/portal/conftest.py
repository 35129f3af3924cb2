"""Fixtures of the portal tests: businesses with owners, a health office with a key, logins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
from registration.models import HealthOffice, Location, Role, TraceRequest
from tests import factories
from tests.forms import log_in
from tests.registration.portal.portal_helpers import OFFICE_ZIP, Tenant


@pytest.fixture
def office(db_session: Session, clock: FrozenClock) -> HealthOffice:
    office = factories.health_office(
        db_session,
        name="Gesundheitsamt Mitte",
        email="amt@example.invalid",
        postal_codes=[OFFICE_ZIP],
    )
    factories.office_key(db_session, office, activated_at=clock.now() - dt.timedelta(days=30))
    db_session.commit()
    return office


@pytest.fixture
def make_tenant(db_session: Session, office: HealthOffice) -> Callable[..., Tenant]:
    counter = iter(range(1, 1000))

    def make(name: str = "Café", *, staff: bool = False) -> Tenant:
        number = next(counter)
        business = factories.business(
            db_session, name=f"{name} {number}", contact_email=f"owner{number}@example.org"
        )
        owner = factories.user(
            db_session,
            role=Role.BUSINESS_STAFF if staff else Role.BUSINESS_OWNER,
            business=business,
            email=f"{'staff' if staff else 'owner'}{number}-{name.lower()}@example.org",
            now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        location = factories.location(
            db_session,
            business,
            office=office,
            areas=["Tisch 1"],
            name=f"{name} am Markt",
            street="Markt",
            zip_code=OFFICE_ZIP,
            capacity=40,
        )
        db_session.commit()
        return Tenant(business, owner, location, location.areas[0])

    return make


@pytest.fixture
def make_trace_request(
    db_session: Session, clock: FrozenClock, office: HealthOffice
) -> Callable[[Location], TraceRequest]:
    def make(location: Location) -> TraceRequest:
        trace_request = factories.trace_request(db_session, office, location, now=clock.now())
        db_session.commit()
        return trace_request

    return make


@pytest.fixture
def owner_client(app: Flask, make_tenant: Callable[..., Tenant]) -> tuple[FlaskClient, Tenant]:
    tenant = make_tenant("Alpha")
    client = app.test_client()
    log_in(client, tenant.owner.email)
    return client, tenant
