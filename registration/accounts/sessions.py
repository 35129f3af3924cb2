"""Log-in sessions that can be ended: one row per logged-in browser.

The session cookie is signed, not stored, so on its own it stays valid until it
expires, and a copy taken before log-out would outlive the log-out. Each log-in
therefore opens a `LoginSession` whose random token travels in the cookie (only its
hash is kept); the user loader accepts a cookie only while its row exists. Ending a
session deletes the row, which ends every copy of that cookie at once.

Who ends what:
- log-out ends the session it is sent from; "log out on all devices" ends all of them;
- a changed password, a password reset and every change to the second factor end the
  user's *other* sessions (and bump `User.session_version`, which also voids a log-in
  half-way between password and second factor);
- removing a staff member deletes the account, and its sessions with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.models import LoginSession, User

COOKIE_KEY = "login_session"  # where the session cookie carries the token
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(b"gastregister/login-session/" + token.encode()).digest()


def open_login_session(
    session: Session,
    clock: Clock,
    user: User,
    lifetime: dt.timedelta,
    *,
    replacing: object = None,
) -> str:
    """A new session for `user`; returns the token for the cookie (does not commit).

    The session this browser held before (`replacing`, a log-in on top of a log-in)
    ends, and every session older than `lifetime`, of any user, is dropped on the way:
    the cookie's own expiry refuses them already, this only keeps the table as small as
    the log-ins of one lifetime, without a job of its own.
    """
    now = clock.now()
    session.execute(delete(LoginSession).where(LoginSession.created_at < now - lifetime))
    if _is_token(replacing):
        session.execute(
            delete(LoginSession).where(LoginSession.token_hash == _token_hash(str(replacing)))
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(LoginSession(user_id=user.id, token_hash=_token_hash(token), created_at=now))
    session.flush()
    return token


def _is_token(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TOKEN_LENGTH


def is_open(session: Session, user_id: int, token: object) -> bool:
    """Whether the cookie's token still names an open session of this user."""
    if not isinstance(token, str) or not _is_token(token):
        return False
    found = session.scalar(
        select(LoginSession.id).where(
            LoginSession.user_id == user_id, LoginSession.token_hash == _token_hash(token)
        )
    )
    return found is not None


def end_login_session(session: Session, token: object) -> None:
    """End the one session this token names (log-out); commits."""
    if isinstance(token, str) and _is_token(token):
        session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
    session.commit()


def end_other_login_sessions(session: Session, user: User, keep: object = None) -> None:
    """End every session of `user` except the one `keep` names (not committed).

    Bumping `session_version` also voids half-finished log-ins and unused reset links;
    the caller renews the kept session's cookie with the new version.
    """
    statement = delete(LoginSession).where(LoginSession.user_id == user.id)
    if isinstance(keep, str) and _is_token(keep):
        statement = statement.where(LoginSession.token_hash != _token_hash(keep))
    session.execute(statement)
    user.session_version += 1
