"""Reading an export package: the health office's half, offline.

`parse_package` checks the header, the length and the SHA-256 before anything is
opened. The offline CLI (`gastregister decrypt`) reads packages with it; the browser
does the same in static/js/decrypt-rows.js. The format is the server's
(registration.tracing.packages builds it, docs/FORMAT.md describes it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from health_export.errors import PackageFormatError
from registration.tracing.packages import PACKAGE_FORMAT, PACKAGE_VERSION

_HEADER_MAX = 4096


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


def _header(data: bytes) -> tuple[dict[str, Any], bytes]:
    newline = data.find(b"\n", 0, _HEADER_MAX)
    if newline < 0:
        raise PackageFormatError("not_a_package" if not data.startswith(b"{") else "truncated")
    try:
        header = json.loads(data[:newline])
    except (ValueError, UnicodeDecodeError):
        raise PackageFormatError("not_a_package") from None
    if not isinstance(header, dict) or header.get("format") != PACKAGE_FORMAT:
        raise PackageFormatError("not_a_package")
    if header.get("version") != PACKAGE_VERSION:
        raise PackageFormatError("unsupported_version")
    return header, data[newline + 1 :]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_package(data: bytes) -> ParsedPackage:
    """Check header, length and SHA-256, then read the content; damaged records stay listed."""
    header, content = _header(data)
    length = header.get("contentLength")
    digest = header.get("contentSha256")
    if not isinstance(length, int) or not isinstance(digest, str):
        raise PackageFormatError("malformed")
    if len(content) < length:
        raise PackageFormatError("truncated")
    if len(content) > length or hashlib.sha256(content).hexdigest() != digest:
        raise PackageFormatError("integrity")
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise PackageFormatError("malformed") from None
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise PackageFormatError("malformed")
    request = body.get("request")
    location = body.get("location")
    areas = body.get("areas")
    if (
        not isinstance(request, dict)
        or not isinstance(location, dict)
        or not isinstance(areas, list)
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
    if not isinstance(persons, int) or isinstance(persons, bool):
        return None
    if departure is not None and not isinstance(departure, str):
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
    )
