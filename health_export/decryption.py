"""Opening an export package offline and turning its visits into rows.

The browser (static/js/decrypt-rows.js) does exactly the same, column for column
and byte for byte: the same German texts (export_layout.py), the same Europe/Berlin times,
the same treatment of additional persons. A record that cannot be opened is never
dropped: it is listed with its visit number and the reason.

Opening is not the end of it. Whoever can write to the server's database can change
the plain metadata beside an envelope: re-date a visit, change its persons or
source, swap envelopes, copy a record into another request's package. Each opened
visit is therefore checked against its package (docs/FORMAT.md §11.3): a format v2
record carries its arrival, source and idempotency key sealed, which must match the
row; every visit must lie in the request's window and areas, count its persons as
1 + companions, and appear only once. A visit that fails is listed with the kind of
the first failed check, like one that does not open; a v1 visit (nothing bound) is
listed as such.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import ec

import crypto
from health_export.export_layout import NO, SOURCE_LABELS, YES
from health_export.packages import PackageRecord, ParsedPackage, parse_time

# Times in the export files are local time in Germany, where every office works. Not
# registration.clock.BERLIN: the offline decrypt imports no server code.
BERLIN = ZoneInfo("Europe/Berlin")

NUMERIC_COLUMNS = frozenset({0, 1, 6})
ADDRESS_FIELDS = ("street", "houseNumber", "zipCode", "city")
# What a companion who ticked "same address and contact details as me" (`sameAddress`,
# docs/FORMAT.md §6.2) shares with the guest: the form then asks for none of it, so
# every output fills it in from the guest, or the office could not reach the companion.
SHARED_WITH_GUEST = (*ADDRESS_FIELDS, "phone", "email")
PERSON_FIELDS = ("firstName", "lastName", *SHARED_WITH_GUEST)
PARALLEL_THRESHOLD = 4000
# The longest visit the server stores: a stay, or a typed-in departure, of 24 hours.
MAX_STAY = dt.timedelta(hours=24)
# The kinds of the visit checks (docs/FORMAT.md §9.3), in the order they are applied.
VISIT_CHECK_KINDS = (
    "arrival_mismatch",
    "source_mismatch",
    "key_id_mismatch",
    "departure_out_of_range",
    "outside_window",
    "area_not_requested",
    "persons_mismatch",
    "duplicate",
)
_ENC = slice(crypto.HEADER_SIZE, crypto.HEADER_SIZE + 65)
_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a location or area code (docs/FORMAT.md §7.3)


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
    # 1: the record's metadata is not bound to it (format v1); 2: checked against it.
    format_version: int = 1
    # Kept in the guest's outbox beyond the late-arrival window: the arrival rests on the
    # phone's clock alone (server metadata, not sealed; docs/FORMAT.md §11.1).
    delivered_late: bool = False


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
        what = (
            "opened, but refused: its metadata does not fit the sealed record or the request"
            if self.kind in VISIT_CHECK_KINDS
            else "could not be opened"
        )
        return f"visit {self.number} ({package.area_name(self.area_code)}, {when}): {what} ({self.kind})"


@dataclass(frozen=True)
class DecryptionResult:
    visits: list[OpenedVisit]
    failures: list[FailedVisit]
    # Visit numbers of opened format v1 visits: their metadata is not bound.
    unbound: list[int] = field(default_factory=list)

    def describe_unbound(self) -> str | None:
        """The notice for v1 visits, or None when every visit was checked in full."""
        if not self.unbound:
            return None
        numbers = ", ".join(str(number) for number in self.unbound)
        return (
            f"{len(self.unbound)} visit(s) in format v1: metadata not bound to the sealed "
            f"record, so arrival and source could not be checked (visits {numbers})."
        )


def berlin_text(moment: dt.datetime) -> str:
    """`YYYY-MM-DD HH:MM` in Europe/Berlin: what people in the health office read."""
    return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")


# --- opening ---------------------------------------------------------------------------

Opened = tuple[dict[str, Any], bytes, str]  # the record, its envelope's enc and key id (hex)
Item = tuple[str, str]  # a record's area code and envelope text

# What a worker process opens with. Forked workers inherit these from the parent, set
# just before the pool starts, so neither the keys nor the envelopes cross a pipe;
# spawned workers (no fork on Windows) get them from _start_spawned_worker.
_worker_keys: list[ec.EllipticCurvePrivateKey] = []
_worker_location = ""
_worker_items: list[Item] = []


def _open_one(
    keys: Sequence[ec.EllipticCurvePrivateKey], location_code: str, item: Item
) -> Opened | str:
    """The record with the envelope's enc and key id, or the error kind as a string."""
    area_code, envelope_text = item
    try:
        envelope = crypto.decode_envelope(envelope_text)
        record = crypto.open_with_any_key(
            keys, envelope, location_code=location_code, area_code=area_code
        )
    except crypto.SealedRecordError as error:
        return error.kind.value
    except ValueError:  # a code that cannot be one; open_package has refused those already
        return "malformed"
    return record, envelope[_ENC], envelope[7 : crypto.HEADER_SIZE].hex()


