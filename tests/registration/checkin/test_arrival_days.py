"""Statements a guest's request runs over check-ins name the days they can touch
(checkin.arrival_days): a cached plan then holds only those days' partitions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from registration.checkin import arrival_days, checkout, occupancy
from registration.checkin.errors import CheckInNotFoundError
from registration.clock import FrozenClock
from registration.database import Database
from registration.portal.live_counts import live_counts
from tests import factories
from tests.factories import Venue

API = "/api/v1/checkins"

# The partitions of checkins (one a day, retention.partitions) this transaction has locked.
_LOCKED_PARTITIONS = """
SELECT count(DISTINCT locks.relation)
FROM pg_locks AS locks
JOIN pg_inherits AS child ON child.inhrelid = locks.relation
JOIN pg_class AS parent ON parent.oid = child.inhparent
WHERE locks.pid = pg_backend_pid() AND parent.relname = 'checkins'
"""
_PARTITIONS = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'checkins'::regclass"


@pytest.fixture
def generic_plans(bound_database: Database) -> Iterator[Connection]:
    """The test's connection as a busy worker's is: every statement prepared, and
    PostgreSQL running the generic plan (psycopg prepares a statement from its sixth
    execution on; PostgreSQL may then stop planning it with the parameters)."""
    connection: Connection = bound_database.sessionmaker.kw["bind"]
    driver = connection.connection.driver_connection
    threshold = driver.prepare_threshold  # type: ignore[union-attr]
    driver.prepare_threshold = 0  # type: ignore[union-attr]
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    try:
        yield connection
    finally:
        driver.prepare_threshold = threshold  # type: ignore[union-attr]


def assert_only_the_days_partitions_locked(connection: Connection) -> None:
    locked = connection.exec_driver_sql(_LOCKED_PARTITIONS).scalar_one()
    partitions = connection.exec_driver_sql(_PARTITIONS).scalar_one()
    assert partitions > 10  # a month of days, and the default partition
    # The window's two days (a timely arrival: up to a day late), or the default
    # partition for days without one of their own.
    assert locked <= 3, f"{locked} of {partitions} partitions locked"


@pytest.mark.postgres  # SQLite has no partitions
def test_a_checkins_cached_plans_lock_only_the_partitions_of_its_days(
    client: FlaskClient, venue: Venue, clock: FrozenClock, generic_plans: Connection
) -> None:
    """A generic plan, made without the parameters, cannot leave out partitions when it
    is planned: it locked every partition (a month of days) and its indexes each time it
    ran, beyond a backend's 16 own lock slots, and under load the check-ins of several
    workers queued for the shared lock table (issue 15). Both paths: the first check-in
    at an area takes the full path (look-up, insert unless the key is known), the next
    the hot path's one statement."""
    for _ in range(2):
        response = client.post(API, json=venue.checkin_body(clock.now()))
        assert response.status_code == 201
    assert_only_the_days_partitions_locked(generic_plans)


@pytest.mark.postgres
def test_a_checkouts_cached_plan_locks_only_the_partitions_of_its_day(
    client: FlaskClient, venue: Venue, clock: FrozenClock, generic_plans: Connection
) -> None:
    """A check-out brings only the id, which names the arrival (a UUIDv7)."""
    checkin = client.post(API, json=venue.checkin_body(clock.now())).get_json()
    response = client.post(
        f"{API}/{checkin['id']}/checkout", json={"checkoutToken": checkin["checkoutToken"]}
    )
    assert response.status_code == 200
    assert_only_the_days_partitions_locked(generic_plans)


@pytest.mark.postgres
def test_counting_and_closing_time_lock_only_the_partitions_of_the_last_day(
    db_session: Session, clock: FrozenClock, venue: Venue, generic_plans: Connection
) -> None:
    """Who is present (the guest page's "full" notice, the portal) and closing time look
    back one day (the longest stay)."""
    factories.checkin(db_session, venue.area, venue.key, arrival=clock.now())
    assert occupancy.occupancy(db_session, clock, venue.location).total == 1
    assert checkout.check_out_all(db_session, clock, venue.location) == 1
    assert_only_the_days_partitions_locked(generic_plans)


