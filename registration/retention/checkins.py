"""Check-ins: deleted when their retention ends, given their automatic departure.

A check-in is deleted when its arrival is older than `retention_days` (default 28);
one still open when its automatic departure has passed gets that departure. On
PostgreSQL whole expired day partitions are dropped (see `partitions`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, delete, text, update

from registration.clock import Clock
from registration.config import Settings
from registration.database import UTCDateTime
from registration.models import CheckIn
from registration.retention import partitions
from registration.retention.sqlite_batches import (
    keep_going,
    sqlite_batches,
    sqlite_read_row,
    sqlite_rowid_ranges,
)

log = logging.getLogger(__name__)


def retention_cutoff(clock: Clock, settings: Settings) -> dt.datetime:
    """Visits that arrived before this moment are older than the retention period."""
    return clock.now() - dt.timedelta(days=settings.retention_days)


# Through the (location_id, arrival) index, one seek per location: no table scan.
_SQLITE_DELETE_EXPIRED = text(
    "DELETE FROM checkins WHERE rowid IN ("
    " SELECT c.rowid FROM locations AS l CROSS JOIN checkins AS c ON c.location_id = l.id"
    " WHERE c.arrival < :cutoff LIMIT :batch)"
).bindparams(bindparam("cutoff", type_=UTCDateTime()))

# The bounds and ranges for sqlite_rowid_ranges: the rowids of expired visits, found
# through the (location_id, arrival) index (it carries the rowid: no table read), then
# deleted range by range in table order.
_SQLITE_EXPIRED_ROWIDS = (
    "SELECT min(c.rowid), max(c.rowid) FROM locations AS l"
    " CROSS JOIN checkins AS c ON c.location_id = l.id WHERE c.arrival < ?"
)
_SQLITE_DELETE_EXPIRED_RANGE = text(
    "DELETE FROM checkins WHERE rowid >= :low AND rowid < :high AND arrival < :cutoff"
).bindparams(bindparam("cutoff", type_=UTCDateTime()))

# Through the (area_id, departure) index: only open visits are looked at.
_SQLITE_CLOSE_OVERDUE = text(
    "UPDATE checkins SET departure = auto_departure WHERE rowid IN ("
    " SELECT c.rowid FROM areas AS a CROSS JOIN checkins AS c"
    " ON c.area_id = a.id AND c.departure IS NULL"
    " WHERE c.auto_departure <= :now LIMIT :batch)"
).bindparams(bindparam("now", type_=UTCDateTime()))


def close_overdue_checkins(
    engine: Engine, clock: Clock, *, between_batches: Callable[[], None] = keep_going
) -> int:
    """Give every visit whose automatic departure has passed that departure."""
    now = clock.now()
    if engine.dialect.name == "sqlite":
        return sqlite_batches(
            engine, _SQLITE_CLOSE_OVERDUE, {"now": now}, between_batches=between_batches
        )
    with engine.begin() as connection:
        return connection.execute(
            update(CheckIn)
            .where(CheckIn.departure.is_(None), CheckIn.auto_departure <= now)
            .values(departure=CheckIn.auto_departure)
        ).rowcount


@dataclass
class CheckinPurge:
    """What the check-in purge removed."""

    rows: int = 0
    partitions: partitions.PartitionReport | None = None
    warnings: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.partitions is not None:
            found["partitions"] = {
                "created": len(self.partitions.created),
                "dropped": self.partitions.dropped,
                "rewritten": self.partitions.rewritten,
                "moved_from_default": self.partitions.moved_from_default,
            }
        if self.warnings:
            found["warnings"] = self.warnings
        return found


def purge_expired_checkins(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    *,
    between_batches: Callable[[], None] = keep_going,
) -> CheckinPurge:
    """Delete every visit that arrived before the retention cut-off."""
    cutoff = retention_cutoff(clock, settings)
    if engine.dialect.name == "sqlite":
        params = {"cutoff": cutoff}
        rows = 0
        stored_cutoff = UTCDateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
        low, top = sqlite_read_row(
            engine,
            _SQLITE_EXPIRED_ROWIDS,
            [stored_cutoff(cutoff) if stored_cutoff is not None else cutoff],
        )
        if low is not None:
            rows = sqlite_rowid_ranges(
                engine,
                _SQLITE_DELETE_EXPIRED_RANGE,
                params,
                low=low,
                top=top,
                between_batches=between_batches,
            )
        # The sweep that makes "deleted on time" hold whatever the rowids: through the
        # index, it finds any expired visit the ranges did not cover (normally none).
        rows += sqlite_batches(
            engine, _SQLITE_DELETE_EXPIRED, params, between_batches=between_batches
        )
        return CheckinPurge(rows=rows)
    with engine.connect() as connection:
        partitioned = partitions.is_partitioned(connection)
    if not partitioned:
        with engine.begin() as connection:
            rows = connection.execute(delete(CheckIn).where(CheckIn.arrival < cutoff)).rowcount
        return CheckinPurge(rows=rows)
    return _purge_partitioned(engine, clock, settings, cutoff)


def _purge_partitioned(
    engine: Engine, clock: Clock, settings: Settings, cutoff: dt.datetime
) -> CheckinPurge:
    """Drop expired days whole, delete the rest of the boundary day, rewrite what had
    rows deleted, and create the coming days' partitions."""
    result = CheckinPurge(partitions=partitions.PartitionReport())
    report = result.partitions
    if report is None:  # pragma: no cover - set just above; narrows the type
        raise RuntimeError("partition report missing")
    try:
        _, result.rows = partitions.drop_expired_partitions(engine, cutoff, report)
    except Exception as exc:
        # The rows are still deleted below, row by row; the drop is retried next run.
        log.warning("could not drop expired partitions (%s); deleting their rows instead", exc)
        result.warnings.append(f"partitions not dropped: {type(exc).__name__}")
    with engine.begin() as connection:
        deleted = partitions.delete_expired_rows(connection, cutoff)
    result.rows += sum(deleted.values())
    if deleted:
        partitions.rewrite_partitions(engine, sorted(deleted), report)
    partitions.ensure_partitions(engine, clock, settings, report)
    return result
