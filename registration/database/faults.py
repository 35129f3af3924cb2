"""Which exceptions mean "the database cannot serve right now", told apart by error code.

Each such fault is answered with a 503, never a 500, and logged in words operators
grep for.
"""

from __future__ import annotations

import enum
import sqlite3

import psycopg
import psycopg.errors
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from registration.database.breaker import DatabaseRestingError
from registration.database.postgres import DatabaseDeadlineError


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
