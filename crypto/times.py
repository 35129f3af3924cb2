"""The one way a time is written in the format: UTC, whole seconds, `Z` suffix.

Key files (`created`), the visit binding of a format-2 record (`arrival`) and export
packages (every time) all use `YYYY-MM-DDTHH:MM:SSZ` (docs/FORMAT.md, §7.3), so a
time written by one part compares byte for byte with the same time written by another.
"""

from __future__ import annotations

import datetime as dt


def format_utc(moment: dt.datetime) -> str:
    """`moment` as `YYYY-MM-DDTHH:MM:SSZ`; ValueError for a naive time (no zone to convert).

    A time already in UTC (what the database hands out) takes a shorter way to the same
    text: an export package writes about three times per visit, and this was a quarter
    of the time to build one for a busy location (bench.export_bench).
    """
    if moment.tzinfo is dt.UTC:
        # The fields as isoformat writes them (the year padded to four digits).
        return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031  # %-formatting: faster than isoformat here
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the time must be timezone-aware")
    # isoformat, not strftime: %Y does not pad years before 1000 on every platform.
    return moment.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
