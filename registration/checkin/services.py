"""The rules of checking in and out. Views do HTTP; everything that decides lives here.

Every function takes its database session, clock and settings as arguments, so the
guest page, the JSON API, the business portal's staff entry and the tests share
exactly one implementation of: which key a record must be sealed to, how late an
arrival may be reported, how a retried check-in is stored exactly once, and how a
check-out token is checked without storing it.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import crypto
from registration import metrics
from registration.checkin import rotating
from registration.checkin.errors import (
    ArrivalOutOfRangeError,
    CheckInNotFoundError,
    CheckInUnavailableError,
    EntranceCodeRequiredError,
    EnvelopeTooLargeError,
    IdempotencyConflictError,
    InvalidEnvelopeError,
    InvalidRequestError,
    StaleKeyError,
    UnknownAreaError,
    UnsupportedEnvelopeVersionError,
    UnsupportedSuiteError,
)
from registration.clock import Clock
from registration.config import Settings
from registration.models import (
    Area,
    Business,
    CheckIn,
    CheckInMode,
    CheckInSource,
    HealthOfficeKey,
    KeyState,
    Location,
)
from registration.offices import active_key

CLOCK_SKEW = dt.timedelta(minutes=2)
MAX_STAY = dt.timedelta(minutes=24 * 60)
MIN_PERSONS, MAX_PERSONS = 1, 1 + crypto.MAX_ADDITIONAL_PERSONS
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Compared against when the check-in id is unknown, so that both cases take the same path.
_NO_SUCH_HASH = hashlib.sha256(b"gastregister/no-such-checkin").digest()


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


@dataclass(frozen=True)
class AreaContext:
    """An area as the check-in page needs it: where it is and whom it is sealed for."""

    area: Area
    location: Location
    business_name: str
    key: HealthOfficeKey | None

    @property
    def can_check_in(self) -> bool:
        return self.key is not None


@dataclass(frozen=True, slots=True)
class CheckInReceipt:
    """What the guest's phone is told about its stored check-in, with its check-out token.

    Plain values instead of a CheckIn entity: building a mapped object per request
    costs more than the JSON API needs, and no caller needs more than these.
    """

    id: uuid.UUID
    arrival: dt.datetime
    auto_departure: dt.datetime
    departure: dt.datetime | None
    persons: int
    token: str
    created: bool


@dataclass(frozen=True, slots=True)
class AreaTarget:
    """Where a check-in is stored, as plain values: what store_checkin needs of its area.

    The JSON API reads these in its one Core query (find_checkin_target); the guest
    form and the staff entry, which hold an Area entity, build it with AreaTarget.of.
    """

    area_id: int
    location_id: int
    health_office_id: int | None
    default_stay_minutes: int

    @classmethod
    def of(cls, area: Area) -> AreaTarget:
        location = area.location
        return cls(
            area_id=area.id,
            location_id=location.id,
            health_office_id=location.health_office_id,
            default_stay_minutes=location.default_stay_minutes,
        )


@dataclass(frozen=True)
class Occupancy:
    """Persons currently present, per area id; counts only, never who."""

    by_area: Mapping[int, int]
    capacity: int | None

    @property
    def total(self) -> int:
        return sum(self.by_area.values())

    @property
    def is_full(self) -> bool:
        return self.capacity is not None and self.total >= self.capacity


class SealingKey(Protocol):
    """What a page needs of an office key to seal to it (a HealthOfficeKey or an OfficeKey)."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_spki(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class OfficeKey:
    """An office's active key as plain values, as the check-in API reads it."""

    key_id: str
    public_spki: bytes
    health_office_id: int


@dataclass(frozen=True, slots=True)
class CheckInTarget:
    """An open area as the check-in API needs it, read as plain values in one query.

    The API stores a check-in and answers with a few names; loading ORM entities for
    that cost more than the rest of the request, so it reads only these columns.
    """

    storage: AreaTarget
    area_code: str
    area_name: str
    location_code: str
    location_name: str
    checkin_mode: CheckInMode
    rotating_secret: bytes
    key: OfficeKey | None


