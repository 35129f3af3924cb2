"""Exactly one maintenance runner at a time, across gunicorn workers and hosts.

Every worker of every host has its own scheduler, and operators may also run
`gastregister purge` from cron, so the only place that can decide who runs is the
shared database:

* PostgreSQL: a session-level advisory lock, taken with `pg_try_advisory_lock` on a
  connection held for the whole run. If the process dies, its connection closes and
  the server releases the lock; nothing can be left behind.
* SQLite: a lease row in `scheduler_leases` (holder and expiry), taken in one write
  transaction by an UPDATE that only succeeds when the lease is free, expired or
  already ours, else an INSERT. A crashed holder blocks others only until the lease
  expires; a long run renews it between batches.

The advisory key includes the current schema, so two deployments (or two test runs)
sharing one PostgreSQL database in different schemas do not block each other.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from registration.clock import Clock
from registration.database import Database
from registration.models import SchedulerLease

log = logging.getLogger(__name__)

MAINTENANCE = "maintenance"
LEASE_DURATION = dt.timedelta(minutes=15)
# First half of the two-part advisory key: "gret" (gastregister retention).
_ADVISORY_NAMESPACE = 0x6772_6574
_SCHEMA_KEY = "hashtext(current_schema()) & 2147483647"
_APPLICATION_PREFIX = "gastregister-maintenance "


class LeaseLostError(RuntimeError):
    """The SQLite lease expired and another runner took it: this run must stop."""


class RunnerLock(Protocol):
    """What a runner holds while it works."""

    holder: str

    def keep_alive(self) -> None:
        """Call between batches of a long run; raises LeaseLostError if the lock is gone."""


@dataclass
class AdvisoryLock:
    """A PostgreSQL advisory lock; the server keeps it as long as the connection lives."""

    holder: str
    connection: Connection

    def keep_alive(self) -> None:
        """Nothing to renew: the lock lives with the connection."""


@dataclass
class Lease:
    """A SQLite lease row, renewed when half of it has run out."""

    holder: str
    name: str
    engine: Engine
    clock: Clock
    expires_at: dt.datetime

    def keep_alive(self) -> None:
        now = self.clock.now()
        if self.expires_at - now > LEASE_DURATION / 2:
            return
        new_expiry = now + LEASE_DURATION
        with self.engine.begin() as connection:
            renewed = connection.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=new_expiry)
            ).rowcount
        if renewed != 1:
            raise LeaseLostError(f"lease {self.name!r} was taken over while {self.holder} ran")
        self.expires_at = new_expiry


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock, for `gastregister status`."""

    holder: str
    expires_at: dt.datetime | None = None


@contextmanager
def exclusive_runner(
    database: Database, clock: Clock, holder: str, name: str = MAINTENANCE
) -> Iterator[RunnerLock | None]:
    """Yield the lock if this runner got it, or None if another runner holds it."""
    if database.dialect == "postgresql":
        with _advisory_lock(database.engine, holder) as lock:
            yield lock
    else:
        with _lease(database.engine, clock, holder, name) as lease:
            yield lease


@contextmanager
def _advisory_lock(engine: Engine, holder: str) -> Iterator[AdvisoryLock | None]:
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
        yield AdvisoryLock(holder, connection) if locked else None
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


@contextmanager
def _lease(engine: Engine, clock: Clock, holder: str, name: str) -> Iterator[Lease | None]:
    lease = take_lease(engine, clock, holder, name)
    try:
        yield lease
    finally:
        if lease is not None:
            release_lease(engine, holder, name)


def take_lease(engine: Engine, clock: Clock, holder: str, name: str) -> Lease | None:
    """Take the lease if it is free, expired or already ours; atomic in one write transaction."""
    now = clock.now()
    expires_at = now + LEASE_DURATION
    with engine.begin() as connection:
        taken = connection.execute(
            update(SchedulerLease)
            .where(
                SchedulerLease.name == name,
                (SchedulerLease.expires_at < now) | (SchedulerLease.holder == holder),
            )
            .values(holder=holder, expires_at=expires_at)
        ).rowcount
        if taken == 0:
            taken = connection.execute(
                sqlite_insert(SchedulerLease)
                .values(name=name, holder=holder, expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=["name"])
            ).rowcount
    if taken != 1:
        return None
    return Lease(holder, name, engine, clock, expires_at)


def release_lease(engine: Engine, holder: str, name: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            delete(SchedulerLease).where(
                SchedulerLease.name == name, SchedulerLease.holder == holder
            )
        )


def lock_holder(database: Database, clock: Clock, name: str = MAINTENANCE) -> LockHolder | None:
    """Who runs maintenance right now, if anyone."""
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
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
        lease = connection.execute(
            select(SchedulerLease.holder, SchedulerLease.expires_at).where(
                SchedulerLease.name == name, SchedulerLease.expires_at >= clock.now()
            )
        ).one_or_none()
    if lease is None:
        return None
    return LockHolder(lease.holder, lease.expires_at)
