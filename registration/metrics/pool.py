"""This process's connection pool as gauges, kept current by the pool's own events."""

from __future__ import annotations

import functools
import weakref
from typing import Any

from prometheus_client import Gauge
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.pool import Pool, QueuePool


class _PoolGauges:
    """This process's connection pool, created when a serving process starts watching it.

    `liveall`: in multiprocess mode each live process has its own series (a `pid`
    label), and gunicorn's child_exit hook drops a dead worker's.
    """

    def __init__(self) -> None:
        self.checked_out = Gauge(
            "gastregister_db_pool_checked_out",
            "Database connections in use, per process.",
            registry=None,
            multiprocess_mode="liveall",
        )
        self.size = Gauge(
            "gastregister_db_pool_size",
            "Configured size of the database connection pool, per process.",
            registry=None,
            multiprocess_mode="liveall",
        )
        self.overflow = Gauge(
            "gastregister_db_pool_overflow",
            "Database connections open beyond the pool size, per process.",
            registry=None,
            multiprocess_mode="liveall",
        )
        self.collectors: tuple[Collector, ...] = (self.checked_out, self.size, self.overflow)


@functools.cache
def _pool_gauges() -> _PoolGauges:
    return _PoolGauges()


def pool_collectors() -> tuple[Collector, ...]:
    """The pool gauges, if this process ever watched a pool (else none: no stale files)."""
    if _pool_gauges.cache_info().currsize:
        return _pool_gauges().collectors
    return ()


# What the gauges hold (checked out, size, overflow): an event writes only what changed.
_pool_written: list[tuple[int, int, int]] = [(-1, -1, -1)]


def _record_pool(pool: QueuePool, *, returning: bool) -> None:
    """Write this process's pool state after the event that is happening.

    SQLAlchemy fires `checkin` before the connection is back in the pool (and before
    a connection beyond the pool size is closed), so that case is computed ahead.
    Threads may interleave, so a gauge can lag by one event; the next one corrects it.
    """
    size = pool.size()
    checked_out = pool.checkedout()
    idle = pool.checkedin()
    if returning:
        checked_out -= 1
        idle = min(idle + 1, size)
    state = (max(checked_out, 0), size, max(checked_out + idle - size, 0))
    previous = _pool_written[0]
    if state == previous:
        return
    _pool_written[0] = state
    gauges = _pool_gauges()
    if state[0] != previous[0]:
        gauges.checked_out.set(state[0])
    if state[1] != previous[1]:
        gauges.size.set(state[1])
    if state[2] != previous[2]:
        gauges.overflow.set(state[2])


_watched_pools: weakref.WeakSet[Pool] = weakref.WeakSet()


def watch_pool(pool: Pool) -> None:
    """Keep the pool gauges current from the pool's own events (once per pool)."""
    if not isinstance(pool, QueuePool) or pool in _watched_pools:
        return
    _watched_pools.add(pool)

    def checked_out(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        _record_pool(pool, returning=False)

    def checked_in(_dbapi_connection: Any, _record: Any) -> None:
        _record_pool(pool, returning=True)

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    _record_pool(pool, returning=False)
