"""The API's common check-in in one statement (checkin.hot_path): the remembered area is
only a hint, so every change since reaches the guest exactly as on the full path."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

import crypto
from gastregister import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import CheckIn, CheckInMode, KeyState
from tests import factories
from tests.factories import Venue
from tests.forms import log_in
from tests.registration.checkin.checkin_support import create_venue

API = "/api/v1/checkins"


def stored(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(CheckIn)) or 0)


def warmed(client: FlaskClient, venue: Venue, clock: FrozenClock) -> None:
    """One check-in on the full path, which remembers the area."""
    assert client.post(API, json=venue.checkin_body(clock.now())).status_code == 201


def test_the_next_checkin_at_a_known_area_is_one_statement(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    statements: list[str],
) -> None:
    warmed(client, venue, clock)
    statements.clear()
    body = venue.checkin_body(clock.now(), persons=2)
    response = client.post(API, json=body)
    assert response.status_code == 201
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("INSERT")
    answer = response.get_json()
    assert answer["area"] == {"code": venue.area.code, "name": "Terrasse"}
    assert answer["location"] == {"code": venue.location.code, "name": "Café am Dom"}
    row = db_session.scalar(select(CheckIn).where(CheckIn.id == uuid.UUID(answer["id"])))
    assert row is not None
    assert (row.area_id, row.location_id, row.persons) == (venue.area.id, venue.location.id, 2)
    assert row.auto_departure == clock.now() + dt.timedelta(minutes=120)
    assert row.envelope == crypto.decode_envelope(body["envelope"])
    assert row.key_id == venue.key.key_id
    assert stored(db_session) == 2


def test_a_retry_of_a_hot_path_checkin_gets_the_same_id_and_token(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    warmed(client, venue, clock)
    body = venue.checkin_body(clock.now())
    first = client.post(API, json=body)
    again = client.post(API, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["checkoutToken"] == first.get_json()["checkoutToken"]
    assert again.get_json()["id"] == first.get_json()["id"]
    conflict = client.post(API, json={**body, "persons": 3})
    assert conflict.status_code == 409
    assert stored(db_session) == 2


def test_a_renamed_area_is_answered_with_its_new_name(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    warmed(client, venue, clock)
    venue.area.name = "Garten"
    venue.location.default_stay_minutes = 90
    db_session.commit()
    answer = client.post(API, json=venue.checkin_body(clock.now())).get_json()
    assert answer["area"]["name"] == "Garten"
    assert answer["autoDeparture"] == "2026-11-20T12:30:00.000Z"


def test_an_archived_area_is_404_at_once(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    warmed(client, venue, clock)
    venue.area.archived_at = clock.now()
    db_session.commit()
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 404
    assert stored(db_session) == 1


def test_a_new_key_refuses_the_old_one_at_once(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    warmed(client, venue, clock)
    new_key, _ = factories.office_key(
        db_session, venue.office, activated_at=clock.now() - dt.timedelta(minutes=1)
    )
    venue.key.state = KeyState.RETIRED
    venue.key.retired_at = clock.now() - dt.timedelta(minutes=1)
    db_session.commit()
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 409
    assert response.get_json()["error"]["currentKey"]["keyId"] == new_key.key_id
    resealed = venue.checkin_body(
        clock.now(), envelope=crypto.encode_envelope(venue.seal(key=new_key))
    )
    assert client.post(API, json=resealed).status_code == 201


def test_switching_to_rotating_mode_asks_for_an_admission_at_once(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    warmed(client, venue, clock)
    venue.location.checkin_mode = CheckInMode.ROTATING
    db_session.commit()
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 403, response.get_json()
    assert stored(db_session) == 1


def test_refusals_are_the_full_paths(
    app: Flask, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    client = app.test_client()
    warmed(client, venue, clock)
    # A delivery after the late window is the full path's: stored, and marked late.
    late = venue.checkin_body(clock.now() - dt.timedelta(days=3))
    assert client.post(API, json=late).status_code == 201
    marked = db_session.scalars(select(CheckIn).where(CheckIn.delivered_late)).all()
    assert len(marked) == 1
    expired = venue.checkin_body(clock.now() - dt.timedelta(days=29))
    assert client.post(API, json=expired).status_code == 422
    wrong_persons = venue.checkin_body(clock.now(), persons=99)
    assert client.post(API, json=wrong_persons).status_code == 422


def test_the_api_opens_no_log_in_session(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    statements: list[str],
) -> None:
    """A staff member's phone checks in like any guest: the API has no cookie authority,
    so it neither reads the log-in (user, log-in session) nor answers with a cookie."""
    owner = factories.user(db_session, business=venue.business, now=clock.now())
    db_session.commit()
    log_in(client, owner.email)
    warmed(client, venue, clock)
    statements.clear()
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 201
    assert len(statements) == 1, statements
    assert "Set-Cookie" not in response.headers
    assert client.get("/portal/").status_code == 200  # still logged in for the portal


def test_a_hot_path_checkins_id_carries_its_arrival(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    """As on the full path (storage.checkin_id): ids grow with the arrival."""
    warmed(client, venue, clock)
    answer = client.post(API, json=venue.checkin_body(clock.now())).get_json()
    checkin_id = uuid.UUID(answer["id"])
    row = db_session.scalar(select(CheckIn).where(CheckIn.id == checkin_id))
    assert row is not None
    assert checkin_id.version == 7
    assert checkin_id.int >> 80 == int(row.arrival.timestamp() * 1000)


def test_a_changed_retry_days_later_in_a_long_late_window_is_a_conflict(
    settings: Settings,
    clock: FrozenClock,
    bound_database: Database,
    venue: Venue,
    db_session: Session,
    statements: list[str],
) -> None:
    """A week-long late window: the key's stored forms (one per day) fill two groups of
    slots in the statement, and the first try's day must be among them."""
    app = create_app(
        Settings.from_mapping({"max_late_arrival_minutes": 7 * 24 * 60}, base=settings),
        clock=clock,
        database=bound_database,
    )
    client = app.test_client()
    warmed(client, venue, clock)
    body = venue.checkin_body(clock.now() - dt.timedelta(days=6))
    assert client.post(API, json=body).status_code == 201
    statements.clear()
    # Another arrival: the unique (key, arrival) constraint cannot stand in for the search.
    later = (clock.now() - dt.timedelta(days=6, minutes=-1)).isoformat()
    changed = client.post(API, json={**body, "arrival": later})
    assert changed.status_code == 409, changed.get_json()
    assert statements[0].lstrip().upper().startswith("INSERT")  # the hot path looked first
    assert stored(db_session) == 2


