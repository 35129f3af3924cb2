"""The live view: how many guests are present, per area and in total, and closing time.

Counts only, never who: the page polls these figures and shows nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.checkin.arrival_days import arrival_between
from registration.checkin.checkout import check_out_all
from registration.checkin.occupancy import occupancy
from registration.checkin.rules import CLOCK_SKEW
from registration.clock import BERLIN, Clock
from registration.models import CheckIn, Location, User


@dataclass(frozen=True)
class AreaCount:
    area_id: int
    name: str
    present: int


@dataclass(frozen=True)
class LiveCounts:
    """What the live view shows: numbers only, never who."""

    present: int
    capacity: int | None
    today_checkins: int
    today_persons: int
    areas: list[AreaCount]
    as_of: dt.datetime

    @property
    def percent_of_capacity(self) -> int | None:
        if not self.capacity:
            return None
        return min(100, round(100 * self.present / self.capacity))

    def as_json(self) -> dict[str, object]:
        return {
            "present": self.present,
            "capacity": self.capacity,
            "percentOfCapacity": self.percent_of_capacity,
            "todayCheckins": self.today_checkins,
            "todayPersons": self.today_persons,
            "areas": [
                {"id": area.area_id, "name": area.name, "present": area.present}
                for area in self.areas
            ],
            "asOf": self.as_of.isoformat(),
        }


def start_of_local_day(moment: dt.datetime) -> dt.datetime:
    local = moment.astimezone(BERLIN)
    midnight = dt.datetime.combine(local.date(), dt.time(), tzinfo=BERLIN)
    return midnight.astimezone(dt.UTC)


def live_counts(session: Session, clock: Clock, location: Location) -> LiveCounts:
    now = clock.now()
    present = occupancy(session, clock, location)
    # The days written into the statement (arrival_days): the view polls, so its
    # statements are soon prepared, and a generic plan would lock every day's partition.
    today = session.execute(
        select(func.count(CheckIn.id), func.coalesce(func.sum(CheckIn.persons), 0)).where(
            CheckIn.location_id == location.id,
            arrival_between(CheckIn.arrival, start_of_local_day(now), now + CLOCK_SKEW),
        )
    ).one()
    areas = [
        AreaCount(area.id, area.name, int(present.by_area.get(area.id, 0)))
        for area in location.areas
        if area.archived_at is None or present.by_area.get(area.id)
    ]
    return LiveCounts(
        present=present.total,
        capacity=location.capacity,
        today_checkins=int(today[0]),
        today_persons=int(today[1]),
        areas=areas,
        as_of=now,
    )


def check_out_everyone(session: Session, clock: Clock, location: Location, *, by: User) -> int:
    """Closing time: end every open visit now. Repeating it is harmless (0 the second time)."""
    count = check_out_all(session, clock, location)
    record_event(
        session,
        clock,
        action="checkins.checked_out_all",
        actor=by,
        business_id=location.business_id,
        location_id=location.id,
        details={"visits": count},
    )
    session.commit()
    return count
