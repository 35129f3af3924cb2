"""What the guest page (GET /c/<code>) asks the database: one query, whatever the crowd."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
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


def test_a_location_with_capacity_still_says_when_it_is_full(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    venue.location.capacity = 2
    db_session.commit()
    assert "notice-full" not in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    present(db_session, venue, clock, 2)
    assert "notice-full" in client.get(f"/c/{venue.area.code}").get_data(as_text=True)


def test_the_page_script_texts_follow_the_language(client: FlaskClient, venue: Venue) -> None:
    """Translated once per language and process, and each language keeps its own."""
    german = client.get(f"/c/{venue.area.code}", headers={"Accept-Language": "de"})
    english = client.get(f"/c/{venue.area.code}?lang=en")
    german_again = client.get(f"/c/{venue.area.code}", headers={"Accept-Language": "de"})
    assert "Auschecken" in german.get_data(as_text=True)
    assert "Auschecken" not in english.get_data(as_text=True)
    assert "Auschecken" in german_again.get_data(as_text=True)
