"""Values a guest page may show a few seconds late, kept per process for that long.

The guest page is read far more often than what it shows changes; reading it from
the database for every page was most of its cost. What it shows late is harmless
and said where each cache is made: the count behind the "full" notice
(occupancy.FullNoticeCache) and the area's names and key (views.page). Check-ins
themselves never use a kept value: the API and the form read the area afresh.

Nothing is shared and nothing is invalidated: every process on every app host reads
from the database, so a change made anywhere shows everywhere within the staleness.
A value is used only while both clocks agree it is fresh: the monotonic one (a step
of the wall clock back cannot keep a value alive) and the app's clock (a jump of the
wall clock, or a test moving its clock, reads afresh at once).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from registration.clock import Clock

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


@dataclass(frozen=True, slots=True)
class _Kept(Generic[Value]):
    value: Value
    read_at: dt.datetime  # by the app's clock
    read_at_monotonic: float


class ShortCache(Generic[Key, Value]):
    """At most `max_entries` values, each used for at most `staleness`, oldest use dropped first."""

    def __init__(
        self,
        staleness: dt.timedelta,
        *,
        max_entries: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.staleness = staleness
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[Key, _Kept[Value]] = OrderedDict()
        self._reading: set[Key] = set()  # keys a thread is reading afresh now
        self._lock = threading.Lock()

    def get(self, key: Key, clock: Clock, read: Callable[[dt.datetime], Value]) -> Value:
        """The value kept under `key` if it is fresh, else `read(now)`, kept from now on.

        One thread at a time reads a value afresh: while it does, the others keep using
        the value it replaces, up to twice the staleness old (by both clocks), instead of
        each reading too. Every thread of every worker missed together when a count
        expired, and on SQLite, where the database works in the worker, summing 20,000
        present visits per thread halved the pages a worker served (issue 15). No lock is
        held while the database answers, so a stalled database cannot queue pages behind
        a lock; with nothing kept, or a value older than that, a thread reads itself.
        """
        now, ticks = clock.now(), self._monotonic()
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:
                if self._fresh(kept, now, ticks, self.staleness):
                    return kept.value
                if key in self._reading and self._fresh(kept, now, ticks, 2 * self.staleness):
                    return kept.value
            self._reading.add(key)
        try:
            value = read(now)
        finally:
            with self._lock:
                self._reading.discard(key)
        with self._lock:
            self._entries[key] = _Kept(value, now, ticks)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    @staticmethod
    def _fresh(kept: _Kept[Value], now: dt.datetime, ticks: float, staleness: dt.timedelta) -> bool:
        return (
            0 <= ticks - kept.read_at_monotonic < staleness.total_seconds()
            and dt.timedelta(0) <= now - kept.read_at < staleness
        )