def _open_inherited(span: tuple[int, int]) -> list[Opened | str]:
    """A forked worker's task: only the positions travel, the envelopes were inherited."""
    start, end = span
    return [_open_one(_worker_keys, _worker_location, item) for item in _worker_items[start:end]]


def _open_sent(items: list[Item]) -> list[Opened | str]:
    """A spawned worker's task: the envelopes come with it."""
    return [_open_one(_worker_keys, _worker_location, item) for item in items]


def _start_spawned_worker(private_values: list[bytes], location_code: str) -> None:
    """Rebuild the keys once per spawned worker from their private scalars.

    The 32-byte scalars reach the worker over the pipe multiprocessing opens to its
    own child process: never a file, an argument list or an environment variable.
    """
    global _worker_keys, _worker_location
    _worker_keys = [
        ec.derive_private_key(int.from_bytes(value, "big"), ec.SECP256R1())
        for value in private_values
    ]
    _worker_location = location_code


def _open_all(
    keys: Sequence[ec.EllipticCurvePrivateKey],
    location_code: str,
    items: list[Item],
    options: ParallelOptions,
) -> Iterator[Opened | str]:
    """Each record's outcome, in order; in worker processes when there are many records.

    HPKE is CPU-bound, so the records are opened on `jobs` processes in chunks of
    `options.chunk` records. The outcomes are yielded chunk by chunk as they arrive, so
    the caller checks the first chunks while the workers still open the later ones.
    Forked workers inherit keys and envelopes; where there is no fork (Windows), or
    when asked, spawned workers get the private scalars once, at their start.
    """
    if options.jobs <= 1 or len(items) < options.parallel_from:
        for item in items:
            yield _open_one(keys, location_code, item)
        return
    method = options.start_method or (
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    spans = [
        (start, min(len(items), start + options.chunk))
        for start in range(0, len(items), options.chunk)
    ]
    global _worker_keys, _worker_location, _worker_items
    context = multiprocessing.get_context(method)
    try:
        if method == "fork":
            _worker_keys, _worker_location, _worker_items = list(keys), location_code, items
            pool = ProcessPoolExecutor(options.jobs, mp_context=context)
            chunks = pool.map(_open_inherited, spans)
        else:
            scalars = [key.private_numbers().private_value.to_bytes(32, "big") for key in keys]
            pool = ProcessPoolExecutor(
                options.jobs,
                mp_context=context,
                initializer=_start_spawned_worker,
                initargs=(scalars, location_code),
            )
            chunks = pool.map(_open_sent, [items[start:end] for start, end in spans])
        with pool:
            for chunk in chunks:
                yield from chunk
    finally:
        _worker_keys, _worker_location, _worker_items = [], "", []


@dataclass(frozen=True)
class ParallelOptions:
    """How open_package spreads the opening over processes (see _open_all)."""

    jobs: int = 1
    # Fewer records than this are opened in this process: starting workers costs more.
    parallel_from: int = PARALLEL_THRESHOLD
    # Records per task: small enough that both cores stay busy to the end and the
    # caller can start checking early, large enough that messages stay few.
    chunk: int = 1000
    # "fork" or "spawn"; None: fork where the platform has it.
    start_method: str | None = None


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def open_package(
    package: ParsedPackage,
    keys: Sequence[ec.EllipticCurvePrivateKey],
    *,
    jobs: int = 1,
    parallel: ParallelOptions | None = None,
) -> DecryptionResult:
    """Open every record with the given keys and check it; failures are listed, never dropped.

    `jobs` worker processes open the records (`parallel` for finer control); the
    result is the same, byte for byte, whatever the number of processes.
    """
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
            # A code that cannot be a code was never sealed to (docs/FORMAT.md §11.2):
            # malformed, before the envelope is looked at.
            or not _CODE.fullmatch(location_code)
            or not _CODE.fullmatch(record.area)
        ):
            failures.append(FailedVisit(record.index + 1, record.area, record.arrival, "malformed"))
        else:
            candidates.append(record)
    outcomes = _open_all(
        keys,
        location_code,
        [(record.area, record.envelope) for record in candidates],
        parallel or ParallelOptions(jobs=jobs, parallel_from=PARALLEL_THRESHOLD),
    )
    checks = _VisitChecks(package)
    visits: list[OpenedVisit] = []
    unbound: list[int] = []
    for record, outcome in zip(candidates, outcomes, strict=True):
        if isinstance(outcome, str):
            failures.append(FailedVisit(record.index + 1, record.area, record.arrival, outcome))
            continue
        opened, enc, envelope_key_id = outcome
        visit = _opened_visit(package, record, opened)
        kind = checks.first_failure(record, visit, enc, envelope_key_id)
        if kind is not None:
            failures.append(FailedVisit(record.index + 1, record.area, record.arrival, kind))
            continue
        visits.append(visit)
        if visit.format_version == 1:
            unbound.append(visit.number)
    failures.sort(key=lambda failure: failure.number)
    return DecryptionResult(visits=visits, failures=failures, unbound=unbound)


