"""PostgreSQL day partitions of `checkins`: created ahead, dropped whole when expired.

Why partitions: deleting a city's four-week-old visits row by row leaves dead tuples
whose bytes stay in the heap files until the pages are rewritten, and it costs time
and WAL in proportion to the rows. Dropping a day's partition removes its files in
milliseconds, whatever its size. Only the boundary day (partly expired) is deleted row
by row and then rebuilt (its kept rows copied to a fresh table that replaces it) so
its deleted envelopes leave the disk too.

Days are UTC days: partition `checkins_p20261120` holds arrivals in
[2026-11-20 00:00 UTC, 2026-11-21 00:00 UTC). A DEFAULT partition catches arrivals on
days that have no partition yet, so an insert never fails; when such a day's
partition is created later, its rows are moved out of the default partition first.

Names are unqualified and resolved through `search_path`, so the service (and each
test run) works in whatever schema it was migrated into.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from registration.clock import Clock
from registration.config import Settings

log = logging.getLogger(__name__)

PARENT = "checkins"
DEFAULT_PARTITION = "checkins_default"
PARTITION_PREFIX = "checkins_p"
DAYS_AHEAD = 7
_PARTITION_NAME = re.compile(r"^checkins_p(\d{8})$")
# DDL waits at most this long for its lock, so guests' inserts never queue behind it
# for longer; it is retried a few times and otherwise left for the next run.
DDL_LOCK_TIMEOUT = "300ms"
DDL_ATTEMPTS = 5
REWRITE_LOCK_TIMEOUT = "2s"
_LOCK_NOT_AVAILABLE = "55P03"

T = TypeVar("T")


@dataclass
class PartitionReport:
    """What partition maintenance did, for the job run's details."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    moved_from_default: int = 0
    rewritten: list[str] = field(default_factory=list)


def partition_name(day: dt.date) -> str:
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def is_checkin_partition(name: str) -> bool:
    """True for the tables this module manages (for Alembic autogenerate filters)."""
    return name == DEFAULT_PARTITION or _PARTITION_NAME.match(name) is not None


