"""The engine, session factory and outage breaker of one application, owned together."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session, sessionmaker

from registration.database.breaker import DatabaseRestingError, OutageBreaker
from registration.database.driver_sql import DriverStatement
from registration.database.engine import make_engine
from registration.database.faults import DatabaseFault, database_fault
from registration.database.sqlite import checkpoint_in_background, stop_checkpointer
from registration.database.timeouts import DatabaseTimeouts


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

    @contextmanager
    def request_connection(self) -> Iterator[Connection]:
        """A pooled connection in a transaction for a web request's statements, without
        an ORM session; refused like request_session while the database rests."""
        if not self.breaker.admit():
            raise DatabaseRestingError
        with self._transaction() as connection:
            yield connection

    def _bound_connection(self) -> Connection | None:
        """The one connection the owner bound this database to (the test suite's outer
        transaction), or None: the engine's pool serves."""
        bound = self.sessionmaker.kw.get("bind")
        return bound if isinstance(bound, Connection) else None

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        bound = self._bound_connection()
        if bound is not None:
            # Bound to one connection by its owner (the test suite's outer transaction):
            # joined with a savepoint, as the sessions are.
            with bound.begin_nested():
                yield bound
            return
        with self.engine.begin() as connection:
            yield connection

    def single_statement_returned_row(
        self, statement: DriverStatement, values: Mapping[str, Any]
    ) -> bool:
        """Run one statement that is atomic alone for a web request: whether it returned
        a row (DriverStatement.returned_row); refused like request_session while the
        database rests.

        On PostgreSQL it runs in autocommit on a pooled driver connection, without an
        SQLAlchemy Connection (DriverStatement.returned_row_in_autocommit): one round
        trip instead of three (BEGIN, the statement, COMMIT), and none of a Connection's
        set-up, isolation-level changes and execution context: about 0.12 ms of CPU per
        check-in, more than the statement's own Python (issue 15). A statement whose
        answer never came (a stalled server, the request's deadline) may then be
        committed behind the 503 the guest was given; the caller must be one whose retry
        finds that row (the hot path: the phone resends with the same idempotency key
        and is answered with the stored check-in). SQLite keeps its transaction: its
        write lock is taken, within the request's budget, at BEGIN (database.sqlite).
        """
        if not self.breaker.admit():
            raise DatabaseRestingError
        if self.dialect == "postgresql" and self._bound_connection() is None:
            returned = statement.returned_row_in_autocommit(self.engine, values)
            self._answer_seen()  # what the engine's after_cursor_execute listener does
            return returned
        with self._transaction() as connection:
            return statement.returned_row(connection, values)

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

    def checkpoint_in_background(self) -> bool:
        """Serving guests on SQLite: the WAL is copied back by a thread of this process,
        not in a guest's commit (database.sqlite.Checkpointer). False elsewhere."""
        return checkpoint_in_background(self.engine)

    def dispose(self) -> None:
        stop_checkpointer(self.engine)
        self.engine.dispose()