# The hot statements are built once: SQLAlchemy then finds their compiled form in its
# cache by identity, and a request only binds values (no statement construction).
_areas = _table(Area)
_locations = _table(Location)
_businesses = _table(Business)
_keys = _table(HealthOfficeKey)
_checkins = _table(CheckIn)

# The area behind a code with the office's newest active key: the same rule as
# registration.offices.active_key (newest activation first, then the highest id).
_NEWEST_ACTIVE_KEY_FIRST = (HealthOfficeKey.activated_at.desc(), HealthOfficeKey.id.desc())
_FIND_AREA = (
    select(Area, Location, Business.name, HealthOfficeKey)
    .join(Location, Area.location_id == Location.id)
    .join(Business, Location.business_id == Business.id)
    .outerjoin(
        HealthOfficeKey,
        and_(
            HealthOfficeKey.health_office_id == Location.health_office_id,
            HealthOfficeKey.state == KeyState.ACTIVE,
        ),
    )
    .where(
        Area.code == bindparam("code"),
        Area.archived_at.is_(None),
        Location.archived_at.is_(None),
    )
    .order_by(*_NEWEST_ACTIVE_KEY_FIRST)
    .limit(1)
)
_FIND_TARGET = (
    select(
        _areas.c.id,
        _areas.c.code,
        _areas.c.name,
        _locations.c.id,
        _locations.c.code,
        _locations.c.name,
        _locations.c.checkin_mode,
        _locations.c.rotating_secret,
        _locations.c.default_stay_minutes,
        _locations.c.health_office_id,
        _keys.c.key_id,
        _keys.c.public_spki,
    )
    .select_from(
        _areas.join(_locations, _areas.c.location_id == _locations.c.id)
        .join(_businesses, _locations.c.business_id == _businesses.c.id)
        .outerjoin(
            _keys,
            and_(
                _keys.c.health_office_id == _locations.c.health_office_id,
                _keys.c.state == KeyState.ACTIVE,
            ),
        )
    )
    .where(
        _areas.c.code == bindparam("code"),
        _areas.c.archived_at.is_(None),
        _locations.c.archived_at.is_(None),
    )
    .order_by(_keys.c.activated_at.desc(), _keys.c.id.desc())
    .limit(1)
)


def find_area(session: Session, code: str) -> AreaContext:
    """The open area behind a QR code, with the key guests must seal to (or None).

    One query: the area, its location and business, and the office's newest active
    key, chosen by the same rule as registration.offices.active_key. It runs for every
    check-in, so it is one round trip rather than three.
    """
    if not 1 <= len(code) <= 64:
        raise UnknownAreaError
    row = session.execute(_FIND_AREA, {"code": code}).first()
    if row is None:
        raise UnknownAreaError
    area, location, business_name, key = row
    return AreaContext(area=area, location=location, business_name=business_name, key=key)


def find_checkin_target(session: Session, code: str) -> CheckInTarget:
    """find_area for the JSON API: the same area and key, as plain column values.

    Read fresh for every request (no cache), so an archived area or a new key takes
    effect at once.
    """
    if not 1 <= len(code) <= 64:
        raise UnknownAreaError
    # Core execution on the session's connection: no ORM result machinery for 12 values.
    row = session.connection().execute(_FIND_TARGET, {"code": code}).first()
    if row is None:
        raise UnknownAreaError
    (
        area_id,
        area_code,
        area_name,
        location_id,
        location_code,
        location_name,
        checkin_mode,
        rotating_secret,
        default_stay_minutes,
        health_office_id,
        key_id,
        public_spki,
    ) = row
    key = (
        None
        if key_id is None or health_office_id is None
        else OfficeKey(key_id=key_id, public_spki=public_spki, health_office_id=health_office_id)
    )
    return CheckInTarget(
        storage=AreaTarget(
            area_id=area_id,
            location_id=location_id,
            health_office_id=health_office_id,
            default_stay_minutes=default_stay_minutes,
        ),
        area_code=area_code,
        area_name=area_name,
        location_code=location_code,
        location_name=location_name,
        checkin_mode=checkin_mode,
        rotating_secret=rotating_secret,
        key=key,
    )


