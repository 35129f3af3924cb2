"""database.BINARY_RESULTS: a statement that asks for it gets its results in PostgreSQL's
binary format (a bytea as its bytes, not as hex digits), with the same Python values;
every other statement, on the same connection too, keeps the text format."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import Connection, LargeBinary, event, literal, select

from registration.database import BINARY_RESULTS, Database, UTCDateTime

VALUES = (
    literal(bytes(range(256)) * 4, LargeBinary),
    literal(dt.datetime(2026, 11, 27, 12, 30, 1, 500, tzinfo=dt.UTC), UTCDateTime),
    literal(21),
    literal("Café am Dom"),
    literal(True),
)


@pytest.fixture
def formats(bound_database: Database) -> Iterator[list[pq.Format]]:
    """The result format of each statement the test's connection runs."""
    seen: list[pq.Format] = []

    def executed(_conn: Any, cursor: Any, *_args: Any) -> None:
        seen.append(cursor.format)

    event.listen(bound_database.engine, "after_cursor_execute", executed)
    try:
        yield seen
    finally:
        event.remove(bound_database.engine, "after_cursor_execute", executed)


@pytest.mark.postgres
def test_only_the_statement_that_asks_crosses_in_binary_with_the_same_values(
    bound_database: Database, formats: list[pq.Format]
) -> None:
    connection: Connection = bound_database.sessionmaker.kw["bind"]
    plain = connection.execute(select(*VALUES)).one()
    binary = connection.execute(select(*VALUES).execution_options(**{BINARY_RESULTS: True})).one()
    after = connection.execute(select(*VALUES)).one()
    assert formats == [pq.Format.TEXT, pq.Format.BINARY, pq.Format.TEXT]
    assert tuple(binary) == tuple(plain) == tuple(after)
    assert binary[1].tzinfo is dt.UTC
