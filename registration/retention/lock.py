"""Exactly one maintenance runner at a time, across processes and hosts.

The `gastregister worker`, web workers in web mode and `gastregister purge` from cron
may all reach for maintenance at once, so the lock must live where all of them meet,
and it must die with its holder: a runner killed with `kill -9` may never block
deletion.

* PostgreSQL: a session-level advisory lock, taken with `pg_try_advisory_lock` on a
  connection held for the whole run. If the process dies, its connection closes and
  the server releases the lock.
* SQLite (one host by design): an exclusive `flock` on a lock file next to the
  database file. The kernel releases it when the holder's process ends, however it
  ends. The holder writes its name into the file for `gastregister status`. An
  in-memory database (tests) lives in one process only, so a process-local lock does.

The advisory key includes the current schema, so two deployments (or two test runs)
sharing one PostgreSQL database in different schemas do not block each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from registration.database import Database

log = logging.getLogger(__name__)

MAINTENANCE = "maintenance"
# First half of the two-part advisory key: "gret" (gastregister retention).
_ADVISORY_NAMESPACE = 0x6772_6574
_SCHEMA_KEY = "hashtext(current_schema()) & 2147483647"
_APPLICATION_PREFIX = "gastregister-maintenance "
LOCK_FILE_SUFFIX = ".maintenance.lock"
_UNKNOWN_HOLDER = "(unknown)"


@dataclass(frozen=True)
class RunnerLock:
    """What a runner holds while it works."""

    holder: str


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock, for `gastregister status`."""

    holder: str


@contextmanager
def exclusive_runner(
    database: Database, holder: str, name: str = MAINTENANCE
) -> Iterator[RunnerLock | None]:
    """Yield the lock if this runner got it, or None if another runner holds it."""
    if database.dialect == "postgresql":
        with _advisory_lock(database.engine, holder) as lock:
            yield lock
        return
    path = lock_file_path(database, name)
    if path is None:
        with _process_lock(database.url, holder) as lock:
            yield lock
        return
    with _file_lock(path, holder) as lock:
        yield lock


# --- PostgreSQL ------------------------------------------------------------------------


@contextmanager
def _advisory_lock(engine: Engine, holder: str) -> Iterator[RunnerLock | None]:
    connection = engine.connect()
    locked = False
    try:
        locked = bool(
            connection.scalar(
                text(f"SELECT pg_try_advisory_lock(:namespace, {_SCHEMA_KEY})"),
                {"namespace": _ADVISORY_NAMESPACE},
            )
        )
        if locked:
            # Shown by `status` as the holder; lives only as long as this connection.
            connection.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": (_APPLICATION_PREFIX + holder)[:63]},
            )
        # Session-level lock: it outlives this transaction, which must not stay open.
        connection.commit()
        yield RunnerLock(holder) if locked else None
    finally:
        _release_advisory(connection, locked)


def _release_advisory(connection: Connection, locked: bool) -> None:
    """Unlock and hand the connection back; a connection that may still hold the lock
    is discarded instead, so a pooled connection can never keep it by accident."""
    if not locked:
        connection.close()
        return
    try:
        connection.rollback()
        connection.scalar(
            text(f"SELECT pg_advisory_unlock(:namespace, {_SCHEMA_KEY})"),
            {"namespace": _ADVISORY_NAMESPACE},
        )
        connection.execute(text("RESET application_name"))
        connection.commit()
    except Exception:
        log.warning("could not release the maintenance lock cleanly; closing its connection")
        connection.invalidate()
    finally:
        connection.close()


def _advisory_holder(database: Database) -> LockHolder | None:
    with database.engine.connect() as connection:
        application = connection.scalar(
            text(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                "AND l.database = (SELECT oid FROM pg_database "
                "                  WHERE datname = current_database()) "
                "AND l.classid::bigint = :namespace "
                "AND l.objid::bigint = hashtext(current_schema()) & 2147483647"
            ),
            {"namespace": _ADVISORY_NAMESPACE},
        )
    if application is None:
        return None
    return LockHolder(str(application).removeprefix(_APPLICATION_PREFIX))


# --- SQLite ----------------------------------------------------------------------------


def lock_file_path(database: Database, name: str = MAINTENANCE) -> Path | None:
    """The lock file beside the SQLite database file; None for an in-memory database."""
    path = database.sqlite_path
    if path is None:
        return None
    suffix = LOCK_FILE_SUFFIX if name == MAINTENANCE else f".{name}.lock"
    return path.with_name(path.name + suffix)


@contextmanager
def _file_lock(path: Path, holder: str) -> Iterator[RunnerLock | None]:
    # Each open() is its own open file description, so two runners in one process
    # (threads) exclude each other just like two processes do.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode("utf-8"), 0)
            yield RunnerLock(holder)
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _file_holder(path: Path) -> LockHolder | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            name = os.pread(fd, 256, 0).decode("utf-8", "replace").strip()
            return LockHolder(name or _UNKNOWN_HOLDER)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


_process_locks: dict[str, tuple[threading.Lock, list[str]]] = {}
_process_locks_guard = threading.Lock()


def _local(url: str) -> tuple[threading.Lock, list[str]]:
    with _process_locks_guard:
        return _process_locks.setdefault(url, (threading.Lock(), []))


@contextmanager
def _process_lock(url: str, holder: str) -> Iterator[RunnerLock | None]:
    lock, holders = _local(url)
    if not lock.acquire(blocking=False):
        yield None
        return
    holders.append(holder)
    try:
        yield RunnerLock(holder)
    finally:
        holders.clear()
        lock.release()


def lock_holder(database: Database, name: str = MAINTENANCE) -> LockHolder | None:
    """Who runs maintenance right now, if anyone."""
    if database.dialect == "postgresql":
        return _advisory_holder(database)
    path = lock_file_path(database, name)
    if path is not None:
        return _file_holder(path)
    lock, holders = _local(database.url)
    if not lock.locked():
        return None
    return LockHolder(holders[0] if holders else _UNKNOWN_HOLDER)
