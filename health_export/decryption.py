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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
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
        return describe_unbound(self.unbound)


def describe_unbound(unbound: Sequence[int]) -> str | None:
    """The notice for v1 visits, or None when every visit was checked in full."""
    if not unbound:
        return None
    numbers = ", ".join(str(number) for number in unbound)
    return (
        f"{len(unbound)} visit(s) in format v1: metadata not bound to the sealed "
        f"record, so arrival and source could not be checked (visits {numbers})."
    )


def berlin_text(moment: dt.datetime) -> str:
    """`YYYY-MM-DD HH:MM` in Europe/Berlin: what people in the health office read.

    Remembered per minute: the offline CLI writes two for each of 50,000 visits, and
    the visits of a busy place fall into far fewer minutes.
    """
    if moment.utcoffset() is None:  # naive: astimezone takes it as local time
        return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
    # By arithmetic, not timestamp(): fromtimestamp fails before 1970 on Windows.
    minute = (moment - _EPOCH) // _MINUTE
    text = _berlin_minutes.get(minute)
    if text is None:
        text = moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
        if _one_text_per_minute(minute):
            if len(_berlin_minutes) >= _BERLIN_MINUTES_KEPT:
                _berlin_minutes.clear()
            _berlin_minutes[minute] = text
    return text


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MINUTE = dt.timedelta(minutes=1)
_berlin_minutes: dict[int, str] = {}
_BERLIN_MINUTES_KEPT = 100_000


def _one_text_per_minute(minute: int) -> bool:
    """Every moment of this UTC minute shows the same Berlin minute.

    True unless the offset changes within the minute or is not whole minutes (local
    mean time before 1893), which a cache by UTC minute would get wrong.
    """
    start = _EPOCH + minute * _MINUTE
    try:
        first = start.astimezone(BERLIN).utcoffset()
        last = (start + _MINUTE - dt.timedelta(microseconds=1)).astimezone(BERLIN).utcoffset()
    except OverflowError:  # the first or last minute a datetime can hold
        return False
    return first == last and first is not None and first % _MINUTE == dt.timedelta(0)


# --- opening ---------------------------------------------------------------------------

T = TypeVar("T")
# One record as a worker process leaves it: the kind of its first failure, or, for a
# visit that passed every check but the one for duplicates, its envelope's enc and its
# sealed idempotency key (the caller looks for duplicates with them, in package order),
# its format version and the visit as the caller's `render` made it.
Checked = str | tuple[bytes, str | None, int, Any]


@dataclass(frozen=True)
class _PackageContext:
    """What checking one record needs of its package: small, and picklable for spawn."""

    location_code: str
    # A code that cannot be a code was never sealed to (docs/FORMAT.md §11.2).
    location_code_ok: bool
    area_names: dict[str, str]
    window_start: dt.datetime
    window_end: dt.datetime
    requested_areas: frozenset[str]
    location_areas: frozenset[str]

    @classmethod
    def of(cls, package: ParsedPackage) -> _PackageContext:
        request = package.request
        start = parse_time(request["windowStart"])
        end = parse_time(request["windowEnd"])
        if start is None or end is None:  # checked by parse_package
            raise ValueError("unchecked request window")
        location_code = str(package.location.get("code", ""))
        codes = frozenset(
            area["code"] for area in package.areas if isinstance(area.get("code"), str)
        )
        return cls(
            location_code=location_code,
            location_code_ok=_CODE.fullmatch(location_code) is not None,
            area_names={code: package.area_name(code) for code in codes},
            window_start=start,
            window_end=end,
            requested_areas=frozenset(request["areas"]),
            location_areas=codes,
        )

    def metadata_failure(
        self,
        row: PackageRecord,
        visit: OpenedVisit,
        envelope_key_id: str,
        auto_departure: dt.datetime,
    ) -> str | None:
        """The first check of docs/FORMAT.md §11.3 the visit fails, duplicates aside."""
        record = visit.record
        if visit.format_version == 2:
            if record["arrival"] != row.arrival:
                return "arrival_mismatch"
            if record["source"] != row.source:
                return "source_mismatch"
        if row.key_id != envelope_key_id:
            return "key_id_mismatch"
        latest = visit.arrival + MAX_STAY
        if not visit.arrival <= auto_departure <= latest:
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


