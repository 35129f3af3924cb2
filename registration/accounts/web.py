"""The accounts blueprint (/konto) and what its pages share: the session a log-in
starts, the half-finished log-in between password and second factor, safe `next`
targets. The pages themselves live in views.py, signup_views.py and security_views.py.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, after_this_request, current_app, redirect, request, session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from registration.accounts import deferred_mail, throttling
from registration.accounts import login as signin
from registration.accounts import sessions as login_sessions
from registration.accounts.access import OFFICE_ROLES, signed_in_user
from registration.models import Role, User
from registration.security import safe_redirect_target
from registration.session import get_clock, get_session, get_settings

bp = Blueprint("accounts", __name__, url_prefix="/konto", template_folder="templates")
bp.after_app_request(deferred_mail.hand_over_to_server)

PENDING_KEY = "pending_login"
AUTH_AT_KEY = "auth_at"
PENDING_LIFETIME = dt.timedelta(minutes=10)
LOGIN_LIMIT = "10 per minute;60 per hour"
# Failed log-ins per client (only answers 422 count): five a minute; a client that keeps
# running into that limit waits longer each time — the rest of 10 minutes after two
# such breaches, of the hour after four, of the day after eight (Flask-Limiter's meta
# limits). Shared through Redis in production, like every limit.
FAILED_LOGIN_LIMIT = "5 per minute"
FAILED_LOGIN_BACK_OFF = ["2 per 10 minutes", "4 per hour", "8 per day"]
MAIL_LIMIT = "5 per minute;30 per hour"

Page = str | Response | tuple[str, int]


# --- helpers ---------------------------------------------------------------------


def home_for(user: User) -> str:
    """Where a signed-in user starts: the office portal, the operator's overview or the
    business portal."""
    if user.role in OFFICE_ROLES:
        return url_for("office.dashboard")
    if user.role == Role.OPERATOR:
        return url_for("operator.overview")
    return url_for("portal.dashboard")


def start_session(user: User) -> None:
    """Finish a log-in: a fresh session that expires and can be ended (accounts.sessions),
    and the audit entry for offices."""
    next_target = session.get("login_next")
    previous = session.get(login_sessions.COOKIE_KEY)
    session.clear()
    session.permanent = True
    lifetime = dt.timedelta(minutes=get_settings().session_lifetime_minutes)
    token = login_sessions.open_login_session(
        get_session(), get_clock(), user, lifetime, replacing=previous
    )
    login_user(user)
    session[login_sessions.COOKIE_KEY] = token
    session[AUTH_AT_KEY] = int(get_clock().now().timestamp())
    if next_target:
        session["login_next"] = next_target
    signin.complete_login(get_session(), get_clock(), user)
    remember_device(user)


def remember_device(user: User) -> None:
    """Leave the signed device cookie that lets this browser in while strangers are
    slowed down (accounts.throttling); sent to the account pages only."""
    token = throttling.device_token(get_settings(), user, get_clock().now())

    def set_device_cookie(response: Response) -> Response:
        response.set_cookie(
            throttling.DEVICE_COOKIE,
            token,
            max_age=int(throttling.DEVICE_LIFETIME.total_seconds()),
            path=throttling.DEVICE_COOKIE_PATH,
            secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
            httponly=True,
            samesite="Lax",
        )
        return response

    after_this_request(set_device_cookie)


def device_cookie() -> str | None:
    value = request.cookies.get(throttling.DEVICE_COOKIE)
    return value if isinstance(value, str) else None


def is_known_device(user: User) -> bool:
    return throttling.is_known_device(get_settings(), user, device_cookie(), get_clock().now())


def failed_login(response: Response) -> bool:
    """Flask-Limiter's `deduct_when`: only refused log-ins count against the client."""
    return response.status_code == 422


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
    """Sessions end after the configured lifetime even while they are being used.

    Static files and requests without a log-in are left alone before anything asks the
    database: a page loads a dozen modules at once, and a hook that loaded the user for
    each turned a slow database into 503s for the page's own scripts.
    """
    if request.endpoint == "static" or "_user_id" not in session:
        return
    if signed_in_user() is None:
        return
    started = session.get(AUTH_AT_KEY)
    lifetime = get_settings().session_lifetime_minutes * 60
    now = int(get_clock().now().timestamp())
    if not isinstance(started, int) or now - started > lifetime:
        end_session()
