"""Engine, sessions and the declarative base shared by every package's models.

SQLite is the embedded default and is tuned here for what the promise needs: WAL so
guests and the purge do not block each other for long, foreign keys, and
`secure_delete` so deleted envelopes are overwritten instead of lingering in free
pages. PostgreSQL (psycopg 3) is used when the URL says so.

Nothing may wait for the database without a bound (`DatabaseTimeouts`): a guest's
phone keeps its check-in and sends it again after a 503, but a request that hangs
holds a gunicorn thread, and enough of them stop the whole service.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import psycopg
import psycopg.errors
from psycopg.abc import PQGen
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from registration.config import Settings

_RV = TypeVar("_RV")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite has no time zone type; storing naive UTC there and re-attaching UTC on the
    way out keeps comparisons right on both databases. Naive input is refused, so a
    local time can never slip in by accident.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value)!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime}


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long one database operation may take before it is given up.

    `statement_seconds` bounds a statement (PostgreSQL's `statement_timeout`, and a
    client-side deadline for a server that no longer answers at all; a progress handler
    on SQLite); `lock_seconds` bounds waiting for a lock (PostgreSQL's `lock_timeout`,
    SQLite's busy timeout); `pool_seconds` bounds waiting for a free pooled connection.
    Web requests use short values, maintenance a long statement budget (partition
    rebuilds) but the same short lock wait: DDL queued behind a lock would hold every
    guest's insert back behind it.
    """

    statement_seconds: float = 5.0
    lock_seconds: float = 5.0
    pool_seconds: float = 2.0

    @classmethod
    def for_requests(cls, settings: Settings) -> DatabaseTimeouts:
        seconds = float(settings.db_timeout_seconds)
        return cls(statement_seconds=seconds, lock_seconds=seconds)

    @classmethod
    def for_maintenance(cls, settings: Settings) -> DatabaseTimeouts:
        return cls(
            statement_seconds=float(settings.maintenance_db_timeout_seconds),
            lock_seconds=float(settings.db_timeout_seconds),
        )

    @property
    def client_deadline_seconds(self) -> float:
        """A little longer than the server's own timeout, so that a server that is merely
        slow cancels the statement itself and the connection stays usable."""
        return self.statement_seconds + CLIENT_DEADLINE_GRACE_SECONDS


CLIENT_DEADLINE_GRACE_SECONDS = 0.5
# SQLite calls the progress handler every this many virtual-machine steps: often enough
# to stop a runaway statement within milliseconds, rare enough to cost nothing.
SQLITE_PROGRESS_STEPS = 1000


# A shorter budget for the requests of guests' phones (the check-in API and the guest
# pages): their statements take milliseconds, and a phone that gets a quick 503 keeps
# the check-in and sends it again, while a request that waits holds a gunicorn thread.
_budget: ContextVar[float | None] = ContextVar("gastregister_database_budget", default=None)


def limit_database_budget(seconds: float) -> Token[float | None]:
    """Make every database operation of the current request wait at most `seconds`."""
    return _budget.set(seconds)


def reset_database_budget(token: Token[float | None]) -> None:
    _budget.reset(token)


def _within_budget(seconds: float) -> float:
    budget = _budget.get()
    return seconds if budget is None else min(seconds, budget)


class DatabaseRestingError(Exception):
    """Refused without asking the database: it did not answer a moment ago."""


