"""Log-in: password check with lock-out, the step between password and second factor.

Unknown e-mail, wrong password, disabled and locked accounts all get the same
refusal after the same password-hashing work, so the log-in page never tells a
stranger which addresses have an account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.accounts.access import OFFICE_ROLES
from registration.accounts.errors import EmailNotVerifiedError, LoginFailedError
from registration.accounts.passwords import hash_password, needs_rehash, verify_password
from registration.accounts.sessions import end_other_login_sessions
from registration.accounts.validation import normalise_email
from registration.audit import record_event
from registration.clock import Clock
from registration.models import User

LOGIN_FAILURE_LIMIT = 5
LOCK_DURATION = dt.timedelta(minutes=15)


def find_user(session: Session, email: str) -> User | None:
    user: User | None = session.scalar(select(User).where(User.email == normalise_email(email)))
    return user


def authenticate(session: Session, clock: Clock, email: str, password: str) -> User:
    """The user for a right e-mail and password, counting failures towards a lock.

    Unknown e-mail, wrong password, disabled and locked accounts all raise the same
    LoginFailedError after the same password-hashing work.
    """
    now = clock.now()
    user = find_user(session, email)
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or user.disabled_at is not None:
        raise LoginFailedError
    if user.login_throttled_until is not None and user.login_throttled_until > now:
        raise LoginFailedError
    if not password_ok:
        count_failure(session, now, user)
        raise LoginFailedError
    user.failed_login_count = 0
    user.login_throttled_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.commit()
    if user.email_verified_at is None:
        raise EmailNotVerifiedError
    return user


def count_failure(session: Session, now: dt.datetime, user: User) -> None:
    """One more failed password or code; the fifth in a row locks the account."""
    user.failed_login_count += 1
    if user.failed_login_count >= LOGIN_FAILURE_LIMIT:
        user.login_throttled_until = now + LOCK_DURATION
        user.failed_login_count = 0
    session.commit()


def is_locked(user: User, now: dt.datetime) -> bool:
    return user.login_throttled_until is not None and user.login_throttled_until > now


def complete_login(session: Session, clock: Clock, user: User) -> None:
    user.last_login_at = clock.now()
    if user.role in OFFICE_ROLES:
        record_event(
            session,
            clock,
            action="office.login",
            actor=user,
            health_office_id=user.health_office_id,
        )
    session.commit()


def end_all_sessions(session: Session, clock: Clock, user: User) -> None:
    """ "Log out on all devices": every session of the user ends (audited)."""
    end_other_login_sessions(session, user, keep=None)
    record_event(
        session,
        clock,
        action="account.logged_out_everywhere",
        actor=user,
        business_id=user.business_id,
        health_office_id=user.health_office_id,
    )
    session.commit()


@dataclass(frozen=True)
class PendingLogin:
    """What the session remembers between password and second factor."""

    user_id: int
    session_version: int
    started: dt.datetime

    def as_session(self) -> dict[str, Any]:
        return {"u": self.user_id, "v": self.session_version, "t": int(self.started.timestamp())}

    @classmethod
    def from_session(cls, raw: object) -> PendingLogin | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(
                int(raw["u"]), int(raw["v"]), dt.datetime.fromtimestamp(int(raw["t"]), dt.UTC)
            )
        except (KeyError, TypeError, ValueError):
            return None
