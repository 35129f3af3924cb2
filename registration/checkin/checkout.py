"""How a visit ends: the check-out token, check-out with it, and closing time.

The token is derived, never stored (only its hash is), so a retried check-in gets
the same one and a stolen database cannot check anyone out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import crypto
from registration.checkin.arrival_days import arrival_within, id_window, window_parameters
from registration.checkin.errors import CheckInNotFoundError, InvalidRequestError
from registration.checkin.occupancy import present_at
from registration.checkin.rules import CLOCK_SKEW
from registration.clock import Clock
from registration.config import Settings
from registration.models import CheckIn, Location

# checkout_token's form: base64url of an HMAC-SHA-256, without padding.
CHECKOUT_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)
# Compared against when the check-in id is unknown, so that both cases take the same path.
_NO_SUCH_HASH = hashlib.sha256(b"gastregister/no-such-checkin").digest()


def checkout_token(settings: Settings, idempotency_key: str) -> str:
    """The secret check-out token, derived so a retry yields the same one and none is stored.

    HMAC(derive_key("checkout-token"), idempotency key): the server can recompute it
    for a retried submission, while the database holds only its SHA-256.
    """
    return crypto.b64url_encode(settings.keyed_hash("checkout-token", idempotency_key.encode()))


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


# A check-in by its id, in the partitions of the day its id names (arrival_days), or,
# for an id that names none (check-ins stored before ids carried their arrival), in all.
_ON_ANY_DAY = select(CheckIn).where(CheckIn.id == bindparam("checkin_id")).limit(1)
_ON_ITS_DAY = (
    select(CheckIn)
    .where(CheckIn.id == bindparam("checkin_id"), arrival_within(CheckIn.arrival))
    .limit(1)
)

_DEPART = (
    update(CheckIn)
    .where(CheckIn.id == bindparam("checkin_id"), arrival_within(CheckIn.arrival))
    .values(departure=bindparam("departure"))
)


def verified_checkin(session: Session, checkin_id: uuid.UUID, token: str) -> CheckIn:
    """The check-in whose token this is; CheckInNotFoundError for an unknown id or a wrong token.

    Both failures take the same path (hash, constant-time compare against a stored or a
    dummy hash) and give the same answer, so the token cannot be used to probe ids.
    """
    window = id_window(checkin_id)
    candidate = session.scalar(
        _ON_ANY_DAY if window is None else _ON_ITS_DAY, {"checkin_id": checkin_id, **(window or {})}
    )
    stored = candidate.checkout_token_hash if candidate is not None else _NO_SUCH_HASH
    matches = hmac.compare_digest(token_hash(token), stored)
    if candidate is None or not matches:
        raise CheckInNotFoundError
    return candidate


def check_out(
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
    departure = min(max(claimed, checkin.arrival), checkin.auto_departure)
    # Not the ORM's UPDATE … WHERE id AND arrival: its cached plan would lock every day's
    # partition (arrival_days); this one names the arrival's day.
    session.execute(
        _DEPART,
        {
            "checkin_id": checkin.id,
            "departure": departure,
            **window_parameters(checkin.arrival, checkin.arrival),
        },
        execution_options={"synchronize_session": False},
    )
    set_committed_value(checkin, "departure", departure)
    session.commit()
    return checkin, already_out


def check_out_all(session: Session, clock: Clock, location: Location) -> int:
    """Check out everyone present at a location (closing time); returns how many visits."""
    now = clock.now()
    result = session.execute(
        update(CheckIn)
        .where(present_at(now), CheckIn.location_id == location.id)
        .values(departure=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE
