"""Engine, sessions and the declarative base shared by every package's models.

SQLite is the embedded default and is tuned here for what the promise needs: WAL so
guests and the purge do not block each other for long, foreign keys, and
`secure_delete` so deleted envelopes are overwritten instead of lingering in free
pages. PostgreSQL (psycopg 3) is used when the URL says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        # 64 MiB of page cache instead of 2 MiB: index pages of random UUID keys stay
        # in memory, which makes batched purges and busy check-in hours much cheaper.
        cursor.execute("PRAGMA cache_size=-65536")
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Take the write lock at BEGIN: a deferred transaction that reads and then writes
    fails at once with SQLITE_BUSY_SNAPSHOT in WAL mode if another writer committed in
    between, which `busy_timeout` cannot wait out. Reads still run beside it (WAL)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and pool settings each database needs."""
    if url.startswith("sqlite"):
        # Pooled connections: opening one and running the pragmas costs more than a
        # whole check-in. An in-memory database cannot be shared through a pool.
        if ":memory:" in url or url in {"sqlite://", "sqlite:///"}:
            kwargs.setdefault("poolclass", NullPool)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping round trip per request: a connection broken by a database restart
    # is invalidated on first use, that request answers 503, and the phone's outbox
    # sends the check-in again.
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


class Database:
    """Owns the engine and the session factory of one application."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

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
