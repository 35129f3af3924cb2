"""What the guest page (GET /c/<code>) asks the database: one query, whatever the crowd.

A location with a capacity shows a "full" notice; its count of who is present is
summed at most once per FULL_NOTICE_STALENESS (occupancy.FullNoticeCache), so a page
costs the same with 20,000 present as with none.
"""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.checkin.lookup import GUEST_PAGE_STALENESS
from registration.checkin.occupancy import FULL_NOTICE_STALENESS, FullNoticeCache
from registration.clock import FrozenClock
from registration.database import Database
from tests import factories
from tests.factories import Venue


def present(db_session: Session, venue: Venue, clock: FrozenClock, count: int) -> None:
    for _ in range(count):
        factories.checkin(
            db_session, venue.area, venue.key, arrival=clock.now() - dt.timedelta(minutes=5)
        )
    db_session.commit()


def test_the_page_of_a_location_without_capacity_is_one_query(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    statements: list[str],
) -> None:
    """Area, location, business, office and key together; no count of who is present
    (such a location is never full), no lazy load of the office for the privacy facts."""
    present(db_session, venue, clock, 3)
    statements.clear()
    response = client.get(f"/c/{venue.area.code}")
    assert response.status_code == 200
    assert len(statements) == 1, statements
    page = response.get_data(as_text=True)
    assert venue.office.name in page


def test_a_page_shown_again_within_the_staleness_asks_the_database_nothing(
    client: FlaskClient, venue: Venue, clock: FrozenClock, statements: list[str]
) -> None:
    assert client.get(f"/c/{venue.area.code}").status_code == 200
    assert len(statements) == 1, statements
    assert client.get(f"/c/{venue.area.code}").status_code == 200
    assert len(statements) == 1, statements
    clock.advance(GUEST_PAGE_STALENESS)
    assert client.get(f"/c/{venue.area.code}").status_code == 200
    assert len(statements) == 2, statements


def test_a_location_with_capacity_still_says_when_it_is_full(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    venue.location.capacity = 2
    db_session.commit()
    assert "notice-full" not in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    present(db_session, venue, clock, 2)
    clock.advance(FULL_NOTICE_STALENESS)
    assert "notice-full" in client.get(f"/c/{venue.area.code}").get_data(as_text=True)


def test_a_location_with_capacity_sums_who_is_present_once_per_staleness(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    statements: list[str],
) -> None:
    """The page of a busy location with a capacity: its area read once in
    GUEST_PAGE_STALENESS, the sum over everyone present once in FULL_NOTICE_STALENESS."""
    venue.location.capacity = 50
    db_session.commit()
    present(db_session, venue, clock, 3)
    statements.clear()
    for _ in range(3):
        assert client.get(f"/c/{venue.area.code}").status_code == 200
    sums = [statement for statement in statements if "sum(" in statement.lower()]
    assert len(sums) == 1, statements
    assert len(statements) == 1 + 1, statements  # the area and the sum, once each
    clock.advance(FULL_NOTICE_STALENESS)
    client.get(f"/c/{venue.area.code}")
    assert len([statement for statement in statements if "sum(" in statement.lower()]) == 2


def test_the_full_notice_follows_check_outs_and_departures_within_the_staleness(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    """Checked out or departed automatically: the notice follows once its count is
    FULL_NOTICE_STALENESS old; a new capacity once the area is GUEST_PAGE_STALENESS old."""
    venue.location.capacity = 2
    db_session.commit()
    guests = [
        factories.checkin(
            db_session,
            venue.area,
            venue.key,
            arrival=clock.now() - dt.timedelta(minutes=5),
            auto_departure=clock.now() + dt.timedelta(minutes=10),
        )
        for _ in range(2)
    ]
    db_session.commit()
    assert "notice-full" in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    guests[0].departure = clock.now()
    db_session.commit()
    clock.advance(FULL_NOTICE_STALENESS)
    assert "notice-full" not in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    venue.location.capacity = 1  # the area's values (its capacity) are kept less long
    db_session.commit()
    clock.advance(GUEST_PAGE_STALENESS)
    assert "notice-full" in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    clock.advance(dt.timedelta(minutes=10))  # the other guest's automatic departure
    assert "notice-full" not in client.get(f"/c/{venue.area.code}").get_data(as_text=True)


def test_a_full_notice_count_is_fresh_only_while_both_clocks_say_so(
    bound_database: Database, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    """The monotonic clock ends a count's life even if the wall clock stands still, and
    a step of the wall clock (back or forward) ends it even if little time passed."""
    ticks = [100.0]
    cache = FullNoticeCache(monotonic=lambda: ticks[0])
    location_id = venue.location.id

    def counted() -> int:
        return sum(cache.by_area(lambda: db_session, clock, location_id).values())

    assert counted() == 0
    present(db_session, venue, clock, 1)
    assert counted() == 0  # kept
    ticks[0] += FULL_NOTICE_STALENESS.total_seconds()
    assert counted() == 1  # the monotonic clock moved on
    present(db_session, venue, clock, 1)
    clock.advance(-dt.timedelta(hours=1))  # the wall clock stepped back
    assert counted() == 0  # counted afresh: at that time nobody had arrived yet
    clock.advance(dt.timedelta(hours=1))
    assert counted() == 2  # and forward again: counted afresh


def test_the_page_script_texts_follow_the_language(client: FlaskClient, venue: Venue) -> None:
    """Translated once per language and process, and each language keeps its own."""
    german = client.get(f"/c/{venue.area.code}", headers={"Accept-Language": "de"})
    english = client.get(f"/c/{venue.area.code}?lang=en")
    german_again = client.get(f"/c/{venue.area.code}", headers={"Accept-Language": "de"})
    assert "Auschecken" in german.get_data(as_text=True)
    assert "Auschecken" not in english.get_data(as_text=True)
    assert "Auschecken" in german_again.get_data(as_text=True)
