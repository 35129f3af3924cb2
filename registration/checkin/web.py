"""What the guest page and the API share: rate limits, error answers, compression.

A check-in's rate limits are per client (a keyed hash of the address, never the
address) and per area (so a photographed QR code cannot flood one table from many
clients). Both are read from app.config at request time, so an operator or a test can
change them; the counters live in Flask-Limiter's storage, in memory or, with
GASTREGISTER_RATELIMIT_STORAGE=redis://..., in Redis shared by every app host.

Where the reverse proxy counts per client (deploy/nginx, GASTREGISTER_CLIENT_LIMITS_BY
_PROXY=true), the app counts only per area: the proxy's count costs a fraction of the
app's, and an address it refuses reaches the app only to be answered in the guest's
language (PROXY_REFUSAL_HEADER).

The proxy can count API check-ins per area too (GASTREGISTER_AREA_LIMITS_BY_PROXY=true):
the guest page names the area in AREA_HEADER as well as in the body, and nginx counts
by the header (it cannot read the body). The app leaves such a check-in uncounted only
when the header names the body's area (area_counted_by_proxy); any other API check-in
(no header, another area, a form post) it counts itself, so the limit holds for every
check-in while the guest page's cost no round trip to Redis.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Request, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from flask_compress import Compress
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import HTTPException, TooManyRequests

from registration import metrics
from registration.checkin.errors import CheckInError
from registration.checkin.lookup import CODE_PATTERN
from registration.database import limit_database_budget, reset_database_budget
from registration.errors import ERROR_CODES, ApiError, error_response
from registration.extensions import client_key, limiter
from registration.request_guard import environ_key
from registration.session import get_settings

log = logging.getLogger("gastregister")

DEFAULT_LIMITS = {
    # A restaurant's guests often share one Wi-Fi address, so the per-client limit is generous.
    "CHECKIN_LIMIT_PER_CLIENT": "30 per minute;300 per hour",
    # A busy entrance takes a few check-ins per second at most.
    "CHECKIN_LIMIT_PER_AREA": "240 per minute",
    "CHECKOUT_LIMIT_PER_CLIENT": "60 per minute",
}
# Compress only static assets: never HTML or JSON, which carry secrets (CSRF and
# check-out tokens) next to request-controlled text (BREACH).
COMPRESSED_TYPES = ["text/css", "text/javascript", "application/javascript", "image/svg+xml"]


def client_limit() -> str:
    return str(current_app.config["CHECKIN_LIMIT_PER_CLIENT"])


def area_limit() -> str:
    return str(current_app.config["CHECKIN_LIMIT_PER_AREA"])


def checkout_limit() -> str:
    return str(current_app.config["CHECKOUT_LIMIT_PER_CLIENT"])


def area_key() -> str | None:
    """The area counter a check-in is counted on: from the URL (guest form) or the JSON
    body (API); None for an API check-in the reverse proxy counted (area_counted_by_proxy)."""
    code = (request.view_args or {}).get("code")
    if code is not None:
        return area_identifier(code)
    body = request.get_json(force=True, silent=True)
    code = body.get("areaCode") if isinstance(body, dict) else None
    if area_counted_by_proxy(request.environ, code, get_settings().area_limits_by_proxy):
        return None
    return area_identifier(code)


def area_identifier(code: object) -> str:
    """The per-area counter's name: a hash of the code as sent (anything, or nothing)."""
    text = code if isinstance(code, str) else ""
    return "area:" + hashlib.sha256(text[:64].encode("utf-8", "replace")).hexdigest()[:32]


View = TypeVar("View", bound=Callable[..., Any])

# Set by the reverse proxy on a request it refused for its client's rate
# (deploy/nginx/gastregister.conf, @limited); the app answers it with the translated
# 429. A client that sends the header itself only refuses itself.
PROXY_REFUSAL_HEADER = "X-Gastregister-Limited"
# The area of an API check-in, as the guest page sends it beside the body for the
# reverse proxy to count by (deploy/nginx/gastregister.conf, gastregister_checkins_area).
AREA_HEADER = "X-Gastregister-Area"
_AREA_HEADER_KEY = environ_key(AREA_HEADER)
# nginx's limit_req has no window to read a reset time from: one check-in per two
# seconds is its rate, and a minute lets a burst drain.
PROXY_RETRY_AFTER_SECONDS = 60
KEY_PREFIX = "gastregister"


