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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from flask import current_app, has_app_context
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from registration.checkin.arrival_days import arrival_between
from registration.checkin.rules import CLOCK_SKEW, MAX_STAY
from registration.checkin.short_cache import ShortCache
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
    """A check-in still present at `now`; arrivals over a day old are skipped, and so are
    the other days' partitions (arrival_days)."""
    return and_(
        arrival_between(CheckIn.arrival, now - MAX_STAY, now + CLOCK_SKEW),
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


class FullNoticeCache:
    """Per process: each location's count of present persons, for FULL_NOTICE_STALENESS
    (short_cache.ShortCache: why a late count is right everywhere)."""

    def __init__(
        self,
        staleness: dt.timedelta = FULL_NOTICE_STALENESS,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_locations: int = 4096,
    ) -> None:
        self._counts: ShortCache[int, Mapping[int, int]] = ShortCache(
            staleness, max_entries=max_locations, monotonic=monotonic
        )

    def by_area(
        self, sessions: Callable[[], Session], clock: Clock, location_id: int
    ) -> Mapping[int, int]:
        """Persons present per area of `location_id`, counted at most the staleness ago;
        `sessions` gives the session to count with, called only when counting."""
        return self._counts.get(
            location_id, clock, lambda now: present_by_area(sessions(), now, location_id)
        )


def full_notice_occupancy(session: Session, clock: Clock, location: CountedLocation) -> Occupancy:
    """full_notice with the request's session at hand (the API's area endpoint)."""
    return full_notice(lambda: session, clock, location)


def full_notice(
    sessions: Callable[[], Session], clock: Clock, location: CountedLocation
) -> Occupancy:
    """Occupancy for a "full" notice (guest page, area endpoint): none without a capacity.

    A location without a capacity is never full, so its guests' pages do not sum
    everyone present. With a capacity the count comes from the app's FullNoticeCache
    (at most FULL_NOTICE_STALENESS old), and the capacity is always the current one:
    the page costs the same with 20,000 present as with none. `sessions` gives the
    session to count with; it is called only when a count is due.
    """
    if location.capacity is None:
        return Occupancy(by_area={}, capacity=None)
    cache = current_app.extensions.get(FULL_NOTICE_CACHE_EXTENSION) if has_app_context() else None
    if cache is None:
        return occupancy(sessions(), clock, location)
    return Occupancy(
        by_area=cache.by_area(sessions, clock, location.id), capacity=location.capacity
    )


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
