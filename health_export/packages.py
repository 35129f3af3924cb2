"""Reading an export package: the health office's half, offline.

`parse_package` checks the header, the length and the SHA-256 before anything is
opened. The offline CLI (`gastregister decrypt`) reads packages with it; the browser
does the same in static/js/export-package.js. The format is the server's
(registration.tracing.packages builds it, docs/FORMAT.md §11 describes it).

The SHA-256 is unkeyed: it catches a truncated or garbled download, not a deliberate
change, since whoever can change the content can recompute it. What the office can
rely on comes from the sealed records and the per-visit checks in decryption.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from crypto.package_format import PACKAGE_FORMAT, PACKAGE_VERSION


class PackageFormatError(Exception):
    """An export package file that cannot be read: wrong format, truncated or altered.

    Raised by the parser that the offline CLI uses, so the message is plain English
    text without Flask; `kind` is stable: not_a_package, unsupported_version,
    truncated, integrity, malformed.
    """

    MESSAGES = {  # noqa: RUF012 - a constant table, never mutated
        "not_a_package": "This file is not a Gastregister export package.",
        "unsupported_version": "This export package uses a format version that is not supported.",
        "truncated": "The export package is incomplete (truncated). Download it again.",
        "integrity": (
            "The export package failed its integrity check (SHA-256): it was changed "
            "after it was made. Download it again."
        ),
        "malformed": "The export package is damaged and cannot be read. Download it again.",
    }

    def __init__(self, kind: str) -> None:
        super().__init__(self.MESSAGES[kind])
        self.kind = kind


# The header line with its line feed is at most this long: the 0x0A is one of the
# first 4096 bytes (docs/FORMAT.md §11.1).
HEADER_MAX = 4096
_HEADER_MEMBERS = frozenset(("format", "version", "contentLength", "contentSha256"))
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_PACKAGE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def parse_time(text: str) -> dt.datetime | None:
    """Package times are `YYYY-MM-DDTHH:MM:SSZ`; anything else makes a record damaged."""
    if not _PACKAGE_TIME.fullmatch(text):
        return None
    try:
        # fromisoformat, not strptime: the same strict format (checked above) at a tenth
        # of the cost, which matters with five times per visit and 50,000 visits.
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class PackageRecord:
    """One visit in a package. Fields stay as found: a damaged record is reported when
    it is opened, never dropped while parsing."""

    index: int
    area: str
    arrival: str
    departure: str | None
    auto_departure: str
    persons: int
    source: str
    key_id: str
    envelope: str
    # The server received it after the late-arrival window (docs/FORMAT.md §11.1).
    delivered_late: bool = False


@dataclass(frozen=True)
class ParsedPackage:
    sha256: str
    request: dict[str, Any]
    location: dict[str, Any]
    areas: list[dict[str, Any]]
    records: list[PackageRecord]
    package: dict[str, Any] = field(default_factory=dict)
    damaged: list[tuple[int, str]] = field(default_factory=list)

    def area_name(self, code: str) -> str:
        for area in self.areas:
            if area.get("code") == code:
                return str(area.get("name", code))
        return code


class _StrictJsonError(ValueError):
    """A JSON text that JSON.parse would read differently, or that repeats a member name."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _StrictJsonError
    return obj


def _reject_constant(_name: str) -> None:
    raise _StrictJsonError  # NaN, Infinity, -Infinity are not JSON


def _is_number(value: object, expected: int) -> bool:
    """JSON has one number type: 1 and 1.0 are the same number; true is not one."""
    return type(value) in (int, float) and value == expected