class CheckInLimitError(TooManyRequests):
    """A check-in over a rate limit: the translated 429 with Retry-After
    (registration.errors.handle_http_exception reads `retry_after`)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


@functools.lru_cache(maxsize=32)
def _limit_items(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


def enforce_checkin_limits() -> None:
    """Count this check-in against its client's and its area's limits; refuse it over one.

    Flask-Limiter's decorators were the most expensive part of a check-in: the
    extension evaluates its scopes, exemptions and limit lists for every request, which
    cost more CPU than storing the check-in (issue 15). Here the `limits` library under
    Flask-Limiter (the same storage, strategy and key prefix, configured by
    Flask-Limiter) is asked for exactly these counters: one storage round trip per
    window. Counted before the body is validated, as the decorators did, so a flood of
    broken requests is limited too.
    """
    if request.headers.get(PROXY_REFUSAL_HEADER):
        raise CheckInLimitError(PROXY_RETRY_AFTER_SECONDS)
    refused = request.environ.get(FAST_LANE_REFUSAL)
    if refused is not None:
        # The fast lane counted this check-in already and found it over a limit.
        raise CheckInLimitError(int(refused))
    if not limiter.enabled or request.environ.get(FAST_LANE_COUNTED):
        return
    client = None
    if not get_settings().client_limits_by_proxy:
        client = (client_limit(), (request.endpoint or "checkin", client_key()))
    count_checkin(area_limit(), area_key(), client)


def area_counted_by_proxy(environ: dict[str, Any], code: object, by_proxy: bool) -> bool:
    """Whether the reverse proxy counted this API check-in for its area already.

    True only where the proxy counts areas (GASTREGISTER_AREA_LIMITS_BY_PROXY) and the
    request's AREA_HEADER names exactly the body's area code, in the form nginx counts
    (lookup.CODE_PATTERN; nginx counts no other). A header that names another area, or
    none, was counted on that other key or not at all, so the app counts the check-in
    itself: a client cannot slip past the per-area limit by what it puts in the header.
    Only the JSON API's route asks (nginx counts the header on that location alone),
    and the header is dropped from a request that did not come through a trusted proxy
    (request_guard.TrustedProxies), so a client that reaches the app directly is counted.
    """
    if not by_proxy or not isinstance(code, str):
        return False
    return environ.get(_AREA_HEADER_KEY) == code and CODE_PATTERN.fullmatch(code) is not None


def count_checkin(
    area_limit_text: str, area: str | None, client: tuple[str, tuple[str, str]] | None
) -> None:
    """Count one check-in for its area (`area_identifier`; None: the proxy counted it)
    and, unless the proxy counts clients, for its client; CheckInLimitError over a
    limit. The one place that counts, for the views and the fast lane alike.

    A limiter storage that does not answer (Redis down) lets the check-in through,
    logged: a guest's check-in is worth more than an abuse limit for a few minutes.
    """
    counters: list[tuple[str, tuple[str, str]]] = (
        [] if area is None else [(area_limit_text, ("checkin-area", area))]
    )
    if client is not None:
        counters.insert(0, client)
    strategy = limiter.limiter
    try:
        for text, identifiers in counters:
            for item in _limit_items(text):
                if not strategy.hit(item, KEY_PREFIX, *identifiers):
                    window = strategy.get_window_stats(item, KEY_PREFIX, *identifiers)
                    raise CheckInLimitError(max(1, math.ceil(window.reset_time - time.time())))
    except CheckInLimitError:
        raise
    except Exception as exc:
        log.warning(
            "rate-limit storage did not answer (%s); check-in let through", type(exc).__name__
        )


# What the fast lane (registration.checkin.fast_lane) leaves in the WSGI environ of a
# check-in it hands to the API's view: that it tried the one-statement store, that it
# counted the check-in against its limits, the exception that store raised, or the
# Retry-After of a limit it found exceeded. Keys
# a client cannot set (its headers arrive as HTTP_*).
FAST_LANE_TRIED = "gastregister.fast_lane.tried"
FAST_LANE_COUNTED = "gastregister.fast_lane.counted"
FAST_LANE_FAILURE = "gastregister.fast_lane.failure"
FAST_LANE_REFUSAL = "gastregister.fast_lane.retry_after"


@dataclasses.dataclass(frozen=True, slots=True)
class FastLaneOutcome:
    tried: bool
    failure: BaseException | None


def fast_lane_outcome(environ: dict[str, Any]) -> FastLaneOutcome:
    """What the fast lane did with this request before the view got it."""
    return FastLaneOutcome(
        tried=bool(environ.get(FAST_LANE_TRIED)), failure=environ.get(FAST_LANE_FAILURE)
    )


def checkin_limits(view: View) -> View:
    """The rate limits of a view that stores a check-in (guest form and API), counted by
    enforce_checkin_limits. The view has no other limits, so Flask-Limiter's own
    per-request evaluation is skipped for it (counts_own_limits)."""

    @functools.wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        enforce_checkin_limits()
        return view(*args, **kwargs)

    return no_rate_limit(cast(View, limited))


def no_rate_limit(view: View) -> View:
    """Flask-Limiter leaves this view alone: it counts its limits itself (checkin_limits)
    or has none (the guest page behind a QR code stores nothing)."""
    view.outside_flask_limiter = True  # type: ignore[attr-defined]
    return view


@limiter.request_filter
def _outside_flask_limiter() -> bool:
    """A request filter is the first thing Flask-Limiter asks; marking the view exempt
    instead still resolved every default and blueprint limit before finding the mark,
    on each check-in and each guest page."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "outside_flask_limiter", False))