def checkout_token(settings: Settings, idempotency_key: str) -> str:
    """The secret check-out token, derived so a retry yields the same one and none is stored.

    HMAC(derive_key("checkout-token"), idempotency key): the server can recompute it
    for a retried submission, while the database holds only its SHA-256.
    """
    key = settings.derive_key("checkout-token")
    digest = hmac.new(key, idempotency_key.encode(), hashlib.sha256).digest()
    return crypto.b64url_encode(digest)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


def check_idempotency_key(idempotency_key: str) -> str:
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(
        idempotency_key
    ):
        raise InvalidRequestError(
            extra={"fields": [{"field": "idempotencyKey", "reason": "invalid"}]}
        )
    return idempotency_key


def check_persons(persons: int) -> int:
    if type(persons) is not int or not MIN_PERSONS <= persons <= MAX_PERSONS:
        raise InvalidRequestError(
            extra={"fields": [{"field": "persons", "reason": "out_of_range"}]}
        )
    return persons


def arrival_window(
    now: dt.datetime, settings: Settings, source: CheckInSource
) -> tuple[dt.datetime, dt.datetime]:
    """The earliest and latest arrival a check-in from `source` may report at `now`.

    A late report (phone offline) is fine within the configured window; the future
    only within the clock skew. Staff type in paper lists after the fact, so their
    entries may reach back over the whole retention period (older ones would be
    deleted at once anyway). The staff-entry page words its messages from this window.
    """
    if source is CheckInSource.STAFF_ENTRY:
        earliest = now - dt.timedelta(days=settings.retention_days)
    else:
        earliest = now - dt.timedelta(minutes=settings.max_late_arrival_minutes)
    return earliest, now + CLOCK_SKEW


def check_arrival(
    clock: Clock,
    settings: Settings,
    arrival: dt.datetime,
    *,
    source: CheckInSource = CheckInSource.GUEST_PAGE,
) -> dt.datetime:
    """The arrival in UTC if it lies in its source's window (arrival_window)."""
    if arrival.tzinfo is None:
        raise ArrivalOutOfRangeError
    earliest, latest = arrival_window(clock.now(), settings, source)
    if not earliest <= arrival <= latest:
        raise ArrivalOutOfRangeError(
            extra={"earliest": earliest.isoformat(), "latest": latest.isoformat()}
        )
    return arrival.astimezone(dt.UTC)


class DepartureProblem(enum.StrEnum):
    """Why a given departure cannot end a visit."""

    NOT_AFTER_ARRIVAL = "not_after_arrival"
    TOO_LONG = "too_long"


def departure_problem(arrival: dt.datetime, departure: dt.datetime) -> DepartureProblem | None:
    """Why `departure` cannot end a visit that began at `arrival`; None when it can.

    A visit has a positive length: a departure equal to the arrival is a typing slip
    on a paper list (the staff-entry page refuses it in the browser too), and a zero
    length visit would never count as present. It lasts at most MAX_STAY.
    """
    if departure <= arrival:
        return DepartureProblem.NOT_AFTER_ARRIVAL
    if departure - arrival > MAX_STAY:
        return DepartureProblem.TOO_LONG
    return None


def check_departure(arrival: dt.datetime, departure: dt.datetime | None) -> dt.datetime | None:
    """The departure in UTC if it may end this visit (departure_problem); None stays None."""
    if departure is None:
        return None
    if departure.tzinfo is None or departure_problem(arrival, departure) is not None:
        raise InvalidRequestError(
            extra={"fields": [{"field": "departure", "reason": "out_of_range"}]}
        )
    return departure.astimezone(dt.UTC)


