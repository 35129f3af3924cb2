"""The check-in tests' place, built by tests/factories.py: Café am Dom in Köln, whose
name and address the guest page must show; what a guest types into the page
without JavaScript; and a staff entry stored there."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.checkin.lookup import AreaTarget
from registration.checkin.storage import CheckInReceipt, store_checkin
from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import CheckInSource
from tests import factories
from tests.factories import Venue

CAFE_AM_DOM: dict[str, Any] = {
    "business_name": "Café Testfall",
    "name": "Café am Dom",
    "street": "Domkloster",
    "house_number": "4",
    "zip_code": "50667",
    "city": "Köln",
    "default_stay_minutes": 120,
}


def store_staff_entry(
    session: Session,
    clock: FrozenClock,
    settings: Settings,
    venue: Venue,
    *,
    persons: int = 1,
    arrival: dt.datetime | None = None,
    departure: dt.datetime | None = None,
) -> CheckInReceipt:
    """A staff entry at the venue's first area through the one storage path."""
    return store_checkin(
        session,
        clock,
        settings,
        target=AreaTarget.of(venue.area),
        envelope=venue.seal(),
        persons=persons,
        source=CheckInSource.STAFF_ENTRY,
        arrival=arrival or clock.now(),
        departure=departure,
        idempotency_key=str(uuid.uuid4()),
    )


def create_venue(session: Session, now: dt.datetime, **overrides: Any) -> Venue:
    """Café am Dom with its terrace, committed; `overrides` as for factories.venue."""
    venue = factories.venue(session, now=now, **{**CAFE_AM_DOM, **overrides})
    session.commit()
    return venue


# The guest form's fields as a guest without JavaScript fills them in.
TYPED = {
    "firstName": "Jörg",
    "lastName": "Überländer",
    "streetAddress": "Lindenallee 12a",
    "zipCode": "50968",
    "city": "Köln",
    "phone": "+49 221 987654",
    "email": "",
}


def hidden_fields(client: FlaskClient, venue: Venue) -> dict[str, str]:
    """The hidden fields the guest page rendered (CSRF token, idempotency key)."""
    html = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def count_limiter_hits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The limiter storage's counters each request increments from now on, in order.

    Flask-Limiter is one object per process and the app created last sets its storage,
    so call this after creating the apps under test.
    """
    from registration.extensions import limiter

    storage = limiter.limiter.storage
    calls: list[str] = []
    original = storage.incr

    def counted_incr(key: str, *args: Any, **kwargs: Any) -> int:
        calls.append(key)
        return original(key, *args, **kwargs)

    monkeypatch.setattr(storage, "incr", counted_incr)
    return calls
