"""SQLite's write lock: a waiting writer looks again in short steps, within its budget.

SQLite's own busy handler sleeps up to 100 ms between looks, so a writer that kept
coming back (the purge's batches, guests in other processes) took the lock again and
again before a waiting guest looked: check-ins waited seconds while the lock was free
most of the time. And the wait ran to the connection's busy timeout (5 s), past the
guest's budget.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
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


def test_a_commit_leaves_the_checkpoint_to_the_checkpointer(tmp_path: Path) -> None:
    """A guest's commit no longer copies the WAL back (and waits for its fsync): the
    database file stays as it was until the process's checkpointer has run, however
    long the WAL (20,000 pages, past any threshold a commit would act on)."""
    file = tmp_path / "held.db"
    database = Database(f"sqlite:///{file}")
    assert database.checkpoint_in_background()
    checkpointer = sqlite_engine.checkpointer_of(database.engine)
    assert checkpointer is not None
    checkpointer.interval = 3600.0  # hold the thread back while the test looks
    with database.engine.connect() as connection:  # creates the file, writes nothing
        connection.execute(text("SELECT 1"))
    size = file.stat().st_size
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE pages (content BLOB)"))
        # Past SQLite's default threshold (1,000 pages) for checkpointing in the
        # committing connection.
        for _ in range(1500):
            connection.execute(text("INSERT INTO pages VALUES (zeroblob(4000))"))
    for _ in range(40):  # many commits on a long WAL: none of them checkpoints
        with database.engine.begin() as connection:
            connection.execute(text("INSERT INTO pages VALUES (zeroblob(4000))"))
    assert file.stat().st_size == size
    checkpointer.checkpoint()
    assert file.stat().st_size > size + 1000 * 4096
    assert checkpointer.runs == 1
    database.dispose()


def test_the_checkpointer_runs_after_commits_without_being_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_engine, "CHECKPOINT_IDLE_SECONDS", 0.5)
    found = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    assert found.checkpoint_in_background()
    checkpointer = sqlite_engine.checkpointer_of(found.engine)
    assert checkpointer is not None
    checkpointer.interval = 0.05
    try:
        with found.engine.begin() as connection:
            connection.execute(text("CREATE TABLE pages (content BLOB)"))
            connection.execute(text("INSERT INTO pages VALUES (zeroblob(400000))"))
        deadline = time.monotonic() + 30
        while checkpointer.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.runs >= 1
        assert (tmp_path / "wal.db").stat().st_size > 400_000
        # Without writes the thread ends; the next commit starts it again.
        while checkpointer._thread is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer._thread is None
        runs = checkpointer.runs
        with found.engine.begin() as connection:
            connection.execute(text("INSERT INTO pages VALUES (zeroblob(10))"))
        while checkpointer.runs == runs and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.runs > runs
    finally:
        found.dispose()


def test_commands_leave_checkpoints_to_sqlite_and_start_no_thread(tmp_path: Path) -> None:
    """Only a process that serves guests checkpoints in a thread of its own."""
    file = tmp_path / "command.db"
    database = Database(f"sqlite:///{file}")
    before = set(threading.enumerate())
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE pages (content BLOB)"))
        for _ in range(1500):
            connection.execute(text("INSERT INTO pages VALUES (zeroblob(4000))"))
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    assert set(threading.enumerate()) == before
    assert file.stat().st_size > 1000 * 4096  # SQLite checkpointed in the commit
    database.dispose()


def test_an_in_memory_database_has_no_checkpointer() -> None:
    database = Database("sqlite://")
    assert sqlite_engine.checkpointer_of(database.engine) is None
    assert not database.checkpoint_in_background()
    database.dispose()


def test_each_gunicorn_worker_checkpoints_in_its_own_thread(tmp_path: Path) -> None:
    """gunicorn_conf.post_worker_init enables it for the worker's database."""
    from gastregister import gunicorn_conf
    from gastregister.app import create_app
    from registration.config import Settings

    settings = Settings.from_mapping(
        {
            "environment": "test",
            "database_url": f"sqlite:///{tmp_path / 'served.db'}",
            "scheduler": "off",
            "instance_path": str(tmp_path),
        }
    )
    app = create_app(settings)
    database: Database = app.extensions["gastregister.db"]
    checkpointer = sqlite_engine.checkpointer_of(database.engine)
    assert checkpointer is not None and not checkpointer.enabled
    gunicorn_conf.post_worker_init(types.SimpleNamespace(wsgi=app))
    gc.unfreeze()  # the hook froze this process's objects, as it does a worker's
    assert checkpointer.enabled
    with database.engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == 0  # its guests' commits never checkpoint
    database.dispose()


def test_a_wal_grown_past_its_bound_is_started_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady load a PASSIVE checkpoint never lets a writer restart the WAL; past
    SQLITE_WAL_RESTART_BYTES the checkpointer truncates it."""
    monkeypatch.setattr(sqlite_engine, "SQLITE_WAL_RESTART_BYTES", 1_000_000)
    file = tmp_path / "long.db"
    database = Database(f"sqlite:///{file}")
    assert database.checkpoint_in_background()
    checkpointer = sqlite_engine.checkpointer_of(database.engine)
    assert checkpointer is not None
    checkpointer.interval = 3600.0
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE pages (content BLOB)"))
        for _ in range(500):
            connection.execute(text("INSERT INTO pages VALUES (zeroblob(4000))"))
    wal = tmp_path / "long.db-wal"
    assert wal.stat().st_size > 1_000_000
    checkpointer.checkpoint()
    assert checkpointer.restarts == 1
    assert wal.stat().st_size == 0
    with database.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM pages")) == 500
    database.dispose()