@dataclass(frozen=True)
class _Opening(Generic[T]):
    """Opening and checking records of one package, in whichever process runs it."""

    keys: Sequence[ec.EllipticCurvePrivateKey]
    context: _PackageContext
    render: Callable[[OpenedVisit], T]

    def check(self, record: PackageRecord) -> Checked:
        """Everything about one record that needs no other record (all but duplicates).

        Done where the record is opened, so a worker sends back the rendered visit
        and a few bytes instead of the record, and the parent only looks for duplicates.
        """
        context = self.context
        arrival = parse_time(record.arrival)
        auto_departure = parse_time(record.auto_departure)
        departure = None if record.departure is None else parse_time(record.departure)
        if (
            arrival is None
            or auto_departure is None
            or (record.departure is not None and departure is None)
            # Malformed, before the envelope is looked at (docs/FORMAT.md §11.2).
            or not context.location_code_ok
            or not _CODE.fullmatch(record.area)
        ):
            return "malformed"
        try:
            envelope = crypto.decode_envelope(record.envelope)
            opened = crypto.open_with_any_key(
                self.keys, envelope, location_code=context.location_code, area_code=record.area
            )
        except crypto.SealedRecordError as error:
            return error.kind.value
        except ValueError:  # a code that cannot be one; refused as malformed above
            return "malformed"
        visit = OpenedVisit(
            number=record.index + 1,
            area_code=record.area,
            area_name=context.area_names.get(record.area, record.area),
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
        kind = context.metadata_failure(
            record, visit, envelope[7 : crypto.HEADER_SIZE].hex(), auto_departure
        )
        if kind is not None:
            return kind
        idempotency_key = opened.get("idempotencyKey")
        return (
            envelope[_ENC],
            idempotency_key if isinstance(idempotency_key, str) else None,
            visit.format_version,
            self.render(visit),
        )


# What a worker process opens with. Forked workers inherit these from the parent, set
# just before the pool starts, so neither the keys nor the records cross a pipe;
# spawned workers (no fork on Windows) get the opening from _start_spawned_worker.
_worker_opening: _Opening[Any] | None = None
_worker_records: Sequence[PackageRecord] = ()


def _check_inherited(span: tuple[int, int]) -> list[Checked]:
    """A forked worker's task: only the positions travel, the records were inherited."""
    if _worker_opening is None:
        raise RuntimeError("worker started without its opening")
    start, end = span
    return [_worker_opening.check(record) for record in _worker_records[start:end]]


def _check_sent(records: list[PackageRecord]) -> list[Checked]:
    """A spawned worker's task: the records come with it."""
    if _worker_opening is None:
        raise RuntimeError("worker started without its opening")
    return [_worker_opening.check(record) for record in records]


def _start_spawned_worker(
    private_values: list[bytes], context: _PackageContext, render: Callable[[OpenedVisit], Any]
) -> None:
    """Rebuild the keys once per spawned worker from their private scalars.

    The 32-byte scalars reach the worker over the pipe multiprocessing opens to its
    own child process: never a file, an argument list or an environment variable.
    """
    global _worker_opening
    keys = [
        ec.derive_private_key(int.from_bytes(value, "big"), ec.SECP256R1())
        for value in private_values
    ]
    _worker_opening = _Opening(keys, context, render)


def _check_all(
    opening: _Opening[T], records: Sequence[PackageRecord], options: ParallelOptions
) -> Iterator[Checked]:
    """Each record's outcome, in order; in worker processes when there are many records.

    HPKE is CPU-bound, so the records are opened on `jobs` processes in chunks of
    `options.chunk` records, and checked and rendered there too: the parent receives
    compact results, not records to unpickle, check and format one by one. The
    outcomes are yielded chunk by chunk as they arrive. Forked workers inherit the
    opening and the records; where there is no fork (Windows), or when asked, spawned
    workers get the private scalars once, at their start, and the records in chunks.
    """
    if options.jobs <= 1 or len(records) < options.parallel_from:
        for record in records:
            yield opening.check(record)
        return
    method = options.start_method or (
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    spans = [
        (start, min(len(records), start + options.chunk))
        for start in range(0, len(records), options.chunk)
    ]
    global _worker_opening, _worker_records
    context = multiprocessing.get_context(method)
    try:
        if method == "fork":
            _worker_opening, _worker_records = opening, records
            pool = ProcessPoolExecutor(options.jobs, mp_context=context)
            chunks = pool.map(_check_inherited, spans)
        else:
            scalars = [
                key.private_numbers().private_value.to_bytes(32, "big") for key in opening.keys
            ]
            pool = ProcessPoolExecutor(
                options.jobs,
                mp_context=context,
                initializer=_start_spawned_worker,
                initargs=(scalars, opening.context, opening.render),
            )
            chunks = pool.map(_check_sent, [list(records[start:end]) for start, end in spans])
        with pool:
            for chunk in chunks:
                yield from chunk
    finally:
        _worker_opening, _worker_records = None, ()


@dataclass(frozen=True)
class ParallelOptions:
    """How open_package spreads the opening over processes (see _check_all)."""

    jobs: int = 1
    # Fewer records than this are opened in this process: starting workers costs more.
    parallel_from: int = PARALLEL_THRESHOLD
    # Records per task: small enough that both cores stay busy to the end (the last
    # task, 250 records, is about 40 ms of one core), large enough that messages stay
    # few (200 for 50,000 records).
    chunk: int = 250
    # "fork" or "spawn"; None: fork where the platform has it.
    start_method: str | None = None


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class RenderedVisits(Generic[T]):
    """What open_rendered makes of a package: each visit that passed, as rendered."""

    visits: list[T]
    failures: list[FailedVisit]
    # Visit numbers of opened format v1 visits: their metadata is not bound.
    unbound: list[int] = field(default_factory=list)

    def describe_unbound(self) -> str | None:
        return describe_unbound(self.unbound)


def the_visit(visit: OpenedVisit) -> OpenedVisit:
    """The render that keeps the visit itself (a module function, so spawn can send it)."""
    return visit


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
    result = open_rendered(package, keys, the_visit, jobs=jobs, parallel=parallel)
    return DecryptionResult(visits=result.visits, failures=result.failures, unbound=result.unbound)


def open_rendered(
    package: ParsedPackage,
    keys: Sequence[ec.EllipticCurvePrivateKey],
    render: Callable[[OpenedVisit], T],
    *,
    jobs: int = 1,
    parallel: ParallelOptions | None = None,
) -> RenderedVisits[T]:
    """open_package, with each visit that passes every check turned into `render(visit)`.

    `render` runs where the record was opened (in a worker process when there are
    many), so what crosses the pipe is, say, a visit's CSV lines rather than its
    record. It must be a module-level function or a functools.partial of one (spawned
    workers receive it pickled) and must not depend on other visits: it also runs for
    a visit that then turns out to be a duplicate, whose result is dropped.
    """
    failures = [
        FailedVisit(number=index + 1, area_code="", arrival="", kind=kind)
        for index, kind in package.damaged
    ]
    opening = _Opening(keys, _PackageContext.of(package), render)
    outcomes = _check_all(
        opening,
        package.records,
        parallel or ParallelOptions(jobs=jobs, parallel_from=PARALLEL_THRESHOLD),
    )
    duplicates = _Duplicates()
    visits: list[T] = []
    unbound: list[int] = []
    for record, outcome in zip(package.records, outcomes, strict=True):
        if isinstance(outcome, str):
            failures.append(FailedVisit(record.index + 1, record.area, record.arrival, outcome))
            continue
        enc, idempotency_key, format_version, rendered = outcome
        if duplicates.seen_before(enc, idempotency_key):
            failures.append(FailedVisit(record.index + 1, record.area, record.arrival, "duplicate"))
            continue
        visits.append(rendered)
        if format_version == 1:
            unbound.append(record.index + 1)
    failures.sort(key=lambda failure: failure.number)
    return RenderedVisits(visits=visits, failures=failures, unbound=unbound)


class _Duplicates:
    """The last check of docs/FORMAT.md §11.3, the one that needs every visit before.

    Duplicates are looked for among the visits that passed every other check, so a
    forged copy that fails a check (re-dated, moved) cannot push out the genuine one.
    """

    def __init__(self) -> None:
        self.seen_encs: set[bytes] = set()
        self.seen_keys: set[str] = set()

    def seen_before(self, enc: bytes, idempotency_key: str | None) -> bool:
        if enc in self.seen_encs or (
            idempotency_key is not None and idempotency_key in self.seen_keys
        ):
            return True
        self.seen_encs.add(enc)
        if idempotency_key is not None:
            self.seen_keys.add(idempotency_key)
        return False


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
