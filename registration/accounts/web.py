"""The accounts blueprint (/konto) and what its pages share: the session a log-in
starts, the half-finished log-in between password and second factor, safe `next`
targets. The pages themselves live in views.py, signup_views.py and security_views.py.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from registration.accounts import deferred_mail
from registration.accounts import login as signin
from registration.accounts import sessions as login_sessions
from registration.accounts.access import OFFICE_ROLES, signed_in_user
from registration.models import User
from registration.security import safe_redirect_target
from registration.session import get_clock, get_session, get_settings

bp = Blueprint("accounts", __name__, url_prefix="/konto", template_folder="templates")
bp.after_app_request(deferred_mail.hand_over_to_server)

PENDING_KEY = "pending_login"
AUTH_AT_KEY = "auth_at"
PENDING_LIFETIME = dt.timedelta(minutes=10)
LOGIN_LIMIT = "10 per minute;60 per hour"
MAIL_LIMIT = "5 per minute;30 per hour"

Page = str | Response | tuple[str, int]


# --- helpers ---------------------------------------------------------------------


def home_for(user: User) -> str:
    """Where a signed-in user starts: the office portal or the business portal."""
    return url_for("office.dashboard" if user.role in OFFICE_ROLES else "portal.dashboard")


def start_session(user: User) -> None:
    """Finish a log-in: a fresh session that expires and can be ended (accounts.sessions),
    and the audit entry for offices."""
    next_target = session.get("login_next")
    session.clear()
    session.permanent = True
    lifetime = dt.timedelta(minutes=get_settings().session_lifetime_minutes)
    token = login_sessions.open_login_session(get_session(), get_clock(), user, lifetime)
    login_user(user)
    session[login_sessions.COOKIE_KEY] = token
    session[AUTH_AT_KEY] = int(get_clock().now().timestamp())
    if next_target:
        session["login_next"] = next_target
    signin.complete_login(get_session(), get_clock(), user)


def current_session_token() -> str | None:
    """The token of this browser's log-in session, to keep it while others end."""
    token = session.get(login_sessions.COOKIE_KEY)
    return token if isinstance(token, str) else None


def renew_session(user: User) -> None:
    """Carry this browser's session over a bumped session version (its row was kept)."""
    login_user(user)


def end_session() -> None:
    """Log this browser out: its session row goes, so copies of the cookie die too."""
    login_sessions.end_login_session(get_session(), session.get(login_sessions.COOKIE_KEY))
    logout_user()
    session.clear()


def after_login(user: User) -> Response:
    target = safe_redirect_target(session.pop("login_next", None))
    return redirect(target or home_for(user), code=303)


def pending_user() -> tuple[signin.PendingLogin, User] | None:
    pending = signin.PendingLogin.from_session(session.get(PENDING_KEY))
    if pending is None or get_clock().now() - pending.started > PENDING_LIFETIME:
        return None
    user = get_session().get(User, pending.user_id)
    if user is None or user.session_version != pending.session_version or user.disabled_at:
        return None
    return pending, user


@bp.before_app_request
def expire_old_sessions() -> None:
    """Sessions end after the configured lifetime even while they are being used."""
    if signed_in_user() is None:
        return
    started = session.get(AUTH_AT_KEY)
    lifetime = get_settings().session_lifetime_minutes * 60
    now = int(get_clock().now().timestamp())
    if not isinstance(started, int) or now - started > lifetime:
        end_session()
