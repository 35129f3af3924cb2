"""Storing a sealed check-in exactly once: one function for every way in.

A phone's outbox retries with the same idempotency key and arrival until it hears
an answer, so a retry must find the stored check-in and get the same check-out
token, while the same key with other content is a conflict (the promise, 5). One
INSERT … SELECT … WHERE NOT EXISTS does it in one round trip, with a unique
constraint behind it for concurrent retries.

The database keeps only a keyed hash of the idempotency key (idempotency_key_hash):
the key is what a retry proves itself with, and the check-out token is derived from
it, so whoever read it from a dump could replay it on the no-JavaScript form and
take over that guest's check-in. A retry must repeat what was stored — same path,
area, persons and arrival, and the same envelope, or for the no-JavaScript form,
which seals anew on every submission, the same typed-in values (submission_digest).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registration import metrics
from registration.checkin import rotating
from registration.checkin.arrival_days import arrival_within, checkin_id, window_parameters
from registration.checkin.checkout import checkout_token, token_hash
from registration.checkin.errors import EntranceCodeRequiredError, IdempotencyConflictError
from registration.checkin.lookup import ActiveKey, AreaTarget
from registration.checkin.rules import (
    CLOCK_SKEW,
    accepted_key_id,
    check_arrival,
    check_departure,
    check_idempotency_key,
    check_persons,
    inspect_envelope,
    is_delivered_late,
    timely_window,
)
from registration.clock import Clock
from registration.config import Settings
from registration.models import CheckIn, CheckInSource


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


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


# Built once, like the statements below: a request only binds values.
_checkins = _table(CheckIn)


def idempotency_key_digest(settings: Settings, idempotency_key: str) -> str:
    """The keyed hash that names an idempotency key: HMAC-SHA-256 under its own key, hex.

    Keyed, not a plain SHA-256: the no-JavaScript page's keys are random, but an API
    client picks its own, and a dump plus a guess must not confirm one. Check-ins
    stored before arrival days led the column hold exactly this (64 digits).
    """
    return settings.keyed_hash("idempotency-key", idempotency_key.encode()).hex()


# The stored form: the arrival's UTC day (YYYYMMDD), then the first 56 hex digits
# (224 bits) of the digest, 64 characters in all like the column.
KEY_BODY_DIGITS = 56


def idempotency_key_hash(digest: str, arrival: dt.datetime) -> str:
    """What the database keeps of an idempotency key: the arrival's day, then its digest.

    The unique (idempotency_key_hash, arrival) index orders its entries by this value.
    A bare digest is random, so the purge, deleting the oldest day, rewrote nearly one
    page of that index per row (on SQLite most of its time); led by the day, a day's
    keys sit side by side and expire together. The day is no secret: the arrival is
    stored in plain beside it. `digest` is idempotency_key_digest's, made once per
    request for this and idempotency_key_hashes.
    """
    return _day(arrival.astimezone(dt.UTC).date()) + digest[:KEY_BODY_DIGITS]


def idempotency_key_hashes(digest: str, earliest: dt.datetime, latest: dt.datetime) -> list[str]:
    """Every stored form a key (its digest) can have for an arrival from `earliest` to
    `latest`: one per UTC day, and the bare digest of check-ins stored before days led it."""
    body = digest[:KEY_BODY_DIGITS]
    first = earliest.astimezone(dt.UTC).date()
    days = (latest.astimezone(dt.UTC).date() - first).days
    # Counted, not stepped past the last day: no date after 9999-12-31 is ever made.
    return [digest, *(_day(first + dt.timedelta(days=n)) + body for n in range(days + 1))]


def _day(day: dt.date) -> str:
    """YYYYMMDD, always eight digits (strftime's %Y does not pad a year before 1000),
    and a fifth of strftime's time: a check-in writes two to four of these."""
    return "%04d%02d%02d" % (day.year, day.month, day.day)  # noqa: UP031  # faster than f""


def form_submission_digest(
    settings: Settings, idempotency_key: str, *, area_id: int, persons: int, record: object
) -> str:
    """A digest of what a guest typed into the no-JavaScript form, to recognise a resend.

    The server seals that form anew on every submission (HPKE is randomised), so a
    double tap cannot be recognised by its envelope. The digest is keyed with the
    plain idempotency key, which the database does not hold: neither a dump nor the
    server's secret lets anyone test a guess of the typed-in values against it.
    """
    key = settings.keyed_hash("form-submission", idempotency_key.encode())
    typed = json.dumps(
        {"area": area_id, "persons": persons, "record": record},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hmac.new(key, typed.encode(), hashlib.sha256).hexdigest()


def _in_retry_window(key_slots: int | None = None) -> ColumnElement[bool]:
    """A check-in row with one of the key's stored forms (idempotency_key_hashes) and an
    arrival within the retry window bound as `earliest` … `latest`: where a retry's
    first try is, and the one rule for finding it (here and in hot_path).

    The forms are bound as the list `known_keys`, or with `key_slots` as that many
    single values (key_form_parameters): the hot path's statement then needs no
    rendering per execution (an expanding list is spelled out each time).
    """
    keys: Any = (
        bindparam("known_keys", expanding=True)
        if key_slots is None
        else [bindparam(f"known_key_{slot}") for slot in range(key_slots)]
    )
    return and_(
        _checkins.c.idempotency_key_hash.in_(keys),
        arrival_within(_checkins.c.arrival),
    )


_FIND_RETRYABLE = select(CheckIn).where(_in_retry_window()).limit(1)
# For INSERT … SELECT … WHERE: no check-in with this key (its forms bound as `known_keys`) yet.
KEY_NOT_STORED = ~exists(select(_checkins.c.id).where(_in_retry_window()))
# The forms of a key come in slots of this many (a window of up to three days, and the
# bare digest, fill one): a few statements to cache, whatever max_late_arrival_minutes.
KEY_SLOT_GROUP = 4


def key_slots(forms: int) -> int:
    """Slots for `forms` stored forms: the next multiple of KEY_SLOT_GROUP."""
    return -(-forms // KEY_SLOT_GROUP) * KEY_SLOT_GROUP


@functools.lru_cache(maxsize=16)
def key_not_stored_in_slots(slots: int) -> ColumnElement[bool]:
    """KEY_NOT_STORED with the forms bound as `slots` single values (key_form_parameters)."""
    return ~exists(select(_checkins.c.id).where(_in_retry_window(slots)))


def key_form_parameters(forms: list[str], slots: int) -> dict[str, str]:
    """`forms` as the parameters of key_not_stored_in_slots(slots); the last form fills
    the spare slots (a repeated value in IN changes nothing)."""
    padded = [*forms, *[forms[-1]] * (slots - len(forms))]
    return {f"known_key_{slot}": form for slot, form in enumerate(padded)}


def existing_checkin(
    session: Session,
    clock: Clock,
    settings: Settings,
    idempotency_key: str,
    *,
    source: CheckInSource = CheckInSource.GUEST_PAGE,
    arrival: dt.datetime | None = None,
) -> CheckIn | None:
    """A check-in stored before under this idempotency key, if it can still be retried.

    Only arrivals that `source` submits in time are searched (for guests the late-arrival
    window; for staff entries the retention period), back to `arrival` when a retry
    of a late delivery names an older one: the bound lets PostgreSQL skip old partitions.
    """
    earliest, latest = _retry_window(clock, settings, source, arrival)
    return session.scalars(
        _FIND_RETRYABLE,
        {
            "known_keys": idempotency_key_hashes(
                idempotency_key_digest(settings, idempotency_key), earliest, latest
            ),
            **window_parameters(earliest, latest),
        },
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
    submission_digest: str | None = None,
    current_key: ActiveKey | None = None,
    on_created: Callable[[], object] | None = None,
    late_admission: str | None = None,
) -> CheckInReceipt:
    """Store one sealed check-in exactly once and answer with its check-out token.

    The one storage path of the guest page, the JSON API and the staff entry. A retry
    (same idempotency key, area, envelope and persons) answers with the stored
    check-in and the same token; the same key with other content is a conflict.
    `submission_digest` (form_submission_digest) stands in for the envelope when the
    caller seals anew on every submission (the no-JavaScript form). Commits on success; on any refusal nothing is stored. `current_key` is the
    office's active key if the caller has just loaded it, to save a query.
    `on_created` runs inside the storing transaction when this call stores a new
    check-in (the staff entry writes its audit event there): if it raises, nothing is
    stored. `late_admission` is a rotating-mode admission that had expired on receipt
    (rules.Admission.late): refused if another check-in spent it, else kept as spent.
    A guest's arrival older than the late-arrival window is stored marked as
    delivered late (rules.is_delivered_late).
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
    spent_digest = None
    if late_admission is not None:
        spent_digest = admission_digest(settings, late_admission)
        _refuse_spent_admission(session, settings, target, spent_digest, idempotency_key, arrival)
    key_digest = idempotency_key_digest(settings, idempotency_key)
    values: dict[str, Any] = {
        "id": checkin_id(arrival),
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
        "idempotency_key_hash": idempotency_key_hash(key_digest, arrival),
        "submission_digest": submission_digest,
        "received_at": clock.now(),
        "delivered_late": is_delivered_late(clock.now(), settings, source, arrival),
        "admission_digest": spent_digest,
    }
    if _insert_and_commit(session, clock, settings, values, key_digest, on_created):
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
    return _replayed(session, clock, settings, values, idempotency_key, token)


def admission_digest(settings: Settings, admission: str) -> str:
    """What a check-in keeps of the late admission it spent: HMAC-SHA-256, hex.

    Keyed, so the column names no issue time and cannot be matched against an
    admission seen elsewhere without the server's secret.
    """
    return settings.keyed_hash("late-admission", admission.encode()).hex()


# Another check-in that spent this admission. Its arrival, like ours, lies within the
# admission's lifetime, so the two are at most that far apart: the bound keeps the
# look-up to the partitions of those days.
_SPENT_ADMISSION = (
    select(CheckIn.id)
    .where(
        CheckIn.area_id == bindparam("area_id"),
        CheckIn.admission_digest == bindparam("digest"),
        CheckIn.idempotency_key_hash.not_in(bindparam("known_keys", expanding=True)),
        arrival_within(CheckIn.arrival),
    )
    .limit(1)
)


def _refuse_spent_admission(
    session: Session,
    settings: Settings,
    target: AreaTarget,
    digest: str,
    idempotency_key: str,
    arrival: dt.datetime,
) -> None:
    """EntranceCodeRequiredError if another check-in already spent this late admission.

    A retry of the check-in that spent it (same idempotency key) passes and is then
    answered as a replay.
    """
    reach = rotating.ADMISSION_LIFETIME + rotating.CLOCK_SKEW
    earliest, latest = arrival - reach, arrival + reach
    spent = session.execute(
        _SPENT_ADMISSION,
        {
            "area_id": target.area_id,
            "digest": digest,
            "known_keys": idempotency_key_hashes(
                idempotency_key_digest(settings, idempotency_key), earliest, latest
            ),
            **window_parameters(earliest, latest),
        },
    ).first()
    if spent is not None:
        raise EntranceCodeRequiredError


def _replayed(
    session: Session,
    clock: Clock,
    settings: Settings,
    values: dict[str, Any],
    idempotency_key: str,
    token: str,
) -> CheckInReceipt:
    """The check-in stored before under this idempotency key, if `values` repeat it."""
    previous = existing_checkin(
        session,
        clock,
        settings,
        idempotency_key,
        source=values["source"],
        arrival=values["arrival"],
    )
    if previous is None or not _repeats(previous, values):
        raise IdempotencyConflictError
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
    "idempotency_key_hash",
    "submission_digest",
    "received_at",
    "delivered_late",
    "admission_digest",
)
# INSERT … SELECT <values> WHERE NOT EXISTS (same idempotency key in the retry window).
_INSERT_UNLESS_KNOWN = (
    insert(_checkins)
    .from_select(
        list(_INSERTED_COLUMNS),
        select(
            *(bindparam(name, type_=_checkins.c[name].type) for name in _INSERTED_COLUMNS)
        ).where(KEY_NOT_STORED),
    )
    # RETURNING, not rowcount: drivers do not all report a row count for INSERT … SELECT.
    .returning(_checkins.c.id)
)


def _insert_unless_known(
    session: Session, clock: Clock, settings: Settings, values: dict[str, Any], key_digest: str
) -> bool:
    """Insert unless the idempotency key is known in the retry window: one round trip.

    The unique (idempotency_key_hash, arrival) constraint catches a concurrent retry
    with the same arrival; the NOT EXISTS also catches the same key with another arrival.
    """
    earliest, latest = _retry_window(clock, settings, values["source"], values["arrival"])
    parameters = {
        **values,
        "known_keys": idempotency_key_hashes(key_digest, earliest, latest),
        **window_parameters(earliest, latest),
    }
    return session.connection().execute(_INSERT_UNLESS_KNOWN, parameters).first() is not None


def _insert_and_commit(
    session: Session,
    clock: Clock,
    settings: Settings,
    values: dict[str, Any],
    key_digest: str,
    on_created: Callable[[], object] | None,
) -> bool:
    """Insert (unless the key is known) and commit, with on_created in the same transaction.

    Only the insert's IntegrityError means a concurrent retry; one from on_created is
    the caller's failure and, like any other, rolls the check-in back with it.
    """
    try:
        inserted = _insert_unless_known(session, clock, settings, values, key_digest)
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


def _retry_window(
    clock: Clock, settings: Settings, source: CheckInSource, arrival: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """The arrivals among which a key is looked for: those `source` submits in time,
    and back to `arrival` for a check-in delivered late.

    Guests' check-ins arrive within the late-arrival window, staff entries within the
    retention period; a replay of either must find the first, or it would be stored
    twice. The guest window is the narrower, so a timely guest check-in reads few
    partitions; only a late delivery reads back to its own arrival, where its retry
    (same arrival, from the phone's outbox) finds it.
    """
    now = clock.now()
    earliest, latest = timely_window(now, settings, source)
    guest_earliest, _ = timely_window(now, settings, CheckInSource.GUEST_PAGE)
    earliest = min(earliest, guest_earliest)
    if arrival is not None:
        earliest = min(earliest, arrival)
    return earliest - CLOCK_SKEW, latest


def _repeats(previous: CheckIn, values: dict[str, Any]) -> bool:
    """A retry repeats the stored check-in exactly: the same path, area, persons, and
    either the same typed-in values (a form sealed anew each time) or the same
    envelope and arrival. Anything else under the same key is a conflict."""
    if (
        previous.source != values["source"]
        or previous.area_id != values["area_id"]
        or previous.persons != values["persons"]
    ):
        return False
    digest = values["submission_digest"]
    if digest is not None:
        return previous.submission_digest is not None and hmac.compare_digest(
            previous.submission_digest, digest
        )
    return previous.arrival == values["arrival"] and hmac.compare_digest(
        previous.envelope, bytes(values["envelope"])
    )
