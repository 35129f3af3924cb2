"""The format's one time form (crypto.format_utc): the same text for the same instant,
whichever zone the time carries, and UTC times (what the database hands out) by a
shorter way to exactly that text."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crypto import format_utc

INSTANTS = [
    dt.datetime(2026, 11, 20, 10, 0, 5, 123_456, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC),  # Berlin's clock jumps at 01:00 UTC
    dt.datetime(999, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # a year of three digits, padded
    dt.datetime(1, 1, 2, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
]


def _by_parts(moment: dt.datetime) -> str:
    """The form spelt out field by field, independently of format_utc's own code."""
    utc = moment.astimezone(dt.UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


@pytest.mark.parametrize("moment", INSTANTS, ids=str)
def test_a_utc_time_is_written_to_the_second_with_z(moment: dt.datetime) -> None:
    assert format_utc(moment) == _by_parts(moment)


@pytest.mark.parametrize("moment", INSTANTS[:2], ids=str)
@pytest.mark.parametrize(
    "zone",
    ["UTC", dt.timezone(dt.timedelta(hours=5, minutes=30)), "Europe/Berlin"],
    ids=str,
)
def test_the_same_instant_in_another_zone_gives_the_same_text(
    moment: dt.datetime, zone: dt.tzinfo | str
) -> None:
    local = moment.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)
    assert local.tzinfo is not dt.UTC
    assert format_utc(local) == format_utc(moment) == _by_parts(moment)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_utc(dt.datetime(2026, 11, 20, 10, 0))