@pytest.mark.postgres
def test_the_live_view_locks_only_the_partitions_of_today(
    db_session: Session, clock: FrozenClock, venue: Venue, generic_plans: Connection
) -> None:
    """The portal's live view, which staff leave open and which polls every few seconds,
    counts who is present and today's check-ins since local midnight: on a pooled
    connection both statements are soon prepared, and a generic plan without the days
    written in locked every day's partition on each poll."""
    factories.checkin(db_session, venue.area, venue.key, arrival=clock.now())
    for _ in range(7):  # beyond psycopg's prepare threshold (a busy worker's connection)
        counts = live_counts(db_session, clock, venue.location)
    assert (counts.present, counts.today_checkins) == (1, 1)
    assert_only_the_days_partitions_locked(generic_plans)


def test_an_id_names_the_window_of_its_arrival() -> None:
    arrival = dt.datetime(2026, 11, 27, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    window = arrival_days.id_window(arrival_days.checkin_id(arrival))
    assert window is not None
    assert window["earliest"] <= arrival <= window["latest"]
    # A second past midnight: the next day is among its days.
    assert window["first_day"] == dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    assert window["last_day"] == dt.datetime(2026, 11, 28, 23, 59, 59, 999_999, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "any_id",
    [
        uuid.uuid4(),  # check-ins stored before ids carried their arrival
        uuid.UUID(int=(0x7 << 76) | (0x2 << 62)),  # 1970-01-01, checkin_id's lower clamp
        uuid.UUID(int=((2**48 - 1) << 80) | (0x7 << 76) | (0x2 << 62)),  # its upper clamp
        # The year 10889: beyond what a datetime holds.
        uuid.UUID(int=((2**48 - 2) << 80) | (0x7 << 76) | (0x2 << 62)),
        # The last millisecond a datetime holds: its window would end after it.
        uuid.UUID(
            int=(
                int(dt.datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=dt.UTC).timestamp())
                * 1000
                + 999
            )
            << 80
            | (0x7 << 76)
            | (0x2 << 62)
        ),
    ],
)
def test_an_id_that_names_no_arrival_is_looked_for_on_every_day(any_id: uuid.UUID) -> None:
    assert arrival_days.id_window(any_id) is None


def test_a_checkin_with_a_random_id_is_still_found_and_checked_out(
    db_session: Session, clock: FrozenClock, venue: Venue
) -> None:
    """Check-ins stored before ids carried their arrival (UUIDv4) stay within reach."""
    token = "t" * 43
    stored = factories.checkin(
        db_session,
        venue.area,
        venue.key,
        arrival=clock.now(),
        checkout_token_hash=checkout.token_hash(token),
    )
    assert stored.id.version == 4
    checked_out, _ = checkout.check_out(db_session, clock, stored.id, token)
    assert checked_out.id == stored.id and checked_out.departure == clock.now()


@pytest.mark.parametrize("millis", [1, 2**48 - 2, 253_402_300_799_999])
def test_a_checkout_id_at_the_ends_of_the_calendar_is_not_found(
    client: FlaskClient, millis: int
) -> None:
    """Never a 500: an id whose time no datetime holds, or whose window would end after
    the last one, is an unknown id like any other."""
    crafted = uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0x2 << 62) | 12345)
    response = client.post(f"{API}/{crafted}/checkout", json={"checkoutToken": "t" * 43})
    assert response.status_code == 404


def test_an_unknown_id_of_today_is_not_found(
    db_session: Session, clock: FrozenClock, venue: Venue
) -> None:
    with pytest.raises(CheckInNotFoundError):
        checkout.verified_checkin(db_session, arrival_days.checkin_id(clock.now()), "t" * 43)
