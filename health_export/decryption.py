"""Opening an export package offline and turning its visits into rows.

The browser (static/js/decrypt-rows.js) does exactly the same, column for column
and byte for byte: the same German texts (export_layout.py), the same Europe/Berlin times,
the same treatment of additional persons. A record that cannot be opened is never
dropped: it is listed with its visit number and the reason.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

import crypto
from health_export.export_layout import NO, SOURCE_LABELS, YES
from health_export.packages import PackageRecord, ParsedPackage
from registration.clock import BERLIN

NUMERIC_COLUMNS = frozenset({0, 1, 6})
ADDRESS_FIELDS = ("street", "houseNumber", "zipCode", "city")
PARALLEL_THRESHOLD = 4000
_PACKAGE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


@dataclass(frozen=True)
class OpenedVisit:
    """One opened visit: the package metadata and the contact record (in memory only)."""

    number: int
    area_code: str
    area_name: str
    arrival: dt.datetime
    departure: dt.datetime
    departure_is_automatic: bool
    persons: int
    source: str
    key_id: str
    record: dict[str, Any]


@dataclass(frozen=True)
class FailedVisit:
    number: int
    area_code: str
    arrival: str
    kind: str

    def describe(self, package: ParsedPackage) -> str:
        when = self.arrival
        moment = parse_time(self.arrival)
        if moment is not None:
            when = berlin_text(moment)
        return (
            f"visit {self.number} ({package.area_name(self.area_code)}, {when}): "
            f"could not be opened ({self.kind})"
        )


@dataclass(frozen=True)
class DecryptionResult:
    visits: list[OpenedVisit]
    failures: list[FailedVisit]


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


def berlin_text(moment: dt.datetime) -> str:
    """`YYYY-MM-DD HH:MM` in Europe/Berlin: what people in the health office read."""
    return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")


# --- opening ---------------------------------------------------------------------------

_worker_keys: list[ec.EllipticCurvePrivateKey] = []
_worker_location = ""


def _open_one(
    keys: Sequence[ec.EllipticCurvePrivateKey], location_code: str, item: tuple[str, str]
) -> dict[str, Any] | str:
    """The record, or the error kind as a string."""
    area_code, envelope_text = item
    try:
        envelope = crypto.decode_envelope(envelope_text)
        return crypto.open_with_any_key(
            keys, envelope, location_code=location_code, area_code=area_code
        )
    except crypto.SealedRecordError as error:
        return error.kind.value
    except ValueError:
        return "malformed"


def _open_chunk(items: list[tuple[str, str]]) -> list[dict[str, Any] | str]:
    return [_open_one(_worker_keys, _worker_location, item) for item in items]


def _open_all(
    keys: Sequence[ec.EllipticCurvePrivateKey],
    location_code: str,
    items: list[tuple[str, str]],
    jobs: int,
) -> list[dict[str, Any] | str]:
    """Open in forked worker processes when there are many records (HPKE is CPU-bound).

    The workers inherit the keys by fork, so the private key is never serialised; with
    no fork on this platform everything runs in this process.
    """
    global _worker_keys, _worker_location
    if (
        jobs <= 1
        or len(items) < PARALLEL_THRESHOLD
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return [_open_one(keys, location_code, item) for item in items]
    _worker_keys, _worker_location = list(keys), location_code
    try:
        size = max(500, len(items) // (jobs * 4))
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            results: list[dict[str, Any] | str] = []
            for part in pool.map(_open_chunk, chunks):
                results.extend(part)
            return results
    finally:
        _worker_keys, _worker_location = [], ""


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def open_package(
    package: ParsedPackage,
    keys: Sequence[ec.EllipticCurvePrivateKey],
    *,
    jobs: int = 1,
) -> DecryptionResult:
    """Open every record with the given keys; failures are listed, never dropped."""
    location_code = str(package.location.get("code", ""))
    failures = [
        FailedVisit(number=index + 1, area_code="", arrival="", kind=kind)
        for index, kind in package.damaged
    ]
    candidates: list[PackageRecord] = []
    for record in package.records:
        if (
            parse_time(record.arrival) is None
            or parse_time(record.auto_departure) is None
            or (record.departure is not None and parse_time(record.departure) is None)
        ):
            failures.append(FailedVisit(record.index + 1, record.area, record.arrival, "malformed"))
        else:
            candidates.append(record)
    outcomes = _open_all(
        keys, location_code, [(record.area, record.envelope) for record in candidates], jobs
    )
    visits: list[OpenedVisit] = []
    for record, outcome in zip(candidates, outcomes, strict=True):
        if isinstance(outcome, str):
            failures.append(FailedVisit(record.index + 1, record.area, record.arrival, outcome))
            continue
        arrival = parse_time(record.arrival)
        auto_departure = parse_time(record.auto_departure)
        departure = parse_time(record.departure) if record.departure is not None else None
        if arrival is None or auto_departure is None:  # checked above; keeps mypy precise
            continue
        visits.append(
            OpenedVisit(
                number=record.index + 1,
                area_code=record.area,
                area_name=package.area_name(record.area),
                arrival=arrival,
                departure=departure or auto_departure,
                departure_is_automatic=departure is None,
                persons=record.persons,
                source=record.source,
                key_id=record.key_id,
                record=outcome,
            )
        )
    failures.sort(key=lambda failure: failure.number)
    return DecryptionResult(visits=visits, failures=failures)


# --- rows ------------------------------------------------------------------------------

Row = list[str | int]


def _person_rows(visit: OpenedVisit) -> list[dict[str, str]]:
    record = visit.record
    main = {
        name: str(record.get(name, ""))
        for name in ("firstName", "lastName", *ADDRESS_FIELDS, "phone", "email")
    }
    main["note"] = str(record.get("note", ""))
    people = [main]
    for extra in record.get("additionalPersons", []):
        person = {
            name: str(extra.get(name, ""))
            for name in ("firstName", "lastName", *ADDRESS_FIELDS, "phone", "email")
        }
        if extra.get("sameAddress") is True:
            for name in ADDRESS_FIELDS:
                if not person[name]:
                    person[name] = main[name]
        person["note"] = ""
        people.append(person)
    return people


def visit_rows(visits: Sequence[OpenedVisit]) -> list[Row]:
    """One row per person (guest and every additional person), in package order."""
    rows: list[Row] = []
    for visit in visits:
        common: list[str | int] = [
            visit.area_name,
            berlin_text(visit.arrival),
            berlin_text(visit.departure),
            YES if visit.departure_is_automatic else NO,
            visit.persons,
            SOURCE_LABELS.get(visit.source, visit.source),
        ]
        for position, person in enumerate(_person_rows(visit), start=1):
            rows.append(
                [
                    visit.number,
                    position,
                    *common,
                    person["firstName"],
                    person["lastName"],
                    person["street"],
                    person["houseNumber"],
                    person["zipCode"],
                    person["city"],
                    person["phone"],
                    person["email"],
                    person["note"],
                ]
            )
    return rows


def sormas_rows(visits: Sequence[OpenedVisit], location_name: str) -> list[list[str]]:
    """SORMAS event participants: one per person, sex unknown, the visit as involvement."""
    rows: list[list[str]] = []
    for visit in visits:
        involvement = (
            f"{location_name}, {visit.area_name}: "
            f"{berlin_text(visit.arrival)} - {berlin_text(visit.departure)}"
        )
        for person in _person_rows(visit):
            rows.append(
                [
                    person["firstName"],
                    person["lastName"],
                    "",
                    person["street"],
                    person["houseNumber"],
                    person["zipCode"],
                    person["city"],
                    person["phone"],
                    person["email"],
                    involvement,
                ]
            )
    return rows
