"""PostgreSQL (psycopg 3): server-side timeouts and a client-side deadline.

A server that stops answering is noticed only by the client, so every wait for it
gets a deadline; a read-only answer (a standby) makes the pool replace connections.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.abc import PQGen
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import NullPool

from registration.database.timeouts import DatabaseTimeouts, within_budget

_RV = TypeVar("_RV")


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
        seconds = within_budget(self.deadline_seconds)
        try:
            return super().wait(gen, interval, seconds)
        # wait() documents _WaitTimeout as how it reports an expired timeout.
        except psycopg.errors._WaitTimeout:
            self.close()
            raise DatabaseDeadlineError(
                f"no answer from the database within {seconds:g} s"
            ) from None


def _connect(
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
    # TimeZone=UTC: psycopg then returns times with datetime.UTC, not a ZoneInfo of the
    # server's zone (even "Etc/UTC"), whose offset lookups were a tenth of building a
    # 50,000-visit export package. Every time the service stores is timestamptz and
    # every bound it writes carries its offset, so no result depends on this setting.
    ours = (
        f"-c statement_timeout={round(timeouts.statement_seconds * 1000)} "
        f"-c lock_timeout={round(timeouts.lock_seconds * 1000)} "
        "-c TimeZone=UTC"
    )
    params = dict(cparams)
    params["options"] = f"{ours} {cparams['options']}" if cparams.get("options") else ours
    params.setdefault(
        "connect_timeout", max(2, math.ceil(within_budget(timeouts.statement_seconds)))
    )
    connection = DeadlineConnection.connect(*cargs, **params)
    connection.deadline_seconds = timeouts.client_deadline_seconds
    return connection


def _treat_read_only_as_disconnect(context: Any) -> None:
    """A read-only answer means the server became a standby or was switched read-only:
    treat it like a disconnect, so the pool replaces every connection (and with them
    their session defaults) instead of failing on each of them in turn."""
    original = context.original_exception
    if isinstance(original, psycopg.Error) and original.sqlstate == "25006":
        context.is_disconnect = True


# An execution option: this statement's results cross in PostgreSQL's binary format.
BINARY_RESULTS = "gastregister_binary_results"


def _binary_results(
    _connection: Any,
    cursor: Any,
    _statement: str,
    _parameters: Any,
    context: Any,
    _executemany: bool,
) -> None:
    """Ask for binary results where the statement's execution options say BINARY_RESULTS
    (before_cursor_execute; SQLAlchemy opens a cursor per statement, so no other
    statement is touched). A bytea then crosses as its bytes, not as twice as many hex
    digits that psycopg decodes again: for an export package of 50,000 envelopes about
    a sixth of its build (bench.export_bench). psycopg hands out the same Python values
    in either format."""
    if context is not None and context.execution_options.get(BINARY_RESULTS):
        cursor.format = psycopg.pq.Format.BINARY


def make_postgres_engine(url: str, timeouts: DatabaseTimeouts, **kwargs: Any) -> Engine:
    """A pooled psycopg engine whose connections carry the timeouts."""
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
    event.listen(engine, "do_connect", partial(_connect, timeouts))
    event.listen(engine, "handle_error", _treat_read_only_as_disconnect)
    event.listen(engine, "before_cursor_execute", _binary_results)
    return engine
