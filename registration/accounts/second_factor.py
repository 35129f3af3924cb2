"""The second factor: TOTP codes from an app, and one-time recovery codes.

Health-office accounts cannot work without it; business accounts may switch it on.
A TOTP code is accepted once only (its time step is remembered), and failed codes
count like failed passwords (accounts.throttling).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

import pyotp
from sqlalchemy.orm import Session

from registration.accounts import throttling
from registration.accounts.access import SECOND_FACTOR_ROLES
from registration.accounts.errors import (
    LoginFailedError,
    SecondFactorFailedError,
    TwoFactorRequiredError,
)
from registration.accounts.passwords import verify_password
from registration.accounts.sessions import end_other_login_sessions
from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.models import RecoveryCode, User

RECOVERY_CODE_COUNT = 10
SETUP_LIFETIME = dt.timedelta(minutes=30)
TOTP_ISSUER = "Gastregister"
TOTP_PERIOD = 30
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def needs_second_factor(user: User) -> bool:
    return user.totp_enabled_at is not None


def must_set_up_second_factor(user: User) -> bool:
    """Health-office and operator accounts may not work without TOTP."""
    return user.role in SECOND_FACTOR_ROLES and user.totp_enabled_at is None


def new_totp_secret() -> str:
    return str(pyotp.random_base32())


def pending_totp_secret(session: Session, clock: Clock, user: User) -> str:
    """The secret this user is setting up, kept on the server for `SETUP_LIFETIME`.

    The session cookie is signed, not encrypted: a secret in it could be read from any
    copy of the cookie and would let its reader produce codes for ever. Reloading the
    page shows the same secret, so an app scanned a moment ago keeps working.
    """
    now = clock.now()
    started = user.pending_totp_started_at
    if user.pending_totp_secret is None or started is None or now - started > SETUP_LIFETIME:
        user.pending_totp_secret = new_totp_secret()
        user.pending_totp_started_at = now
        session.commit()
    return user.pending_totp_secret


def totp_uri(secret: str, email: str) -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER))


def matching_totp_step(
    secret: str, code: str, now: dt.datetime, last_step: int | None
) -> int | None:
    """The time step a code belongs to (±1 step of drift), never one used before."""
    code = re.sub(r"\s+", "", code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // TOTP_PERIOD
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(str(totp.at(step * TOTP_PERIOD)), code):
            return step
    return None


def _recovery_hash(code: str) -> str:
    normalised = re.sub(r"[^A-Z0-9]", "", code.upper())
    return hashlib.sha256(b"gastregister/recovery/" + normalised.encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    codes = []
    for _index in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    user.recovery_codes = [RecoveryCode(code_hash=_recovery_hash(code)) for code in codes]
    return codes


def enable_totp(
    session: Session, clock: Clock, user: User, code: str, *, keep_session: object
) -> list[str]:
    """Switch TOTP on once the user proved their app shows the right code for the
    pending secret; returns recovery codes. The user's other sessions end (all but
    `keep_session`)."""
    secret = pending_totp_secret(session, clock, user)
    step = matching_totp_step(secret, code, clock.now(), None)
    if step is None:
        raise SecondFactorFailedError
    user.totp_secret = secret
    user.pending_totp_secret = None
    user.pending_totp_started_at = None
    user.totp_enabled_at = clock.now()
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    end_other_login_sessions(session, user, keep=keep_session)
    record_event(
        session,
        clock,
        action="account.2fa_enabled",
        actor=user,
        business_id=user.business_id,
        health_office_id=user.health_office_id,
    )
    session.commit()
    return codes


def regenerate_recovery_codes(
    session: Session, clock: Clock, user: User, *, keep_session: object
) -> list[str]:
    """New recovery codes replace the old ones; the user's other sessions end."""
    codes = _new_recovery_codes(user)
    end_other_login_sessions(session, user, keep=keep_session)
    record_event(
        session,
        clock,
        action="account.recovery_codes_renewed",
        actor=user,
        business_id=user.business_id,
        health_office_id=user.health_office_id,
    )
    session.commit()
    return codes


def check_second_factor(
    session: Session,
    clock: Clock,
    settings: Settings,
    user: User,
    code: str,
    *,
    known_device: bool,
) -> None:
    """Accept a fresh TOTP code or an unused recovery code; failures count like wrong
    passwords (accounts.throttling)."""
    now = clock.now()
    if throttling.must_wait(user, now, known_device=known_device) or user.totp_secret is None:
        raise SecondFactorFailedError
    step = matching_totp_step(user.totp_secret, code, now, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        throttling.record_success(user, known_device=known_device)
        session.commit()
        return
    wanted = _recovery_hash(code)
    for recovery in user.recovery_codes:
        if recovery.used_at is None and hmac.compare_digest(recovery.code_hash, wanted):
            recovery.used_at = now
            throttling.record_success(user, known_device=known_device)
            session.commit()
            return
    throttling.record_failure(session, clock, settings, user)
    raise SecondFactorFailedError


def unused_recovery_codes(user: User) -> int:
    return sum(1 for code in user.recovery_codes if code.used_at is None)


def disable_totp(
    session: Session, clock: Clock, user: User, password: str, *, keep_session: object
) -> None:
    """Switch TOTP off (business accounts, with the password); other sessions end."""
    if user.role in SECOND_FACTOR_ROLES:
        raise TwoFactorRequiredError
    if not verify_password(user.password_hash, password):
        raise LoginFailedError
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_codes = []
    end_other_login_sessions(session, user, keep=keep_session)
    record_event(
        session, clock, action="account.2fa_disabled", actor=user, business_id=user.business_id
    )
    session.commit()