def _opened_visit(
    package: ParsedPackage, record: PackageRecord, opened: dict[str, Any]
) -> OpenedVisit:
    arrival = parse_time(record.arrival)
    auto_departure = parse_time(record.auto_departure)
    departure = parse_time(record.departure) if record.departure is not None else None
    if arrival is None or auto_departure is None:  # checked before opening; keeps mypy precise
        raise ValueError("unchecked package time")
    return OpenedVisit(
        number=record.index + 1,
        area_code=record.area,
        area_name=package.area_name(record.area),
        arrival=arrival,
        departure=departure or auto_departure,
        departure_is_automatic=departure is None,
        persons=record.persons,
        source=record.source,
        key_id=record.key_id,
        record=opened,
        format_version=int(opened["v"]),
        delivered_late=record.delivered_late,
    )


class _VisitChecks:
    """The checks of docs/FORMAT.md §11.3 for one package, in their fixed order.

    Duplicates are looked for among the visits that passed every other check, so a
    forged copy that fails a check (re-dated, moved) cannot push out the genuine one.
    """

    def __init__(self, package: ParsedPackage) -> None:
        request = package.request
        start = parse_time(request["windowStart"])
        end = parse_time(request["windowEnd"])
        if start is None or end is None:  # checked by parse_package
            raise ValueError("unchecked request window")
        self.window_start, self.window_end = start, end
        self.requested_areas = frozenset(request["areas"])
        self.location_areas = frozenset(
            area["code"] for area in package.areas if isinstance(area.get("code"), str)
        )
        self.seen_encs: set[bytes] = set()
        self.seen_keys: set[str] = set()

    def first_failure(
        self, row: PackageRecord, visit: OpenedVisit, enc: bytes, envelope_key_id: str
    ) -> str | None:
        kind = self._metadata_failure(row, visit, envelope_key_id)
        if kind is not None:
            return kind
        idempotency_key = visit.record.get("idempotencyKey")
        if enc in self.seen_encs or (
            isinstance(idempotency_key, str) and idempotency_key in self.seen_keys
        ):
            return "duplicate"
        self.seen_encs.add(enc)
        if isinstance(idempotency_key, str):
            self.seen_keys.add(idempotency_key)
        return None

    def _metadata_failure(
        self, row: PackageRecord, visit: OpenedVisit, envelope_key_id: str
    ) -> str | None:
        record = visit.record
        if visit.format_version == 2:
            if record["arrival"] != row.arrival:
                return "arrival_mismatch"
            if record["source"] != row.source:
                return "source_mismatch"
        if row.key_id != envelope_key_id:
            return "key_id_mismatch"
        latest = visit.arrival + MAX_STAY
        auto_departure = parse_time(row.auto_departure)
        if auto_departure is None or not visit.arrival <= auto_departure <= latest:
            return "departure_out_of_range"
        # No lower bound for a departure: closing time checks out a guest whose phone
        # clock ran up to two minutes ahead (its arrival is later than "now").
        if visit.departure > latest:
            return "departure_out_of_range"
        if visit.arrival > self.window_end or visit.departure < self.window_start:
            return "outside_window"
        if row.area not in self.location_areas or (
            self.requested_areas and row.area not in self.requested_areas
        ):
            return "area_not_requested"
        if row.persons != 1 + len(record["additionalPersons"]):
            return "persons_mismatch"
        return None


# --- rows ------------------------------------------------------------------------------

Row = list[str | int]


def persons_of(visit: OpenedVisit) -> list[dict[str, str]]:
    """The guest, then each companion, with the address and contact to use for them."""
    record = visit.record
    main = {name: str(record.get(name, "")) for name in PERSON_FIELDS}
    main["note"] = str(record.get("note", ""))
    people = [main]
    for extra in record.get("additionalPersons", []):
        person = {name: str(extra.get(name, "")) for name in PERSON_FIELDS}
        if extra.get("sameAddress") is True:
            for name in SHARED_WITH_GUEST:
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
        late = YES if visit.delivered_late else NO
        for position, person in enumerate(persons_of(visit), start=1):
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
                    late,
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
        for person in persons_of(visit):
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