def admission_for(
    clock: Clock,
    *,
    checkin_mode: CheckInMode,
    rotating_secret: bytes,
    area_code: str,
    arrival: dt.datetime,
    admission: str | None,
    entrance_code: str = "",
) -> str | None:
    """The admission a check-in at this area carries; EntranceCodeRequiredError without one.

    Only rotating mode asks for one (None otherwise). An admission is good for a
    check-in arriving up to 30 minutes after it was issued (the guest page and the
    API hold it while the form is filled in); failing that, a fresh code from the
    entrance screen (`?t=` on the guest page) earns a new one. Both guest paths ask
    here, so a photographed QR code is refused alike on each.
    """
    if checkin_mode != CheckInMode.ROTATING:
        return None
    now = clock.now()
    if admission and rotating.admission_is_valid(
        rotating_secret, area_code, admission, arrival, now
    ):
        return admission
    if entrance_code and rotating.entrance_code_is_fresh(
        rotating_secret, area_code, entrance_code[:64], now
    ):
        return rotating.issue_admission(rotating_secret, area_code, now)
    raise EntranceCodeRequiredError


def inspect_envelope(envelope: bytes) -> crypto.EnvelopeHeader:
    """Refuse what no health office could ever open, before anything is stored."""
    if len(envelope) > crypto.MAX_ENVELOPE_BYTES:
        raise EnvelopeTooLargeError
    try:
        return crypto.inspect_envelope(envelope)
    except crypto.SealedRecordError as exc:
        kind = exc.kind
    if kind is crypto.SealedRecordErrorKind.UNKNOWN_VERSION:
        raise UnsupportedEnvelopeVersionError(extra={"kind": kind.value})
    if kind is crypto.SealedRecordErrorKind.WRONG_SUITE:
        raise UnsupportedSuiteError(extra={"kind": kind.value})
    raise InvalidEnvelopeError(extra={"kind": kind.value})


def current_key_description(key: SealingKey) -> dict[str, str]:
    """What a page needs to seal to `key`: its id and its SPKI as base64url."""
    return {"keyId": key.key_id, "publicKey": crypto.b64url_encode(key.public_spki)}


class ActiveKey(SealingKey, Protocol):
    """An office's active key as find_area (ORM) or find_checkin_target (values) read it."""

    @property
    def health_office_id(self) -> int: ...


def accepted_key_id(
    session: Session,
    health_office_id: int | None,
    key_id_hex: str,
    arrival: dt.datetime,
    *,
    current: ActiveKey | None = None,
) -> str:
    """The id of the office key the envelope names, if guests may seal to it for this arrival.

    The active key is always right. A retired key is right only for an arrival while
    it was active: a check-in that waited on a phone across a key change is still
    accepted (the office keeps old keys until their data has expired), while a page
    sealing to an old key now gets 409 and the current key, to seal again.
    """
    if health_office_id is None:
        raise CheckInUnavailableError
    if current is None or current.health_office_id != health_office_id:
        current = active_key(session, health_office_id)
    if current is None:
        raise CheckInUnavailableError
    if hmac.compare_digest(current.key_id, key_id_hex):
        return current.key_id
    older = session.scalar(
        select(HealthOfficeKey).where(
            HealthOfficeKey.key_id == key_id_hex,
            HealthOfficeKey.health_office_id == health_office_id,
            HealthOfficeKey.state == KeyState.RETIRED,
        )
    )
    if (
        older is not None
        and older.activated_at is not None
        and older.retired_at is not None
        and older.activated_at <= arrival <= older.retired_at
    ):
        return older.key_id
    raise StaleKeyError(extra={"currentKey": current_key_description(current)})


_FIND_RETRYABLE = (
    select(CheckIn)
    .where(
        CheckIn.idempotency_key == bindparam("idempotency_key"),
        CheckIn.arrival >= bindparam("earliest"),
        CheckIn.arrival <= bindparam("latest"),
    )
    .limit(1)
)


def existing_checkin(
    session: Session, clock: Clock, settings: Settings, idempotency_key: str
) -> CheckIn | None:
    """A check-in stored before under this idempotency key, if it can still be retried.

    Only arrivals inside the late-arrival window are searched: older ones cannot be
    submitted again anyway, and the bound lets PostgreSQL skip old partitions.
    """
    earliest, latest = _retry_window(clock, settings)
    return session.scalars(
        _FIND_RETRYABLE,
        {"idempotency_key": idempotency_key, "earliest": earliest, "latest": latest},
    ).first()


