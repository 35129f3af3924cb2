"""Who is present now, as counts per area: the guest page's "full" notice, the
portal's live view and closing time share one definition of present.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from registration.checkin.rules import CLOCK_SKEW, MAX_STAY
from registration.clock import Clock
from registration.models import CheckIn, Location


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


def full_notice_occupancy(session: Session, clock: Clock, location: Location) -> Occupancy:
    """Occupancy for a "full" notice (guest page, area endpoint): none without a capacity.

    A location without a capacity is never full, so its guests' pages do not sum
    everyone present: the page costs the same with 20,000 present as with none.
    """
    if location.capacity is None:
        return Occupancy(by_area={}, capacity=None)
    return occupancy(session, clock, location)


def occupancy(session: Session, clock: Clock, location: Location) -> Occupancy:
    """Persons present per area: not checked out and not past their automatic departure."""
    now = clock.now()
    rows = session.execute(
        select(CheckIn.area_id, func.coalesce(func.sum(CheckIn.persons), 0))
        .where(present_at(now), CheckIn.location_id == location.id)
        .group_by(CheckIn.area_id)
    ).all()
    return Occupancy(
        by_area={int(area_id): int(count) for area_id, count in rows}, capacity=location.capacity
    )
