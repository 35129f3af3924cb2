"""Where a check-in's row lies: its id carries its arrival, its arrival its day.

On PostgreSQL the check-ins are range-partitioned by arrival day (UTC; retention/
partitions.py). A statement a guest's request runs over them names the days it can
touch as constants (arrival_within), so that PostgreSQL leaves out the other days'
partitions when it plans, not only when it runs. psycopg runs a statement prepared
from its sixth execution on a connection, and PostgreSQL then may use a generic plan,
made without the parameters: such a plan locked every partition and each of their
indexes on every execution (a month of days, some 80 locks beyond the 16 a backend
keeps in slots of its own), and the check-ins of several workers queued for the
shared lock table. Under load that was two thirds of the database's CPU per
check-in, and more as the machine got busier (issue 15). A statement's text then
changes once a day, and psycopg prepares the new one.

A check-in's id is a UUIDv7 whose time is its arrival (checkin_id), so a check-out,
which brings only the id, finds its day too (id_window).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, literal

from registration.database import UTCDateTime

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LAST_MILLISECOND = 2**48 - 1
# Around the millisecond an id names: float rounding in checkin_id moves it by one at most.
_ID_MARGIN = dt.timedelta(seconds=1)


def checkin_id(arrival: dt.datetime) -> uuid.UUID:
    """A new check-in's id: a UUIDv7 (RFC 9562) whose time is the visit's arrival.

    Random ids (v4) put each new row at a random place in the primary key's index, so
    the purge, which deletes the oldest visits, rewrote nearly one index page per row
    on SQLite; ids that grow with the arrival keep the expiring visits side by side.
    The id reveals nothing that is not stored beside it: the arrival is plain metadata.
    74 random bits keep ids unguessable and unique within a millisecond.
    """
    millis = max(0, min(int(arrival.timestamp() * 1000), _LAST_MILLISECOND))
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10 (RFC 9562)
    return uuid.UUID(int=value)


def id_window(any_id: uuid.UUID) -> dict[str, dt.datetime] | None:
    """The parameters of arrival_within around the arrival an id names, or None for an
    id that names none: not a version 7 id (older check-ins have random ids), or one at
    the clamped ends of checkin_id's range. Any id a client sends gets a window; one
    that no check-in has is simply not found in it."""
    if any_id.version != 7:
        return None
    millis = any_id.int >> 80
    if not 0 < millis < _LAST_MILLISECOND:
        return None
    try:
        arrival = _EPOCH + dt.timedelta(milliseconds=millis)
        return window_parameters(arrival - _ID_MARGIN, arrival + _ID_MARGIN)
    except OverflowError:  # beyond the year 9999, which datetime cannot hold
        return None


def arrival_within(arrival: Any) -> ColumnElement[bool]:
    """`arrival` from the bound `earliest` to `latest`, and within the UTC days of those
    two written into the statement, from `first_day` to `last_day`'s last microsecond
    (window_parameters): see the module's docstring for why."""
    return and_(
        arrival >= bindparam("earliest"),
        arrival <= bindparam("latest"),
        arrival >= bindparam("first_day", type_=UTCDateTime(), literal_execute=True),
        arrival <= bindparam("last_day", type_=UTCDateTime(), literal_execute=True),
    )


def arrival_between(
    arrival: Any, earliest: dt.datetime, latest: dt.datetime
) -> ColumnElement[bool]:
    """arrival_within for a statement built per call: the window's values given here."""
    days = window_parameters(earliest, latest)
    return and_(
        arrival >= earliest,
        arrival <= latest,
        arrival >= literal(days["first_day"], UTCDateTime(), literal_execute=True),
        arrival <= literal(days["last_day"], UTCDateTime(), literal_execute=True),
    )


def window_parameters(earliest: dt.datetime, latest: dt.datetime) -> dict[str, dt.datetime]:
    """The parameters of arrival_within for the window `earliest` … `latest`: the first
    moment of the first UTC day, the last of the last (no day after it: no overflow at
    the end of the calendar)."""
    return {
        "earliest": earliest,
        "latest": latest,
        "first_day": dt.datetime.combine(earliest.astimezone(dt.UTC).date(), dt.time(), dt.UTC),
        "last_day": dt.datetime.combine(latest.astimezone(dt.UTC).date(), dt.time.max, dt.UTC),
    }
