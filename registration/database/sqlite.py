"""SQLite, tuned for what the promise needs.

WAL so guests and the purge do not block each other for long, foreign keys, and
`secure_delete` so deleted envelopes are overwritten instead of lingering in free
pages. A statement deadline is enforced by a progress handler, since SQLite has no
statement timeout of its own.
"""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from registration.database.timeouts import DatabaseTimeouts, within_budget

# SQLite calls the progress handler every this many virtual-machine steps: often enough
# to stop a runaway statement within milliseconds, rare enough to cost nothing.
SQLITE_PROGRESS_STEPS = 1000


class _StatementDeadline:
    """When the running SQLite statement must stop; read by its progress handler.

    Set when a statement starts and cleared when its transaction ends or the
    connection goes back to the pool, so raw statements outside a transaction (WAL
    checkpoints) never inherit an old deadline.
    """

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at: float | None = None

    def start(self) -> None:
        self.at = time.monotonic() + within_budget(self.seconds)

    def clear(self) -> None:
        self.at = None

    def passed(self) -> int:
        """The progress handler: non-zero interrupts the statement (SQLITE_INTERRUPT)."""
        at = self.at
        return 1 if at is not None and time.monotonic() > at else 0


_DEADLINE_KEY = "gastregister.statement_deadline"


def _sqlite_pragmas(timeouts: DatabaseTimeouts, dbapi_connection: Any, record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={round(timeouts.lock_seconds * 1000)}")
        # 64 MiB of page cache instead of 2 MiB: index pages of random UUID keys stay
        # in memory, which makes batched purges and busy check-in hours much cheaper.
        cursor.execute("PRAGMA cache_size=-65536")
    finally:
        cursor.close()
    deadline = _StatementDeadline(timeouts.statement_seconds)
    record.info[_DEADLINE_KEY] = deadline
    dbapi_connection.set_progress_handler(deadline.passed, SQLITE_PROGRESS_STEPS)


def _deadline_of(info: dict[str, Any]) -> _StatementDeadline | None:
    deadline: _StatementDeadline | None = info.get(_DEADLINE_KEY)
    return deadline


def _sqlite_statement_starts(connection: Any, *_args: Any) -> None:
    deadline = _deadline_of(connection.connection.info)
    if deadline is not None:
        deadline.start()


def _sqlite_transaction_ends(connection: Any) -> None:
    deadline = _deadline_of(connection.connection.info)
    if deadline is not None:
        deadline.clear()


def _sqlite_pool_handover(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
    deadline = _deadline_of(record.info)
    if deadline is not None:
        deadline.clear()


# While the write lock is taken, look for it again after this long, doubling up to the
# second figure. SQLite's own busy handler sleeps 25, 50, then 100 ms between looks: a
# writer that keeps coming back (the purge's batches, a burst of guests in other
# processes) took the lock again and again before a waiting guest looked, and single
# check-ins waited seconds while the lock was free most of the time.
SQLITE_LOCK_POLL_SECONDS = (0.0005, 0.004)
_SQLITE_BUSY = 5


def _sqlite_begin(timeouts: DatabaseTimeouts, connection: Any) -> None:
    """Take the write lock at BEGIN, waiting for it at most the request's budget.

    At BEGIN: a deferred transaction that reads and then writes fails at once with
    SQLITE_BUSY_SNAPSHOT in WAL mode if another writer committed in between, which
    `busy_timeout` cannot wait out. Reads still run beside it (WAL). The wait is this
    function's own, in short steps (SQLITE_LOCK_POLL_SECONDS) and cut to the guest
    budget like every other database wait (`within_budget`); `busy_timeout` still
    covers the rest of the transaction.
    """
    dbapi = connection.connection.dbapi_connection
    deadline = time.monotonic() + within_budget(timeouts.lock_seconds)
    delay, longest = SQLITE_LOCK_POLL_SECONDS
    dbapi.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                code = getattr(error, "sqlite_errorcode", None)
                if code is None or code & 0xFF != _SQLITE_BUSY:
                    break
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(longest, delay * 2)
        # Once more through SQLAlchemy: still taken (or another error), it raises as
        # SQLAlchemy wraps it, and the fault is classified as always (database.faults).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        dbapi.execute(f"PRAGMA busy_timeout={round(timeouts.lock_seconds * 1000)}")


def make_sqlite_engine(url: str, timeouts: DatabaseTimeouts, **kwargs: Any) -> Engine:
    """An engine whose every connection gets the pragmas and the statement deadline."""
    # Pooled connections: opening one and running the pragmas costs more than a
    # whole check-in. An in-memory database cannot be shared through a pool.
    if ":memory:" in url or url in {"sqlite://", "sqlite:///"}:
        kwargs.setdefault("poolclass", NullPool)
    if kwargs.get("poolclass") is not NullPool:
        kwargs.setdefault("pool_timeout", timeouts.pool_seconds)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": timeouts.lock_seconds},
        **kwargs,
    )
    event.listen(engine, "connect", partial(_sqlite_pragmas, timeouts))
    event.listen(engine, "begin", partial(_sqlite_begin, timeouts))
    event.listen(engine, "before_cursor_execute", _sqlite_statement_starts)
    event.listen(engine, "commit", _sqlite_transaction_ends)
    event.listen(engine, "rollback", _sqlite_transaction_ends)
    event.listen(engine, "checkout", _sqlite_pool_handover)
    event.listen(engine, "checkin", _sqlite_pool_handover)
    return engine
