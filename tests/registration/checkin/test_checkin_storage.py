"""The one storage path: staff entries' times, late arrivals, exactly once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.checkin import arrival_days, lookup, storage
from registration.checkin.errors import (
    ArrivalExpiredError,
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


@pytest.mark.parametrize("source", [CheckInSource.STAFF_ENTRY, CheckInSource.GUEST_PAGE])
@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (dt.timedelta(days=3), True),  # a paper list typed in, a phone's outbox, days later
        (dt.timedelta(days=28), True),  # the last moment within the retention period
        (dt.timedelta(days=28, seconds=1), False),  # would be deleted at once
        (dt.timedelta(days=29), False),
    ],
)
def test_late_arrivals_reach_back_over_the_retention_period(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    venue: Venue,
    source: CheckInSource,
    age: dt.timedelta,
    accepted: bool,
) -> None:
    arrival = clock.now() - age

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
        with pytest.raises(ArrivalExpiredError) as refused:
            store()
        assert refused.value.code == "arrival_expired"
        assert db_session.scalars(select(CheckIn)).all() == []


@pytest.mark.parametrize(
    ("source", "age", "late"),
    [
        (CheckInSource.GUEST_PAGE, dt.timedelta(days=3), True),
        (CheckInSource.GUEST_PAGE, dt.timedelta(hours=24, seconds=1), True),
        (CheckInSource.GUEST_PAGE, dt.timedelta(hours=24), False),  # max_late_arrival_minutes
        (CheckInSource.GUEST_PAGE, dt.timedelta(0), False),
        (CheckInSource.STAFF_ENTRY, dt.timedelta(days=3), False),  # paper lists come late
    ],
)
def test_a_guest_check_in_delivered_after_the_late_window_is_stored_and_marked(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    venue: Venue,
    source: CheckInSource,
    age: dt.timedelta,
    late: bool,
) -> None:
    """A phone's outbox delivers days later: the visit is kept, marked for the office."""
    arrival = clock.now() - age
    key = str(uuid.uuid4())

    def store() -> storage.CheckInReceipt:
        return storage.store_checkin(
            db_session,
            clock,
            settings,
            target=lookup.AreaTarget.of(venue.area),
            envelope=envelope,
            persons=1,
            source=source,
            arrival=arrival,
            idempotency_key=key,
        )

    envelope = venue.seal()
    first = store()
    stored = db_session.scalars(select(CheckIn)).one()
    assert stored.delivered_late is late
    assert stored.received_at == clock.now()
    # The outbox did not hear the answer and sends again, later still: the same check-in.
    clock.advance(dt.timedelta(hours=5))
    again = store()
    assert (again.created, again.id, again.token) == (False, first.id, first.token)
    assert len(db_session.scalars(select(CheckIn)).all()) == 1


def test_a_check_in_from_the_future_is_still_refused(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    with pytest.raises(ArrivalOutOfRangeError) as refused:
        storage.store_checkin(
            db_session,
            clock,
            settings,
            target=lookup.AreaTarget.of(venue.area),
            envelope=venue.seal(),
            persons=1,
            source=CheckInSource.GUEST_PAGE,
            arrival=clock.now() + dt.timedelta(minutes=2, seconds=1),
            idempotency_key=str(uuid.uuid4()),
        )
    assert refused.value.code == "arrival_out_of_range"


def test_ids_grow_with_the_arrival_so_expiring_visits_sit_together(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    """The purge deletes the oldest visits: with ids in arrival order their index
    entries sit side by side (random ids put one on nearly every index page)."""
    arrivals = [clock.now() - dt.timedelta(hours=hours) for hours in (1, 5, 3, 4, 2)]
    receipts = [store_staff_entry(db_session, clock, settings, venue, arrival=a) for a in arrivals]
    by_id = sorted(receipts, key=lambda receipt: receipt.id)
    assert [receipt.arrival for receipt in by_id] == sorted(arrivals)
    for receipt in receipts:
        assert receipt.id.version == 7 and receipt.id.variant == uuid.RFC_4122
        assert receipt.id.int >> 80 == int(receipt.arrival.timestamp() * 1000)
    assert len({receipt.id for receipt in receipts}) == len(receipts)


def test_ids_in_the_same_millisecond_differ_and_stay_unguessable() -> None:
    moment = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    ids = {arrival_days.checkin_id(moment) for _ in range(1000)}
    assert len(ids) == 1000
    assert {checkin.int >> 80 for checkin in ids} == {int(moment.timestamp() * 1000)}
    # 74 random bits each: no two share their random part's first 32 bits by chance.
    assert len({(checkin.int >> 32) & 0xFFFFFFFF for checkin in ids}) > 990


@pytest.mark.parametrize(
    ("arrival", "day"),
    [
        (dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3))), "20261128"),
        (dt.datetime(999, 1, 2, 3, 4, tzinfo=dt.UTC), "09990102"),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), "00010101"),
        (dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC), "99991231"),
    ],
)
def test_a_stored_key_is_led_by_the_eight_digits_of_its_utc_day(
    arrival: dt.datetime, day: str
) -> None:
    """YYYYMMDD, then the digest's first digits: the form the unique index orders by,
    the same length for every arrival the calendar holds."""
    digest = "ab" * 32
    stored = storage.idempotency_key_hash(digest, arrival)
    assert stored == day + digest[: storage.KEY_BODY_DIGITS]
    assert len(stored) == 8 + storage.KEY_BODY_DIGITS
    forms = storage.idempotency_key_hashes(digest, arrival, arrival)
    assert forms == [digest, stored]
