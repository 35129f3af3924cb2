"""SQLite's write lock: a waiting writer looks again in short steps, within its budget.

SQLite's own busy handler sleeps up to 100 ms between looks, so a writer that kept
coming back (the purge's batches, guests in other processes) took the lock again and
again before a waiting guest looked: check-ins waited seconds while the lock was free
most of the time. And the wait ran to the connection's busy timeout (5 s), past the
guest's budget.
"""

from __future__ import annotations

import sqlite3
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from registration.database import (
    Database,
    DatabaseTimeouts,
    limit_database_budget,
    reset_database_budget,
)
from registration.database import sqlite as sqlite_engine

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    found = Database(
        f"sqlite:///{tmp_path / 'lock.db'}",
        timeouts=DatabaseTimeouts(statement_seconds=30, lock_seconds=30),
    )
    with found.engine.begin() as connection:
        connection.execute(text("CREATE TABLE visits (id INTEGER PRIMARY KEY)"))
    yield found
    found.dispose()


@pytest.fixture
def blocker(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's writer, holding the write lock until the test lets go."""
    connection = sqlite3.connect(tmp_path / "lock.db", isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    yield connection
    if connection.in_transaction:
        connection.rollback()
    connection.close()


def test_a_waiting_writer_looks_again_within_milliseconds(
    database: Database, blocker: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 5:  # the other writer commits while this one waits
            blocker.commit()

    clock = types.SimpleNamespace(monotonic=time.monotonic, sleep=sleep)
    monkeypatch.setattr(sqlite_engine, "time", clock)
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO visits DEFAULT VALUES"))
    assert len(pauses) == 5
    assert max(pauses) <= sqlite_engine.SQLITE_LOCK_POLL_SECONDS[1]
    with database.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM visits")) == 1
        # The busy timeout for the rest of the transaction is back where it was.
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_the_wait_for_the_write_lock_ends_with_the_guests_budget(
    database: Database, blocker: sqlite3.Connection
) -> None:
    token = limit_database_budget(0.2)
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError, match="locked"), database.engine.begin() as c:
            c.execute(text("INSERT INTO visits DEFAULT VALUES"))
    finally:
        reset_database_budget(token)
    # Far below the connection's 30 s lock timeout: the budget (0.2 s) ended the wait.
    assert time.monotonic() - started < 10
    blocker.rollback()
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO visits DEFAULT VALUES"))
        assert connection.scalar(text("SELECT count(*) FROM visits")) == 1
