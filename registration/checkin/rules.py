"""What a check-in must satisfy before it is stored, whichever way it came in.

The guest page, the JSON API and the business portal's staff entry share these
rules: the idempotency key and person count, how late an arrival may be reported
and how long a visit may last, which office key a record must be sealed to, and in
rotating mode the admission from the entrance screen. The staff-entry page words
its messages from the same rules (arrival_window, departure_problem).
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from registration.checkin import rotating
from registration.checkin.errors import (
    ArrivalExpiredError,
    ArrivalOutOfRangeError,
    CheckInUnavailableError,
    EntranceCodeRequiredError,
    EnvelopeTooLargeError,
    InvalidEnvelopeError,
    InvalidRequestError,
    StaleKeyError,
    UnsupportedEnvelopeVersionError,
    UnsupportedSuiteError,
)
from registration.checkin.lookup import ActiveKey, current_key_description
from registration.clock import Clock
from registration.config import Settings
from registration.models import CheckInMode, CheckInSource, HealthOfficeKey, KeyState
from registration.offices import active_key

CLOCK_SKEW = dt.timedelta(minutes=2)
MAX_STAY = dt.timedelta(minutes=24 * 60)
MIN_PERSONS, MAX_PERSONS = 1, 1 + crypto.MAX_ADDITIONAL_PERSONS
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


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

    Every source may reach back over the whole retention period, the future only
    within the clock skew. A guest's phone keeps a sealed check-in in its outbox until
    it has a connection, which may be days later; refusing it would lose a visit the
    health office may need (the promise, 5), so it is stored and marked as delivered
    late (is_delivered_late). Staff type in paper lists after the fact. An arrival
    older than the retention period would be deleted at once, so it is refused. The
    staff-entry page words its messages from this window.
    """
    return now - dt.timedelta(days=settings.retention_days), now + CLOCK_SKEW


def timely_window(
    now: dt.datetime, settings: Settings, source: CheckInSource
) -> tuple[dt.datetime, dt.datetime]:
    """The arrivals a check-in from `source` normally reports at `now`.

    A guest's phone sends at once or within `max_late_arrival_minutes` (a phone without
    signal for a while); a staff entry may reach back over the retention period.
    """
    earliest, latest = arrival_window(now, settings, source)
    if source is not CheckInSource.STAFF_ENTRY:
        earliest = now - dt.timedelta(minutes=settings.max_late_arrival_minutes)
    return earliest, latest


def is_delivered_late(
    now: dt.datetime, settings: Settings, source: CheckInSource, arrival: dt.datetime
) -> bool:
    """A guest's check-in that reached the server after its timely window (a phone that
    kept it in its outbox for long). It is stored, and the health office sees the mark:
    such an arrival rests on the phone's clock alone, not on a prompt receipt."""
    return arrival < timely_window(now, settings, source)[0]


def check_arrival(
    clock: Clock,
    settings: Settings,
    arrival: dt.datetime,
    *,
    source: CheckInSource = CheckInSource.GUEST_PAGE,
) -> dt.datetime:
    """The arrival in UTC if it lies in its source's window (arrival_window).

    One older than the retention period gets its own error: the guest's phone says
    for good that the check-in was not delivered, and why.
    """
    if arrival.tzinfo is None:
        raise ArrivalOutOfRangeError
    earliest, latest = arrival_window(clock.now(), settings, source)
    if arrival < earliest:
        raise ArrivalExpiredError(
            extra={"earliest": earliest.isoformat(), "retentionDays": settings.retention_days}
        )
    if arrival > latest:
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


@dataclass(frozen=True, slots=True)
class Admission:
    """The admission a rotating-mode check-in carries, and whether it must be spent.

    `late`: the admission had expired by the server's clock when the check-in arrived
    (a phone that went offline after scanning); the check-in is stored only if this
    admission was not spent on another one (storage.store_checkin's late_admission).
    """

    token: str
    late: bool = False

    @property
    def late_token(self) -> str | None:
        return self.token if self.late else None


def admission_for(
    clock: Clock,
    *,
    checkin_mode: CheckInMode,
    rotating_secret: bytes,
    area_code: str,
    arrival: dt.datetime,
    admission: str | None,
    entrance_code: str = "",
) -> Admission | None:
    """The admission a check-in at this area carries; EntranceCodeRequiredError without one.

    Only rotating mode asks for one (None otherwise). An admission admits check-ins
    received up to 30 minutes after it was issued, by the server's clock (the guest
    page and the API hold it while the form is filled in); after that, once, a check-in
    that arrived within those 30 minutes and waited in the phone's outbox
    (rotating.admission_use). Failing that, a fresh code from the entrance screen (`?t=`
    on the guest page) earns a new one. Both guest paths ask here, so a photographed QR
    code is refused alike on each.
    """
    if checkin_mode != CheckInMode.ROTATING:
        return None
    now = clock.now()
    use = (
        rotating.admission_use(rotating_secret, area_code, admission, arrival, now)
        if admission
        else None
    )
    if admission and use is not None:
        return Admission(admission, late=use is rotating.AdmissionUse.LATE)
    if entrance_code and rotating.entrance_code_is_fresh(
        rotating_secret, area_code, entrance_code[:64], now
    ):
        return Admission(rotating.issue_admission(rotating_secret, area_code, now))
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
