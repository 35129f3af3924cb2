"""Time, always timezone-aware UTC, behind an object that tests can set.

Retention and plausibility rules depend on "now"; services take a clock so that a
test can stand one second before and after a deadline without sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real time in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = start or dt.datetime.now(dt.UTC)
        if self._now.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, moment: dt.datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware time")
        with self._lock:
            self._now = moment.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._now = self._now + delta


def to_berlin(moment: dt.datetime) -> dt.datetime:
    """Times are stored in UTC and shown in Europe/Berlin, where the guests are."""
    return moment.astimezone(BERLIN)
