"""One database session per request, opened lazily and closed at teardown.

Services receive the session as an argument and commit themselves; the teardown
only rolls back what was left uncommitted, so a failed request changes nothing.
"""

from __future__ import annotations

from flask import Flask, Request, current_app, g
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.config import Settings
from registration.database import Database


def get_db() -> Database:
    database: Database = current_app.extensions["gastregister.db"]
    return database


def get_session() -> Session:
    """The request's session; refused at once (503) while the database is resting
    after an outage (registration.database.OutageBreaker)."""
    if "db_session" not in g:
        g.db_session = get_db().request_session()
    session: Session = g.db_session
    return session


def get_clock() -> Clock:
    clock: Clock = current_app.extensions["gastregister.clock"]
    return clock


def get_settings() -> Settings:
    settings: Settings = current_app.extensions["gastregister.settings"]
    return settings


def close_session(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def register_database(app: Flask, database: Database) -> None:
    app.extensions["gastregister.db"] = database
    app.teardown_appcontext(close_session)


class CookielessPathsSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except under paths that never use one.

    The JSON API has no cookie authority (it is CSRF-exempt and authorised by the
    area code or the check-out token), so opening and signing a session for each of
    its requests was work for nothing on the busiest path. Those requests get Flask's
    null session: reading it finds nothing (no log-in), writing to it fails loudly.
    """

    def __init__(self, cookieless_prefixes: tuple[str, ...]) -> None:
        self.cookieless_prefixes = cookieless_prefixes
        self._serializers: dict[tuple[object, ...], URLSafeTimedSerializer] = {}

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(self.cookieless_prefixes):
            return None
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer, made once per secret: Flask builds (and test-runs) a new
        one for every request that opens or saves a session."""
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            if serializer is None:
                return None
            self._serializers = {key: serializer}
        return serializer


def register_cookieless_paths(app: Flask, *prefixes: str) -> None:
    """Requests under `prefixes` carry no session (CookielessPathsSessionInterface)."""
    app.session_interface = CookielessPathsSessionInterface(prefixes)