def store_checkin(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    target: AreaTarget,
    envelope: bytes,
    persons: int,
    source: CheckInSource,
    arrival: dt.datetime,
    departure: dt.datetime | None = None,
    idempotency_key: str,
    current_key: ActiveKey | None = None,
    on_created: Callable[[], object] | None = None,
) -> CheckInReceipt:
    """Store one sealed check-in exactly once and answer with its check-out token.

    The one storage path of the guest page, the JSON API and the staff entry. A retry
    (same idempotency key, area, envelope and persons) answers with the stored
    check-in and the same token; the same key with other content is a conflict.
    Commits on success; on any refusal nothing is stored. `current_key` is the
    office's active key if the caller has just loaded it, to save a query.
    `on_created` runs inside the storing transaction when this call stores a new
    check-in (the staff entry writes its audit event there): if it raises, nothing is
    stored.
    """
    check_idempotency_key(idempotency_key)
    check_persons(persons)
    arrival = check_arrival(clock, settings, arrival, source=source)
    header = inspect_envelope(envelope)
    key_id = accepted_key_id(
        session, target.health_office_id, header.key_id.hex(), arrival, current=current_key
    )
    departure = check_departure(arrival, departure)
    token = checkout_token(settings, idempotency_key)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "arrival": arrival,
        "location_id": target.location_id,
        "area_id": target.area_id,
        "departure": departure,
        "auto_departure": arrival + dt.timedelta(minutes=target.default_stay_minutes),
        "persons": persons,
        "source": source,
        "key_id": key_id,
        "envelope": bytes(envelope),
        "checkout_token_hash": token_hash(token),
        "idempotency_key": idempotency_key,
        "received_at": clock.now(),
    }
    if _insert_and_commit(session, clock, settings, values, on_created):
        metrics.checkin_accepted(source)
        return CheckInReceipt(
            id=values["id"],
            arrival=arrival,
            auto_departure=values["auto_departure"],
            departure=departure,
            persons=persons,
            token=token,
            created=True,
        )
    previous = existing_checkin(session, clock, settings, idempotency_key)
    if previous is None:
        raise IdempotencyConflictError
    _check_replay(
        previous, area_id=target.area_id, envelope=envelope, persons=persons, arrival=arrival
    )
    return CheckInReceipt(
        id=previous.id,
        arrival=previous.arrival,
        auto_departure=previous.auto_departure,
        departure=previous.departure,
        persons=previous.persons,
        token=token,
        created=False,
    )


_INSERTED_COLUMNS = (
    "id",
    "arrival",
    "location_id",
    "area_id",
    "departure",
    "auto_departure",
    "persons",
    "source",
    "key_id",
    "envelope",
    "checkout_token_hash",
    "idempotency_key",
    "received_at",
)
# INSERT … SELECT <values> WHERE NOT EXISTS (same idempotency key in the retry window).
_INSERT_UNLESS_KNOWN = (
    insert(_checkins)
    .from_select(
        list(_INSERTED_COLUMNS),
        select(
            *(bindparam(name, type_=_checkins.c[name].type) for name in _INSERTED_COLUMNS)
        ).where(
            ~exists(
                select(_checkins.c.id).where(
                    _checkins.c.idempotency_key == bindparam("known_key"),
                    _checkins.c.arrival >= bindparam("earliest"),
                    _checkins.c.arrival <= bindparam("latest"),
                )
            )
        ),
    )
    # RETURNING, not rowcount: drivers do not all report a row count for INSERT … SELECT.
    .returning(_checkins.c.id)
)


def _insert_unless_known(
    session: Session, clock: Clock, settings: Settings, values: dict[str, Any]
) -> bool:
    """Insert unless the idempotency key is known in the retry window: one round trip.

    The unique (idempotency_key, arrival) constraint catches a concurrent retry with
    the same arrival; the NOT EXISTS also catches the same key with another arrival.
    """
    earliest, latest = _retry_window(clock, settings)
    parameters = {
        **values,
        "known_key": values["idempotency_key"],
        "earliest": earliest,
        "latest": latest,
    }
    return session.connection().execute(_INSERT_UNLESS_KNOWN, parameters).first() is not None


