"""The plain API check-in, answered below Flask: the service's busiest request, cheaply.

A check-in at a known area is one INSERT (registration.checkin.hot_path). Under Flask
it cost about 2 ms of CPU, most of it around the statement: the request context, URL
matching, the before- and after-request hooks of every extension (limiter, languages,
login, sessions, metrics), the Response object (issue 15). This WSGI middleware,
inside the trusted-proxy fix (gastregister.app), takes exactly one request shape:

    POST /api/v1/checkins, no query, Content-Type application/json, a Content-Length
    within the API's bound, a body the API accepts (api.parse_checkin) without an
    admission, clients counted by the reverse proxy (or no limiter at all),

counts it against its area's limit (web.count_checkin; not where the reverse proxy
counted it, web.area_counted_by_proxy), stores it with the hot path's
one statement, and answers 201 with the view's JSON and headers. Everything else, and
everything the statement does not store, goes to the Flask app unchanged, with the
body it read given back, and the view answers it: every refusal and error keeps its
one place. What the lane already did travels in the environ (web.FAST_LANE_*), so the
view neither counts the check-in twice nor runs the statement again, and a database
error the lane met is raised in the view, where the app's handlers answer it (503).

The answer's headers are the view's (security.DOCUMENT_HEADERS, HSTS on HTTPS, the
route for the access log); tests/registration/checkin/test_fast_lane.py compares the
two answers byte for byte, apart from the values that differ per check-in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from registration import metrics
from registration.access_log import ROUTE_HEADER
from registration.checkin.api import (
    AREAS_KEY,
    MAX_BODY_BYTES,
    bp,
    checkin_json,
    parse_checkin,
    store_at_known_area,
)
from registration.checkin.errors import CheckInError
from registration.checkin.web import (
    FAST_LANE_COUNTED,
    FAST_LANE_FAILURE,
    FAST_LANE_REFUSAL,
    FAST_LANE_TRIED,
    PROXY_REFUSAL_HEADER,
    CheckInLimitError,
    area_counted_by_proxy,
    area_identifier,
    count_checkin,
)
from registration.database import Database, limit_database_budget, reset_database_budget
from registration.extensions import limiter
from registration.request_guard import environ_key
from registration.security import DOCUMENT_HEADERS, HSTS

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PATH = f"{bp.url_prefix}/checkins"
ROUTE = PATH  # the URL rule's text: the route has no variable part
_PROXY_REFUSAL_KEY = environ_key(PROXY_REFUSAL_HEADER)


class CheckInFastLane:
    """WSGI middleware: the plain check-in here, every other request to `wsgi_app`."""

    def __init__(self, wsgi_app: WsgiApp, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("QUERY_STRING")
            or environ.get(_PROXY_REFUSAL_KEY)
        ):
            return self.wsgi_app(environ, start_response)
        answer = self._check_in(environ)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        start_response("201 CREATED", answer[0])
        return [answer[1]]

    def _check_in(self, environ: dict[str, Any]) -> tuple[list[tuple[str, str]], bytes] | None:
        """The answer's headers and body, or None: the view answers (the body, if read,
        is put back into the environ for it)."""
        settings = self.app.extensions["gastregister.settings"]
        if limiter.enabled and not settings.client_limits_by_proxy:
            return None  # the per-client count needs the view's client key
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if mimetype != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= MAX_BODY_BYTES:
            return None
        try:
            raw = environ["wsgi.input"].read(length)
        except OSError:
            # The client went away mid-body (gunicorn's NoMoreData is an OSError too):
            # the view reads a short body and answers 400, as it did without the lane.
            raw = b""
        environ["wsgi.input"] = io.BytesIO(raw)
        if len(raw) != length:
            return None
        try:
            body = self.app.json.loads(raw)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        code = body.get("areaCode")
        if limiter.enabled and not area_counted_by_proxy(
            environ, code, settings.area_limits_by_proxy
        ):
            try:
                count_checkin(
                    str(self.app.config["CHECKIN_LIMIT_PER_AREA"]),
                    area_identifier(code),
                    None,
                )
            except CheckInLimitError as refused:
                environ[FAST_LANE_REFUSAL] = refused.retry_after
                return None
            environ[FAST_LANE_COUNTED] = True
        try:
            checkin = parse_checkin(body)
        except CheckInError:
            return None
        if checkin.admission is not None:
            return None
        database: Database = self.app.extensions["gastregister.db"]
        metrics.watch_pool(database.engine.pool)
        environ[FAST_LANE_TRIED] = True
        budget = limit_database_budget(settings.db_guest_timeout_ms / 1000)
        try:
            stored = store_at_known_area(
                checkin,
                database,
                self.app.extensions[AREAS_KEY],
                self.app.extensions["gastregister.clock"],
                settings,
            )
        except Exception as failure:
            environ[FAST_LANE_FAILURE] = failure
            return None
        finally:
            reset_database_budget(budget)
        if stored is None:
            return None
        payload = checkin_json(stored.receipt, stored.target)
        # As jsonify answers outside debug mode (flask.json.provider.DefaultJSONProvider).
        data = f"{self.app.json.dumps(payload, separators=(',', ':'))}\n".encode()
        secure = environ.get("wsgi.url_scheme") == "https"
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *((HSTS, *DOCUMENT_HEADERS) if secure else DOCUMENT_HEADERS),
            (ROUTE_HEADER, ROUTE),
            # Flask-Compress marks every answer so, compressed or not (the view's does).
            ("Vary", "Accept-Encoding"),
        ]
        metrics.http_response(201)
        return headers, data
