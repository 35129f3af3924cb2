"""The one storage path: staff entries' times, late arrivals, exactly once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.checkin import lookup, storage
from registration.checkin.errors import (
    ArrivalOutOfRangeError,
    InvalidRequestError,
)
from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import CheckIn, CheckInSource
from tests.factories import Venue
from tests.registration.checkin.checkin_support import store_staff_entry


def test_staff_entry_with_a_departure(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    arrival = clock.now() - dt.timedelta(hours=3)
    result = store_staff_entry(
        db_session,
        clock,
        settings,
        venue,
        arrival=arrival,
        departure=arrival + dt.timedelta(hours=1),
    )
    assert result.created
    assert result.departure == arrival + dt.timedelta(hours=1)
    stored = db_session.scalars(select(CheckIn).where(CheckIn.id == result.id)).one()
    assert stored.source == CheckInSource.STAFF_ENTRY
    assert stored.departure == arrival + dt.timedelta(hours=1)
    with pytest.raises(InvalidRequestError):
        store_staff_entry(
            db_session,
            clock,
            settings,
            venue,
            arrival=arrival,
            departure=arrival - dt.timedelta(minutes=1),
        )


@pytest.mark.parametrize(
    ("stay", "accepted"),
    [
        (dt.timedelta(minutes=-1), False),
        (dt.timedelta(0), False),  # a visit has a positive length, as the portal says
        (dt.timedelta(minutes=1), True),
        (dt.timedelta(hours=24), True),
        (dt.timedelta(hours=24, minutes=1), False),
    ],
)
def test_a_staff_entrys_departure_comes_after_its_arrival_within_a_day(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    venue: Venue,
    stay: dt.timedelta,
    accepted: bool,
) -> None:
    arrival = clock.now() - dt.timedelta(days=2)

    def store() -> storage.CheckInReceipt:
        return store_staff_entry(
            db_session, clock, settings, venue, arrival=arrival, departure=arrival + stay
        )

    if accepted:
        assert store().departure == arrival + stay
    else:
        with pytest.raises(InvalidRequestError):
            store()


@pytest.mark.parametrize(
    ("source", "days_ago", "accepted"),
    [
        (CheckInSource.STAFF_ENTRY, 3, True),  # a paper list typed in days later
        (CheckInSource.STAFF_ENTRY, 29, False),  # beyond the retention period
        (CheckInSource.GUEST_PAGE, 3, False),  # a phone's outbox is bounded much tighter
    ],
)
def test_late_arrivals_staff_entries_reach_back_over_the_retention_period(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    venue: Venue,
    source: CheckInSource,
    days_ago: int,
    accepted: bool,
) -> None:
    arrival = clock.now() - dt.timedelta(days=days_ago)

    def store() -> storage.CheckInReceipt:
        return storage.store_checkin(
            db_session,
            clock,
            settings,
            target=lookup.AreaTarget.of(venue.area),
            envelope=venue.seal(),
            persons=1,
            source=source,
            arrival=arrival,
            departure=arrival + dt.timedelta(hours=1),
            idempotency_key=str(uuid.uuid4()),
        )

    if accepted:
        assert store().arrival == arrival
    else:
        with pytest.raises(ArrivalOutOfRangeError):
            store()