def include_in_autogenerate(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic `include_name` filter: the day partitions are managed here, not in models."""
    return not (type_ == "table" and name is not None and is_checkin_partition(name))


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def is_partitioned(connection: Connection) -> bool:
    return bool(
        connection.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
                "WHERE partrelid = to_regclass(:parent))"
            ),
            {"parent": PARENT},
        )
    )


def day_partitions(connection: Connection) -> dict[dt.date, str]:
    """The day partitions attached to `checkins` in the current schema."""
    names = connection.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": PARENT},
    ).all()
    found: dict[dt.date, str] = {}
    for name in names:
        match = _PARTITION_NAME.match(name)
        if match:
            found[dt.datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def wanted_days(clock: Clock, settings: Settings) -> tuple[dt.date, dt.date]:
    """From the oldest day still within retention to `DAYS_AHEAD` days ahead."""
    now = clock.now()
    return (now - dt.timedelta(days=settings.retention_days)).date(), (
        now + dt.timedelta(days=DAYS_AHEAD)
    ).date()


def ensure_partitions(
    engine: Engine, clock: Clock, settings: Settings, report: PartitionReport | None = None
) -> PartitionReport:
    """Create missing day partitions around `clock.now()`; safe to run any number of times."""
    report = report or PartitionReport()
    with engine.connect() as connection:
        existing = day_partitions(connection)
    first, last = wanted_days(clock, settings)
    for day in _days(first, last):
        if day not in existing:
            moved = _with_lock_retries(lambda day=day: _create_partition(engine, day))  # type: ignore[misc]
            report.created.append(partition_name(day))
            report.moved_from_default += moved
    return report


def _ddl_lock_timeout(connection: Connection, timeout: str = DDL_LOCK_TIMEOUT) -> None:
    connection.execute(
        text("SELECT set_config('lock_timeout', :timeout, true)"), {"timeout": timeout}
    )


def _create_partition(engine: Engine, day: dt.date) -> int:
    """Create a day's partition beside the table, fill it with that day's rows from the
    default partition, then attach it.

    Attaching (unlike CREATE TABLE ... PARTITION OF) needs only a weak lock on
    `checkins`, so guests' inserts go on; the default partition is locked against
    writes for the moment of the move so no row of that day can slip in meanwhile.
    """
    name = partition_name(day)
    start, end = day_start(day).isoformat(), day_start(day + dt.timedelta(days=1)).isoformat()
    with engine.begin() as connection:
        _ddl_lock_timeout(connection)
        connection.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN EXCLUSIVE MODE"))
        connection.execute(
            text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
        moved = connection.execute(
            text(
                "WITH moved AS (DELETE FROM checkins_default "  # noqa: S608 - our partition name
                f"WHERE arrival >= :start AND arrival < :end RETURNING *) INSERT INTO {name} "
                "SELECT * FROM moved"
            ),
            {"start": day_start(day), "end": day_start(day + dt.timedelta(days=1))},
        ).rowcount
        # A constraint that proves the bounds spares ATTACH a scan of the new table.
        connection.execute(
            text(
                f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds CHECK "
                f"(arrival IS NOT NULL AND arrival >= '{start}' AND arrival < '{end}')"
            )
        )
        connection.execute(
            text(
                f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
                f"FOR VALUES FROM ('{start}') TO ('{end}')"
            )
        )
        connection.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds"))
    if moved:
        log.info("partition %s created; %d rows moved from the default partition", name, moved)
    return moved


def expired_partitions(connection: Connection, cutoff: dt.datetime) -> dict[str, dt.date]:
    """Partitions whose whole day lies before the cutoff."""
    return {
        name: day
        for day, name in sorted(day_partitions(connection).items())
        if day_start(day + dt.timedelta(days=1)) <= cutoff
    }


def drop_expired_partitions(
    engine: Engine, cutoff: dt.datetime, report: PartitionReport | None = None
) -> tuple[PartitionReport, int]:
    """Drop every partition whose day ended before the cutoff; returns the rows they held.

    All drops share one short transaction: one brief exclusive lock on `checkins`.
    """
    report = report or PartitionReport()
    with engine.connect() as connection:
        names = list(expired_partitions(connection, cutoff))
        if not names:
            return report, 0
        counts = " + ".join(f"(SELECT count(*) FROM {name})" for name in names)  # noqa: S608 - our partition names
        rows = int(connection.scalar(text(f"SELECT {counts}")) or 0)
        connection.rollback()

    def drop() -> None:
        with engine.begin() as connection:
            _ddl_lock_timeout(connection)
            for name in names:
                connection.execute(text(f"DROP TABLE {name}"))

    _with_lock_retries(drop)
    report.dropped.extend(names)
    return report, rows


def delete_expired_rows(connection: Connection, cutoff: dt.datetime) -> dict[str, int]:
    """Delete what dropping cannot reach: the boundary day and the default partition.

    Returns the deleted rows per partition, so that exactly those are rewritten.
    """
    rows = connection.execute(
        text(
            f"WITH gone AS (DELETE FROM {PARENT} WHERE arrival < :cutoff "  # noqa: S608 - constant
            "RETURNING tableoid::regclass::text AS partition) "
            "SELECT partition, count(*) FROM gone GROUP BY partition"
        ),
        {"cutoff": cutoff},
    ).all()
    return {str(partition).rsplit(".", 1)[-1].strip('"'): int(count) for partition, count in rows}


def rewrite_partitions(engine: Engine, names: list[str], report: PartitionReport) -> None:
    """Rebuild the partitions that had rows deleted, so the deleted envelopes' bytes
    leave the disk.

    Neither a plain VACUUM nor VACUUM FULL is enough: both keep a deleted row that an
    older snapshot anywhere in the database (an autovacuum ANALYZE, a long report)
    might still see. Copying the kept rows into a new table and dropping the old one
    removes the old file whatever other sessions are doing.
    """
    for name in names:
        if _is_managed(name):
            _with_lock_retries(lambda name=name: _rebuild_partition(engine, name))  # type: ignore[misc]
            report.rewritten.append(name)


def _rebuild_partition(engine: Engine, name: str) -> None:
    """Swap a partition for a copy of its live rows, in one transaction.

    The partition is locked against writes while its rows are copied (no check-in of
    that day can slip in between); `checkins` itself is locked only for the moment of
    the detach-drop-attach at the end, so other days' check-ins go on meanwhile.
    """
    match = _PARTITION_NAME.match(name)
    fresh = f"{name}_rebuilt"
    with engine.begin() as connection:
        _ddl_lock_timeout(connection)
        connection.execute(text(f"LOCK TABLE {name} IN EXCLUSIVE MODE"))
        connection.execute(
            text(f"CREATE TABLE {fresh} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
        connection.execute(text(f"INSERT INTO {fresh} SELECT * FROM {name}"))  # noqa: S608 - our partition names
        if match is None:
            bounds = "DEFAULT"
        else:
            day = dt.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=dt.UTC).date()
            start = day_start(day).isoformat()
            end = day_start(day + dt.timedelta(days=1)).isoformat()
            bounds = f"FOR VALUES FROM ('{start}') TO ('{end}')"
            # A constraint that proves the bounds spares ATTACH a scan of the copy.
            connection.execute(
                text(
                    f"ALTER TABLE {fresh} ADD CONSTRAINT {fresh}_bounds CHECK "
                    f"(arrival IS NOT NULL AND arrival >= '{start}' AND arrival < '{end}')"
                )
            )
        connection.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
        connection.execute(text(f"DROP TABLE {name}"))
        connection.execute(text(f"ALTER TABLE {fresh} RENAME TO {name}"))
        connection.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {bounds}"))
        if match is not None:
            connection.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {fresh}_bounds"))


def _is_managed(name: str) -> bool:
    return is_checkin_partition(name)


def _with_lock_retries(action: Callable[[], T]) -> T:
    """Run DDL that gave up waiting for its lock again, a few times, with a pause."""
    for attempt in range(1, DDL_ATTEMPTS + 1):
        try:
            return action()
        except OperationalError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate != _LOCK_NOT_AVAILABLE or attempt == DDL_ATTEMPTS:
                raise
            log.info("partition DDL waited too long for its lock (attempt %d); retrying", attempt)
            time.sleep(0.2 * attempt)
    raise RuntimeError("unreachable")  # pragma: no cover - the loop returns or raises


def default_partition_rows(connection: Connection) -> int:
    return int(connection.scalar(text("SELECT count(*) FROM checkins_default")) or 0)
