"""SQLite, tuned for what the promise needs.

WAL so guests and the purge do not block each other for long, foreign keys, and
`secure_delete` so deleted envelopes are overwritten instead of lingering in free
pages. A statement deadline is enforced by a progress handler, since SQLite has no
statement timeout of its own. The WAL is copied back into the database file by a
thread of each process that writes (`Checkpointer`), not by whichever guest's commit
crossed SQLite's threshold: a checkpoint ends with an fsync that took 200 to 400 ms on a
busy disk, and that guest waited for it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from registration.database.timeouts import DatabaseTimeouts, within_budget

log = logging.getLogger(__name__)

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


def _sqlite_pragmas(
    timeouts: DatabaseTimeouts,
    checkpointer: Checkpointer | None,
    dbapi_connection: Any,
    record: Any,
) -> None:
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
        if checkpointer is not None and checkpointer.enabled:
            # The Checkpointer copies the WAL back, never a guest's commit. A threshold
            # as a fallback was worse than none: under steady load the WAL is never
            # restarted (it reached 85 MB in the check-in bench), so once it held that
            # many pages every guest's commit would have checkpointed again.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
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
# check-ins waited seconds while the lock was free most of the time. At most 16 ms: a
# waiter looks at least once in each of the purge's 20 ms pauses; not shorter, since
# every look costs CPU (12 threads of one process contending: 0.5 to 4 ms cost 210 µs
# per insert, 2 to 16 ms 130 µs, SQLite's own handler 120 µs).
SQLITE_LOCK_POLL_SECONDS = (0.002, 0.016)
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


# A WAL file this large is restarted by the Checkpointer (TRUNCATE: it briefly holds
# writers back): under steady load a PASSIVE checkpoint never catches up with the last
# commit, so no writer ever starts the WAL over and it would grow without bound.
SQLITE_WAL_RESTART_BYTES = 64 * 2**20
# How long a restarting checkpoint waits for writers and readers before it gives up
# (and tries again a second later): what a guest may wait for it at most, besides the
# copy itself.
SQLITE_WAL_RESTART_WAIT_MS = 50
# How often the Checkpointer looks whether this process wrote, and how long it stays
# without writes before its thread ends (the next commit starts it again).
CHECKPOINT_INTERVAL_SECONDS = 1.0
CHECKPOINT_IDLE_SECONDS = 30.0


class Checkpointer:
    """Copies the WAL back into the database file after this process's commits.

    Only in processes that serve guests (gunicorn's post_worker_init enables it): a
    command or the maintenance worker has no guest waiting and leaves it to SQLite.
    A daemon thread, started by the first commit (not at start-up: create_app starts
    nothing, and a forked worker starts its own), checkpoints once a second while there
    were commits (PASSIVE: it never waits for or holds back a writer), on a connection
    of its own, and ends after CHECKPOINT_IDLE_SECONDS without any. Several processes'
    checkpointers do no harm: one that finds another checkpointing returns at once.
    """

    enabled = False

    def __init__(self, path: str, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self.runs = 0
        self.restarts = 0
        self._wrote = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._owner = 0

    def committed(self, _connection: Any = None) -> None:
        """The engine's commit hook: note the write, and start the thread if needed."""
        if not self.enabled:
            return
        self._wrote.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._owner == os.getpid():
            return
        with self._lock:
            thread = self._thread
            if thread is None or not thread.is_alive() or self._owner != os.getpid():
                self._owner = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="gastregister-sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """End the thread (the database is disposed of); a later commit starts it again."""
        with self._lock:
            thread = self._thread
        if thread is None or self._owner != os.getpid():
            return
        self._stopping.set()
        thread.join(timeout=10)
        self._stopping.clear()

    def _run(self) -> None:
        idle_since = time.monotonic()
        while not self._stopping.is_set():
            if not self._wrote.wait(self.interval):
                if time.monotonic() - idle_since > CHECKPOINT_IDLE_SECONDS:
                    with self._lock:
                        if not self._wrote.is_set():
                            self._thread = None
                            return
                continue
            # Gather the next interval's commits into one checkpoint (stop wakes it).
            if self._stopping.wait(self.interval):
                break
            self._wrote.clear()
            idle_since = time.monotonic()
            self.checkpoint()
        with self._lock:
            self._thread = None

    def checkpoint(self) -> None:
        """One checkpoint on a connection of its own; never creates the file.

        PASSIVE, unless the WAL file has grown past SQLITE_WAL_RESTART_BYTES: then
        TRUNCATE, which starts the WAL over, waiting SQLITE_WAL_RESTART_WAIT_MS at most.
        """
        try:
            uri = Path(self.path).absolute().as_uri() + "?mode=rw"
            connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0)
            try:
                if _wal_bytes(self.path) > SQLITE_WAL_RESTART_BYTES:
                    connection.execute(f"PRAGMA busy_timeout={SQLITE_WAL_RESTART_WAIT_MS}")
                    busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                    self.restarts += busy == 0
                else:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
            self.runs += 1
        except sqlite3.Error as error:  # the next commit tries again
            if Path(self.path).exists():
                log.warning("SQLite WAL checkpoint failed: %s", error)


def _wal_bytes(path: str) -> int:
    try:
        return os.stat(path + "-wal").st_size
    except OSError:
        return 0


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
    path = engine.url.database
    checkpointer = None
    if path and path != ":memory:" and not path.startswith("file:"):
        checkpointer = Checkpointer(path)
        event.listen(engine, "commit", checkpointer.committed)
        _checkpointers[engine] = checkpointer
    event.listen(engine, "connect", partial(_sqlite_pragmas, timeouts, checkpointer))
    event.listen(engine, "begin", partial(_sqlite_begin, timeouts))
    event.listen(engine, "before_cursor_execute", _sqlite_statement_starts)
    event.listen(engine, "commit", _sqlite_transaction_ends)
    event.listen(engine, "rollback", _sqlite_transaction_ends)
    event.listen(engine, "checkout", _sqlite_pool_handover)
    event.listen(engine, "checkin", _sqlite_pool_handover)
    return engine


_checkpointers: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


def checkpointer_of(engine: Engine) -> Checkpointer | None:
    """The engine's Checkpointer; None for an in-memory database (no WAL)."""
    return _checkpointers.get(engine)


def checkpoint_in_background(engine: Engine) -> bool:
    """Serving guests: checkpoint in this process's thread, not in their commits.

    The pool is emptied so that every connection from now on leaves checkpoints to
    the thread (wal_autocheckpoint=0; a worker starts with none, this only makes sure).
    """
    checkpointer = _checkpointers.get(engine)
    if checkpointer is None:
        return False
    checkpointer.enabled = True
    engine.dispose()
    return True


def stop_checkpointer(engine: Engine) -> None:
    """End the engine's checkpoint thread, if it has one (Database.dispose)."""
    checkpointer = _checkpointers.get(engine)
    if checkpointer is not None:
        checkpointer.stop()
