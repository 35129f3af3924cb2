"""Fail at once for a moment after an outage, instead of every request waiting out its deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class DatabaseRestingError(Exception):
    """Refused without asking the database: it did not answer a moment ago."""


class OutageBreaker:
    """After the database timed out or could not be reached, requests fail at once for
    a moment instead of each waiting out its deadline.

    Every request that waits for a stalled database holds a gunicorn thread; with all
    of a worker's threads waiting, even /healthz queues behind them. So the first
    timeout opens the breaker: for `cooldown_seconds` requests get a 503 (with
    Retry-After) without a database call; then exactly one request goes through to
    find out whether the database is back, and its success closes the breaker. A
    probe that reports nothing (it never reached the database) gives way to the next
    after `probe_seconds`.
    """

    def __init__(
        self,
        cooldown_seconds: float = 1.0,
        probe_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown_seconds = cooldown_seconds
        self.probe_seconds = probe_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._rest_until = 0.0
        self._probe_until = 0.0

    @property
    def resting(self) -> bool:
        """Open and still in its cool-down: the database failed a moment ago."""
        return self._open and self._clock() < self._rest_until

    def admit(self) -> bool:
        """May this request use the database? Cheap while closed (no lock)."""
        if not self._open:
            return True
        with self._lock:
            now = self._clock()
            if not self._open:
                return True
            if now < self._rest_until or now < self._probe_until:
                return False
            self._probe_until = now + self.probe_seconds
            return True

    def succeeded(self) -> None:
        if self._open:
            with self._lock:
                self._open = False
                self._probe_until = 0.0

    def failed(self) -> None:
        with self._lock:
            self._open = True
            self._rest_until = self._clock() + self.cooldown_seconds
            self._probe_until = 0.0
