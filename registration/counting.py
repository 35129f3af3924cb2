"""Counts of rows over time (check-ins by arrival, businesses by registration), in
buckets of Berlin hours, days or months.

Buckets are cut in Europe/Berlin, where the guests are, and counted with one query:
a CASE over the bucket edges, so SQLite and PostgreSQL agree and a day with a clock
change simply has 23 or 25 hours. Only numbers leave this module, never a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from registration.clock import BERLIN


@dataclass(frozen=True)
class Bucket:
    """A half-open span [start, end) in UTC with the local moment it is named after."""

    start: dt.datetime
    end: dt.datetime
    local_start: dt.datetime


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=BERLIN)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(BERLIN).date()


def hours_of_day(day: dt.date) -> list[Bucket]:
    """The hours of one Berlin day (23, 24 or 25 of them)."""
    start = _utc(_local_midnight(day))
    end = _utc(_local_midnight(day + dt.timedelta(days=1)))
    hours = []
    moment = start
    while moment < end:
        hours.append(Bucket(moment, moment + dt.timedelta(hours=1), moment.astimezone(BERLIN)))
        moment += dt.timedelta(hours=1)
    return hours


def last_hours(now: dt.datetime, count: int = 24) -> list[Bucket]:
    """The last `count` whole hours up to and including the current one."""
    current = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    first = current - dt.timedelta(hours=count - 1)
    return [
        Bucket(start, start + dt.timedelta(hours=1), start.astimezone(BERLIN))
        for start in (first + dt.timedelta(hours=i) for i in range(count))
    ]


def last_days(today: dt.date, count: int = 28) -> list[Bucket]:
    """The last `count` Berlin days up to and including `today`."""
    days = [today - dt.timedelta(days=count - 1 - i) for i in range(count)]
    return [
        Bucket(
            _utc(_local_midnight(day)),
            _utc(_local_midnight(day + dt.timedelta(days=1))),
            _local_midnight(day),
        )
        for day in days
    ]


def last_months(today: dt.date, count: int = 12) -> list[Bucket]:
    """The last `count` calendar months (Berlin) up to and including the current one."""
    months: list[dt.date] = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    months.reverse()
    buckets = []
    for first in months:
        following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        buckets.append(
            Bucket(
                _utc(_local_midnight(first)),
                _utc(_local_midnight(following)),
                _local_midnight(first),
            )
        )
    return buckets


def count_in_buckets(
    session: Session,
    column: InstrumentedAttribute[dt.datetime],
    buckets: Sequence[Bucket],
    *conditions: Any,
) -> list[int]:
    """How many rows have `column` in each bucket (contiguous buckets), with `conditions`."""
    if not buckets:
        return []
    index = case(
        *((column < bucket.end, number) for number, bucket in enumerate(buckets)),
        else_=len(buckets),
    )
    rows = session.execute(
        select(index, func.count())
        .where(column >= buckets[0].start, column < buckets[-1].end, *conditions)
        .group_by(index)
    ).all()
    counts = [0] * len(buckets)
    for number, count in rows:
        if 0 <= number < len(buckets):
            counts[number] = int(count)
    return counts
