"""The application factory, in small named steps.

The one place that puts both sides into one web app: the shared core's and the
business side's blueprints (registration) beside the health office's (health_export),
each package's translation catalogs, the core's error handler and health checks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from registration.clock import Clock, SystemClock
from registration.config import Settings
from registration.database import Database, DatabaseTimeouts
from registration.logging_setup import configure_logging
from registration.request_guard import TrustedProxies
from registration.static_files import (
    MAX_AGE_SECONDS,
    STATIC_FOLDER,
    static_url_path,
    static_version,
)


def create_app(
    config: Mapping[str, Any] | Settings | None = None,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
) -> Flask:
    """Build the service. `config` is a Settings object or a mapping of its fields (tests)."""
    settings = _settings(config)
    # Rooted in registration's folder: its templates/ and static/ are the shared layout
    # (base page, error page, home page, CSS, scripts) that every blueprint extends.
    app = Flask(
        "registration",
        static_folder=str(STATIC_FOLDER),
        static_url_path=static_url_path(static_version()),
        instance_path=str(settings.instance_path),
        instance_relative_config=False,
    )
    configure_logging(settings.log_level)
    configure_flask(app, settings)
    register_services(app, settings, clock or SystemClock(), database)
    register_extensions(app, settings)
    register_blueprints(app)
    register_metrics(app, settings)
    register_errorhandlers(app)
    register_health_checks(app)
    register_middleware(app, settings)
    return app


def _settings(config: Mapping[str, Any] | Settings | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if config is None:
        return Settings.from_env()
    return Settings.from_mapping(config)


def configure_flask(app: Flask, settings: Settings) -> None:
    secure_cookies = settings.is_production or settings.https
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        SESSION_COOKIE_NAME="gr_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.session_lifetime_minutes),
        WTF_CSRF_TIME_LIMIT=settings.session_lifetime_minutes * 60,
        PREFERRED_URL_SCHEME="https" if settings.https else "http",
        TESTING=settings.environment == "test",
        JSON_SORT_KEYS=False,
        SEND_FILE_MAX_AGE_DEFAULT=MAX_AGE_SECONDS,
    )


def register_services(
    app: Flask, settings: Settings, clock: Clock, database: Database | None
) -> None:
    from registration.session import register_database

    app.extensions["gastregister.settings"] = settings
    app.extensions["gastregister.clock"] = clock
    # Since when this process watches maintenance: /healthz reports "never ran" only
    # once two intervals have passed without a successful run.
    app.extensions["gastregister.started_at"] = clock.now()
    register_database(
        app,
        database
        or Database(settings.database_url, timeouts=DatabaseTimeouts.for_requests(settings)),
    )


def register_extensions(app: Flask, settings: Settings) -> None:
    import health_export
    import registration
    from registration.access_log import register_access_log
    from registration.accounts.loader import register_login
    from registration.extensions import csrf, limiter
    from registration.i18n import register_i18n
    from registration.request_guard import register_request_guard
    from registration.security import register_security
    from registration.templating import register_template_helpers

    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_url
    per_process = settings.ratelimit_storage_url.startswith("memory://")
    if settings.is_production and settings.ratelimit_enabled and per_process:
        # Each gunicorn worker would count on its own: a log-in limit of 5 becomes
        # 5 per worker, and a restart forgets every count.
        logging.getLogger("gastregister").warning(
            "GASTREGISTER_RATELIMIT_STORAGE is memory://: rate limits (log-in, "
            "check-in, password reset) are counted per process, not for the service; "
            "set redis://… (deploy/gastregister.env) for limits that hold"
        )
    app.config["RATELIMIT_ENABLED"] = settings.ratelimit_enabled
    # No X-RateLimit-* headers: two more storage round trips on every limited request
    # (Redis in production) for headers no client of ours reads. A 429 still says when
    # to come back (Retry-After, registration.errors.retry_after_seconds).
    app.config["RATELIMIT_HEADERS_ENABLED"] = False
    app.config["RATELIMIT_KEY_PREFIX"] = "gastregister"
    # First: its converter must be in place before any route is added, and its checks
    # run before the rate limiter reads a body.
    register_request_guard(app)
    csrf.init_app(app)
    limiter.init_app(app)
    register_i18n(app, registration, health_export)
    register_login(app)
    register_security(app)
    register_access_log(app)
    register_template_helpers(app)


def register_blueprints(app: Flask) -> None:
    """Each domain contributes its blueprints; together they are the service's URLs.

    The check-in API's requests carry no cookie session (registration.session).
    """
    from health_export.views import bp as office_bp
    from registration.accounts.views import bp as accounts_bp
    from registration.checkin.api import bp as api_bp
    from registration.checkin.views import bp as checkin_bp
    from registration.health import bp as health_bp
    from registration.home import bp as home_bp
    from registration.operator.views import bp as operator_bp
    from registration.portal.views import bp as portal_bp
    from registration.session import register_cookieless_paths

    for blueprint in (
        home_bp,
        health_bp,
        checkin_bp,
        api_bp,
        accounts_bp,
        portal_bp,
        office_bp,
        operator_bp,
    ):
        app.register_blueprint(blueprint)
    register_cookieless_paths(app, f"{api_bp.url_prefix}/")


def register_metrics(app: Flask, settings: Settings) -> None:
    """`/metrics` for the operator's Prometheus, and the counts behind it."""
    from registration.metrics import register_metrics as register

    register(app, settings)


def register_health_checks(app: Flask) -> None:
    """/healthz checks the database and disk itself; maintenance adds its runs.

    Nothing starts here: no timer, no probe thread, no write. Maintenance runs in
    `gastregister worker` or, in web mode, from gunicorn's post_worker_init
    (registration.retention.scheduler).
    """
    from registration.health import register_health
    from registration.retention.health import purge_health

    register_health(app)
    app.extensions["gastregister.health_providers"].append(purge_health)


def register_middleware(app: Flask, settings: Settings) -> None:
    """Around Flask: the plain API check-in answered below it (its busiest request,
    registration.checkin.fast_lane), and outermost the trusted-proxy fix, so both see
    the client's scheme and address as the proxy gave them."""
    from registration.checkin.fast_lane import CheckInFastLane
    from registration.checkin.web import AREA_HEADER

    app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
        CheckInFastLane(app.wsgi_app, app),
        settings.forwarded_allow_ips,
        # Only the proxy's word that it counted the check-in's area (web.py).
        proxy_headers=(AREA_HEADER,),
    )


def register_errorhandlers(app: Flask) -> None:
    from registration.errors import register_errorhandlers as register

    register(app)