def counts_refusals(view: View) -> View:
    """Count a refused check-in by the error code its answer carries.

    Placed above the rate-limit decorators, so a 429 is counted too. Refusals a view
    answers without raising (a form with errors) call metrics.checkin_refused itself.
    """

    @functools.wraps(view)
    def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except CheckInError as exc:
            metrics.checkin_refused(exc.code)
            raise
        except ApiError as exc:
            metrics.checkin_refused(exc.error_code)
            raise
        except HTTPException as exc:
            metrics.checkin_refused(ERROR_CODES.get(exc.code or 0, "other"))
            raise

    return cast(View, counted)


def checkin_error_response(exc: CheckInError) -> ResponseReturnValue:
    """A refused check-in as JSON (API) or as the error page (browser), never with guest data."""
    message = None if exc.message is None else str(exc.message)
    return error_response(exc.status, code=exc.code, message=message, extra=exc.extra)


def buffer_static_file(response: Response) -> Response:
    """Read a small static file into memory so it is compressed whole.

    Flask streams static files; Flask-Compress would then compress the stream and
    leave the file to the garbage collector. Our assets are a few kilobytes each.
    """
    if response.direct_passthrough and response.mimetype in COMPRESSED_TYPES:
        response.direct_passthrough = False
        stream_close = getattr(response.response, "close", None)
        response.make_sequence()
        if stream_close is not None:
            # Now, not when the response is closed: a browser that drops the connection
            # (a page left while its modules load) may keep the server from closing it,
            # and the file would wait for the garbage collector.
            stream_close()
    return response


class StaticCompressionCache:
    """Compressed static files, kept per process: compressed once at the highest level.

    Only /static/ paths are kept (they do not change while the process runs); the
    entrance QR code, also SVG, changes every 30 seconds and is never cached.
    """

    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    def set(self, key: str, value: bytes) -> None:
        if ";/static/" in key and len(self._entries) < 512:
            self._entries[key] = value


def _static_cache_key(request: Request) -> str:
    return request.path


def limit_guest_database_wait() -> None:
    """Guests' requests (API and pages) wait for the database at most the guest budget.

    Their statements take milliseconds; when the database stalls, a quick 503 lets
    the phone keep the check-in and retry, and frees the thread for others (and for
    /healthz). Reset at teardown.
    """
    seconds = get_settings().db_guest_timeout_ms / 1000
    g.database_budget = limit_database_budget(seconds)


def restore_database_wait(_exc: BaseException | None = None) -> None:
    token = g.pop("database_budget", None)
    if token is not None:
        reset_database_budget(token)


def guest_requests(blueprint: Blueprint) -> None:
    """Attach the guest budget to every view of `blueprint`."""
    blueprint.before_request(limit_guest_database_wait)
    blueprint.teardown_request(restore_database_wait)


def setup_app(app: Flask) -> None:
    """Once per app: default limits and compression of static files (first-load budget)."""
    for name, value in DEFAULT_LIMITS.items():
        app.config.setdefault(name, value)
    if "compress" not in app.extensions:
        app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
        app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip", "deflate"])
        app.config.setdefault("COMPRESS_BR_LEVEL", 11)
        app.config.setdefault("COMPRESS_LEVEL", 9)
        cache = StaticCompressionCache()
        app.config.setdefault("COMPRESS_CACHE_BACKEND", lambda: cache)
        app.config.setdefault("COMPRESS_CACHE_KEY", _static_cache_key)
        app.extensions["compress"] = Compress(app)
        # Registered after Compress, so it runs before it (Flask runs these in reverse).
        app.after_request(buffer_static_file)
