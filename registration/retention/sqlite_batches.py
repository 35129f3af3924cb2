"""Deleting on SQLite without holding guests back: short batches, WAL checkpoints.

SQLite has one writer at a time. A purge that deleted in one transaction would keep
every guest's check-in waiting for the write lock, and deleted envelopes would linger
in old WAL frames (`secure_delete` zeroes them only in the database file), so
deletions run in short batches and the WAL is checkpointed and truncated after them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, TextClause

# SQLite: rows per write transaction, and the pause after each one that lets
# waiting check-ins take the write lock before the next batch does (counted from the
# commit: the checkpoint after it holds no write lock either).
SQLITE_BATCH_ROWS = 1000
SQLITE_PACKAGE_BATCH_ROWS = 20
SQLITE_BATCH_PAUSE_SECONDS = 0.02
# Rowid-range batches are sized by time, not rows: each write transaction should hold
# the write lock about this long, whatever the machine and the rows' size.
SQLITE_BATCH_SECONDS = 0.04
SQLITE_RANGE_ROWS = (200, 5_000)  # the least and most rowids one range batch spans


def _pause_since(released: float) -> None:
    """Leave the write lock free for SQLITE_BATCH_PAUSE_SECONDS after a batch released it.

    The checkpoint and `between_batches` after a batch hold no write lock: guests can
    commit while they run, so their time counts towards the pause. A fixed sleep after
    them was a quarter of a 1,000,000-row purge on SQLite (issue 15).
    """
    remaining = SQLITE_BATCH_PAUSE_SECONDS - (time.monotonic() - released)
    if remaining > 0:
        time.sleep(remaining)


def keep_going() -> None:
    """Default for callers that never ask a run to stop early."""


def sqlite_batches(
    engine: Engine,
    statement: TextClause,
    params: dict[str, Any],
    *,
    batch_rows: int = SQLITE_BATCH_ROWS,
    between_batches: Callable[[], None] = keep_going,
) -> int:
    """Repeat a `... WHERE rowid IN (SELECT ... LIMIT :batch)` statement until it runs dry.

    Each batch is its own short write transaction. The WAL is checkpointed by this
    connection right after each batch, outside the write lock: otherwise the next
    guest to commit would find a long WAL and copy it back itself (SQLite's
    auto-checkpoint runs in whichever connection commits), and the WAL would grow to
    gigabytes over a big purge. The pause lets guests waiting for the write lock in.
    """
    total = 0
    with engine.connect() as connection:
        dbapi = connection.connection.dbapi_connection
        if dbapi is None:  # pragma: no cover - a fresh connection always has one
            raise RuntimeError("no database connection")
        dbapi.execute("PRAGMA wal_autocheckpoint=0")
        while True:
            with connection.begin():
                changed = connection.execute(statement, {**params, "batch": batch_rows}).rowcount
            released = time.monotonic()
            dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)")
            total += changed
            between_batches()
            if changed < batch_rows:
                return total
            _pause_since(released)


def sqlite_read_row(engine: Engine, sql: str, parameters: Sequence[Any]) -> tuple[Any, ...]:
    """One row of a read-only query, run outside any write transaction.

    The engine begins every transaction with BEGIN IMMEDIATE (the write lock); a scan
    of a big index under it would keep every guest's check-in waiting, so this runs
    on the driver's connection in autocommit: a snapshot of its own beside the writers.
    `parameters` are what the driver takes (already converted by their column types).
    """
    connection = engine.raw_connection()
    try:
        row = connection.cursor().execute(sql, list(parameters)).fetchone()
    finally:
        connection.close()
    return tuple(row)


def sqlite_rowid_ranges(
    engine: Engine,
    statement: TextClause,
    params: dict[str, Any],
    *,
    low: int,
    top: int,
    between_batches: Callable[[], None] = keep_going,
) -> int:
    """Run a `... WHERE rowid >= :low AND rowid < :high AND <condition>` statement over
    consecutive rowid ranges from `low` to `top`; the number of rows changed.

    Rows sit in the table in rowid order, which is the order they arrived in, so a range
    touches a few neighbouring table pages instead of one page per row (batches picked
    through an index, one location after another, rewrote nearly a page per row).
    Each range is its own write transaction, sized to take about SQLITE_BATCH_SECONDS:
    fuller transactions on a fast machine, short ones on a slow or busy one, so guests
    never wait long for the write lock. The WAL is checkpointed after each, as in
    sqlite_batches.
    """
    total = 0
    least, most = SQLITE_RANGE_ROWS
    span = SQLITE_BATCH_ROWS
    with engine.connect() as connection:
        dbapi = connection.connection.dbapi_connection
        if dbapi is None:  # pragma: no cover - a fresh connection always has one
            raise RuntimeError("no database connection")
        dbapi.execute("PRAGMA wal_autocheckpoint=0")
        while low <= top:
            started = time.monotonic()
            with connection.begin():
                total += connection.execute(
                    statement, {**params, "low": low, "high": low + span}
                ).rowcount
            released = time.monotonic()
            elapsed = released - started
            dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)")
            low += span
            between_batches()
            # Aim the next range at the time budget; change by at most a factor of two
            # per step, so one slow moment (a guest's checkpoint) does not swing it.
            scale = min(2.0, max(0.5, SQLITE_BATCH_SECONDS / max(elapsed, 0.001)))
            span = min(most, max(least, round(span * scale)))
            _pause_since(released)
    return total


def checkpoint_sqlite_wal(engine: Engine, *, attempts: int = 4) -> bool:
    """Copy the WAL into the database file and truncate it to zero bytes, so deleted
    envelopes are not left in old WAL frames. A checkpoint holds writers back while it
    waits, so it waits briefly and tries again rather than waiting long once."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA busy_timeout=250")
        for attempt in range(attempts):
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy == 0:
                return True
            time.sleep(0.5 * (attempt + 1))
        return False
    finally:
        connection.close()
