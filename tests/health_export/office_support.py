"""What the health-office tests work with: an office ready to ask for data (its key
pair, an admin and a staff member with two factors) and a business's location; and
a signed-in session without going through password and TOTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from flask_login.utils import _create_identifier
from sqlalchemy.orm import Session, object_session

from registration.accounts import sessions as login_sessions
from registration.clock import Clock
from registration.config import Settings
from registration.models import (
    Area,
    Business,
    HealthOffice,
    HealthOfficeKey,
    Location,
    TraceRequest,
    User,
)
from registration.tracing.release import release_trace_request
from registration.tracing.requests import create_trace_request


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
        return self.key.key_id


@dataclass
class LocationBundle:
    business: Business
    owner: User
    location: Location
    areas: list[Area] = field(default_factory=list)


def released_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    office: OfficeBundle,
    place: LocationBundle,
    *,
    window: tuple[dt.datetime, dt.datetime],
    case_reference: str,
    reason: str,
) -> TraceRequest:
    """A request of the office's staff for `window` at `place`, released by its owner:
    through the services, audited as in production (call it inside a request context)."""
    trace_request = create_trace_request(
        session,
        clock,
        settings,
        office_id=office.office.id,
        requested_by=office.staff,
        location_id=place.location.id,
        window_start=window[0],
        window_end=window[1],
        case_reference=case_reference,
        reason=reason,
    )
    release_trace_request(session, clock, settings, trace_request, released_by=place.owner)
    return trace_request


def sign_in(client: FlaskClient, user: User, clock: Any) -> None:
    """A session as the accounts log-in leaves it after password and TOTP."""
    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    database = object_session(user)
    assert database is not None
    token = login_sessions.open_login_session(database, clock, user, dt.timedelta(hours=8))
    database.commit()
    with client.session_transaction() as session:
        session.clear()
        session["_user_id"] = user.get_id()
        session[login_sessions.COOKIE_KEY] = token
        session["_fresh"] = True
        session["_id"] = identifier
        session["auth_at"] = int(clock.now().timestamp())
        session.permanent = True
