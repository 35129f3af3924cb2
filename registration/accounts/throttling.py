"""Slowing down password guessing without handing strangers a way to lock owners out.

A hard lock after five wrong passwords let anyone lock any account, a health office's
included, for as long as they kept typing. Instead:

- Per account: from the fifth wrong password (or second-factor code) in a row, clients
  that are *not* one of the owner's devices must wait before the next try — one minute,
  then twice as long after each further failure, at most an hour. Attempts made while
  waiting are refused unchecked and do not prolong the wait. The owner gets one notice
  mail when this starts.
- The owner's devices are exempt: a complete log-in (or a password reset, which proves
  the mailbox) leaves a signed device cookie naming the account, and with it the right
  password still works while strangers wait.
- Per client: failed log-ins are also rate-limited by client (Flask-Limiter, in
  accounts.web), with a wait that grows when the client keeps failing, so one client
  cannot try many accounts quickly either.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from registration.accounts import tokens
from registration.accounts.deferred_mail import send_after_response
from registration.clock import Clock
from registration.config import Settings
from registration.mail import public_url, render_mail
from registration.models import User

THROTTLE_AFTER = 5
FIRST_WAIT = dt.timedelta(minutes=1)
LONGEST_WAIT = dt.timedelta(hours=1)
FORGET_AFTER = dt.timedelta(days=1)

DEVICE_COOKIE = "gr_device"
DEVICE_COOKIE_PATH = "/konto/"
DEVICE_LIFETIME = dt.timedelta(days=365)
_DEVICE_PURPOSE = "known-device"


def wait_after(failures: int) -> dt.timedelta:
    """How long other clients wait after the `failures`-th failure in a row."""
    if failures < THROTTLE_AFTER:
        return dt.timedelta(0)
    doublings = min(failures - THROTTLE_AFTER, 16)
    wait: dt.timedelta = FIRST_WAIT * (1 << doublings)
    return min(wait, LONGEST_WAIT)


def must_wait(user: User, now: dt.datetime, *, known_device: bool) -> bool:
    """Whether this attempt is refused unchecked: a stranger's client while throttled."""
    until = user.login_throttled_until
    return not known_device and until is not None and until > now


def record_failure(session: Session, clock: Clock, settings: Settings, user: User) -> None:
    """One more wrong password or code in a row; from the fifth on, other clients wait.

    A failure a day after the last wait ended starts a new count. Commits.
    """
    now = clock.now()
    until = user.login_throttled_until
    if until is not None and now - until > FORGET_AFTER:
        user.failed_login_count = 0
    user.failed_login_count += 1
    wait = wait_after(user.failed_login_count)
    if wait:
        user.login_throttled_until = now + wait
    if user.failed_login_count == THROTTLE_AFTER:
        _send_notice(settings, user)
    session.commit()


def record_success(user: User, *, known_device: bool) -> None:
    """A right password: the count starts again — unless strangers are being slowed
    down and the owner logged in from their own device; that must not let the stranger
    try again at full speed. The caller commits."""
    if known_device and user.failed_login_count >= THROTTLE_AFTER:
        return
    user.failed_login_count = 0
    user.login_throttled_until = None


def forget_failures(user: User) -> None:
    """A password reset proved the mailbox: the slate is clean. The caller commits."""
    user.failed_login_count = 0
    user.login_throttled_until = None


def _send_notice(settings: Settings, user: User) -> None:
    subject, body = render_mail(
        "accounts/mail/login_throttled.txt",
        user.language,
        {"count": THROTTLE_AFTER, "link": public_url(settings, "accounts.request_reset")},
    )
    send_after_response(settings, user.email, subject, body)


# --- the owner's devices -------------------------------------------------------------


def device_token(settings: Settings, user: User, now: dt.datetime) -> str:
    """The signed value of the device cookie a complete log-in leaves."""
    return tokens.issue_token(
        settings.derive_key(_DEVICE_PURPOSE), _DEVICE_PURPOSE, {"u": user.id}, now
    )


def is_known_device(settings: Settings, user: User, token: str | None, now: dt.datetime) -> bool:
    """Whether the device cookie is ours, not older than a year, and for this account."""
    if not token:
        return False
    try:
        subject = tokens.read_token(
            settings.derive_key(_DEVICE_PURPOSE), _DEVICE_PURPOSE, token, now, DEVICE_LIFETIME
        )
    except tokens.TokenError:
        return False
    return subject.get("u") == user.id
