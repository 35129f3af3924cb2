"""The JSON API's common check-in in one statement: a known area, its office's current
key, an arrival in time, a new idempotency key.

The full path (api.create_checkin → lookup.find_checkin_target → storage.store_checkin)
reads the area, then inserts and commits: three round trips and an ORM session. Most
check-ins are the plain case, so this module remembers, per process, what the full
path last read for an area code (`remember`), and stores the next check-in there with
one INSERT … SELECT … FROM areas JOIN locations that repeats every fact it relies on in
its WHERE clause: the area and location open, their codes and names unchanged (the
answer names them), the same stay and office, static mode (rotating mode needs an
admission: full path), the envelope's key still that office's newest active key, and
no check-in with the same idempotency key in its retry window. So the remembered
values are only a hint: if anything changed, no row is inserted and the request takes
the full path, which answers exactly as before (unknown area, stale key, replay,
conflict) and remembers the new values.

The rules are the full path's (rules.check_*); a check-in any of them refuses takes the
full path too, so every refusal is answered in one place. Only a timely arrival (within
`max_late_arrival_minutes`, the guest's timely window) is taken here: a late delivery,
like a rotating-mode admission, is the full path's, so every column this statement does
not name keeps its default. It runs as its driver's SQL (database.DriverStatement) on
a pooled connection without an ORM session, in autocommit on PostgreSQL
(Database.single_statement_returned_row): an insert whose answer never
came (a stalled database) may be committed behind the 503 the phone was given, and the
phone's retry, with the same idempotency key, is then answered with that check-in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hmac
import threading
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from registration import metrics
from registration.checkin import rules, storage
from registration.checkin.arrival_days import checkin_id, window_parameters
from registration.checkin.checkout import checkout_token, token_hash
from registration.checkin.errors import CheckInError
from registration.checkin.lookup import CheckInTarget
from registration.clock import Clock
from registration.config import Settings
from registration.database import Database, DriverStatement
from registration.models import (
    Area,
    CheckIn,
    CheckInMode,
    CheckInSource,
    HealthOfficeKey,
    KeyState,
    Location,
)

# Areas remembered per process; beyond this the memory starts again (a deployment has
# a few thousand areas, and forgetting costs one full-path check-in each).
MAX_REMEMBERED_AREAS = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class StoredCheckIn:
    """A check-in stored by the hot path, and the area values its answer names."""

    receipt: storage.CheckInReceipt
    target: CheckInTarget


class RememberedAreas:
    """What the full path last read per area code: a hint the statement checks again."""

    def __init__(self, limit: int = MAX_REMEMBERED_AREAS) -> None:
        self._limit = limit
        self._targets: dict[str, CheckInTarget] = {}
        self._lock = threading.Lock()

    def remember(self, target: CheckInTarget) -> None:
        """Keep `target` for its code; a rotating-mode area is never stored here."""
        if target.checkin_mode is not CheckInMode.STATIC or target.key is None:
            self.forget(target.area_code)
            return
        with self._lock:
            if len(self._targets) >= self._limit and target.area_code not in self._targets:
                self._targets.clear()
            self._targets[target.area_code] = target

    def forget(self, code: str) -> None:
        with self._lock:
            self._targets.pop(code, None)

    def get(self, code: str) -> CheckInTarget | None:
        return self._targets.get(code)


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_checkins = _table(CheckIn)
_areas = _table(Area)
_locations = _table(Location)
_keys = _table(HealthOfficeKey)

# The columns this path writes; every other column of checkins takes its default.
_VALUES = (
    "id",
    "arrival",
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
)
# The office's newest active key: the same rule as lookup's (newest activation, then id).
_NEWEST_ACTIVE_KEY = (
    select(_keys.c.key_id)
    .where(
        _keys.c.health_office_id == _locations.c.health_office_id,
        _keys.c.state == KeyState.ACTIVE,
    )
    .order_by(_keys.c.activated_at.desc(), _keys.c.id.desc())
    .limit(1)
    .scalar_subquery()
)


@functools.lru_cache(maxsize=8)
def _insert_at_known_area(key_slots: int) -> DriverStatement:
    """The statement, with the idempotency key's forms in `key_slots` single parameters
    (storage.key_not_stored_in_slots): a list parameter was spelled out anew on every
    execution, a tenth of the statement's CPU. Run as its driver's SQL (DriverStatement:
    compiled once a day, not looked up, bound and rendered per check-in)."""
    return DriverStatement(
        insert(_checkins)
        .from_select(
            ["location_id", "area_id", *_VALUES],
            select(
                _locations.c.id,
                _areas.c.id,
                *(bindparam(name, type_=_checkins.c[name].type) for name in _VALUES),
            )
            .select_from(_areas.join(_locations, _areas.c.location_id == _locations.c.id))
            .where(
                and_(
                    _areas.c.id == bindparam("known_area_id"),
                    _areas.c.code == bindparam("known_area_code"),
                    _areas.c.name == bindparam("known_area_name"),
                    _areas.c.archived_at.is_(None),
                    _locations.c.id == bindparam("known_location_id"),
                    _locations.c.code == bindparam("known_location_code"),
                    _locations.c.name == bindparam("known_location_name"),
                    _locations.c.archived_at.is_(None),
                    _locations.c.checkin_mode == CheckInMode.STATIC,
                    _locations.c.default_stay_minutes == bindparam("known_stay_minutes"),
                    _locations.c.health_office_id == bindparam("known_office_id"),
                    bindparam("known_key_id") == _NEWEST_ACTIVE_KEY,
                    storage.key_not_stored_in_slots(key_slots),
                )
            ),
            # Every column it does not name takes its server default (DriverStatement
            # fills in no Python-side default).
            include_defaults=False,
        )
        # RETURNING, not rowcount: drivers do not all report a row count for INSERT … SELECT.
        .returning(_checkins.c.id)
    )


def store_at_known_area(
    database: Database,
    areas: RememberedAreas,
    clock: Clock,
    settings: Settings,
    *,
    area_code: str,
    envelope: bytes,
    persons: int,
    arrival: dt.datetime,
    idempotency_key: str,
) -> StoredCheckIn | None:
    """Store a new guest-page check-in in one statement; None: take the full path.

    None when the area is not remembered, a rule refuses the check-in, or the
    statement inserted nothing (something it checks changed, or the key is known).
    """
    target = areas.get(area_code)
    if target is None or target.key is None:
        return None
    now = clock.now()
    try:
        rules.check_idempotency_key(idempotency_key)
        rules.check_persons(persons)
        arrival = rules.check_arrival(clock, settings, arrival)
        header = rules.inspect_envelope(envelope)
    except CheckInError:
        return None
    timely_from = now - dt.timedelta(minutes=settings.max_late_arrival_minutes)
    key_id = target.key.key_id
    if arrival < timely_from or not hmac.compare_digest(header.key_id.hex(), key_id):
        return None
    place = target.storage
    token = checkout_token(settings, idempotency_key)
    key_digest = storage.idempotency_key_digest(settings, idempotency_key)
    values: dict[str, Any] = {
        "id": checkin_id(arrival),
        "arrival": arrival,
        "departure": None,
        "auto_departure": arrival + dt.timedelta(minutes=place.default_stay_minutes),
        "persons": persons,
        "source": CheckInSource.GUEST_PAGE,
        "key_id": key_id,
        "envelope": bytes(envelope),
        "checkout_token_hash": token_hash(token),
        "idempotency_key_hash": storage.idempotency_key_hash(key_digest, arrival),
        "submission_digest": None,
        "received_at": now,
    }
    # storage's retry window for a guest check-in: where a retry's first try would be.
    earliest, latest = timely_from - rules.CLOCK_SKEW, now + rules.CLOCK_SKEW
    forms = storage.idempotency_key_hashes(key_digest, earliest, latest)
    slots = storage.key_slots(len(forms))
    parameters = {
        **values,
        "known_area_id": place.area_id,
        "known_area_code": target.area_code,
        "known_area_name": target.area_name,
        "known_location_id": place.location_id,
        "known_location_code": target.location_code,
        "known_location_name": target.location_name,
        "known_stay_minutes": place.default_stay_minutes,
        "known_office_id": place.health_office_id,
        "known_key_id": key_id,
        **storage.key_form_parameters(forms, slots),
        **window_parameters(earliest, latest),
    }
    try:
        inserted = database.single_statement_returned_row(_insert_at_known_area(slots), parameters)
    except IntegrityError:
        # A concurrent retry with the same key and arrival: the full path answers it.
        return None
    if not inserted:
        areas.forget(area_code)
        return None
    metrics.checkin_accepted(CheckInSource.GUEST_PAGE)
    receipt = storage.CheckInReceipt(
        id=values["id"],
        arrival=arrival,
        auto_departure=values["auto_departure"],
        departure=None,
        persons=persons,
        token=token,
        created=True,
    )
    return StoredCheckIn(receipt=receipt, target=target)
