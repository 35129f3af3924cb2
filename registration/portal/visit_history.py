"""A location's visits over time: per hour (last 24 hours or one day) and per day
(last 28 days), counted from the check-in rows by arrival.

Counts only: the rows' sealed contact data is never read (the server cannot), and
nothing finer than an hour is shown. A day outside the retention period simply
counts zero, because its rows are gone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.counting import (
    Bucket,
    count_in_buckets,
    hours_of_day,
    last_days,
    last_hours,
    local_today,
)
from registration.models import CheckIn, Location

DAYS = 28


@dataclass(frozen=True)
class Counts:
    """Buckets and their numbers of check-ins, in order."""

    buckets: list[Bucket]
    values: list[int]

    @property
    def total(self) -> int:
        return sum(self.values)


def _counts(session: Session, location: Location, buckets: list[Bucket]) -> Counts:
    values = count_in_buckets(session, CheckIn.arrival, buckets, CheckIn.location_id == location.id)
    return Counts(buckets, values)


def hourly(session: Session, clock: Clock, location: Location, day: dt.date | None) -> Counts:
    """Check-ins per hour of a Berlin `day`, or of the last 24 hours when `day` is None."""
    buckets = hours_of_day(day) if day is not None else last_hours(clock.now())
    return _counts(session, location, buckets)


def daily(session: Session, clock: Clock, location: Location, days: int = DAYS) -> Counts:
    """Check-ins per Berlin day of the last `days` days, today included."""
    return _counts(session, location, last_days(local_today(clock.now()), days))


def daily_csv(counts: Counts) -> bytes:
    """`date;count` per day, UTF-8 with a byte-order mark so Excel reads it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["date", "count"])
    for bucket, value in zip(counts.buckets, counts.values, strict=True):
        writer.writerow([bucket.local_start.date().isoformat(), value])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
