"""Who is present now, as counts per area: the guest page's "full" notice, the
portal's live view and closing time share one definition of present.

Counting who is present sums every present row of a location: with 20,000 present
that was most of a guest page's time. The "full" notice (guest page and the API's
area endpoint) only informs: nothing is refused when a location is full. So its
count is kept per process for at most FULL_NOTICE_STALENESS (FullNoticeCache), and
the portal's live view, which staff watch, counts afresh each time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from flask import current_app, has_app_context
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from registration.checkin.rules import CLOCK_SKEW, MAX_STAY
from registration.clock import Clock
from registration.models import CheckIn


@dataclass(frozen=True)
class Occupancy:
    """Persons currently present, per area id; counts only, never who."""

    by_area: Mapping[int, int]
    capacity: int | None

    @property
    def total(self) -> int:
        return sum(self.by_area.values())

    @property
    def is_full(self) -> bool:
        return self.capacity is not None and self.total >= self.capacity


def present_at(now: dt.datetime) -> ColumnElement[bool]:
    """A check-in still present at `now`; arrivals over a day old are skipped (partitions)."""
    return and_(
        CheckIn.arrival >= now - MAX_STAY,
        CheckIn.arrival <= now + CLOCK_SKEW,
        CheckIn.auto_departure > now,
        or_(CheckIn.departure.is_(None), CheckIn.departure > now),
    )


class CountedLocation(Protocol):
    """What counting needs of a location: a Location entity or the guest page's values."""

    @property
    def id(self) -> int: ...

    @property
    def capacity(self) -> int | None: ...


# How old the count behind a "full" notice may be. The notice asks a guest at the
# door to ask the staff; a count a few seconds old says the same, and it spares each
# page a sum over everyone present.
FULL_NOTICE_STALENESS = dt.timedelta(seconds=5)
FULL_NOTICE_CACHE_EXTENSION = "gastregister.full_notice_counts"


@dataclass(frozen=True, slots=True)
class _Count:
    by_area: Mapping[int, int]
    counted_at: dt.datetime  # the app's clock: "now" of the sum
    counted_at_monotonic: float


class FullNoticeCache:
    """Per process: each location's count of present persons, for FULL_NOTICE_STALENESS.

    Nothing is shared and nothing needs invalidating: every process (on every app
    host) counts from the database, so a check-out, an automatic departure or a
    deletion shows in every process's notice within the staleness, whichever process
    or host wrote it. A count is used only while both clocks agree it is fresh: the
    monotonic one (a wall-clock step back cannot keep it alive) and the app's clock
    (a wall-clock jump, or a test moving its clock, counts afresh at once).
    """

    def __init__(
        self,
        staleness: dt.timedelta = FULL_NOTICE_STALENESS,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_locations: int = 4096,
    ) -> None:
        self.staleness = staleness
        self._monotonic = monotonic
        self._max_locations = max_locations
        self._counts: OrderedDict[int, _Count] = OrderedDict()
        self._lock = threading.Lock()

    def by_area(self, session: Session, clock: Clock, location_id: int) -> Mapping[int, int]:
        """Persons present per area of `location_id`, counted at most `staleness` ago."""
        now, ticks = clock.now(), self._monotonic()
        limit = self.staleness.total_seconds()
        with self._lock:
            count = self._counts.get(location_id)
        if (
            count is not None
            and 0 <= ticks - count.counted_at_monotonic < limit
            and dt.timedelta(0) <= now - count.counted_at < self.staleness
        ):
            return count.by_area
        # Threads that miss together each count once: no lock is held while the
        # database answers (a stalled database must not queue the page behind a lock).
        by_area = present_by_area(session, now, location_id)
        with self._lock:
            self._counts[location_id] = _Count(by_area, now, ticks)
            self._counts.move_to_end(location_id)
            while len(self._counts) > self._max_locations:
                self._counts.popitem(last=False)
        return by_area


def full_notice_occupancy(session: Session, clock: Clock, location: CountedLocation) -> Occupancy:
    """Occupancy for a "full" notice (guest page, area endpoint): none without a capacity.

    A location without a capacity is never full, so its guests' pages do not sum
    everyone present. With a capacity the count comes from the app's FullNoticeCache
    (at most FULL_NOTICE_STALENESS old), and the capacity is always the current one:
    the page costs the same with 20,000 present as with none.
    """
    if location.capacity is None:
        return Occupancy(by_area={}, capacity=None)
    cache = current_app.extensions.get(FULL_NOTICE_CACHE_EXTENSION) if has_app_context() else None
    if cache is None:
        return occupancy(session, clock, location)
    return Occupancy(by_area=cache.by_area(session, clock, location.id), capacity=location.capacity)


def present_by_area(session: Session, now: dt.datetime, location_id: int) -> dict[int, int]:
    """Persons present at `now` per area of a location, summed in the database."""
    rows = session.execute(
        select(CheckIn.area_id, func.coalesce(func.sum(CheckIn.persons), 0))
        .where(present_at(now), CheckIn.location_id == location_id)
        .group_by(CheckIn.area_id)
    ).all()
    return {int(area_id): int(count) for area_id, count in rows}


def occupancy(session: Session, clock: Clock, location: CountedLocation) -> Occupancy:
    """Persons present per area: not checked out and not past their automatic departure."""
    return Occupancy(
        by_area=present_by_area(session, clock.now(), location.id), capacity=location.capacity
    )
