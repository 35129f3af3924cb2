"""database.BINARY_RESULTS: a statement that asks for it gets its results in PostgreSQL's
binary format (a bytea as its bytes, not as hex digits), with the same Python values;
every other statement, on the same connection too, keeps the text format."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import Connection, LargeBinary, literal, select

from registration.database import BINARY_RESULTS, Database, UTCDateTime

VALUES = (
    literal(bytes(range(256)) * 4, LargeBinary),
    literal(dt.datetime(2026, 11, 27, 12, 30, 1, 500, tzinfo=dt.UTC), UTCDateTime),
    literal(21),
    literal("Café am Dom"),
    literal(True),
)


@pytest.mark.postgres
def test_only_the_statement_that_asks_crosses_in_binary_with_the_same_values(
    bound_database: Database, executed: list[tuple[str, Any]]
) -> None:
    connection: Connection = bound_database.sessionmaker.kw["bind"]
    plain = connection.execute(select(*VALUES)).one()
    binary = connection.execute(select(*VALUES).execution_options(**{BINARY_RESULTS: True})).one()
    after = connection.execute(select(*VALUES)).one()
    assert [format for _, format in executed] == [pq.Format.TEXT, pq.Format.BINARY, pq.Format.TEXT]
    assert tuple(binary) == tuple(plain) == tuple(after)
    assert binary[1].tzinfo is dt.UTC
