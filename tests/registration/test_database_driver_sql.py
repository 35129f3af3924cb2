"""A hot statement run as its driver's SQL (database.DriverStatement) sends exactly what
`Connection.execute` sends, compiled once per day window, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, bindparam, event, insert, select
from sqlalchemy.sql import ClauseElement

from registration.checkin import hot_path, storage
from registration.checkin.arrival_days import arrival_within, window_parameters
from registration.database import Database, DriverStatement
from registration.models import CheckIn, CheckInSource

NOW = dt.datetime(2026, 11, 27, 23, 59, 30, tzinfo=dt.UTC)


@pytest.fixture
def connection(bound_database: Database) -> Iterator[Connection]:
    """The test's connection, in a savepoint rolled back afterwards."""
    bound: Connection = bound_database.sessionmaker.kw["bind"]
    savepoint = bound.begin_nested()
    try:
        yield bound
    finally:
        savepoint.rollback()


def sent(connection: Connection, run: Any) -> list[tuple[str, Any]]:
    """What `run` sends through the driver: each statement with its parameters."""
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, comparable(parameters)))

    event.listen(connection, "before_cursor_execute", before)
    try:
        run()
    finally:
        event.remove(connection, "before_cursor_execute", before)
    return seen


def comparable(parameters: Any) -> Any:
    """`parameters` with psycopg's Binary wrappers (equal only to themselves) unwrapped."""

    def value(bound: Any) -> Any:
        return bound.obj if isinstance(bound, psycopg.Binary) else bound

    if isinstance(parameters, dict):
        return {name: value(bound) for name, bound in parameters.items()}
    return tuple(value(bound) for bound in parameters)


# A lookup with every kind of value the hot path binds: a UUID, an enum as a statement
# constant, bytes, a time, the days written into the statement, a LIMIT.
_LOOKUP = (
    select(CheckIn.id, CheckIn.arrival)
    .where(
        CheckIn.id == bindparam("checkin_id"),
        CheckIn.source == CheckInSource.GUEST_PAGE,
        CheckIn.envelope != bindparam("envelope"),
        arrival_within(CheckIn.arrival),
    )
    .limit(1)
)


def lookup_values(earliest: dt.datetime, latest: dt.datetime) -> dict[str, Any]:
    return {
        "checkin_id": uuid.uuid4(),
        "envelope": b"\x00\x01sealed",
        **window_parameters(earliest, latest),
    }


def hot_path_values() -> dict[str, Any]:
    """Parameters of the hot path's INSERT (no area has these ids: nothing is inserted)."""
    earliest, latest = NOW - dt.timedelta(days=1), NOW + dt.timedelta(minutes=5)
    forms = storage.idempotency_key_hashes("ab" * 32, earliest, latest)
    return {
        "id": uuid.uuid4(),
        "arrival": NOW,
        "departure": None,
        "auto_departure": NOW + dt.timedelta(hours=2),
        "persons": 2,
        "source": CheckInSource.GUEST_PAGE,
        "key_id": "cd" * 32,
        "envelope": b"sealed",
        "checkout_token_hash": b"\x01" * 32,
        "idempotency_key_hash": "ef" * 32,
        "submission_digest": None,
        "received_at": NOW,
        "known_area_id": -1,
        "known_area_code": "AREA-CODE",
        "known_area_name": "Terrasse",
        "known_location_id": -1,
        "known_location_code": "LOCATION",
        "known_location_name": "Café am Dom",
        "known_stay_minutes": 120,
        "known_office_id": -1,
        "known_key_id": "cd" * 32,
        **storage.key_form_parameters(forms, storage.key_slots(len(forms))),
        **window_parameters(earliest, latest),
    }


@pytest.mark.parametrize(
    ("statement", "values"),
    [
        (_LOOKUP, lookup_values(NOW - dt.timedelta(days=1), NOW)),
        (hot_path._insert_at_known_area(4).statement, hot_path_values()),
    ],
    ids=["lookup", "hot-path-insert"],
)
def test_it_sends_what_execute_sends(
    connection: Connection, statement: ClauseElement, values: dict[str, Any]
) -> None:
    driver = DriverStatement(statement)
    by_execute = sent(connection, lambda: connection.execute(statement, values).first())
    by_driver = sent(connection, lambda: driver.returned_row(connection, values))
    assert by_driver == by_execute
    assert len(by_driver) == 1


def test_it_tells_whether_the_statement_returned_a_row(connection: Connection) -> None:
    returning = DriverStatement(select(bindparam("n")).where(bindparam("n") > 0))
    assert returning.returned_row(connection, {"n": 7})
    assert not returning.returned_row(connection, {"n": -7})


def test_each_day_window_is_compiled_once(connection: Connection) -> None:
    driver = DriverStatement(_LOOKUP)
    today = driver.form(connection.dialect, lookup_values(NOW - dt.timedelta(hours=1), NOW))
    again = driver.form(connection.dialect, lookup_values(NOW - dt.timedelta(hours=2), NOW))
    assert again is today
    # Past midnight: the next day's statement, its days written into it.
    later = NOW + dt.timedelta(minutes=1)
    tomorrow = driver.form(connection.dialect, lookup_values(later - dt.timedelta(days=1), later))
    assert tomorrow is not today
    assert "2026-11-28" in tomorrow.sql and "2026-11-28" not in today.sql
    assert "2026-11-27" in today.sql


def test_python_side_column_defaults_are_refused(connection: Connection) -> None:
    # checkins.delivered_late has a Python-side default (False), which only
    # SQLAlchemy's own execution fills in.
    table = CheckIn.__table__
    with_defaults = insert(table).from_select(
        ["id"], select(bindparam("id", type_=table.c.id.type))
    )
    with pytest.raises(ValueError, match="Python-side column defaults"):
        DriverStatement(with_defaults).returned_row(connection, {"id": uuid.uuid4()})
