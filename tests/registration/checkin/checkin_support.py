"""The check-in tests' place, built by tests/factories.py: Café am Dom in Köln, whose
name and address the guest page must show."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

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


def create_venue(session: Session, now: dt.datetime, **overrides: Any) -> Venue:
    """Café am Dom with its terrace, committed; `overrides` as for factories.venue."""
    venue = factories.venue(session, now=now, **{**CAFE_AM_DOM, **overrides})
    session.commit()
    return venue
