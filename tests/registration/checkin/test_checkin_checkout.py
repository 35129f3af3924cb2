"""Check-out tokens, check-out, closing time and who is present."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.orm import Session

from registration.checkin import checkout, occupancy
from registration.checkin.errors import (
    CheckInNotFoundError,
)
from registration.clock import FrozenClock
from registration.config import Settings
from tests.factories import Venue
from tests.registration.checkin.checkin_support import store_staff_entry


def test_the_token_is_derived_not_stored(settings: Settings) -> None:
    token = checkout.checkout_token(settings, "a" * 20)
    assert token == checkout.checkout_token(settings, "a" * 20)
    assert token != checkout.checkout_token(settings, "b" * 20)
    other = Settings.from_mapping({"secret_key": "another-secret-" + "x" * 30}, base=settings)
    assert token != checkout.checkout_token(other, "a" * 20)


def test_occupancy_counts_persons_present(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    store_staff_entry(db_session, clock, settings, venue, persons=3)
    gone = store_staff_entry(db_session, clock, settings, venue, persons=2)
    checkout.check_out(db_session, clock, gone.id, gone.token)
    store_staff_entry(
        db_session, clock, settings, venue, persons=4, arrival=clock.now() - dt.timedelta(hours=3)
    )  # past auto
    venue.location.capacity = 4
    present = occupancy.occupancy(db_session, clock, venue.location)
    assert present.by_area == {venue.area.id: 3}
    assert present.total == 3 and not present.is_full
    store_staff_entry(db_session, clock, settings, venue, persons=1)
    assert occupancy.occupancy(db_session, clock, venue.location).is_full


def test_checkout_all(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    store_staff_entry(db_session, clock, settings, venue, persons=2)
    store_staff_entry(db_session, clock, settings, venue, persons=1)
    clock.advance(dt.timedelta(minutes=10))
    assert checkout.check_out_all(db_session, clock, venue.location) == 2
    assert occupancy.occupancy(db_session, clock, venue.location).total == 0
    assert checkout.check_out_all(db_session, clock, venue.location) == 0


def test_verified_checkin_refuses_wrong_tokens(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    result = store_staff_entry(db_session, clock, settings, venue)
    assert checkout.verified_checkin(db_session, result.id, result.token).id == result.id
    with pytest.raises(CheckInNotFoundError):
        checkout.verified_checkin(db_session, result.id, result.token[:-1])
    with pytest.raises(CheckInNotFoundError):
        checkout.verified_checkin(db_session, uuid.uuid4(), result.token)