def _header(data: bytes) -> tuple[dict[str, Any], memoryview]:
    newline = data.find(b"\n", 0, HEADER_MAX)
    if newline < 0:
        # A download cut inside the header line is truncated; anything longer without a
        # line feed where the header must end is not a package at all.
        short_json = len(data) < HEADER_MAX and data.startswith(b"{")
        raise PackageFormatError("truncated" if short_json else "not_a_package")
    line = data[:newline]
    try:
        if not line.isascii():
            raise _StrictJsonError
        header = json.loads(
            line, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        raise PackageFormatError("not_a_package") from None
    if not isinstance(header, dict) or header.get("format") != PACKAGE_FORMAT:
        raise PackageFormatError("not_a_package")
    if not _is_number(header.get("version"), PACKAGE_VERSION):
        raise PackageFormatError("unsupported_version")
    # A view, not a copy: the content of a 50,000-visit package is 57 MB.
    return header, memoryview(data)[newline + 1 :]


def _content_length(header: dict[str, Any]) -> int:
    """The header's contentLength and contentSha256 are well-formed; the length."""
    length = header.get("contentLength")
    digest = header.get("contentSha256")
    if (
        set(header) != _HEADER_MEMBERS
        or not isinstance(digest, str)
        or not _SHA256_HEX.fullmatch(digest)
        or type(length) not in (int, float)
    ):
        raise PackageFormatError("malformed")
    # The limit is JavaScript's largest safe integer, so both readers accept the same.
    if isinstance(length, float) and not length.is_integer():
        raise PackageFormatError("malformed")
    number = int(length) if isinstance(length, int | float) else -1
    if not 0 <= number <= 2**53 - 1:
        raise PackageFormatError("malformed")
    return number


def _load_content(content: memoryview) -> object:
    try:
        # Repeated members keep the last value, as JSON.parse does in the browser; NaN
        # and Infinity, which JSON.parse refuses, are refused here too.
        return json.loads(str(content, "utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        pass
    raise PackageFormatError("malformed")


def _checked_content(content: memoryview, digest: str) -> object:
    """The content read as JSON once its SHA-256 is the header's; else integrity.

    The hash runs in a thread while the JSON is read (hashlib lets go of the GIL for
    long inputs), so the 57 MB of a 50,000-visit package cost one pass, not two. What
    was read is returned only after the hash matched, and a failed hash wins over
    JSON that cannot be read, as if the hash had come first.
    """
    hashed: list[str] = []
    hashing = threading.Thread(
        target=lambda: hashed.append(hashlib.sha256(content).hexdigest()), daemon=True
    )
    hashing.start()
    try:
        body = _load_content(content)
    except PackageFormatError:
        body = _UNREADABLE
    hashing.join()
    if hashed != [digest]:
        raise PackageFormatError("integrity")
    if body is _UNREADABLE:
        raise PackageFormatError("malformed")
    return body


_UNREADABLE = object()


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_package(data: bytes) -> ParsedPackage:
    """Check header, length and SHA-256, then read the content; damaged records stay listed."""
    header, content = _header(data)
    length = _content_length(header)
    digest: str = header["contentSha256"]
    if len(content) < length:
        raise PackageFormatError("truncated")
    if len(content) > length:
        raise PackageFormatError("integrity")
    body = _checked_content(content, digest)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise PackageFormatError("malformed")
    request = body.get("request")
    location = body.get("location")
    areas = body.get("areas")
    if (
        not isinstance(request, dict)
        or not isinstance(location, dict)
        or not isinstance(areas, list)
        or not _is_window(request)
    ):
        raise PackageFormatError("malformed")
    records: list[PackageRecord] = []
    damaged: list[tuple[int, str]] = []
    for index, item in enumerate(body["records"]):
        record = _record(index, item)
        if record is None:
            damaged.append((index, "malformed"))
        else:
            records.append(record)
    package_info = body.get("package")
    return ParsedPackage(
        sha256=digest,
        request=request,
        location=location,
        areas=[area for area in areas if isinstance(area, dict)],
        records=records,
        package=package_info if isinstance(package_info, dict) else {},
        damaged=damaged,
    )


def _is_window(request: dict[str, Any]) -> bool:
    """The request's window and areas, which every visit is checked against."""
    start, end, areas = request.get("windowStart"), request.get("windowEnd"), request.get("areas")
    return (
        isinstance(start, str)
        and isinstance(end, str)
        and parse_time(start) is not None
        and parse_time(end) is not None
        and isinstance(areas, list)
        and all(isinstance(code, str) for code in areas)
    )


def _record(index: int, item: object) -> PackageRecord | None:
    if not isinstance(item, dict):
        return None
    persons = item.get("persons")
    departure = item.get("departure")
    fields = (
        item.get("area"),
        item.get("arrival"),
        item.get("autoDeparture"),
        item.get("envelope"),
    )
    if not all(isinstance(value, str) for value in fields):
        return None
    # 2 and 2.0 are the same JSON number (the browser cannot tell them apart).
    if isinstance(persons, float) and persons.is_integer():
        persons = int(persons)
    if type(persons) is not int:
        return None
    if departure is not None and not isinstance(departure, str):
        return None
    # Absent in packages from before the mark, and in every timely record.
    delivered_late = item.get("deliveredLate", False)
    if not isinstance(delivered_late, bool):
        return None
    return PackageRecord(
        index=index,
        area=_text(item.get("area")),
        arrival=_text(item.get("arrival")),
        departure=departure,
        auto_departure=_text(item.get("autoDeparture")),
        persons=persons,
        source=_text(item.get("source")),
        key_id=_text(item.get("keyId")),
        envelope=_text(item.get("envelope")),
        delivered_late=delivered_late,
    )


def passphrase_from_file(data: bytes) -> str:
    """The passphrase in a --passphrase-file (docs/FORMAT.md §11.5): its first line.

    The first line only, so a note below it (or an older demo file's warning) is no part
    of it; split at the line feed alone (not at every character Python counts as a line
    break, some of which may be part of a passphrase), without a CR before it and
    without a BOM, so a file saved by any editor gives the passphrase that was typed. UnicodeDecodeError
    for a file that is not UTF-8.
    """
    text = data.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    return first.removesuffix("\r")