def test_the_insert_is_one_round_trip_on_postgresql_and_locks_first_on_sqlite(
    committed: Database, settings: Settings, clock: FrozenClock, monkeypatch: Any
) -> None:
    """On PostgreSQL the driver runs the statement in autocommit: no BEGIN and COMMIT
    round trips around it, and no SQLAlchemy Connection is made for it, only the pool's
    driver connection is borrowed (Database.single_statement_returned_row). SQLite
    keeps its transaction, whose BEGIN IMMEDIATE takes the write lock within the
    request's budget."""
    with committed.session() as session:
        venue = create_venue(session, clock.now())
    client = create_app(settings, clock=clock, database=committed).test_client()
    warmed(client, venue, clock)
    in_transaction: list[bool] = []
    connections_made: list[object] = []

    def seen(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            in_transaction.append(connection.connection.driver_connection.in_transaction)

    if committed.dialect == "postgresql":
        execute = psycopg.Cursor.execute

        def executed(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if str(query).lstrip().upper().startswith("INSERT"):
                idle = (
                    cursor.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                )
                in_transaction.append(not (cursor.connection.autocommit and idle))
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", executed)
    else:
        event.listen(committed.engine, "before_cursor_execute", seen)

    def connected(connection: object) -> None:
        connections_made.append(connection)

    event.listen(committed.engine, "engine_connect", connected)
    try:
        response = client.post(API, json=venue.checkin_body(clock.now()))
    finally:
        event.remove(committed.engine, "engine_connect", connected)
        if committed.dialect != "postgresql":
            event.remove(committed.engine, "before_cursor_execute", seen)
    assert response.status_code == 201
    assert in_transaction == [committed.dialect != "postgresql"]
    assert len(connections_made) == (0 if committed.dialect == "postgresql" else 1)
    with committed.session() as session:
        assert stored(session) == 2
    # The borrowed connection went back to the pool as it came: not in autocommit.
    with committed.engine.connect() as connection:
        driver = connection.connection.driver_connection
        if committed.dialect == "postgresql":
            assert driver.autocommit is False  # type: ignore[union-attr]
