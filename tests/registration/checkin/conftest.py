"""Fixtures of the check-in tests."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
from tests.factories import Venue
from tests.registration.checkin.checkin_support import create_venue


@pytest.fixture
def venue(db_session: Session, clock: FrozenClock) -> Venue:
    return create_venue(db_session, clock.now())
