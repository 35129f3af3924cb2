"""Log-in: the password check with throttling (accounts.throttling), the step between
password and second factor.

Unknown e-mail, wrong password, disabled accounts and a throttled stranger all get the
same refusal after the same password-hashing work, so the log-in page never tells a
stranger which addresses have an account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.accounts import throttling
from registration.accounts.access import OFFICE_ROLES
from registration.accounts.errors import EmailNotVerifiedError, LoginFailedError
from registration.accounts.passwords import hash_password, needs_rehash, verify_password
from registration.accounts.sessions import end_other_login_sessions
from registration.accounts.validation import normalise_email
from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.models import Role, User


def find_user(session: Session, email: str) -> User | None:
    user: User | None = session.scalar(select(User).where(User.email == normalise_email(email)))
    return user


def authenticate(
    session: Session,
    clock: Clock,
    settings: Settings,
    email: str,
    password: str,
    *,
    device: str | None = None,
) -> User:
    """The user for a right e-mail and password, counting failures (accounts.throttling).

    Unknown e-mail, wrong password, disabled accounts and a stranger's client that has
    to wait all raise the same LoginFailedError after the same password-hashing work.
    `device` is the device cookie: on one of the owner's devices the right password
    works even while strangers wait.
    """
    now = clock.now()
    user = find_user(session, email)
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or user.disabled_at is not None:
        raise LoginFailedError
    known_device = throttling.is_known_device(settings, user, device, now)
    if throttling.must_wait(user, now, known_device=known_device):
        raise LoginFailedError
    if not password_ok:
        throttling.record_failure(session, clock, settings, user)
        raise LoginFailedError
    throttling.record_success(user, known_device=known_device)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.commit()
    if user.email_verified_at is None:
        raise EmailNotVerifiedError
    return user


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
    elif user.role == Role.OPERATOR:
        record_event(session, clock, action="operator.login", actor=user)
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
