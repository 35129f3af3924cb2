"""What a guest page may show a few seconds late (checkin.short_cache): read afresh by
one thread at a time, never kept beyond its staleness otherwise."""

from __future__ import annotations

import datetime as dt
import threading

from registration.checkin.short_cache import ShortCache
from registration.clock import FrozenClock

STALENESS = dt.timedelta(seconds=5)


def test_while_one_thread_reads_afresh_the_others_keep_the_value_it_replaces() -> None:
    """Every thread of a worker missed together when a value expired, and each read it
    again: on SQLite, a sum over 20,000 present visits per thread (issue 15)."""
    clock = FrozenClock()
    ticks = [100.0]
    cache: ShortCache[str, int] = ShortCache(STALENESS, max_entries=8, monotonic=lambda: ticks[0])
    assert cache.get("count", clock, lambda _now: 1) == 1
    ticks[0] += STALENESS.total_seconds()  # expired
    reading = threading.Event()
    answer = threading.Event()
    reads: list[str] = []

    def slow_read(_now: dt.datetime) -> int:
        reads.append("first")
        reading.set()
        assert answer.wait(10)
        return 2

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(cache.get("count", clock, slow_read)))
    first.start()
    try:
        assert reading.wait(10)

        def second_read(_now: dt.datetime) -> int:
            reads.append("second")
            return 3

        # At once, without a read of its own: the value being replaced.
        assert cache.get("count", clock, second_read) == 1
    finally:
        answer.set()
        first.join(10)
    assert results == [2]
    assert reads == ["first"]
    assert cache.get("count", clock, second_read) == 2  # the new value, kept


def test_a_value_twice_the_staleness_old_is_read_afresh_even_while_another_thread_reads() -> None:
    clock = FrozenClock()
    ticks = [100.0]
    cache: ShortCache[str, int] = ShortCache(STALENESS, max_entries=8, monotonic=lambda: ticks[0])
    assert cache.get("count", clock, lambda _now: 1) == 1
    ticks[0] += 2 * STALENESS.total_seconds()
    reading = threading.Event()
    answer = threading.Event()

    def stalled_read(_now: dt.datetime) -> int:
        reading.set()
        assert answer.wait(10)
        return 2

    first = threading.Thread(target=lambda: cache.get("count", clock, stalled_read))
    first.start()
    try:
        assert reading.wait(10)
        assert cache.get("count", clock, lambda _now: 3) == 3
        # A step of the wall clock ends a value's life as well, reading or not.
        ticks[0] -= 2 * STALENESS.total_seconds()
        clock.advance(-dt.timedelta(hours=1))
        assert cache.get("count", clock, lambda _now: 4) == 4
    finally:
        answer.set()
        first.join(10)


def test_a_failed_read_leaves_no_thread_marked_as_reading() -> None:
    clock = FrozenClock()
    ticks = [100.0]
    cache: ShortCache[str, int] = ShortCache(STALENESS, max_entries=8, monotonic=lambda: ticks[0])
    assert cache.get("count", clock, lambda _now: 1) == 1
    ticks[0] += STALENESS.total_seconds()

    def failing(_now: dt.datetime) -> int:
        raise RuntimeError("database unavailable")

    try:
        cache.get("count", clock, failing)
    except RuntimeError:
        pass
    else:  # pragma: no cover - the read raises
        raise AssertionError("the failure was swallowed")
    # Nobody reads now: the next thread reads itself instead of keeping the old value.
    assert cache.get("count", clock, lambda _now: 5) == 5
