"""Services the portal shares: staff entry, occupancy, check out everyone; rotating codes."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.checkin import checkout, lookup, occupancy, rotating, storage
from registration.checkin.errors import (
    ArrivalOutOfRangeError,
    CheckInNotFoundError,
    InvalidRequestError,
)
from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import CheckIn, CheckInMode, CheckInSource
from tests.factories import Venue


def checkin(
    session: Session,
    clock: FrozenClock,
    settings: Settings,
    venue: Venue,
    *,
    persons: int = 1,
    arrival: dt.datetime | None = None,
    departure: dt.datetime | None = None,
) -> storage.CheckInReceipt:
    return storage.store_checkin(
        session,
        clock,
        settings,
        target=lookup.AreaTarget.of(venue.area),
        envelope=venue.seal(),
        persons=persons,
        source=CheckInSource.STAFF_ENTRY,
        arrival=arrival or clock.now(),
        departure=departure,
        idempotency_key=str(uuid.uuid4()),
    )


def test_staff_entry_with_a_departure(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    arrival = clock.now() - dt.timedelta(hours=3)
    result = checkin(
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
        checkin(
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
        return checkin(
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


def test_the_token_is_derived_not_stored(settings: Settings) -> None:
    token = checkout.checkout_token(settings, "a" * 20)
    assert token == checkout.checkout_token(settings, "a" * 20)
    assert token != checkout.checkout_token(settings, "b" * 20)
    other = Settings.from_mapping({"secret_key": "another-secret-" + "x" * 30}, base=settings)
    assert token != checkout.checkout_token(other, "a" * 20)


def test_occupancy_counts_persons_present(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    checkin(db_session, clock, settings, venue, persons=3)
    gone = checkin(db_session, clock, settings, venue, persons=2)
    checkout.check_out(db_session, clock, gone.id, gone.token)
    checkin(
        db_session, clock, settings, venue, persons=4, arrival=clock.now() - dt.timedelta(hours=3)
    )  # past auto
    venue.location.capacity = 4
    present = occupancy.occupancy(db_session, clock, venue.location)
    assert present.by_area == {venue.area.id: 3}
    assert present.total == 3 and not present.is_full
    checkin(db_session, clock, settings, venue, persons=1)
    assert occupancy.occupancy(db_session, clock, venue.location).is_full


def test_checkout_all(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    checkin(db_session, clock, settings, venue, persons=2)
    checkin(db_session, clock, settings, venue, persons=1)
    clock.advance(dt.timedelta(minutes=10))
    assert checkout.check_out_all(db_session, clock, venue.location) == 2
    assert occupancy.occupancy(db_session, clock, venue.location).total == 0
    assert checkout.check_out_all(db_session, clock, venue.location) == 0


def test_verified_checkin_refuses_wrong_tokens(
    db_session: Session, clock: FrozenClock, settings: Settings, venue: Venue
) -> None:
    result = checkin(db_session, clock, settings, venue)
    assert checkout.verified_checkin(db_session, result.id, result.token).id == result.id
    with pytest.raises(CheckInNotFoundError):
        checkout.verified_checkin(db_session, result.id, result.token[:-1])
    with pytest.raises(CheckInNotFoundError):
        checkout.verified_checkin(db_session, uuid.uuid4(), result.token)


MOMENT = dt.datetime(2026, 11, 20, 11, 0, 10, tzinfo=dt.UTC)


def test_entrance_codes_live_for_one_to_two_steps() -> None:
    secret = b"s" * 32
    code = rotating.entrance_code(secret, "area", rotating.time_step(MOMENT))
    assert rotating.entrance_code_is_fresh(secret, "area", code, MOMENT)
    assert rotating.entrance_code_is_fresh(secret, "area", code, MOMENT + dt.timedelta(seconds=30))
    assert not rotating.entrance_code_is_fresh(
        secret, "area", code, MOMENT + dt.timedelta(seconds=60)
    )
    assert not rotating.entrance_code_is_fresh(secret, "other-area", code, MOMENT)
    assert not rotating.entrance_code_is_fresh(b"t" * 32, "area", code, MOMENT)


def test_entrance_codes_and_admissions_keep_their_text() -> None:
    """Pinned: codes on screens and admissions held by open pages outlive a deployment."""
    secret = b"s" * 32
    assert rotating.entrance_code(secret, "area", rotating.time_step(MOMENT)) == "Oc0RcGkPZC9-EDC_"
    assert (
        rotating.issue_admission(secret, "area", MOMENT)
        == "1795172410.YY4cwymNtcMYEbTyhXCJpG2oBkNjVA4cBB4u0lDp7ZM"
    )


def test_admission_bounds() -> None:
    secret = b"s" * 32
    admission = rotating.issue_admission(secret, "area", MOMENT)
    assert rotating.admission_is_valid(
        secret, "area", admission, MOMENT + dt.timedelta(minutes=29), MOMENT
    )
    assert not rotating.admission_is_valid(
        secret, "area", admission, MOMENT + dt.timedelta(minutes=31), MOMENT
    )
    assert not rotating.admission_is_valid(
        secret, "area", admission, MOMENT - dt.timedelta(minutes=3), MOMENT
    )
    assert not rotating.admission_is_valid(
        secret, "area", admission.replace(".", ".x"), MOMENT, MOMENT
    )
    assert not rotating.admission_is_valid(secret, "area", "abc", MOMENT, MOMENT)
    assert not rotating.admission_is_valid(secret, "area", "9" * 11 + ".x", MOMENT, MOMENT)


def _rotating_venue(db_session: Session, venue: Venue) -> Venue:
    venue.location.checkin_mode = CheckInMode.ROTATING
    db_session.commit()
    return venue


def test_rotating_page_needs_the_screens_current_code(
    client: FlaskClient, db_session: Session, clock: FrozenClock, venue: Venue
) -> None:
    _rotating_venue(db_session, venue)
    page = f"/c/{venue.area.code}"
    refused = client.get(page)
    assert refused.status_code == 403
    assert "Bildschirm am Eingang" in refused.get_data(as_text=True)
    code = rotating.entrance_code(
        venue.location.rotating_secret, venue.area.code, rotating.time_step(clock.now())
    )
    opened = client.get(f"{page}?t={code}")
    assert opened.status_code == 200
    assert 'name="admission"' in opened.get_data(as_text=True)
    clock.advance(dt.timedelta(seconds=61))
    assert client.get(f"{page}?t={code}").status_code == 403


def test_display_shows_a_qr_code_per_area_that_changes(
    client: FlaskClient, db_session: Session, clock: FrozenClock, venue: Venue, app: Flask
) -> None:
    _rotating_venue(db_session, venue)
    secret = venue.location.display_secret
    page = client.get(f"/display/{secret}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Café am Dom" in html and "Terrasse" in html and "checkin-display.js" in html
    src = re.search(r'<img class="qr" data-qr src="([^"]+)"', html)[1]
    first = client.get(src)
    assert first.status_code == 200 and first.mimetype == "image/svg+xml"
    assert first.headers["Cache-Control"] == "no-store"
    assert b"<svg" in first.data
    clock.advance(dt.timedelta(seconds=30))
    assert client.get(src).data != first.data
    with app.test_request_context():
        from registration.checkin.views import entrance_url

        url = entrance_url(venue.location, venue.area)
    code = url.split("?t=")[1]
    assert rotating.entrance_code_is_fresh(
        venue.location.rotating_secret, venue.area.code, code, clock.now()
    )
    assert client.get("/display/not-the-secret").status_code == 404
