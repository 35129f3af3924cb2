"""Fixtures of the check-in tests."""

from __future__ import annotations

import pytest
from checkin_support import Venue, create_venue
from sqlalchemy.orm import Session

from registration.clock import FrozenClock


@pytest.fixture
def venue(db_session: Session, clock: FrozenClock) -> Venue:
    return create_venue(db_session, clock.now())
