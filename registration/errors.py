"""One error handler for the whole service: HTML for browsers, JSON for the API.

Nothing here may echo a request body or an exception message: on the no-JavaScript
check-in path such a message could hold a guest's name. A 500 is logged with the
exception type and the stack frames only, and the database session is rolled back.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from registration.extensions import limiter
from registration.session import get_db

log = logging.getLogger("gastregister.errors")

ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

TITLES: dict[int, Any] = {
    400: _l("The request could not be understood."),
    401: _l("Please log in first."),
    403: _l("You are not allowed to do this."),
    404: _l("This page does not exist."),
    405: _l("This action is not possible here."),
    409: _l("This conflicts with the current state. Please reload and try again."),
    413: _l("The submitted data is too large."),
    415: _l("This kind of content is not accepted."),
    422: _l("Some of the input is not valid."),
    429: _l("Too many requests. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. Nothing you entered was lost."),
    503: _l("The service is briefly unavailable. Please try again in a moment."),
}


class DomainError(Exception):
    """A refusal by a service: a stable `code` (tests, logs), a `message` for people.

    The base of the trace-request and health-office errors: services raise them, views
    flash the message or answer with `status`, the CLI prints the message. The message
    is a lazy translation, read in the viewer's language when shown, and never holds
    contact data; the exception's own text is the code, so a log line carries no
    message at all.
    """

    code = "domain_error"
    status = 422

    def __init__(self, message: Any, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(str(code or self.code))
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return str(self.message)


class ApiError(HTTPException):
    """An HTTP error with a stable machine-readable code and optional extra fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.extra = extra or {}


def wants_json() -> bool:
    """API paths and clients that prefer JSON get JSON; browsers get a page."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def _rollback() -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def error_response(
    status: int,
    *,
    code: str | None = None,
    message: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    title = str(TITLES.get(status, TITLES[500 if status >= 500 else 400]))
    code = code or ERROR_CODES.get(status, "error")
    text = message or title
    if wants_json():
        body: dict[str, Any] = {"error": {"code": code, "message": text}}
        if extra:
            body["error"].update(extra)
        response = jsonify(body)
    else:
        response = Response(
            render_template("errors/error.html", status=status, title=title, message=text),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    if isinstance(exc, ApiError):
        return error_response(status, code=exc.error_code, message=exc.description, extra=exc.extra)
    if isinstance(exc, CSRFError):
        return error_response(
            400, code="csrf", message=str(_l("The form has expired. Please reload and try again."))
        )
    response = error_response(status)
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    if status == 429:
        response.headers["Retry-After"] = str(retry_after_seconds(exc))
    return response


def retry_after_seconds(exc: HTTPException) -> int:
    """When the breached limit's window ends, read from the limiter's storage.

    Only a refusal asks: the X-RateLimit-* headers on every answer are off
    (gastregister.app), since they cost two more storage round trips per request.
    """
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int) and retry_after > 0:
        return retry_after
    breached = limiter.current_limit
    if breached is None:
        return RETRY_AFTER_SECONDS
    return max(1, math.ceil(breached.window.reset_time - time.time()))


RETRY_AFTER_SECONDS = 5


def handle_unexpected(exc: Exception) -> Response:
    """Database outages become 503 (the guest page keeps the record and retries).

    Disk full, read-only, timed out and unreachable each get one log line that names
    which, with the exception's type only: its message can hold statement parameters.
    """
    database = get_db()
    fault = database.fault_of(exc)
    try:
        _rollback()
    except Exception as rollback_error:
        fault = fault or database.fault_of(rollback_error)
        log.warning("rollback after a failed request failed: %s", type(rollback_error).__name__)
    if fault is not None:
        log.warning("database unavailable: %s (%s)", fault.description, type(exc).__name__)
        response = handle_http_exception(ServiceUnavailable())
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    frames = "\n".join(
        f"  {frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    )
    log.error("unhandled %s (message withheld)\n%s", type(exc).__name__, frames)
    return handle_http_exception(InternalServerError())


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