class OutageBreaker:
    """After the database timed out or could not be reached, requests fail at once for
    a moment instead of each waiting out its deadline.

    Every request that waits for a stalled database holds a gunicorn thread; with all
    of a worker's threads waiting, even /healthz queues behind them. So the first
    timeout opens the breaker: for `cooldown_seconds` requests get a 503 (with
    Retry-After) without a database call; then exactly one request goes through to
    find out whether the database is back, and its success closes the breaker. A
    probe that reports nothing (it never reached the database) gives way to the next
    after `probe_seconds`.
    """

    def __init__(
        self,
        cooldown_seconds: float = 1.0,
        probe_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown_seconds = cooldown_seconds
        self.probe_seconds = probe_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._rest_until = 0.0
        self._probe_until = 0.0

    @property
    def resting(self) -> bool:
        """Open and still in its cool-down: the database failed a moment ago."""
        return self._open and self._clock() < self._rest_until

    def admit(self) -> bool:
        """May this request use the database? Cheap while closed (no lock)."""
        if not self._open:
            return True
        with self._lock:
            now = self._clock()
            if not self._open:
                return True
            if now < self._rest_until or now < self._probe_until:
                return False
            self._probe_until = now + self.probe_seconds
            return True

    def succeeded(self) -> None:
        if self._open:
            with self._lock:
                self._open = False
                self._probe_until = 0.0

    def failed(self) -> None:
        with self._lock:
            self._open = True
            self._rest_until = self._clock() + self.cooldown_seconds
            self._probe_until = 0.0


class DatabaseDeadlineError(psycopg.OperationalError):
    """The server did not answer within the client-side deadline; the connection is closed."""


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits for the server at most `deadline_seconds`.

    A stopped server (SIGSTOP, a hung VM, a broken network path that still ACKs TCP)
    never answers and never closes the socket, so neither `statement_timeout` (the
    server is not running) nor TCP notices it: only the client can. psycopg runs every
    operation through `wait()`; an unbounded wait gets the deadline. When it passes,
    the connection's protocol state is unknown, so it is closed, and the error is an
    OperationalError on a closed connection, which SQLAlchemy treats as a disconnect
    (the pool discards it) and the error handler answers with 503.
    """

    deadline_seconds: float | None = None

    def wait(self, gen: PQGen[_RV], interval: float = 0.1, timeout: float | None = None) -> _RV:
        if timeout is not None or self.deadline_seconds is None:
            return super().wait(gen, interval, timeout)
        seconds = _within_budget(self.deadline_seconds)
        try:
            return super().wait(gen, interval, seconds)
        # wait() documents _WaitTimeout as how it reports an expired timeout.
        except psycopg.errors._WaitTimeout:
            self.close()
            raise DatabaseDeadlineError(
                f"no answer from the database within {seconds:g} s"
            ) from None


def _postgres_connect(
    timeouts: DatabaseTimeouts,
    _dialect: Dialect,
    _record: Any,
    cargs: list[Any],
    cparams: dict[str, Any],
) -> DeadlineConnection:
    """Connect with server-side timeouts and the client-side deadline (do_connect event).

    The operator's own `options` in DATABASE_URL come after ours, so they win.
    SQLAlchemy passes the same `cparams` to every connect, so it is copied, not
    changed. A guest's request connects within its budget (at least psycopg's 2 s).
    """
    ours = (
        f"-c statement_timeout={round(timeouts.statement_seconds * 1000)} "
        f"-c lock_timeout={round(timeouts.lock_seconds * 1000)}"
    )
    params = dict(cparams)
    params["options"] = f"{ours} {cparams['options']}" if cparams.get("options") else ours
    params.setdefault(
        "connect_timeout", max(2, math.ceil(_within_budget(timeouts.statement_seconds)))
    )
    connection = DeadlineConnection.connect(*cargs, **params)
    connection.deadline_seconds = timeouts.client_deadline_seconds
    return connection


def _postgres_error(context: Any) -> None:
    """A read-only answer means the server became a standby or was switched read-only:
    treat it like a disconnect, so the pool replaces every connection (and with them
    their session defaults) instead of failing on each of them in turn."""
    original = context.original_exception
    if isinstance(original, psycopg.Error) and original.sqlstate == "25006":
        context.is_disconnect = True


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
        self.at = time.monotonic() + _within_budget(self.seconds)

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


def _sqlite_begin(connection: Any) -> None:
    """Take the write lock at BEGIN: a deferred transaction that reads and then writes
    fails at once with SQLITE_BUSY_SNAPSHOT in WAL mode if another writer committed in
    between, which `busy_timeout` cannot wait out. Reads still run beside it (WAL)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, timeouts: DatabaseTimeouts | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas, pool settings and timeouts each database needs."""
    timeouts = timeouts or DatabaseTimeouts()
    if url.startswith("sqlite"):
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
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _sqlite_statement_starts)
        event.listen(engine, "commit", _sqlite_transaction_ends)
        event.listen(engine, "rollback", _sqlite_transaction_ends)
        event.listen(engine, "checkout", _sqlite_pool_handover)
        event.listen(engine, "checkin", _sqlite_pool_handover)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping round trip per request: a connection broken by a database restart
    # is invalidated on first use, that request answers 503, and the phone's outbox
    # sends the check-in again.
    if kwargs.get("poolclass") is not NullPool:
        kwargs.setdefault("pool_recycle", 1800)
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_timeout", timeouts.pool_seconds)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "do_connect", partial(_postgres_connect, timeouts))
    event.listen(engine, "handle_error", _postgres_error)
    return engine


class DatabaseFault(enum.StrEnum):
    """Why the database cannot serve right now: each is a 503, never a 500."""

    DISK_FULL = "disk_full"
    READ_ONLY = "read_only"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"

    @property
    def description(self) -> str:
        """The words operators grep their logs for."""
        return {
            DatabaseFault.DISK_FULL: "disk full",
            DatabaseFault.READ_ONLY: "read-only",
            DatabaseFault.TIMEOUT: "timed out",
            DatabaseFault.UNREACHABLE: "unreachable",
        }[self]


# SQLite primary result codes (sqlite3.h).
_SQLITE_FAULTS = {
    5: DatabaseFault.TIMEOUT,  # SQLITE_BUSY: the write lock stayed taken past busy_timeout
    6: DatabaseFault.TIMEOUT,  # SQLITE_LOCKED
    8: DatabaseFault.READ_ONLY,  # SQLITE_READONLY
    9: DatabaseFault.TIMEOUT,  # SQLITE_INTERRUPT: our statement deadline
    10: DatabaseFault.UNREACHABLE,  # SQLITE_IOERR
    13: DatabaseFault.DISK_FULL,  # SQLITE_FULL
    14: DatabaseFault.UNREACHABLE,  # SQLITE_CANTOPEN
}
# PostgreSQL SQLSTATEs.
_POSTGRES_FAULTS = {
    "53100": DatabaseFault.DISK_FULL,  # disk_full
    "25006": DatabaseFault.READ_ONLY,  # read_only_sql_transaction (also on a standby)
    "57014": DatabaseFault.TIMEOUT,  # query_canceled: statement_timeout
    "55P03": DatabaseFault.TIMEOUT,  # lock_not_available: lock_timeout
    "57P01": DatabaseFault.UNREACHABLE,  # admin_shutdown
    "57P02": DatabaseFault.UNREACHABLE,  # crash_shutdown
    "57P03": DatabaseFault.UNREACHABLE,  # cannot_connect_now (starting, recovering)
    "53300": DatabaseFault.UNREACHABLE,  # too_many_connections
}


def database_fault(exc: BaseException) -> DatabaseFault | None:
    """Classify an exception as a database outage, or None if it is not one.

    Judged by error codes only, never by message text: messages can carry statement
    parameters, and they differ between server versions and languages.
    """
    if isinstance(exc, PoolTimeoutError | DatabaseRestingError):
        # Every pooled connection is stuck in a request, or the database did not
        # answer a moment ago (OutageBreaker).
        return DatabaseFault.TIMEOUT
    original: BaseException | None = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(original, DatabaseDeadlineError | psycopg.errors.ConnectionTimeout):
        return DatabaseFault.TIMEOUT
    if isinstance(original, psycopg.Error):
        state = original.sqlstate or ""
        if state in _POSTGRES_FAULTS:
            return _POSTGRES_FAULTS[state]
        if state.startswith("08") or isinstance(original, psycopg.OperationalError):
            return DatabaseFault.UNREACHABLE
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_FAULTS:
            return _SQLITE_FAULTS[code & 0xFF]
        if isinstance(original, sqlite3.OperationalError):
            return DatabaseFault.UNREACHABLE
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseFault.UNREACHABLE
    if isinstance(exc, OperationalError):
        return DatabaseFault.UNREACHABLE  # DB-API: the database's operation failed
    return None


class Database:
    """Owns the engine and the session factory of one application."""

    def __init__(
        self, url: str, *, timeouts: DatabaseTimeouts | None = None, **engine_kwargs: Any
    ) -> None:
        self.url = url
        self.timeouts = timeouts or DatabaseTimeouts()
        self.engine = make_engine(url, self.timeouts, **engine_kwargs)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.breaker = OutageBreaker()
        event.listen(self.engine, "handle_error", self._outage_seen)
        event.listen(self.engine, "after_cursor_execute", self._answer_seen)

    def _outage_seen(self, context: Any) -> None:
        """Only a database that does not answer makes requests wait; one that answers
        "read-only" or "disk full" does so at once and needs no breaker."""
        fault = self.fault_of(context.original_exception)
        if fault in (DatabaseFault.TIMEOUT, DatabaseFault.UNREACHABLE):
            self.breaker.failed()

    def _answer_seen(self, *_args: Any) -> None:
        self.breaker.succeeded()

    def request_session(self) -> Session:
        """A session for a web request, unless the database failed a moment ago
        (then DatabaseRestingError, which the error handler answers with 503)."""
        if not self.breaker.admit():
            raise DatabaseRestingError
        return self.sessionmaker()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None (PostgreSQL, in-memory)."""
        if self.dialect != "sqlite":
            return None
        path = (self.engine.url.database or "").removeprefix("file:")
        if not path or path == ":memory:" or path.startswith(":memory:"):
            return None
        return Path(path)

    def fault_of(self, exc: BaseException) -> DatabaseFault | None:
        """`database_fault`, told apart further by what only this database knows.

        SQLite in WAL mode cannot even open its file on a read-only file system
        (SQLITE_CANTOPEN: it must write the -shm file), which looks like
        "unreachable" from the error alone; the mount flags say "read-only".
        """
        fault = database_fault(exc)
        path = self.sqlite_path
        if fault is DatabaseFault.UNREACHABLE and path is not None:
            try:
                read_only = bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
            except OSError:
                read_only = False
            if read_only:
                return DatabaseFault.READ_ONLY
        return fault

    def new_session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for work outside a request (CLI, scheduler): rolled back unless committed."""
        session = self.sessionmaker()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self, session: Session) -> bool:
        """True when the database answers a trivial query (for /healthz)."""
        try:
            session.execute(text("SELECT 1"))
        except Exception:
            session.rollback()
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
