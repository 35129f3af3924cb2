"""Flask-Login wiring: a session names the user, their session version and its own
log-in session (accounts.sessions).

A cookie is accepted only while its log-in session row exists, so log-out ends it for
every copy; bumping `User.session_version` (password, second factor) voids half-finished
log-ins as well.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, redirect, request, session
from sqlalchemy import select
from werkzeug.wrappers import Response

from registration.accounts.sessions import COOKIE_KEY, is_open
from registration.errors import ApiError, wants_json
from registration.extensions import login_manager
from registration.models import User
from registration.session import get_session


def load_user(session_id: str) -> User | None:
    user_part, _, version_part = session_id.partition(":")
    if not (user_part.isdigit() and version_part.isdigit()):
        return None
    user: User | None = get_session().scalar(select(User).where(User.id == int(user_part)))
    if user is None or user.session_version != int(version_part) or user.disabled_at:
        return None
    if not is_open(get_session(), user.id, session.get(COOKIE_KEY)):
        return None  # logged out (here or on all devices): a copied cookie opens nothing
    return user


def unauthorized() -> Response:
    """Browsers go to the log-in page and come back; JSON callers get a plain 401."""
    if wants_json():
        raise ApiError(401, "unauthorized")
    target = request.full_path.rstrip("?") if request.method == "GET" else ""
    query = "?" + urlencode({"next": target}) if target.startswith("/") else ""
    return redirect("/konto/login" + query, code=303)


def register_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.session_protection = "strong"