def _insert_and_commit(
    session: Session,
    clock: Clock,
    settings: Settings,
    values: dict[str, Any],
    on_created: Callable[[], object] | None,
) -> bool:
    """Insert (unless the key is known) and commit, with on_created in the same transaction.

    Only the insert's IntegrityError means a concurrent retry; one from on_created is
    the caller's failure and, like any other, rolls the check-in back with it.
    """
    try:
        inserted = _insert_unless_known(session, clock, settings, values)
    except IntegrityError:
        # A concurrent retry with the same key and arrival won the race.
        session.rollback()
        return False
    try:
        if inserted and on_created is not None:
            on_created()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return inserted


def _retry_window(clock: Clock, settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    now = clock.now()
    earliest = now - dt.timedelta(minutes=settings.max_late_arrival_minutes) - CLOCK_SKEW
    return earliest, now + CLOCK_SKEW


def _check_replay(
    previous: CheckIn,
    *,
    area_id: int,
    envelope: bytes,
    persons: int,
    arrival: dt.datetime,
) -> None:
    """A retry must repeat the stored check-in exactly; anything else is a conflict."""
    same = (
        previous.area_id == area_id
        and previous.persons == persons
        and previous.arrival == arrival
        and hmac.compare_digest(previous.envelope, bytes(envelope))
    )
    if not same:
        raise IdempotencyConflictError


def verified_checkin(session: Session, checkin_id: uuid.UUID, token: str) -> CheckIn:
    """The check-in whose token this is; CheckInNotFoundError for an unknown id or a wrong token.

    Both failures take the same path (hash, constant-time compare against a stored or a
    dummy hash) and give the same answer, so the token cannot be used to probe ids.
    """
    candidate = session.scalar(select(CheckIn).where(CheckIn.id == checkin_id).limit(1))
    stored = candidate.checkout_token_hash if candidate is not None else _NO_SUCH_HASH
    matches = hmac.compare_digest(token_hash(token), stored)
    if candidate is None or not matches:
        raise CheckInNotFoundError
    return candidate


def checkout(
    session: Session,
    clock: Clock,
    checkin_id: uuid.UUID,
    token: str,
    *,
    departure: dt.datetime | None = None,
) -> tuple[CheckIn, bool]:
    """Check a guest out with their token; idempotent. Returns (check-in, was already out).

    `departure` is the moment the guest pressed the button, when the phone could only
    send it later (outbox); otherwise now. A check-out after the automatic departure
    keeps the automatic time: the guest was told they would be checked out then.
    """
    checkin = verified_checkin(session, checkin_id, token)
    if checkin.departure is not None:
        return checkin, True
    now = clock.now()
    claimed = now if departure is None else departure
    if claimed > now + CLOCK_SKEW:
        raise InvalidRequestError(
            extra={"fields": [{"field": "departure", "reason": "out_of_range"}]}
        )
    already_out = claimed >= checkin.auto_departure
    checkin.departure = min(max(claimed, checkin.arrival), checkin.auto_departure)
    session.commit()
    return checkin, already_out


def checkout_all(session: Session, clock: Clock, location: Location) -> int:
    """Check out everyone present at a location (closing time); returns how many visits."""
    now = clock.now()
    result = session.execute(
        update(CheckIn)
        .where(_present(now), CheckIn.location_id == location.id)
        .values(departure=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def _present(now: dt.datetime) -> ColumnElement[bool]:
    return and_(
        CheckIn.arrival >= now - MAX_STAY,
        CheckIn.arrival <= now + CLOCK_SKEW,
        CheckIn.auto_departure > now,
        or_(CheckIn.departure.is_(None), CheckIn.departure > now),
    )


def occupancy(session: Session, clock: Clock, location: Location) -> Occupancy:
    """Persons present per area: not checked out and not past their automatic departure."""
    now = clock.now()
    rows = session.execute(
        select(CheckIn.area_id, func.coalesce(func.sum(CheckIn.persons), 0))
        .where(_present(now), CheckIn.location_id == location.id)
        .group_by(CheckIn.area_id)
    ).all()
    return Occupancy(
        by_area={int(area_id): int(count) for area_id, count in rows}, capacity=location.capacity
    )
